//! Tensors view: the dumped tensor files with their side (float / quantized), the paired tensors with
//! every metric and the error split as a stacked bar, scales to enter, and what could not be paired.

use super::rich::{breakable, human_bytes};
use super::Shared;
use crate::engine::pairs::Side;
use crate::engine::session::{Analysis, Document, RowKey};
use crate::engine::views::fmt_num;
use std::collections::HashMap;
use web_sys::{HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// What the user changed: a file's side, or a pair's scale (`*` for all pairs).
#[derive(Clone, PartialEq)]
pub enum TensorEdit {
    Side(String, Option<Side>),
    Scale(String, f64),
    /// Pair a float tensor with a quantized one by hand.
    Pair(String, String),
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
}

fn scale_input(name: String, current: Option<f64>, on_edit: Callback<TensorEdit>) -> Html {
    let onchange = Callback::from(move |e: Event| {
        if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
            if let Ok(v) = i.value().trim().parse::<f64>() {
                if v > 0.0 && v.is_finite() {
                    on_edit.emit(TensorEdit::Scale(name.clone(), v));
                }
            }
        }
    });
    html! {
        <input class="scale" type="text" inputmode="decimal" placeholder="scale"
            value={current.map(|s| format!("{s}")).unwrap_or_default()} {onchange}
            title="The quantized tensor's scale: enables max_qscale_diff and the error split" />
    }
}

/// Histograms of one pair (float and quantized overlaid, then the error) and its range picture.
fn pair_detail(
    pr: &crate::engine::pairs::PairResult,
    a: &Analysis,
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
    let picture =
        crate::engine::views::pair_range_picture(m, rep).map(|pic| super::layers::range_svg(&pic));
    html! {
        <div class="pair-detail" data-detail={pr.name.clone()}>
            <h3>{ breakable(&pr.name) }</h3>
            <p class="muted small">{ format!("{} ↔ {} · paired {}", pr.float_tensor, pr.quant_tensor, pr.matched_by) }</p>
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
                        <svg class="hist" viewBox="0 0 400 60" preserveAspectRatio="none">{ bars(&h.float, "hfloat") }{ bars(&h.quant, "hquant") }</svg>
                    </div>
                    <div>
                        <p class="small">{ format!("error b − a, {} to {}", fmt_num(h.err_lo), fmt_num(h.err_hi)) }</p>
                        <svg class="hist" viewBox="0 0 400 60" preserveAspectRatio="none">{ bars(&h.err, "herr") }</svg>
                    </div>
                </div>
            }
            { picture.unwrap_or_default() }
            if !m.observer_scales.is_empty() {
                <div class="observers">
                    <p class="small">{ "Try an observer's scale for this tensor (compares again, with the error split):" }</p>
                    { for m.observer_scales.iter().map(|(dt, o, s)| {
                        let (cb, name, s) = (on_edit.clone(), pr.name.clone(), *s);
                        let active = pr.scale.is_some_and(|c| (c - s).abs() <= 1e-12 * s);
                        html! {
                            <button class={classes!("obs", active.then_some("active"))} data-obs={format!("{dt} {o}")}
                                onclick={Callback::from(move |_| cb.emit(TensorEdit::Scale(name.clone(), s)))}>
                                { format!("{dt} {o}: {}", fmt_num(s)) }
                            </button>
                        }
                    }) }
                </div>
            }
            if !m.groups.is_empty() {
                <table class="groups small">
                    <caption>{ "What-if: the float tensor split into contiguous groups, each with its own min-max scale (flattened order; cuts chosen to minimise the error)" }</caption>
                    <tr><th>{ "dtype" }</th><th>{ "groups" }</th><th>{ "MSE" }</th><th>{ "max relative error" }</th><th>{ "cut before element" }</th><th>{ "scales" }</th></tr>
                    { for m.groups.iter().map(|g| html! {
                        <tr data-groups={format!("{} {}", g.dtype, g.k)}>
                            <td>{ g.dtype.clone() }</td><td>{ g.k }</td><td>{ fmt_num(g.split.mse) }</td><td>{ fmt_num(g.split.max_rel) }</td>
                            <td>{ if g.split.cuts.is_empty() { "—".to_string() } else { g.split.cuts.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ") } }</td>
                            <td>{ g.split.scales.iter().map(|s| fmt_num(*s)).collect::<Vec<_>>().join(", ") }</td>
                        </tr>
                    }) }
                </table>
            }
            if !m.channels.is_empty() {
                <table class="groups channels small">
                    <caption>{ "What-if: one min-max scale per channel instead of one for the tensor (the float tensor quantized by itself)" }</caption>
                    <tr><th>{ "dtype" }</th><th>{ "axis" }</th><th>{ "channels" }</th><th>{ "SQNR per channel" }</th><th>{ "SQNR per tensor" }</th><th>{ "MSE per channel" }</th><th>{ "MSE per tensor" }</th></tr>
                    { for m.channels.iter().map(|c| html! {
                        <tr data-channels={format!("{} {}", c.dtype, c.axis)}>
                            <td>{ c.dtype.clone() }</td><td>{ c.axis }</td><td>{ c.channels }</td>
                            <td>{ format!("{:.1} dB", c.per_channel_sqnr_db) }</td><td>{ format!("{:.1} dB", c.per_tensor_sqnr_db) }</td>
                            <td>{ fmt_num(c.per_channel_mse) }</td><td>{ fmt_num(c.per_tensor_mse) }</td>
                        </tr>
                    }) }
                </table>
            }
            if let Some(l) = &m.local {
                <p class="small">{ format!("Local error of the float tensor quantized by itself (min-max): int8 SQNR {:.1} dB, int16 {:.1} dB. This is the layer's own error, not its sensitivity.", l.int8_sqnr_db, l.int16_sqnr_db) }</p>
            }
            if rep.is_none() {
                <p class="muted small">{ "Enter the quantized side's scale to see the representable range and the error split." }</p>
            }
        </div>
    }
}

#[component]
pub fn TensorsView(p: &TensorsProps) -> Html {
    let selected_pair = use_state(|| None::<usize>);
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
    let file_rows = files.map(|(_, f, entries, side)| {
        let on_edit = p.on_edit.clone();
        let name = f.name.clone();
        let onchange = Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                let side = match s.value().as_str() {
                    "float" => Some(Side::Float),
                    "quant" => Some(Side::Quant),
                    _ => None,
                };
                on_edit.emit(TensorEdit::Side(name.clone(), side));
            }
        });
        html! {
            <tr>
                <td class="fname">{ breakable(&f.name) }</td>
                <td>{ format!("{} tensor(s), {}", entries.len(), human_bytes(f.size_bytes)) }</td>
                <td>
                    <select aria-label={format!("side of {}", f.name)} {onchange}>
                        <option value="" selected={side.is_none()}>{ "(choose side)" }</option>
                        <option value="float" selected={side == Some(Side::Float)}>{ "float (baseline)" }</option>
                        <option value="quant" selected={side == Some(Side::Quant)}>{ "quantized" }</option>
                    </select>
                </td>
            </tr>
        }
    });
    let t = &a.tensors;
    let local = crate::engine::views::local_error_ranking(t);
    let rows = t.pairs.iter().enumerate().map(|(row, pr)| {
        let chips = p.evidence.get(&(pr.quant_file, "pairs".to_string(), row)).cloned().unwrap_or_default();
        let m = pr.metrics.as_ref();
        let cell = |v: Option<f64>| html! { <td class="num">{ v.map(fmt_num).unwrap_or_default() }</td> };
        let split = m.and_then(|m| m.error_split).map(|sp| {
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
            <tr class={classes!(pr.error.as_ref().map(|_| "pair-error"), is_sel.then_some("sel"),
                    chips.iter().filter_map(|&fi| a.findings.get(fi).map(|f| f.finding.severity)).min().map(|s| s.as_str()))}
                data-pair={pr.name.clone()}
                onclick={Callback::from(move |_| sel.set(Some(row)))}>
                <td class="pname" title={format!("{} ↔ {} ({})", pr.float_tensor, pr.quant_tensor, pr.matched_by)}>{ breakable(&pr.name) }</td>
                <td>{ format!("{:?}", pr.shape) }</td>
                { cell(m.map(|m| m.cosine)) }
                { cell(m.map(|m| m.sqnr_db)) }
                { cell(m.map(|m| m.mse)) }
                { cell(m.map(|m| m.l1)) }
                { cell(m.map(|m| m.kl)) }
                { cell(m.map(|m| m.atol)) }
                { cell(m.and_then(|m| m.max_qscale_diff)) }
                <td>{ scale_input(pr.name.clone(), pr.scale, p.on_edit.clone()) }</td>
                <td class="splitcell">
                    { split.unwrap_or_else(|| html! { <span class="muted small">{ pr.error.clone().unwrap_or_else(|| "enter a scale".into()) }</span> }) }
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
    let unassigned = a
        .files
        .iter()
        .any(|f| matches!(f.document, Some(Document::Tensors { side: None, .. })));
    html! {
        <div class="tensors-view">
            <h2>{ "Tensor dumps" }</h2>
            <p class="muted">{ "Each float tensor is paired with its quantized counterpart by name (exactly, then without ONNX Runtime's QDQ suffixes such as _DequantizeLinear_Output). All metrics are computed here, in one streaming pass per pair; with the quantized side's scale, the error energy Σ(b−a)² is split into clipping, own rounding and error inherited from upstream." }</p>
            <table class="tfiles"><tbody>{ for file_rows }</tbody></table>
            if unassigned {
                <p class="banner-inline">{ "Choose the side of each file (float or quantized) to compare them." }</p>
            }
            <p class="legend"><span class="seg clip"></span>{ " clipping " }<span class="seg round"></span>{ " own rounding " }<span class="seg inherited"></span>{ " inherited " }
                <label class="allscale">{ "Scale for every pair: " }{ scale_input("*".into(), None, p.on_edit.clone()) }</label></p>
            <div class="scroll-x">
                <table class="pairs">
                    <thead><tr>
                        <th>{ "name" }</th><th>{ "shape" }</th><th>{ "Cosine" }</th><th>{ "SQNR dB" }</th><th>{ "MSE" }</th><th>{ "L1" }</th>
                        <th>{ "KL" }</th><th>{ "Atol" }</th><th>{ "max_qscale_diff" }</th><th>{ "scale" }</th><th>{ "error split" }</th><th>{ "findings" }</th>
                    </tr></thead>
                    <tbody>{ for rows }</tbody>
                </table>
            </div>
            { selected_pair.and_then(|i| t.pairs.get(i)).map(|pr| pair_detail(pr, a, &p.on_open_row, &p.on_edit)).unwrap_or_default() }
            if !local.is_empty() {
                <details class="local-ranking">
                    <summary>{ format!("Local error ranking ({} tensors, lowest int8 SQNR first)", local.len()) }</summary>
                    <p class="muted small">{ "Each float tensor quantized by itself with a min-max scale: the layer's own clipping + rounding error. This is local error, not sensitivity: on PP-OCR's classifier it agreed with measured single-op sensitivity only loosely (Spearman 0.53; 2 of the top 10 in common). Use the toolchain's sensitivity tables to choose int16 ops." }</p>
                    <ol>{ for local.iter().take(30).map(|&(i, s8, s16)| {
                        let sel = selected_pair.clone();
                        html! { <li data-local={t.pairs[i].name.clone()}>
                            <button class="link" onclick={Callback::from(move |_| sel.set(Some(i)))}>{ breakable(&t.pairs[i].name) }</button>
                            <span class="muted small">{ format!(" int8 {s8:.1} dB · int16 {s16:.1} dB") }</span>
                        </li> }
                    }) }</ol>
                </details>
            }
            if !t.unpaired_float.is_empty() || !t.unpaired_quant.is_empty() {
                <div class="unpaired">
                    <h3>{ "Not paired" }</h3>
                    <p class="small">{ format!("float side: {}", if t.unpaired_float.is_empty() { "—".into() } else { t.unpaired_float.join(", ") }) }</p>
                    <p class="small">{ format!("quantized side: {}", if t.unpaired_quant.is_empty() { "—".into() } else { t.unpaired_quant.join(", ") }) }</p>
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
