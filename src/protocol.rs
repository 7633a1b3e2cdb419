//! The typed boundary between the UI thread and the analysis worker, which owns the session. The UI
//! sends commands ([`ToWorker`], converted with `serde-wasm-bindgen`; the files' Blobs travel beside
//! them untouched) and receives already-diagnosed results ([`FromWorker`]). Nothing is diagnosed on
//! the UI thread. Non-finite numbers cross intact (`engine::num`).

use crate::engine::pairs::Side;
use crate::engine::quant::QDType;
use crate::engine::session::{Analysis, Intent, TensorSettings};
use crate::engine::whatif::PairWhatIf;
use serde::{Deserialize, Serialize};

/// UI → worker. Every command carries the job number its answer will carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Read these files into the session (their Blobs are sent beside the command, in this order);
    /// a file of the same name and size replaces the earlier copy.
    Open { job: u32, names: Vec<String> },
    /// What the run is meant to be (all-int8, all-int16, mixed): findings are computed again.
    SetIntent { job: u32, intent: Intent },
    /// The side of a tensor file (None: back to the guess).
    SetSide {
        job: u32,
        file: String,
        side: Option<Side>,
    },
    /// The real scale of a quantized tensor (name of the pair, or `*` for every pair).
    SetScale {
        job: u32,
        name: String,
        #[serde(with = "crate::engine::num")]
        scale: f64,
        dtype: Option<QDType>,
    },
    /// Pair two tensors by hand.
    Pair {
        job: u32,
        float: String,
        quant: String,
    },
    /// The what-if of one pair's float tensor (observers, typed scales, groups, channels).
    WhatIf {
        job: u32,
        pair: usize,
        typed: Vec<(QDType, f64)>,
    },
    /// Forget every file.
    Clear { job: u32 },
    /// A fresh worker (after a cancel) takes the session back: the files (Blobs beside the
    /// command), the intent and the tensor settings, in one job.
    Restore {
        job: u32,
        names: Vec<String>,
        intent: Intent,
        settings: TensorSettings,
    },
}

impl ToWorker {
    pub fn job(&self) -> u32 {
        match self {
            ToWorker::Open { job, .. }
            | ToWorker::SetIntent { job, .. }
            | ToWorker::SetSide { job, .. }
            | ToWorker::SetScale { job, .. }
            | ToWorker::Pair { job, .. }
            | ToWorker::WhatIf { job, .. }
            | ToWorker::Clear { job }
            | ToWorker::Restore { job, .. } => *job,
        }
    }
}

/// Worker → UI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker's wasm module is loaded and it accepts commands.
    Ready,
    /// Bytes read so far in the current job, and what is being done (`reading`, `comparing`).
    Progress {
        job: u32,
        stage: String,
        file_index: usize,
        file_name: String,
        done_bytes: u64,
        total_bytes: u64,
    },
    /// The session after the command: every file, finding and pair, already diagnosed.
    Done {
        job: u32,
        analysis: Analysis,
        #[serde(default)]
        elapsed_ms: f64,
    },
    /// The answer to a what-if.
    WhatIf {
        job: u32,
        pair: usize,
        result: Result<PairWhatIf, String>,
    },
    /// The command could not run at all (per-file problems are reported inside `Done`).
    Failed { job: u32, message: String },
}

/// Size of the slices the worker reads from a `File` (the file is never read whole).
pub const SLICE_BYTES: u64 = 4 * 1024 * 1024;

/// The message as it crosses `postMessage`: the command, and the Blobs of an `Open`, which
/// `serde-wasm-bindgen` passes through as they are (no bytes are copied).
#[cfg(feature = "web")]
#[derive(Serialize, Deserialize)]
pub struct Envelope {
    pub cmd: ToWorker,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blobs: js_sys::Array,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_with_non_finite_scales_refused_by_nobody() {
        let c = ToWorker::SetScale {
            job: 3,
            name: "*".into(),
            scale: f64::INFINITY,
            dtype: Some(QDType::Int16),
        };
        let s = serde_json::to_string(&c).expect("json");
        assert_eq!(serde_json::from_str::<ToWorker>(&s).expect("back"), c);
        assert_eq!(c.job(), 3);
    }
}
