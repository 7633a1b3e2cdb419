//! Tensors view: the dumped tensor files with their side (float / quantized), the paired tensors with
//! every metric and the error split as a stacked bar, scales to enter, and what could not be paired.

use super::rich::{breakable, human_bytes, middle_cut};
use super::Shared;
use crate::engine::share::PairsState;
use crate::engine::views::PairWhatIf;
use crate::engine::views::QDType;
use crate::engine::views::Side;
use crate::engine::views::{fmt_num, metric_text};
use crate::engine::views::{Analysis, Document, RowKey};
use std::collections::HashMap;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// The pairs table is virtualized: rows of this height (px, fixed by the stylesheet's
/// `table.pairs td`) in a box this high. A folder of thousands of dumps keeps a bounded DOM.
const PAIR_ROW_PX: f64 = 30.0;
const PAIRS_VIEW_PX: f64 = 540.0;

/// What the user changed or asked: a file's side, a pair's real scale (`*` for all pairs), a pair
/// made by hand, or a what-if for one pair (with typed scales to predict).
#[derive(Clone, PartialEq)]
pub enum TensorEdit {
    Side(String, Option<Side>),
    Scale(String, f64, Option<QDType>),
    /// Pair a float tensor with a quantized one by hand.
    Pair(String, String),
    WhatIf(usize, Vec<(QDType, f64)>),
}

#[derive(Properties, PartialEq)]
pub struct TensorsProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
    pub on_edit: Callback<TensorEdit>,
    /// Open a comparison-report row: (file, row).
    pub on_open_row: Callback<(usize, usize)>,
    /// What-if answers by pair index.
    pub whatif: Shared<HashMap<usize, Result<PairWhatIf, String>>>,
    /// The pair and sort to open with (from a link); changes are reported to `on_pairs`.
    pub pairs: PairsState,
    pub on_pairs: Callback<PairsState>,
}

fn scale_input(
    name: String,
    current: Option<f64>,
    typed: bool,
    dtype: Option<&str>,
    on_edit: Callback<TensorEdit>,
) -> Html {
    // A typed scale reads back as it was meant: `0.0002 int16`.
    let shown = current
        .map(|s| match dtype.filter(|_| typed) {
            Some(d) => format!("{s} {d}"),
            None => format!("{s}"),
        })
        .unwrap_or_default();
    html! { <ScaleBox {name} {shown} {typed} {on_edit} /> }
}

#[derive(Properties, PartialEq)]
struct ScaleBoxProps {
    name: String,
    shown: String,
    typed: bool,
    on_edit: Callback<TensorEdit>,
}

/// A pair's scale box. The page never writes into it while it has the focus (a redraw while the
/// user types must not put the old scale back); it shows the pair's scale again once the focus
/// has left and the scale changed. Enter commits and leaves the box.
#[function_component(ScaleBox)]
fn scale_box(p: &ScaleBoxProps) -> Html {
    let node = use_node_ref();
    {
        let node = node.clone();
        use_effect_with(p.shown.clone(), move |shown| {
            if let Some(i) = node.cast::<HtmlInputElement>() {
                if !i.matches(":focus").unwrap_or(false) {
                    i.set_value(shown);
                    i.set_custom_validity("");
                    let _ = i.remove_attribute("aria-invalid");
                    i.set_title(SCALE_TITLE);
                }
            }
        });
    }
    let on_edit = p.on_edit.clone();
    let name = p.name.clone();
    let onchange = Callback::from(move |e: Event| {
        if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
            let text = i.value();
            if text.trim().is_empty() {
                // Cleared: back to the scale the files give (scales.json, the QDQ model, a report).
                i.set_custom_validity("");
                let _ = i.remove_attribute("aria-invalid");
                on_edit.emit(TensorEdit::Scale(name.clone(), 0.0, None));
                return;
            }
            match parse_scale_text(&text) {
                Ok((dt, v)) => {
                    i.set_custom_validity("");
                    let _ = i.remove_attribute("aria-invalid");
                    i.set_title(SCALE_TITLE);
                    on_edit.emit(TensorEdit::Scale(name.clone(), v, dt));
                }
                Err(e) => {
                    // Said where it was typed, and kept visible (marked invalid, red, the reason
                    // as its tooltip); the pair keeps the scale it had.
                    let why = format!("{e} (the pair keeps its scale)");
                    i.set_custom_validity(&why);
                    let _ = i.set_attribute("aria-invalid", "true");
                    i.set_title(&why);
                    i.report_validity();
                }
            }
        }
    });
    let onkeydown = Callback::from(|e: KeyboardEvent| {
        if e.key() == "Enter" {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                let _ = i.blur();
            }
        }
    });
    html! {
        <input ref={node} class={classes!("scale", p.typed.then_some("typed"))} type="text" inputmode="decimal" placeholder="scale"
            {onchange} {onkeydown} title={SCALE_TITLE} />
    }
}

const SCALE_TITLE: &str = "The quantized tensor's scale (e.g. 0.05, or 0.05 int16): enables max_qscale_diff and the error split; clear it to use the scale the files give";

fn split_bar(clip: f64, round: f64, inherited: f64, title: String) -> Html {
    let total = clip + round + inherited;
    let pct = |x: f64| if total > 0.0 { x / total * 100.0 } else { 0.0 };
    html! {
        <div class="split-bar" {title}>
            <span class="seg clip" style={format!("width:{:.2}%", pct(clip))}></span>
            <span class="seg round" style={format!("width:{:.2}%", pct(round))}></span>
            <span class="seg inherited" style={format!("width:{:.2}%", pct(inherited))}></span>
        </div>
    }
}

/// `0.05`, `0.05 int16`, `int8 0.05`: a scale (positive, finite) and a dtype (int8 by default).
fn parse_typed_scale(text: &str) -> Result<(QDType, f64), String> {
    parse_scale_text(text).map(|(dt, v)| (dt.unwrap_or(QDType::Int8), v))
}

/// `0.05`, `0.05 int16`, `int8 0.05`: a positive scale and the dtype if one is named.
pub(super) fn parse_scale_text(text: &str) -> Result<(Option<QDType>, f64), String> {
    let mut parts: Vec<&str> = text.split_whitespace().collect();
    let dt = parts.iter().find_map(|p| QDType::parse(p));
    parts.retain(|p| QDType::parse(p).is_none());
    // `1e-3 int4`: a word that is neither the scale nor a dtype QuantLens knows is said, not dropped.
    if parts.len() > 1 {
        let bad = parts
            .iter()
            .find(|p| p.parse::<f64>().is_err())
            .unwrap_or(&parts[1]);
        return Err(format!(
            "'{bad}' is neither a scale nor a dtype QuantLens knows (int8, int16, uint8)"
        ));
    }
    match parts.first().map(|p| p.parse::<f64>()) {
        Some(Ok(v)) if v > 0.0 && v.is_finite() => Ok((dt, v)),
        Some(Ok(_)) => Err("the scale must be a positive finite number".into()),
        Some(Err(_)) => Err(format!("'{}' is not a number", parts[0])),
        None => Err("type a scale, e.g. 0.05 int8".into()),
    }
}

fn pct_text(x: f64, total: f64) -> String {
    if total > 0.0 {
        format!("{:.1}%", x / total * 100.0)
    } else {
        "0%".into()
    }
}

/// Histograms of one pair (float and quantized overlaid, then the error), its range picture, the
/// measured error split, and the what-if: the float side re-quantized with each observer's scale
/// (or a typed one), its *predicted* split beside the measured one.
fn pair_detail(
    index: usize,
    pr: &crate::engine::views::PairResult,
    a: &Analysis,
    whatif: Option<&Result<PairWhatIf, String>>,
    typed: &UseStateHandle<String>,
    on_open_row: &Callback<(usize, usize)>,
    on_edit: &Callback<TensorEdit>,
) -> Html {
    let Some(m) = pr.metrics.as_ref() else {
        return html! { <p class="muted">{ pr.error.clone().unwrap_or_default() }</p> };
    };
    let bars = |counts: &[u64], class: &'static str| {
        let fr = crate::engine::views::hist_bars(counts);
        let w = 400.0 / fr.len().max(1) as f64;
        html! { <g class={class}>{ for fr.iter().enumerate().map(|(k, f)| html! {
            <rect x={format!("{:.2}", k as f64 * w)} y={format!("{:.2}", 60.0 * (1.0 - f))} width={format!("{:.2}", w.max(0.5))} height={format!("{:.2}", 60.0 * f)} />
        }) }</g> }
    };
    let rep = m
        .quant
        .map(|q| (q.qmin as f64 * q.scale, q.qmax as f64 * q.scale));
    let stem = |part: &str| crate::engine::views::export_stem(&pr.name, Some(part), false);
    let picture = crate::engine::views::pair_range_picture(m, rep)
        .map(|pic| super::export::figure(stem("range_picture"), super::layers::range_svg(&pic)));
    let measured = m.error_split.filter(|_| m.mse != 0.0).map(|sp| {
        let total = sp.clip + sp.round + sp.inherited;
        html! {
            <tr class="measured">
                <th>{ format!("measured, {} (scale {}{})", m.quant.map(|q| q.dtype_name()).unwrap_or(""),
                    fmt_num(pr.scale.unwrap_or(f64::NAN)), pr.scale_source.as_ref().map(|s| format!(", from {s}")).unwrap_or_default()) }</th>
                <td>{ split_bar(sp.clip, sp.round, sp.inherited, String::new()) }</td>
                <td class="num">{ pct_text(sp.clip, total) }</td><td class="num">{ pct_text(sp.round, total) }</td><td class="num">{ pct_text(sp.inherited, total) }</td>
                <td class="num">{ metric_text("sqnr", m.sqnr_db).0 }</td><td class="num">{ format!("{:.3}%", sp.clipped_fraction * 100.0) }</td>
            </tr>
        }
    });
    let predicted = match whatif {
        None => {
            html! { <p class="muted small" id="whatif-wait">{ "Computing the what-if for this tensor…" }</p> }
        }
        Some(Err(e)) => {
            html! { <p class="error-text small">{ format!("What-if not available: {e}") }</p> }
        }
        Some(Ok(w)) => {
            let row = |p: &crate::engine::views::Predicted| {
                let total = p.clip + p.round;
                let (db, title) = metric_text("sqnr", p.sqnr_db);
                html! {
                    <tr data-obs={format!("{} {}", p.dtype.name(), p.label)}>
                        <th title={format!("scale {}", p.scale)}>{ format!("{} {}", p.dtype.name(), p.label) }<br/><span class="muted">{ format!("scale {:.6e}", p.scale) }</span></th>
                        <td>{ split_bar(p.clip, p.round, 0.0, format!("predicted: clip {} · round {}", pct_text(p.clip, total), pct_text(p.round, total))) }</td>
                        <td class="num">{ pct_text(p.clip, total) }</td><td class="num">{ pct_text(p.round, total) }</td><td class="num">{ "0%" }</td>
                        <td class="num" title={title.unwrap_or_default()}>{ db }</td><td class="num">{ format!("{:.3}%", p.clipped_fraction * 100.0) }</td>

                    </tr>
                }
            };
            let on_typed = {
                let (cb, typed) = (on_edit.clone(), typed.clone());
                Callback::from(move |e: InputEvent| {
                    if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                        typed.set(i.value());
                        if let Ok((dt, v)) = parse_typed_scale(&i.value()) {
                            cb.emit(TensorEdit::WhatIf(index, vec![(dt, v)]));
                        }
                    }
                })
            };
            let typed_error = (!typed.trim().is_empty())
                .then(|| parse_typed_scale(typed))
                .and_then(|r| r.err());
            html! {
                <>
                <p class="small whatif-caption">{ {
                    let (pr, w) = (pr.clone(), w.clone());
                    super::export::table_export("whatif", &pr.name.clone(), Some("whatif"), false, move || Some(crate::engine::views::whatif_export(&pr, &w)))
                } }{ " Each scale's predicted split: the float tensor re-quantized as the toolchain would (symmetric, round half to even), so nothing is inherited — beside the measured split of the real quantized tensor. To compare the pair with another real scale, type it in the pair's row." }</p>
                <div class="scroll-x">
                <table class="whatif-table small">
                    <tr><th></th><th>{ "split" }</th><th>{ "clip" }</th><th>{ "round" }</th><th>{ "inherited" }</th><th>{ "SQNR dB" }</th><th>{ "clipped" }</th></tr>
                    { measured.clone().unwrap_or_default() }
                    { for w.observers.iter().map(row) }
                    { for w.typed.iter().map(row) }
                </table>
                </div>
                <p class="small">{ "Predict another scale: " }
                    <input class="scale whatif-scale" type="text" placeholder="e.g. 0.05 int8" value={(**typed).clone()} oninput={on_typed} aria-label="what-if scale" />
                    if let Some(err) = typed_error { <span class="error-text small whatif-error">{ format!(" {err}") }</span> }</p>
                if !w.groups.is_empty() {
                    <p class="small">{ {
                        let w = w.clone();
                        super::export::table_export("groups", &pr.name, Some("groups"), false, move || Some(crate::engine::views::groups_export(&w)))
                    } }</p>
                    <table class="groups small">
                        <caption>{ "What-if: the float tensor split into contiguous groups, each with its own min-max scale (flattened order; cuts chosen to minimise the error; at most this many groups, fewer when a cut does not pay)" }</caption>
                        <tr><th>{ "dtype" }</th><th>{ "groups" }</th><th>{ "MSE" }</th><th>{ "max relative error" }</th><th>{ "cut before element" }</th><th>{ "scales" }</th></tr>
                        { for w.groups.iter().map(|g| html! {
                            <tr data-groups={format!("{} {}", g.dtype, g.k)}>
                                <td>{ g.dtype.clone() }</td><td>{ if g.split.scales.len() < g.k { format!("{} (best: {})", g.k, g.split.scales.len()) } else { g.k.to_string() } }</td><td>{ fmt_num(g.split.mse) }</td><td>{ fmt_num(g.split.max_rel) }</td>
                                <td>{ if g.split.cuts.is_empty() { "—".to_string() } else { g.split.cuts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ") } }</td>
                                <td>{ g.split.scales.iter().map(|s| fmt_num(*s)).collect::<Vec<_>>().join(", ") }</td>
                            </tr>
                        }) }
                    </table>
                }
                if !w.channels.is_empty() {
                    <p class="small">{ {
                        let w = w.clone();
                        super::export::table_export("channels", &pr.name, Some("channels"), false, move || Some(crate::engine::views::channels_export(&w)))
                    } }</p>
                    <table class="groups channels small">
                        <caption>{ "What-if: one min-max scale per channel instead of one for the tensor (the float tensor quantized by itself)" }</caption>
                        <tr><th>{ "dtype" }</th><th>{ "axis" }</th><th>{ "channels" }</th><th>{ "SQNR per channel" }</th><th>{ "SQNR per tensor" }</th><th>{ "MSE per channel" }</th><th>{ "MSE per tensor" }</th></tr>
                        { for w.channels.iter().map(|c| html! {
                            <tr data-channels={format!("{} {}", c.dtype, c.axis)}>
                                <td>{ c.dtype.clone() }</td><td>{ c.axis }</td><td>{ c.channels }</td>
                                <td>{ format!("{} dB", metric_text("sqnr", c.per_channel_sqnr_db).0) }</td><td>{ format!("{} dB", metric_text("sqnr", c.per_tensor_sqnr_db).0) }</td>
                                <td>{ fmt_num(c.per_channel_mse) }</td><td>{ fmt_num(c.per_tensor_mse) }</td>
                            </tr>
                        }) }
                    </table>
                }
                { for w.notes.iter().map(|n| html! { <p class="muted small whatif-note">{ n.clone() }</p> }) }
                </>
            }
        }
    };
    html! {
        <div class="pair-detail" data-detail={pr.name.clone()}>
            <h3>{ breakable(&pr.name) }<super::rich::CopyName name={pr.name.clone()} />
                if !pr.run.is_empty() { <span class="run-chip" title="the run of its quantized file">{ pr.run.clone() }</span> }</h3>
            <p class="muted small pair-files">{ {
                // Which file each side comes from: two files can hold tensors of the same name.
                let file = |i: usize| a.files.get(i).map(|f| f.name.clone()).unwrap_or_default();
                format!("{} › {} ↔ {} › {} · paired {}", file(pr.float_file), pr.float_tensor, file(pr.quant_file), pr.quant_tensor, pr.matched_by)
            } }</p>
            if let Some(note) = crate::engine::views::nonfinite_note(pr) {
                <p class="error-text small nonfinite-note">{ note }</p>
            }
            if let Some((file, rows)) = a.compare_rows_of(&pr.name) {
                <p class="small">
                    { format!("Also in the comparison report ({} row(s)); its qscale is used when no scale is typed. ", rows.len()) }
                    <button class="link" onclick={{
                        let cb = on_open_row.clone();
                        let first = rows[0];
                        Callback::from(move |_| cb.emit((file, first)))
                    }}>{ "Open its comparison row →" }</button>
                </p>
            }
            if let Some(h) = &m.hist {
                <div class="hists">
                    <div>
                        <p class="small">{ format!("values: float (blue) and quantized (green), {} to {}", fmt_num(h.lo), fmt_num(h.hi)) }</p>
                        { super::export::figure(stem("histogram"), html! { <svg class="hist" viewBox="0 0 400 60" preserveAspectRatio="none">{ bars(&h.float, "hfloat") }{ bars(&h.quant, "hquant") }</svg> }) }
                    </div>
                    <div>
                        <p class="small">{ format!("error b − a, {} to {}", fmt_num(h.err_lo), fmt_num(h.err_hi)) }</p>
                        { super::export::figure(stem("error_histogram"), html! { <svg class="hist" viewBox="0 0 400 60" preserveAspectRatio="none">{ bars(&h.err, "herr") }</svg> }) }
                    </div>
                </div>
            } else {
                <p class="muted small">{ format!("Histograms are drawn for tensors up to {} elements; this one has {}.", crate::engine::views::HIST_MAX_ELEMS, m.numel) }</p>
            }
            { picture.unwrap_or_default() }
            if m.mse == 0.0 {
                <p class="muted small no-error">{ "The two tensors are identical: no error to split." }</p>
            } else if measured.is_none() {
                <p class="muted small">{ "Enter the quantized side's scale (or drop a scales.json, the ONNX QDQ model, or compare_per_layer_out) to see the measured error split and the representable range." }</p>
            }
            { predicted }
            if let Some(l) = &m.local {
                <p class="small">{ format!("Local error of the float tensor quantized by itself (min-max): int8 SQNR {} dB, int16 {} dB. This is the layer's own error, not its sensitivity.", metric_text("sqnr", l.int8_sqnr_db).0, metric_text("sqnr", l.int16_sqnr_db).0) }</p>
            }
        </div>
    }
}

#[component]
pub fn TensorsView(p: &TensorsProps) -> Html {
    let selected_pair = use_state(|| {
        p.pairs
            .resolve(p.analysis.tensors.pairs.iter().map(|x| x.name.as_str()))
    });
    let typed = use_state(String::new);
    // Sort key and direction of the pairs table (file order until a header is clicked).
    let sort = use_state(|| {
        p.pairs
            .sort
            .clone()
            .unwrap_or_else(|| (String::from("none"), false))
    });
    // Report the open pair and the sort (for the link).
    {
        let now = PairsState {
            pair: *selected_pair,
            name: selected_pair
                .and_then(|i| p.analysis.tensors.pairs.get(i))
                .map(|x| x.name.clone())
                .unwrap_or_default(),
            sort: (sort.0 != "none").then(|| (*sort).clone()),
        };
        let (on_pairs, was) = (p.on_pairs.clone(), p.pairs.clone());
        use_effect_with(now, move |now| {
            if *now != was {
                on_pairs.emit(now.clone());
            }
        });
    }
    let sort_th = |key: &'static str, label: &'static str| {
        let sort = sort.clone();
        let active = sort.0 == key;
        let arrow = if active {
            if sort.1 {
                " ▼"
            } else {
                " ▲"
            }
        } else {
            ""
        };
        html! {
            <th class="sortable" title="click to sort (worst first)" data-sort={key}
                onclick={Callback::from(move |_| {
                    // First click: worst first (low Cosine/SQNR; high errors and clipping).
                    let desc = if sort.0 == key { !sort.1 } else { !matches!(key, "name" | "cosine" | "sqnr") };
                    sort.set((key.to_string(), desc));
                })}>{ format!("{label}{arrow}") }</th>
        }
    };
    let detail_ref = use_node_ref();
    // The detail sits below a long table: bring it into view when a pair is opened.
    {
        let detail_ref = detail_ref.clone();
        use_effect_with(*selected_pair, move |sel| {
            if sel.is_some() {
                if let Some(el) = detail_ref.cast::<web_sys::Element>() {
                    let opts = web_sys::ScrollIntoViewOptions::new();
                    opts.set_behavior(web_sys::ScrollBehavior::Smooth);
                    opts.set_block(web_sys::ScrollLogicalPosition::Start);
                    el.scroll_into_view_with_scroll_into_view_options(&opts);
                }
            }
        });
    }
    // The what-if of the pair in view is computed when it is opened (and after each new session).
    {
        let on_edit = p.on_edit.clone();
        let asked = p.whatif.contains_key(&selected_pair.unwrap_or(usize::MAX));
        let has_metrics = selected_pair
            .and_then(|i| p.analysis.tensors.pairs.get(i))
            .is_some_and(|pr| pr.metrics.is_some());
        use_effect_with((*selected_pair, p.whatif.clone()), move |(sel, _)| {
            if let (Some(i), false, true) = (*sel, asked, has_metrics) {
                on_edit.emit(TensorEdit::WhatIf(i, Vec::new()));
            }
        });
    }
    let scroll_top = use_state(|| 0.0f64);
    let pairs_box = use_node_ref();
    let pick_f = use_state(String::new);
    let pick_q = use_state(String::new);
    let a = &p.analysis;
    let files = a
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.document {
            Some(Document::Tensors { entries, side }) => Some((i, f, entries, *side)),
            _ => None,
        });
    let basis_of = |fi: usize| {
        a.tensors
            .sides
            .iter()
            .find(|(i, _)| *i == fi)
            .and_then(|(_, s)| s.map(|(_, b)| b))
    };
    let file_rows = files.map(|(fi, f, entries, side)| {
        use crate::engine::views::SideBasis;
        let basis = match basis_of(fi) {
            Some(SideBasis::Chosen) => "chosen by you",
            Some(SideBasis::FileName) => "from the file name",
            Some(SideBasis::Folder) => "from the folder name",
            Some(SideBasis::Pairing) => "pairs the most tensors",
            None => "",
        };
        let onchange = side_choice(&p.on_edit, f.name.clone());
        html! {
            <tr>
                <td class="fname">{ breakable(&f.name) }</td>
                <td>
                    { format!("{} tensor(s), {}", entries.len(), human_bytes(f.size_bytes)) }
                    // What the reader said of the file (a zip cut short, storages left out) is
                    // shown beside it; the side note is the select's "(choose side)".
                    { for f.notes.iter().filter(|n| !n.text.starts_with("Side not known")).map(|n| html! {
                        <div class="file-note warning small" role="note">{ n.text.clone() }</div>
                    }) }
                </td>
                <td>
                    <select aria-label={format!("side of {}", f.name)} {onchange}>
                        <option value="" selected={side.is_none()}>{ "(choose side)" }</option>
                        <option value="float" selected={side == Some(Side::Float)}>{ "float (baseline)" }</option>
                        <option value="quant" selected={side == Some(Side::Quant)}>{ "quantized" }</option>
                    </select>
                    <span class="muted small side-basis">{ format!(" {basis}") }</span>
                </td>
            </tr>
        }
    });
    // A whole folder's side in one choice (run_a/ and run_b/, or the (2)/ of a flat pick): shown
    // when the files sit in two folders or more.
    let mut folders: std::collections::BTreeMap<String, (usize, Option<Option<Side>>)> =
        Default::default();
    for f in &a.files {
        if let Some(Document::Tensors { side, .. }) = &f.document {
            let e = folders
                .entry(crate::engine::views::folder_key(&f.name))
                .or_insert((0, Some(*side)));
            e.0 += 1;
            if e.1 != Some(*side) {
                e.1 = None;
            }
        }
    }
    let folder_rows = (folders.len() >= 2).then(|| {
        folders.iter().map(|(key, (n, common))| {
            let side = common.flatten();
            let onchange = side_choice(&p.on_edit, key.clone());
            let label = if key == "./" { "the files without a folder".to_string() } else { key.clone() };
            html! {
                <tr class="tfolder">
                    <td class="fname">{ breakable(&label) }</td>
                    <td>{ format!("{n} tensor file(s)") }</td>
                    <td>
                        <select aria-label={format!("side of every file in {label}")} {onchange}>
                            <option value="" selected={side.is_none()}>{ if common.is_some() { "(choose side)" } else { "(mixed: choose for all)" } }</option>
                            <option value="float" selected={side == Some(Side::Float)}>{ "all float (baseline)" }</option>
                            <option value="quant" selected={side == Some(Side::Quant)}>{ "all quantized" }</option>
                        </select>
                    </td>
                </tr>
            }
        }).collect::<Html>()
    });
    let t = &a.tensors;
    let local = crate::engine::views::local_error_ranking(t);
    let order = crate::engine::views::sort_pairs(t, &sort.0, sort.1);
    // The opened pair (from a finding, a link or the ranking) is scrolled into the table's view.
    {
        let (pairs_box, scroll_top) = (pairs_box.clone(), scroll_top.clone());
        let pos = selected_pair.and_then(|r| order.iter().position(|&i| i == r));
        use_effect_with((*selected_pair, sort.clone()), move |_| {
            if let (Some(pos), Some(el)) = (pos, pairs_box.cast::<HtmlElement>()) {
                if let Some(target) =
                    super::layers::keep_in_view(&el, pos, PAIR_ROW_PX, PAIRS_VIEW_PX)
                {
                    scroll_top.set(target);
                }
            }
        });
    }
    let (first, last) =
        super::layers::row_window(*scroll_top, PAIR_ROW_PX, PAIRS_VIEW_PX, order.len());
    let on_scroll = {
        let scroll_top = scroll_top.clone();
        Callback::from(move |e: Event| {
            if let Some(el) = e.target_dyn_into::<HtmlElement>() {
                scroll_top.set(el.scroll_top() as f64);
            }
        })
    };
    let spacer = |rows: usize| {
        (rows > 0).then(|| html! { <tr class="spacer" style={format!("height:{}px", rows as f64 * PAIR_ROW_PX)}></tr> })
    };
    let rows = order[first..last].iter().map(|&row| (row, &t.pairs[row])).map(|(row, pr)| {
        let chips = p.evidence.get(&(pr.quant_file, "pairs".to_string(), row)).cloned().unwrap_or_default();
        let m = pr.metrics.as_ref();
        // No error at all (identical tensors): there is nothing to split.
        let no_error = m.is_some_and(|m| m.mse == 0.0);
        let cell = |key: &str, v: Option<f64>| {
            let (text, title) = v
                .map(|v| match m {
                    Some(m) => crate::engine::views::pair_metric_text(key, v, m),
                    None => metric_text(key, v),
                })
                .unwrap_or_default();
            let title = match (key, v) {
                ("cosine", Some(c)) if no_error && c == 0.0 => Some(crate::engine::views::ZERO_COSINE_NO_ERROR),
                _ => title,
            };
            html! { <td class="num" title={title.unwrap_or_default()}>{ text }</td> }
        };
        let split = m.and_then(|m| m.error_split).filter(|_| !no_error).map(|sp| {
            let total = sp.clip + sp.round + sp.inherited;
            let pct = |x: f64| if total > 0.0 { x / total * 100.0 } else { 0.0 };
            html! {
                <div class="split-bar" title={format!("clip {:.1}% · round {:.1}% · inherited {:.1}% · {:.3}% of elements clipped",
                    pct(sp.clip), pct(sp.round), pct(sp.inherited), sp.clipped_fraction * 100.0)}>
                    <span class="seg clip" style={format!("width:{:.2}%", pct(sp.clip))}></span>
                    <span class="seg round" style={format!("width:{:.2}%", pct(sp.round))}></span>
                    <span class="seg inherited" style={format!("width:{:.2}%", pct(sp.inherited))}></span>
                </div>
            }
        });
        let sel = selected_pair.clone();
        let is_sel = *selected_pair == Some(row);
        html! {
            // Keyed: a row scrolled out and another scrolled in must not share an element (the
            // scale box would keep text typed for the other pair).
            <tr key={row} class={classes!(pr.error.as_ref().map(|_| "pair-error"), is_sel.then_some("sel"),
                    chips.iter().filter_map(|&fi| a.findings.get(fi).map(|f| f.finding.severity)).min().map(|s| s.as_str()))}
                data-pair={pr.name.clone()}
                onclick={Callback::from(move |_| sel.set(Some(row)))}>
                <td class="pname" title={format!("{} ↔ {} ({})", pr.float_tensor, pr.quant_tensor, pr.matched_by)}>
                    if !pr.run.is_empty() { <span class="run-chip">{ pr.run.clone() }</span> }
                    { middle_cut(&pr.name) }</td>
                <td>{ crate::engine::views::shape_text(&pr.shape) }</td>
                { cell("cosine", m.map(|m| m.cosine)) }
                { cell("sqnr", m.map(|m| m.sqnr_db)) }
                { cell("mse", m.map(|m| m.mse)) }
                { cell("l1", m.map(|m| m.l1)) }
                { cell("kl", m.map(|m| m.kl)) }
                { cell("atol", m.map(|m| m.atol)) }
                { cell("max_qscale_diff", m.and_then(|m| m.max_qscale_diff)) }
                <td>{ scale_input(crate::engine::views::run_scale_key(&pr.run, &pr.name), pr.scale, pr.scale_source.as_deref() == Some("typed"), m.and_then(|m| m.quant).map(|q| q.dtype_name()), p.on_edit.clone()) }</td>
                <td class="splitcell">
                    { split.unwrap_or_else(|| html! { <span class="muted small">{ if no_error { "no error".to_string() } else { pr.error.clone().unwrap_or_else(|| "enter a scale".into()) } }</span> }) }
                </td>
                <td class="chips">{ for chips.iter().map(|&fi| {
                    let f = &a.findings[fi].finding;
                    let on_select = p.on_select.clone();
                    let active = p.selected == Some(fi);
                    html! { <button class={classes!("chip", f.severity.as_str(), active.then_some("active"))} title={f.message.clone()}
                        onclick={Callback::from(move |_| on_select.emit(if active { None } else { Some(fi) }))}>{ f.kind.clone() }</button> }
                }) }</td>
            </tr>
        }
    });
    let typed_pairs = t
        .pairs
        .iter()
        .filter(|pr| pr.scale_source.as_deref() == Some("typed"))
        .count();
    let unassigned = a
        .files
        .iter()
        .any(|f| matches!(f.document, Some(Document::Tensors { side: None, .. })));
    let tensor_files = a
        .files
        .iter()
        .filter(|f| matches!(f.document, Some(Document::Tensors { .. })));
    let n_files = tensor_files.clone().count();
    let with_notes = tensor_files.clone().any(|f| {
        f.notes
            .iter()
            .any(|n| !n.text.starts_with("Side not known"))
    });
    html! {
        <div class="tensors-view">
            <h2>{ "Tensor dumps" }</h2>
            <p class="muted">{ "Each float tensor is paired with its quantized counterpart by name (exactly, then without ONNX Runtime's QDQ suffixes such as _DequantizeLinear_Output). All metrics are computed here, in one streaming pass per pair; with the quantized side's scale, the error energy Σ(b−a)² is split into clipping, own rounding and error inherited from upstream." }</p>
            // A dump folder's hundreds of files fold away (open when a side is to be chosen or a
            // file has a note), so that the pairs come first.
            <details class="tfiles-box" open={n_files <= 20 || unassigned || with_notes}>
                <summary>{ format!("{n_files} tensor file(s) and their sides") }</summary>
                if let Some(rows) = folder_rows {
                    <p class="muted small">{ "A folder's side applies to every file in it that has no side chosen of its own:" }</p>
                    <table class="tfiles tfolders"><tbody>{ rows }</tbody></table>
                }
                <table class="tfiles"><tbody>{ for file_rows }</tbody></table>
            </details>
            if unassigned {
                <p class="banner-inline">{ "Choose the side of each file (float or quantized), or of a whole folder, to compare them." }</p>
            }
            if let Some(msg) = &t.message {
                <p class="banner-inline side-message" role="alert">{ msg.clone() }</p>
            }
            <p class="legend"><span class="seg clip"></span>{ " clipping " }<span class="seg round"></span>{ " own rounding " }<span class="seg inherited"></span>{ " inherited " }
                { {
                    let (a, ev, order) = (p.analysis.clone(), p.evidence.clone(), order.clone());
                    super::export::table_export("pairs", "tensor_pairs", None, false, move || {
                        let t = &a.tensors;
                        let kinds = |i: usize| -> Vec<String> {
                            let Some(pr) = t.pairs.get(i) else { return Vec::new() };
                            ev.get(&(pr.quant_file, "pairs".to_string(), i)).map(|ids| ids.iter()
                                .filter_map(|&fi| a.findings.get(fi).map(|f| f.finding.kind.clone())).collect()).unwrap_or_default()
                        };
                        Some(crate::engine::views::pairs_export(t, &order, &kinds))
                    })
                } }
                <label class="allscale" title="Used for the pairs that have no scale of their own (typed, from scales.json, the ONNX model or a comparison report)">{ "Scale for pairs without one: " }{ scale_input("*".into(), None, false, None, p.on_edit.clone()) }</label></p>
            if typed_pairs > 0 {
                <p class="typed-note muted small">{ format!("{} a typed scale (marked): their error split, their findings and what is shared or exported follow it. Clear a box to go back to the scale the files give.",
                    if typed_pairs == 1 { "1 pair uses".to_string() } else { format!("{typed_pairs} pairs use") }) }</p>
            }
            <div class="pairs-vt" ref={pairs_box} onscroll={on_scroll} style={format!("max-height:{PAIRS_VIEW_PX}px")}>
                <table class="pairs" data-rows={order.len().to_string()}>
                    <thead><tr>
                        { sort_th("name", "name") }<th>{ "shape" }</th>{ sort_th("cosine", "Cosine") }{ sort_th("sqnr", "SQNR dB") }{ sort_th("mse", "MSE") }{ sort_th("l1", "L1") }
                        { sort_th("kl", "KL") }{ sort_th("atol", "Atol") }{ sort_th("max_qscale_diff", "max_qscale_diff") }<th>{ "scale" }</th>{ sort_th("clip", "error split") }<th>{ "findings" }</th>
                    </tr></thead>
                    <tbody>{ spacer(first).unwrap_or_default() }{ for rows }{ spacer(order.len() - last).unwrap_or_default() }</tbody>
                </table>
            </div>
            <div ref={detail_ref} class="pair-detail-anchor">
                { selected_pair.and_then(|i| t.pairs.get(i).map(|pr| (i, pr))).map(|(i, pr)| pair_detail(i, pr, a, p.whatif.get(&i), &typed, &p.on_open_row, &p.on_edit)).unwrap_or_default() }
            </div>
            if !local.is_empty() {
                <details class="local-ranking">
                    <summary>{ format!("Local error ranking ({} tensors, lowest int8 SQNR first)", local.len()) }</summary>
                    <p class="muted small">{ "Each float tensor quantized by itself with a min-max scale: the layer's own clipping + rounding error. This is local error, not sensitivity: on PP-OCR's classifier it agreed with measured single-op sensitivity only loosely (Spearman 0.53; 2 of the top 10 in common). Use the toolchain's sensitivity tables to choose int16 ops." }</p>
                    <p>{ {
                        let (a, local) = (p.analysis.clone(), local.clone());
                        super::export::table_export("local", "tensor_pairs", Some("local_error_ranking"), local.len() > 30,
                            move || Some(crate::engine::views::local_ranking_export(&a.tensors, &local, 30)))
                    } }</p>
                    <ol>{ for local.iter().take(30).map(|&(i, s8, s16)| {
                        let sel = selected_pair.clone();
                        html! { <li data-local={t.pairs[i].name.clone()}>
                            <button class="link" onclick={Callback::from(move |_| sel.set(Some(i)))}>{ breakable(&t.pairs[i].name) }</button>
                            <super::rich::CopyName name={t.pairs[i].name.clone()} compact=true />
                            <span class="muted small">{ format!(" int8 {s8:.1} dB · int16 {s16:.1} dB") }</span>
                        </li> }
                    }) }</ol>
                </details>
            }
            if !t.pre_qdq.is_empty() {
                <p class="pre-qdq muted small">{ format!(
                    "{} of the quantized side's tensors are ONNX Runtime's values before their QuantizeLinear ({}…): each float tensor is compared with its DequantizeLinear output, the value the next layer reads, as ORT's qdq_loss_debug compares them; these are not compared.",
                    t.pre_qdq.len(),
                    t.pre_qdq.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
                ) }</p>
            }
            if !t.unpaired_float.is_empty() || !t.unpaired_quant.is_empty() {
                <div class="unpaired">
                    <h3>{ "Not paired" }</h3>
                    <p class="small">{ format!("float side: {}", if t.unpaired_float.is_empty() { "—".into() } else { t.unpaired_float.join(", ") }) }</p>
                    <p class="small">{ format!("quantized side: {}", if t.unpaired_quant.is_empty() { "—".into() } else { t.unpaired_quant.join(", ") }) }</p>
                    { {
                        // Names already paired once: a second copy of the tensor in another file.
                        let paired: std::collections::HashSet<&str> = t.pairs.iter().map(|p| p.quant_tensor.as_str()).collect();
                        let twice = t.unpaired_quant.iter().filter(|n| paired.contains(n.as_str())).count();
                        (twice > 0).then(|| html! {
                            <p class="small muted dup-names">{ format!("{twice} of the quantized side's unpaired tensors have the name of one already paired: another copy in another file. Each name pairs once, with the first file that holds it (the pair's details name its file); pair a copy by hand below, or load one copy only.") }</p>
                        })
                    } }
                    if !t.unpaired_float.is_empty() && !t.unpaired_quant.is_empty() {
                        <p class="manual-pair">
                            { "Pair by hand: " }
                            <select aria-label="float tensor to pair" onchange={{
                                let s = pick_f.clone();
                                Callback::from(move |e: Event| if let Some(x) = e.target_dyn_into::<HtmlSelectElement>() { s.set(x.value()) })
                            }}>
                                <option value="">{ "(float tensor)" }</option>
                                { for t.unpaired_float.iter().map(|n| html! { <option value={n.clone()}>{ n.clone() }</option> }) }
                            </select>
                            { " ↔ " }
                            <select aria-label="quantized tensor to pair" onchange={{
                                let s = pick_q.clone();
                                Callback::from(move |e: Event| if let Some(x) = e.target_dyn_into::<HtmlSelectElement>() { s.set(x.value()) })
                            }}>
                                <option value="">{ "(quantized tensor)" }</option>
                                { for t.unpaired_quant.iter().map(|n| html! { <option value={n.clone()}>{ n.clone() }</option> }) }
                            </select>
                            <button disabled={pick_f.is_empty() || pick_q.is_empty()} onclick={{
                                let (f, q, on_edit) = ((*pick_f).clone(), (*pick_q).clone(), p.on_edit.clone());
                                Callback::from(move |_| on_edit.emit(TensorEdit::Pair(f.clone(), q.clone())))
                            }}>{ "Pair and compare" }</button>
                        </p>
                    }
                </div>
            }
        </div>
    }
}

/// A side select's change: the side chosen for `key` (a file's name or a folder's key), or back to
/// the guess ("(choose side)").
fn side_choice(on_edit: &Callback<TensorEdit>, key: String) -> Callback<Event> {
    let on_edit = on_edit.clone();
    Callback::from(move |e: Event| {
        if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
            let side = match s.value().as_str() {
                "float" => Some(Side::Float),
                "quant" => Some(Side::Quant),
                _ => None,
            };
            on_edit.emit(TensorEdit::Side(key.clone(), side));
        }
    })
}
