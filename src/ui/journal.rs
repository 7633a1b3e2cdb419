//! The journal panel: the seed's table of runs with targets met or not, the next step and its evidence, a run's form (add or edit), import/export, and two runs compared.

use crate::engine::intent::Intent;
use crate::engine::views::{
    fmt_num, Change, DiffView, EvidenceLink, JournalView, Movement, NextStep, RunForm, Stage,
    SENS_TOP,
};
use crate::protocol::JournalCmd;
use std::rc::Rc;
use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

#[derive(Properties, Clone)]
pub struct JournalProps {
    pub view: Rc<JournalView>,
    pub on_cmd: Callback<JournalCmd>,
    /// A journal file picked for import (read like any dropped file: detected by content).
    pub on_import: Callback<Event>,
    /// Whether files are loaded (their analysis can be kept with a run).
    pub has_files: bool,
    /// A link carrying the journal, just made.
    pub link: Option<String>,
    /// Show a layer's row in the loaded reports (evidence of the next step).
    pub on_layer: Callback<String>,
}

impl PartialEq for JournalProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.view, &o.view) && self.has_files == o.has_files && self.link == o.link
    }
}

/// Runs shown in the table before "show all".
const SHOWN_RUNS: usize = 30;

fn opt(v: Option<f64>) -> String {
    v.map(fmt_num).unwrap_or_else(|| "—".into())
}

fn stage_value(s: Stage) -> &'static str {
    match s {
        Stage::Float => "float",
        Stage::FloatFinetune => "float_finetune",
        Stage::Calibration => "calibration",
        Stage::Qat => "qat",
    }
}

fn precision_value(p: Intent) -> &'static str {
    match p {
        Intent::Unstated => "unstated",
        Intent::AllInt16 => "int16",
        Intent::AllInt8 => "int8",
        Intent::Mixed => "mixed",
    }
}

fn input_value(e: &Event) -> String {
    if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
        i.value()
    } else if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
        s.value()
    } else if let Some(t) = e.target_dyn_into::<HtmlTextAreaElement>() {
        t.value()
    } else {
        String::new()
    }
}

fn evidence_item(
    e: &EvidenceLink,
    view: &JournalView,
    on_cmd: &Callback<JournalCmd>,
    on_layer: Option<&Callback<String>>,
) -> Html {
    let run_name = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| view.runs.iter().find(|r| &r.id == id))
            .map(|r| format!(" in “{}”", r.name))
            .unwrap_or_else(|| " in the loaded reports".into())
    };
    match e {
        EvidenceLink::Run { id } => {
            let name = view
                .runs
                .iter()
                .find(|r| &r.id == id)
                .map(|r| format!("{} ({})", r.name, r.kind))
                .unwrap_or_default();
            html! { <li>{ "Run: " }<b>{ name }</b></li> }
        }
        EvidenceLink::Diff { a, b } => {
            let (a, b) = (a.clone(), b.clone());
            let cmd = on_cmd.clone();
            html! { <li><button class="link evidence-diff" onclick={Callback::from(move |_| cmd.emit(JournalCmd::Compare { pair: Some((a.clone(), b.clone())), by: None }))}>{ "Compare the two runs" }</button></li> }
        }
        EvidenceLink::Op {
            name,
            run,
            rank,
            value,
            table,
        } => {
            let show = on_layer.map(|cb| {
                let (cb, n) = (cb.clone(), name.clone());
                html! { <button class="link show-layer" title="Show its row in the loaded layer comparison"
                    onclick={Callback::from(move |_| cb.emit(n.clone()))}>{ "show" }</button> }
            });
            html! {
                <li class="evidence-op"><code>{ name.clone() }</code>{ format!(" — #{rank} of {table}{} ({}) ", run_name(run), opt(*value)) }
                { show.unwrap_or_default() }</li>
            }
        }
        EvidenceLink::Finding {
            kind, message, run, ..
        } => html! {
            <li class="evidence-finding"><span class="kind">{ kind.clone() }</span>{ format!("{}: ", run_name(run)) }{ message.chars().take(300).collect::<String>() }</li>
        },
    }
}

fn next_panel(
    view: &JournalView,
    on_cmd: &Callback<JournalCmd>,
    on_layer: Option<&Callback<String>>,
) -> Html {
    let step = |(i, s): (usize, &NextStep)| {
        html! {
            <div class={classes!("next-step", (i > 0).then_some("check"))} data-rule={s.rule.clone()}>
                <p class="step"><b>{ if i == 0 { "Next step: " } else { "Check: " } }</b>{ s.step.clone() }</p>
                <p class="why">{ s.why.clone() }</p>
                <p class="cite muted small">{ format!("Guide: {}", s.section) }</p>
                if !s.evidence.is_empty() {
                    <ul class="evidence">{ for s.evidence.iter().map(|e| evidence_item(e, view, on_cmd, on_layer)) }</ul>
                }
            </div>
        }
    };
    html! { <div id="next-steps" aria-live="polite">{ for view.next.iter().enumerate().map(step) }</div> }
}

fn diff_panel(d: &DiffView, on_cmd: &Callback<JournalCmd>) -> Html {
    let dl = {
        let cmd = on_cmd.clone();
        Callback::from(move |_| cmd.emit(JournalCmd::ExportDiff))
    };
    let close = {
        let cmd = on_cmd.clone();
        Callback::from(move |_| {
            cmd.emit(JournalCmd::Compare {
                pair: None,
                by: None,
            })
        })
    };
    let p = d.diff.primary.clone();
    let by = {
        let (cmd, a, b) = (on_cmd.clone(), d.a.clone(), d.b.clone());
        Callback::from(move |e: Event| {
            let m = input_value(&e);
            cmd.emit(JournalCmd::Compare {
                pair: Some((a.clone(), b.clone())),
                by: Some(m),
            });
        })
    };
    let layer_table = |want: Change, title: &str, count: usize, id: &str| {
        let rows: Vec<_> = d.diff.layers.iter().filter(|l| l.change == want).collect();
        let shown = rows.len();
        html! {
            <details class="diff-layers" id={id.to_string()} open={want == Change::Worse}>
                <summary>{ format!("{title} ({count})") }
                    if shown < count { <span class="muted small">{ format!(" — the {shown} largest; download the diff for all") }</span> }
                </summary>
                <table class="data"><thead><tr><th>{ "layer" }</th><th>{ format!("{p} A") }</th><th>{ format!("{p} B") }</th><th>{ "Δ" }</th><th>{ "dtype" }</th></tr></thead>
                <tbody>{ for rows.iter().map(|l| {
                    let g = |m: &crate::engine::views::JournalMetrics| opt(m.get(&p).map(|v| v.0));
                    let dt = match (&l.dtype_a, &l.dtype_b) {
                        (Some(a), Some(b)) if a != b => format!("{a} → {b}"),
                        (Some(a), _) => a.clone(),
                        _ => String::new(),
                    };
                    html! { <tr><td class="name">{ l.name.clone() }</td><td>{ g(&l.a) }</td><td>{ g(&l.b) }</td><td>{ g(&l.delta) }</td><td>{ dt }</td></tr> }
                }) }</tbody></table>
            </details>
        }
    };
    let moves: Vec<_> = d
        .diff
        .sensitivity
        .iter()
        .filter(|m| {
            m.rank_a.is_some_and(|r| r <= SENS_TOP) || m.rank_b.is_some_and(|r| r <= SENS_TOP)
        })
        .collect();
    let rank = |r: Option<usize>| r.map_or("—".to_string(), |r| format!("#{r}"));
    let finding_list = |title: &str,
                        n: usize,
                        list: &[crate::engine::views::FindingSummary],
                        id: &str| {
        html! {
            <details class="diff-findings" id={id.to_string()}>
                <summary>{ format!("{title}: {n}") }</summary>
                <ul>{ for list.iter().map(|f| html! { <li><span class="kind">{ f.kind.clone() }</span>{ " " }{ f.message.chars().take(300).collect::<String>() }</li> }) }</ul>
            </details>
        }
    };
    html! {
        <section class="diff" id="run-diff">
            <h3>{ format!("“{}” → “{}”", d.a_name, d.b_name) }
                <button class="link" onclick={close}>{ "close" }</button></h3>
            <table class="data" id="diff-accuracy"><thead><tr><th>{ "branch" }</th><th>{ "A" }</th><th>{ "B" }</th><th>{ "Δ" }</th></tr></thead>
            <tbody>{ for d.accuracy.iter().map(|(l, a, b, x)| html! {
                <tr><td>{ l.clone() }</td><td>{ opt(*a) }</td><td>{ opt(*b) }</td>
                <td class={classes!(x.is_some_and(|x| x > 0.0).then_some("up"), x.is_some_and(|x| x < 0.0).then_some("down"))}>{ opt(*x) }</td></tr>
            }) }</tbody></table>
            if let Some(m) = &d.missing {
                <p class="muted" id="diff-missing">{ m.clone() }</p>
            } else {
                <p id="diff-summary">
                    { format!("{} layers in both: {} improved, {} got worse, {} unchanged (by {p}); only in A: {}; only in B: {}{}. ",
                        d.layers_total, d.improved, d.worse, d.layers_total - d.improved - d.worse,
                        d.diff.unmatched.a_only.len(), d.diff.unmatched.b_only.len(),
                        if d.diff.unmatched.renamed.is_empty() { String::new() } else { format!(" ({} probably renamed)", d.diff.unmatched.renamed.len()) }) }
                    <button id="diff-download" onclick={dl}>{ "Download the diff (JSON)" }</button>
                </p>
                if !d.changed.is_empty() {
                    <h4>{ format!("Ops “{}” changed", d.b_name) }</h4>
                    <table class="data" id="diff-changed"><thead><tr><th>{ "op" }</th><th>{ "table" }</th><th>{ "rank A" }</th><th>{ "rank B" }</th><th>{ "value A" }</th><th>{ "value B" }</th><th>{ "" }</th></tr></thead>
                    <tbody>{ for d.changed.iter().map(|m| {
                        let (text, cls) = match m.dropped {
                            Some(true) => ("sensitivity dropped ✓", "dropped"),
                            Some(false) => ("did not drop: check the change took effect", "not-dropped"),
                            None => ("not in both tables", ""),
                        };
                        html! { <tr class={cls}><td class="name">{ m.name.clone() }</td><td>{ m.table.clone() }</td><td>{ rank(m.rank_a) }</td><td>{ rank(m.rank_b) }</td>
                            <td>{ opt(m.value_a) }</td><td>{ opt(m.value_b) }</td><td>{ text }</td></tr> }
                    }) }</tbody></table>
                }
                <h4>{ format!("Sensitivity: the top {SENS_TOP} of either run") }</h4>
                if moves.is_empty() { <p class="muted">{ "No sensitivity table in both runs." }</p> } else {
                <table class="data" id="diff-sensitivity"><thead><tr><th>{ "op" }</th><th>{ "table" }</th><th>{ "rank A" }</th><th>{ "rank B" }</th><th>{ "value A" }</th><th>{ "value B" }</th><th>{ "" }</th></tr></thead>
                <tbody>{ for moves.iter().map(|m| {
                    let (text, cls) = match m.movement {
                        Movement::LeftTop => ("left the top", "left-top"),
                        Movement::EnteredTop => ("entered the top", "entered-top"),
                        Movement::Up => ("more sensitive", "up-rank"),
                        Movement::Down => ("less sensitive", "down-rank"),
                        Movement::Same => ("same rank", ""),
                        Movement::OnlyA => ("only in A", ""),
                        Movement::OnlyB => ("only in B", ""),
                    };
                    html! { <tr class={cls}><td class="name">{ m.name.clone() }</td><td>{ m.table.clone() }</td><td>{ rank(m.rank_a) }</td><td>{ rank(m.rank_b) }</td>
                        <td>{ opt(m.value_a) }</td><td>{ opt(m.value_b) }</td><td>{ text }</td></tr> }
                }) }</tbody></table>
                }
                <h4>{ "Findings" }</h4>
                { finding_list("Fixed (in A, not in B)", d.fixed, &d.diff.findings.fixed, "diff-fixed") }
                { finding_list("New (in B, not in A)", d.new, &d.diff.findings.new, "diff-new") }
                { finding_list("Kept", d.kept, &d.diff.findings.kept, "diff-kept") }
                if !d.diff.findings.on_missing_layers.is_empty() {
                    { finding_list("On layers B does not have (neither fixed nor kept)", d.diff.findings.on_missing_layers.len(), &d.diff.findings.on_missing_layers, "diff-missing-layers") }
                }
                <h4>{ "Layers" }</h4>
                <label class="small">{ "judged and sorted by " }<select id="diff-by" onchange={by}>
                    { for d.metrics.iter().map(|m| html! { <option value={m.clone()} selected={*m == p}>{ m.clone() }</option> }) }
                </select></label>
                { layer_table(Change::Worse, "Got worse", d.worse, "diff-worse") }
                { layer_table(Change::Improved, "Improved", d.improved, "diff-improved") }
                if !d.diff.unmatched.renamed.is_empty() {
                    <details class="diff-unmatched" id="diff-renamed"><summary>{ format!("Probably renamed ({}): unmatched names at the same row of both tables", d.diff.unmatched.renamed.len()) }</summary>
                    <ul>{ for d.diff.unmatched.renamed.iter().take(500).map(|r| html! { <li><code>{ r.a.clone() }</code>{ " → " }<code>{ r.b.clone() }</code></li> }) }</ul></details>
                }
                for (tag, list) in [("A", &d.diff.unmatched.a_only), ("B", &d.diff.unmatched.b_only)] {
                    if !list.is_empty() {
                        <details class="diff-unmatched"><summary>{ format!("Only in {tag} ({}): renamed or missing", list.len()) }</summary>
                        <ul>{ for list.iter().take(500).map(|n| html! { <li><code>{ n.clone() }</code></li> }) }</ul></details>
                    }
                }
            }
        </section>
    }
}

#[component]
pub fn JournalPanel(p: &JournalProps) -> Html {
    let v = p.view.clone();
    // The first run to enter is the float baseline.
    let first_stage = if v.rows.iter().all(|r| r.float.is_none()) {
        Stage::Float
    } else {
        Stage::Calibration
    };
    let form = use_state(|| RunForm {
        accuracy: vec![String::new(); v.metric_labels.len()],
        stage: first_stage,
        ..RunForm::default()
    });
    // Editing a run (its id), or adding one.
    let editing = use_state(|| None::<String>);
    let with = use_state(|| v.loaded.first().cloned());
    let metrics = use_state(|| v.metrics_text.clone());
    let loss = use_state(|| fmt_num(v.allowed_loss_pct));
    // The newest run is the one the user looks at: the table starts scrolled to it.
    let scroller = use_node_ref();
    {
        let scroller = scroller.clone();
        use_effect_with(v.runs.len(), move |_| {
            if let Some(el) = scroller.cast::<web_sys::Element>() {
                el.set_scroll_left(el.scroll_width());
            }
        });
    }
    let show_all = use_state(|| false);
    let pick_a = use_state(|| None::<String>);
    let pick_b = use_state(|| None::<String>);
    {
        // The journal's own values after it changes elsewhere (import, another command).
        let (metrics, loss) = (metrics.clone(), loss.clone());
        use_effect_with(
            (v.metrics_text.clone(), v.allowed_loss_pct),
            move |(t, l)| {
                metrics.set(t.clone());
                loss.set(fmt_num(*l));
            },
        );
    }
    {
        let with = with.clone();
        use_effect_with(v.loaded.clone(), move |loaded| {
            with.set(loaded.first().cloned());
        });
    }
    let set = |f: fn(&mut RunForm, String)| {
        let form = form.clone();
        Callback::from(move |e: Event| {
            let mut x = (*form).clone();
            f(&mut x, input_value(&e));
            form.set(x);
        })
    };
    // Text fields are kept at every keystroke (`oninput`), not when they lose focus: a re-render
    // for anything else (a select changed, a message from the worker) redraws them from the form,
    // and would drop what was typed but not yet committed.
    let typed = |f: fn(&mut RunForm, String)| {
        let form = form.clone();
        Callback::from(move |e: InputEvent| {
            let mut x = (*form).clone();
            f(&mut x, input_value(&e));
            form.set(x);
        })
    };
    let on_name = typed(|f, v| f.name = v);
    let on_stage = set(|f, v| f.stage = Stage::parse(&v).unwrap_or_default());
    let on_precision = set(|f, v| f.precision = Intent::parse(&v).unwrap_or_default());
    let on_ratio = typed(|f, v| f.ratio = v);
    let on_changed = typed(|f, v| f.changed_ops = v);
    let on_note = typed(|f, v| f.note = v);
    let on_with = {
        let with = with.clone();
        Callback::from(move |e: Event| {
            let v = input_value(&e);
            with.set(if v == "\u{0}none" { None } else { Some(v) });
        })
    };
    let submit = {
        let (form, editing, with, cmd) = (
            form.clone(),
            editing.clone(),
            with.clone(),
            p.on_cmd.clone(),
        );
        let n = v.metric_labels.len();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let mut f = (*form).clone();
            f.accuracy.resize(n, String::new());
            let (next_stage, next_precision) = (
                if f.stage == Stage::Float {
                    Stage::Calibration
                } else {
                    f.stage
                },
                f.precision,
            );
            match &*editing {
                Some(id) => cmd.emit(JournalCmd::Update {
                    id: id.clone(),
                    form: f,
                }),
                None => cmd.emit(JournalCmd::Add {
                    form: f,
                    with: (*with).clone(),
                }),
            }
            editing.set(None);
            form.set(RunForm {
                accuracy: vec![String::new(); n],
                stage: next_stage,
                precision: next_precision,
                ..RunForm::default()
            });
        })
    };
    let cancel_edit = {
        let (form, editing) = (form.clone(), editing.clone());
        let n = v.metric_labels.len();
        Callback::from(move |_| {
            editing.set(None);
            form.set(RunForm {
                accuracy: vec![String::new(); n],
                ..RunForm::default()
            });
        })
    };
    let set_metrics = {
        let (metrics, loss, cmd) = (metrics.clone(), loss.clone(), p.on_cmd.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            cmd.emit(JournalCmd::SetMetrics {
                text: (*metrics).clone(),
                allowed_loss: (*loss).clone(),
            });
        })
    };
    let export = {
        let cmd = p.on_cmd.clone();
        Callback::from(move |_| cmd.emit(JournalCmd::Export))
    };
    let compare = {
        let (a, b, cmd) = (pick_a.clone(), pick_b.clone(), p.on_cmd.clone());
        Callback::from(move |_| {
            if let (Some(a), Some(b)) = ((*a).clone(), (*b).clone()) {
                cmd.emit(JournalCmd::Compare {
                    pair: Some((a, b)),
                    by: None,
                });
            }
        })
    };
    let pick = |st: &UseStateHandle<Option<String>>| {
        let st = st.clone();
        Callback::from(move |e: Event| {
            let v = input_value(&e);
            st.set((!v.is_empty()).then_some(v));
        })
    };
    let loss_text = fmt_num(v.allowed_loss_pct);
    let run_head = |r: &crate::engine::views::RunColumn| {
        let (id, fv) = (r.id.clone(), r.form.clone());
        let edit = {
            let (form, editing) = (form.clone(), editing.clone());
            Callback::from(move |_| {
                form.set(fv.clone());
                editing.set(Some(id.clone()));
            })
        };
        let id = r.id.clone();
        let cmd = p.on_cmd.clone();
        let name = r.name.clone();
        let del = Callback::from(move |_| {
            let sure = web_sys::window()
                .and_then(|w| {
                    w.confirm_with_message(&format!("Delete “{name}” from the journal?"))
                        .ok()
                })
                .unwrap_or(false);
            if sure {
                cmd.emit(JournalCmd::Delete { id: id.clone() });
            }
        });
        let kept = if r.layers + r.sensitivity_tables + r.findings > 0 {
            format!(
                "{} layers · {} sensitivity tables · {} findings",
                r.layers, r.sensitivity_tables, r.findings
            )
        } else {
            "accuracy only".to_string()
        };
        html! {
            <th class={classes!("run", r.met.map(|m| if m { "met" } else { "unmet" }))} data-run={r.id.clone()}
                title={format!("{}\n{} file(s) — {kept}", r.form.note, r.files.len())}>
                <div class="run-name">{ r.name.clone() }</div>
                <div class="run-kind muted small">{ r.kind.clone() }</div>
                <div class="run-kept muted small">{ kept }</div>
                <div class="run-actions"><button class="link edit-run" onclick={edit}>{ "edit" }</button>
                <button class="link delete-run" onclick={del}>{ "delete" }</button></div>
            </th>
        }
    };
    let comparable: Vec<_> = v.runs.iter().collect();
    // A long journal shows its newest runs (all on request): the table's DOM stays bounded.
    let first = if *show_all {
        0
    } else {
        v.runs.len().saturating_sub(SHOWN_RUNS)
    };
    let toggle = {
        let show_all = show_all.clone();
        Callback::from(move |_| show_all.set(!*show_all))
    };
    html! {
        <section class="journal" id="journal">
            <h2>{ "Journal of runs" }</h2>
            if let Some(why) = &v.not_kept {
                <p class="journal-not-kept" role="status">{ format!("Not kept: {why}.") }</p>
            } else {
                <p class="muted small">{ "Kept in this browser (IndexedDB): each run's name, kind, accuracy and a compact analysis of its reports (per-layer metrics, sensitivity rankings, findings) — never the files. Export it to share or back it up; a QuantLens report carries it too." }</p>
            }
            if !v.next.is_empty() { { next_panel(&v, &p.on_cmd, p.has_files.then_some(&p.on_layer)) } }
            <form class="journal-metrics" onsubmit={set_metrics}>
                <label>{ "Output branches and metrics " }
                    <input id="journal-metrics" type="text" size="40" placeholder="dynamic mAP, static mAP (↓ after an error metric)"
                        value={(*metrics).clone()} oninput={ { let m = metrics.clone(); Callback::from(move |e: InputEvent| m.set(input_value(&e.into()))) } } /></label>
                <label>{ " allowed loss " }<input id="journal-loss" type="text" size="4" value={(*loss).clone()}
                    oninput={ { let l = loss.clone(); Callback::from(move |e: InputEvent| l.set(input_value(&e.into()))) } } />{ " %" }</label>
                <button type="submit" id="journal-set-metrics">{ "Set" }</button>
            </form>
            if !v.runs.is_empty() {
                <div class="journal-scroll" ref={scroller}>
                <table class="data journal-table" id="journal-table">
                    <thead><tr><th>{ "branch" }</th><th>{ "float" }</th><th>{ format!("target (loss < {loss_text}%)") }</th>
                        { for v.runs.iter().skip(first).map(run_head) }</tr></thead>
                    <tbody>{ for v.rows.iter().map(|row| html! {
                        <tr><th>{ row.label.clone() }{ if row.lower_is_better { " ↓" } else { "" } }</th>
                        <td>{ opt(row.float) }</td><td>{ opt(row.target) }</td>
                        { for row.cells.iter().skip(first).map(|(val, met)| html! {
                            <td class={classes!(met.map(|m| if m { "met" } else { "unmet" }))}>{ opt(*val) }</td>
                        }) }</tr>
                    }) }</tbody>
                </table>
                </div>
                if v.runs.len() > SHOWN_RUNS {
                    <p class="muted small">{ if first > 0 { format!("The newest {SHOWN_RUNS} of {} runs. ", v.runs.len()) } else { String::new() } }
                        <button class="link" id="journal-all-runs" onclick={toggle}>{ if first > 0 { "show all" } else { "show the newest only" } }</button></p>
                }
            }
            <form class="journal-form" id="journal-form" onsubmit={submit}>
                <h3>{ if editing.is_some() { "Edit the run" } else { "Add a run" } }</h3>
                <label>{ "Name " }<input id="run-name" type="text" value={form.name.clone()} oninput={on_name} placeholder={if form.stage == Stage::Float { "float" } else { "all-int16 calibration" }} /></label>
                <label>{ " Stage " }<select id="run-stage" onchange={on_stage}>
                    { for [Stage::Float, Stage::FloatFinetune, Stage::Calibration, Stage::Qat].into_iter().map(|s| html! {
                        <option value={stage_value(s)} selected={form.stage == s}>{ s.label() }</option> }) }
                </select></label>
                <label>{ " Precision " }<select id="run-precision" onchange={on_precision}>
                    { for [Intent::Unstated, Intent::AllInt16, Intent::AllInt8, Intent::Mixed].into_iter().map(|x| html! {
                        <option value={precision_value(x)} selected={form.precision == x}>{ match x {
                            Intent::Unstated => "(float / not stated)", Intent::AllInt16 => "all-int16",
                            Intent::AllInt8 => "all-int8", Intent::Mixed => "int8 + int16 mixed" } }</option> }) }
                </select></label>
                if form.precision == Intent::Mixed {
                    <label>{ " int16 ratio " }<input id="run-ratio" type="text" size="5" value={form.ratio.clone()} oninput={on_ratio} />{ " %" }</label>
                }
                <div class="accuracy">
                    { for v.metric_labels.iter().enumerate().map(|(i, l)| {
                        let current = form.accuracy.get(i).cloned().unwrap_or_default();
                        let form = form.clone();
                        let oninput = Callback::from(move |e: InputEvent| {
                            let mut x = (*form).clone();
                            if x.accuracy.len() <= i { x.accuracy.resize(i + 1, String::new()); }
                            x.accuracy[i] = input_value(&e);
                            form.set(x);
                        });
                        html! { <label>{ format!("{l} ") }<input class="run-accuracy" data-metric={l.clone()} type="text" size="7"
                            value={current} {oninput} /></label> }
                    }) }
                    if v.metric_labels.is_empty() { <span class="muted small">{ "Set the output branches above to enter accuracy." }</span> }
                </div>
                <label class="wide">{ "Ops changed in this run " }<input id="run-changed" type="text" size="60" value={form.changed_ops.clone()} oninput={on_changed}
                    placeholder="model.view_transformation.transformer.layers.0.quant, …" /></label>
                <label class="wide">{ "Note " }<input id="run-note" type="text" size="60" value={form.note.clone()} oninput={on_note} /></label>
                if editing.is_none() {
                    <label>{ "Keep the analysis of " }<select id="run-with" onchange={on_with}>
                        { for v.loaded.iter().map(|k| html! { <option value={k.clone()} selected={with.as_deref() == Some(k.as_str())}>
                            { if k.is_empty() { "all loaded files".to_string() } else { format!("folder {k}") } }</option> }) }
                        <option value={"\u{0}none"} selected={with.is_none()}>{ "no reports (accuracy only)" }</option>
                    </select></label>
                    if !p.has_files { <span class="muted small">{ " (drop a run's reports first to keep its analysis)" }</span> }
                }
                <button type="submit" class="primary" id="run-save">{ if editing.is_some() { "Save changes" } else { "Add to journal" } }</button>
                if editing.is_some() { <button type="button" onclick={cancel_edit}>{ "Cancel" }</button> }
            </form>
            <p class="journal-io">
                <button id="journal-export" onclick={export} disabled={v.runs.is_empty()}>{ "Export journal (JSON)" }</button>
                <button id="journal-link" onclick={ { let cmd = p.on_cmd.clone(); Callback::from(move |_| cmd.emit(JournalCmd::Link)) } } disabled={v.runs.is_empty()}
                    title="A link that carries the runs, their kinds and accuracy (not their analyses: those travel in the exported file and the HTML report)">{ "Link to this journal" }</button>
                <label class="button">{ "Import journal…" }<input id="journal-import" type="file" accept=".json,application/json" class="hidden" onchange={p.on_import.clone()} /></label>
            </p>
            if let Some(url) = &p.link {
                <p class="journal-link-out"><input id="journal-link-url" type="text" readonly=true size="80" value={url.clone()} />
                    <span class="muted small">{ format!(" {} characters: the runs, kinds and accuracy; opening it adds them to the reader's journal", url.len()) }</span></p>
            }
            if comparable.len() >= 2 {
                <p class="journal-compare">
                    { "Compare " }
                    <select id="compare-a" onchange={pick(&pick_a)}>
                        <option value="" selected={pick_a.is_none()}>{ "run A…" }</option>
                        { for comparable.iter().map(|r| html! { <option value={r.id.clone()} selected={pick_a.as_deref() == Some(r.id.as_str())}>{ r.name.clone() }</option> }) }
                    </select>
                    { " with " }
                    <select id="compare-b" onchange={pick(&pick_b)}>
                        <option value="" selected={pick_b.is_none()}>{ "run B…" }</option>
                        { for comparable.iter().map(|r| html! { <option value={r.id.clone()} selected={pick_b.as_deref() == Some(r.id.as_str())}>{ r.name.clone() }</option> }) }
                    </select>
                    <button id="compare-runs" onclick={compare} disabled={pick_a.is_none() || pick_b.is_none()}>{ "Compare" }</button>
                </p>
            }
            if let Some(d) = &v.compare { { diff_panel(d, &p.on_cmd) } }
        </section>
    }
}
