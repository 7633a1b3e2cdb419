//! Two runs side by side: a run's compact summary from its loaded documents, and the per-layer deltas, sensitivity movement and findings fixed, new or kept between two summaries.
//!
//! Layers are matched by name (a name repeated in one table, as a shared module's calls are, is
//! matched by occurrence: `name`, `name (2)`, …); names only one run has are listed, not dropped.
//! Metric names are those of `quantlens compare --json` (`cosine`, `sqnr_db`, `mse`, `l1`, `kl`,
//! `atol`, `rtol`, `max_atol_diff`, `max_qscale_diff`, `qscale`, and the range columns).

use super::document::{run_keys, FileFinding, FileReport};
use super::journal::{FindingSummary, LayerSummary, Metrics, Num, RunSummary, SensOp, SensSummary};
use super::pairs::TensorComparison;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Ranks up to this are "the top" of a sensitivity table (an op leaving it is shown as such).
pub const TOP: usize = 10;

/// The summary of the files of one run (`run`: a key of [`run_keys`]; `None`: every file).
pub fn summarize(
    files: &[FileReport],
    findings: &[FileFinding],
    tensors: &TensorComparison,
    run: Option<&str>,
) -> RunSummary {
    let keys = run_keys(files);
    let in_run = |i: usize| run.is_none_or(|r| keys.get(i).map(String::as_str) == Some(r));
    let mut layers: Vec<LayerSummary> = Vec::new();
    // One comparison table per run: the txt when there is one (it is the one diagnosed), else the csv.
    let compare = (0..files.len())
        .filter(|&i| in_run(i))
        .filter_map(|i| files[i].compare())
        .min_by_key(|t| (t.source != "txt") as u8);
    if let Some(t) = compare {
        for r in &t.rows {
            let mut m = Metrics::new();
            let mut put = |k: &str, v: Option<f64>| {
                if let Some(v) = v {
                    m.insert(k.to_string(), Num(v));
                }
            };
            put("qscale", r.qscale);
            put("cosine", r.cosine);
            put("mse", r.mse);
            put("l1", r.l1);
            put("kl", r.kl);
            put("sqnr_db", r.sqnr);
            put("atol", r.atol);
            put("rtol", r.rtol);
            put("base_min", r.base_min);
            put("analy_min", r.analy_min);
            put("base_max", r.base_max);
            put("analy_max", r.analy_max);
            put("base_mean", r.base_mean);
            put("analy_mean", r.analy_mean);
            put("base_var", r.base_var);
            put("analy_var", r.analy_var);
            put("max_atol_diff", r.max_atol_diff);
            put("max_qscale_diff", r.max_qscale_diff);
            layers.push(LayerSummary {
                name: r.mod_name.clone(),
                metrics: m,
                dtype: r.quant_dtype.as_ref().map(|d| d.to_string()),
            });
        }
    }
    // Tensor pairs when the run has no comparison table (their names are tensors, the table's ops).
    for p in tensors.pairs.iter().filter(|_| compare.is_none()) {
        if run.is_some_and(|r| p.run != r && !(p.run.is_empty() && r.is_empty())) {
            continue;
        }
        let Some(x) = &p.metrics else { continue };
        let mut m = Metrics::new();
        for (k, v) in [
            ("cosine", x.cosine),
            ("mse", x.mse),
            ("l1", x.l1),
            ("kl", x.kl),
            ("sqnr_db", x.sqnr_db),
            ("atol", x.atol),
            ("rtol", x.rtol),
            ("base_min", x.base_min),
            ("analy_min", x.analy_min),
            ("base_max", x.base_max),
            ("analy_max", x.analy_max),
            ("base_mean", x.base_mean),
            ("analy_mean", x.analy_mean),
            ("base_var", x.base_var),
            ("analy_var", x.analy_var),
        ] {
            m.insert(k.to_string(), Num(v));
        }
        if let Some(q) = x.max_qscale_diff {
            m.insert("max_qscale_diff".into(), Num(q));
        }
        if let Some(s) = p.scale {
            m.insert("qscale".into(), Num(s));
        }
        layers.push(LayerSummary {
            name: p.name.clone(),
            metrics: m,
            dtype: None,
        });
    }
    let rest = summarize_rankings(files, findings, run);
    RunSummary { layers, ..rest }
}

/// A run's sensitivity tables and findings, without its layers (cheap: the next step's evidence).
pub fn summarize_rankings(
    files: &[FileReport],
    findings: &[FileFinding],
    run: Option<&str>,
) -> RunSummary {
    let keys = run_keys(files);
    let in_run = |i: usize| run.is_none_or(|r| keys.get(i).map(String::as_str) == Some(r));
    let mut sensitivity = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if !in_run(i) {
            continue;
        }
        if let Some(t) = f.sensitivity() {
            sensitivity.push(SensSummary {
                table: t.label(),
                metric: t.metric.clone(),
                ops: t
                    .rows
                    .iter()
                    .map(|r| SensOp {
                        name: r.op_name.clone(),
                        sensitive_type: r.sensitive_type.clone(),
                        value: r.value,
                        dtype: r.quant_dtype.as_ref().map(|d| d.to_string()),
                    })
                    .collect(),
            });
        }
    }
    let findings = findings
        .iter()
        .filter(|f| in_run(f.file))
        .map(|f| FindingSummary {
            kind: f.finding.kind.clone(),
            severity: f.finding.severity.as_str().to_string(),
            layers: f.finding.layers.clone(),
            message: f.finding.message.clone(),
        })
        .collect();
    RunSummary {
        layers: Vec::new(),
        sensitivity,
        findings,
    }
}

/// Whether a layer got better or worse from run A to run B, by [`RunDiff::primary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Improved,
    Worse,
    Same,
    /// The primary metric is missing or not a number in one run.
    Unknown,
}

/// One layer in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDelta {
    pub name: String,
    pub a: Metrics,
    pub b: Metrics,
    /// b − a for every metric both runs have.
    pub delta: Metrics,
    pub change: Change,
    /// The primary metric's change, signed so that positive is better (dB for SQNR).
    #[serde(with = "super::num")]
    pub gain: f64,
    #[serde(default)]
    pub dtype_a: Option<String>,
    #[serde(default)]
    pub dtype_b: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unmatched {
    pub a_only: Vec<String>,
    pub b_only: Vec<String>,
    /// Probably the same layer renamed: unmatched names at the same row of both tables (same
    /// dtype when both say it). Findings and sensitivity ranks follow these renames.
    #[serde(default)]
    pub renamed: Vec<Renamed>,
}

/// A layer of run A that is probably named `b` in run B.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Renamed {
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingDiff {
    /// In run A, not in run B, on layers run B still has.
    pub fixed: Vec<FindingSummary>,
    /// In run A on layers run B does not have (missing, not renamed): neither fixed nor kept.
    #[serde(default)]
    pub on_missing_layers: Vec<FindingSummary>,
    /// In run B, not in run A.
    pub new: Vec<FindingSummary>,
    pub kept: Vec<FindingSummary>,
}

/// How an op moved in a sensitivity ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// In the top [`TOP`] of run A, below it (or absent) in run B.
    LeftTop,
    /// Below the top in run A (or absent), in it in run B.
    EnteredTop,
    /// Ranked more sensitive in B.
    Up,
    /// Ranked less sensitive in B.
    Down,
    Same,
    OnlyA,
    OnlyB,
}

/// One op's rank in the two runs' sensitivity tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensMove {
    pub name: String,
    /// The table (`output 0 · L1`).
    pub table: String,
    /// 1-based rank (1 = most sensitive).
    pub rank_a: Option<usize>,
    pub rank_b: Option<usize>,
    #[serde(with = "super::num::opt")]
    pub value_a: Option<f64>,
    #[serde(with = "super::num::opt")]
    pub value_b: Option<f64>,
    pub movement: Movement,
    /// Whether its sensitivity dropped (the value by the table's metric; None when not in both).
    pub dropped: Option<bool>,
}

/// Run A against run B.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunDiff {
    /// The metric the layers are sorted and judged by (`sqnr_db`, else `cosine`, `mse`, `l1`).
    pub primary: String,
    /// Layers in both runs, largest change of the primary metric first.
    pub layers: Vec<LayerDelta>,
    pub unmatched: Unmatched,
    pub findings: FindingDiff,
    pub sensitivity: Vec<SensMove>,
}

impl RunDiff {
    pub fn improved(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| l.change == Change::Improved)
            .count()
    }
    pub fn worse(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| l.change == Change::Worse)
            .count()
    }
}

/// Names made unique by occurrence: the second `x` becomes `x (2)`.
fn occurrence_names<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    names
        .map(|n| {
            let k = seen.entry(n).or_insert(0);
            *k += 1;
            if *k == 1 {
                n.to_string()
            } else {
                format!("{n} ({k})")
            }
        })
        .collect()
}

/// Higher is better for these metrics; lower for the rest.
fn higher_is_better(metric: &str) -> bool {
    matches!(metric, "cosine" | "sqnr_db")
}

/// The signed improvement of `metric` from `a` to `b` (positive = better).
fn gain(metric: &str, a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    if higher_is_better(metric) {
        b - a
    } else {
        a - b
    }
}

/// Compare two runs' summaries, judged by SQNR (else Cosine, MSE, L1: the first both runs give).
pub fn diff(a: &RunSummary, b: &RunSummary) -> RunDiff {
    diff_by(a, b, None)
}

/// Compare two runs' summaries, the layers judged and sorted by `by` (a metric name as
/// `compare --json` writes it; higher is better for `cosine` and `sqnr_db`, lower for the rest), or
/// by the default when `None`.
pub fn diff_by(a: &RunSummary, b: &RunSummary, by: Option<&str>) -> RunDiff {
    let names_a = occurrence_names(a.layers.iter().map(|l| l.name.as_str()));
    let names_b = occurrence_names(b.layers.iter().map(|l| l.name.as_str()));
    let index_b: HashMap<&str, usize> = names_b
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let index_a: HashSet<&str> = names_a.iter().map(String::as_str).collect();
    // The primary metric: the first both runs give for most matched layers.
    let matched: Vec<(usize, usize)> = names_a
        .iter()
        .enumerate()
        .filter_map(|(i, n)| index_b.get(n.as_str()).map(|&j| (i, j)))
        .collect();
    let primary = by
        .into_iter()
        .chain(["sqnr_db", "cosine", "mse", "l1"])
        .find(|m| {
            let have = matched
                .iter()
                .filter(|&&(i, j)| {
                    a.layers[i].metrics.contains_key(*m) && b.layers[j].metrics.contains_key(*m)
                })
                .count();
            have * 2 > matched.len()
        })
        .unwrap_or("sqnr_db")
        .to_string();
    let mut layers: Vec<LayerDelta> = matched
        .iter()
        .map(|&(i, j)| {
            let (la, lb) = (&a.layers[i], &b.layers[j]);
            let mut delta = Metrics::new();
            for (k, va) in &la.metrics {
                if let Some(vb) = lb.metrics.get(k) {
                    let d = if va.0 == vb.0 { 0.0 } else { vb.0 - va.0 };
                    delta.insert(k.clone(), Num(d));
                }
            }
            let g = match (la.metrics.get(&primary), lb.metrics.get(&primary)) {
                (Some(x), Some(y)) if !x.0.is_nan() && !y.0.is_nan() => gain(&primary, x.0, y.0),
                _ => f64::NAN,
            };
            let change = if g.is_nan() {
                Change::Unknown
            } else if g == 0.0 {
                Change::Same
            } else if g > 0.0 {
                Change::Improved
            } else {
                Change::Worse
            };
            LayerDelta {
                name: names_a[i].clone(),
                a: la.metrics.clone(),
                b: lb.metrics.clone(),
                delta,
                change,
                gain: g,
                dtype_a: la.dtype.clone(),
                dtype_b: lb.dtype.clone(),
            }
        })
        .collect();
    // Largest |change| first; unknown last; ties keep table order.
    layers.sort_by(|x, y| {
        let k = |g: f64| if g.is_nan() { -1.0 } else { g.abs() };
        k(y.gain).total_cmp(&k(x.gain))
    });
    // Renames: unmatched names at the same row of both tables.
    let renamed: Vec<Renamed> = (0..names_a.len().min(names_b.len()))
        .filter(|&k| {
            !index_b.contains_key(names_a[k].as_str())
                && !index_a.contains(names_b[k].as_str())
                && match (&a.layers[k].dtype, &b.layers[k].dtype) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                }
        })
        .map(|k| Renamed {
            a: names_a[k].clone(),
            b: names_b[k].clone(),
        })
        .collect();
    let unmatched = Unmatched {
        a_only: names_a
            .iter()
            .filter(|n| !index_b.contains_key(n.as_str()))
            .cloned()
            .collect(),
        b_only: names_b
            .iter()
            .filter(|n| !index_a.contains(n.as_str()))
            .cloned()
            .collect(),
        renamed,
    };
    // B's names as A calls them (renames followed back), so findings and ranks line up.
    let back: HashMap<&str, &str> = unmatched
        .renamed
        .iter()
        .map(|r| (r.b.as_str(), r.a.as_str()))
        .collect();
    let missing: HashSet<&str> = unmatched
        .a_only
        .iter()
        .map(String::as_str)
        .filter(|n| !unmatched.renamed.iter().any(|r| r.a == *n))
        .collect();
    let findings = finding_diff(&a.findings, &b.findings, &back, &missing);
    let sensitivity = sensitivity_moves(&a.sensitivity, &b.sensitivity, &back);
    RunDiff {
        primary,
        layers,
        unmatched,
        findings,
        sensitivity,
    }
}

fn finding_diff(
    a: &[FindingSummary],
    b: &[FindingSummary],
    back: &HashMap<&str, &str>,
    missing: &HashSet<&str>,
) -> FindingDiff {
    // B's findings keyed with their layers named as in A.
    let key_b = |f: &FindingSummary| {
        let mut g = f.clone();
        for l in &mut g.layers {
            if let Some(x) = back.get(l.as_str()) {
                *l = x.to_string();
            }
        }
        g.key()
    };
    let ka: HashSet<_> = a.iter().map(FindingSummary::key).collect();
    let kb: HashSet<_> = b.iter().map(key_b).collect();
    let gone = |f: &FindingSummary| {
        !f.layers.is_empty() && f.layers.iter().all(|l| missing.contains(l.as_str()))
    };
    let (mut fixed, mut on_missing_layers) = (Vec::new(), Vec::new());
    for f in a.iter().filter(|f| !kb.contains(&f.key())) {
        if gone(f) {
            on_missing_layers.push(f.clone());
        } else {
            fixed.push(f.clone());
        }
    }
    FindingDiff {
        fixed,
        on_missing_layers,
        new: b
            .iter()
            .filter(|f| !ka.contains(&key_b(f)))
            .cloned()
            .collect(),
        kept: b
            .iter()
            .filter(|f| ka.contains(&key_b(f)))
            .cloned()
            .collect(),
    }
}

/// Tables matched by label; when each run has one table, those two are matched whatever their labels.
fn sensitivity_moves(
    a: &[SensSummary],
    b: &[SensSummary],
    back: &HashMap<&str, &str>,
) -> Vec<SensMove> {
    let mut pairs: Vec<(&SensSummary, &SensSummary)> = a
        .iter()
        .filter_map(|ta| b.iter().find(|tb| tb.table == ta.table).map(|tb| (ta, tb)))
        .collect();
    if pairs.is_empty() && a.len() == 1 && b.len() == 1 {
        pairs.push((&a[0], &b[0]));
    }
    let mut out = Vec::new();
    for (ta, tb) in pairs {
        let ranks = |t: &SensSummary| -> BTreeMap<String, (usize, Option<f64>)> {
            let names = occurrence_names(t.ops.iter().map(|o| o.name.as_str()));
            names
                .into_iter()
                .zip(&t.ops)
                .enumerate()
                .map(|(i, (n, o))| (n, (i + 1, o.value)))
                .collect()
        };
        let (ra, mut rb) = (ranks(ta), ranks(tb));
        // Renamed ops are ranked under their name in A.
        rb = rb
            .into_iter()
            .map(|(n, v)| (back.get(n.as_str()).map_or(n.clone(), |x| x.to_string()), v))
            .collect();
        // Lower is more sensitive for Cosine and SQNR tables; higher for the error metrics.
        let ascending = super::sensitivity::metric_ascending(&ta.metric);
        let mut names: Vec<&String> = ra.keys().chain(rb.keys()).collect();
        names.sort();
        names.dedup();
        for n in names {
            let (rank_a, value_a) = ra.get(n).map_or((None, None), |&(r, v)| (Some(r), v));
            let (rank_b, value_b) = rb.get(n).map_or((None, None), |&(r, v)| (Some(r), v));
            let movement = match (rank_a, rank_b) {
                (Some(x), Some(y)) if x <= TOP && y > TOP => Movement::LeftTop,
                (Some(_), None) if rank_a.is_some_and(|x| x <= TOP) => Movement::LeftTop,
                (Some(x), Some(y)) if x > TOP && y <= TOP => Movement::EnteredTop,
                (None, Some(y)) if y <= TOP => Movement::EnteredTop,
                (Some(x), Some(y)) if y < x => Movement::Up,
                (Some(x), Some(y)) if y > x => Movement::Down,
                (Some(_), Some(_)) => Movement::Same,
                (Some(_), None) => Movement::OnlyA,
                _ => Movement::OnlyB,
            };
            let dropped = match (value_a, value_b) {
                (Some(x), Some(y)) if !x.is_nan() && !y.is_nan() => {
                    Some(if ascending { y > x } else { y < x })
                }
                _ => None,
            };
            out.push(SensMove {
                name: n.clone(),
                table: ta.table.clone(),
                rank_a,
                rank_b,
                value_a,
                value_b,
                movement,
                dropped,
            });
        }
    }
    out.sort_by_key(|m| {
        (
            m.table.clone(),
            m.rank_a.unwrap_or(usize::MAX),
            m.rank_b.unwrap_or(usize::MAX),
        )
    });
    out
}
