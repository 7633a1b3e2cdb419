//! Vocabulary: why a comparison row differs from the float model (its cause) and the numbers that
//! show it (representable range, clipping), as the analysis finds them and every view shows them.

use serde::{Deserialize, Serialize};

/// Why a row's output differs from the float model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Float or qint32 output, or no dtype: nothing to quantize here.
    NotQuantized,
    /// Quantized but no per-tensor scale in the row.
    NoScale,
    /// Shapes differ between the models: no metrics.
    MismatchShape,
    /// Values beyond the representable range were clipped.
    Truncation,
    /// The error is what this layer's own rounding makes (≤ 0.75 steps).
    Rounding,
    /// Own rounding plus a little upstream error (0.75–2 steps).
    Accumulated,
    /// Far beyond own rounding (≥ 2 steps) with the range covered: it came from upstream.
    Inherited,
    /// A fused intermediate row: no metrics (compare the fused op's output row instead).
    NoMetrics,
    /// The quantized output is a constant (all zero) while the float output varies.
    Collapsed,
}

impl Cause {
    pub fn label(self) -> &'static str {
        match self {
            Cause::NotQuantized => "not quantized",
            Cause::NoScale => "no scale",
            Cause::MismatchShape => "shape mismatch",
            Cause::Truncation => "truncation",
            Cause::Rounding => "rounding",
            Cause::Accumulated => "rounding + upstream",
            Cause::Inherited => "inherited",
            Cause::NoMetrics => "fused (no metrics)",
            Cause::Collapsed => "collapsed",
        }
    }
}

/// Everything the detail panel says about one comparison row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowDiagnosis {
    pub cause: Cause,
    /// `[qmin·qscale, qmax·qscale]` for quantized rows.
    #[serde(default, with = "crate::engine::num::opt")]
    pub rep_min: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub rep_max: Option<f64>,
    /// How far the float range passes the representable range below / above (≥ 0).
    #[serde(with = "crate::engine::num")]
    pub clip_low: f64,
    #[serde(with = "crate::engine::num")]
    pub clip_high: f64,
    /// The clipped part as a fraction of the float range's width.
    #[serde(with = "crate::engine::num")]
    pub clip_fraction: f64,
    /// max_qscale_diff (or Atol/qscale).
    #[serde(default, with = "crate::engine::num::opt")]
    pub steps: Option<f64>,
    /// Margin used for "clipped": one step plus the printed qscale's imprecision times qmax.
    #[serde(default, with = "crate::engine::num")]
    pub tolerance: f64,
    /// Plain-words explanation (filled by [`explain`] only: 10,000 rows need no prose up front).
    #[serde(skip)]
    pub explanation: String,
}
