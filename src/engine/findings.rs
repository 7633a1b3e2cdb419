//! Findings: one diagnosed problem each, with its layers, severity, plain-words cause, fix and evidence rows.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The shared vocabulary of finding kinds (UI, CLI JSON and later analyzers use these strings).
pub mod kind {
    /// Fusable modules that were not fused.
    pub const UNFUSED: &str = "unfused";
    /// A module object called more than once (one set of qparams for several call sites).
    pub const SHARED_MODULE: &str = "shared_module";
    /// Modules that never ran (listed with 0 calls).
    pub const UNUSED_MODULE: &str = "unused_module";
    /// A layer whose output dtype is qint32: a qconfig error.
    pub const QINT32_OUTPUT: &str = "qint32_output";
    /// A DeQuantStub with a qint8/qint16 input: the model output is not high precision.
    pub const LOW_PRECISION_OUTPUT: &str = "low_precision_output";
    /// A non-stub op with a float32 input: a QuantStub is missing and the op falls back to CPU.
    pub const FLOAT_INPUT: &str = "float_input";
    /// A row of the tool's own "Please check if these OPs qconfigs are expected" list.
    pub const UNUSUAL_QCONFIG: &str = "unusual_qconfig";
    /// Values beyond the representable range were clipped.
    pub const TRUNCATION: &str = "truncation";
    /// The range is covered but the step is too coarse for the data.
    pub const ROUNDING: &str = "rounding";
    /// The layer's own quantization cannot explain its error: it came from upstream.
    pub const INHERITED: &str = "inherited";
    /// A QuantStub whose input has a physical range: suggest a fixed scale and dtype.
    pub const FIXED_SCALE: &str = "fixed_scale";
    /// Rows still in a dtype the user says this run does not use.
    pub const DTYPE_NOT_APPLIED: &str = "dtype_not_applied";
    /// One module's calls have different ranges, so one scale cannot serve them all.
    pub const SHARED_RANGE_MISMATCH: &str = "shared_range_mismatch";
    /// Advisor rule: a QuantStub input entirely on one side of 0.
    pub const ASYMMETRIC: &str = "asymmetric";
    /// Advisor rule: a range of 128 or more quantized to int8.
    pub const LARGE_RANGE_INT8: &str = "large_range_int8";
    /// Advisor rule: a range beyond 32768, too large for any quantization.
    pub const RANGE_TOO_LARGE: &str = "range_too_large";
    /// Advisor rule: the quantized output goes beyond what its scale can represent.
    pub const SCALE_NOT_COVER: &str = "scale_not_cover";
    /// Advisor rule: inf or nan in the statistics.
    pub const INF_NAN: &str = "inf_nan";
    /// The last ops of a sensitivity table are not near zero error (post-processing left in).
    pub const SENSITIVITY_TAIL_NOT_ZERO: &str = "sensitivity_tail_not_zero";
    /// The most sensitive ops of a sensitivity table, with their comparison rows.
    pub const SENSITIVE_OPS: &str = "sensitive_ops";
    /// The quantized output is a constant (all zero) while the float output varies: the collapse point.
    pub const COLLAPSED_OUTPUT: &str = "collapsed_output";
    /// A dumped tensor holds NaN or ±inf: every metric that sums over it is NaN.
    pub const NONFINITE: &str = "nonfinite_values";
    /// Tensor pairs far from their float reference whose error cannot be split (no scale known).
    pub const UNEXPLAINED: &str = "unexplained_error";
    /// Tensor pairs that could not be compared (shape mismatch, no scale for a raw dump…).
    pub const NOT_COMPARED: &str = "pairs_not_compared";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pointer from a finding to a row of a parsed table: the table's id within its document and the
/// row's index in that table (plus the source line, for people and the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Evidence {
    pub table: String,
    pub row: usize,
    pub line: usize,
    /// The file holding the row when it is not the finding's own file (e.g. a sensitivity table
    /// cited by a comparison finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: String,
    pub severity: Severity,
    /// Layer (module) names concerned, in file order.
    pub layers: Vec<String>,
    /// What is wrong and why, in plain words.
    pub message: String,
    /// What to do about it, with code hints where they help.
    pub fix: String,
    /// Rows that show the problem.
    pub evidence: Vec<Evidence>,
    /// Importance within a severity (sensitivity rank, size of the error): orders the top ten.
    #[serde(default, with = "crate::engine::num")]
    pub score: f64,
    /// Why the finding stands where it does in the ranking (sensitivity rank, measured clipping, a
    /// harmless clip…), in a few words.
    #[serde(default)]
    pub rank_reason: String,
}

/// The stable public JSON shape of a finding (CLI `--json`): exactly these keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingJson {
    pub kind: String,
    pub severity: Severity,
    pub layers: Vec<String>,
    pub message: String,
    pub fix: String,
}

impl From<&Finding> for FindingJson {
    fn from(f: &Finding) -> Self {
        FindingJson {
            kind: f.kind.clone(),
            severity: f.severity,
            layers: f.layers.clone(),
            message: f.message.clone(),
            fix: f.fix.clone(),
        }
    }
}

/// Sort most severe first, keeping the analyzer's order within a severity.
pub fn sort_by_severity(findings: &mut [Finding]) {
    findings.sort_by_key(|f| f.severity);
}

/// "1 layer" / "3 layers".
pub fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `a`, `a and b`, `a, b and 3 more`: names for a sentence, at most `max` spelled out.
pub fn name_list(names: &[String], max: usize) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.len() {
        0 => String::new(),
        1 => quoted[0].clone(),
        n if n <= max => format!("{} and {}", quoted[..n - 1].join(", "), quoted[n - 1]),
        n => format!("{} and {} more", quoted[..max].join(", "), n - max),
    }
}
