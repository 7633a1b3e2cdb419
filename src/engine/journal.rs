//! The journal of tuning runs and its file (`quantlens-journal.json`): each run's intent, stage, int16 ratio and changed ops, the accuracy entered per output branch, and the compact analysis kept with it.
//!
//! The seed's method is a sequence of runs (float → all-int16 calibration and QAT → all-int8 →
//! mixed at growing int16 ratios), each judged against a target of float × (1 − allowed loss) per
//! output branch. A run keeps what its reports said in compact form ([`RunSummary`]: per-layer
//! metrics, sensitivity rankings, findings), never the raw dumps, so two runs can be compared days
//! later. The journal is one JSON document: kept in the browser, exported and imported as a file,
//! and read back by this importer (detected by its `format` field).

use super::doc::Note;
use super::intent::Intent;
use super::num;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The value of the file's `format` field.
pub const SIGNATURE: &str = "quantlens.journal";
/// The name an exported journal is saved under.
pub const FILE_NAME: &str = "quantlens-journal.json";
/// The version this QuantLens writes and reads.
pub const VERSION: u32 = 1;
/// At most this many runs are read from one file (a hostile file cannot make the page keep more).
pub const MAX_RUNS: usize = 10_000;

/// A number that may be non-finite (∞ SQNR of identical tensors), written as `num` writes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Num(#[serde(with = "num")] pub f64);

/// Metric name (`cosine`, `sqnr_db`, `mse`, … as `quantlens compare --json` names them) → value.
pub type Metrics = BTreeMap<String, Num>;

/// Where a run stands in the seed's process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The float model: its accuracy is the baseline the targets come from.
    Float,
    /// The float model fine-tuned with the QAT pipeline (lr as QAT, or 0): the seed's check that the
    /// QAT training code is aligned with the float training.
    FloatFinetune,
    /// A calibrated quantized model.
    #[default]
    Calibration,
    /// A QAT-trained quantized model.
    Qat,
}

impl Stage {
    pub fn parse(s: &str) -> Option<Stage> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "float" => Some(Stage::Float),
            "float_finetune" | "finetune_float" | "finetune" => Some(Stage::FloatFinetune),
            "calibration" | "calib" | "calibrate" => Some(Stage::Calibration),
            "qat" => Some(Stage::Qat),
            _ => None,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Stage::Float => "float",
            Stage::FloatFinetune => "finetune float",
            Stage::Calibration => "calibration",
            Stage::Qat => "qat",
        }
    }
    /// A quantized run (calibration or QAT).
    pub fn is_quantized(self) -> bool {
        matches!(self, Stage::Calibration | Stage::Qat)
    }
}

/// One accuracy metric of one output branch (the seed: `dynamic` and `static`, each with its mAP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricDef {
    pub branch: String,
    pub metric: String,
    /// An error metric (lower is better); accuracy metrics are higher-is-better.
    #[serde(default)]
    pub lower_is_better: bool,
}

impl MetricDef {
    pub fn label(&self) -> String {
        if self.metric.is_empty() {
            self.branch.clone()
        } else {
            format!("{} · {}", self.branch, self.metric)
        }
    }
}

/// A value the user entered for one branch metric of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub branch: String,
    pub metric: String,
    #[serde(with = "num")]
    pub value: f64,
}

/// A file the run was made from (its name and size; the bytes stay on the user's disk).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFile {
    pub name: String,
    pub size_bytes: u64,
    #[serde(default)]
    pub format: String,
}

/// One row of a sensitivity table, as kept with a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensOp {
    pub name: String,
    #[serde(default)]
    pub sensitive_type: String,
    #[serde(default, with = "num::opt")]
    pub value: Option<f64>,
    #[serde(default)]
    pub dtype: Option<String>,
}

/// One sensitivity table of a run: its label (`output 0 · L1`), metric and rows in rank order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensSummary {
    pub table: String,
    pub metric: String,
    pub ops: Vec<SensOp>,
}

/// One layer's metrics in a run (a comparison-table row or a compared tensor pair).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerSummary {
    pub name: String,
    pub metrics: Metrics,
    /// The layer's quantized dtype when the table says it (`qint8`, `qint16`).
    #[serde(default)]
    pub dtype: Option<String>,
}

/// A finding as kept with a run (its words, not its evidence rows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub kind: String,
    pub severity: String,
    pub layers: Vec<String>,
    pub message: String,
}

impl FindingSummary {
    /// What identifies a finding across runs: its kind and the layers it names (a finding that
    /// lists a ranking, such as the top sensitive ops, by its kind alone: a new order is the same
    /// finding).
    pub fn key(&self) -> (String, Vec<String>) {
        const LISTS: &[&str] = &[
            "sensitive_ops",
            "sensitivity_tail_not_zero",
            "collapsed_output",
        ];
        if LISTS.contains(&self.kind.as_str()) {
            (self.kind.clone(), Vec::new())
        } else {
            (self.kind.clone(), self.layers.clone())
        }
    }
}

/// The compact analysis kept with a run: enough to compare it with another run later.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub layers: Vec<LayerSummary>,
    pub sensitivity: Vec<SensSummary>,
    pub findings: Vec<FindingSummary>,
}

impl RunSummary {
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty() && self.sensitivity.is_empty() && self.findings.is_empty()
    }
}

/// One run of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRun {
    /// Stable across edits, exports and imports.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub created_ms: f64,
    #[serde(default)]
    pub updated_ms: f64,
    #[serde(default)]
    pub stage: Stage,
    /// all-int16 / all-int8 / mixed (meaningless for float runs).
    #[serde(default)]
    pub precision: Intent,
    /// For a mixed run: the share of ops set to int16, in percent (the setter's ratio).
    #[serde(default, with = "num::opt")]
    pub int16_ratio_pct: Option<f64>,
    /// Ops this run changed on purpose (a fixed scale, a split, int16): their sensitivity should
    /// drop against the run before.
    #[serde(default)]
    pub changed_ops: Vec<String>,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub accuracy: Vec<Accuracy>,
    #[serde(default)]
    pub files: Vec<RunFile>,
    #[serde(default)]
    pub summary: Option<RunSummary>,
}

impl JournalRun {
    pub fn new(id: String, name: String, now_ms: f64) -> JournalRun {
        JournalRun {
            id,
            name,
            created_ms: now_ms,
            updated_ms: now_ms,
            stage: Stage::Calibration,
            precision: Intent::Unstated,
            int16_ratio_pct: None,
            changed_ops: Vec::new(),
            note: String::new(),
            accuracy: Vec::new(),
            files: Vec::new(),
            summary: None,
        }
    }

    /// The value entered for a branch metric.
    pub fn value(&self, def: &MetricDef) -> Option<f64> {
        self.accuracy
            .iter()
            .find(|a| a.branch == def.branch && a.metric == def.metric)
            .map(|a| a.value)
            .filter(|v| v.is_finite())
    }

    /// Set (or with `None` clear) the value of a branch metric.
    pub fn set_value(&mut self, def: &MetricDef, value: Option<f64>) {
        self.accuracy
            .retain(|a| !(a.branch == def.branch && a.metric == def.metric));
        if let Some(value) = value.filter(|v| v.is_finite()) {
            self.accuracy.push(Accuracy {
                branch: def.branch.clone(),
                metric: def.metric.clone(),
                value,
            });
        }
    }

    /// The run as the seed's tables name it: `all-int16 calibration`, `mixed 0.5% int16 qat`, `float`.
    pub fn kind_label(&self) -> String {
        match self.stage {
            Stage::Float | Stage::FloatFinetune => self.stage.label().to_string(),
            Stage::Calibration | Stage::Qat => {
                let p = match (self.precision, self.int16_ratio_pct) {
                    (Intent::AllInt16, _) => "all-int16".to_string(),
                    (Intent::AllInt8, _) => "all-int8".to_string(),
                    (Intent::Mixed, Some(r)) => format!("int8 + {} int16", pct_text(r)),
                    (Intent::Mixed, None) => "int8/int16 mixed".to_string(),
                    (Intent::Unstated, _) => "quantized".to_string(),
                };
                format!("{p} {}", self.stage.label())
            }
        }
    }
}

/// `0.5%`, `10%`, `2.25%`.
pub fn pct_text(v: f64) -> String {
    let t = format!("{v:.3}");
    let t = t.trim_end_matches('0').trim_end_matches('.');
    format!("{t}%")
}

/// The journal: the branch metrics the runs are judged on, the allowed loss, and the runs in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    pub format: String,
    pub version: u32,
    /// The loss against float a run may have and still meet the target, in percent (the seed: 1).
    #[serde(with = "num")]
    pub allowed_loss_pct: f64,
    pub metrics: Vec<MetricDef>,
    pub runs: Vec<JournalRun>,
}

impl Default for Journal {
    fn default() -> Journal {
        Journal {
            format: SIGNATURE.to_string(),
            version: VERSION,
            allowed_loss_pct: 1.0,
            metrics: Vec::new(),
            runs: Vec::new(),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeCount {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl MergeCount {
    pub fn sentence(&self) -> String {
        let mut parts = vec![format!(
            "{} run{} added",
            self.added,
            if self.added == 1 { "" } else { "s" }
        )];
        if self.updated > 0 {
            parts.push(format!("{} updated", self.updated));
        }
        if self.unchanged > 0 {
            parts.push(format!("{} already there", self.unchanged));
        }
        parts.join(", ")
    }
}

impl Journal {
    /// The float baseline: the latest float run with a value for this metric.
    pub fn float_value(&self, def: &MetricDef) -> Option<f64> {
        self.runs
            .iter()
            .rev()
            .filter(|r| r.stage == Stage::Float)
            .find_map(|r| r.value(def))
    }

    /// float × (1 − loss) (or × (1 + loss) for an error metric).
    pub fn target(&self, def: &MetricDef) -> Option<f64> {
        let loss = self.allowed_loss_pct / 100.0;
        self.float_value(def).map(|f| {
            if def.lower_is_better {
                f * (1.0 + loss)
            } else {
                f * (1.0 - loss)
            }
        })
    }

    /// Whether a run meets the target of one branch metric (None: no value or no float baseline).
    pub fn met(&self, run: &JournalRun, def: &MetricDef) -> Option<bool> {
        let (v, t) = (run.value(def)?, self.target(def)?);
        Some(if def.lower_is_better { v <= t } else { v >= t })
    }

    /// The run's value as a share of float (1.0 = float; an error metric inverted, so higher is
    /// better for both kinds).
    pub fn share_of_float(&self, run: &JournalRun, def: &MetricDef) -> Option<f64> {
        let (v, f) = (run.value(def)?, self.float_value(def)?);
        let s = if def.lower_is_better { f / v } else { v / f };
        s.is_finite().then_some(s)
    }

    pub fn run(&self, id: &str) -> Option<&JournalRun> {
        self.runs.iter().find(|r| r.id == id)
    }

    pub fn run_mut(&mut self, id: &str) -> Option<&mut JournalRun> {
        self.runs.iter_mut().find(|r| r.id == id)
    }

    /// A fresh id for a run made at `now_ms`.
    pub fn new_id(&self, now_ms: f64) -> String {
        let base = format!("run-{}", now_ms.max(0.0) as u64);
        let mut id = base.clone();
        let mut k = 2;
        while self.run(&id).is_some() {
            id = format!("{base}-{k}");
            k += 1;
        }
        id
    }

    /// Add a run, or replace the run with its id.
    pub fn upsert(&mut self, run: JournalRun) {
        for a in &run.accuracy {
            self.ensure_metric(&a.branch, &a.metric);
        }
        match self.runs.iter_mut().find(|r| r.id == run.id) {
            Some(r) => *r = run,
            None => self.runs.push(run),
        }
    }

    pub fn remove(&mut self, id: &str) -> bool {
        let n = self.runs.len();
        self.runs.retain(|r| r.id != id);
        self.runs.len() != n
    }

    fn ensure_metric(&mut self, branch: &str, metric: &str) {
        if !self
            .metrics
            .iter()
            .any(|m| m.branch == branch && m.metric == metric)
        {
            self.metrics.push(MetricDef {
                branch: branch.to_string(),
                metric: metric.to_string(),
                lower_is_better: false,
            });
        }
    }

    /// Take another journal's runs: new ids are added, a run with a known id is replaced when the
    /// other copy was edited later. Branch metrics are joined; the allowed loss stays this
    /// journal's unless it has no runs yet.
    pub fn merge(&mut self, other: Journal) -> MergeCount {
        let mut count = MergeCount::default();
        if self.runs.is_empty() {
            self.allowed_loss_pct = other.allowed_loss_pct;
        }
        for m in other.metrics {
            if !self
                .metrics
                .iter()
                .any(|x| x.branch == m.branch && x.metric == m.metric)
            {
                self.metrics.push(m);
            }
        }
        for r in other.runs {
            match self.runs.iter_mut().find(|x| x.id == r.id) {
                Some(x) if r.updated_ms > x.updated_ms => {
                    *x = r;
                    count.updated += 1;
                }
                Some(_) => count.unchanged += 1,
                None => {
                    self.runs.push(r);
                    count.added += 1;
                }
            }
        }
        count
    }

    /// The journal without the runs' compact analyses (what a link carries).
    pub fn without_summaries(&self) -> Journal {
        let mut j = self.clone();
        for r in &mut j.runs {
            r.summary = None;
        }
        j
    }

    /// The journal's file, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// Parse the branch metrics as typed: `dynamic mAP, static mAP` (a branch and its metric per
/// item; `↓` or `(lower)` after an item marks an error metric). Empty items are skipped.
pub fn parse_metric_defs(text: &str) -> Result<Vec<MetricDef>, String> {
    let mut out: Vec<MetricDef> = Vec::new();
    for item in text.split([',', ';', '\n']) {
        let mut t = item.trim().to_string();
        if t.is_empty() {
            continue;
        }
        let mut lower = false;
        for mark in ["↓", "(lower)", "(lower is better)"] {
            if let Some(s) = t.strip_suffix(mark) {
                t = s.trim().to_string();
                lower = true;
            }
        }
        let mut words = t.split_whitespace();
        let branch = words.next().unwrap_or("").to_string();
        let metric = words.collect::<Vec<_>>().join(" ");
        if branch.chars().count() > 200 || metric.chars().count() > 200 {
            return Err(format!("{:?} is too long for a branch name", item.trim()));
        }
        if out.iter().any(|m| m.branch == branch && m.metric == metric) {
            return Err(format!(
                "{} is named twice",
                MetricDef {
                    branch,
                    metric,
                    lower_is_better: false
                }
                .label()
            ));
        }
        out.push(MetricDef {
            branch,
            metric,
            lower_is_better: lower,
        });
    }
    Ok(out)
}

/// The metric definitions written back as they are typed.
pub fn metric_defs_text(defs: &[MetricDef]) -> String {
    defs.iter()
        .map(|d| {
            let mut t = d.branch.clone();
            if !d.metric.is_empty() {
                t.push(' ');
                t.push_str(&d.metric);
            }
            if d.lower_is_better {
                t.push_str(" ↓");
            }
            t
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A journal file by its first bytes: a JSON object naming [`SIGNATURE`].
pub fn looks_like_journal(head: &[u8]) -> bool {
    let t = String::from_utf8_lossy(&head[..head.len().min(512)]);
    t.trim_start().starts_with('{') && t.contains(SIGNATURE)
}

/// Read a journal file; notes for what was odd in it (duplicate ids, non-finite accuracy…).
pub fn parse(text: &str) -> Result<(Journal, Vec<Note>), String> {
    let mut j: Journal = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if j.format != SIGNATURE {
        return Err(format!("its format is {:?}, not {SIGNATURE:?}", j.format));
    }
    if j.version > VERSION {
        return Err(format!(
            "version {} (this QuantLens reads version {VERSION}): open it with a newer QuantLens",
            j.version
        ));
    }
    let mut notes = Vec::new();
    if !(0.0..100.0).contains(&j.allowed_loss_pct) {
        notes.push(Note {
            line: None,
            text: format!(
                "allowed loss {}% is not between 0 and 100: 1% is used",
                j.allowed_loss_pct
            ),
        });
        j.allowed_loss_pct = 1.0;
    }
    if j.runs.len() > MAX_RUNS {
        notes.push(Note {
            line: None,
            text: format!("{} runs: only the first {MAX_RUNS} are read", j.runs.len()),
        });
        j.runs.truncate(MAX_RUNS);
    }
    // A run without an id, or with one already used, gets a fresh id: no run is lost.
    let mut seen = std::collections::HashSet::new();
    let all: std::collections::HashSet<String> = j.runs.iter().map(|r| r.id.clone()).collect();
    let mut renamed = 0;
    for i in 0..j.runs.len() {
        if j.runs[i].id.is_empty() || seen.contains(&j.runs[i].id) {
            let base = if j.runs[i].id.is_empty() {
                "run".to_string()
            } else {
                j.runs[i].id.clone()
            };
            let mut k = 2;
            while seen.contains(&format!("{base}-{k}")) || all.contains(&format!("{base}-{k}")) {
                k += 1;
            }
            j.runs[i].id = format!("{base}-{k}");
            renamed += 1;
        }
        seen.insert(j.runs[i].id.clone());
    }
    if renamed > 0 {
        notes.push(Note {
            line: None,
            text: format!(
                "{renamed} run(s) without an id or with an id already used were given a new id"
            ),
        });
    }
    let runs = std::mem::take(&mut j.runs);
    for r in runs {
        j.upsert(r);
    }
    Ok((j, notes))
}
