//! Diagnosis of QuantAnalysis reports, joined across files: each comparison row's error cause
//! (truncation / rounding / inherited) from the representable range `[qmin·qscale, qmax·qscale]`, the
//! seed's checks (fixed scale, dtype intent, shared-module ranges), the advisor's rules, and the
//! sensitivity tables (ranking, tail health, link from each sensitive op to its rows).
//!
//! Thresholds, in steps of the row's own scale (`max_qscale_diff` = Atol / qscale):
//! * clipped: the float range passes the representable range by more than one step (the advisor's margin);
//! * own rounding: max_qscale_diff ≤ 0.75 (pure rounding is 0.5);
//! * inherited: max_qscale_diff ≥ 2 with the range covered (error far beyond what this layer's own
//!   rounding can make).

use super::cells::DType;
use super::compare::{CompareRow, CompareTable};
use super::document::{FileFinding, FileReport};
use super::findings::{kind, name_list, plural, Evidence, Finding, Severity};
use super::intent::Intent;
use super::sensitivity::SensitivityTable;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use super::cause::{Cause, RowDiagnosis};

use super::num::short as fmt;

fn qrange(d: &DType) -> Option<(i64, i64)> {
    match d {
        DType::QInt32 => None,
        d => d.qrange(),
    }
}

/// Classify one comparison row: numbers only (see [`explanation`] for the words).
pub fn diagnose_row(r: &CompareRow) -> RowDiagnosis {
    let mut d = RowDiagnosis {
        cause: Cause::NotQuantized,
        rep_min: None,
        rep_max: None,
        clip_low: 0.0,
        clip_high: 0.0,
        clip_fraction: 0.0,
        steps: None,
        tolerance: 0.0,
        explanation: String::new(),
    };
    if r.shape_text == "mismatch shape" {
        d.cause = Cause::MismatchShape;
        return d;
    }
    if is_collapsed(r) {
        d.cause = Cause::Collapsed;
        if let Some(s) = r.qscale.filter(|s| *s > 0.0 && s.is_finite()) {
            if let Some((qmin, qmax)) = r.quant_dtype.as_ref().and_then(qrange) {
                d.rep_min = Some(qmin as f64 * s);
                d.rep_max = Some(qmax as f64 * s);
            }
        }
        return d;
    }
    let Some((qmin, qmax)) = r.quant_dtype.as_ref().and_then(qrange) else {
        return d;
    };
    let Some(s) = r.qscale.filter(|s| *s > 0.0 && s.is_finite()) else {
        d.cause = Cause::NoScale;
        return d;
    };
    let (lo, hi) = (qmin as f64 * s, qmax as f64 * s);
    d.rep_min = Some(lo);
    d.rep_max = Some(hi);
    d.steps = r.max_qscale_diff.or_else(|| r.atol.map(|a| a / s));
    // One step of margin (the advisor's), plus what the printed qscale cannot tell apart: `.7f`
    // leaves an int16 scale of ~3e-4 with 3 significant digits, i.e. qmax·qscale ± qmax·5e-8.
    d.tolerance = s + (qmax.max(-qmin) as f64) * r.qscale_abs_err;
    if let (Some(bmin), Some(bmax)) = (r.base_min, r.base_max) {
        d.clip_low = (lo - bmin).max(0.0);
        d.clip_high = (bmax - hi).max(0.0);
        // The clipped share of the range; a single value (no width) is cut by a share of itself.
        let width = (bmax - bmin).abs();
        let scale_of_values = if width > 0.0 {
            width
        } else {
            bmin.abs().max(bmax.abs()).max(f64::MIN_POSITIVE)
        };
        d.clip_fraction = ((d.clip_low + d.clip_high) / scale_of_values).min(1.0);
    }
    d.cause = if d.clip_low > d.tolerance || d.clip_high > d.tolerance {
        Cause::Truncation
    } else if r.cosine.is_none() && r.atol.is_none() && r.max_qscale_diff.is_none() {
        Cause::NoMetrics
    } else {
        match d.steps {
            Some(k) if k >= 2.0 => Cause::Inherited,
            Some(k) if k > 0.75 => Cause::Accumulated,
            _ => Cause::Rounding,
        }
    };
    d
}

/// The diagnosis of one row in plain words (computed on the spot; the findings' messages use it).
pub fn explain(r: &CompareRow) -> String {
    explanation(r, &diagnose_row(r))
}

/// The words for a row and its stored diagnosis: formatting only, nothing is diagnosed again (the
/// detail panel draws this from the diagnosis the worker sent).
pub fn explanation(r: &CompareRow, d: &RowDiagnosis) -> String {
    let dtype = r
        .quant_dtype
        .as_ref()
        .map(|d| d.to_string())
        .unwrap_or_default();
    let s = r.qscale.unwrap_or(f64::NAN);
    let (lo, hi) = (d.rep_min.unwrap_or(f64::NAN), d.rep_max.unwrap_or(f64::NAN));
    let cover = format!(
        "{dtype} with scale {} represents [{}, {}]",
        fmt(s),
        fmt(lo),
        fmt(hi)
    );
    let mut range = match (r.base_min, r.base_max) {
        (Some(a), Some(b)) => format!("the float output spans [{}, {}]", fmt(a), fmt(b)),
        _ => "the float range is not in the row".into(),
    };
    // Past the printed bound, but within the margin: say why that is not clipping.
    let over = d.clip_low.max(d.clip_high);
    if d.cause != Cause::Truncation && over > 0.0 && over <= d.tolerance {
        range.push_str(&format!(
            " (past the printed bound by {}, within one step plus the printed qscale's precision, ±{})",
            fmt(over),
            fmt(d.tolerance)
        ));
    }
    match d.cause {
        Cause::MismatchShape => {
            "The two models' outputs have different shapes, so no metric was computed.".into()
        }
        Cause::Collapsed => format!(
            "Collapsed: the quantized output is the constant {} while the float output spans [{}, {}] (mean {}): the quantized model's output carries no information here (Cosine {}).{}",
            fmt(r.analy_min.unwrap_or(0.0)),
            fmt(r.base_min.unwrap_or(0.0)),
            fmt(r.base_max.unwrap_or(0.0)),
            fmt(r.base_mean.unwrap_or(0.0)),
            r.cosine.map(fmt).unwrap_or_else(|| "?".into()),
            collapse_hint(r)
        ),
        Cause::NotQuantized => format!(
            "Output dtype {}: not quantized to int8/int16 here, so there is no representable range to check.",
            if dtype.is_empty() { "unknown".to_string() } else { dtype.clone() }
        ),
        Cause::NoScale => "Quantized, but the row has no per-tensor scale (per-channel or missing), so the range cannot be checked.".into(),
        Cause::Truncation => {
            let side = match (d.clip_low > d.tolerance, d.clip_high > d.tolerance) {
                (true, true) => format!(
                    "below by {} and above by {}",
                    fmt(d.clip_low),
                    fmt(d.clip_high)
                ),
                (true, false) => format!("below by {}", fmt(d.clip_low)),
                _ => format!("above by {}", fmt(d.clip_high)),
            };
            format!(
                "Truncation: {cover}, but {range}: it passes the representable range {side} ({:.1}% of the range is clipped). Clipped values all become the limit, so the error there is as large as the overshoot ({:.1} steps).",
                d.clip_fraction * 100.0,
                (d.clip_low.max(d.clip_high)) / s
            )
        }
        Cause::NoMetrics => format!("{cover}; {range}, so nothing is clipped. This row is fused into the next op, so its metrics are blank: compare the fused op's output row."),
        Cause::Inherited => format!(
            "Inherited: {cover} and {range}, so nothing is clipped, yet the largest error is {:.1} steps. This layer's own rounding makes at most half a step: the error arrived from upstream layers.",
            d.steps.unwrap_or(f64::NAN)
        ),
        Cause::Accumulated => format!(
            "{cover} and {range}, so nothing is clipped. The largest error is {:.2} steps: this layer's rounding (≤ 0.5) plus a little error from upstream.",
            d.steps.unwrap_or(f64::NAN)
        ),
        Cause::Rounding => {
            let k = d
                .steps
                .map(|k| format!("{k:.2}"))
                .unwrap_or_else(|| "≈0.5".into());
            let small = match (r.base_min, r.base_max) {
                (Some(a), Some(b)) if a > 0.0 || b < 0.0 => {
                    let m = a.abs().min(b.abs());
                    format!(
                        " The smallest magnitude is {}: half a step ({}) is {:.1}% of it, so small values carry a large relative error.",
                        fmt(m),
                        fmt(s / 2.0),
                        s / 2.0 / m.max(f64::MIN_POSITIVE) * 100.0
                    )
                }
                _ => String::new(),
            };
            format!(
                "Rounding: {cover} and {range}, so nothing is clipped; the largest error is {k} steps, i.e. this layer's own rounding (half a step = {}).{small}",
                fmt(s / 2.0)
            )
        }
    }
}

/// The quantized side is one constant (min = max, zero variance) while the float side varies.
pub fn is_collapsed(r: &CompareRow) -> bool {
    let (Some(amin), Some(amax)) = (r.analy_min, r.analy_max) else {
        return false;
    };
    let (Some(bmin), Some(bmax)) = (r.base_min, r.base_max) else {
        return false;
    };
    let constant = amin == amax && r.analy_var.is_none_or(|v| v == 0.0);
    let varies = bmax > bmin && r.base_var.is_none_or(|v| v > 0.0);
    constant && varies && bmin.is_finite() && bmax.is_finite()
}

/// Why an output may have collapsed, when the row tells.
fn collapse_hint(r: &CompareRow) -> String {
    let (Some(bmin), Some(bmax)) = (r.base_min, r.base_max) else {
        return String::new();
    };
    match r.qscale.filter(|s| *s > 0.0 && s.is_finite()) {
        Some(s) if bmin.abs().max(bmax.abs()) < s / 2.0 => format!(
            " Every float value is below half a step ({}): they all round to 0, so the scale is far too large for this output.",
            fmt(s / 2.0)
        ),
        _ => " The row's own scale covers its values, so the collapse comes from its input: look at the rows before it for the first one whose quantized range shrinks.".into(),
    }
}

/// For a one-signed row spanning orders of magnitude: the relative error rounding costs its
/// smallest values (the larger of half a step over the smallest magnitude and the row's Rtol).
fn relative_rounding(r: &CompareRow) -> Option<f64> {
    let ratio = span_ratio(r)?;
    if ratio < 100.0 {
        return None;
    }
    let (a, b) = (r.base_min?, r.base_max?);
    let small = a.abs().min(b.abs());
    let s = r.qscale.filter(|s| *s > 0.0 && s.is_finite())?;
    // The measured worst relative error when the row has it (Rtol), else half a step over the
    // smallest magnitude.
    match r.rtol.filter(|x| x.is_finite()) {
        Some(rt) => Some(rt.min(1.0)),
        None => Some((s / 2.0 / small.max(f64::MIN_POSITIVE)).min(1.0)),
    }
}

/// max |x| / min |x| of a one-signed float range (None when it crosses or touches 0).
fn span_ratio(r: &CompareRow) -> Option<f64> {
    let (a, b) = (r.base_min?, r.base_max?);
    if !(a > 0.0 || b < 0.0) {
        return None;
    }
    let (m, big) = (a.abs().min(b.abs()), a.abs().max(b.abs()));
    Some(big / m)
}

/// Op types that clamp their input to a fixed range (`Clip(0, 6)`, ReLU6, Hardtanh).
fn is_clamp(op: &str) -> bool {
    let o = op.to_ascii_lowercase();
    matches!(
        o.as_str(),
        "clip" | "relu6" | "hardtanh" | "clamp" | "clip_by_value"
    ) || o.ends_with("relu6")
        || o.ends_with("hardtanh")
        || o.ends_with(".clamp")
}

/// What the next op makes of a clipped row's clipping.
enum ClipAfter {
    /// Nothing of it matters: the next op (the following row with statistics) clamps to a range
    /// inside this row's representable range, so every value cut here would be cut there anyway
    /// (the `Add → Clip(0, 6)` of hardswish); or a ReLU follows and only negatives are cut.
    Harmless(String),
    /// Both sides are cut and a ReLU follows: the cut below zeroes values the ReLU zeroes anyway,
    /// so only the cut above costs accuracy. The words for the cut below.
    LowHarmless(String),
}

fn clip_after(cf: &CompareFile, i: usize, d: &RowDiagnosis) -> Option<ClipAfter> {
    let (lo, hi) = (d.rep_min?, d.rep_max?);
    let next =
        (i + 1..cf.table.rows.len().min(i + 3)).find(|&j| cf.table.rows[j].base_min.is_some())?;
    let n = &cf.table.rows[next];
    let op = n.op_short();
    let (nmin, nmax) = (n.base_min?, n.base_max?);
    let eps = d.tolerance.max(1e-12);
    if is_clamp(op) && nmin >= lo - eps && nmax <= hi + eps {
        // `[0, 6]` against `[-6.0443, 5.9971]`: 6 is past the bound by less than the rounding
        // tolerance, not inside it; say which.
        let within = if nmin >= lo && nmax <= hi {
            "inside"
        } else {
            "within rounding of"
        };
        return Some(ClipAfter::Harmless(format!(
            "the next op `{}` ({op}) clamps to [{}, {}], {within} the representable range [{}, {}], so what is cut here is cut there anyway",
            name_of(n, next),
            fmt(nmin),
            fmt(nmax),
            fmt(lo),
            fmt(hi)
        )));
    }
    let relu = matches!(op.to_ascii_lowercase().as_str(), "relu" | "relu_") || op.ends_with("ReLU");
    if !relu || lo > 0.0 {
        return None;
    }
    if d.clip_high <= d.tolerance {
        return Some(ClipAfter::Harmless(format!(
            "only negative values are cut, and the next op `{}` ({op}) sets them to 0 anyway",
            name_of(n, next)
        )));
    }
    (d.clip_low > d.tolerance).then(|| {
        ClipAfter::LowHarmless(format!(
            "The cut below (by {}) costs nothing: the next op `{}` ({op}) sets negative values to 0 anyway; only the cut above, by {}, costs accuracy, and this finding is ranked on it alone.",
            fmt(d.clip_low),
            name_of(n, next),
            fmt(d.clip_high)
        ))
    })
}

/// Compute the row diagnoses of a table (stored with it for the UI).
pub fn diagnose_table(t: &CompareTable) -> Vec<RowDiagnosis> {
    t.rows.iter().map(diagnose_row).collect()
}

/// The same table as `.txt` (qscale printed to seven decimals: an int16 scale keeps ~3 digits) and as
/// `.csv` (full precision): take each row's exact qscale from the csv. Returns whether any changed.
pub fn refine_qscales(txt: &mut CompareTable, csv: &CompareTable) -> bool {
    if txt.rows.len() != csv.rows.len() {
        return false;
    }
    let mut changed = false;
    for (t, c) in txt.rows.iter_mut().zip(&csv.rows) {
        if t.mod_name != c.mod_name || c.qscale_abs_err >= t.qscale_abs_err {
            continue;
        }
        if let (Some(a), Some(b)) = (t.qscale, c.qscale) {
            if (a - b).abs() <= t.qscale_abs_err * 1.01 && a != b {
                t.qscale = Some(b);
                t.qscale_abs_err = c.qscale_abs_err;
                changed = true;
            }
        }
    }
    if changed {
        txt.diag.clear();
    }
    changed
}

/// Fill a parsed table's row diagnoses and collapse point (parsers never diagnose: the session
/// calls this once per table).
pub fn diagnose_compare(t: &mut CompareTable) {
    if t.diag.len() != t.rows.len() {
        t.diag = diagnose_table(t);
        t.collapse_row = collapse_point(&t.rows);
    }
}

/// Index of the row where the error jumps most (largest fall of Cosine below the lowest it was
/// before), if the fall is over 0.01.
pub fn collapse_point(rows: &[CompareRow]) -> Option<usize> {
    let cos: Vec<(usize, f64)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.cosine.filter(|c| c.is_finite()).map(|c| (i, c)))
        .collect();
    // A fall is measured from the lowest Cosine before it: rows of a side branch listed between
    // rows of the main path (a squeeze-excite block, hardswish's `Clip`, at 0.99 while the path is
    // at 0.85) are not a level the next row falls from. A fall counts when it lasts: one of the
    // next three rows with metrics stays below its midpoint. A dip that recovers at once
    // (hardswish's `Add` before its `Clip`, the path going on above it) is not where the model
    // collapses. When no fall lasts, the largest one is taken.
    let mut lasting: Option<(usize, f64)> = None;
    let mut any: Option<(usize, f64)> = None;
    let mut level = f64::INFINITY;
    for w in 0..cos.len() {
        let (i, c) = cos[w];
        let drop = level - c;
        if level.is_finite() && drop > 0.01 {
            if any.is_none_or(|(_, b)| drop > b) {
                any = Some((i, drop));
            }
            let mid = level - drop / 2.0;
            let lasts = cos[w + 1..].iter().take(3).any(|&(_, n)| n < mid);
            if lasts && lasting.is_none_or(|(_, b)| drop > b) {
                lasting = Some((i, drop));
            }
            if !lasts {
                // A dip that recovers is no new level either.
                continue;
            }
        }
        level = level.min(c);
    }
    lasting.or(any).map(|(i, _)| i)
}

// --- Joining files --------------------------------------------------------------------------------

struct CompareFile<'a> {
    file: usize,
    table: &'a CompareTable,
    diag: &'a [RowDiagnosis],
}

/// Where an op stands in the loaded sensitivity tables: best rank (0 = most sensitive) and citations.
#[derive(Default, Clone)]
struct SensInfo {
    best_rank: usize,
    /// Largest share of its table's top value (error-wise: 1 − Cosine for Cosine tables).
    best_share: f64,
    refs: Vec<(usize, usize, usize, String, f64)>, // (file, row, line, table label, value)
}

/// The sensitivity index of one run: only its own tables (two runs share op names, not ranks).
fn sens_index(files: &[FileReport], runs: &[String], run: &str) -> HashMap<String, SensInfo> {
    let mut idx: HashMap<String, SensInfo> = HashMap::new();
    for (fi, f) in files.iter().enumerate() {
        if runs[fi] != run {
            continue;
        }
        let Some(t) = f.sensitivity() else { continue };
        let err = |v: f64| {
            if t.metric.eq_ignore_ascii_case("cosine") {
                1.0 - v
            } else {
                v
            }
        };
        let top = t.rows.first().and_then(|r| r.value).map(err).unwrap_or(0.0);
        for (rank, r) in t.rows.iter().enumerate() {
            let e = idx.entry(r.op_name.clone()).or_insert_with(|| SensInfo {
                best_rank: usize::MAX,
                best_share: 0.0,
                refs: Vec::new(),
            });
            e.best_rank = e.best_rank.min(rank);
            if t.metric.eq_ignore_ascii_case("sqnr") {
                e.best_share = e
                    .best_share
                    .max(if rank < TOP_SENSITIVE { 1.0 } else { 0.0 });
            } else if top > 0.0 {
                e.best_share = e.best_share.max(r.value.map(err).unwrap_or(0.0) / top);
            }
            e.refs
                .push((fi, rank, r.line, t.label(), r.value.unwrap_or(f64::NAN)));
        }
    }
    idx
}

/// How many top rows of a sensitivity table count as "sensitive" for diagnosis.
const TOP_SENSITIVE: usize = 10;

fn row_ev(cf: &CompareFile, i: usize) -> Evidence {
    Evidence {
        table: cf.table.doc.id.clone(),
        row: i,
        line: cf.table.rows[i].line,
        file: None,
    }
}

fn name_of(r: &CompareRow, i: usize) -> String {
    if r.mod_name.is_empty() {
        format!("{} (row {})", r.op_short(), r.index.unwrap_or(i as u64))
    } else {
        r.mod_name.clone()
    }
}

fn row_ref(r: &CompareRow, i: usize) -> String {
    format!("row {}", r.index.unwrap_or(i as u64))
}

fn sens_sentence(si: Option<&SensInfo>) -> String {
    match si {
        Some(s) if s.best_rank < TOP_SENSITIVE => {
            let (_, rank, _, label, value) = &s
                .refs
                .iter()
                .min_by_key(|r| r.1)
                .cloned()
                .unwrap_or_default();
            format!(
                " It ranks #{} in the sensitivity table {label} ({}).",
                rank + 1,
                fmt(*value)
            )
        }
        _ => String::new(),
    }
}

fn sens_evidence(si: Option<&SensInfo>) -> Vec<Evidence> {
    si.map(|s| {
        s.refs
            .iter()
            .map(|(file, row, line, _, _)| Evidence {
                table: "sensitivity".into(),
                row: *row,
                line: *line,
                file: Some(*file),
            })
            .collect()
    })
    .unwrap_or_default()
}

fn sens_score(si: Option<&SensInfo>) -> f64 {
    si.map(|s| {
        if s.best_rank < 1000 {
            100.0 - s.best_rank as f64 * 5.0
        } else {
            0.0
        }
        .max(0.0)
    })
    .unwrap_or(0.0)
}

/// "Nice" bound ≥ v: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 × 10^k.
fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * p >= v * (1.0 - 1e-9) {
            return m * p;
        }
    }
    10.0 * p
}

/// A physical-looking bound: |v| within 2% below a round number (1, 2, 5 × 10^k, or 10^k multiples).
fn physical_bound(v: f64) -> Option<f64> {
    let a = v.abs();
    if !(0.5..=1e6).contains(&a) {
        return None;
    }
    let p = 10f64.powf(a.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        let n = m * p;
        if a <= n * (1.0 + 1e-9) && (n - a) / n <= 0.02 {
            return Some(n);
        }
    }
    None
}

/// Diagnose all report documents together.
pub fn diagnose(files: &[FileReport], intent: Intent) -> Vec<FileFinding> {
    let mut out: Vec<FileFinding> = Vec::new();
    let runs = super::document::run_keys(files);
    // A folder holds the same table as .txt and .csv: diagnose one (the txt), show both.
    let mut compares: Vec<CompareFile> = files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.compare().map(|t| (i, t)))
        .map(|(file, table)| CompareFile {
            file,
            table,
            diag: &table.diag,
        })
        .collect();
    let txt_runs: std::collections::HashSet<&str> = compares
        .iter()
        .filter(|c| c.table.source == "txt")
        .map(|c| runs[c.file].as_str())
        .collect();
    compares.retain(|c| c.table.source == "txt" || !txt_runs.contains(runs[c.file].as_str()));
    for cf in &compares {
        let sens = sens_index(files, &runs, &runs[cf.file]);
        let push = |out: &mut Vec<FileFinding>, finding: Finding| {
            out.push(FileFinding {
                file: cf.file,
                finding,
            })
        };
        for f in row_findings(cf, &sens) {
            push(&mut out, f);
        }
        for f in inherited(cf) {
            push(&mut out, f);
        }
        for f in shared_ranges(cf) {
            push(&mut out, f);
        }
        for f in dtype_intent(cf, intent) {
            push(&mut out, f);
        }
        for f in advisor_rules(cf) {
            push(&mut out, f);
        }
    }
    advisor_files(files, &compares, &mut out);
    for (fi, f) in files.iter().enumerate() {
        if let Some(t) = f.sensitivity() {
            let same_run: Vec<CompareFile> = compares
                .iter()
                .filter(|c| runs[c.file] == runs[fi])
                .map(|c| CompareFile {
                    file: c.file,
                    table: c.table,
                    diag: c.diag,
                })
                .collect();
            for finding in sensitivity_findings(t, &same_run) {
                out.push(FileFinding { file: fi, finding });
            }
        }
    }
    out
}

/// truncation / rounding / fixed_scale for the rows that matter (error or sensitivity).
fn row_findings(cf: &CompareFile, sens: &HashMap<String, SensInfo>) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, (r, d)) in cf.table.rows.iter().zip(cf.diag).enumerate() {
        let si = sens.get(&r.mod_name).filter(|_| !r.mod_name.is_empty());
        // Sensitive: in a table's top ten and at least a tenth of that table's top value.
        let sensitive = si.is_some_and(|s| s.best_rank < TOP_SENSITIVE && s.best_share >= 0.1);
        let cos_bad = r.cosine.is_some_and(|c| c < 0.999);
        let name = name_of(r, i);
        let mut ev = vec![row_ev(cf, i)];
        ev.extend(sens_evidence(si));
        let s = r.qscale.unwrap_or(0.0);
        let dtype = r
            .quant_dtype
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default();
        // What the next op makes of a cut; a cut below that a ReLU zeroes anyway is left out of
        // the cut's depth, share and rank.
        let after = if d.cause == Cause::Truncation {
            clip_after(cf, i, d)
        } else {
            None
        };
        let low_harmless = matches!(after, Some(ClipAfter::LowHarmless(_)));
        let clip_low = if low_harmless { 0.0 } else { d.clip_low };
        let clip_fraction = if low_harmless && d.clip_low + d.clip_high > 0.0 {
            d.clip_fraction * d.clip_high / (d.clip_low + d.clip_high)
        } else {
            d.clip_fraction
        };
        // The cut in steps, and whether the quantized side sits at the bound it cuts (the clip is hit).
        let cut_steps = if s > 0.0 {
            clip_low.max(d.clip_high) / s
        } else {
            0.0
        };
        let at_bound = match (d.rep_min, d.rep_max) {
            (Some(lo), Some(hi)) => {
                (clip_low > d.tolerance && r.analy_min.is_some_and(|a| a <= lo + s))
                    || (d.clip_high > d.tolerance && r.analy_max.is_some_and(|a| a >= hi - s))
            }
            _ => false,
        };
        let is16 = r.quant_dtype == Some(DType::QInt16);
        match d.cause {
            Cause::Collapsed => {
                // Only the first row of a run of collapsed rows is an origin; later ones inherit it.
                let prev_collapsed = (0..i)
                    .rev()
                    .find(|&j| {
                        cf.table.rows[j].cosine.is_some() || cf.diag[j].cause == Cause::Collapsed
                    })
                    .is_some_and(|j| cf.diag[j].cause == Cause::Collapsed);
                if prev_collapsed {
                    continue;
                }
                let after: Vec<usize> = (i + 1..cf.table.rows.len())
                    .take_while(|&j| {
                        cf.diag[j].cause == Cause::Collapsed || cf.table.rows[j].cosine.is_none()
                    })
                    .filter(|&j| cf.diag[j].cause == Cause::Collapsed)
                    .collect();
                let mut evidence = ev.clone();
                evidence.extend(after.iter().map(|&j| row_ev(cf, j)));
                let mut layers = vec![name.clone()];
                layers.extend(after.iter().map(|&j| name_of(&cf.table.rows[j], j)));
                out.push(Finding {
                    kind: kind::COLLAPSED_OUTPUT.into(),
                    severity: Severity::Error,
                    layers,
                    message: format!(
                        "`{name}` ({}, {}): {}{}{}",
                        row_ref(r, i),
                        r.op_short(),
                        explain(r),
                        if after.is_empty() {
                            String::new()
                        } else {
                            format!(" The next {} collapsed row(s) follow from it.", after.len())
                        },
                        sens_sentence(si)
                    ),
                    fix: format!(
                        "Start here: this is where the quantized model stops carrying information. Check `{name}`'s scale against its float range ({} · qscale must cover it and half a step must be well below its typical magnitude), and its input rows. A sigmoid or other lookup table fed values outside its calibrated range also outputs a constant.",
                        if is16 { "32767" } else { "127" }
                    ),
                    evidence,
                    score: 95.0,
                    rank_reason: "the output collapses to a constant here (the first such row)".into(),
                });
            }
            Cause::Truncation
                if clip_fraction >= 0.01
                    || sensitive
                    || cos_bad
                    || (at_bound && cut_steps >= 4.0) =>
            {
                // Cut depth in int8-sized steps (1/255 of the representable width): an int16 step is
                // 256× finer, so 3,000 int16 steps are a smaller cut than 32 int8 ones.
                let grid = r
                    .quant_dtype
                    .as_ref()
                    .and_then(qrange)
                    .map(|(lo, hi)| (hi - lo) as f64 / 255.0)
                    .unwrap_or(1.0);
                let severe = clip_fraction >= 0.1
                    || r.cosine.is_some_and(|c| c < 0.99)
                    || sensitive
                    || (at_bound && cut_steps / grid >= 32.0);
                // Below zero, what a ReLU zeroes anyway need not be covered.
                let need = if low_harmless {
                    0.0
                } else {
                    r.base_min.unwrap_or(0.0).abs()
                }
                .max(r.base_max.unwrap_or(0.0).abs());
                let int16_scale = need / 32767.0;
                let fix = format!(
                    "Give `{name}` a scale that covers the range: qmax·scale must reach {} (int8: scale ≥ {}; int16: scale ≥ {}, step {}). Find out why calibration chose {}: the calibration data may not reach this range (use more, or more representative, batches), or the observer cuts outliers (try MinMax or a higher percentile); if the range is physical, fix the scale.{}",
                    fmt(need),
                    fmt(need / 127.0),
                    fmt(int16_scale),
                    fmt(int16_scale),
                    fmt(s),
                    if is16 {
                        " The layer is already int16: if the covering scale's step is too coarse for the small values, fix the scale to the physical range or split the tensor into groups with their own scales."
                    } else {
                        " If the larger scale makes the step too coarse, use int16 for this layer."
                    }
                );
                let bound_note = if at_bound {
                    format!(
                        " The quantized {} sits exactly at the representable bound: values are being cut, {:.0} steps deep.",
                        if clip_low >= d.clip_high { "minimum" } else { "maximum" },
                        cut_steps
                    )
                } else {
                    String::new()
                };
                let (harmless, low_note) = match after {
                    Some(ClipAfter::Harmless(h)) => (Some(h), String::new()),
                    Some(ClipAfter::LowHarmless(l)) => (None, format!(" {l}")),
                    None => (None, String::new()),
                };
                let reason = format!(
                    "clips {:.1}% of its range ({:.0} steps){}{}",
                    clip_fraction * 100.0,
                    cut_steps,
                    r.cosine
                        .map(|c| format!(", Cosine {}", fmt(c)))
                        .unwrap_or_default(),
                    if low_note.is_empty() {
                        ""
                    } else {
                        ", above only: a ReLU zeroes the cut below"
                    }
                );
                out.push(Finding {
                    kind: kind::TRUNCATION.into(),
                    severity: if harmless.is_some() {
                        Severity::Info
                    } else if severe {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    layers: vec![name.clone()],
                    message: format!(
                        "`{name}` ({}, {}): {}{bound_note}{low_note}{}{}",
                        row_ref(r, i),
                        r.op_short(),
                        explain(r),
                        harmless
                            .as_ref()
                            .map(|h| format!(" Harmless here: {h}."))
                            .unwrap_or_default(),
                        sens_sentence(si)
                    ),
                    fix: if harmless.is_some() {
                        "Nothing to do for accuracy: the next op clips these values anyway. (A scale that covered only what the next op keeps would even give a finer step.)".into()
                    } else {
                        fix
                    },
                    evidence: ev.clone(),
                    score: if harmless.is_some() {
                        1.0
                    } else {
                        50.0 + clip_fraction * 100.0
                            + sens_score(si)
                            + (1.0 - r.cosine.unwrap_or(1.0)) * 100.0
                            + if at_bound {
                                (cut_steps / grid).min(100.0) / 4.0
                            } else {
                                0.0
                            }
                    },
                    rank_reason: match harmless {
                        Some(h) => format!("harmless: {h}"),
                        None => reason,
                    },
                });
            }
            Cause::Rounding
                if sensitive
                    || cos_bad
                    || r.sqnr.is_some_and(|q| q < 30.0)
                    || relative_rounding(r).is_some_and(|x| x >= 0.01) =>
            {
                let ratio = match (r.base_min, r.base_max) {
                    (Some(a), Some(b)) if a > 0.0 || b < 0.0 => {
                        let (m, big) = (a.abs().min(b.abs()), a.abs().max(b.abs()));
                        Some((m, big))
                    }
                    _ => None,
                };
                let split = match ratio {
                    Some((m, big)) if big / m.max(f64::MIN_POSITIVE) > 20.0 => format!(
                        " The values run from {} to {} ({}×): split the tensor into groups of similar magnitude and quantize each with its own scale (as the seed does for `dim_t`: the first 32 values in one group, the rest in another, then concatenate after the division). A group whose values stay below {} gets a scale {}× finer. With the tensor's values (drop a dump) QuantLens can compute the best cut.",
                        fmt(m), fmt(big), fmt(big / m), fmt(big / 8.0), 8
                    ),
                    _ => String::new(),
                };
                let fix = if is16 {
                    format!("Already int16, so a finer dtype is not available. {}Otherwise keep the layer's input range small (normalise, or move the operation that needs the large range after dequant).", if split.is_empty() { String::new() } else { split.trim_start().to_string() + " " })
                } else {
                    format!(
                        "Use int16 for `{name}`: the step becomes {} instead of {} (256× finer).{split}",
                        fmt(s * 127.0 / 32767.0),
                        fmt(s)
                    )
                };
                let rel = relative_rounding(r);
                out.push(Finding {
                    kind: kind::ROUNDING.into(),
                    severity: if (rel.is_some_and(|x| x >= 0.25) && r.rtol.is_some())
                        || (sensitive && r.cosine.is_some_and(|c| c < 0.99))
                    {
                        Severity::Error
                    } else {
                        Severity::Warning
                    },
                    layers: vec![name.clone()],
                    message: format!(
                        "`{name}` ({}, {}, {dtype}): {}{}",
                        row_ref(r, i),
                        r.op_short(),
                        explain(r),
                        sens_sentence(si)
                    ),
                    fix,
                    evidence: ev.clone(),
                    score: 20.0
                        + sens_score(si)
                        + (1.0 - r.cosine.unwrap_or(1.0)) * 100.0
                        + rel.map(|x| (x * 200.0).min(40.0)).unwrap_or(0.0),
                    rank_reason: match rel {
                        Some(x) if x >= 0.01 => format!(
                            "half a step is {:.1}% of its smallest value (one-signed, {}× span)",
                            x * 100.0,
                            fmt(span_ratio(r).unwrap_or(0.0))
                        ),
                        _ => format!(
                            "rounding{}",
                            r.cosine
                                .map(|c| format!(", Cosine {}", fmt(c)))
                                .unwrap_or_default()
                        ),
                    },
                });
            }
            _ => {}
        }
        // fixed_scale: a QuantStub whose input looks physically bounded, or that is clipped or sensitive.
        if let Some(FixedScale {
            bound, physical, ..
        }) = fixed_scale_for(r, d, i)
        {
            if let (Some(bmin), Some(bmax)) = (r.base_min, r.base_max) {
                {
                    let scale16 = bound / 32768.0;
                    let scale8 = bound / 128.0;
                    let bound_txt = if physical {
                        let lo = physical_bound(bmin)
                            .map(|n| n * bmin.signum())
                            .unwrap_or(bmin);
                        let hi = physical_bound(bmax)
                            .map(|n| n * bmax.signum())
                            .unwrap_or(bmax);
                        format!(
                            "Its observed input range [{}, {}] looks physically bounded (≈ [{}, {}]).",
                            fmt(bmin), fmt(bmax), fmt(lo), fmt(hi)
                        )
                    } else {
                        format!(
                            "Its observed input range is [{}, {}]{}.",
                            fmt(bmin),
                            fmt(bmax),
                            if d.cause == Cause::Truncation {
                                " and the calibrated scale clips it"
                            } else {
                                ""
                            }
                        )
                    };
                    out.push(Finding {
                        kind: kind::FIXED_SCALE.into(),
                        severity: Severity::Warning,
                        layers: vec![name.clone()],
                        message: format!(
                            "QuantStub `{name}` ({}) quantizes a model input with a calibrated scale {} ({dtype}). {bound_txt} Inputs with a known physical range should get a fixed scale, so calibration batches cannot shrink or stretch it.{}",
                            row_ref(r, i),
                            fmt(s),
                            sens_sentence(si)
                        ),
                        fix: format!(
                            "{lead} {b}: int16 with scale {b}/32768 = {} (step {}, covers [{}, {}]); int8 would need scale {b}/128 = {} (step {}). For example `QuantStub(scale={b} / 32768)` with a qint16 qconfig, or a FixedScaleObserver qconfig with `scale={b} / QINT16_MAX`.",
                            fmt(scale16),
                            fmt(scale16),
                            fmt(-32768.0 * scale16),
                            fmt(32767.0 * scale16),
                            fmt(scale8),
                            fmt(scale8),
                            b = fmt(bound),
                            lead = if physical {
                                "Fix the scale to the physical bound"
                            } else {
                                "If this input has a physical bound, fix the scale to it; the observed range needs at least"
                            }
                        ),
                        evidence: ev.clone(),
                        score: 30.0 + sens_score(si),
                        rank_reason: if physical {
                            "a model input with a physical range and a calibrated scale".into()
                        } else {
                            "a model input whose calibrated scale clips it".into()
                        },
                    });
                }
            }
        }
    }
    out
}

/// A fixed scale suggested for a QuantStub (the `fixed_scale` finding, as data for exports).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixedScale {
    pub name: String,
    /// The magnitude the scale covers: the physical bound, or the observed range rounded up.
    #[serde(with = "crate::engine::num")]
    pub bound: f64,
    /// True when the observed range looks physically bounded (a round power of ten or 2^k, π…).
    pub physical: bool,
    /// bound / 32768 (qint16), the suggestion.
    #[serde(with = "crate::engine::num")]
    pub scale_int16: f64,
}

/// The fixed scale suggested for row `r` (a QuantStub with a physically bounded input, or one the
/// calibrated scale clips), if any.
pub fn fixed_scale_for(r: &CompareRow, d: &RowDiagnosis, i: usize) -> Option<FixedScale> {
    if !(r.is_quant_stub() && r.quant_dtype.as_ref().and_then(qrange).is_some()) {
        return None;
    }
    let (bmin, bmax) = (r.base_min?, r.base_max?);
    let phys = [bmin, bmax]
        .into_iter()
        .filter_map(physical_bound)
        .fold(0.0, f64::max);
    let physical = phys > 0.0 && phys >= bmin.abs().max(bmax.abs()) * (1.0 - 1e-9);
    if !(physical || d.cause == Cause::Truncation) {
        return None;
    }
    let bound = if physical {
        phys
    } else {
        nice_ceil(bmin.abs().max(bmax.abs()))
    };
    Some(FixedScale {
        name: name_of(r, i),
        bound,
        physical,
        scale_int16: bound / 32768.0,
    })
}

/// Every fixed-scale suggestion in the loaded comparison tables (the .txt when a folder holds both
/// .txt and .csv), in row order, each name once.
pub fn fixed_scales(files: &[FileReport]) -> Vec<FixedScale> {
    let tables: Vec<&CompareTable> = files.iter().filter_map(|f| f.compare()).collect();
    fixed_scales_of(tables)
}

/// [`fixed_scales`] of some comparison tables (one run's).
pub fn fixed_scales_of(mut tables: Vec<&CompareTable>) -> Vec<FixedScale> {
    if tables.iter().any(|t| t.source == "txt") {
        tables.retain(|t| t.source == "txt");
    }
    let mut seen = std::collections::HashSet::new();
    tables
        .iter()
        .flat_map(|t| {
            t.rows
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match t.diag.get(i) {
                    Some(d) => fixed_scale_for(r, d, i),
                    // A table read but not yet diagnosed (the CLI's recommend): diagnose the row here.
                    None => fixed_scale_for(r, &diagnose_row(r), i),
                })
        })
        .filter(|f| seen.insert(f.name.clone()))
        .collect()
}

/// Downstream rows whose error came from upstream, grouped by where it started.
fn inherited(cf: &CompareFile) -> Vec<Finding> {
    let rows = &cf.table.rows;
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    // One pass: the origin of a row is the nearest row before it with its own error (clipped, or a
    // sharp fall of cosine), else the first bad row; both are carried along as the rows go by.
    let mut origin: Option<usize> = None;
    let mut first_bad: Option<usize> = None;
    let mut prev_cos: Option<f64> = None;
    for (i, d) in cf.diag.iter().enumerate() {
        let notable =
            rows[i].cosine.is_some_and(|c| c < 0.99) || rows[i].sqnr.is_some_and(|q| q < 20.0);
        if d.cause == Cause::Inherited && notable {
            if let Some(o) = origin.or(first_bad) {
                groups.entry(o).or_default().push(i);
            }
        }
        let c = rows[i].cosine;
        if first_bad.is_none() && c.is_some_and(|c| c < 0.99) {
            first_bad = Some(i);
        }
        let fell = matches!((prev_cos, c), (Some(p), Some(c)) if p - c > 0.01);
        if d.cause == Cause::Truncation || (fell && d.cause != Cause::Inherited) {
            origin = Some(i);
        }
        if c.is_some() {
            prev_cos = c;
        }
    }
    groups
        .into_iter()
        .map(|(o, members)| {
            let or = &rows[o];
            let names: Vec<String> = members.iter().map(|&i| name_of(&rows[i], i)).collect();
            let mut evidence: Vec<Evidence> = vec![row_ev(cf, o)];
            evidence.extend(members.iter().map(|&i| row_ev(cf, i)));
            let worst = members
                .iter()
                .filter_map(|&i| rows[i].max_qscale_diff)
                .fold(0.0, f64::max);
            Finding {
                kind: kind::INHERITED.into(),
                severity: Severity::Warning,
                layers: names.clone(),
                message: format!(
                    "{} downstream carry more error than their own quantization can make (up to {:.0} steps), with their ranges covered: the error arrived from upstream. It first appears at `{}` ({}, {}: {}).  Affected: {}.",
                    plural(names.len(), "layer", "layers"),
                    worst,
                    name_of(or, o),
                    row_ref(or, o),
                    or.op_short(),
                    cf.diag[o].cause.label(),
                    name_list(&names, 5)
                ),
                fix: format!(
                    "Fix the origin first: `{}` ({}). Changing these layers' own dtype or scale will not remove error that reaches them from upstream; re-run the comparison after the fix and these rows should recover.",
                    name_of(or, o),
                    row_ref(or, o)
                ),
                evidence,
                score: 10.0 + names.len() as f64,
                rank_reason: String::new(),
            }
        })
        .collect()
}

/// One module called several times with ranges one scale cannot serve.
fn shared_ranges(cf: &CompareFile) -> Vec<Finding> {
    let rows = &cf.table.rows;
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        if !r.mod_name.is_empty() && r.qscale.is_some() && r.base_max.is_some() {
            by_name.entry(&r.mod_name).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (name, idx) in by_name {
        if idx.len() < 2 {
            continue;
        }
        let mag = |i: usize| {
            rows[i]
                .base_min
                .unwrap_or(0.0)
                .abs()
                .max(rows[i].base_max.unwrap_or(0.0).abs())
        };
        let mags: Vec<f64> = idx.iter().map(|&i| mag(i)).collect();
        let lo = mags.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = mags.iter().cloned().fold(0.0, f64::max);
        let clipped: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| cf.diag[i].cause == Cause::Truncation)
            .collect();
        let fits = idx.len() - clipped.len();
        if !(hi > 2.0 * lo.max(f64::MIN_POSITIVE) || (!clipped.is_empty() && fits > 0)) {
            continue;
        }
        let calls: Vec<String> = idx
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                let d = &cf.diag[i];
                format!(
                    "call {} ({}) reaches {}{}",
                    k + 1,
                    row_ref(&rows[i], i),
                    fmt(mag(i)),
                    if d.cause == Cause::Truncation {
                        format!(", clipped by {}", fmt(d.clip_low.max(d.clip_high)))
                    } else {
                        ", fits".into()
                    }
                )
            })
            .collect();
        let r0 = &rows[idx[0]];
        let rep = cf.diag[idx[0]]
            .rep_max
            .map(|m| format!(" (covers ±{})", fmt(m)))
            .unwrap_or_default();
        out.push(Finding {
            kind: kind::SHARED_RANGE_MISMATCH.into(),
            severity: if clipped.is_empty() { Severity::Warning } else { Severity::Error },
            layers: vec![name.to_string()],
            message: format!(
                "`{name}` is called {} times and all calls share one scale {}{rep}: {}. The calls see different ranges, so one scale cannot serve them: the wide call is clipped or the narrow one loses resolution, and calibration averages statistics that do not belong together.",
                idx.len(),
                fmt(r0.qscale.unwrap_or(0.0)),
                calls.join("; ")
            ),
            fix: format!(
                "Give each call its own module instance (one per call site, e.g. `self.add_module(\"{}%d\" % i, ...)` in `__init__` and `getattr(self, \"{}%d\" % i)` in `forward`), so each call gets a scale for its own range.",
                name.rsplit('.').nth(1).unwrap_or(name),
                name.rsplit('.').nth(1).unwrap_or(name)
            ),
            evidence: idx.iter().map(|&i| row_ev(cf, i)).collect(),
            score: 40.0 + if clipped.is_empty() { 0.0 } else { 20.0 },
            rank_reason: format!(
                "one module, {} calls, ranges one scale cannot serve{}",
                idx.len(),
                if clipped.is_empty() { "" } else { "; a call is clipped" }
            ),
        });
    }
    out
}

/// Rows in a dtype the run is not supposed to use.
fn dtype_intent(cf: &CompareFile, intent: Intent) -> Vec<Finding> {
    let (wrong, want, severity) = match intent {
        Intent::AllInt16 => (DType::QInt8, "all-int16", Severity::Error),
        Intent::AllInt8 => (DType::QInt16, "all-int8", Severity::Warning),
        _ => return Vec::new(),
    };
    let idx: Vec<usize> = cf
        .table
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.quant_dtype.as_ref() == Some(&wrong))
        .map(|(i, _)| i)
        .collect();
    if idx.is_empty() {
        return Vec::new();
    }
    let mut names: Vec<String> = idx.iter().map(|&i| name_of(&cf.table.rows[i], i)).collect();
    names.dedup();
    vec![Finding {
        kind: kind::DTYPE_NOT_APPLIED.into(),
        severity,
        layers: names.clone(),
        message: format!(
            "This run is meant to be {want}, but {} still {} {wrong}: {}. The {} configuration has not taken effect for {}.",
            plural(idx.len(), "row", "rows"),
            if idx.len() == 1 { "is" } else { "are" },
            name_list(&names, 5),
            if intent == Intent::AllInt16 { "int16" } else { "int8" },
            if names.len() == 1 { "it" } else { "them" }
        ),
        fix: "Besides the setter, look for a qconfig set by hand on these modules (or a template such as a fixed-scale or GEMM template) that overrides the setter: earlier setters in the tuple win. Re-run prepare and check 'Each layer out qconfig' in model_check_result.txt.".into(),
        evidence: idx.iter().map(|&i| row_ev(cf, i)).collect(),
        score: 60.0,
        rank_reason: String::new(),
    }]
}

/// The advisor's rules (abnormal_layer_advisor), computed from the comparison rows.
fn advisor_rules(cf: &CompareFile) -> Vec<Finding> {
    let mut hits: BTreeMap<&'static str, Vec<(usize, String)>> = BTreeMap::new();
    for (i, r) in cf.table.rows.iter().enumerate() {
        let (bmin, bmax) = (r.base_min, r.base_max);
        if r.is_quant_stub() {
            if let (Some(a), Some(b)) = (bmin, bmax) {
                if a >= 0.0 || b <= 0.0 {
                    hits.entry(kind::ASYMMETRIC)
                        .or_default()
                        .push((i, format!("[{}, {}]", fmt(a), fmt(b))));
                }
                if b - a >= 128.0 && r.quant_dtype == Some(DType::QInt8) {
                    hits.entry(kind::LARGE_RANGE_INT8)
                        .or_default()
                        .push((i, format!("input range {}", fmt(b - a))));
                }
            }
        }
        let stats = [r.base_min, r.base_max, r.analy_min, r.analy_max];
        if stats.iter().flatten().any(|v| !v.is_finite()) {
            hits.entry(kind::INF_NAN)
                .or_default()
                .push((i, "inf/nan in min/max".into()));
            continue;
        }
        if r.cosine.is_none() || stats.iter().any(Option::is_none) {
            continue;
        }
        let dmax = r.dmax().unwrap_or(0.0);
        if dmax > 128.0 && r.quant_dtype == Some(DType::QInt8) && !r.is_quant_stub() {
            hits.entry(kind::LARGE_RANGE_INT8)
                .or_default()
                .push((i, format!("data range {}", fmt(2.0 * dmax))));
        }
        if dmax > 32768.0 {
            hits.entry(kind::RANGE_TOO_LARGE)
                .or_default()
                .push((i, format!("total data range {}", fmt(2.0 * dmax))));
        }
        if let (Some(s), Some((qmin, qmax))) = (r.qscale, r.quant_dtype.as_ref().and_then(qrange)) {
            let (amin, amax) = (r.analy_min.unwrap_or(0.0), r.analy_max.unwrap_or(0.0));
            let tol = cf.diag[i].tolerance.max(s);
            if qmin as f64 * s - amin > tol || amax - qmax as f64 * s > tol {
                hits.entry(kind::SCALE_NOT_COVER).or_default().push((
                    i,
                    format!(
                        "output [{}, {}] vs representable [{}, {}]",
                        fmt(amin),
                        fmt(amax),
                        fmt(qmin as f64 * s),
                        fmt(qmax as f64 * s)
                    ),
                ));
            }
        }
    }
    hits.into_iter()
        .map(|(k, v)| {
            let names: Vec<String> = v.iter().map(|(i, _)| name_of(&cf.table.rows[*i], *i)).collect();
            let detail = v
                .iter()
                .take(5)
                .map(|(i, d)| format!("`{}` {d}", name_of(&cf.table.rows[*i], *i)))
                .collect::<Vec<_>>()
                .join("; ");
            let more = if v.len() > 5 { format!("; and {} more", v.len() - 5) } else { String::new() };
            let (severity, what, fix): (Severity, &str, &str) = match k {
                kind::ASYMMETRIC => (Severity::Info, "QuantStub inputs entirely on one side of 0: symmetric quantization wastes half its codes on values that never occur", "Normalise the input symmetrically about 0 (e.g. map [0, 1] to [-1, 1]) before the QuantStub, or give it a fixed scale."),
                kind::LARGE_RANGE_INT8 => (Severity::Warning, "ranges of 128 or more quantized to int8: one step is at least 1.0, so values below that are lost in rounding", "Use int16 for these layers (Maybe use int16 quantization), or reduce their range."),
                kind::RANGE_TOO_LARGE => (Severity::Error, "data ranges beyond 32768: too large even for int16 with a step of 1", "Change the model structure or limit this output's range (clamp, normalise, or move the large-valued computation after dequant)."),
                kind::SCALE_NOT_COVER => (Severity::Warning, "quantized outputs beyond what their scale can represent: the fake quantization was probably not active when the statistics were taken", "Check whether fake quant was enabled for these layers during the analysis run (and that the scale in the row belongs to this output)."),
                _ => (Severity::Error, "inf or nan in the outputs", "Check whether this is expected; replace infinite constants and masks with finite values (e.g. 100 or -1) before quantization."),
            };
            Finding {
                kind: k.into(),
                severity,
                layers: names,
                message: format!("{}: {}{more}.", capitalise(what), detail),
                fix: fix.into(),
                evidence: v.iter().map(|(i, _)| row_ev(cf, *i)).collect(),
                score: 5.0,
                rank_reason: String::new(),
            }
        })
        .collect()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// An advisor rule's rows of one file: layer names, evidence, and the lines to quote.
type AdvisorGroup = (Vec<String>, Vec<Evidence>, Vec<String>);

/// `abnormal_layer_advisor.txt` rows: cited on the matching computed finding, or reported on their own
/// when no comparison table is loaded.
fn advisor_files(files: &[FileReport], compares: &[CompareFile], out: &mut Vec<FileFinding>) {
    for (fi, f) in files.iter().enumerate() {
        if f.format != Some(super::detect::Format::Advisor) {
            continue;
        }
        for t in f.tables() {
            let c_name = t.column("mod_name");
            let c_info = t.column("abnormal_info");
            let c_adv = t.column("advice");
            let mut own: BTreeMap<&'static str, AdvisorGroup> = BTreeMap::new();
            for i in 0..t.rows.len() {
                let info = t.cell(i, c_info);
                let name = t.cell(i, c_name).to_string();
                let k = if info.contains("Asymmetric") {
                    kind::ASYMMETRIC
                } else if info.contains("Large input range") || info.contains("too large for int8")
                {
                    kind::LARGE_RANGE_INT8
                } else if info.contains("Total data range") {
                    kind::RANGE_TOO_LARGE
                } else if info.contains("does not cover") {
                    kind::SCALE_NOT_COVER
                } else if info.contains("inf/nan") {
                    kind::INF_NAN
                } else if info.contains("not in high precision") {
                    kind::LOW_PRECISION_OUTPUT
                } else {
                    "advisor"
                };
                let ev = Evidence {
                    table: t.id.clone(),
                    row: i,
                    line: t.rows[i].line,
                    file: Some(fi),
                };
                // Cite the advisor row on the computed finding for the same layer, if there is one.
                if let Some(existing) = out.iter_mut().find(|x| {
                    x.finding.kind == k
                        && compares.iter().any(|c| c.file == x.file)
                        && x.finding.layers.contains(&name)
                }) {
                    existing.finding.evidence.push(ev);
                    continue;
                }
                let e = own.entry(k).or_default();
                e.0.push(name.clone());
                e.1.push(ev);
                let advice = t.cell(i, c_adv).trim();
                e.2.push(if advice.is_empty() {
                    format!("`{name}`: {}", info.trim())
                } else {
                    format!("`{name}`: {} → {advice}", info.trim())
                });
            }
            for (k, (names, evidence, lines)) in own {
                let severity = match k {
                    kind::RANGE_TOO_LARGE | kind::INF_NAN => Severity::Error,
                    kind::ASYMMETRIC | "advisor" => Severity::Info,
                    _ => Severity::Warning,
                };
                let mut evidence = evidence;
                for e in &mut evidence {
                    e.file = None;
                }
                out.push(FileFinding {
                    file: fi,
                    finding: Finding {
                        kind: k.to_string(),
                        severity,
                        layers: names,
                        message: format!("The advisor flags: {}.", lines.iter().take(6).cloned().collect::<Vec<_>>().join("; ").trim_end_matches('.')),
                        fix: if compares.is_empty() {
                            "Follow the advice in each row; load compare_per_layer_out.txt as well and QuantLens explains each layer's range and error in detail.".into()
                        } else {
                            "Follow the advice in each row; the layer comparison loaded beside it shows each of these layers' range and error (open the layer's row).".into()
                        },
                        evidence,
                        score: 4.0,
                        rank_reason: String::new(),
                    },
                });
            }
        }
    }
}

/// The sensitivity table itself: its top ops (linked to their comparison rows) and its tail health.
fn sensitivity_findings(t: &SensitivityTable, compares: &[CompareFile]) -> Vec<Finding> {
    let mut out = Vec::new();
    if t.rows.is_empty() {
        return out;
    }
    let top: Vec<usize> = (0..t.rows.len().min(TOP_SENSITIVE)).collect();
    let names: Vec<String> = top.iter().map(|&i| t.rows[i].op_name.clone()).collect();
    let causes: Vec<String> = top
        .iter()
        .map(|&i| {
            let r = &t.rows[i];
            let why = compares
                .iter()
                .flat_map(|c| {
                    c.table
                        .rows
                        .iter()
                        .zip(c.diag)
                        .filter(|(row, _)| row.mod_name == r.op_name)
                })
                .map(|(_, d)| d.cause.label())
                .collect::<Vec<_>>();
            let mut why = why;
            why.dedup();
            format!(
                "{}. `{}` ({}, {}{}) {}{}",
                i + 1,
                r.op_name,
                r.op_type.rsplit('.').next().unwrap_or(&r.op_type),
                r.sensitive_type,
                r.quant_dtype
                    .as_ref()
                    .map(|d| format!(", {d}"))
                    .unwrap_or_default(),
                r.value.map(fmt).unwrap_or_default(),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(" → {}", why.join(" / "))
                }
            )
        })
        .collect();
    let stub_share = top
        .iter()
        .filter(|&&i| t.rows[i].op_type.ends_with("QuantStub"))
        .count();
    let stubs = if stub_share * 2 >= top.len() && stub_share > 1 {
        " Most of the top ops are QuantStubs: the inputs' scales matter most (look at their ranges; consider fixed scales)."
    } else {
        ""
    };
    out.push(Finding {
        kind: kind::SENSITIVE_OPS.into(),
        severity: Severity::Info,
        layers: names,
        message: format!(
            "The ops whose quantization alone moves {} most ({} when only that op is quantized): {}.{stubs}",
            t.output.as_deref().map(|o| format!("output `{o}`")).unwrap_or_else(|| "the model output".into()),
            t.metric,
            causes.join("; ")
        ),
        fix: format!(
            "Start with the top ops: read each one's comparison rows to see whether its error is rounding (finer dtype, split ranges) or truncation (scale, calibration, fixed scale). To trade accuracy for speed, set the top of this table to int16 (the sensitivity setter's ratio/topk picks from its top {} rows).",
            t.rows.len()
        ),
        evidence: top
            .iter()
            .map(|&i| Evidence { table: t.doc.id.clone(), row: i, line: t.rows[i].line, file: None })
            .collect(),
        score: 15.0,
        // Which table (several are usual: one per output and metric); the triage adds why.
        rank_reason: format!("sensitivity {}", t.label()),
    });
    // Tail health: real tables list every op; a short table is a top-N excerpt and says nothing.
    if t.rows.len() >= 20 {
        let n_tail = (t.rows.len() / 20).max(3);
        let tail: Vec<usize> = (t.rows.len() - n_tail..t.rows.len()).collect();
        let err = |v: f64| {
            if t.metric.eq_ignore_ascii_case("cosine") {
                1.0 - v
            } else {
                v
            }
        };
        let top_err = t.rows[0].value.map(err).unwrap_or(0.0);
        let mut tail_vals: Vec<f64> = tail.iter().filter_map(|&i| t.rows[i].value).collect();
        tail_vals.sort_by(f64::total_cmp);
        let median = tail_vals.get(tail_vals.len() / 2).copied();
        let bad = if t.metric.eq_ignore_ascii_case("sqnr") {
            median.is_some_and(|m| m < 40.0)
        } else {
            median.is_some_and(|m| top_err > 0.0 && err(m) > 0.01 * top_err)
        };
        if bad {
            let m = median.unwrap_or(0.0);
            out.push(Finding {
                kind: kind::SENSITIVITY_TAIL_NOT_ZERO.into(),
                severity: Severity::Warning,
                layers: tail.iter().map(|&i| t.rows[i].op_name.clone()).collect(),
                message: format!(
                    "The least sensitive ops of this table still move {} by {} {} (median of the last {n_tail}; the top op: {}). Quantizing an op that hardly matters should leave the output almost exact, so the last rows should be near {}.",
                    t.output.as_deref().map(|o| format!("output `{o}`")).unwrap_or_else(|| "the model output".into()),
                    t.metric,
                    fmt(m),
                    t.rows[0].value.map(fmt).unwrap_or_default(),
                    if t.metric.eq_ignore_ascii_case("cosine") { "1" } else { "0" }
                ),
                fix: "Post-processing is probably still inside the analysed model (NMS, argmax/topk decoding, sigmoid on boxes): any single quantized op then flips discrete results and the error never gets small. Return the raw outputs before post-processing from the analysed forward (as the seed does for the map head) and run the sensitivity again.".into(),
                evidence: tail
                    .iter()
                    .map(|&i| Evidence { table: t.doc.id.clone(), row: i, line: t.rows[i].line, file: None })
                    .collect(),
                score: 25.0,
                rank_reason: String::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_and_physical_bounds() {
        assert_eq!(nice_ceil(10.27), 12.0);
        assert_eq!(nice_ceil(99.0), 100.0);
        assert_eq!(physical_bound(-99.0), Some(100.0));
        assert_eq!(physical_bound(0.9999269), Some(1.0));
        assert_eq!(physical_bound(10.27), None);
        assert_eq!(physical_bound(9.2183294), None);
    }
}
