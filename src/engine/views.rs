//! View models the UI draws without computing: comparison-row filtering and sorting, metric series
//! along layer order, the range picture of a row, and sensitivity bars — all as plain numbers in 0..1.

use super::compare::CompareTable;
use super::diagnose_report::{Cause, RowDiagnosis};
use super::sensitivity::SensitivityTable;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Columns of the layer comparison view, in display order: (key, header).
pub const COMPARE_COLUMNS: &[(&str, &str)] = &[
    ("index", "#"),
    ("mod_name", "mod_name"),
    ("op", "op"),
    ("quant_dtype", "dtype"),
    ("qscale", "qscale"),
    ("cause", "cause"),
    ("cosine", "Cosine"),
    ("sqnr", "SQNR"),
    ("mse", "MSE"),
    ("l1", "L1"),
    ("kl", "KL"),
    ("atol", "Atol"),
    ("rtol", "Rtol"),
    ("max_qscale_diff", "max_qscale_diff"),
    ("base_min", "base_min"),
    ("base_max", "base_max"),
    ("analy_min", "analy_min"),
    ("analy_max", "analy_max"),
    ("base_mean", "base_mean"),
    ("analy_mean", "analy_mean"),
    ("base_var", "base_var"),
    ("analy_var", "analy_var"),
    ("shape", "shape"),
    ("base_op_type", "base_op_type"),
    ("analy_op_type", "analy_op_type"),
];

/// Columns shown until the user picks others.
pub const DEFAULT_COLUMNS: &[&str] = &[
    "index",
    "mod_name",
    "op",
    "quant_dtype",
    "qscale",
    "cause",
    "cosine",
    "sqnr",
    "max_qscale_diff",
    "base_min",
    "base_max",
    "analy_min",
    "analy_max",
];

/// The columns a table opens with: [`DEFAULT_COLUMNS`] without the metrics no row has (older
/// toolchains write no SQNR). A table without SQNR shows its L1 and MSE instead, where it has them,
/// so an error magnitude stays in view.
pub fn default_columns(t: &CompareTable) -> Vec<String> {
    let has = |k: &str| t.rows.iter().any(|r| num(r, k).is_some());
    let numeric = |k: &str| !matches!(k, "index" | "mod_name" | "op" | "quant_dtype" | "cause");
    let mut out: Vec<String> = Vec::new();
    for &k in DEFAULT_COLUMNS {
        if !numeric(k) || has(k) {
            out.push(k.to_string());
        } else if k == "sqnr" {
            out.extend(
                ["l1", "mse"]
                    .iter()
                    .filter(|m| has(m))
                    .map(|m| m.to_string()),
            );
        }
    }
    out
}

fn num(r: &CompareRow, key: &str) -> Option<f64> {
    match key {
        "index" => r.index.map(|v| v as f64),
        "qscale" => r.qscale,
        "cosine" => r.cosine,
        "sqnr" => r.sqnr,
        "mse" => r.mse,
        "l1" => r.l1,
        "kl" => r.kl,
        "atol" => r.atol,
        "rtol" => r.rtol,
        "max_qscale_diff" => r.max_qscale_diff,
        "base_min" => r.base_min,
        "base_max" => r.base_max,
        "analy_min" => r.analy_min,
        "analy_max" => r.analy_max,
        "base_mean" => r.base_mean,
        "analy_mean" => r.analy_mean,
        "base_var" => r.base_var,
        "analy_var" => r.analy_var,
        _ => None,
    }
}

/// The text of a cell (numbers as the report printed them: up to 7 decimals, trimmed).
pub fn cell(r: &CompareRow, d: &RowDiagnosis, key: &str, row_index: usize) -> String {
    match key {
        "index" => r.index.unwrap_or(row_index as u64).to_string(),
        "mod_name" => r.mod_name.clone(),
        "op" => r.op_short().to_string(),
        "quant_dtype" => r
            .quant_dtype
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        "cause" => d.cause.label().to_string(),
        "shape" => r.shape_text.clone(),
        "base_op_type" => r.base_op_type.clone(),
        "analy_op_type" => r.analy_op_type.clone(),
        k if k.starts_with("x:") => k[2..]
            .parse::<usize>()
            .ok()
            .and_then(|j| r.extra.get(j).cloned())
            .unwrap_or_default(),
        k => num(r, k).map(fmt_num).unwrap_or_default(),
    }
}

/// A number as compact text: `.7f` trimmed, exponent form for tiny/huge magnitudes.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    if a != 0.0 && !(1e-4..1e9).contains(&a) {
        return format!("{v:.4e}");
    }
    let s = format!("{v:.7}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// What the layer view's filters select.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowFilter {
    /// Case-insensitive substring of mod_name or op types.
    pub text: String,
    /// Exact dtype text (`qint8`), empty for all.
    pub dtype: String,
    /// Cause label, empty for all.
    pub cause: String,
    /// Only rows cited by these findings (indices into `Analysis::findings`), empty for all.
    pub rows: Option<Vec<usize>>,
}

/// Order two optional numbers, ascending or `descending`; a missing number sorts last either way.
fn numbers_first(x: Option<f64>, y: Option<f64>, descending: bool) -> Ordering {
    match (x, y) {
        (Some(x), Some(y)) if descending => y.total_cmp(&x),
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Row indices that pass `f`, ordered by `sort_key` (stable; missing values last).
pub fn filter_sort(
    t: &CompareTable,
    f: &RowFilter,
    sort_key: &str,
    descending: bool,
) -> Vec<usize> {
    let q = f.text.to_lowercase();
    let mut idx: Vec<usize> = (0..t.rows.len())
        .filter(|&i| {
            let r = &t.rows[i];
            (q.is_empty()
                || r.mod_name.to_lowercase().contains(&q)
                || r.analy_op_type.to_lowercase().contains(&q)
                || r.base_op_type.to_lowercase().contains(&q))
                && (f.dtype.is_empty()
                    || r.quant_dtype
                        .as_ref()
                        .is_some_and(|d| d.to_string() == f.dtype))
                && (f.cause.is_empty() || t.diag.get(i).is_some_and(|d| d.cause.label() == f.cause))
                && f.rows
                    .as_ref()
                    .is_none_or(|rows| rows.binary_search(&i).is_ok())
        })
        .collect();
    let is_num = COMPARE_COLUMNS.iter().any(|(k, _)| *k == sort_key)
        && !matches!(
            sort_key,
            "mod_name"
                | "op"
                | "quant_dtype"
                | "cause"
                | "shape"
                | "base_op_type"
                | "analy_op_type"
        );
    if sort_key == "index" && !descending {
        return idx;
    }
    if is_num {
        idx.sort_by(|&a, &b| {
            numbers_first(
                num(&t.rows[a], sort_key),
                num(&t.rows[b], sort_key),
                descending,
            )
            .then(a.cmp(&b))
        });
        return idx;
    }
    // Text: each cell's text made once (not twice per comparison), in natural order.
    let mut keyed: Vec<(String, usize)> = idx
        .into_iter()
        .map(|i| (cell(&t.rows[i], &t.diag[i], sort_key, i), i))
        .collect();
    keyed.sort_by(|(x, a), (y, b)| {
        let o = natural_cmp(x, y);
        if descending { o.reverse() } else { o }.then(a.cmp(b))
    });
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Natural order: runs of digits compare as numbers (`blk9` before `blk89`, `p2o.Mul.9` before
/// `p2o.Mul.10`), the rest as text; equal that way, plain text order decides (`07` before `7`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii_digit() && q.is_ascii_digit() => {
                let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (n, m) = (run(x), run(y));
                let trim = |d: &[u8]| {
                    let z = d.iter().take_while(|&&c| c == b'0').count();
                    d[z..].to_vec()
                };
                let (dx, dy) = (trim(&x[..n]), trim(&y[..m]));
                let o = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(&dy));
                if o != Ordering::Equal {
                    return o;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(p), Some(q)) => {
                if p != q {
                    return p.cmp(q);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// Distinct dtypes and causes present (for the filter menus).
pub fn facets(t: &CompareTable) -> (Vec<String>, Vec<String>) {
    let mut dtypes: Vec<String> = t
        .rows
        .iter()
        .filter_map(|r| r.quant_dtype.as_ref().map(|d| d.to_string()))
        .collect();
    dtypes.sort();
    dtypes.dedup();
    let mut causes: Vec<String> = t.diag.iter().map(|d| d.cause.label().to_string()).collect();
    causes.sort();
    causes.dedup();
    (dtypes, causes)
}

/// One metric along layer order: x and y as fractions of the plot (y = 0 at the bottom).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub name: String,
    /// (row index, x fraction, y fraction)
    pub points: Vec<(usize, f64, f64)>,
    /// Axis labels at the bottom and top of the plot.
    pub y_min_label: String,
    pub y_max_label: String,
}

/// Cosine (linear 0..1), SQNR (dB, clamped 0..100) and max_qscale_diff (log10, 0.1..1000) per row.
pub fn metric_series(t: &CompareTable) -> Vec<Series> {
    let n = t.rows.len().max(2) - 1;
    let x = |i: usize| i as f64 / n as f64;
    let mut cos = Vec::new();
    let mut sqnr = Vec::new();
    let mut mqd = Vec::new();
    for (i, r) in t.rows.iter().enumerate() {
        if let Some(c) = r.cosine.filter(|c| c.is_finite()) {
            cos.push((i, x(i), c.clamp(0.0, 1.0)));
        }
        if let Some(q) = r.sqnr.filter(|q| !q.is_nan()) {
            sqnr.push((i, x(i), (q.min(100.0) / 100.0).clamp(0.0, 1.0)));
        }
        if let Some(m) = r.max_qscale_diff.filter(|m| m.is_finite() && *m > 0.0) {
            mqd.push((i, x(i), ((m.log10() + 1.0) / 4.0).clamp(0.0, 1.0)));
        }
    }
    let (cos, sqnr, mqd) = (thin(cos), thin(sqnr), thin(mqd));
    vec![
        Series {
            name: "Cosine".into(),
            points: cos,
            y_min_label: "0".into(),
            y_max_label: "1".into(),
        },
        Series {
            name: "SQNR (dB)".into(),
            points: sqnr,
            y_min_label: "0".into(),
            y_max_label: "≥100".into(),
        },
        Series {
            name: "max_qscale_diff (steps, log)".into(),
            points: mqd,
            y_min_label: "0.1".into(),
            y_max_label: "1000".into(),
        },
    ]
}

/// Points a series plot keeps: a line of 50,000 points is no clearer than one of 2,000, and far
/// slower to draw.
pub const SERIES_MAX_POINTS: usize = 2000;

/// Thin a series to at most [`SERIES_MAX_POINTS`]: per bucket of consecutive points, the lowest and
/// the highest (in x order), so dips such as the collapse point survive.
fn thin(points: Vec<(usize, f64, f64)>) -> Vec<(usize, f64, f64)> {
    if points.len() <= SERIES_MAX_POINTS {
        return points;
    }
    let per = points.len().div_ceil(SERIES_MAX_POINTS / 2);
    let mut out = Vec::with_capacity(SERIES_MAX_POINTS + 2);
    for b in points.chunks(per) {
        let lo = b.iter().min_by(|x, y| x.2.total_cmp(&y.2)).copied();
        let hi = b.iter().max_by(|x, y| x.2.total_cmp(&y.2)).copied();
        match (lo, hi) {
            (Some(l), Some(h)) if l.0 <= h.0 => out.extend([l, h]),
            (Some(l), Some(h)) => out.extend([h, l]),
            _ => {}
        }
    }
    out.dedup_by_key(|p| p.0);
    out
}

/// x fraction of a row in the series plots.
pub fn row_x(t: &CompareTable, i: usize) -> f64 {
    i as f64 / (t.rows.len().max(2) - 1) as f64
}

/// One horizontal bar of the range picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bar {
    pub label: String,
    /// `float`, `quantized`, `representable`.
    pub kind: String,
    #[serde(with = "crate::engine::num")]
    pub lo: f64,
    #[serde(with = "crate::engine::num")]
    pub hi: f64,
    pub lo_label: String,
    pub hi_label: String,
}

/// The range picture: float range, quantized range and representable range on one axis, with the
/// clipped parts; everything as fractions of the axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangePicture {
    pub bars: Vec<Bar>,
    /// Clipped stretches (fractions) of the float range.
    pub clipped: Vec<(f64, f64)>,
    /// Where 0 falls on the axis.
    #[serde(default, with = "crate::engine::num::opt")]
    pub zero: Option<f64>,
    pub axis_min_label: String,
    pub axis_max_label: String,
}

pub fn range_picture(r: &CompareRow, d: &RowDiagnosis) -> Option<RangePicture> {
    let (bmin, bmax) = (r.base_min?, r.base_max?);
    let mut vals = vec![bmin, bmax];
    vals.extend(
        [r.analy_min, r.analy_max, d.rep_min, d.rep_max]
            .into_iter()
            .flatten(),
    );
    if vals.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let lo = vals.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let pad = ((hi - lo) * 0.05).max(1e-12);
    let (a0, a1) = (lo - pad, hi + pad);
    let f = |v: f64| ((v - a0) / (a1 - a0)).clamp(0.0, 1.0);
    let mut bars = vec![Bar {
        label: "float (baseline)".into(),
        kind: "float".into(),
        lo: f(bmin),
        hi: f(bmax),
        lo_label: fmt_num(bmin),
        hi_label: fmt_num(bmax),
    }];
    if let (Some(amin), Some(amax)) = (r.analy_min, r.analy_max) {
        bars.push(Bar {
            label: "quantized (analysis)".into(),
            kind: "quantized".into(),
            lo: f(amin),
            hi: f(amax),
            lo_label: fmt_num(amin),
            hi_label: fmt_num(amax),
        });
    }
    let mut clipped = Vec::new();
    if let (Some(rmin), Some(rmax)) = (d.rep_min, d.rep_max) {
        bars.push(Bar {
            label: format!(
                "representable ({} × qscale)",
                r.quant_dtype
                    .as_ref()
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
            kind: "representable".into(),
            lo: f(rmin),
            hi: f(rmax),
            lo_label: fmt_num(rmin),
            hi_label: fmt_num(rmax),
        });
        if d.cause == Cause::Truncation {
            if bmin < rmin {
                clipped.push((f(bmin), f(rmin)));
            }
            if bmax > rmax {
                clipped.push((f(rmax), f(bmax)));
            }
        }
    }
    Some(RangePicture {
        bars,
        clipped,
        zero: (a0 < 0.0 && a1 > 0.0).then(|| f(0.0)),
        axis_min_label: fmt_num(a0),
        axis_max_label: fmt_num(a1),
    })
}

/// Bars of a sensitivity table's top `n` rows: (row index, fraction of the top value's error).
pub fn sensitivity_bars(t: &SensitivityTable, n: usize) -> Vec<(usize, f64)> {
    let err = |v: f64| {
        if t.metric.eq_ignore_ascii_case("cosine") {
            1.0 - v
        } else {
            v
        }
    };
    let top = t
        .rows
        .iter()
        .take(n)
        .filter_map(|r| r.value.map(err))
        .fold(0.0, f64::max);
    t.rows
        .iter()
        .enumerate()
        .take(n)
        .map(|(i, r)| {
            (
                i,
                if top > 0.0 {
                    (r.value.map(err).unwrap_or(0.0) / top).clamp(0.0, 1.0)
                } else {
                    0.0
                },
            )
        })
        .collect()
}

/// The row under a click at `frac` (0..1) of a series plot of `n` rows.
pub fn row_at_fraction(n: usize, frac: f64) -> usize {
    if n == 0 {
        return 0;
    }
    ((frac.clamp(0.0, 1.0) * (n.max(2) - 1) as f64).round() as usize).min(n - 1)
}

/// Bar heights (fractions of the tallest bin) of a histogram, for drawing.
pub fn hist_bars(counts: &[u64]) -> Vec<f64> {
    let m = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    counts.iter().map(|&c| c as f64 / m).collect()
}

/// Range picture of a tensor pair: float and quantized ranges, and the representable range when the
/// scale and dtype are known.
pub fn pair_range_picture(
    m: &super::metrics::PairMetrics,
    rep: Option<(f64, f64)>,
) -> Option<RangePicture> {
    let dtype = m.quant.map(|q| match q.dtype_range() {
        (-128, 127) => super::cells::DType::QInt8,
        (-32768, 32767) => super::cells::DType::QInt16,
        (0, 255) => super::cells::DType::QUInt8,
        (0, 65535) => super::cells::DType::QUInt16,
        _ => super::cells::DType::Other(format!("[{}, {}]", q.qmin, q.qmax)),
    });
    let row = CompareRow {
        quant_dtype: dtype,
        base_min: Some(m.base_min),
        base_max: Some(m.base_max),
        analy_min: Some(m.analy_min),
        analy_max: Some(m.analy_max),
        ..Default::default()
    };
    let clipped = rep.is_some_and(|(lo, hi)| m.base_min < lo || m.base_max > hi);
    let d = RowDiagnosis {
        cause: if clipped {
            Cause::Truncation
        } else {
            Cause::Rounding
        },
        rep_min: rep.map(|r| r.0),
        rep_max: rep.map(|r| r.1),
        clip_low: 0.0,
        clip_high: 0.0,
        clip_fraction: 0.0,
        steps: None,
        tolerance: 0.0,
        explanation: String::new(),
    };
    range_picture(&row, &d)
}

/// Pairs ranked by their float tensor's *local* error at int8 (lowest SQNR first; ties by name):
/// (pair index, int8 SQNR dB, int16 SQNR dB). Local error, not sensitivity (see the README). A
/// float tensor paired in several runs is ranked once (its local error is the float tensor's own).
pub fn local_error_ranking(t: &super::pairs::TensorComparison) -> Vec<(usize, f64, f64)> {
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(usize, f64, f64)> = t
        .pairs
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let l = p.metrics.as_ref()?.local?;
            seen.insert((p.float_file, p.float_tensor.as_str()))
                .then_some((i, l.int8_sqnr_db, l.int16_sqnr_db))
        })
        .collect();
    out.sort_by(|a, b| {
        a.1.total_cmp(&b.1)
            .then_with(|| t.pairs[a.0].name.cmp(&t.pairs[b.0].name))
    });
    out
}

/// The words of a finding's "show" button: what the view it opens will show. The button opens the
/// file (or the pair) of the first cited row, filtered to the rows cited there, so the count is of
/// those rows, not of every row the finding cites in other tables and files.
pub fn evidence_button_label(f: &super::findings::Finding, own_file: usize) -> String {
    let Some(first) = f.evidence.first() else {
        return "Show the file →".to_string();
    };
    let file = first.file.unwrap_or(own_file);
    let mut rows: Vec<usize> = f
        .evidence
        .iter()
        .filter(|e| e.table == first.table && e.file.unwrap_or(own_file) == file)
        .map(|e| e.row)
        .collect();
    rows.sort_unstable();
    rows.dedup();
    match (first.table.as_str(), rows.len()) {
        ("pairs", 1) => "Show the pair →".to_string(),
        ("pairs", n) => format!("Show the first of {n} pairs →"),
        (_, 1) => "Show 1 row →".to_string(),
        (_, n) => format!("Show {n} rows →"),
    }
}

/// What a pair's Cosine of 0 means when there is no error (both tensors all zero): torch's
/// `cosine_similarity`, which the toolchains print, gives 0 for two zero vectors.
pub const ZERO_COSINE_NO_ERROR: &str =
    "0 by torch's convention for two all-zero tensors: they are identical (no error), and sort as 1";

/// A metric as shown in a cell, with what a non-finite value means (a tooltip): SQNR ∞ is "no
/// error at all" (the two tensors are identical), a NaN variance is "one element", and so on.
pub fn metric_text(key: &str, v: f64) -> (String, Option<&'static str>) {
    if v.is_finite() {
        return (fmt_num(v), None);
    }
    let meaning = match (key, v.is_nan()) {
        ("sqnr" | "sqnr_db", false) if v > 0.0 => {
            "∞: the quantized values equal the float ones exactly (no error)"
        }
        ("base_var" | "analy_var" | "var", true) => {
            "NaN: the variance of a single element is undefined (n − 1 = 0)"
        }
        ("cosine", true) => "NaN: an empty tensor has no cosine",
        ("kl", true) => "NaN: KL is not computed for this tensor (empty, or not read in order)",
        ("max_qscale_diff", false) => "∞: the scale is 0",
        (_, true) => "NaN: not defined for this tensor (empty, one element, or NaN values)",
        (_, false) => "infinite: the data holds infinite values",
    };
    let text = if v.is_nan() {
        "NaN".to_string()
    } else if v > 0.0 {
        "∞".to_string()
    } else {
        "−∞".to_string()
    };
    (text, Some(meaning))
}

/// [`metric_text`] for a pair's metric, its meaning told from the pair's own data: a NaN Cosine
/// of tensors holding NaN/∞ is about those values, not an empty tensor; a −∞ SQNR of an all-zero
/// float tensor is about its zero signal, not about infinite values.
pub fn pair_metric_text(
    key: &str,
    v: f64,
    m: &super::metrics::PairMetrics,
) -> (String, Option<&'static str>) {
    let (text, meaning) = metric_text(key, v);
    if v.is_finite() {
        return (text, meaning);
    }
    let nonfinite = m.nonfinite_base + m.nonfinite_analy > 0;
    let float_zero = m.base_min == 0.0 && m.base_max == 0.0;
    let special = match (key, v.is_nan()) {
        _ if nonfinite && (v.is_nan() || key != "max_qscale_diff") => {
            Some("not finite: the tensors hold NaN or ±∞ values (the pair's non-finite finding says where)")
        }
        ("cosine", true) if m.numel > 0 => {
            Some("NaN: not defined for these tensors (one of them has no length)")
        }
        ("sqnr" | "sqnr_db", false) if v < 0.0 && float_zero => {
            Some("−∞: the float tensor is all zero, so any difference from it is infinitely large against its signal")
        }
        _ => None,
    };
    (text, special.or(meaning))
}

/// A tensor's shape as a table cell: `[1, 3, 16, 8]`, and a 0-d tensor (one value, no axes; numpy's
/// shape `()`) as `[] (0-d)`, not a bare `[]` that reads like a missing shape.
pub fn shape_text(shape: &[u64]) -> String {
    if shape.is_empty() {
        "[] (0-d)".to_string()
    } else {
        format!("{shape:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_read_as_shapes() {
        assert_eq!(shape_text(&[1, 3, 16, 8]), "[1, 3, 16, 8]");
        assert_eq!(shape_text(&[1]), "[1]");
        assert_eq!(shape_text(&[]), "[] (0-d)");
    }

    #[test]
    fn pair_metrics_say_what_their_non_finite_values_mean() {
        let mut m: super::super::metrics::PairMetrics =
            serde_json::from_str(r#"{"numel":4,"cosine":0,"mse":0,"l1":0,"kl":0,"sqnr_db":0,"atol":0,"rtol":0,"base_min":0,"base_max":0,"base_mean":0,"base_var":0,"analy_min":0,"analy_max":1,"analy_mean":0,"analy_var":0,"max_atol_diff":0,"error_split":null,"nonfinite_base":0,"nonfinite_analy":0}"#)
                .expect("metrics");
        // Zero against nonzero: SQNR −∞ is about the zero signal.
        let (text, why) = pair_metric_text("sqnr", f64::NEG_INFINITY, &m);
        assert_eq!(text, "−∞");
        assert!(why.unwrap().contains("float tensor is all zero"), "{why:?}");
        // NaN values in the data: the NaN Cosine says so, not "empty".
        m.nonfinite_analy = 1;
        let (_, why) = pair_metric_text("cosine", f64::NAN, &m);
        assert!(why.unwrap().contains("NaN or ±∞ values"), "{why:?}");
        assert_eq!(
            pair_metric_text("cosine", 0.5, &m),
            ("0.5".to_string(), None)
        );
    }

    #[test]
    fn number_text() {
        assert_eq!(fmt_num(0.5000000), "0.5");
        assert_eq!(fmt_num(-99.0), "-99");
        assert_eq!(fmt_num(3.4028234663852886e38), "3.4028e38");
        assert_eq!(fmt_num(f64::INFINITY), "inf");
    }

    #[test]
    fn the_show_button_counts_the_rows_its_view_shows() {
        use super::super::findings::{Evidence, Finding};
        let ev = |table: &str, row: usize, file: Option<usize>| Evidence {
            table: table.into(),
            row,
            line: 0,
            file,
        };
        let f = |evidence: Vec<Evidence>| Finding {
            kind: "k".into(),
            severity: crate::engine::Severity::Warning,
            layers: vec![],
            message: String::new(),
            fix: String::new(),
            evidence,
            score: 0.0,
            rank_reason: String::new(),
        };
        // A comparison row and the sensitivity row (another file) that ranks it: the view shows 1.
        let cited = f(vec![ev("compare", 4, None), ev("sensitivity", 9, Some(3))]);
        assert_eq!(evidence_button_label(&cited, 0), "Show 1 row →");
        // The same row cited twice, and one in the csv twin (file 1): still 1 in file 0.
        let twice = f(vec![
            ev("compare", 4, None),
            ev("compare", 4, Some(0)),
            ev("compare", 4, Some(1)),
        ]);
        assert_eq!(evidence_button_label(&twice, 0), "Show 1 row →");
        let three = f(vec![
            ev("compare", 4, None),
            ev("compare", 7, None),
            ev("compare", 2, None),
        ]);
        assert_eq!(evidence_button_label(&three, 0), "Show 3 rows →");
        // Pairs: the Tensors view opens the first pair.
        assert_eq!(
            evidence_button_label(&f(vec![ev("pairs", 2, None)]), 0),
            "Show the pair →"
        );
        let pairs = f(vec![ev("pairs", 2, None), ev("pairs", 5, None)]);
        assert_eq!(
            evidence_button_label(&pairs, 0),
            "Show the first of 2 pairs →"
        );
        assert_eq!(evidence_button_label(&f(vec![]), 0), "Show the file →");
    }
}

// --- Types the UI draws, from the layers below (the UI names the view model and the vocabulary) ---

pub use super::cells::DType;
pub use super::compare::CompareRow;
pub use super::detect::Format;
pub use super::doc::{CallStatus, FusionStatus};
pub use super::document::{compare_twins, run_keys};
pub use super::pairs::{
    chosen_side, distinct_paths, folder_key, nonfinite_note, run_scale_key, DistinctPaths,
    PairResult, Side, SideBasis, HIST_MAX_ELEMS,
};
pub use super::preprocess::{
    dims_text, parse_dims, parse_size, parse_triple, Layout, Preprocess, RandomInputs, PRESETS,
    RANDOM_WARNING,
};
pub use super::quant::{QDType, StatsEstimate};

/// A dropped PNG or JPEG: a sample input for the model runner (its report says so; see
/// `detect::IMAGE_SAMPLE`).
pub fn is_image_sample(f: &FileReport) -> bool {
    f.error
        .as_deref()
        .is_some_and(|e| e.contains(super::detect::IMAGE_SAMPLE))
}
pub use super::encode::zip_stored;
pub use super::recommend::{MergedOp, ParetoPoint, Pick};
pub use super::session::{Analysis, Document, FileReport, Intent, RowKey, TensorSettings};
pub use super::whatif::{PairWhatIf, Predicted};
// The journal of runs, the next step and two runs compared.
pub use super::journal::{
    FindingSummary, Metrics as JournalMetrics, Stage, FILE_NAME as JOURNAL_FILE_NAME,
};
pub use super::journal_view::{
    diff_json, is_journal_file, DiffView, JournalView, MetricRow, RunColumn, RunForm,
    JOURNAL_LINK_KEY,
};
pub use super::nextstep::{EvidenceLink, NextStep};
pub use super::rundiff::{Change, LayerDelta, Movement, RunDiff, SensMove, TOP as SENS_TOP};

/// A row's diagnosis in words, from the diagnosis the worker stored (nothing is diagnosed again).
pub fn row_explanation(r: &CompareRow, d: &RowDiagnosis) -> String {
    super::diagnose_report::explanation(r, d)
}

/// A what-if estimated from a row's statistics (see `quant::estimate_from_stats_n`).
pub fn row_estimate(
    r: &CompareRow,
    dtype: QDType,
    scale: Option<f64>,
) -> Option<Result<StatsEstimate, String>> {
    let (mn, mx) = (r.base_min?, r.base_max?);
    let mean = r.base_mean.unwrap_or((mn + mx) / 2.0);
    let var = r.base_var.unwrap_or(((mx - mn) / 4.0).powi(2));
    let numel = r.shape.as_deref().map(super::metrics::dims_product);
    Some(super::quant::estimate_from_stats_n(
        mn, mx, mean, var, numel, dtype, scale,
    ))
}

// --- The mixed-precision view ------------------------------------------------------------------

/// The runs whose sensitivity tables the mixed-precision view can show, and the one it shows.
pub fn sensitivity_runs(a: &Analysis, wanted: Option<&str>) -> (Vec<String>, String) {
    let runs = run_keys(&a.files);
    let mut out: Vec<String> = a
        .files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.sensitivity().is_some())
        .map(|(i, _)| runs[i].clone())
        .collect();
    let mut seen = std::collections::HashSet::new();
    out.retain(|r| seen.insert(r.clone()));
    // By default the first run with an op still in qint8 (something the setter can switch; an
    // all-int16 run has nothing to do).
    let has_qint8 = |run: &str| {
        a.files.iter().enumerate().any(|(i, f)| {
            runs[i] == run
                && f.sensitivity().is_some_and(|t| {
                    t.rows
                        .iter()
                        .any(|r| r.quant_dtype == Some(super::cells::DType::QInt8))
                })
        })
    };
    let run = wanted
        .filter(|w| out.iter().any(|r| r == w))
        .map(str::to_string)
        .or_else(|| out.iter().find(|r| has_qint8(r)).cloned())
        .or_else(|| out.first().cloned())
        .unwrap_or_default();
    (out, run)
}

/// The sweep of the sensitivity setter over one run's tables: every ratio's cost and error left,
/// and the knee (computed once per run and type; the slider only picks a point).
pub fn mixed_precision_sweep(
    a: &Analysis,
    run: &str,
    sensitive_type: &str,
) -> (Vec<ParetoPoint>, Option<usize>) {
    let runs = run_keys(&a.files);
    let tables: Vec<_> = a
        .files
        .iter()
        .enumerate()
        .filter(|(i, _)| runs[*i] == run)
        .filter_map(|(_, f)| f.sensitivity())
        .collect();
    let compares: Vec<_> = a
        .files
        .iter()
        .enumerate()
        .filter(|(i, _)| runs[*i] == run)
        .filter_map(|(_, f)| f.compare())
        .collect();
    let (mut pts, mut knee) = super::recommend::pareto(
        &tables,
        sensitive_type,
        &super::recommend::activation_elems(&compares),
    );
    // The model runner's sweep of this run, over one of its tables: each point it simulated
    // carries the measured output error, and the knee is taken on the measured curve.
    let names: Vec<&str> = a
        .files
        .iter()
        .enumerate()
        .filter(|(i, f)| runs[*i] == run && f.sensitivity().is_some())
        .map(|(_, f)| f.name.rsplit('/').next().unwrap_or(&f.name))
        .collect();
    let n = pts.last().map(|p| p.topk).unwrap_or(0);
    let sweep = a
        .files
        .iter()
        .enumerate()
        .filter(|(i, _)| runs[*i] == run)
        .filter_map(|(_, f)| f.sweep())
        .find(|s| names.contains(&s.table.as_str()) && s.table_rows == n);
    if let (Some(s), true) = (sweep, sensitive_type == "activation") {
        for p in pts.iter_mut() {
            p.simulated_error = s
                .points
                .iter()
                .find(|sp| sp.topk == p.topk)
                .and_then(|sp| s.relative_l1(sp));
        }
        let measured: Vec<usize> = (0..pts.len())
            .filter(|&i| pts[i].simulated_error.is_some())
            .collect();
        let xy: Vec<(f64, f64)> = measured
            .iter()
            .map(|&i| (pts[i].op_share, pts[i].simulated_error.unwrap_or(0.0)))
            .collect();
        if let Some(k) = super::recommend::knee_of(&xy) {
            knee = Some(measured[k]);
        }
    }
    (pts, knee)
}

/// What the mixed-precision view shows for one point of the sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct MixedPrecision {
    /// File names of the run's tables (for the snippet and the weights).
    pub tables: Vec<String>,
    /// Labels of the run's tables.
    pub labels: Vec<String>,
    pub ratio: Option<f64>,
    pub logs: Vec<String>,
    pub picks: Vec<Pick>,
    pub snippet: String,
    /// The recommendation as JSON (the download).
    pub json: String,
    /// Model Explorer per-node data of the first table.
    pub model_explorer: String,
    pub merged: Vec<MergedOp>,
    /// Fixed-scale suggestions of the run's comparison table.
    pub fixed_scales: usize,
    pub has_compare: bool,
}

/// The setter at point `sel` of the sweep for one run, with the exports and the merged ranking.
pub fn mixed_precision(
    a: &Analysis,
    run: &str,
    sensitive_type: &str,
    point: Option<&ParetoPoint>,
    weights: &[f64],
) -> MixedPrecision {
    use super::recommend::{self, SetterRequest};
    let runs = run_keys(&a.files);
    let in_run: Vec<usize> = (0..a.files.len()).filter(|&i| runs[i] == run).collect();
    let tables: Vec<_> = in_run
        .iter()
        .filter_map(|&i| a.files[i].sensitivity())
        .collect();
    let names: Vec<String> = in_run
        .iter()
        .filter(|&&i| a.files[i].sensitivity().is_some())
        .map(|&i| {
            let n = &a.files[i].name;
            n.rsplit('/').next().unwrap_or(n).to_string()
        })
        .collect();
    let ratio = point.map(|pt| pt.ratio).filter(|r| *r > 0.0);
    let req = SetterRequest {
        sensitive_type: sensitive_type.to_string(),
        origin_dtype: DType::QInt8,
        ratio,
        topk: None,
    };
    let (results, picks) = match ratio {
        Some(_) => recommend::recommend(&tables, &req).unwrap_or_default(),
        None => Default::default(),
    };
    let fixed = super::diagnose_report::fixed_scales_of(
        in_run
            .iter()
            .filter_map(|&i| a.files[i].compare())
            .collect(),
    );
    let snippet = recommend::snippet(&names, &req, &picks, &fixed);
    let w: Vec<f64> = (0..tables.len())
        .map(|i| weights.get(i).copied().unwrap_or(1.0))
        .collect();
    let merged = if tables.len() > 1 {
        recommend::merged_ranking(&tables, &w)
    } else {
        Vec::new()
    };
    let json = serde_json::json!({
        "int16": picks.iter().map(|p| serde_json::json!({"name": p.name, "metric": p.metric, "flops_share": p.flops_share})).collect::<Vec<_>>(),
        "ratio": ratio, "sensitive_type": sensitive_type, "snippet": snippet,
        "fixed_scales": fixed.iter().map(|f| serde_json::json!({"name": f.name, "bound": f.bound, "physical": f.physical, "scale": f.scale_int16, "dtype": "qint16"})).collect::<Vec<_>>(),
    })
    .to_string();
    MixedPrecision {
        labels: tables.iter().map(|t| t.label()).collect(),
        tables: names,
        ratio,
        logs: results.iter().map(|r| r.log.clone()).collect(),
        picks,
        snippet,
        json,
        model_explorer: tables
            .first()
            .map(|t| recommend::model_explorer_json(t).to_string())
            .unwrap_or_default(),
        merged,
        fixed_scales: fixed.len(),
        has_compare: in_run.iter().any(|&i| a.files[i].compare().is_some()),
    }
}

// --- Exports: every table as shown, as CSV or JSON (written by `export`) -------------------------

use super::export::Cell;
pub use super::export::{export_name, export_stem, Cell as ExportCell, ExportTable};

/// The tensor pairs in this order: every metric, the scale, the error split and the findings' kinds
/// (`findings(pair)`), one row per pair.
pub fn pairs_export(
    t: &super::pairs::TensorComparison,
    order: &[usize],
    findings: &dyn Fn(usize) -> Vec<String>,
) -> ExportTable {
    let mut out = ExportTable::new([
        "name",
        "run",
        "shape",
        "cosine",
        "mse",
        "l1",
        "kl",
        "sqnr_db",
        "atol",
        "rtol",
        "base_min",
        "base_max",
        "base_mean",
        "base_var",
        "analy_min",
        "analy_max",
        "analy_mean",
        "analy_var",
        "max_qscale_diff",
        "scale",
        "scale_source",
        "split_clip",
        "split_round",
        "split_inherited",
        "clipped_fraction",
        "error",
        "findings",
    ]);
    for &i in order {
        let Some(p) = t.pairs.get(i) else { continue };
        let shape = p
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        let mut cells = vec![
            Cell::Text(p.name.clone()),
            Cell::Text(p.run.clone()),
            Cell::Text(shape),
        ];
        match &p.metrics {
            Some(m) => {
                cells.extend(
                    [
                        m.cosine,
                        m.mse,
                        m.l1,
                        m.kl,
                        m.sqnr_db,
                        m.atol,
                        m.rtol,
                        m.base_min,
                        m.base_max,
                        m.base_mean,
                        m.base_var,
                        m.analy_min,
                        m.analy_max,
                        m.analy_mean,
                        m.analy_var,
                    ]
                    .map(Cell::Num),
                );
                cells.push(Cell::opt(m.max_qscale_diff));
            }
            None => cells.extend(std::iter::repeat_n(Cell::Empty, 16)),
        }
        cells.push(Cell::opt(p.scale));
        cells.push(Cell::Text(p.scale_source.clone().unwrap_or_default()));
        match p.metrics.as_ref().and_then(|m| m.error_split) {
            Some(sp) => {
                cells.extend([sp.clip, sp.round, sp.inherited, sp.clipped_fraction].map(Cell::Num))
            }
            None => cells.extend(std::iter::repeat_n(Cell::Empty, 4)),
        }
        cells.push(Cell::Text(p.error.clone().unwrap_or_default()));
        cells.push(Cell::Text(findings(i).join("; ")));
        out.push(
            cells
                .into_iter()
                .map(|c| match c {
                    Cell::Text(s) if s.is_empty() => Cell::Empty,
                    c => c,
                })
                .collect(),
        );
    }
    out
}

/// The tensor pairs as CSV, in file order (see [`pairs_export`]).
pub fn pairs_csv(t: &super::pairs::TensorComparison) -> String {
    let order: Vec<usize> = (0..t.pairs.len()).collect();
    pairs_export(t, &order, &|_| Vec::new()).csv()
}

/// Rows of a comparison table as shown (these rows in this order, these columns, headed as shown).
pub fn rows_export(t: &CompareTable, rows: &[usize], columns: &[&str]) -> ExportTable {
    let header = columns.iter().map(|k| {
        COMPARE_COLUMNS
            .iter()
            .find(|(c, _)| c == k)
            .map(|(_, l)| l.to_string())
            .or_else(|| {
                k.strip_prefix("x:")
                    .and_then(|j| j.parse::<usize>().ok())
                    .and_then(|j| t.extra_columns.get(j).cloned())
            })
            .unwrap_or_else(|| k.to_string())
    });
    let mut out = ExportTable::new(header);
    for &i in rows {
        let (Some(r), Some(d)) = (t.rows.get(i), t.diag.get(i)) else {
            continue;
        };
        out.push(
            columns
                .iter()
                .map(|k| match num(r, k) {
                    Some(v) => Cell::Num(v),
                    None if matches!(*k, "mod_name" | "op" | "quant_dtype" | "cause" | "shape") => {
                        match cell(r, d, k, i) {
                            s if s.is_empty() => Cell::Empty,
                            s => Cell::Text(s),
                        }
                    }
                    None => Cell::text(&cell(r, d, k, i)),
                })
                .collect(),
        );
    }
    out
}

/// Rows of a comparison table as shown, as CSV (see [`rows_export`]).
pub fn rows_csv(t: &CompareTable, rows: &[usize], columns: &[&str]) -> String {
    rows_export(t, rows, columns).csv()
}

/// Rows of a parsed table as shown: the file's line, the cells under the file's own headers
/// (numbers as printed), and the kinds of the findings that cite the row (`findings(row)`).
pub fn doc_rows_export(
    t: &super::doc::DocTable,
    rows: &[usize],
    findings: &dyn Fn(usize) -> Vec<String>,
) -> ExportTable {
    let headers = t.headers.iter().map(|h| {
        if h.is_empty() {
            "#".to_string()
        } else {
            h.clone()
        }
    });
    let mut out = ExportTable::new(
        std::iter::once("line".to_string())
            .chain(headers)
            .chain(std::iter::once("findings".to_string())),
    );
    for &i in rows {
        let Some(r) = t.rows.get(i) else { continue };
        let mut cells = vec![Cell::from(r.line)];
        cells.extend((0..t.headers.len()).map(|j| Cell::text(r.cells.get(j).map_or("", |s| s))));
        cells.push(Cell::text(&findings(i).join("; ")));
        out.push(cells);
    }
    out
}

/// The ops of a sensitivity table's bar chart (its first `n` rows), rank first.
pub fn sensitivity_export(t: &SensitivityTable, n: usize) -> ExportTable {
    let mut out = ExportTable::new([
        "rank",
        "op_name",
        "op_type",
        "sensitive_type",
        "quant_dtype",
        t.metric.as_str(),
        "flops",
    ]);
    for (i, r) in t.rows.iter().enumerate().take(n) {
        out.push(vec![
            Cell::from(i + 1),
            Cell::Text(r.op_name.clone()),
            Cell::Text(r.op_type.clone()),
            Cell::Text(r.sensitive_type.clone()),
            r.quant_dtype
                .as_ref()
                .map(|d| Cell::Text(d.to_string()))
                .unwrap_or(Cell::Empty),
            Cell::opt(r.value),
            Cell::opt(r.flops.map(|f| f as f64)),
        ]);
    }
    out
}

/// The ops the sensitivity setter sets to int16, in its order.
pub fn picks_export(picks: &[Pick]) -> ExportTable {
    let mut out = ExportTable::new([
        "rank",
        "name",
        "op_type",
        "sensitive_type",
        "metric",
        "flops_share_pct",
        "table",
    ]);
    for (i, p) in picks.iter().enumerate() {
        out.push(vec![
            Cell::from(i + 1),
            Cell::Text(p.name.clone()),
            Cell::Text(p.op_type.clone()),
            Cell::Text(p.sensitive_type.clone()),
            Cell::opt(p.metric),
            Cell::opt(p.flops_share),
            Cell::Text(p.table.clone()),
        ]);
    }
    out
}

/// The first `n` ops of the merged ranking: score, and rank in each table (`labels`).
pub fn merged_export(merged: &[MergedOp], labels: &[String], n: usize) -> ExportTable {
    let mut out = ExportTable::new(
        ["rank", "name", "score"]
            .into_iter()
            .map(str::to_string)
            .chain(labels.iter().map(|l| format!("rank in {l}"))),
    );
    for (i, m) in merged.iter().enumerate().take(n) {
        let mut cells = vec![
            Cell::from(i + 1),
            Cell::Text(m.name.clone()),
            Cell::Num(m.score),
        ];
        cells.extend(labels.iter().map(|l| {
            m.per_table
                .iter()
                .find(|(t, _, _)| t == l)
                .map(|(_, r, _)| Cell::from(*r))
                .unwrap_or(Cell::Empty)
        }));
        out.push(cells);
    }
    out
}

/// The local error ranking as shown (its first `n` entries).
pub fn local_ranking_export(
    t: &super::pairs::TensorComparison,
    ranking: &[(usize, f64, f64)],
    n: usize,
) -> ExportTable {
    let mut out = ExportTable::new(["rank", "name", "int8_sqnr_db", "int16_sqnr_db"]);
    for (k, &(i, s8, s16)) in ranking.iter().enumerate().take(n) {
        let Some(p) = t.pairs.get(i) else { continue };
        out.push(vec![
            Cell::from(k + 1),
            Cell::Text(p.name.clone()),
            Cell::Num(s8),
            Cell::Num(s16),
        ]);
    }
    out
}

/// A pair's what-if table as shown: the measured split of the real quantized tensor (when its scale
/// is known), then each scale's predicted split (the observers, then the typed scales).
pub fn whatif_export(pr: &PairResult, w: &PairWhatIf) -> ExportTable {
    let mut out = ExportTable::new([
        "dtype",
        "scale_from",
        "scale",
        "clip",
        "round",
        "inherited",
        "mse",
        "sqnr_db",
        "clipped_fraction",
    ]);
    if let Some(m) = &pr.metrics {
        if let Some(sp) = m.error_split {
            let dtype = m.quant.map(|q| match q.dtype_range() {
                (0, hi) if hi > 255 => "uint16",
                (_, hi) if hi > 255 => "int16",
                (0, _) => "uint8",
                _ => "int8",
            });
            out.push(vec![
                dtype.map(Cell::text).unwrap_or(Cell::Empty),
                Cell::Text(match &pr.scale_source {
                    Some(s) => format!("measured (scale from {s})"),
                    None => "measured".into(),
                }),
                Cell::opt(pr.scale),
                Cell::Num(sp.clip),
                Cell::Num(sp.round),
                Cell::Num(sp.inherited),
                Cell::Num(m.mse),
                Cell::Num(m.sqnr_db),
                Cell::Num(sp.clipped_fraction),
            ]);
        }
    }
    for p in w.observers.iter().chain(&w.typed) {
        out.push(vec![
            Cell::Text(p.dtype.name().to_string()),
            Cell::Text(p.label.clone()),
            Cell::Num(p.scale),
            Cell::Num(p.clip),
            Cell::Num(p.round),
            Cell::Num(0.0),
            Cell::Num(p.mse),
            Cell::Num(p.sqnr_db),
            Cell::Num(p.clipped_fraction),
        ]);
    }
    out
}

/// A pair's group-split what-if table as shown (cuts and scales joined by `; `).
pub fn groups_export(w: &PairWhatIf) -> ExportTable {
    let mut out = ExportTable::new([
        "dtype",
        "groups",
        "groups_used",
        "mse",
        "max_relative_error",
        "cut_before_element",
        "scales",
    ]);
    for g in &w.groups {
        let join = |v: Vec<String>| v.join("; ");
        out.push(vec![
            Cell::Text(g.dtype.clone()),
            Cell::from(g.k),
            Cell::from(g.split.scales.len()),
            Cell::Num(g.split.mse),
            Cell::Num(g.split.max_rel),
            Cell::text(&join(g.split.cuts.iter().map(|c| c.to_string()).collect())),
            Cell::text(&join(
                g.split
                    .scales
                    .iter()
                    .map(|&v| super::export::csv_number(v))
                    .collect(),
            )),
        ]);
    }
    out
}

/// A pair's per-channel what-if table as shown.
pub fn channels_export(w: &PairWhatIf) -> ExportTable {
    let mut out = ExportTable::new([
        "dtype",
        "axis",
        "channels",
        "sqnr_db_per_channel",
        "sqnr_db_per_tensor",
        "mse_per_channel",
        "mse_per_tensor",
    ]);
    for c in &w.channels {
        out.push(vec![
            Cell::Text(c.dtype.clone()),
            Cell::from(c.axis),
            Cell::from(c.channels),
            Cell::Num(c.per_channel_sqnr_db),
            Cell::Num(c.per_tensor_sqnr_db),
            Cell::Num(c.per_channel_mse),
            Cell::Num(c.per_tensor_mse),
        ]);
    }
    out
}

fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The sensitivity bar chart (its first `n` rows) as a standalone SVG file, styles inline: the view
/// draws these bars in HTML, so the picture is written here. Returns (SVG text, width, height).
pub fn sensitivity_svg(t: &SensitivityTable, n: usize) -> (String, f64, f64) {
    let bars = sensitivity_bars(t, n);
    let (w, row) = (760.0, 20.0);
    let h = 28.0 + bars.len() as f64 * row + 6.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" style=\"background-color:#ffffff\">\n<text x=\"4\" y=\"16\" style=\"font:12px sans-serif;fill:#5c6370\">{}</text>\n",
        xml_text(&format!(
            "{} · {} ({})",
            t.output.as_deref().unwrap_or("?"),
            t.metric,
            if t.ascending() {
                "smaller is more sensitive"
            } else {
                "larger is more sensitive"
            }
        ))
    );
    for (k, (i, frac)) in bars.iter().enumerate() {
        let r = &t.rows[*i];
        let y = 28.0 + k as f64 * row;
        let name: String = if r.op_name.chars().count() > 52 {
            let tail: Vec<char> = r.op_name.chars().rev().take(51).collect();
            std::iter::once('…').chain(tail.into_iter().rev()).collect()
        } else {
            r.op_name.clone()
        };
        out.push_str(&format!(
            "<g><text x=\"4\" y=\"{ty:.0}\" style=\"font:11px monospace;fill:#5c6370\">{rank}</text><text x=\"30\" y=\"{ty:.0}\" style=\"font:11px monospace;fill:#1f2328\">{name}</text><rect x=\"400\" y=\"{ry:.0}\" width=\"260\" height=\"12\" style=\"fill:#eef1f6\"/><rect x=\"400\" y=\"{ry:.0}\" width=\"{bw:.1}\" height=\"12\" style=\"fill:#3b7dd8\"/><text x=\"668\" y=\"{ty:.0}\" style=\"font:11px sans-serif;fill:#1f2328\">{value}</text></g>\n",
            ty = y + 11.0,
            ry = y + 1.0,
            rank = i + 1,
            name = xml_text(&name),
            bw = (frac * 260.0).max(0.0),
            value = xml_text(&r.value.map(fmt_num).unwrap_or_default()),
        ));
    }
    out.push_str("</svg>\n");
    (out, w, h)
}

/// The order of the tensor pairs for a sort key (`name`, `cosine`, `sqnr`, `mse`, `l1`, `kl`,
/// `atol`, `max_qscale_diff`, `clip`: the clipping share of the split), missing values last.
pub fn sort_pairs(t: &super::pairs::TensorComparison, key: &str, descending: bool) -> Vec<usize> {
    let value = |i: usize| -> Option<f64> {
        let m = t.pairs[i].metrics.as_ref()?;
        Some(match key {
            // Two all-zero tensors: torch's cosine is 0, but there is no error; sort them as 1.
            "cosine" if m.mse == 0.0 && m.cosine == 0.0 => 1.0,
            "cosine" => m.cosine,
            "sqnr" => m.sqnr_db,
            "mse" => m.mse,
            "l1" => m.l1,
            "kl" => m.kl,
            "atol" => m.atol,
            "max_qscale_diff" => m.max_qscale_diff?,
            "clip" => {
                let sp = m.error_split?;
                let total = sp.clip + sp.round + sp.inherited;
                if total > 0.0 {
                    sp.clip / total
                } else {
                    0.0
                }
            }
            _ => return None,
        })
    };
    let mut idx: Vec<usize> = (0..t.pairs.len()).collect();
    if key == "none" {
        return idx;
    }
    if key == "name" {
        idx.sort_by(|&a, &b| natural_cmp(&t.pairs[a].name, &t.pairs[b].name));
        if descending {
            idx.reverse();
        }
        return idx;
    }
    idx.sort_by(|&a, &b| numbers_first(value(a), value(b), descending).then(a.cmp(&b)));
    idx
}

#[cfg(test)]
mod natural_tests {
    use super::natural_cmp;
    use std::cmp::Ordering;

    #[test]
    fn digits_compare_as_numbers() {
        let mut v = vec![
            "blk90.x",
            "blk9.x",
            "blk89.x",
            "p2o.Mul.10",
            "p2o.Mul.9",
            "a",
            "",
            "07",
            "7",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            [
                "",
                "07",
                "7",
                "a",
                "blk9.x",
                "blk89.x",
                "blk90.x",
                "p2o.Mul.9",
                "p2o.Mul.10"
            ]
        );
        assert_eq!(natural_cmp("x1", "x1"), Ordering::Equal);
        assert_eq!(
            natural_cmp("x18446744073709551616", "x2"),
            Ordering::Greater
        );
    }
}
