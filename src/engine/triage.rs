//! Triage: order findings by their measured impact, and say why each stands where it does. A loaded
//! sensitivity table decides first (an op's rank in it is the measured effect of its quantization on
//! the output); then what dumps measured (the error split); then what the rows show (clipped share,
//! Cosine). A clip made harmless by the next op (hardswish's `Add → Clip(0, 6)`) goes to the bottom.

use super::document::{FileFinding, FileReport};
use super::findings::{kind, Severity};
use std::collections::HashMap;

/// Best (lowest) rank of each op over the loaded sensitivity tables: (rank from 0, table length, label).
fn sensitivity_ranks(
    files: &[FileReport],
    runs: &[String],
    run: &str,
) -> HashMap<String, (usize, usize, String)> {
    let mut out: HashMap<String, (usize, usize, String)> = HashMap::new();
    for (fi, f) in files.iter().enumerate() {
        if runs[fi] != run {
            continue;
        }
        let Some(t) = f.sensitivity() else { continue };
        let n = t.rows.len();
        for (rank, r) in t.rows.iter().enumerate() {
            let e = out.entry(r.op_name.clone()).or_insert((rank, n, t.label()));
            if (rank as f64) / (n as f64) < (e.0 as f64) / (e.1 as f64) {
                *e = (rank, n, t.label());
            }
        }
    }
    out
}

/// Kinds that are about one layer's own rows, so its sensitivity rank measures their impact.
fn is_layer_kind(k: &str) -> bool {
    matches!(
        k,
        kind::TRUNCATION
            | kind::ROUNDING
            | kind::INHERITED
            | kind::FIXED_SCALE
            | kind::SHARED_RANGE_MISMATCH
            | kind::COLLAPSED_OUTPUT
            | kind::ASYMMETRIC
            | kind::LARGE_RANGE_INT8
            | kind::RANGE_TOO_LARGE
            | kind::SCALE_NOT_COVER
    )
}

/// Set each finding's impact (`score`) and `rank_reason`, and sort most important first.
pub fn triage(findings: &mut [FileFinding], files: &[FileReport]) {
    // Ranks come from the sensitivity tables of the finding's own run.
    let runs = super::document::run_keys(files);
    let mut by_run: HashMap<String, HashMap<String, (usize, usize, String)>> = HashMap::new();
    for r in &runs {
        if !by_run.contains_key(r) {
            by_run.insert(r.clone(), sensitivity_ranks(files, &runs, r));
        }
    }
    let empty = HashMap::new();
    for ff in findings.iter_mut() {
        let sens = runs
            .get(ff.file)
            .and_then(|r| by_run.get(r))
            .unwrap_or(&empty);
        let tables_loaded = !sens.is_empty();
        let f = &mut ff.finding;
        let base = match f.severity {
            Severity::Error => 50.0,
            Severity::Warning => 25.0,
            Severity::Info => 5.0,
        };
        let own = (f.score.clamp(0.0, 200.0)) / 8.0;
        let own_reason = if f.rank_reason.is_empty() {
            format!(
                "{} by its rule ({})",
                f.severity.as_str(),
                f.kind.replace('_', " ")
            )
        } else {
            f.rank_reason.clone()
        };
        let best = f
            .layers
            .iter()
            .filter_map(|l| sens.get(l).map(|x| (l, x)))
            .min_by(|a, b| {
                ((a.1 .0 as f64) / (a.1 .1 as f64)).total_cmp(&((b.1 .0 as f64) / (b.1 .1 as f64)))
            });
        let (impact, reason) = if f.kind == kind::INHERITED {
            // Error that arrived from upstream: it points at its origin, which has its own place.
            (
                (base + own).min(60.0),
                format!("arrives from upstream (fix the origin first); {own_reason}"),
            )
        } else if f.kind == kind::NONFINITE && f.severity == Severity::Error {
            // NaN/∞ made by the quantized model: no other error can be judged past it.
            (
                120.0,
                format!("{own_reason}: every metric downstream is NaN"),
            )
        } else if f.kind == kind::INF_NAN && f.severity == Severity::Error {
            // inf/nan in the statistics: the layers past it cannot be judged either.
            (
                115.0,
                format!("{own_reason}: inf/nan in the statistics, before the sensitive ops"),
            )
        } else if f.kind == kind::SENSITIVE_OPS {
            (
                110.0,
                if f.rank_reason.is_empty() {
                    "the sensitivity table's own top ops: start here (the seed's first step)"
                        .to_string()
                } else {
                    format!(
                        "{}: the table's own top ops, start here (the seed's first step)",
                        f.rank_reason
                    )
                },
            )
        } else if f.rank_reason.starts_with("harmless") {
            (1.0, own_reason)
        } else if let (Some((_, (rank, n, label))), true) = (best, is_layer_kind(&f.kind)) {
            let frac = *rank as f64 / (*n).max(1) as f64;
            let bonus = match f.severity {
                Severity::Error => 5.0,
                Severity::Warning => 2.0,
                Severity::Info => 0.0,
            };
            (
                100.0 * (1.0 - frac) + bonus,
                format!(
                    "#{} of {} in sensitivity {label}; {own_reason}",
                    rank + 1,
                    n
                ),
            )
        } else if tables_loaded && is_layer_kind(&f.kind) && f.kind != kind::COLLAPSED_OUTPUT {
            (
                (base + own).min(45.0),
                format!("not in the loaded sensitivity tables; {own_reason}"),
            )
        } else {
            (base + own, own_reason)
        };
        f.score = impact;
        f.rank_reason = reason;
    }
    // Stable: equal impact keeps severity, then the analyzers' order.
    findings.sort_by(|a, b| {
        b.finding
            .score
            .total_cmp(&a.finding.score)
            .then(a.finding.severity.cmp(&b.finding.severity))
    });
}
