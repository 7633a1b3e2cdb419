//! Layer comparison view: every row of a compare table in a virtualized grid (sort, filter, choose
//! columns), metric charts along layer order with the collapse point, and a detail panel per row
//! with the diagnosis in words and the range picture.

use super::rich::{breakable, rich_text};
use super::Shared;
use crate::engine::share::GridState;
use crate::engine::views::{self, RowFilter, COMPARE_COLUMNS};
use crate::engine::views::{Analysis, RowKey};
use crate::engine::Severity;
use std::collections::HashMap;
use std::rc::Rc;
use web_sys::{HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

const ROW_PX: f64 = 26.0;
const VIEW_PX: f64 = 520.0;

#[derive(Properties, PartialEq)]
pub struct LayersProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub file: usize,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
    pub row: Option<usize>,
    pub on_row: Callback<Option<usize>>,
    /// Filters, sort and columns to open with (from a link); changes are reported to `on_grid`.
    pub grid: GridState,
    pub on_grid: Callback<GridState>,
}

/// The rows a virtualized table draws, `first..last` of `n`, for a scroll offset (in px) of a box
/// `view_px` high with rows `row_px` high: the rows in view, 6 above and about 8 below.
pub(super) fn row_window(
    scroll_top_px: f64,
    row_px: f64,
    view_px: f64,
    n: usize,
) -> (usize, usize) {
    let first = ((scroll_top_px / row_px) as usize).saturating_sub(6).min(n);
    (first, (first + (view_px / row_px) as usize + 14).min(n))
}

/// Scroll the box `el` so that row `pos` is in view (a third from the top) if it is not; the new
/// offset, if it moved.
pub(super) fn keep_in_view(el: &HtmlElement, pos: usize, row_px: f64, view_px: f64) -> Option<f64> {
    let y = pos as f64 * row_px;
    let top = el.scroll_top() as f64;
    if y >= top && y <= top + view_px - 2.0 * row_px {
        return None;
    }
    let target = (y - view_px / 3.0).max(0.0);
    el.set_scroll_top(target as i32);
    Some(target)
}

fn worst(p: &LayersProps, row: usize) -> Option<Severity> {
    let ids = p.evidence.get(&(p.file, "compare".to_string(), row))?;
    ids.iter()
        .filter_map(|&fi| p.analysis.findings.get(fi).map(|f| f.finding.severity))
        .min()
}

#[component]
pub fn LayersView(p: &LayersProps) -> Html {
    let text = use_state(|| p.grid.text.clone());
    let dtype = use_state(|| p.grid.dtype.clone());
    let cause = use_state(|| p.grid.cause.clone());
    let kind = use_state(|| p.grid.kind.clone());
    let sort = use_state(|| {
        p.grid
            .sort
            .clone()
            .unwrap_or_else(|| ("index".to_string(), false))
    });
    let default_columns = || {
        p.analysis.files[p.file]
            .compare()
            .map(views::default_columns)
            .unwrap_or_default()
    };
    let columns = use_state(|| p.grid.columns.clone().unwrap_or_else(default_columns));
    let only_finding = use_state(|| !p.grid.all_rows);
    // Report the grid's state (for the link), only what differs from how a grid opens.
    {
        let now = GridState {
            text: (*text).clone(),
            dtype: (*dtype).clone(),
            cause: (*cause).clone(),
            kind: (*kind).clone(),
            sort: (sort.0 != "index" || sort.1).then(|| (*sort).clone()),
            columns: (*columns != default_columns()).then(|| (*columns).clone()),
            all_rows: !*only_finding,
        };
        let on_grid = p.on_grid.clone();
        let was = p.grid.clone();
        use_effect_with(now, move |now| {
            if *now != was {
                on_grid.emit(now.clone());
            }
        });
    }
    let scroll_top = use_state(|| 0.0f64);
    let grid = use_node_ref();
    // Per table, not per render: every scroll re-renders this view, and at 100,000 rows the
    // facets, the charts' points and the filtered order each took milliseconds to tens of them.
    let per_table = use_memo((p.analysis.clone(), p.file), |(a, file)| {
        a.files.get(*file).and_then(|f| f.compare()).map(|t| {
            let charts: Vec<(views::Series, AttrValue)> = views::metric_series(t)
                .into_iter()
                .map(|s| {
                    let pts = s
                        .points
                        .iter()
                        .map(|(_, x, y)| format!("{:.1},{:.1}", x * 1000.0, (1.0 - y) * 56.0 + 2.0))
                        .collect::<Vec<_>>()
                        .join(" ");
                    (s, AttrValue::from(pts))
                })
                .collect();
            (views::facets(t), charts)
        })
    });
    type OrderKey = (Shared<Analysis>, usize, RowFilter, (String, bool));
    let order_cache = use_mut_ref(|| None::<(OrderKey, Rc<Vec<usize>>)>);

    let Some(t) = p.analysis.files.get(p.file).and_then(|f| f.compare()) else {
        return html! { <p>{ "This file has no comparison table." }</p> };
    };
    // Rows cited by the selected finding (in this file).
    let finding_rows: Option<Vec<usize>> = p.selected.and_then(|fi| {
        let f = p.analysis.findings.get(fi)?;
        let mut rows: Vec<usize> = f
            .finding
            .evidence
            .iter()
            .filter(|e| e.table == "compare" && e.file.unwrap_or(f.file) == p.file)
            .map(|e| e.row)
            .collect();
        rows.sort_unstable();
        rows.dedup();
        (!rows.is_empty()).then_some(rows)
    });
    // Rows cited by any finding of the chosen kind (from the engine's row→finding index).
    let kinds: Vec<String> = {
        let mut k: Vec<String> = p
            .analysis
            .findings
            .iter()
            .filter(|f| {
                f.finding
                    .evidence
                    .iter()
                    .any(|e| e.table == "compare" && e.file.unwrap_or(f.file) == p.file)
            })
            .map(|f| f.finding.kind.clone())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let kind_rows: Option<Vec<usize>> = (!kind.is_empty()).then(|| {
        (0..t.rows.len())
            .filter(|&i| {
                p.evidence
                    .get(&(p.file, "compare".to_string(), i))
                    .is_some_and(|ids| {
                        ids.iter().any(|&fi| {
                            p.analysis
                                .findings
                                .get(fi)
                                .is_some_and(|f| f.finding.kind == *kind)
                        })
                    })
            })
            .collect()
    });
    let own = if *only_finding {
        finding_rows.clone()
    } else {
        None
    };
    let rows_filter = match (own, kind_rows) {
        (Some(a), Some(b)) => Some(
            a.into_iter()
                .filter(|i| b.binary_search(i).is_ok())
                .collect(),
        ),
        (a, b) => a.or(b),
    };
    let filter = RowFilter {
        text: (*text).clone(),
        dtype: (*dtype).clone(),
        cause: (*cause).clone(),
        rows: rows_filter,
    };
    let key: OrderKey = (p.analysis.clone(), p.file, filter, (*sort).clone());
    let order: Rc<Vec<usize>> = {
        let mut cache = order_cache.borrow_mut();
        match &*cache {
            Some((k, o)) if *k == key => o.clone(),
            _ => {
                let o = Rc::new(views::filter_sort(t, &key.2, &sort.0, sort.1));
                *cache = Some((key, o.clone()));
                o
            }
        }
    };
    let Some(((dtypes, causes), series)) = per_table.as_ref() else {
        return html! { <p>{ "This file has no comparison table." }</p> };
    };

    // Keep the selected row in view when it changes from outside (a finding, a chart click).
    {
        let grid = grid.clone();
        let pos = p.row.and_then(|r| order.iter().position(|&i| i == r));
        let scroll_top = scroll_top.clone();
        use_effect_with(p.row, move |_| {
            if let (Some(pos), Some(el)) = (pos, grid.cast::<HtmlElement>()) {
                if let Some(target) = keep_in_view(&el, pos, ROW_PX, VIEW_PX) {
                    scroll_top.set(target);
                }
            }
        });
    }

    let (first, last) = row_window(*scroll_top, ROW_PX, VIEW_PX, order.len());
    // Known columns, then the table's own extra columns (kept as written), keyed `x:<index>`.
    let all_columns: Vec<(String, String)> = COMPARE_COLUMNS
        .iter()
        .map(|(k, l)| (k.to_string(), l.to_string()))
        .chain(
            t.extra_columns
                .iter()
                .enumerate()
                .map(|(j, name)| (format!("x:{j}"), name.clone())),
        )
        .collect();
    let cols: Vec<(&str, &str)> = all_columns
        .iter()
        .filter(|(k, _)| columns.contains(k))
        .map(|(k, l)| (k.as_str(), l.as_str()))
        .collect();

    let on_scroll = {
        let scroll_top = scroll_top.clone();
        Callback::from(move |e: Event| {
            if let Some(el) = e.target_dyn_into::<HtmlElement>() {
                scroll_top.set(el.scroll_top() as f64);
            }
        })
    };
    let header = cols.iter().map(|(k, label)| {
        let key = k.to_string();
        let sort = sort.clone();
        let active = sort.0 == key;
        let arrow = if active { if sort.1 { " ▼" } else { " ▲" } } else { "" };
        html! {
            <th class="sortable" title="click to sort"
                onclick={Callback::from(move |_| {
                    // First click: worst first (low Cosine/SQNR, high errors); names A→Z.
                    let desc = if sort.0 == key { !sort.1 } else {
                        !matches!(key.as_str(), "index" | "mod_name" | "op" | "cosine" | "sqnr" | "quant_dtype" | "cause" | "shape" | "base_op_type" | "analy_op_type")
                    };
                    sort.set((key.clone(), desc));
                })}>
                { format!("{label}{arrow}") }
            </th>
        }
    });
    // Arrow keys move the selected row through the rows in view order (the grid keeps it in view).
    let on_key = {
        let order = order.clone();
        let on_row = p.on_row.clone();
        let current = p.row;
        Callback::from(move |e: KeyboardEvent| {
            let pos = current.and_then(|r| order.iter().position(|&i| i == r));
            let next = match (e.key().as_str(), pos) {
                ("ArrowDown", Some(k)) => Some((k + 1).min(order.len().saturating_sub(1))),
                ("ArrowUp", Some(k)) => Some(k.saturating_sub(1)),
                ("PageDown", Some(k)) => Some((k + 20).min(order.len().saturating_sub(1))),
                ("PageUp", Some(k)) => Some(k.saturating_sub(20)),
                ("Home", _) => Some(0),
                ("End", _) => Some(order.len().saturating_sub(1)),
                ("ArrowDown" | "ArrowUp", None) => Some(0),
                ("Escape", _) => {
                    on_row.emit(None);
                    None
                }
                _ => return,
            };
            e.prevent_default();
            if let Some(&i) = next.and_then(|k| order.get(k)) {
                on_row.emit(Some(i));
            }
        })
    };
    let body_rows = order[first..last].iter().map(|&i| {
        let r = &t.rows[i];
        let d = &t.diag[i];
        let sev = worst(p, i);
        let on_row = p.on_row.clone();
        let sel = p.row == Some(i);
        html! {
            <tr key={i} class={classes!("grid-row", sev.map(|s| s.as_str()), sel.then_some("sel"))} aria-selected={if sel { "true" } else { "false" }}
                onclick={Callback::from(move |_| on_row.emit(Some(i)))} data-row={i.to_string()}>
                { for cols.iter().map(|(k, _)| {
                    let v = views::cell(r, d, k, i);
                    let numeric = !matches!(*k, "mod_name" | "op" | "quant_dtype" | "cause" | "shape" | "base_op_type" | "analy_op_type");
                    let content = if *k == "mod_name" {
                        // The name's copy button shows on the hovered and the selected row.
                        html! { <>{ super::rich::middle_cut(&v) }<super::rich::CopyName name={v.clone()} compact=true /></> }
                    } else { html! { { v.clone() } } };
                    html! { <td class={classes!(numeric.then_some("num"), (*k == "mod_name").then_some("namecell"), (*k == "cause").then(|| format!("cause-{}", d.cause.label().replace(' ', "-"))))} title={v.clone()}>{ content }</td> }
                }) }
            </tr>
        }
    });
    let select = |state: &UseStateHandle<String>, options: &[String], all: &str, label: &str| {
        let state = state.clone();
        let current = (*state).clone();
        html! {
            <select aria-label={label.to_string()} onchange={Callback::from(move |e: Event| {
                if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() { state.set(s.value()); }
            })}>
                <option value="" selected={current.is_empty()}>{ all.to_string() }</option>
                { for options.iter().map(|o| html! { <option value={o.clone()} selected={*o == current}>{ o.clone() }</option> }) }
            </select>
        }
    };
    let column_chooser = all_columns.iter().map(|(k, label)| {
        let columns = columns.clone();
        let key = k.clone();
        let on = columns.contains(&key);
        html! {
            <label class="colopt">
                <input type="checkbox" checked={on} onchange={Callback::from(move |_| {
                    let mut c = (*columns).clone();
                    if let Some(pos) = c.iter().position(|x| *x == key) { c.remove(pos); } else { c.push(key.clone()); }
                    columns.set(c);
                })} />
                { format!(" {label}") }
            </label>
        }
    });
    let on_text = {
        let text = text.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                text.set(i.value());
            }
        })
    };

    // Charts along layer order.
    let collapse_x = t.collapse_row.map(|i| views::row_x(t, i) * 1000.0);
    let sel_x = p.row.map(|i| views::row_x(t, i) * 1000.0);
    let charts = series.iter().map(|(s, pts)| {
        let on_row = p.on_row.clone();
        let n = t.rows.len();
        let stem = views::export_stem(&p.analysis.files[p.file].name, Some(&s.name), false);
        html! {
            <div class="chart" data-figure={stem}
                data-caption={format!("{} along layer order ({} rows), {}", s.name, n, p.analysis.files[p.file].name)}>
                <span class="chart-name">{ s.name.clone() }</span>
                <svg viewBox="0 0 1000 60" preserveAspectRatio="none" class="series"
                    onclick={Callback::from(move |e: MouseEvent| {
                        if let Some(el) = e.target_dyn_into::<web_sys::Element>() {
                            let svg = el.closest("svg").ok().flatten().unwrap_or(el);
                            let w = svg.get_bounding_client_rect().width().max(1.0);
                            let frac = e.offset_x() as f64 / w;
                            on_row.emit(Some(views::row_at_fraction(n, frac)));
                        }
                    })}>
                    <polyline points={pts.clone()} class="line" vector-effect="non-scaling-stroke" />
                    if let Some(x) = collapse_x {
                        <line x1={format!("{x:.1}")} x2={format!("{x:.1}")} y1="0" y2="60" class="collapse" vector-effect="non-scaling-stroke" />
                    }
                    if let Some(x) = sel_x {
                        <line x1={format!("{x:.1}")} x2={format!("{x:.1}")} y1="0" y2="60" class="selx" vector-effect="non-scaling-stroke" />
                    }
                </svg>
                <span class="axis-lo">{ s.y_min_label.clone() }</span>
                <span class="axis-hi">{ s.y_max_label.clone() }</span>
                { super::export::figure_buttons() }
            </div>
        }
    });
    // The collapse row is the whole table's: while a big table's rows are still arriving it may
    // not be here yet.
    let collapse_note = t.collapse_row.and_then(|i| {
        let on_row = p.on_row.clone();
        let (r, d) = (t.rows.get(i)?, t.diag.get(i)?);
        Some(html! {
            <p class="collapse-note">
                { "Collapse point (largest fall of Cosine): " }
                <button class="link" onclick={Callback::from(move |_| on_row.emit(Some(i)))}>
                    { format!("row {} ", r.index.unwrap_or(i as u64)) }<code>{ breakable(&r.mod_name) }</code>{ format!(" ({} → {})", r.op_short(), d.cause.label()) }
                </button>
            </p>
        })
    });

    let toggle = {
        let only_finding = only_finding.clone();
        Callback::from(move |_| only_finding.set(!*only_finding))
    };
    html! {
        <div class="layers-view">
            <h2>{ breakable(&p.analysis.files[p.file].name) }</h2>
            { for views::compare_twins(&p.analysis.files).into_iter().filter(|&(txt, _)| txt == p.file).map(|(_, csv)| html! {
                <p class="muted small twin-note">{ format!("Also read: {}, the same table (its exact qscales are used here; the .txt rounds them to 7 decimals).", p.analysis.files[csv].name) }</p>
            }) }
            <div class="charts">{ for charts }</div>
            { collapse_note.unwrap_or_default() }
            <div class="table-tools">
                <input type="search" class="search" placeholder={format!("Filter {} rows by name or type…", t.rows.len())} value={(*text).clone()} oninput={on_text} aria-label="Filter rows" />
                { select(&dtype, dtypes, "all dtypes", "dtype filter") }
                { select(&cause, causes, "all causes", "cause filter") }
                { select(&kind, &kinds, "all finding kinds", "finding filter") }
                if let Some(rows) = &finding_rows {
                    <label class="toggle"><input type="checkbox" checked={*only_finding} onchange={toggle} />
                        { format!(" only the {} row(s) of the selected finding", rows.len()) }</label>
                }
                <details class="columns"><summary>{ "Columns" }</summary><div class="colgrid">{ for column_chooser }</div></details>
                <span class="count">{ format!("{} of {} rows", order.len(), t.rows.len()) }</span>
                { {
                    let (a, file, order) = (p.analysis.clone(), p.file, order.clone());
                    let keys: Vec<String> = cols.iter().map(|(k, _)| k.to_string()).collect();
                    super::export::table_export("rows", &p.analysis.files[p.file].name, None, order.len() != t.rows.len(), move || {
                        let t = a.files.get(file).and_then(|f| f.compare())?;
                        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                        Some(views::rows_export(t, &order, &keys))
                    })
                } }
            </div>
            <div class="split">
                <div class="vt" ref={grid} onscroll={on_scroll} onkeydown={on_key} tabindex="0" role="grid"
                    aria-label="layer comparison rows (arrow keys move the selection)" style={format!("height:{VIEW_PX}px")}>
                    <table class="grid">
                        <thead><tr>{ for header }</tr></thead>
                        <tbody>
                            <tr class="spacer" style={format!("height:{}px", first as f64 * ROW_PX)}></tr>
                            { for body_rows }
                            <tr class="spacer" style={format!("height:{}px", (order.len() - last) as f64 * ROW_PX)}></tr>
                        </tbody>
                    </table>
                </div>
                <RowDetail analysis={p.analysis.clone()} evidence={p.evidence.clone()} file={p.file} row={p.row} selected={p.selected} on_select={p.on_select.clone()} />
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
pub struct RowDetailProps {
    pub analysis: Shared<Analysis>,
    pub evidence: Shared<HashMap<RowKey, Vec<usize>>>,
    pub file: usize,
    pub row: Option<usize>,
    pub selected: Option<usize>,
    pub on_select: Callback<Option<usize>>,
}

/// What-if for a report row, estimated from its statistics: current scale, int8 and int16 min-max,
/// and a scale/dtype the user types (updates as they type).
fn whatif_panel(
    r: &crate::engine::views::CompareRow,
    dtype: &UseStateHandle<String>,
    scale: &UseStateHandle<String>,
) -> Html {
    use crate::engine::views::QDType;
    if r.base_min.is_none() || r.base_max.is_none() {
        return html! {};
    }
    // The view model estimates from the row's statistics; `unwrap_or` only covers a row without them.
    let estimate_from_stats = |dt: QDType, s: Option<f64>| {
        views::row_estimate(r, dt, s).unwrap_or_else(|| Err("no statistics in the row".into()))
    };
    let cur_dt = r
        .quant_dtype
        .as_ref()
        .and_then(|d| QDType::parse(&d.to_string()));
    let mut rows: Vec<(String, Result<crate::engine::views::StatsEstimate, String>)> = Vec::new();
    if let (Some(dt), Some(s)) = (cur_dt, r.qscale) {
        rows.push((
            format!("now: {} · scale {}", dt.name(), views::fmt_num(s)),
            estimate_from_stats(dt, Some(s)),
        ));
    }
    for dt in [QDType::Int8, QDType::Int16] {
        rows.push((
            format!("{} · min-max scale", dt.name()),
            estimate_from_stats(dt, None),
        ));
    }
    // The scale box takes `0.05` (the dtype from the select) or `0.05 int8` (its own dtype), as the
    // Tensors view's boxes do.
    if !scale.trim().is_empty() {
        let parsed = super::tensors::parse_scale_text(scale);
        let typed_dt = parsed
            .as_ref()
            .ok()
            .and_then(|(d, _)| *d)
            .or_else(|| QDType::parse(dtype))
            .unwrap_or(QDType::Int16);
        rows.push((
            format!(
                "{} · scale {}",
                typed_dt.name(),
                parsed
                    .as_ref()
                    .map_or_else(|_| scale.trim().to_string(), |(_, s)| views::fmt_num(*s))
            ),
            parsed.and_then(|(_, s)| estimate_from_stats(typed_dt, Some(s))),
        ));
    }
    let on_dt = {
        let dtype = dtype.clone();
        Callback::from(move |e: Event| {
            if let Some(s) = e.target_dyn_into::<HtmlSelectElement>() {
                dtype.set(s.value());
            }
        })
    };
    let on_scale = {
        let scale = scale.clone();
        Callback::from(move |e: InputEvent| {
            if let Some(i) = e.target_dyn_into::<HtmlInputElement>() {
                scale.set(i.value());
            }
        })
    };
    html! {
        <div class="whatif">
            <h4>{ "What-if (estimated from min/max/mean/var)" }</h4>
            <table class="kv">
                { for rows.iter().map(|(label, est)| match est {
                    Ok(e) => html! { <tr><th>{ label.clone() }</th><td class="num" title={if e.clips { "The row cannot tell how many values lie beyond the range: from only the extremes clipped (best) to as many as the mean and variance allow (worst)" } else { "" }}>{ e.text() }</td>
                        <td class="small">{ if e.clips { format!("clips {}", views::fmt_num(e.overshoot)) } else { "covers the range".into() } }</td></tr> },
                    Err(err) => html! { <tr><th>{ label.clone() }</th><td colspan="2" class="error-text small">{ err.clone() }</td></tr> },
                }) }
            </table>
            <p class="small">
                <select aria-label="what-if dtype" onchange={on_dt}>
                    { for ["int16", "int8", "int4", "uint8"].iter().map(|d| html! { <option value={*d} selected={dtype.as_str() == *d}>{ *d }</option> }) }
                </select>
                { " with scale " }
                <input class="scale" type="text" placeholder="e.g. 0.0030518 int16" value={(**scale).clone()} oninput={on_scale} aria-label="what-if scale" />
            </p>
            <p class="muted small">{ "Rounding noise step²/12 against mean² + var. A scale that clips gets an interval: the row tells how far the range passes the bound, not how many values do. The row's measured SQNR also holds error from upstream layers; these estimate this layer's own quantization only. With the tensor dumped, the Tensors view measures the real split." }</p>
        </div>
    }
}

/// The detail panel of one row: diagnosis in words, range picture, metrics, findings, sensitivity.
#[component]
pub fn RowDetail(p: &RowDetailProps) -> Html {
    let wi_dtype = use_state(|| "int16".to_string());
    let wi_scale = use_state(String::new);
    let Some(t) = p.analysis.files.get(p.file).and_then(|f| f.compare()) else {
        return html! {};
    };
    let Some(i) = p.row.filter(|&i| i < t.rows.len()) else {
        return html! { <aside class="detail muted">{ "Click a row (or a point on a chart) to see its diagnosis and range picture." }</aside> };
    };
    let r = &t.rows[i];
    let d = &t.diag[i];
    let picture = views::range_picture(r, d).map(|pic| {
        let part = format!("range_picture.row_{}", r.index.unwrap_or(i as u64));
        super::export::figure(
            views::export_stem(&p.analysis.files[p.file].name, Some(&part), false),
            range_svg(&pic),
        )
    });
    let metrics = [
        ("Cosine", r.cosine),
        ("SQNR (dB)", r.sqnr),
        ("MSE", r.mse),
        ("L1", r.l1),
        ("KL", r.kl),
        ("Atol", r.atol),
        ("Rtol", r.rtol),
        ("max_qscale_diff", r.max_qscale_diff),
        ("base mean", r.base_mean),
        ("analy mean", r.analy_mean),
        ("base var", r.base_var),
        ("analy var", r.analy_var),
    ];
    let chips = p
        .evidence
        .get(&(p.file, "compare".to_string(), i))
        .cloned()
        .unwrap_or_default();
    let sens = p.analysis.sensitivity_of(&r.mod_name);
    html! {
        <aside class="detail">
            <h3 class="rowname">{ breakable(if r.mod_name.is_empty() { r.op_short() } else { &r.mod_name }) }
                <super::rich::CopyName name={if r.mod_name.is_empty() { r.op_short().to_string() } else { r.mod_name.clone() }} /></h3>
            <p class="muted small">{ format!("row {} · line {} · {} → {}", r.index.unwrap_or(i as u64), r.line, r.base_op_type, r.analy_op_type) }</p>
            <p>
                <span class={classes!("cause-badge", format!("cause-{}", d.cause.label().replace(' ', "-")))}>{ d.cause.label() }</span>
                { format!(" {} · qscale {} · shape {}", r.quant_dtype.as_ref().map(|x| x.to_string()).unwrap_or_default(),
                    r.qscale.map(views::fmt_num).unwrap_or_else(|| "—".into()), if r.shape_text.is_empty() { "—" } else { &r.shape_text }) }
            </p>
            <p class="explain">{ rich_text(&crate::engine::views::row_explanation(r, d)) }</p>
            { picture.unwrap_or_default() }
            { whatif_panel(r, &wi_dtype, &wi_scale) }
            <table class="kv">{ for metrics.iter().filter(|(_, v)| v.is_some()).map(|(k, v)| html! {
                <tr><th>{ *k }</th><td class="num">{ v.map(views::fmt_num).unwrap_or_default() }</td></tr>
            }) }</table>
            if !sens.is_empty() {
                <p class="small">{ for sens.iter().map(|(_, label, rank, v)| html! {
                    <span class="sens-rank">{ format!("#{rank} in {label} ({})", v.map(views::fmt_num).unwrap_or_default()) }</span>
                }) }</p>
            }
            if !chips.is_empty() {
                <div class="chips">{ for chips.iter().map(|&fi| {
                    let f = &p.analysis.findings[fi].finding;
                    let on_select = p.on_select.clone();
                    let active = p.selected == Some(fi);
                    html! {
                        <button class={classes!("chip", f.severity.as_str(), active.then_some("active"))} title={f.message.clone()}
                            onclick={Callback::from(move |_| on_select.emit(if active { None } else { Some(fi) }))}>{ f.kind.clone() }</button>
                    }
                }) }</div>
            }
        </aside>
    }
}

/// Draw a range picture: float, quantized and representable ranges on one axis, clipped parts red.
pub(super) fn range_svg(pic: &views::RangePicture) -> Html {
    // Numbers under a bar never overlap: inside its ends when it is wide enough, outside them when
    // it is narrow, and the upper one a line lower when even that does not fit.
    let row_h = 50.0;
    let bars = pic.bars.iter().enumerate().map(|(k, b)| {
        let y = 18.0 + k as f64 * row_h;
        let w = |t: &str| t.chars().count() as f64 * 6.3;
        let (lo_x, hi_x) = (b.lo * 400.0, b.hi * 400.0);
        let (wl, wh) = (w(&b.lo_label), w(&b.hi_label));
        let (lo_pos, lo_end, hi_pos, hi_end, hi_dy) = if hi_x - lo_x >= wl + wh + 8.0 {
            (lo_x, false, hi_x, true, 0.0)
        } else {
            let (lp, le) = if lo_x >= wl + 3.0 { (lo_x - 3.0, true) } else { (0.0, false) };
            let (hp, he) = if hi_x + 3.0 + wh <= 404.0 { (hi_x + 3.0, false) } else { (404.0, true) };
            let lo_right = if le { lp } else { lp + wl };
            let hi_left = if he { hp - wh } else { hp };
            (lp, le, hp, he, if hi_left < lo_right + 4.0 { 12.0 } else { 0.0 })
        };
        html! {
            <g class={classes!("bar", b.kind.clone())}>
                <text x="0" y={format!("{:.0}", y - 4.0)} class="blabel">{ b.label.clone() }</text>
                <rect x={format!("{:.1}", lo_x)} y={format!("{y:.0}")} width={format!("{:.1}", ((b.hi - b.lo) * 400.0).max(1.0))} height="12" />
                <text x={format!("{lo_pos:.1}")} y={format!("{:.0}", y + 24.0)} class={classes!("num", lo_end.then_some("end"))}>{ b.lo_label.clone() }</text>
                <text x={format!("{hi_pos:.1}")} y={format!("{:.0}", y + 24.0 + hi_dy)} class={classes!("num", hi_end.then_some("end"))}>{ b.hi_label.clone() }</text>
            </g>
        }
    });
    let h = 18.0 + pic.bars.len() as f64 * row_h;
    html! {
        <svg class="range-picture" viewBox={format!("-4 0 408 {h:.0}")} role="img" aria-label="range picture">
            if let Some(z) = pic.zero {
                <line x1={format!("{:.1}", z * 400.0)} x2={format!("{:.1}", z * 400.0)} y1="8" y2={format!("{:.0}", h - 4.0)} class="zero" />
            }
            { for bars }
            { for pic.clipped.iter().map(|(a, b)| html! {
                <rect class="clipped" x={format!("{:.1}", a * 400.0)} y="14" width={format!("{:.1}", ((b - a) * 400.0).max(1.5))} height="20">
                    <title>{ "clipped" }</title>
                </rect>
            }) }
        </svg>
    }
}
