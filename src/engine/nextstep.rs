//! The next step of the tuning process: the seed's decision points as data (each citing the guide's section), evaluated on the journal and the loaded reports.
//!
//! The process (Horizon's Accuracy Tuning Practice and Guide): float baseline → all-int16
//! calibration (it must not collapse; if it does, it is a usage problem) → QAT → all-int8 → int8
//! with the most sensitive ops in int16, raising the ratio until the target is met. Each run is
//! judged per output branch against float × (1 − allowed loss); the guide's thresholds on the share
//! of float (≤ 90 %: debug; > 90 %: QAT; ≥ 95 %: QAT with fixed scales) separate "debug" from
//! "train". A run that changed ops on purpose is checked: their sensitivity should have dropped.

use super::intent::Intent;
use super::journal::{pct_text, Journal, JournalRun, RunSummary, Stage};
use serde::{Deserialize, Serialize};

/// When a rule applies (evaluated on the latest run with accuracy, see [`next_steps`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// No float run with accuracy: there is no target yet.
    NoFloat,
    /// Only the float baseline so far.
    FloatOnly,
    /// The latest run has no accuracy entered.
    NoAccuracy,
    /// A quantized run whose precision is not stated.
    PrecisionUnstated,
    /// All-int16 calibration at or below 90 % of float on some branch.
    Int16CalibDebug,
    /// All-int16 calibration short of the target but above 90 % of float everywhere.
    Int16CalibClose,
    /// All-int16 (calibration or QAT) meets the target on every branch.
    Int16Met,
    /// A QAT run short of the target although its calibration was above 90 % of float.
    QatBelowCalib,
    /// A QAT run short of the target, its calibration too (or none recorded).
    QatCalibPoor,
    /// The float model fine-tuned with the QAT pipeline loses accuracy against float.
    FinetuneLoses,
    /// The float model fine-tuned with the QAT pipeline keeps float's accuracy.
    FinetuneKeeps,
    /// All-int8 meets the target.
    Int8Met,
    /// All-int8 calibration short of the target but above 90 % of float everywhere.
    Int8CalibClose,
    /// All-int8 short of the target (calibration at or below 90 %, or QAT).
    Int8Fails,
    /// Mixed calibration short of the target but above 90 % of float everywhere.
    MixedCalibClose,
    /// Mixed short of the target (calibration at or below 90 %, or QAT).
    MixedFails,
    /// Mixed meets the target.
    MixedMet,
    /// Ops the latest run changed: their sensitivity dropped against the run before.
    ChangedOpsDropped,
    /// Ops the latest run changed: their sensitivity did not drop.
    ChangedOpsNotDropped,
}

/// One decision point of the guide: when it applies, the step, why, and where the guide says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rule {
    pub id: &'static str,
    pub when: When,
    /// The guide's section (Horizon's Accuracy Tuning Practice / Guide) that prescribes the step.
    pub section: &'static str,
    pub step: &'static str,
    /// Why, with `{run}`, `{shares}`, `{ratio}`, `{next_ratio}`, `{ops}` filled in.
    pub why: &'static str,
}

/// The rules, in the order they are tried (the first that applies is the next step; the
/// changed-ops checks are added after it).
pub const RULES: &[Rule] = &[
    Rule {
        id: "float_baseline",
        when: When::NoFloat,
        section: "Accuracy Tuning Guide › Workflow 1 (float model first)",
        step: "Add the float model as a run, with its accuracy per output branch.",
        why: "Every target is float × (1 − allowed loss) per branch: without the float accuracy no run can be judged.",
    },
    Rule {
        id: "enter_accuracy",
        when: When::NoAccuracy,
        section: "Accuracy Tuning Practice › Mixed Precision Tuning",
        step: "Enter the accuracy of {run} for each output branch.",
        why: "Each run is judged against the target per branch; {run} has no accuracy yet.",
    },
    Rule {
        id: "state_precision",
        when: When::PrecisionUnstated,
        section: "Accuracy Tuning Practice › Mixed Precision Tuning",
        step: "State whether {run} is all-int16, all-int8 or mixed.",
        why: "The next step depends on the precision: all-int16 first, then all-int8, then mixed.",
    },
    Rule {
        id: "start_int16",
        when: When::FloatOnly,
        section: "Accuracy Tuning Practice › Mixed Precision Tuning",
        step: "Check model_check_result.txt, then calibrate all-int16 (calibration_8bit_weight_16bit_act_qconfig_setter).",
        why: "All-int16 first: it confirms the model's best quantized accuracy and brings out tool-usage problems and quantization-unfriendly modules.",
    },
    Rule {
        id: "int16_calib_debug",
        when: When::Int16CalibDebug,
        section: "Accuracy Tuning Practice › All-INT16 Precision Tuning; Review of the Process",
        step: "Debug a usage problem: take the sensitivity table of the branch that dropped, read its top ops in the layer comparison (truncation or rounding?), fix their qconfig (int16, a fixed scale, a split) and calibrate again.",
        why: "All-int16 calibration should reach a normal accuracy; {run} reaches {shares} of float. A collapse at all-int16 means a usage problem, not a need for more bits.",
    },
    Rule {
        id: "int16_calib_close",
        when: When::Int16CalibClose,
        section: "Accuracy Tuning Guide › Workflow 5 (thresholds); Accuracy Tuning Practice › All-INT16 Precision Tuning",
        step: "Go on to QAT{fixed}.",
        why: "{run} reaches {shares} of float: above the guide's 90 %, so QAT should recover the rest.",
    },
    Rule {
        id: "qat_pipeline",
        when: When::QatBelowCalib,
        section: "Accuracy Tuning Practice › All-INT16 Precision Tuning; Accuracy Tuning Guide › Workflow 6 (QAT troubleshooting)",
        step: "Check the QAT pipeline against float training: fine-tune the float model with the QAT pipeline and its parameters, then with lr = 0; align data, augmentation and code with float training; only then tune lr and weight decay.",
        why: "Calibration reached {calib_shares} of float but {run} reaches {shares}: QAT must not be worse than calibration, so the training pipeline, not quantization, is the suspect.",
    },
    Rule {
        id: "qat_calib_poor",
        when: When::QatCalibPoor,
        section: "Accuracy Tuning Guide › Workflow 3 and 7 (debug float vs calibration)",
        step: "Debug the calibrated model first (float vs calibration, not the QAT-trained one): its top sensitive ops and their layer comparison.",
        why: "{run} reaches {shares} of float and its calibration was not above 90 % either: QAT cannot be judged until calibration is sound.",
    },
    Rule {
        id: "finetune_loses",
        when: When::FinetuneLoses,
        section: "Accuracy Tuning Practice › All-INT16 Precision Tuning",
        step: "Compare the QAT training code with the float training code (data, augmentation, modification records) and align them.",
        why: "The float model fine-tuned with the QAT pipeline reaches {shares} of float: the pipeline loses accuracy without any quantization, so the problem is not QAT.",
    },
    Rule {
        id: "finetune_keeps",
        when: When::FinetuneKeeps,
        section: "Accuracy Tuning Guide › Workflow 6 (QAT troubleshooting)",
        step: "Run QAT with lr = 0: it should match calibration; then tune lr, weight decay and schedule.",
        why: "The QAT pipeline keeps float's accuracy ({shares}), so the next suspects are QAT's own settings.",
    },
    Rule {
        id: "try_int8",
        when: When::Int16Met,
        section: "Accuracy Tuning Practice › All-INT8 Precision Tuning",
        step: "Calibrate all-int8 (keep the ops already found sensitive in int16).",
        why: "{run} meets the target on every branch: the model quantizes well, so look for the fastest configuration.",
    },
    Rule {
        id: "int8_met",
        when: When::Int8Met,
        section: "Accuracy Tuning Practice › Mixed Precision Tuning",
        step: "Done: all-int8 meets the target. Deploy it.",
        why: "{run} meets the target on every branch ({shares} of float).",
    },
    Rule {
        id: "int8_calib_close",
        when: When::Int8CalibClose,
        section: "Accuracy Tuning Guide › Workflow 5 (thresholds)",
        step: "Try all-int8 QAT{fixed}.",
        why: "{run} reaches {shares} of float: above the guide's 90 %, QAT may close the gap without int16.",
    },
    Rule {
        id: "start_mixed",
        when: When::Int8Fails,
        section: "Accuracy Tuning Practice › INT8 / INT16 Mixed Precision Tuning",
        step: "Set the most sensitive ops of the all-int8 sensitivity table to int16 with the sensitivity setter (start at {next_ratio}), and calibrate again.",
        why: "{run} reaches {shares} of float. The int8 sensitivity table names the ops that cost the most.",
    },
    Rule {
        id: "mixed_calib_close",
        when: When::MixedCalibClose,
        section: "Accuracy Tuning Guide › Workflow 5 (thresholds); Accuracy Tuning Practice › INT8 / INT16 Mixed Precision Tuning",
        step: "Go on to QAT with this configuration{fixed}.",
        why: "{run} reaches {shares} of float: above the guide's 90 %, QAT should recover the rest.",
    },
    Rule {
        id: "raise_ratio",
        when: When::MixedFails,
        section: "Accuracy Tuning Practice › INT8 / INT16 Mixed Precision Tuning",
        step: "Raise the int16 ratio{from_ratio} to {next_ratio} with the sensitivity setter, and run again.",
        why: "{run} reaches {shares} of float: short of the target.",
    },
    Rule {
        id: "mixed_met",
        when: When::MixedMet,
        section: "Accuracy Tuning Practice › INT8 / INT16 Mixed Precision Tuning",
        step: "Target met. To run faster, try fewer int16 ops while tuning QAT's lr and weight decay.",
        why: "{run} meets the target on every branch ({shares} of float).",
    },
    Rule {
        id: "changed_ops_dropped",
        when: When::ChangedOpsDropped,
        section: "Accuracy Tuning Practice › Review of the Process",
        step: "The change took effect: {ops} {is} less sensitive than in {prev}, or {its} own error fell.",
        why: "After a change to an op, its sensitivity should drop, even when the accuracy does not move yet; its own error (dtype, SQNR in the layer comparison) shows the change applied when the rest of the run changed too.",
    },
    Rule {
        id: "changed_ops_not_dropped",
        when: When::ChangedOpsNotDropped,
        section: "Accuracy Tuning Practice › Review of the Process; Accuracy Tuning Guide › error model",
        step: "Check that the change to {ops} took effect (its dtype and scale in the layer comparison): neither its sensitivity nor its own error dropped against {prev}.",
        why: "After a change to an op, its sensitivity should drop; when it does not, the configuration often did not apply (the seed's QuantStub still qint8 after the int16 setter).",
    },
];

/// What a step points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum EvidenceLink {
    /// A run of the journal.
    Run { id: String },
    /// Two runs compared.
    Diff { a: String, b: String },
    /// An op of a run's sensitivity table (or of the loaded reports when `run` is None).
    Op {
        name: String,
        run: Option<String>,
        rank: usize,
        #[serde(with = "super::num::opt")]
        value: Option<f64>,
        table: String,
    },
    /// A finding of a run (or of the loaded reports).
    Finding {
        kind: String,
        layers: Vec<String>,
        message: String,
        run: Option<String>,
    },
}

/// The step the guide prescribes now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextStep {
    pub rule: String,
    pub section: String,
    pub step: String,
    pub why: String,
    pub evidence: Vec<EvidenceLink>,
}

/// Share-of-float thresholds of the guide (Workflow 5).
const DEBUG_AT_OR_BELOW: f64 = 0.90;
const FIXED_SCALES_FROM: f64 = 0.95;
/// The setter's ratios suggested in turn (percent of ops in int16).
const RATIO_LADDER: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0];
/// Top sensitive ops cited as evidence.
const EVIDENCE_OPS: usize = 5;

fn rule(when: When) -> &'static Rule {
    RULES.iter().find(|r| r.when == when).unwrap_or(&RULES[0])
}

/// The lowest share of float over the branches with a value (None: no value has a float baseline).
fn min_share(j: &Journal, r: &JournalRun) -> Option<f64> {
    j.metrics
        .iter()
        .filter_map(|d| j.share_of_float(r, d))
        .min_by(f64::total_cmp)
}

/// Met on every branch that has a target and a value (and on at least one).
fn all_met(j: &Journal, r: &JournalRun) -> bool {
    let v: Vec<bool> = j.metrics.iter().filter_map(|d| j.met(r, d)).collect();
    !v.is_empty() && v.iter().all(|&m| m)
}

fn shares_text(j: &Journal, r: &JournalRun) -> String {
    let parts: Vec<String> = j
        .metrics
        .iter()
        .filter_map(|d| {
            j.share_of_float(r, d)
                .map(|s| format!("{} {:.1}%", d.label(), s * 100.0))
        })
        .collect();
    if parts.is_empty() {
        "no share".into()
    } else {
        parts.join(", ")
    }
}

fn has_accuracy(j: &Journal, r: &JournalRun) -> bool {
    j.metrics.iter().any(|d| r.value(d).is_some())
}

fn next_ratio(current: Option<f64>) -> f64 {
    let c = current.unwrap_or(0.0);
    RATIO_LADDER
        .iter()
        .copied()
        .find(|&x| x > c + 1e-9)
        .unwrap_or((c * 2.0).min(100.0))
}

/// Decide which decision point the journal is at (the latest run with accuracy decides).
fn decide(j: &Journal) -> (When, Option<&JournalRun>) {
    let has_float = j
        .runs
        .iter()
        .any(|r| r.stage == Stage::Float && has_accuracy(j, r));
    let Some(last) = j.runs.last().filter(|_| has_float) else {
        return (When::NoFloat, None);
    };
    if !has_accuracy(j, last) {
        return (When::NoAccuracy, Some(last));
    }
    match last.stage {
        // A new float baseline after quantized runs: the latest quantized run is judged again.
        Stage::Float if j.runs.iter().any(|r| r.stage.is_quantized()) => decide_quantized(j),
        Stage::Float => (When::FloatOnly, Some(last)),
        Stage::FloatFinetune if all_met(j, last) => (When::FinetuneKeeps, Some(last)),
        Stage::FloatFinetune => (When::FinetuneLoses, Some(last)),
        Stage::Calibration | Stage::Qat => decide_quantized(j),
    }
}

fn decide_quantized(j: &Journal) -> (When, Option<&JournalRun>) {
    let Some(last) = j
        .runs
        .iter()
        .rev()
        .find(|r| r.stage.is_quantized() && has_accuracy(j, r))
    else {
        return (When::FloatOnly, None);
    };
    let share = min_share(j, last).unwrap_or(0.0);
    let met = all_met(j, last);
    let close = share > DEBUG_AT_OR_BELOW;
    let when = match (last.precision, last.stage) {
        (Intent::Unstated, _) => When::PrecisionUnstated,
        (Intent::AllInt16, _) if met => When::Int16Met,
        (Intent::AllInt8, _) if met => When::Int8Met,
        (Intent::Mixed, _) if met => When::MixedMet,
        (p, Stage::Qat) => {
            let calib_close = calibration_before(j, last, p)
                .and_then(|c| min_share(j, c))
                .is_some_and(|s| s > DEBUG_AT_OR_BELOW);
            match p {
                Intent::Mixed if calib_close => When::MixedFails,
                Intent::AllInt8 if calib_close => When::Int8Fails,
                _ if calib_close => When::QatBelowCalib,
                Intent::Mixed => When::MixedFails,
                Intent::AllInt8 => When::Int8Fails,
                _ => When::QatCalibPoor,
            }
        }
        (Intent::AllInt16, _) if close => When::Int16CalibClose,
        (Intent::AllInt16, _) => When::Int16CalibDebug,
        (Intent::AllInt8, _) if close => When::Int8CalibClose,
        (Intent::AllInt8, _) => When::Int8Fails,
        (Intent::Mixed, _) if close => When::MixedCalibClose,
        (Intent::Mixed, _) => When::MixedFails,
    };
    // All-int16 meets the target but all-int8 was already tried and fell short: mixed precision.
    if when == When::Int16Met {
        if let Some(int8) = j.runs.iter().rev().find(|r| {
            r.precision == Intent::AllInt8
                && r.stage.is_quantized()
                && has_accuracy(j, r)
                && !all_met(j, r)
        }) {
            return (When::Int8Fails, Some(int8));
        }
    }
    (when, Some(last))
}

/// The latest calibration run of the same precision before `run`.
fn calibration_before<'j>(j: &'j Journal, run: &JournalRun, p: Intent) -> Option<&'j JournalRun> {
    let at = j.runs.iter().position(|r| r.id == run.id)?;
    j.runs[..at]
        .iter()
        .rev()
        .find(|r| r.stage == Stage::Calibration && r.precision == p && has_accuracy(j, r))
}

/// The summary a run's evidence comes from: its own, else the loaded reports'.
fn summary_of<'a>(
    run: Option<&'a JournalRun>,
    current: Option<&'a RunSummary>,
) -> (Option<&'a RunSummary>, Option<String>) {
    match run.and_then(|r| r.summary.as_ref().filter(|s| !s.is_empty())) {
        Some(s) => (Some(s), run.map(|r| r.id.clone())),
        None => (current, None),
    }
}

/// The top sensitive ops and the findings that name them, as evidence.
fn top_ops_evidence(summary: &RunSummary, run: Option<String>) -> Vec<EvidenceLink> {
    let mut out = Vec::new();
    let Some(table) = summary.sensitivity.first() else {
        // No sensitivity table: the most important findings instead.
        for f in summary.findings.iter().take(EVIDENCE_OPS) {
            out.push(EvidenceLink::Finding {
                kind: f.kind.clone(),
                layers: f.layers.clone(),
                message: f.message.clone(),
                run: run.clone(),
            });
        }
        return out;
    };
    for (i, op) in table.ops.iter().take(EVIDENCE_OPS).enumerate() {
        out.push(EvidenceLink::Op {
            name: op.name.clone(),
            run: run.clone(),
            rank: i + 1,
            value: op.value,
            table: table.table.clone(),
        });
        for f in summary
            .findings
            .iter()
            .filter(|f| f.layers.iter().any(|l| l == &op.name))
            .take(2)
        {
            out.push(EvidenceLink::Finding {
                kind: f.kind.clone(),
                layers: f.layers.clone(),
                message: f.message.clone(),
                run: run.clone(),
            });
        }
    }
    out
}

/// An op's value in a run's sensitivity tables: (table, value, metric ascending?).
fn op_value(s: &RunSummary, op: &str) -> Vec<(String, f64, bool)> {
    s.sensitivity
        .iter()
        .filter_map(|t| {
            t.ops
                .iter()
                .find(|o| o.name == op)
                .and_then(|o| o.value)
                .filter(|v| !v.is_nan())
                .map(|v| {
                    (
                        t.table.clone(),
                        v,
                        super::sensitivity::metric_ascending(&t.metric),
                    )
                })
        })
        .collect()
}

/// The changed-ops check of the latest run that names changed ops, against the run before it with a
/// sensitivity table naming them.
fn changed_ops_check(j: &Journal, current: Option<&RunSummary>) -> Option<NextStep> {
    let at = j.runs.iter().rposition(|r| !r.changed_ops.is_empty())?;
    let run = &j.runs[at];
    let (now, _) = summary_of(
        Some(run),
        if at + 1 == j.runs.len() {
            current
        } else {
            None
        },
    );
    let now = now?;
    let prev = j.runs[..at].iter().rev().find(|p| {
        p.summary
            .as_ref()
            .is_some_and(|s| run.changed_ops.iter().any(|op| !op_value(s, op).is_empty()))
    })?;
    let before = prev.summary.as_ref()?;
    let (mut dropped, mut kept) = (Vec::new(), Vec::new());
    let mut evidence = Vec::new();
    for op in &run.changed_ops {
        let (b, n) = (op_value(before, op), op_value(now, op));
        let Some((table, vb, asc)) = b.first().cloned() else {
            continue;
        };
        let vn = n.iter().find(|(t, _, _)| *t == table).or(n.first());
        let did_drop = match vn {
            Some((_, v, _)) => {
                if asc {
                    *v > vb
                } else {
                    *v < vb
                }
            }
            // Gone from the table: int16 ops often leave the int8 ranking, which counts as a drop.
            None => true,
        };
        // Its own error, when both runs kept their layer comparison: a single-op sensitivity is
        // measured against the rest of its own run, so a run that changed much else can rank the
        // op higher even though the change took effect (its dtype moved, its SQNR rose).
        let own_better = match (
            before.layers.iter().find(|l| l.name == *op),
            now.layers.iter().find(|l| l.name == *op),
        ) {
            (Some(x), Some(y)) => {
                let sqnr = |l: &super::journal::LayerSummary| l.metrics.get("sqnr_db").map(|v| v.0);
                let gained = sqnr(x).zip(sqnr(y)).is_some_and(|(a, b)| b - a >= 3.0);
                (x.dtype != y.dtype && y.dtype.is_some()) || gained
            }
            _ => false,
        };
        if did_drop || own_better {
            dropped.push(op.clone());
        } else {
            kept.push(op.clone());
        }
        evidence.push(EvidenceLink::Op {
            name: op.clone(),
            run: Some(prev.id.clone()),
            rank: before
                .sensitivity
                .iter()
                .find(|t| t.table == table)
                .and_then(|t| t.ops.iter().position(|o| o.name == *op))
                .map_or(0, |p| p + 1),
            value: Some(vb),
            table: table.clone(),
        });
    }
    if dropped.is_empty() && kept.is_empty() {
        return None;
    }
    evidence.push(EvidenceLink::Diff {
        a: prev.id.clone(),
        b: run.id.clone(),
    });
    let (when, ops) = if kept.is_empty() {
        (When::ChangedOpsDropped, dropped)
    } else {
        (When::ChangedOpsNotDropped, kept)
    };
    let r = rule(when);
    let fill = |t: &str| {
        t.replace("{ops}", &super::findings::name_list(&ops, 3))
            .replace("{is}", if ops.len() == 1 { "is" } else { "are" })
            .replace("{its}", if ops.len() == 1 { "its" } else { "their" })
            .replace("{prev}", &prev.name)
            .replace("{run}", &run.name)
    };
    Some(NextStep {
        rule: r.id.to_string(),
        section: r.section.to_string(),
        step: fill(r.step),
        why: fill(r.why),
        evidence,
    })
}

/// The next step and, after it, the check of the ops the latest run changed. `current` is the
/// summary of the loaded reports: evidence for a run that kept none.
pub fn next_steps(j: &Journal, current: Option<&RunSummary>) -> Vec<NextStep> {
    let (when, run) = decide(j);
    let r = rule(when);
    let name = run.map(|x| format!("“{}”", x.name)).unwrap_or_default();
    let shares = run.map(|x| shares_text(j, x)).unwrap_or_default();
    let calib_shares = run
        .and_then(|x| calibration_before(j, x, x.precision))
        .map(|c| shares_text(j, c))
        .unwrap_or_default();
    let ratio = run.and_then(|x| x.int16_ratio_pct);
    let fixed = if run
        .and_then(|x| min_share(j, x))
        .is_some_and(|s| s >= FIXED_SCALES_FROM)
    {
        " with the calibrated activation scales fixed (averaging_constant = 0, the *_fixed_act_* setters): the guide's choice at ≥ 95 % of float"
    } else {
        ""
    };
    let fill = |t: &str| {
        t.replace("{run}", &name)
            .replace("{shares}", &shares)
            .replace("{calib_shares}", &calib_shares)
            .replace("{fixed}", fixed)
            .replace(
                "{from_ratio}",
                &ratio
                    .map(|r| format!(" from {}", pct_text(r)))
                    .unwrap_or_default(),
            )
            .replace("{next_ratio}", &pct_text(next_ratio(ratio)))
    };
    let mut evidence = Vec::new();
    if let Some(x) = run {
        evidence.push(EvidenceLink::Run { id: x.id.clone() });
    }
    if matches!(
        when,
        When::Int16CalibDebug
            | When::QatCalibPoor
            | When::Int8Fails
            | When::MixedFails
            | When::Int8CalibClose
    ) {
        // The ops to look at: the decisive run's sensitivity table (for QAT, its calibration's).
        let src = match when {
            When::QatCalibPoor => run
                .and_then(|x| calibration_before(j, x, x.precision))
                .or(run),
            _ => run,
        };
        let is_last = src.is_some_and(|s| j.runs.last().is_some_and(|l| l.id == s.id));
        let (summary, rid) = summary_of(src, if is_last { current } else { None });
        if let Some(s) = summary {
            evidence.extend(top_ops_evidence(s, rid));
        }
    }
    let mut out = vec![NextStep {
        rule: r.id.to_string(),
        section: r.section.to_string(),
        step: fill(r.step),
        why: fill(r.why),
        evidence,
    }];
    if let Some(c) = changed_ops_check(j, current) {
        out.push(c);
    }
    out
}
