//! A parsed table shown in full: search, pages, rows cited by the selected finding highlighted, and
//! on every cited row the chips of the findings that cite it (click a chip to select that finding).

use super::rich::{breakable, CopyName};
use super::Shared;
use crate::engine::views::{Analysis, RowKey};
use std::collections::HashMap;
use web_sys::HtmlInputElement;
use yew::prelude::*;

const PAGE_ROWS: usize = 100;

#[derive(Properties, PartialEq, Clone)]
pub struct DataTableProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub file: usize,
    /// Index into the file's tables.
    pub table_index: usize,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
}

#[component]
pub fn DataTable(p: &DataTableProps) -> Html {
    let query = use_state(String::new);
    let page = use_state(|| 0usize);
    let only_cited = use_state(|| true);
    {
        let page = page.clone();
        use_effect_with((p.selected, (*query).clone()), move |_| page.set(0));
    }
    let Some(t) = p
        .analysis
        .files
        .get(p.file)
        .and_then(|f| f.tables().get(p.table_index).copied())
    else {
        return html! {};
    };
    let cited_by =
        |row: usize| -> Option<&Vec<usize>> { p.evidence.get(&(p.file, t.id.clone(), row)) };
    let selected_rows: Vec<usize> = match p.selected {
        Some(fi) => (0..t.rows.len())
            .filter(|&r| cited_by(r).is_some_and(|v| v.contains(&fi)))
            .collect(),
        None => Vec::new(),
    };
    let filtering_to_selection = *only_cited && !selected_rows.is_empty();
    let q = query.to_lowercase();
    let visible: Vec<usize> = (0..t.rows.len())
        .filter(|r| !filtering_to_selection || selected_rows.binary_search(r).is_ok())
        .filter(|&r| {
            q.is_empty()
                || t.rows[r]
                    .cells
                    .iter()
                    .any(|c| c.to_lowercase().contains(&q))
        })
        .collect();
    let pages = visible.len().div_ceil(PAGE_ROWS).max(1);
    let cur = (*page).min(pages - 1);
    let start = cur * PAGE_ROWS;
    let shown = &visible[start..(start + PAGE_ROWS).min(visible.len())];

    let on_input = {
        let query = query.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(el) = e.target_dyn_into::<HtmlInputElement>() {
                query.set(el.value());
            }
        })
    };
    let toggle = {
        let only_cited = only_cited.clone();
        Callback::from(move |_| only_cited.set(!*only_cited))
    };
    let go = |delta: isize| {
        let page = page.clone();
        Callback::from(move |_| {
            let next = (cur as isize + delta).clamp(0, pages as isize - 1) as usize;
            page.set(next);
        })
    };
    // Columns that hold layer, module or op names: each such cell gets "copy".
    let name_columns: Vec<bool> = t
        .headers
        .iter()
        .map(|h| {
            let h = h.to_lowercase();
            h.contains("name") || h.contains("module") || h == "layer" || h == "op"
        })
        .collect();
    let row_html = |r: usize| {
        let row = &t.rows[r];
        let chips = cited_by(r).cloned().unwrap_or_default();
        let is_sel = selected_rows.binary_search(&r).is_ok();
        let chip_html = chips.iter().map(|&fi| {
            let f = &p.analysis.findings[fi].finding;
            let on_select = p.on_select.clone();
            let active = p.selected == Some(fi);
            html! {
                <button class={classes!("chip", f.severity.as_str(), active.then_some("active"))}
                    title={f.message.clone()}
                    onclick={Callback::from(move |_| on_select.emit(if active { None } else { Some(fi) }))}>
                    { f.kind.clone() }
                </button>
            }
        });
        html! {
            <tr key={r} class={classes!(is_sel.then_some("hl"), (!chips.is_empty()).then_some("cited"))} data-line={row.line.to_string()}>
                <td class="ln" title={format!("line {} of the file", row.line)}>{ row.line }</td>
                { for row.cells.iter().enumerate().map(|(j, c)| {
                    let num = !c.is_empty() && c.parse::<f64>().is_ok();
                    let copy = !num && c.len() > 2 && name_columns.get(j).copied().unwrap_or(false);
                    html! { <td class={classes!(num.then_some("num"))}>{ breakable(c) }
                        if copy { <CopyName name={c.clone()} compact=true /> }</td> }
                }) }
                <td class="chips">{ for chip_html }</td>
            </tr>
        }
    };
    html! {
        <div class="data-table">
            <div class="table-tools">
                <input type="search" class="search" placeholder={format!("Search {} rows…", t.rows.len())}
                    value={(*query).clone()} oninput={on_input} aria-label="Search rows" />
                if !selected_rows.is_empty() {
                    <label class="toggle">
                        <input type="checkbox" checked={*only_cited} onchange={toggle} />
                        { format!(" only the {} row(s) of the selected finding", selected_rows.len()) }
                    </label>
                }
                { {
                    let (a, ev, file, ti, rows) = (p.analysis.clone(), p.evidence.clone(), p.file, p.table_index, visible.clone());
                    super::export::table_export("table", &p.analysis.files[p.file].name, Some(&t.id), visible.len() != t.rows.len(), move || {
                        let t = a.files.get(file).and_then(|f| f.tables().get(ti).copied())?;
                        let kinds = |r: usize| -> Vec<String> {
                            ev.get(&(file, t.id.clone(), r)).map(|ids| ids.iter()
                                .filter_map(|&fi| a.findings.get(fi).map(|f| f.finding.kind.clone())).collect()).unwrap_or_default()
                        };
                        Some(crate::engine::views::doc_rows_export(t, &rows, &kinds))
                    })
                } }
                <span class="count">
                    { if visible.is_empty() { "no rows match".to_string() }
                      else { format!("rows {}–{} of {}", start + 1, start + shown.len(), visible.len()) } }
                    { if visible.len() != t.rows.len() { format!(" (of {})", t.rows.len()) } else { String::new() } }
                </span>
                if pages > 1 {
                    <span class="pager">
                        <button onclick={go(-1)} disabled={cur == 0}>{ "‹ Prev" }</button>
                        { format!(" page {} / {} ", cur + 1, pages) }
                        <button onclick={go(1)} disabled={cur + 1 >= pages}>{ "Next ›" }</button>
                    </span>
                }
            </div>
            if t.elided_runs > 0 {
                <p class="muted small">{ format!("This table is an excerpt: {} '...' line(s) mark rows left out of the file.", t.elided_runs) }</p>
            }
            <div class="scroll-x">
                <table>
                    <thead><tr>
                        <th class="ln">{ "line" }</th>
                        { for t.headers.iter().map(|h| html! { <th>{ if h.is_empty() { "#".to_string() } else { h.clone() } }</th> }) }
                        <th>{ "findings" }</th>
                    </tr></thead>
                    <tbody>{ for shown.iter().map(|&r| row_html(r)) }</tbody>
                </table>
            </div>
        </div>
    }
}
