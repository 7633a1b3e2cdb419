//! The Overview (files and findings by severity) and the Model check view (findings ⇄ tables).

use super::data_table::DataTable;
use super::rich::{breakable, human_bytes, rich_text};
use super::Shared;
use crate::engine::views::{Analysis, Document, RowKey};
use crate::engine::Severity;
use std::collections::HashMap;
use yew::prelude::*;

fn severity_title(s: Severity) -> &'static str {
    match s {
        Severity::Error => "Errors",
        Severity::Warning => "Warnings",
        Severity::Info => "Notes",
    }
}

#[derive(Properties, PartialEq)]
pub struct FindingCardProps {
    pub analysis: Shared<Analysis>,
    /// Index into `analysis.findings`.
    pub index: usize,
    pub on_open: Option<Callback<usize>>,
    #[prop_or_default]
    pub selected: bool,
    /// Its file's display name, when the parent has the list ([`Analysis::display_names`] looks
    /// at every file: called by each card of a 1,175-file session, it took 70 ms of one frame).
    #[prop_or_default]
    pub file_name: Option<String>,
}

/// One finding in full: kind, severity, message, fix, layers, and the way to its evidence.
#[component]
pub fn FindingCard(p: &FindingCardProps) -> Html {
    let expanded = use_state(|| false);
    let Some(ff) = p.analysis.findings.get(p.index) else {
        return html! {};
    };
    let f = &ff.finding;
    // The shortest name that tells this file from the others (`ort_int8/…/compare…` beside `ort_int16/…`).
    let file_name = p.file_name.clone().unwrap_or_else(|| {
        p.analysis
            .display_names()
            .get(ff.file)
            .cloned()
            .unwrap_or_default()
    });
    let layers_shown = if *expanded {
        f.layers.len()
    } else {
        f.layers.len().min(6)
    };
    let toggle = {
        let expanded = expanded.clone();
        Callback::from(move |_| expanded.set(!*expanded))
    };
    let open = p.on_open.clone().map(|cb| {
        let i = p.index;
        Callback::from(move |_| cb.emit(i))
    });
    html! {
        <article class={classes!("finding", f.severity.as_str(), p.selected.then_some("selected"))} data-kind={f.kind.clone()}>
            <header>
                <span class={classes!("sev", f.severity.as_str())}>{ f.severity.as_str() }</span>
                <span class="kind">{ f.kind.clone() }</span>
                <span class="muted small">{ format!(" in {file_name}") }</span>
                if let Some(open) = open {
                    <button class="link evidence" onclick={open}>
                        { crate::engine::views::evidence_button_label(f, ff.file) }
                    </button>
                }
            </header>
            if !f.rank_reason.is_empty() {
                <div class="rank-reason muted small">{ format!("Ranked here because: {}", f.rank_reason) }</div>
            }
            <div class="message">{ rich_text(&f.message) }</div>
            <div class="fix"><strong>{ "Fix: " }</strong>{ rich_text(&f.fix) }</div>
            if !f.layers.is_empty() {
                <details class="layers">
                    <summary>{ format!("{} layer(s)", f.layers.len()) }</summary>
                    <ul>
                        { for f.layers.iter().take(layers_shown).map(|l| html! { <li><code>{ breakable(l) }</code><super::rich::CopyName name={l.clone()} compact=true /></li> }) }
                    </ul>
                    if f.layers.len() > 6 {
                        <button class="link" onclick={toggle}>
                            { if *expanded { "show fewer".to_string() } else { format!("show all {}", f.layers.len()) } }
                        </button>
                    }
                </details>
            }
        </article>
    }
}

#[derive(Properties, PartialEq)]
pub struct OverviewProps {
    pub analysis: Shared<Analysis>,
    /// [`Analysis::display_names`] of `analysis`, computed once by the app.
    pub names: Shared<Vec<String>>,
    pub on_open: Callback<usize>,
}

/// Findings shown per severity group before "show more": a 50,000-row table can give thousands,
/// and the page must stay responsive (the DOM grows only as the user asks).
const PAGE: usize = 40;

/// Files listed in the Overview before "show all" (a folder of 768 dumps drew 5,000 elements).
const FILES_SHOWN: usize = 100;

#[component]
pub fn Overview(p: &OverviewProps) -> Html {
    let a = &p.analysis;
    let top = a.top(10);
    let shown = use_state(|| [PAGE; 3]);
    let names = &*p.names;
    let runs = crate::engine::views::run_keys(&a.files);
    // Tensor files loaded but no pair compared: "no problems" would mislead.
    let nothing_compared = a
        .files
        .iter()
        .any(|f| matches!(f.document, Some(Document::Tensors { .. })))
        && a.tensors.pairs.iter().all(|p| p.metrics.is_none());
    // Findings per file, counted once; a folder of hundreds of dumps lists its first
    // FILES_SHOWN files (and every file not read or with notes) until the user asks for all.
    let mut per_file = vec![0usize; a.files.len()];
    for x in &a.findings {
        if let Some(c) = per_file.get_mut(x.file) {
            *c += 1;
        }
    }
    let all_files = use_state(|| false);
    let listed = |fi: usize, f: &crate::engine::views::FileReport| {
        *all_files || fi < FILES_SHOWN || f.error.is_some() || !f.notes.is_empty()
    };
    let unlisted = a
        .files
        .iter()
        .enumerate()
        .filter(|&(fi, f)| !listed(fi, f))
        .count();
    let show_all = {
        let all_files = all_files.clone();
        Callback::from(move |_: MouseEvent| all_files.set(true))
    };
    let file_cards = a.files.iter().enumerate().filter(|&(fi, f)| listed(fi, f)).map(|(fi, f)| {
        let findings = per_file[fi];
        html! {
            <li class={classes!("file", (f.error.is_some() && !crate::engine::views::is_image_sample(f)).then_some("rejected"))}>
                <span class="fname" title={f.name.clone()}>{ breakable(names.get(fi).map(String::as_str).unwrap_or(&f.name)) }</span>
                <span class="muted small">{ format!(" {} ", human_bytes(f.size_bytes)) }</span>
                { match (&f.error, &f.format_label) {
                    (Some(e), _) if crate::engine::views::is_image_sample(f) => html! { <span class="muted">{ e.clone() }</span> },
                    (Some(e), _) => html! { <span class="error-text">{ format!("Not read: {e}") }</span> },
                    (None, Some(l)) => {
                        // A dump file says its side: the float and quantized copies of a tensor
                        // can have the same short name.
                        let side = match &f.document {
                            Some(Document::Tensors { side: Some(crate::engine::side::Side::Float), .. }) => " (float side)",
                            Some(Document::Tensors { side: Some(crate::engine::side::Side::Quant), .. }) => " (quantized side)",
                            _ => "",
                        };
                        html! { <span>{ format!("{l}{side} — {findings} finding(s)") }</span> }
                    }
                    _ => html! {},
                } }
                if !f.notes.is_empty() {
                    <details class="notes">
                        <summary>{ format!("{} reader note(s)", f.notes.len()) }</summary>
                        <ul>{ for f.notes.iter().map(|n| html! {
                            <li>{ n.line.map(|l| format!("line {l}: ")).unwrap_or_default() }{ n.text.clone() }</li>
                        }) }</ul>
                    </details>
                }
            </li>
        }
    });
    let groups = [Severity::Error, Severity::Warning, Severity::Info]
        .into_iter()
        .enumerate()
        .map(|(g, s)| {
            let items: Vec<usize> = a
                .findings
                .iter()
                .enumerate()
                .filter(|(_, f)| f.finding.severity == s)
                .map(|(i, _)| i)
                .collect();
            if items.is_empty() {
                return html! {};
            }
            let n = shown[g].min(items.len());
            let more = {
                let shown = shown.clone();
                Callback::from(move |_: MouseEvent| {
                    let mut v = *shown;
                    v[g] += PAGE * 4;
                    shown.set(v);
                })
            };
            html! {
                <section class={classes!("sev-group", s.as_str())}>
                    <h3>{ format!("{} ({})", severity_title(s), items.len()) }</h3>
                    { for items[..n].iter().map(|&i| html! {
                        <FindingCard analysis={p.analysis.clone()} index={i} on_open={Some(p.on_open.clone())}
                            file_name={a.findings.get(i).and_then(|ff| names.get(ff.file)).cloned().unwrap_or_default()} />
                    }) }
                    if n < items.len() {
                        <button class="show-more" onclick={more}>{ format!("Show {} more ({} not shown)", (PAGE * 4).min(items.len() - n), items.len() - n) }</button>
                    }
                </section>
            }
        });
    html! {
        <div class="overview">
            <section class="summary">
                <div class="counts">
                    <span class="count-chip error">{ format!("{} error(s)", a.count(Severity::Error)) }</span>
                    <span class="count-chip warning">{ format!("{} warning(s)", a.count(Severity::Warning)) }</span>
                    <span class="count-chip info">{ format!("{} note(s)", a.count(Severity::Info)) }</span>
                </div>
            </section>
            if !top.is_empty() {
                <section class="top-ten">
                    <h3>{ if top.len() == 1 { "The finding that matters most".to_string() } else { format!("The {} findings that matter most", top.len()) } }</h3>
                    <ol class="top-list">{ for top.iter().map(|&i| {
                        let f = &a.findings[i];
                        let open = p.on_open.clone();
                        html! {
                            <li class={classes!("top-item", f.finding.severity.as_str())}>
                                <button class="link top-open" onclick={Callback::from(move |_| open.emit(i))}>
                                    <span class={classes!("sev", f.finding.severity.as_str())}>{ f.finding.severity.as_str() }</span>
                                    <span class="kind">{ f.finding.kind.clone() }</span>
                                    if runs.get(f.file).is_some_and(|r| !r.is_empty()) {
                                        <span class="run-chip">{ runs[f.file].clone() }</span>
                                    }
                                    <span class="top-layer">{ breakable(f.finding.layers.first().map(String::as_str).unwrap_or("")) }</span>
                                    if f.finding.layers.len() > 1 { <span class="muted small">{ format!(" +{} more", f.finding.layers.len() - 1) }</span> }
                                </button>
                                <span class="top-reason muted small">{ f.finding.rank_reason.clone() }</span>
                            </li>
                        }
                    }) }</ol>
                </section>
            }
            // The files after the findings that matter: a dump folder's hundreds of files
            // would push them out of sight.
            <section class="file-list">
                <h3>{ "Files" }</h3>
                <ul class="files">{ for file_cards }</ul>
                if unlisted > 0 {
                    <button class="show-more show-files" onclick={show_all}>{ format!("Show all {} files ({unlisted} not shown)", a.files.len()) }</button>
                }
            </section>
            if a.findings.is_empty() && nothing_compared {
                <p class="banner-inline">{ a.tensors.message.clone().unwrap_or_else(|| "The tensor files have not been compared yet: open the Tensors tab to set their sides or pair them.".into()) }</p>
            } else if a.findings.is_empty() && a.files.iter().any(|f| f.error.is_none()) {
                <p class="ok">{ "No problems found in the files read." }</p>
            }
            if !a.tensors.pairs.is_empty() && (!a.tensors.unpaired_float.is_empty() || !a.tensors.unpaired_quant.is_empty()) {
                <p class="unpaired-note muted small">{ format!("Not compared: {} float and {} quantized tensor(s) have no counterpart by name{} (the Tensors tab lists them under \"Not paired\", where they can be paired by hand).",
                    a.tensors.unpaired_float.len(), a.tensors.unpaired_quant.len(),
                    match a.unpaired_weights() {
                        0 => String::new(),
                        w => format!("; {w} of the quantized ones are weights or biases the loaded model dequantizes, which a dump of activations has nothing to compare with"),
                    }) }</p>
            }
            { for groups }
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct CheckViewProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub file: usize,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
}

/// Findings of one file beside its tables, linked both ways.
#[component]
pub fn CheckView(p: &CheckViewProps) -> Html {
    let a = &p.analysis;
    let Some(report) = a.files.get(p.file) else {
        return html! { <p>{ "No such file." }</p> };
    };
    let mc = match &report.document {
        Some(Document::ModelCheck(mc)) => Some(mc),
        _ => None,
    };
    // Scroll to the first cited table when a finding is selected.
    {
        let selected = p.selected;
        let first_table = selected.and_then(|fi| {
            a.findings
                .get(fi)
                .and_then(|f| f.finding.evidence.first().map(|e| e.table.clone()))
        });
        use_effect_with(selected, move |_| {
            if let Some(id) = first_table {
                if let Some(el) = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.get_element_by_id(&format!("tbl-{id}")))
                {
                    el.scroll_into_view();
                }
            }
        });
    }
    let list = a
        .findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.file == p.file)
        .map(|(i, f)| {
            let sel = p.selected == Some(i);
            let on_select = p.on_select.clone();
            html! {
                <li class={classes!("flist-item", f.finding.severity.as_str(), sel.then_some("selected"))}
                    onclick={Callback::from(move |_| on_select.emit(if sel { None } else { Some(i) }))}>
                    <span class={classes!("sev", f.finding.severity.as_str())}>{ f.finding.severity.as_str() }</span>
                    // A long kind breaks after its underscores, not inside a word.
                    <span class="kind">{ for f.finding.kind.split_inclusive('_').map(|w| html! { <>{ w.to_string() }<wbr/></> }) }</span>
                    // The first layer tells two findings of one kind apart.
                    <span class="muted small">{ match f.finding.layers.first() {
                        Some(l) if f.finding.layers.len() > 1 => format!("{} layers: {l}, …", f.finding.layers.len()),
                        Some(l) => format!("1 layer: {l}"),
                        None => "no layer".to_string(),
                    } }</span>
                </li>
            }
        });
    let selected_card = p
        .selected
        .filter(|&fi| a.findings.get(fi).is_some_and(|f| f.file == p.file))
        .map(|fi| html! {
            <FindingCard analysis={p.analysis.clone()} index={fi} on_open={None::<Callback<usize>>} selected=true />
        });
    let status = |s: &str| html! { <p class="status">{ s.to_string() }</p> };
    let tables = report.tables().into_iter().enumerate().map(|(ti, t)| {
        let cited = p.selected.is_some_and(|fi| {
            a.findings.get(fi).is_some_and(|f| f.file == p.file && f.finding.evidence.iter().any(|e| e.table == t.id))
        });
        html! {
            <details class="table-section" id={format!("tbl-{}", t.id)} open={cited || t.rows.len() <= 40 || t.id == "layers"}>
                <summary>
                    <span class="ttitle">{ t.title.clone() }</span>
                    <span class="muted small">{ format!(" {} row(s), from line {}", t.rows.len(), t.first_line) }</span>
                </summary>
                <DataTable analysis={p.analysis.clone()} evidence={p.evidence.clone()} file={p.file}
                    table_index={ti} selected={p.selected} on_select={p.on_select.clone()} />
            </details>
        }
    });
    use crate::engine::views::{CallStatus, FusionStatus};
    html! {
        <div class="check-view">
            <aside class="flist">
                <h3>{ "Findings" }</h3>
                <ul>{ for list }</ul>
                <p class="muted small">{ "Click a finding to highlight its rows; click a chip on a row to jump to its finding." }</p>
            </aside>
            <div class="tables">
                <h2>{ breakable(&report.name) }</h2>
                { selected_card.unwrap_or_default() }
                { match mc.map(|m| &m.fusion) {
                    Some(FusionStatus::AllFused) => status("✓ All fusable modules are fused in model."),
                    Some(FusionStatus::NotReported) => status("The file has no fusion section."),
                    _ => html! {},
                } }
                { match mc.map(|m| &m.calls) {
                    Some(CallStatus::AllOnce) => status("✓ All modules in the model run exactly once."),
                    Some(CallStatus::NotReported) => status("The file has no call-count section."),
                    _ => html! {},
                } }
                { for tables }
            </div>
        </div>
    }
}
