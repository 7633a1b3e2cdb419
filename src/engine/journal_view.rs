//! The journal as the UI draws it: the seed's table of runs (branch metrics × runs, target met or not), the next steps, a run's form, and two runs compared.

use super::intent::Intent;
use super::journal::{pct_text, Journal, JournalRun, RunFile, RunSummary, Stage};
use super::nextstep::{next_steps, NextStep};
use super::rundiff::RunDiff;
use super::session::Analysis;
use serde::{Deserialize, Serialize};

/// A run as the user fills it in (accuracy as typed, one text per branch metric in the journal's
/// order; empty = not measured).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunForm {
    pub name: String,
    pub stage: Stage,
    pub precision: Intent,
    /// The int16 ratio in percent, as typed.
    pub ratio: String,
    /// Changed ops, separated by commas, spaces or lines.
    pub changed_ops: String,
    pub note: String,
    pub accuracy: Vec<String>,
}

/// One branch metric's row of the table: float, target and each run's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub label: String,
    pub lower_is_better: bool,
    #[serde(with = "super::num::opt")]
    pub float: Option<f64>,
    #[serde(with = "super::num::opt")]
    pub target: Option<f64>,
    /// One per run (the runs' order), with whether it meets the target.
    pub cells: Vec<(Option<f64>, Option<bool>)>,
}

/// One run's column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunColumn {
    pub id: String,
    pub name: String,
    /// `all-int16 calibration`, `int8 + 0.5% int16 qat`, `float`.
    pub kind: String,
    pub form: RunForm,
    pub created_ms: f64,
    pub files: Vec<RunFile>,
    /// What it keeps for comparisons (0 when saved without reports).
    pub layers: usize,
    pub sensitivity_tables: usize,
    pub findings: usize,
    /// Met on every branch with a target (None: nothing to judge).
    pub met: Option<bool>,
}

/// (branch metric, run A's value, run B's, B − A).
pub type AccuracyDelta = (String, Option<f64>, Option<f64>, Option<f64>);

/// Two runs compared, with their accuracy per branch metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffView {
    pub a: String,
    pub b: String,
    pub a_name: String,
    pub b_name: String,
    pub accuracy: Vec<AccuracyDelta>,
    /// Why there is no layer diff (a run kept no analysis), when there is none.
    pub missing: Option<String>,
    /// The diff, its lists cut to [`DIFF_SHOWN`] layers each way and findings each kind (the
    /// counts below are of the whole; the full diff downloads as JSON).
    pub diff: RunDiff,
    /// The metrics both runs give (what the layers can be judged by).
    pub metrics: Vec<String>,
    /// The ops run B changed on purpose, as they moved in the sensitivity tables (the seed's
    /// "the sensitivity of the modified op dropped" check).
    pub changed: Vec<super::rundiff::SensMove>,
    pub layers_total: usize,
    pub improved: usize,
    pub worse: usize,
    pub fixed: usize,
    pub new: usize,
    pub kept: usize,
}

/// Layers shown per direction, and findings per kind, in the panel.
pub const DIFF_SHOWN: usize = 200;

/// Everything the journal panel draws.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JournalView {
    pub allowed_loss_pct: f64,
    /// The branch metrics as typed (`dynamic mAP, static mAP`).
    pub metrics_text: String,
    pub metric_labels: Vec<String>,
    pub rows: Vec<MetricRow>,
    pub runs: Vec<RunColumn>,
    pub next: Vec<NextStep>,
    /// The loaded reports' runs that can be saved (folder names; `""` = all loaded files as one).
    pub loaded: Vec<String>,
    pub compare: Option<DiffView>,
    /// Why this browser cannot keep the journal (None: it is kept in IndexedDB).
    #[serde(default)]
    pub not_kept: Option<String>,
}

/// The journal view. `current` is the loaded reports' summary; `loaded` their run folders;
/// `compare` two runs compared (see [`compare_view`], which the caller may keep between views).
pub fn journal_view(
    j: &Journal,
    current: Option<&RunSummary>,
    loaded: Vec<String>,
    compare: Option<DiffView>,
) -> JournalView {
    let rows = j
        .metrics
        .iter()
        .map(|d| MetricRow {
            label: d.label(),
            lower_is_better: d.lower_is_better,
            float: j.float_value(d),
            target: j.target(d),
            cells: j.runs.iter().map(|r| (r.value(d), j.met(r, d))).collect(),
        })
        .collect();
    let runs = j
        .runs
        .iter()
        .map(|r| {
            let judged: Vec<bool> = j.metrics.iter().filter_map(|d| j.met(r, d)).collect();
            let s = r.summary.as_ref();
            RunColumn {
                id: r.id.clone(),
                name: r.name.clone(),
                kind: r.kind_label(),
                form: form_of(j, r),
                created_ms: r.created_ms,
                files: r.files.clone(),
                layers: s.map_or(0, |s| s.layers.len()),
                sensitivity_tables: s.map_or(0, |s| s.sensitivity.len()),
                findings: s.map_or(0, |s| s.findings.len()),
                met: (!judged.is_empty() && r.stage != Stage::Float)
                    .then(|| judged.iter().all(|&m| m)),
            }
        })
        .collect();
    JournalView {
        allowed_loss_pct: j.allowed_loss_pct,
        metrics_text: super::journal::metric_defs_text(&j.metrics),
        metric_labels: j.metrics.iter().map(|d| d.label()).collect(),
        rows,
        runs,
        next: next_steps(j, current),
        loaded,
        compare,
        not_kept: None,
    }
}

/// Two runs of the journal compared, the layers judged by `by` (None: the default metric); None
/// when a run is not in it.
pub fn compare_view(j: &Journal, a: &str, b: &str, by: Option<&str>) -> Option<DiffView> {
    let (ra, rb) = (j.run(a)?, j.run(b)?);
    let accuracy = j
        .metrics
        .iter()
        .map(|d| {
            let (x, y) = (ra.value(d), rb.value(d));
            (d.label(), x, y, x.zip(y).map(|(x, y)| y - x))
        })
        .collect();
    let no = |r: &JournalRun| {
        r.summary
            .as_ref()
            .is_none_or(RunSummary::is_empty)
            .then(|| format!("“{}” was saved without reports", r.name))
    };
    let missing = match (no(ra), no(rb)) {
        (Some(x), Some(y)) => Some(format!("{x}; {y}: only the accuracy can be compared")),
        (Some(x), None) | (None, Some(x)) => {
            Some(format!("{x}: only the accuracy can be compared"))
        }
        (None, None) => None,
    };
    let d = match (&ra.summary, &rb.summary, &missing) {
        (Some(x), Some(y), None) => super::rundiff::diff_by(x, y, by),
        _ => RunDiff::default(),
    };
    let (layers_total, improved, worse) = (d.layers.len(), d.improved(), d.worse());
    let (fixed, new, kept) = (
        d.findings.fixed.len(),
        d.findings.new.len(),
        d.findings.kept.len(),
    );
    let metrics = d
        .layers
        .first()
        .map(|l| l.delta.keys().cloned().collect())
        .unwrap_or_default();
    let changed = d
        .sensitivity
        .iter()
        .filter(|m| rb.changed_ops.contains(&m.name))
        .cloned()
        .collect();
    let mut d = d;
    let mut w = 0;
    let mut i = 0;
    d.layers.retain(|l| match l.change {
        super::rundiff::Change::Worse => {
            w += 1;
            w <= DIFF_SHOWN
        }
        super::rundiff::Change::Improved => {
            i += 1;
            i <= DIFF_SHOWN
        }
        _ => false,
    });
    d.findings.fixed.truncate(DIFF_SHOWN);
    d.findings.new.truncate(DIFF_SHOWN);
    d.findings.kept.truncate(DIFF_SHOWN);
    Some(DiffView {
        a: ra.id.clone(),
        b: rb.id.clone(),
        a_name: ra.name.clone(),
        b_name: rb.name.clone(),
        accuracy,
        missing,
        diff: d,
        metrics,
        changed,
        layers_total,
        improved,
        worse,
        fixed,
        new,
        kept,
    })
}

/// A run's values as its form shows them.
fn form_of(j: &Journal, r: &JournalRun) -> RunForm {
    RunForm {
        name: r.name.clone(),
        stage: r.stage,
        precision: r.precision,
        ratio: r
            .int16_ratio_pct
            .map(|v| pct_text(v).trim_end_matches('%').to_string())
            .unwrap_or_default(),
        changed_ops: r.changed_ops.join(", "),
        note: r.note.clone(),
        accuracy: j
            .metrics
            .iter()
            .map(|d| r.value(d).map(|v| format!("{v}")).unwrap_or_default())
            .collect(),
    }
}

/// Fill a run from its form (the accuracy texts in the journal's metric order). The error says
/// which field is wrong.
pub fn apply_form(j: &Journal, run: &mut JournalRun, f: &RunForm) -> Result<(), String> {
    let name = f.name.trim();
    if name.is_empty() {
        return Err("give the run a name".into());
    }
    run.name = name.chars().take(200).collect();
    run.stage = f.stage;
    run.precision = f.precision;
    let ratio = f.ratio.trim().trim_end_matches('%').trim();
    run.int16_ratio_pct = if ratio.is_empty() {
        None
    } else {
        match ratio.parse::<f64>() {
            Ok(v) if (0.0..=100.0).contains(&v) => Some(v),
            _ => {
                return Err(format!(
                    "int16 ratio {ratio:?} is not a percentage between 0 and 100"
                ))
            }
        }
    };
    run.changed_ops = f
        .changed_ops
        .split([',', '\n', ' ', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    run.note = f.note.chars().take(2000).collect();
    for (d, t) in j.metrics.iter().zip(&f.accuracy) {
        let t = t.trim();
        let v = if t.is_empty() {
            None
        } else {
            match super::num::parse_text(t) {
                Some(v) if v.is_finite() => Some(v),
                _ => return Err(format!("{}: {t:?} is not a number", d.label())),
            }
        };
        run.set_value(d, v);
    }
    Ok(())
}

/// A new run from its form, with the loaded reports of one run folder (`Some("")`: all loaded
/// files; `None`: no reports) summarized into it.
pub fn new_run(
    j: &Journal,
    f: &RunForm,
    analysis: &Analysis,
    with: Option<&str>,
    now_ms: f64,
) -> Result<JournalRun, String> {
    let mut run = JournalRun::new(j.new_id(now_ms), String::new(), now_ms);
    apply_form(j, &mut run, f)?;
    if let Some(key) = with {
        let keys = super::document::run_keys(&analysis.files);
        let want = (!key.is_empty()).then_some(key);
        run.files = analysis
            .files
            .iter()
            .zip(&keys)
            .filter(|(x, k)| {
                x.error.is_none()
                    && !matches!(x.document, Some(super::document::Document::Journal { .. }))
                    && want.is_none_or(|w| w == k.as_str())
            })
            .map(|(x, _)| RunFile {
                name: x.name.clone(),
                size_bytes: x.size_bytes,
                format: x.format_label.clone().unwrap_or_default(),
            })
            .collect();
        let s =
            super::rundiff::summarize(&analysis.files, &analysis.findings, &analysis.tensors, want);
        if s.is_empty() {
            return Err(match want {
                Some(k) => format!("the loaded folder {k:?} has no layer comparison, sensitivity table or finding to keep"),
                None => "the loaded files have no layer comparison, sensitivity table or finding to keep".into(),
            });
        }
        run.summary = Some(s);
    }
    Ok(run)
}

/// The run folders of the loaded files that can be saved as runs (`""` when they are one run).
pub fn loaded_runs(analysis: &Analysis) -> Vec<String> {
    let keys = super::document::run_keys(&analysis.files);
    let mut out: Vec<String> = keys
        .into_iter()
        .zip(&analysis.files)
        .filter(|(_, f)| f.error.is_none() && !is_journal_file(f))
        .map(|(k, _)| k)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The sensitivity tables of everything loaded and the findings that name their top ops (evidence
/// for the next step; the other findings are left out, so a big analysis costs little).
pub fn current_summary(analysis: &Analysis) -> Option<RunSummary> {
    let tops: std::collections::HashSet<&str> = analysis
        .files
        .iter()
        .filter_map(|f| f.sensitivity())
        .flat_map(|t| t.rows.iter().take(10).map(|r| r.op_name.as_str()))
        .collect();
    let findings: Vec<super::document::FileFinding> = analysis
        .findings
        .iter()
        .enumerate()
        .filter(|(i, f)| *i < 10 || f.finding.layers.iter().any(|l| tops.contains(l.as_str())))
        .map(|(_, f)| f.clone())
        .collect();
    let s = super::rundiff::summarize_rankings(&analysis.files, &findings, None);
    (!s.is_empty()).then_some(s)
}

/// The whole diff of two runs as `quantlens diff --json` writes it (None: a run is missing or
/// kept no analysis).
pub fn diff_json(j: &Journal, a: &str, b: &str, by: Option<&str>) -> Option<String> {
    let (x, y) = (j.run(a)?.summary.as_ref()?, j.run(b)?.summary.as_ref()?);
    serde_json::to_string_pretty(&super::rundiff::diff_by(x, y, by)).ok()
}

/// A loaded file that is a journal (it joins the journal; it is not an analysis of its own).
pub fn is_journal_file(f: &super::document::FileReport) -> bool {
    matches!(f.document, Some(super::document::Document::Journal { .. }))
}

/// The key of a journal in a link's fragment: `#j=…`.
pub const JOURNAL_LINK_KEY: &str = "j";
/// The longest journal link (the runs' kinds and accuracy, without their analyses).
pub const JOURNAL_LINK_CAP_BYTES: usize = 32 * 1024;
/// The most a journal link may inflate to.
const JOURNAL_LINK_INFLATED_BYTES: usize = 1 << 20;

/// The fragment (without `#`) of a link that carries the journal: its runs, kinds and accuracy,
/// not the runs' compact analyses (those travel in the exported file and the HTML report).
pub fn journal_link(j: &Journal) -> Result<String, String> {
    let body = serde_json::json!({ "v": 1, "journal": j.without_summaries() });
    let json = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    let frag = format!(
        "{JOURNAL_LINK_KEY}={}",
        super::encode::base64url_encode(&packed)
    );
    if frag.len() > JOURNAL_LINK_CAP_BYTES {
        return Err(format!(
            "the journal is {} KiB as a link, more than the {} KiB a link carries: export it as a file instead",
            frag.len() / 1024,
            JOURNAL_LINK_CAP_BYTES / 1024
        ));
    }
    Ok(frag)
}

/// The journal a link's fragment carries (`Ok(None)` when it carries none); refusals say why.
pub fn decode_journal_link(fragment: &str) -> Result<Option<Journal>, String> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    let Some(value) = fragment
        .split('&')
        .find_map(|kv| kv.strip_prefix(JOURNAL_LINK_KEY)?.strip_prefix('='))
    else {
        return Ok(None);
    };
    if value.len() > JOURNAL_LINK_CAP_BYTES {
        return Err(format!(
            "the link's journal is {} bytes long, more than the {JOURNAL_LINK_CAP_BYTES} a link carries: it was not read",
            value.len()
        ));
    }
    let v = super::share::unpack_versioned(value, JOURNAL_LINK_INFLATED_BYTES, 1)
        .map_err(|e| e.to_string().replace("view state", "journal"))?;
    let text = v
        .get("journal")
        .map(|j| j.to_string())
        .ok_or("the link's journal is damaged (no journal in it): it was not read")?;
    super::journal::parse(&text)
        .map(|(j, _)| Some(j))
        .map_err(|e| format!("the link's journal is damaged ({e}): it was not read"))
}
