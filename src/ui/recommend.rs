//! Mixed-precision view: the accuracy/cost sweep of the sensitivity setter (Pareto, knee marked), a
//! ratio slider, the ops it sets to int16 beside the fixed-scale suggestions, and the exports.

use super::rich::{breakable, rich_text};
use super::Shared;
use crate::engine::findings::kind;
use crate::engine::share::MixState;
use crate::engine::views::{self, Analysis};
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct RecommendProps {
    pub analysis: Shared<Analysis>,
    pub on_open: Callback<usize>,
    /// The choices to open with (from a link); changes are reported to `on_mix`.
    pub mix: MixState,
    pub on_mix: Callback<MixState>,
}

#[component]
pub fn RecommendView(p: &RecommendProps) -> Html {
    let stype = use_state(|| {
        Some(p.mix.sensitive_type.clone())
            .filter(|t| matches!(t.as_str(), "activation" | "weight" | "both"))
            .unwrap_or_else(|| "activation".to_string())
    });
    let pick = use_state(|| p.mix.step);
    let weights = use_state(Vec::<f64>::new);
    let copied = use_state(|| None::<Result<(), String>>);
    let run_pick = use_state(|| p.mix.run.clone());
    // Report the choices (for the link).
    {
        let now = MixState {
            run: (*run_pick).clone(),
            sensitive_type: Some((*stype).clone())
                .filter(|t| t != "activation")
                .unwrap_or_default(),
            step: *pick,
        };
        let (on_mix, was) = (p.on_mix.clone(), p.mix.clone());
        use_effect_with(now, move |now| {
            if *now != was {
                on_mix.emit(now.clone());
            }
        });
    }
    // The slider keeps keyboard focus across a re-render (Yew may rebuild the input element).
    let slider_ref = use_node_ref();
    let keyboard = use_mut_ref(|| false);
    let a = &p.analysis;
    // One run at a time: two runs' tables share op names, not a model.
    let (table_runs, run) = views::sensitivity_runs(a, run_pick.as_deref());
    let sweep = use_memo(
        (p.analysis.clone(), (*stype).clone(), run.clone()),
        |(a, t, run)| views::mixed_precision_sweep(a, run, t),
    );
    let run_select = (table_runs.len() > 1).then(|| {
        let run_pick = run_pick.clone();
        let pick = pick.clone();
        let current = run.clone();
        html! {
            <label>{ "Run " }
                <select id="rec-run" onchange={Callback::from(move |e: Event| {
                    if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                        run_pick.set(Some(s.value()));
                        pick.set(None);
                    }
                })}>
                    { for table_runs.iter().map(|r| html! { <option value={r.clone()} selected={*r == current}>{ r.clone() }</option> }) }
                </select>
            </label>
        }
    });
    {
        let (slider_ref, keyboard) = (slider_ref.clone(), keyboard.clone());
        use_effect_with(*pick, move |_| {
            if *keyboard.borrow() {
                if let Some(el) = slider_ref.cast::<web_sys::HtmlElement>() {
                    let _ = el.focus();
                }
            }
        });
    }
    let (pts, knee) = (&sweep.0, sweep.1);
    if table_runs.is_empty() {
        return html! { <p>{ "Load *_sensitive_ops.txt tables to get a mixed-precision recommendation." }</p> };
    }
    let nothing_to_do = pts.iter().all(|pt| pt.ops == 0);
    let sel = (*pick)
        .or(knee)
        .unwrap_or(0)
        .min(pts.len().saturating_sub(1));
    let point = pts.get(sel).cloned();
    let mp = views::mixed_precision(a, &run, &stype, point.as_ref(), &weights);
    let (picks, snippet, merged) = (&mp.picks, mp.snippet.clone(), &mp.merged);
    let names = &mp.tables;
    let tables_n = mp.labels.len();
    let w: Vec<f64> = (0..tables_n)
        .map(|i| weights.get(i).copied().unwrap_or(1.0))
        .collect();
    let on_weight = |i: usize| {
        let weights = weights.clone();
        let n = tables_n;
        Callback::from(move |e: Event| {
            if let Some(inp) = e.target_dyn_into::<HtmlInputElement>() {
                let mut v: Vec<f64> = (0..n)
                    .map(|j| weights.get(j).copied().unwrap_or(1.0))
                    .collect();
                if let Ok(x) = inp.value().trim().parse::<f64>() {
                    if x.is_finite() && x >= 0.0 {
                        v[i] = x;
                    }
                }
                weights.set(v);
            }
        })
    };
    let has_compare = mp.has_compare;
    // Exports are named after the run: `ort_int8_mixed_precision.int16.csv`.
    let mix_source = if run.is_empty() {
        "mixed_precision".to_string()
    } else {
        format!("{}_mixed_precision", run.replace(['/', '\\'], "_"))
    };
    let runs_of = views::run_keys(&a.files);
    let fixed: Vec<usize> = (0..a.findings.len())
        .filter(|&i| a.findings[i].finding.kind == kind::FIXED_SCALE)
        .filter(|&i| runs_of.get(a.findings[i].file).is_some_and(|r| *r == run))
        .collect();

    // The chart: op share (blue) and flops share (orange) against the remaining error; the x axis
    // spans the largest share the sweep reaches.
    let xmax = pts
        .iter()
        .map(|pt| pt.op_share.max(pt.flops_share).max(pt.act_bytes_share))
        .fold(0.0, f64::max)
        .max(1e-9);
    let line = |xs: &dyn Fn(&views::ParetoPoint) -> f64| {
        pts.iter()
            .map(|pt| {
                format!(
                    "{:.1},{:.1}",
                    xs(pt) / xmax * 400.0,
                    170.0 - pt.remaining_error * 160.0
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let xy = |pt: &views::ParetoPoint| {
        (
            pt.op_share / xmax * 400.0,
            170.0 - pt.remaining_error * 160.0,
        )
    };
    // The model runner's measured curve: the whole model simulated at each of its points.
    let simulated: Vec<(f64, f64)> = pts
        .iter()
        .filter_map(|pt| {
            pt.simulated_error.map(|e| {
                xy(&views::ParetoPoint {
                    remaining_error: e.min(1.25),
                    ..pt.clone()
                })
            })
        })
        .collect();
    let has_simulated = !simulated.is_empty();
    let has_flops = pts.iter().any(|pt| pt.flops_share > 0.0);
    let has_bytes = pts.iter().any(|pt| pt.act_bytes_share > 0.0);
    let on_slide = {
        let pick = pick.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                pick.set(i.value().parse().ok());
            }
        })
    };
    let on_type = {
        let stype = stype.clone();
        let pick = pick.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                stype.set(s.value());
                pick.set(None);
            }
        })
    };
    let dl = |name: &'static str, mime: &'static str, text: String| {
        Callback::from(move |_: MouseEvent| super::rich::download(name, mime, &text))
    };
    let (json, me) = (mp.json.clone(), mp.model_explorer.clone());
    let copy = {
        let text = snippet.clone();
        let copied = copied.clone();
        Callback::from(move |_: MouseEvent| {
            let Some(w) = web_sys::window() else { return };
            let promise = w.navigator().clipboard().write_text(&text);
            let copied = copied.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let r = wasm_bindgen_futures::JsFuture::from(promise).await;
                copied.set(Some(r.map(|_| ()).map_err(|_| {
                    "the browser refused the clipboard: select the snippet below and copy it"
                        .to_string()
                })));
            });
        })
    };
    html! {
        <div class="recommend-view">
            <h2>{ "Mixed precision: which ops go to int16" }</h2>
            if has_simulated {
                <p class="provenance">{ "Measured, not estimated: the red curve is the whole model simulated by QuantLens's model runner at each ratio (every other tensor int8), its output error as a share of the all-int8 model's; the knee is taken on it." }</p>
            }
            <p class="muted">{ format!("Horizon's sensitivity setter reproduced exactly on {} table(s): the top ceil(len · ratio) rows of each, those of the chosen type still in qint8, become int16. The curve shows what each ratio costs (share of ops in int16{}) against the single-op errors left in int8 (an estimate: those errors do not add exactly).", tables_n, if pts.iter().any(|pt| pt.flops_share > 0.0) { ", and of flops" } else { "" }) }</p>
            <p>
                { run_select.unwrap_or_default() }{ " " }
                <label>{ "Switch " }
                    <select id="rec-type" onchange={on_type}>
                        <option value="activation" selected={*stype == "activation"}>{ "activations" }</option>
                        <option value="weight" selected={*stype == "weight"}>{ "weights" }</option>
                        <option value="both" selected={*stype == "both"}>{ "both" }</option>
                    </select>
                </label>
            </p>
            <div class="pareto-wrap">
                <div class="figure" data-figure={views::export_stem(&mix_source, Some("pareto"), false)}>
                <svg class="pareto" viewBox="-44 0 464 200" role="img" aria-label="int16 share against remaining error">
                    <line x1="0" y1="170" x2="400" y2="170" class="axis" />
                    <line x1="0" y1="10" x2="0" y2="170" class="axis" />
                    <text x="200" y="192" class="lbl">{ format!("share in int16 (ops: blue{}{})", if has_flops { ", flops: orange" } else { "" }, if has_bytes { ", activation bytes: green" } else { "" }) }</text>
                    <text x="-22" y="14" class="lbl">{ "100%" }</text>
                    <text x="-12" y="170" class="lbl">{ "0%" }</text>
                    <text x="0" y="182" class="lbl">{ "0%" }</text>
                    <text x="400" y="182" class="lbl">{ format!("{:.1}%", xmax * 100.0) }</text>
                    <text x="-34" y="95" class="lbl" transform="rotate(-90 -34 95)">{ if has_simulated { "error left (red: simulated)" } else { "single-op error left" } }</text>
                    <polyline points={line(&|pt| pt.op_share)} class="ops" />
                    if has_flops { <polyline points={line(&|pt| pt.flops_share)} class="flops" /> }
                    if has_bytes { <polyline points={line(&|pt| pt.act_bytes_share)} class="bytes" /> }
                    if has_simulated {
                        <polyline class="simulated" points={simulated.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect::<Vec<_>>().join(" ")} />
                        { for simulated.iter().map(|(x, y)| html! { <circle class="simulated-pt" cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="2.5" /> }) }
                    }
                    if let Some(k) = knee.and_then(|k| pts.get(k)) {
                        <circle cx={format!("{:.1}", xy(k).0)} cy={format!("{:.1}", xy(k).1)} r="5" class="knee"><title>{ "knee" }</title></circle>
                    }
                    if let Some(pt) = &point {
                        <circle cx={format!("{:.1}", xy(pt).0)} cy={format!("{:.1}", xy(pt).1)} r="4" class="sel" />
                    }
                </svg>
                { super::export::figure_buttons() }
                </div>
                <div class="pareto-side">
                    <input id="ratio-slider" ref={slider_ref.clone()} type="range" min="0" max={(pts.len().saturating_sub(1)).to_string()} value={sel.to_string()} oninput={on_slide} aria-label="ratio"
                        onkeydown={{ let k = keyboard.clone(); Callback::from(move |_: KeyboardEvent| *k.borrow_mut() = true) }}
                        onpointerdown={{ let k = keyboard.clone(); Callback::from(move |_: PointerEvent| *k.borrow_mut() = false) }} />
                    if nothing_to_do {
                        <p class="ratio-readout nothing">{ format!("Nothing to do: no {} op in these tables is still qint8, so the setter has nothing to switch to int16 (an all-int16 run, or a table of another type).", *stype) }</p>
                    } else if let Some(pt) = &point {
                        <p class="ratio-readout">{ format!("ratio {:.4} (top {} rows): {} op(s) in int16 = {:.1}% of ops{}{}; {:.1}% of the single-op error left{}",
                            pt.ratio, pt.topk, pt.ops, pt.op_share * 100.0,
                            if has_flops { format!(", {:.2}% of flops", pt.flops_share * 100.0) } else { String::new() },
                            if has_bytes { format!(", {:.2}% of activation bytes", pt.act_bytes_share * 100.0) } else { String::new() },
                            pt.remaining_error * 100.0, if Some(sel) == knee && !has_simulated { " (the knee)" } else { "" }) }</p>
                        if let Some(e) = pt.simulated_error {
                            <p class="ratio-readout simulated">{ format!("Simulated by the model runner: the whole model with this int16 set has {:.1}% of the all-int8 model's output error (L1 of the first output){}.", e * 100.0, if Some(sel) == knee { "; the knee of the measured curve" } else { "" }) }</p>
                        } else if has_simulated {
                            <p class="ratio-readout muted small">{ "Not simulated at this ratio: the red points are the ratios the model runner simulated." }</p>
                        }
                    }
                    { for mp.logs.iter().map(|l| html! { <p class="muted small">{ l.clone() }</p> }) }
                </div>
            </div>
            <div class="rec-cols">
                <section>
                    <h3>{ format!("int16 ({})", picks.len()) }</h3>
                    if !picks.is_empty() {
                        <p>{ {
                            let picks = picks.clone();
                            super::export::table_export("int16", &mix_source, Some("int16"), false, move || Some(views::picks_export(&picks)))
                        } }</p>
                    }
                    <ol class="int16-list">{ for picks.iter().map(|pk| html! {
                        <li><code>{ breakable(&pk.name) }</code><span class="muted small">{ format!(" {} {}{}", pk.sensitive_type,
                            pk.metric.map(|m| m.to_string()).unwrap_or_default(), pk.flops_share.map(|f| format!(", {f:.2}% flops")).unwrap_or_default()) }</span>
                            <super::rich::CopyName name={pk.name.clone()} compact=true /></li>
                    }) }</ol>
                </section>
                <section>
                    <h3>{ format!("Fixed-scale suggestions ({})", fixed.len()) }</h3>
                    if fixed.is_empty() && !has_compare {
                        <p class="muted small">{ "Load compare_per_layer_out to get fixed-scale suggestions for QuantStubs with physical ranges." }</p>
                    } else if fixed.is_empty() {
                        <p class="muted small">{ "None: no QuantStub in the loaded comparison table has a physically bounded input or a clipped range." }</p>
                    }
                    { for fixed.iter().map(|&i| {
                        let f = &a.findings[i].finding;
                        let open = p.on_open.clone();
                        html! { <div class="fixed-item">
                            <button class="link" onclick={Callback::from(move |_| open.emit(i))}><code>{ breakable(f.layers.first().map(String::as_str).unwrap_or("")) }</code></button>
                            <super::rich::CopyName name={f.layers.first().cloned().unwrap_or_default()} compact=true />
                            <div class="small">{ rich_text(&f.fix) }</div>
                        </div> }
                    }) }
                </section>
            </div>
            if !merged.is_empty() {
                <section class="merged">
                    <h3>{ format!("Merged ranking over {} tables", tables_n) }</h3>
                    <p class="muted small">{ "Each table's errors are divided by its largest, then summed with these weights (0 leaves a table out). The setter above still takes the top rows of every table, as Horizon's does; this list shows which ops matter across all outputs together." }</p>
                    <p class="weights">{ for mp.labels.iter().enumerate().map(|(i, l)| html! {
                        <label class="small">{ format!("{} ", names.get(i).cloned().unwrap_or_else(|| l.clone())) }
                            <input class={format!("merge-weight w{i}")} type="number" min="0" step="0.1" value={format!("{}", w[i])} onchange={on_weight(i)} size="4" />
                        </label>
                    }) }</p>
                    <p>{ {
                        let (merged, labels) = (merged.clone(), mp.labels.clone());
                        super::export::table_export("merged", &mix_source, Some("merged_ranking"), merged.len() > 20,
                            move || Some(views::merged_export(&merged, &labels, 20)))
                    } }</p>
                    <ol class="merged-list">{ for merged.iter().take(20).map(|m| html! {
                        <li><code>{ breakable(&m.name) }</code><span class="muted small">{ format!(" score {:.3}; {}", m.score,
                            m.per_table.iter().map(|(l, r, _)| format!("#{r} in {l}")).collect::<Vec<_>>().join(", ")) }</span><super::rich::CopyName name={m.name.clone()} compact=true /></li>
                    }) }</ol>
                </section>
            }
            <h3>{ "Export" }</h3>
            <p class="exports">
                <button onclick={copy} id="copy-snippet">{ "Copy Python snippet" }</button>
                { match &*copied {
                    Some(Ok(())) => html! { <span class="copied" role="status">{ "Copied ✓" }</span> },
                    Some(Err(e)) => html! { <span class="error-text small" role="status">{ e.clone() }</span> },
                    None => html! {},
                } }
                <button id="dl-snippet" onclick={dl("quantlens_int16_setter.py", "text/x-python", snippet.clone())}>{ "Download .py" }</button>
                <button id="dl-json" onclick={dl("quantlens_recommendation.json", "application/json", json.to_string())}>{ "Download JSON" }</button>
                <button id="dl-me" onclick={dl("quantlens_model_explorer_node_data.json", "application/json", me)}>{ "Model Explorer node data" }</button>
            </p>
            <pre class="code snippet">{ snippet }</pre>
            <p class="muted small">{ "About local error: from dumps alone QuantLens ranks each layer's own quantization error, which is not its sensitivity. Measured on PP-OCR's classifier with ONNX Runtime (one activation fake-quantized at a time, output L1), the rank correlation between local error and true sensitivity was 0.53 (0.67 for relative error), and only 2 of the 10 most sensitive ops were in the local top 10. Use the toolchain's sensitivity tables to choose int16 ops." }</p>
        </div>
    }
}
