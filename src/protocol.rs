//! The typed boundary between the UI thread and the analysis worker, which owns the session. The UI
//! sends commands ([`ToWorker`]; the files' Blobs travel beside them untouched) and receives
//! already-diagnosed results ([`FromWorker`]), both converted with `serde-wasm-bindgen`. Nothing is
//! diagnosed on the UI thread. Non-finite numbers cross intact (`engine::num`).

use crate::engine::compare::CompareRow;
use crate::engine::diagnose_report::RowDiagnosis;
use crate::engine::pairs::Side;
use crate::engine::preprocess::{Preprocess, RandomInputs};
use crate::engine::quant::QDType;
use crate::engine::session::{Analysis, Document, FileFinding, Intent, TensorSettings};
use crate::engine::whatif::PairWhatIf;
use serde::{Deserialize, Serialize};

/// UI → worker. Every command carries the job number its answer will carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToWorker {
    /// Read these files into the session (their Blobs are sent beside the command, in this order);
    /// a file of the same name and size replaces the earlier copy.
    Open { job: u32, names: Vec<String> },
    /// Files of the `Open` or `Restore` of the same job that follows, sent ahead of it in batches
    /// of [`STAGE_FILES`] (their Blobs beside the command): cloning a `File` into a message costs
    /// the UI thread about 0.2–0.3 ms, so a folder of hundreds goes in several messages, one task
    /// each, rather than in one that holds the page for a quarter of a second. The command's
    /// own Blobs come after the staged ones; its `names` cover them all.
    Stage { job: u32 },
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
    /// SHA-256 of files (their Blobs beside the command), for a digest link or to check dropped
    /// files against one. `purpose` is echoed back.
    Fingerprint {
        job: u32,
        names: Vec<String>,
        purpose: String,
    },
    /// Write the single-file HTML report: the app's files and the data files travel as Blobs
    /// beside the command, in this order: app JS, app wasm, worker JS, worker wasm, CSS, then one
    /// per `snippet_paths`, then one per `names`.
    ExportHtml {
        job: u32,
        snippet_paths: Vec<String>,
        names: Vec<String>,
        /// The view it opens (a fragment without `#`).
        fragment: String,
        title: String,
        about: String,
        /// The name to save it under (echoed in the answer).
        file_name: String,
    },
    /// Read or change the journal of runs (answered by [`FromWorker::Journal`], or
    /// [`FromWorker::JournalFile`] for `Export`); never a busy job.
    Journal { job: u32, cmd: JournalCmd },
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
            | ToWorker::Stage { job }
            | ToWorker::SetIntent { job, .. }
            | ToWorker::SetSide { job, .. }
            | ToWorker::SetScale { job, .. }
            | ToWorker::Pair { job, .. }
            | ToWorker::WhatIf { job, .. }
            | ToWorker::Clear { job }
            | ToWorker::ExportHtml { job, .. }
            | ToWorker::Fingerprint { job, .. }
            | ToWorker::Restore { job, .. }
            | ToWorker::Journal { job, .. } => *job,
        }
    }
}

/// Files per message when many are sent (see [`ToWorker::Stage`]): well under 100 ms of cloning.
pub const STAGE_FILES: usize = 96;

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
    /// The session after the command: every file, finding and pair, already diagnosed. Big tables
    /// and long finding lists follow in `parts` [`FromWorker::Part`] messages, so no single message
    /// takes the UI thread long to read.
    Done(Done),
    /// One slice of what a `Done` left out.
    Part(PartMsg),
    /// The answer to a what-if.
    WhatIf {
        job: u32,
        pair: usize,
        result: Result<PairWhatIf, String>,
    },
    /// Each file's (name, bytes, SHA-256 hex), in the order asked.
    Fingerprints {
        job: u32,
        purpose: String,
        files: Vec<(String, u64, String)>,
    },
    /// The single-file HTML report, or why it could not be written.
    Exported {
        job: u32,
        file_name: String,
        result: Result<String, String>,
    },
    /// The journal after a command (or after the loaded files changed): what the panel draws, and
    /// what the command did (`notice`) or why it could not (`error`).
    Journal {
        view: Box<crate::engine::views::JournalView>,
        notice: Option<String>,
        error: Option<String>,
    },
    /// The fragment (without `#`) of a link carrying the journal, or why there is none.
    JournalLink { result: Result<String, String> },
    /// A file to save (the journal's, or a diff's JSON).
    JournalFile { name: String, text: String },
    /// The command could not run at all (per-file problems are reported inside `Done`).
    Failed { job: u32, message: String },
}

/// A command on the journal of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum JournalCmd {
    /// Send the journal view (the panel opened, the page started).
    Get,
    /// Add a run; `with`: the loaded run folder whose reports it keeps (`""`: all loaded files),
    /// or none.
    Add {
        form: crate::engine::views::RunForm,
        with: Option<String>,
    },
    /// Change a run's name, kind, changed ops, note or accuracy.
    Update {
        id: String,
        form: crate::engine::views::RunForm,
    },
    Delete {
        id: String,
    },
    /// The branch metrics and the allowed loss in percent, as typed (`dynamic mAP, static mAP`, `1`).
    SetMetrics {
        text: String,
        allowed_loss: String,
    },
    /// Compare two runs (None: close the comparison), the layers judged by `by` (a metric of
    /// `compare --json`; None: SQNR, else Cosine, MSE, L1).
    Compare {
        pair: Option<(String, String)>,
        #[serde(default)]
        by: Option<String>,
    },
    /// The journal's file.
    Export,
    /// The whole diff of the compared runs, as `quantlens diff --json` writes it.
    ExportDiff,
    /// A link that carries the journal (answered by [`FromWorker::JournalLink`]).
    Link,
    /// A page opened with a journal link: merge the journal its fragment carries.
    OpenLink {
        fragment: String,
    },
}

/// [`FromWorker::Done`]: the session after a command. Its own struct (the variant's fields, tag
/// aside) so that the UI reads it straight: serde reads an internally tagged enum by buffering the
/// whole message first (its `Content`), then reading the buffer, which for a folder of hundreds of
/// tensors doubled the UI thread's ~90 ms of reading a `Done` (see [`read_from_worker`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Done {
    pub job: u32,
    /// Crosses as the bytes of a JSON text (see [`json_text`]).
    #[serde(with = "json_text")]
    pub analysis: Analysis,
    #[serde(default)]
    pub elapsed_ms: f64,
    #[serde(default)]
    pub parts: u32,
}

/// [`FromWorker::Part`]: one slice of what a `Done` left out.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMsg {
    pub job: u32,
    /// Crosses as the bytes of a JSON text (see [`json_text`]).
    #[serde(with = "json_text")]
    pub part: Part,
}

/// The bulk of a result (a `Done`'s analysis, a `Part`) crosses the worker boundary as the UTF-8
/// bytes of one JSON text (a `Uint8Array`) inside the typed message, not as a tree of JS objects:
/// the UI thread then copies one byte array into wasm and parses it there, where
/// `serde_wasm_bindgen` read every field of every row through a JS property lookup (a 1,000-row
/// part took 50–120 ms of the UI thread). Bytes rather than a JS string: a string is cloned as
/// UTF-16 and re-encoded into wasm character by character (wasm-bindgen's `passStringToWasm0`,
/// 0.2 s of the UI thread for a 50,000-row table), bytes are copied whole. The JSON keeps ∞ and
/// NaN (`engine::num`) and every f64 exactly (`float_roundtrip`). Serialised by `serde_json`
/// (tests), the bytes are an array of numbers; a JSON string is read too.
pub mod json_text {
    use serde::de::{self, DeserializeOwned, SeqAccess, Visitor};
    use serde::{Deserializer, Serialize, Serializer};
    use std::fmt;

    pub fn serialize<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_vec(v).map_err(serde::ser::Error::custom)?;
        s.serialize_bytes(&text)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let bytes = d.deserialize_byte_buf(JsonBytes)?;
        serde_json::from_slice(&bytes).map_err(de::Error::custom)
    }

    /// The JSON text's bytes, from bytes, a string or a sequence of numbers.
    struct JsonBytes;

    impl<'de> Visitor<'de> for JsonBytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON text as bytes or as a string")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Vec<u8>, E> {
            Ok(v.into_bytes())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// A worker's message as the UI reads it: `done` and `part` by their fields (see [`Done`]),
/// everything else as the tagged enum.
#[cfg(feature = "web")]
pub fn read_from_worker(v: wasm_bindgen::JsValue) -> Result<FromWorker, serde_wasm_bindgen::Error> {
    use serde_wasm_bindgen::from_value;
    let tag = |v: &wasm_bindgen::JsValue, key: &str| {
        js_sys::Reflect::get(v, &key.into())
            .ok()
            .and_then(|t| t.as_string())
    };
    match tag(&v, "type").as_deref() {
        Some("done") => from_value::<Done>(v).map(FromWorker::Done),
        Some("part") => from_value::<PartMsg>(v).map(FromWorker::Part),
        _ => from_value(v),
    }
}

/// A slice of a big result, sent after its `Done`. Adjacently tagged: read tag first, straight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Part {
    /// Rows `start..` of file `file`'s comparison table, with their diagnoses.
    Rows {
        file: usize,
        start: usize,
        rows: Vec<CompareRow>,
        diag: Vec<RowDiagnosis>,
    },
    /// Findings `start..` (in the triage's order).
    Findings {
        start: usize,
        findings: Vec<FileFinding>,
    },
    /// Tensor pairs `start..`. Sent *before* their `Done` (see [`split_for_transfer`]): the UI
    /// keeps them until the `Done` comes and never draws a session with some of its pairs.
    Pairs {
        start: usize,
        pairs: Vec<crate::engine::pairs::PairResult>,
    },
    /// Entries `start..` of file `file`'s scales (a QDQ model's: every weight's channel scales).
    /// Sent before their `Done`, as pairs are.
    Scales {
        file: usize,
        start: usize,
        entries: Vec<crate::engine::scales::ScaleEntry>,
    },
    /// Files `start..` (their reports, without the rows and scales that go in parts of their
    /// own). Sent before their `Done`, and before any other part, which may name them.
    Files {
        start: usize,
        files: Vec<crate::engine::document::FileReport>,
    },
}

impl Part {
    /// Sent before its `Done` (tensor pairs), not after it.
    pub fn goes_first(&self) -> bool {
        matches!(
            self,
            Part::Pairs { .. } | Part::Scales { .. } | Part::Files { .. }
        )
    }
}

/// Rows, findings and pairs per message: each message reads in well under 100 ms on the UI
/// thread. A pair carries its histograms and per-group figures (a few KB of JSON): 1,174 dumps of
/// a real PP-OCRv4 det run, 295 pairs, made one 160–260 ms task of the `Done` alone.
pub const ROWS_PER_PART: usize = 1000;
pub const FINDINGS_PER_PART: usize = 600;
pub const PAIRS_PER_PART: usize = 64;
/// A QDQ model's scales (the same det model: 1,586 entries, 1.25 MB of JSON with its weights'
/// channel scales) go in parts of this many entries.
pub const SCALES_PER_PART: usize = 256;
/// Files (a tensor dump's report is ~0.5 KB of JSON: a folder of 1,247 dumps made 600 KB of the
/// `Done`, read in one 40-65 ms task) go in parts of this many.
pub const FILES_PER_PART: usize = 256;

/// Split an analysis into what `Done` carries and the parts that go with it: the files, tensor
/// pairs and scales ([`Part::goes_first`]: all of them, when there are more than one part's
/// worth) to be sent before the `Done`, the files first; rows and findings after it.
pub fn split_for_transfer(mut a: Analysis) -> (Analysis, Vec<Part>) {
    let mut parts = Vec::new();
    for (fi, f) in a.files.iter_mut().enumerate() {
        if let Some(Document::Scales(set)) = f.document.as_mut() {
            if set.entries.len() > SCALES_PER_PART {
                let entries = std::mem::take(&mut set.entries);
                chunks(entries, 0, SCALES_PER_PART, |start, entries| {
                    parts.push(Part::Scales {
                        file: fi,
                        start,
                        entries,
                    })
                });
            }
        }
    }
    if a.tensors.pairs.len() > PAIRS_PER_PART {
        let pairs = std::mem::take(&mut a.tensors.pairs);
        chunks(pairs, 0, PAIRS_PER_PART, |start, pairs| {
            parts.push(Part::Pairs { start, pairs })
        });
    }
    for (fi, f) in a.files.iter_mut().enumerate() {
        if let Some(Document::Compare(t)) = f.document.as_mut() {
            if t.rows.len() > ROWS_PER_PART {
                let rows = std::mem::take(&mut t.rows);
                let mut diag = std::mem::take(&mut t.diag).into_iter();
                chunks(rows, 0, ROWS_PER_PART, |start, rows| {
                    let diag: Vec<RowDiagnosis> = diag.by_ref().take(rows.len()).collect();
                    parts.push(Part::Rows {
                        file: fi,
                        start,
                        rows,
                        diag,
                    })
                });
            }
        }
    }
    if a.findings.len() > FINDINGS_PER_PART {
        let rest = a.findings.split_off(FINDINGS_PER_PART);
        chunks(
            rest,
            FINDINGS_PER_PART,
            FINDINGS_PER_PART,
            |start, findings| parts.push(Part::Findings { start, findings }),
        );
    }
    // Last taken, first sent: the files (less their rows and scales) before the parts that name
    // them.
    if a.files.len() > FILES_PER_PART {
        let files = std::mem::take(&mut a.files);
        let mut first = Vec::new();
        chunks(files, 0, FILES_PER_PART, |start, files| {
            first.push(Part::Files { start, files })
        });
        parts.splice(0..0, first);
    }
    (a, parts)
}

/// `items` in chunks of `per` (the last one shorter), each given to `part` with its index in the
/// whole list (the first at `first`).
fn chunks<T>(items: Vec<T>, first: usize, per: usize, mut part: impl FnMut(usize, Vec<T>)) {
    let mut start = first;
    let mut items = items.into_iter();
    loop {
        let chunk: Vec<T> = items.by_ref().take(per.max(1)).collect();
        if chunk.is_empty() {
            break;
        }
        let n = chunk.len();
        part(start, chunk);
        start += n;
    }
}

/// Put the parts back into the analysis their `Done` carried.
pub fn assemble(mut a: Analysis, parts: Vec<Part>) -> Analysis {
    for p in parts {
        match p {
            Part::Rows {
                file, rows, diag, ..
            } => {
                if let Some(Document::Compare(t)) =
                    a.files.get_mut(file).and_then(|f| f.document.as_mut())
                {
                    t.rows.extend(rows);
                    t.diag.extend(diag);
                }
            }
            Part::Findings { findings, .. } => a.findings.extend(findings),
            Part::Pairs { pairs, .. } => a.tensors.pairs.extend(pairs),
            Part::Files { files, .. } => a.files.extend(files),
            Part::Scales { file, entries, .. } => {
                if let Some(Document::Scales(set)) =
                    a.files.get_mut(file).and_then(|f| f.document.as_mut())
                {
                    set.entries.extend(entries);
                }
            }
        }
    }
    a
}

/// Size of the slices the worker reads from a `File` (the file is never read whole).
pub const SLICE_BYTES: u64 = 4 * 1024 * 1024;

/// UI → the model runner's worker (its own wasm, loaded only when a model is run). The model's
/// Blob and the sample files' Blobs travel beside the command, in that order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToModel {
    Run {
        job: u32,
        model: String,
        inputs: Vec<String>,
        dtype: QDType,
        /// `minmax`, `percentile[:P]`, `mse` or `kl`.
        observer: String,
        /// The folder the written reports are named under (`<model>_run/`).
        folder: String,
        /// How image inputs become tensors.
        #[serde(default)]
        preprocess: Preprocess,
        /// Per input, the shape the user typed for its symbolic dimensions (empty: none).
        #[serde(default)]
        typed: Vec<Vec<Option<usize>>>,
        /// Run on seeded random inputs instead of the files (the user chose it, warned).
        #[serde(default)]
        random: Option<RandomInputs>,
        /// This worker's share of the sensitivity rows (`part` of `parts` workers). Part 0 writes
        /// the reports once it has the others' rows ([`ToModel::Parts`]); the others answer
        /// [`FromModel::Part`].
        #[serde(default)]
        part: u32,
        #[serde(default = "one")]
        parts: u32,
    },
    /// The other workers' sensitivity rows, for part 0 of a split run (it answers `Done`).
    Parts { job: u32, values: Vec<PartValues> },
    /// The model's declared inputs and whether the image files decode, before any run. The
    /// model's Blob and the images' Blobs travel beside it.
    Inspect {
        job: u32,
        model: String,
        images: Vec<String>,
    },
    /// Benchmark (not used by the app; `e2e/bench_model.mjs`): the model's Blob and one input's
    /// raw little-endian f32 values (`shape`) travel beside the command. Times `warmup` + `runs`
    /// forward passes, then, if asked, int8 min-max calibration and true sensitivity of every
    /// tensor, and a whole `run_report` (what `Run` does) with the time of each stage.
    Bench {
        job: u32,
        shape: Vec<usize>,
        warmup: u32,
        runs: u32,
        sensitivity: bool,
        full_run: bool,
    },
}

/// One worker's sensitivity rows in a split run: (row index, values per output: L1, Cosine, SQNR).
pub type PartValues = Vec<(u32, Vec<[f64; 3]>)>;

fn one() -> u32 {
    1
}

impl ToModel {
    pub fn job(&self) -> u32 {
        match self {
            ToModel::Run { job, .. }
            | ToModel::Parts { job, .. }
            | ToModel::Inspect { job, .. }
            | ToModel::Bench { job, .. } => *job,
        }
    }
}

/// What a [`ToModel::Bench`] measured in the model worker (times in ms, from `performance.now`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BenchResult {
    /// Quantizable tensors the engine found (in plan order).
    pub tensors: usize,
    /// `Model::load` (parse, fix the input shape, type the graph).
    pub load_ms: f64,
    /// The first forward pass (the wasm tiers up during it), then the timed ones after warm-up.
    pub first_ms: f64,
    pub forward_ms: Vec<f64>,
    /// The first output of the float run (to check it against another runtime's).
    pub output: Vec<f32>,
    pub calibrate_ms: f64,
    pub sensitivity_ms: f64,
    /// Tensors whose sensitivity was measured.
    pub sensitivity_tensors: usize,
    /// (tensor name, int8 min-max scale) used by the sensitivity run.
    pub scales: Vec<(String, f64)>,
    /// (tensor name, L1 at the first output) of the sensitivity run.
    pub sensitivity_l1: Vec<(String, f64)>,
    /// `run_report` (load + calibration + simulation + sensitivity + tables), whole and by stage.
    pub full_run_ms: f64,
    pub full_run_stages: Vec<(String, f64)>,
    /// The worker's wasm memory after everything (it never shrinks: the high-water mark).
    pub wasm_heap_bytes: f64,
    /// The same forward pass on tract's own optimized plan of the untouched model (no taps, tract's
    /// run loop): what the taps and QuantLens's stepping cost.
    #[serde(default)]
    pub plain_forward_ms: Vec<f64>,
}

/// A dropped image as the model runner read it: its size, or why it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageCheck {
    pub name: String,
    pub size: Option<(usize, usize)>,
    pub error: Option<String>,
}

/// Model runner's worker → UI.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FromModel {
    Ready,
    Progress {
        job: u32,
        stage: String,
        done: u64,
        total: u64,
        /// The worker's wasm memory now (it never shrinks: the high-water mark so far).
        #[serde(default)]
        wasm_heap_bytes: f64,
    },
    /// The reports written (name, text), opened then like dropped files; notes on samples left out.
    Done {
        job: u32,
        files: Vec<(String, String)>,
        notes: Vec<String>,
        /// What the run was given (images and their preprocessing, random inputs and the warning).
        #[serde(default)]
        used: Vec<String>,
        /// The worker's wasm memory at the end (its high-water mark).
        #[serde(default)]
        wasm_heap_bytes: f64,
    },
    /// The answer to `Inspect`: each input's name and declared shape (`None`: symbolic).
    Inputs {
        job: u32,
        model: String,
        inputs: Vec<(String, Vec<Option<usize>>)>,
        images: Vec<ImageCheck>,
    },
    Failed {
        job: u32,
        message: String,
    },
    /// The answer to a [`ToModel::Bench`].
    Bench {
        job: u32,
        result: BenchResult,
    },
    /// A split run's worker `part` (> 0): its sensitivity rows.
    Part {
        job: u32,
        part: u32,
        values: PartValues,
        /// The worker's wasm memory at the end (its high-water mark).
        #[serde(default)]
        wasm_heap_bytes: f64,
    },
    /// A split run's part 0: its own rows are measured; it waits for [`ToModel::Parts`].
    AwaitingParts {
        job: u32,
    },
}

/// A [`ToModel`] command with its Blobs.
#[cfg(any(feature = "web", feature = "model-web"))]
#[derive(Serialize, Deserialize)]
pub struct ModelEnvelope {
    pub cmd: ToModel,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blobs: js_sys::Array,
}

/// The message as it crosses `postMessage`: the command, and the Blobs of an `Open`, which
/// `serde-wasm-bindgen` passes through as they are (no bytes are copied).
#[cfg(feature = "web")]
#[derive(Serialize, Deserialize)]
pub struct Envelope {
    pub cmd: ToWorker,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blobs: js_sys::Array,
}

/// A part of a big pair for a helper worker (the analysis worker spreads big pairs over
/// `navigator.hardwareConcurrency` workers): its two tensors, the part, and what the pass needs.
/// `merged` absent: the metrics pass (`pairs::compare_part`); present: the histogram pass over
/// the merged metrics' ranges (`pairs::hist_part`). Posted with the two Blobs (float, quant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartTask {
    pub id: u32,
    pub float: crate::engine::tensor::TensorEntry,
    pub quant: crate::engine::tensor::TensorEntry,
    pub spec: Option<crate::engine::metrics::QuantSpec>,
    pub deq: Option<crate::engine::pairs::Deq>,
    pub part: crate::engine::pairs::PairPart,
    pub merged: Option<crate::engine::metrics::PairMetrics>,
}

/// What a part's pass computed.
pub use crate::engine::pairs::PartOutput;

/// A helper worker's messages: progress (bytes of its part read) and the part's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum PartReply {
    /// The helper's wasm is running and its handler installed: parts posted before would be lost.
    Ready,
    Progress {
        id: u32,
        done_bytes: u64,
    },
    Done {
        id: u32,
        /// Boxed: a part's sums are large beside the other replies (the wire format is the same).
        result: Box<Result<PartOutput, String>>,
    },
}

/// A [`PartTask`] as it crosses `postMessage`, with the Blobs of its two files.
#[cfg(feature = "web")]
#[derive(Serialize, Deserialize)]
pub struct PartEnvelope {
    pub task: PartTask,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blobs: js_sys::Array,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `done` and `part` read by their fields (as the UI reads them) give the message the tagged
    /// enum gives; their bulk crosses as JSON text that reads back exactly, ∞ and NaN included.
    #[test]
    fn done_and_part_read_by_their_fields_as_the_enum_reads_them() {
        use crate::engine::session::read_source;
        let text = std::fs::read_to_string(
            "tests/fixtures/real/ort_int8/horizon_quant_analysis/compare_per_layer_out.txt",
        )
        .expect("fixture");
        let mut s = crate::engine::session::Session::new();
        s.add_report(read_source(
            "compare_per_layer_out.txt",
            text.len() as u64,
            text.as_bytes(),
        ));
        s.update(&mut |_, _, _| {});
        let (analysis, mut parts) = split_for_transfer(s.analysis.clone());
        let done = FromWorker::Done(Done {
            job: 7,
            analysis,
            elapsed_ms: 12.5,
            parts: 1,
        });
        let json = serde_json::to_string(&done).expect("json");
        // The tag, then the fields, as the struct variant wrote them; the analysis is the bytes
        // of one JSON text (here, through serde_json, an array of numbers: `{"` is 123, 34).
        assert!(
            json.starts_with(r#"{"type":"done","job":7,"analysis":[123,34,"#),
            "{}",
            &json[..60]
        );
        let by_fields = FromWorker::Done(serde_json::from_str::<Done>(&json).expect("fields"));
        assert_eq!(serde_json::to_string(&by_fields).expect("json"), json);
        parts.push(Part::Findings {
            start: 3,
            findings: s.analysis.findings.clone(),
        });
        let part = FromWorker::Part(PartMsg {
            job: 7,
            part: parts.pop().expect("a part"),
        });
        let json = serde_json::to_string(&part).expect("json");
        assert!(
            json.starts_with(r#"{"type":"part","job":7,"part":[123,34,107,105,110,100,34,"#),
            "{}",
            &json[..80]
        );
        let by_fields = FromWorker::Part(serde_json::from_str::<PartMsg>(&json).expect("fields"));
        assert_eq!(serde_json::to_string(&by_fields).expect("json"), json);
        let Some(Document::Compare(t)) = s.analysis.files[0].document.clone() else {
            panic!("a comparison table")
        };
        assert!(!t.rows.is_empty());
        let (mut rows, diag) = (t.rows, t.diag);
        // Non-finite metrics stay what they were (NaN is not `None`), and f64s stay exact.
        rows[0].cosine = Some(f64::NAN);
        rows[0].sqnr = Some(f64::INFINITY);
        rows[0].base_min = Some(-f64::INFINITY);
        rows[1].mse = Some(0.1 + 0.2);
        let msg = FromWorker::Part(PartMsg {
            job: 7,
            part: Part::Rows {
                file: 0,
                start: 2,
                rows,
                diag,
            },
        });
        let json = serde_json::to_string(&msg).expect("json");
        let FromWorker::Part(PartMsg {
            part: Part::Rows { rows: back, .. },
            ..
        }) = FromWorker::Part(serde_json::from_str::<PartMsg>(&json).expect("fields"))
        else {
            panic!("rows")
        };
        assert!(back[0].cosine.is_some_and(f64::is_nan));
        assert_eq!(back[0].sqnr, Some(f64::INFINITY));
        assert_eq!(back[0].base_min, Some(-f64::INFINITY));
        assert_eq!(back[1].mse, Some(0.1 + 0.2));
    }

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

    #[test]
    fn big_results_split_into_parts_and_assemble_to_the_same_analysis() {
        use crate::engine::session::read_source;
        let text = std::fs::read_to_string(
            "tests/fixtures/real/ort_int8/horizon_quant_analysis/compare_per_layer_out.txt",
        )
        .expect("fixture");
        // 10 × the real rows: more than one part of rows, and many findings.
        let mut lines: Vec<&str> = text.lines().collect();
        let body: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| {
                l.starts_with("| ")
                    && l[2..]
                        .trim_start()
                        .starts_with(|c: char| c.is_ascii_digit())
            })
            .collect();
        let at = lines.iter().position(|l| *l == body[0]).expect("body");
        for _ in 0..12 {
            lines.splice(at..at, body.iter().copied());
        }
        let big = lines.join("\n");
        let mut a = Analysis::default();
        a.add_file(read_source("c.txt", big.len() as u64, big.as_bytes()));
        a.recompute();
        let before = serde_json::to_string(&a).expect("json");
        let (light, parts) = split_for_transfer(a);
        assert!(parts.len() >= 2, "{} parts", parts.len());
        // What crosses is JSON: each part reads back on its own.
        let parts: Vec<Part> = parts
            .iter()
            .map(|p| serde_json::from_str(&serde_json::to_string(p).expect("enc")).expect("dec"))
            .collect();
        let back = assemble(light, parts);
        let after = serde_json::to_string(&back).expect("json");
        if let Some(k) = before.bytes().zip(after.bytes()).position(|(x, y)| x != y) {
            panic!(
                "differ at {k}: {:?} vs {:?}",
                &before[k.saturating_sub(80)..(k + 80).min(before.len())],
                &after[k.saturating_sub(80)..(k + 80).min(after.len())]
            );
        }
        assert_eq!(before.len(), after.len());
    }

    /// A folder of more than `FILES_PER_PART` files: the files cross in parts before the `Done`,
    /// ahead of the scales that name one of them, and assemble to the same session.
    #[test]
    fn many_files_go_in_parts_first() {
        let mut s = crate::engine::session::Session::new();
        let npy = |v: f32| {
            let mut h = b"\x93NUMPY\x01\x00".to_vec();
            let dict = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }";
            let pad = 64 - (10 + dict.len() + 1) % 64;
            h.extend_from_slice(&((dict.len() + pad + 1) as u16).to_le_bytes());
            h.extend_from_slice(dict);
            h.extend(std::iter::repeat_n(b' ', pad));
            h.push(b'\n');
            for k in 0..4 {
                h.extend_from_slice(&(v + k as f32).to_le_bytes());
            }
            h
        };
        let n = 2 * FILES_PER_PART + 7;
        for i in 0..n {
            let side = if i % 2 == 0 { "float" } else { "int8" };
            s.open(
                &format!("run/{side}/t{}.npy", i / 2),
                Box::new(npy(i as f32)),
            );
        }
        let model = std::fs::read("tests/fixtures/scales/ppocr_cls_qdq_int8.onnx").expect("model");
        s.open("run/model_qdq.onnx", Box::new(model));
        s.update(&mut |_, _, _| {});
        assert_eq!(s.analysis.files.len(), n + 1);
        let before = serde_json::to_string(&s.analysis).expect("json");
        let (light, parts) = split_for_transfer(s.analysis.clone());
        assert!(light.files.is_empty());
        let files: Vec<usize> = parts
            .iter()
            .map_while(|p| match p {
                Part::Files { start, files } => Some(*start + files.len()),
                _ => None,
            })
            .collect();
        assert_eq!(files.len(), (n + 1).div_ceil(FILES_PER_PART), "files first");
        assert_eq!(files.last(), Some(&(n + 1)));
        assert!(parts.iter().any(|p| matches!(p, Part::Scales { .. })));
        assert!(parts.iter().all(|p| p.goes_first()));
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|p| serde_json::from_str(&serde_json::to_string(&p).expect("enc")).expect("dec"))
            .collect();
        let after = serde_json::to_string(&assemble(light, parts)).expect("json");
        assert!(before == after, "the session changed in transit");
    }

    /// A real run's pairs and its QDQ model's scales cross as parts of at most `PAIRS_PER_PART`
    /// pairs and `SCALES_PER_PART` entries, all before the `Done`, and assemble to the same session.
    #[test]
    fn pairs_and_scales_go_in_parts_before_their_done() {
        let dir = "tests/fixtures/real/ort_int8";
        let mut s = crate::engine::session::Session::new();
        for f in ["float.npz", "quant.npz"] {
            let bytes = std::fs::read(format!("{dir}/{f}")).expect("fixture");
            s.open(&format!("ort_int8/{f}"), Box::new(bytes));
        }
        let model = std::fs::read("tests/fixtures/scales/ppocr_cls_qdq_int8.onnx").expect("model");
        s.open("ort_int8/model_qdq.onnx", Box::new(model));
        s.update(&mut |_, _, _| {});
        let n = s.analysis.tensors.pairs.len();
        assert!(n > 2 * PAIRS_PER_PART, "{n} pairs");
        let before = serde_json::to_string(&s.analysis).expect("json");
        let (light, parts) = split_for_transfer(s.analysis.clone());
        assert!(light.tensors.pairs.is_empty());
        let pair_parts = parts
            .iter()
            .filter(|p| matches!(p, Part::Pairs { .. }))
            .count();
        assert_eq!(pair_parts, n.div_ceil(PAIRS_PER_PART));
        assert!(
            parts
                .iter()
                .filter(|p| matches!(p, Part::Scales { .. }))
                .count()
                >= 2
        );
        assert!(parts.iter().all(|p| p.goes_first()));
        // The worker sends these first; then the rest after the Done, in order.
        let (first, rest): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.goes_first());
        let parts: Vec<Part> = first
            .into_iter()
            .chain(rest)
            .map(|p| serde_json::from_str(&serde_json::to_string(&p).expect("enc")).expect("dec"))
            .collect();
        let after = serde_json::to_string(&assemble(light, parts)).expect("json");
        assert!(before == after, "the session changed in transit");
    }
}
