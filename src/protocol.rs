//! Messages between the UI thread and the analysis worker (serialized as JSON strings).

use crate::engine::Analysis;
use serde::{Deserialize, Serialize};

/// Worker → UI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromWorker {
    /// The worker's wasm module is loaded and it accepts jobs.
    Ready,
    /// Bytes read so far in the current job.
    Progress {
        job: u32,
        file_index: usize,
        file_name: String,
        done_bytes: u64,
        total_bytes: u64,
    },
    /// The job finished; the analysis of every file in it, and how long reading and parsing took.
    Done {
        job: u32,
        analysis: Analysis,
        #[serde(default)]
        elapsed_ms: f64,
    },
    /// The job could not run at all (per-file problems are reported inside `Done`).
    Failed { job: u32, message: String },
}

/// Size of the slices the worker reads from a `File` (the file is never read whole).
pub const SLICE_BYTES: u64 = 4 * 1024 * 1024;
