//! Sensitivity view: the ranked table of one output and metric as a bar chart, each op linked to its
//! comparison rows and findings, and the full table below.

use super::data_table::DataTable;
use super::rich::breakable;
use super::Shared;
use crate::engine::views;
use crate::engine::views::{Analysis, RowKey};
use std::collections::HashMap;
use yew::prelude::*;

const BARS: usize = 30;

#[derive(Properties, PartialEq)]
pub struct SensProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub file: usize,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
    /// Open the comparison rows of an op: (compare file, row).
    pub on_open_row: Callback<(usize, usize)>,
}

#[component]
pub fn SensitivityView(p: &SensProps) -> Html {
    let Some(t) = p.analysis.files.get(p.file).and_then(|f| f.sensitivity()) else {
        return html! {};
    };
    let bars = views::sensitivity_bars(t, BARS).into_iter().map(|(i, frac)| {
        let r = &t.rows[i];
        let link = p.analysis.compare_rows_of(&r.op_name);
        let chips = p.evidence.get(&(p.file, "sensitivity".to_string(), i)).cloned().unwrap_or_default();
        let open = link.clone().map(|(cf, rows)| {
            let cb = p.on_open_row.clone();
            let first = rows[0];
            Callback::from(move |_| cb.emit((cf, first)))
        });
        html! {
            <div class="sbar" data-op={r.op_name.clone()}>
                <span class="srank">{ i + 1 }</span>
                <span class="sname" title={r.op_name.clone()}>{ breakable(&r.op_name) }<super::rich::CopyName name={r.op_name.clone()} compact=true /></span>
                <span class="stype muted small">{ format!("{} · {}{}", r.op_type.rsplit('.').next().unwrap_or(&r.op_type), r.sensitive_type,
                    r.quant_dtype.as_ref().map(|d| format!(" · {d}")).unwrap_or_default()) }</span>
                <span class="strack"><span class="sfill" style={format!("width:{:.1}%", frac * 100.0)}></span></span>
                <span class="sval num">{ r.value.map(views::fmt_num).unwrap_or_default() }</span>
                <span class="slink">
                    if let Some(open) = open {
                        <button class="link" onclick={open}>{ format!("{} row(s) →", link.map(|l| l.1.len()).unwrap_or(0)) }</button>
                    }
                    { for chips.iter().filter(|&&fi| p.analysis.findings[fi].finding.kind != "sensitive_ops").map(|&fi| {
                        let f = &p.analysis.findings[fi].finding;
                        let on_select = p.on_select.clone();
                        html! { <button class={classes!("chip", f.severity.as_str())} title={f.message.clone()}
                            onclick={Callback::from(move |_| on_select.emit(Some(fi)))}>{ f.kind.clone() }</button> }
                    }) }
                </span>
            </div>
        }
    });
    let dir = if t.ascending() {
        "smaller is more sensitive"
    } else {
        "larger is more sensitive"
    };
    html! {
        <div class="sens-view">
            <h2>{ breakable(&p.analysis.files[p.file].name) }</h2>
            <p class="muted">{ format!("Output {} · metric {} ({dir}) · {} ops · {} columns. Each value is the output error when only that op is quantized.",
                t.output.as_deref().unwrap_or("?"), t.metric, t.rows.len(), t.columns) }</p>
            if t.measured_by_quantlens() {
                <p class="provenance">{ "True single-op sensitivity measured in this page by QuantLens's model runner: each activation quantized alone, the rest of the model in float, compared at the model's output. Rankings here are by this measurement, not by local error." }</p>
            }
            <p>{ {
                let (a, file) = (p.analysis.clone(), p.file);
                super::export::table_export("sens", &p.analysis.files[p.file].name, Some("ops"), t.rows.len() > BARS, move || {
                    a.files.get(file).and_then(|f| f.sensitivity()).map(|t| views::sensitivity_export(t, BARS))
                })
            } }{ {
                let (a, file) = (p.analysis.clone(), p.file);
                super::export::svg_text_buttons(views::export_stem(&p.analysis.files[p.file].name, Some("bars"), false), move || {
                    a.files.get(file).and_then(|f| f.sensitivity()).map(|t| views::sensitivity_svg(t, BARS))
                })
            } }</p>
            <div class="sbars">{ for bars }</div>
            <details class="table-section" id="tbl-sensitivity" open={p.selected.is_some()}>
                <summary><span class="ttitle">{ "Full table" }</span><span class="muted small">{ format!(" {} row(s)", t.rows.len()) }</span></summary>
                <DataTable analysis={p.analysis.clone()} evidence={p.evidence.clone()} file={p.file} table_index={0}
                    selected={p.selected} on_select={p.on_select.clone()} />
            </details>
        </div>
    }
}
