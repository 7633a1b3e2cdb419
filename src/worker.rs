//! The analysis web worker: owns the session, reads dropped files in slices (`FileReaderSync` over
//! `Blob.slice`), runs every command of the UI off its thread and posts progress and results.

use crate::engine::session::{is_tensor_file, read_source, Session};
use crate::engine::tensor::ByteSource;
use crate::protocol::{Envelope, FromWorker, ToWorker, SLICE_BYTES};
use js_sys::{Array, Uint8Array};
use std::io::Read;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DedicatedWorkerGlobalScope, FileReaderSync, MessageEvent};

/// Send a typed message to the UI (converted with serde-wasm-bindgen: no JSON text in between).
fn post(scope: &DedicatedWorkerGlobalScope, msg: &FromWorker) {
    match serde_wasm_bindgen::to_value(msg) {
        Ok(v) => {
            let _ = scope.post_message(&v);
        }
        Err(e) => {
            if let Ok(v) = serde_wasm_bindgen::to_value(&FromWorker::Failed {
                job: u32::MAX,
                message: format!("cannot encode a result: {e}"),
            }) {
                let _ = scope.post_message(&v);
            }
        }
    }
}

/// `Read` over a Blob, one slice at a time: the file is never in memory whole.
struct BlobReader<'a> {
    blob: Blob,
    reader: FileReaderSync,
    size_bytes: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_pos: usize,
    on_slice: &'a mut dyn FnMut(u64),
}

impl Read for BlobReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.buf_pos >= self.buf.len() {
            if self.pos >= self.size_bytes {
                return Ok(0);
            }
            let end = (self.pos + SLICE_BYTES).min(self.size_bytes);
            let slice = self
                .blob
                .slice_with_f64_and_f64(self.pos as f64, end as f64)
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
            let array_buffer = self.reader.read_as_array_buffer(&slice).map_err(|e| {
                std::io::Error::other(format!("the browser could not read the file: {e:?}"))
            })?;
            self.buf = Uint8Array::new(&array_buffer).to_vec();
            self.buf_pos = 0;
            self.pos = end;
            (self.on_slice)(self.pos);
            if self.buf.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buf.len() - self.buf_pos);
        out[..n].copy_from_slice(&self.buf[self.buf_pos..self.buf_pos + n]);
        self.buf_pos += n;
        Ok(n)
    }
}

/// Random access to a Blob: each read is one `Blob.slice` read synchronously (the file is never whole).
pub(crate) struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    size_bytes: u64,
}

impl BlobSource {
    /// A Blob read with a `FileReaderSync` of its own (workers only).
    pub(crate) fn new(blob: &Blob) -> Result<BlobSource, String> {
        Ok(BlobSource {
            blob: blob.clone(),
            reader: FileReaderSync::new()
                .map_err(|e| format!("FileReaderSync unavailable: {e:?}"))?,
            size_bytes: blob.size() as u64,
        })
    }
}

impl ByteSource for BlobSource {
    fn size(&self) -> u64 {
        self.size_bytes
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset + buf.len() as u64 > self.size_bytes {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            ));
        }
        let slice = self
            .blob
            .slice_with_f64_and_f64(offset as f64, (offset + buf.len() as u64) as f64)
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        let ab = self.reader.read_as_array_buffer(&slice).map_err(|e| {
            std::io::Error::other(format!("the browser could not read the file: {e:?}"))
        })?;
        Uint8Array::new(&ab).copy_to(buf);
        Ok(())
    }
}

/// Keep a part's result (an error stands for the whole pair: the first one is kept).
fn store_part(p: &mut SpreadPair, i: usize, result: Result<crate::protocol::PartOutput, String>) {
    match result {
        Ok(crate::protocol::PartOutput::Sums(s)) => p.sums[i] = Some(s),
        Ok(crate::protocol::PartOutput::Hist(h)) => p.hists[i] = h,
        Ok(crate::protocol::PartOutput::Whole(s, h)) => {
            p.sums[i] = Some(s);
            p.hists[i] = h;
            p.whole = true;
        }
        Err(e) => {
            p.error.get_or_insert(e);
        }
    }
}

/// The spread's progress to the UI (at most ~20 messages a second): bytes read by every worker.
fn spread_progress(scope: &DedicatedWorkerGlobalScope, sp: &mut Spread) {
    let now = js_sys::Date::now();
    if now - sp.last_progress < 50.0 {
        return;
    }
    sp.last_progress = now;
    let done = sp.earlier_passes_bytes + sp.own_done + sp.done.values().sum::<u64>();
    let name = match sp.pairs.as_slice() {
        [p] => p.name.clone(),
        ps => format!("{} pairs", ps.len()),
    };
    post(
        scope,
        &FromWorker::Progress {
            job: sp.job,
            stage: if sp.hist { "histograms" } else { "comparing" }.into(),
            file_index: 0,
            file_name: name,
            done_bytes: done.min(sp.total_bytes),
            total_bytes: sp.total_bytes,
        },
    );
}

/// An `Open` with at least this many small files reads them side by side first.
const PREFETCH_MIN_FILES: usize = 16;

/// Tensor files up to this size are held in memory once read (see `Worker::open`)…
const SMALL_FILE_BYTES: u64 = 8 << 20;
/// …up to this much in all.
const CACHE_BYTES: u64 = 256 << 20;

/// A comparison drawn: the pair, the metric, the journal revision, and the view.
type Compared = (
    (String, String),
    Option<String>,
    u64,
    crate::engine::views::DiffView,
);

/// The worker's state: the session it owns and the reader of Blob slices.
struct Worker {
    scope: DedicatedWorkerGlobalScope,
    reader: FileReaderSync,
    session: Session,
    /// Bytes of small tensor files held in memory.
    cached_bytes: u64,
    /// The journal of runs (kept in IndexedDB), the two runs compared, and the journal files
    /// already merged into it (name, size).
    journal: crate::engine::journal::Journal,
    compare: Option<(String, String)>,
    /// The metric the compared layers are judged by (None: the default).
    compare_by: Option<String>,
    /// The last comparison drawn, with the pair, metric and journal revision it was made for.
    compared: Option<Compared>,
    /// Bumped at each change of the journal.
    revision: u64,
    db: Option<web_sys::IdbDatabase>,
    store_error: Option<String>,
    merged: std::collections::HashSet<(String, u64)>,
    /// This worker's own handle (helpers' replies reach its state through it).
    me: std::rc::Weak<std::cell::RefCell<Worker>>,
    /// Helper workers (started when a big pair first needs them) and the Blobs of the tensor
    /// files (read in slices, or kept in memory here), by name, for them to read too.
    helpers: Vec<crate::spread::Helper>,
    blobs: std::collections::HashMap<String, Blob>,
    /// Big pairs being compared in parts on the helpers; commands that arrive meanwhile wait.
    spread: Option<Spread>,
    /// The last pass's serial (see [`Spread::serial`]).
    serials: u64,
    /// Bytes the current job already went through before its comparing stage (the files it read
    /// whole; the spread's passes): its comparing progress continues from there, so one job's bar
    /// never goes back to 0 when its stage changes.
    progress_base: u64,
    queue: std::collections::VecDeque<Envelope>,
    next_task: u32,
    /// Small files being read side by side (`open_prefetched`); commands that arrive wait.
    reading: bool,
    /// Blobs staged ahead of their job's `Open` or `Restore` ([`ToWorker::Stage`]), and beside
    /// each its read, started as it arrived (a promise of its bytes; undefined for a big file).
    staged: Option<(u32, Array, Array)>,
}

/// A big pair compared in parts: its files, the quantizer and dequantizing scale of every part,
/// the parts, and what they computed.
struct SpreadPair {
    pair: crate::engine::pairs::DeferredPair,
    name: String,
    float: Blob,
    quant: Blob,
    spec: Option<crate::engine::metrics::QuantSpec>,
    deq: Option<crate::engine::pairs::Deq>,
    parts: Vec<crate::engine::pairs::PairPart>,
    sums: Vec<Option<crate::engine::metrics::AccPart>>,
    hists: Vec<Option<crate::engine::metrics::HistPart>>,
    /// The metrics merged from the sums (the histogram pass's ranges), once they are in.
    merged: Option<crate::engine::metrics::PairMetrics>,
    /// Its histograms came with its sums (a compressed or small pair compared whole on one
    /// worker in one read, `pairs::one_read`).
    whole: bool,
    error: Option<String>,
}

/// The command whose big pairs are out on the helpers, and the parts it waits for.
struct Spread {
    job: u32,
    started: f64,
    pairs: Vec<SpreadPair>,
    /// The histogram pass (after the metrics pass).
    hist: bool,
    /// Parts out on helpers: task id → (pair, part), and each task's bytes read so far.
    waiting: std::collections::HashMap<u32, (usize, usize)>,
    done: std::collections::HashMap<u32, u64>,
    own_done: u64,
    /// Bytes of both passes (the histogram pass's as expected at the start, then as known): the
    /// progress runs once from 0 to this, never back.
    total_bytes: u64,
    /// Bytes read by the passes before this one.
    earlier_passes_bytes: u64,
    last_progress: f64,
    /// This worker's own parts of the pass, waiting to start, and those started and not done.
    own: Vec<(usize, usize, crate::protocol::PartTask)>,
    own_left: usize,
    /// Which pass this is (own parts of an abandoned or earlier pass are dropped).
    serial: u64,
}

impl Worker {
    fn progress(
        &self,
        job: u32,
        stage: &str,
        file_index: usize,
        name: &str,
        done: u64,
        total: u64,
    ) {
        post(
            &self.scope,
            &FromWorker::Progress {
                job,
                stage: stage.to_string(),
                file_index,
                file_name: name.to_string(),
                done_bytes: done,
                total_bytes: total,
            },
        );
    }

    /// Read the files of an `Open` into the session: tensor dumps by random access (their Blobs
    /// stay in the session), reports as a stream of slices.
    fn open(&mut self, job: u32, names: &[String], blobs: &Array) -> Result<(), String> {
        self.open_with(job, names, blobs, &mut Vec::new())
    }

    /// An `Open` of many small files: they are read all at once with `Blob.arrayBuffer()` (the
    /// browser reads them side by side, where synchronous reads go one after another), then
    /// opened as [`Worker::open`] does; commands that arrive meanwhile wait. Few or big files go
    /// straight to `open`.
    /// `early`: reads already started (by index; see [`Worker::staged`]).
    fn open_prefetched(
        &mut self,
        job: u32,
        names: Vec<String>,
        blobs: Array,
        early: &Array,
        started: f64,
    ) {
        let small: Vec<usize> = (0..blobs.length())
            .filter(|&i| {
                blobs
                    .get(i)
                    .dyn_into::<Blob>()
                    .is_ok_and(|b| (b.size() as u64) <= SMALL_FILE_BYTES)
            })
            .map(|i| i as usize)
            .collect();
        if small.len() < PREFETCH_MIN_FILES {
            match self.open(job, &names, &blobs) {
                Ok(()) => self.compare_and_send(job, started),
                Err(message) => post(&self.scope, &FromWorker::Failed { job, message }),
            }
            return;
        }
        let total_bytes: u64 = (0..blobs.length())
            .filter_map(|i| blobs.get(i).dyn_into::<Blob>().ok())
            .map(|b| b.size() as u64)
            .sum();
        // Read side by side: the line names how many, not one of them.
        let what = format!("{} small files", small.len());
        self.progress(job, "reading", 0, &what, 0, total_bytes);
        let promises = Array::new();
        for &i in &small {
            let started = early.get(i as u32);
            if started.is_instance_of::<js_sys::Promise>() {
                promises.push(&started);
            } else {
                let b: Blob = blobs.get(i as u32).unchecked_into();
                promises.push(&b.array_buffer());
            }
        }
        self.reading = true;
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let all = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::all_settled(&promises))
                .await
                .ok()
                .map(|v| v.unchecked_into::<Array>());
            let Some(w) = me.upgrade() else {
                return;
            };
            let Ok(mut w) = w.try_borrow_mut() else {
                return;
            };
            // Each read that succeeded, by file index; a failed one is read again in `open`.
            let mut pre: Vec<Option<Vec<u8>>> = vec![None; names.len()];
            if let Some(all) = all {
                for (k, &i) in small.iter().enumerate() {
                    let r = all.get(k as u32);
                    let value = js_sys::Reflect::get(&r, &"value".into()).ok();
                    if let Some(ab) = value.and_then(|v| v.dyn_into::<js_sys::ArrayBuffer>().ok()) {
                        pre[i] = Some(Uint8Array::new(&ab).to_vec());
                    }
                }
            }
            w.reading = false;
            match w.open_with(job, &names, &blobs, &mut pre) {
                Ok(()) => w.compare_and_send(job, started),
                Err(message) => post(&w.scope, &FromWorker::Failed { job, message }),
            }
            w.drain();
        });
    }

    /// [`Worker::open`], taking the bytes of files already read from `pre` (by index).
    fn open_with(
        &mut self,
        job: u32,
        names: &[String],
        blobs: &Array,
        pre: &mut [Option<Vec<u8>>],
    ) -> Result<(), String> {
        let blobs: Vec<Blob> = blobs
            .iter()
            .map(|b| b.dyn_into::<Blob>())
            .collect::<Result<_, _>>()
            .map_err(|_| "the files did not reach the worker".to_string())?;
        if blobs.len() != names.len() {
            return Err(format!("{} names for {} files", names.len(), blobs.len()));
        }
        // The bar of the whole job: every file's bytes, and (added as they are found) the small
        // tensor files' bytes again, compared after the reading; big tensor files are read once,
        // when compared.
        let mut total_bytes: u64 = blobs.iter().map(|b| b.size() as u64).sum();
        let mut done_before = 0u64;
        // At most ~20 progress messages a second however many files: a folder of a thousand
        // small dumps is not a thousand messages for the page to draw.
        let mut last_progress = f64::NEG_INFINITY;
        for (file_index, (name, blob)) in names.iter().zip(blobs).enumerate() {
            let size_bytes = blob.size() as u64;
            let now = js_sys::Date::now();
            if now - last_progress >= 50.0 {
                last_progress = now;
                // The bytes are all the files', so the line says which file of how many.
                let what = match names.len() {
                    1 => name.clone(),
                    n => format!("{name} (file {} of {n})", file_index + 1),
                };
                self.progress(job, "reading", file_index, &what, done_before, total_bytes);
            }
            let mut src = BlobSource {
                blob: blob.clone(),
                reader: self.reader.clone(),
                size_bytes,
            };
            // A small file is read once, whole: each synchronous Blob read costs about a
            // millisecond, and a pair takes several. Tensor dumps stay in memory (up to
            // CACHE_BYTES in all); big ones stay in the Blob, read in slices when compared.
            if size_bytes <= SMALL_FILE_BYTES {
                let read = match pre.get_mut(file_index).and_then(Option::take) {
                    Some(all) if all.len() as u64 == size_bytes => Some(all),
                    _ => {
                        let mut all = vec![0u8; size_bytes as usize];
                        src.read_at(0, &mut all).is_ok().then_some(all)
                    }
                };
                if let Some(all) = read {
                    let head = &all[..all.len().min(16)];
                    if is_tensor_file(head, size_bytes) {
                        total_bytes += size_bytes;
                        if self.cached_bytes + size_bytes <= CACHE_BYTES {
                            self.cached_bytes += size_bytes;
                            self.session.open(name, Box::new(all));
                            // Its Blob too: a helper worker inflates a compressed member's
                            // pair from it (see `compare_and_send`).
                            self.blobs.insert(name.clone(), blob.clone());
                        } else {
                            self.blobs.insert(name.clone(), blob.clone());
                            self.session.open(name, Box::new(src));
                        }
                    } else {
                        self.session
                            .add_report(read_source(name, size_bytes, all.as_slice()));
                    }
                    done_before += size_bytes;
                    continue;
                }
            }
            let mut head = vec![0u8; size_bytes.min(16) as usize];
            if src.read_at(0, &mut head).is_ok() && is_tensor_file(&head, size_bytes) {
                self.blobs.insert(name.clone(), blob.clone());
                self.session.open(name, Box::new(src));
                // Not read here (its header only): its bytes are read when it is compared.
                continue;
            } else {
                let scope = self.scope.clone();
                let mut last = 0.0f64;
                let mut on_slice = |pos: u64| {
                    let now = js_sys::Date::now();
                    if now - last < 50.0 && pos < size_bytes {
                        return;
                    }
                    last = now;
                    post(
                        &scope,
                        &FromWorker::Progress {
                            job,
                            stage: "reading".into(),
                            file_index,
                            file_name: name.clone(),
                            done_bytes: done_before + pos,
                            total_bytes,
                        },
                    );
                };
                let source = BlobReader {
                    blob,
                    reader: self.reader.clone(),
                    size_bytes,
                    pos: 0,
                    buf: Vec::new(),
                    buf_pos: 0,
                    on_slice: &mut on_slice,
                };
                self.session
                    .add_report(read_source(name, size_bytes, source));
            }
            done_before += size_bytes;
        }
        self.progress_base = done_before;
        Ok(())
    }

    /// Compare what changed and send the session back: big pairs spread over helper workers
    /// first (the rest of the command then waits for their parts), everything else here.
    fn compare_and_send(&mut self, job: u32, started: f64) {
        // Big pairs are read as streams into reused buffers (bounded memory, the browser reading
        // ahead), in parts on several workers where the machine has the cores; compressed pairs
        // (deflated `.npz` members of 1 MiB and more) go round the workers whole, inflated there.
        let k = crate::spread::workers_wanted(&self.scope);
        let deferred = self
            .session
            .deferred_pairs(crate::engine::pairs::DEFER_MIN_BYTES);
        if !deferred.is_empty() && self.start_spread(job, started, deferred, k) {
            return;
        }
        self.update_and_send(job, started);
    }

    /// Start the helpers a spread needs (those that cannot start are done without).
    fn ensure_helpers(&mut self, n: usize) {
        while self.helpers.len() < n {
            let (me_reply, me_error) = (self.me.clone(), self.me.clone());
            let on_reply = Box::new(move |r: crate::protocol::PartReply| {
                if let Some(w) = me_reply.upgrade() {
                    if let Ok(mut w) = w.try_borrow_mut() {
                        w.on_part_reply(r);
                    }
                }
            });
            let on_error = std::rc::Rc::new(move |message: String| {
                if let Some(w) = me_error.upgrade() {
                    if let Ok(mut w) = w.try_borrow_mut() {
                        w.on_helper_failed(&message);
                    }
                }
            });
            match crate::spread::spawn_helper(&self.scope, on_reply, on_error) {
                Ok(h) => self.helpers.push(h),
                Err(_) => break,
            }
        }
    }

    /// Spread the big pairs over this worker and `k − 1` helpers (false: nothing to spread).
    fn start_spread(
        &mut self,
        job: u32,
        started: f64,
        deferred: Vec<crate::engine::pairs::DeferredPair>,
        k: usize,
    ) -> bool {
        use crate::engine::pairs::{part_setup, plan_pair_parts};
        self.ensure_helpers(k.saturating_sub(1));
        let k = self.helpers.len() + 1;
        let mut pairs = Vec::new();
        for d in deferred {
            let files = &self.session.analysis.files;
            let (Some(ff), Some(qf)) = (files.get(d.float_file), files.get(d.quant_file)) else {
                continue;
            };
            let (Some(float), Some(quant)) = (self.blobs.get(&ff.name), self.blobs.get(&qf.name))
            else {
                continue;
            };
            let Ok(Some((spec, deq))) = part_setup(
                &d.float,
                &d.quant,
                d.scale,
                d.dtype.as_deref(),
                d.zero_point,
            ) else {
                continue;
            };
            let parts = plan_pair_parts(&d.float, &d.quant, k);
            pairs.push(SpreadPair {
                name: d.float.name.clone(),
                float: float.clone(),
                quant: quant.clone(),
                spec,
                deq,
                sums: vec![None; parts.len()],
                hists: vec![None; parts.len()],
                parts,
                merged: None,
                whole: false,
                error: None,
                pair: d,
            });
        }
        if pairs.is_empty() {
            return false;
        }
        // The histogram pass reads again the pairs small enough to have histograms.
        let total_bytes: u64 = pairs
            .iter()
            .map(|p| {
                // A compressed or small whole pair's histograms come from the values its one
                // read kept.
                let whole = p.parts.len() == 1
                    && crate::engine::pairs::one_read(&p.pair.float, &p.pair.quant, p.parts[0]);
                let hist = !whole && p.pair.float.numel() <= crate::engine::pairs::HIST_MAX_ELEMS;
                p.pair.bytes * if hist { 2 } else { 1 }
            })
            .sum();
        self.spread = Some(Spread {
            job,
            started,
            pairs,
            hist: false,
            waiting: Default::default(),
            done: Default::default(),
            own_done: 0,
            total_bytes: self.progress_base + total_bytes,
            earlier_passes_bytes: self.progress_base,
            last_progress: f64::NEG_INFINITY,
            own: Vec::new(),
            own_left: 0,
            serial: 0,
        });
        self.run_stage();
        true
    }

    /// Post the current pass's parts round the workers (this one's started here, now); the
    /// pass ends when the last part is in.
    fn run_stage(&mut self) {
        let Some(mut sp) = self.spread.take() else {
            return;
        };
        let k = self.helpers.len() + 1;
        let mut own = Vec::new();
        // Parts and whole pairs go round the workers (a pair's parts to different ones).
        let mut slot = 0usize;
        for (pi, p) in sp.pairs.iter_mut().enumerate() {
            if p.error.is_some() || (sp.hist && p.merged.is_none()) {
                continue;
            }
            for (i, part) in p.parts.iter().enumerate() {
                let task = crate::protocol::PartTask {
                    id: self.next_task,
                    float: p.pair.float.clone(),
                    quant: p.pair.quant.clone(),
                    spec: p.spec,
                    deq: p.deq,
                    part: *part,
                    merged: if sp.hist { p.merged.clone() } else { None },
                };
                self.next_task = self.next_task.wrapping_add(1);
                let w = slot % k;
                slot += 1;
                if w == 0 {
                    own.push((pi, i, task));
                    continue;
                }
                match crate::spread::post_task(
                    &self.helpers[w - 1],
                    task.clone(),
                    &p.float,
                    &p.quant,
                ) {
                    Ok(()) => {
                        sp.waiting.insert(task.id, (pi, i));
                    }
                    // A part that cannot be posted is done here.
                    Err(_) => own.push((pi, i, task)),
                }
            }
        }
        sp.own_done = 0;
        sp.done.clear();
        sp.own = own;
        self.serials += 1;
        sp.serial = self.serials;
        let serial = sp.serial;
        self.spread = Some(sp);
        // This worker's parts start now: they read asynchronously, so the helpers (which start
        // only while this worker is idle, in Chromium) start in between.
        self.run_own_parts();
        if !self.helpers.iter().all(|h| h.is_ready()) {
            // Helpers that never start (no error either) must not stall the command.
            let me = self.me.clone();
            let give_up = Closure::once_into_js(move || {
                if let Some(w) = me.upgrade() {
                    if let Ok(mut w) = w.try_borrow_mut() {
                        if w.spread.as_ref().is_some_and(|s| s.serial == serial)
                            && !w.helpers.iter().all(|h| h.is_ready())
                        {
                            w.on_helper_failed("the helper workers did not start within 10 s");
                        }
                    }
                }
            });
            let _ = self
                .scope
                .set_timeout_with_callback_and_timeout_and_arguments_0(
                    give_up.unchecked_ref(),
                    10_000,
                );
        }
    }

    /// Start this worker's own parts of the pass (see [`Spread::own`]), one after another,
    /// reading asynchronously: commands that arrive meanwhile wait in the queue.
    fn run_own_parts(&mut self) {
        let Some(sp) = self.spread.as_mut() else {
            return;
        };
        let serial = sp.serial;
        let tasks: Vec<_> = std::mem::take(&mut sp.own)
            .into_iter()
            .map(|(pi, i, task)| {
                let p = &sp.pairs[pi];
                (pi, i, task, p.float.clone(), p.quant.clone())
            })
            .collect();
        sp.own_left += tasks.len();
        if tasks.is_empty() {
            return;
        }
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let current = |w: &Worker| w.spread.as_ref().is_some_and(|s| s.serial == serial);
            let mut before = 0u64;
            for (pi, i, task, float, quant) in tasks {
                let mut read = 0u64;
                let result = crate::spread::run_part(
                    &task,
                    &float,
                    &quant,
                    &mut |d| {
                        read = d;
                        let Some(w) = me.upgrade() else { return };
                        let Ok(mut w) = w.try_borrow_mut() else {
                            return;
                        };
                        let scope = w.scope.clone();
                        if let Some(sp) = w.spread.as_mut().filter(|s| s.serial == serial) {
                            sp.own_done = before + d;
                            spread_progress(&scope, sp);
                        }
                    },
                    &|| {
                        me.upgrade()
                            .is_some_and(|w| w.try_borrow().map(|w| current(&w)).unwrap_or(true))
                    },
                )
                .await;
                before += read;
                let Some(w) = me.upgrade() else { return };
                let Ok(mut w) = w.try_borrow_mut() else {
                    return;
                };
                if !current(&w) {
                    return;
                }
                w.own_part_done(pi, i, result);
            }
        });
    }

    /// One of this worker's own parts is in (the last part in ends the pass).
    fn own_part_done(
        &mut self,
        pi: usize,
        i: usize,
        result: Result<crate::protocol::PartOutput, String>,
    ) {
        let Some(sp) = self.spread.as_mut() else {
            return;
        };
        store_part(&mut sp.pairs[pi], i, result);
        sp.own_left = sp.own_left.saturating_sub(1);
        if sp.waiting.is_empty() && sp.own.is_empty() && sp.own_left == 0 {
            self.finish_stage();
        }
    }

    /// A helper's message: progress, or a part's result (the last one ends the pass).
    fn on_part_reply(&mut self, r: crate::protocol::PartReply) {
        let Some(sp) = self.spread.as_mut() else {
            return;
        };
        match r {
            crate::protocol::PartReply::Ready => {}
            crate::protocol::PartReply::Progress { id, done_bytes } => {
                if sp.waiting.contains_key(&id) {
                    sp.done.insert(id, done_bytes);
                    spread_progress(&self.scope, sp);
                }
            }
            crate::protocol::PartReply::Done { id, result } => {
                if let Some((pi, i)) = sp.waiting.remove(&id) {
                    store_part(&mut sp.pairs[pi], i, *result);
                    if sp.waiting.is_empty() && sp.own.is_empty() && sp.own_left == 0 {
                        self.finish_stage();
                    }
                }
            }
        }
    }

    /// A helper failed: its parts are lost, so the spread is given up and the command compares
    /// everything here, as without helpers (they are started again next time).
    fn on_helper_failed(&mut self, message: &str) {
        web_sys::console::warn_1(&message.into());
        for h in self.helpers.drain(..) {
            h.terminate();
        }
        if let Some(sp) = self.spread.take() {
            self.update_and_send(sp.job, sp.started);
            self.drain();
        }
    }

    /// A pass is in: after the metrics pass, the histogram pass of the pairs that have them;
    /// after the last pass, the pairs' metrics go to the session and the command goes on.
    fn finish_stage(&mut self) {
        use crate::engine::pairs::{merge_parts, HIST_MAX_ELEMS};
        let Some(mut sp) = self.spread.take() else {
            return;
        };
        if !sp.hist {
            let mut any = false;
            for p in &mut sp.pairs {
                if p.error.is_some() {
                    continue;
                }
                let sums: Vec<_> = p.sums.iter().flatten().cloned().collect();
                let m = merge_parts(&sums, p.spec, &[]);
                let hist = !p.whole
                    && p.pair.float.numel() <= HIST_MAX_ELEMS
                    && crate::engine::metrics::HistAccumulator::new(&m).is_some();
                any |= hist;
                p.merged = hist.then_some(m);
            }
            // The metrics pass is done; the histogram pass reads only the pairs that have them.
            sp.earlier_passes_bytes =
                self.progress_base + sp.pairs.iter().map(|p| p.pair.bytes).sum::<u64>();
            sp.total_bytes = sp.earlier_passes_bytes
                + sp.pairs
                    .iter()
                    .filter(|p| p.merged.is_some())
                    .map(|p| p.pair.bytes)
                    .sum::<u64>();
            if any {
                sp.hist = true;
                // The stage is named as it starts (a short pass may end before a throttled
                // progress message would have named it).
                sp.last_progress = f64::NEG_INFINITY;
                spread_progress(&self.scope, &mut sp);
                self.spread = Some(sp);
                self.run_stage();
                return;
            }
        }
        for p in sp.pairs {
            let result = match p.error {
                Some(e) => Err(e),
                None => {
                    let sums: Vec<_> = p.sums.into_iter().flatten().collect();
                    let hists: Vec<_> = p.hists.into_iter().flatten().collect();
                    Ok(merge_parts(&sums, p.spec, &hists))
                }
            };
            self.session.insert_compared(p.pair.key, result);
        }
        // What is left (the smaller pairs) continues the same bar.
        self.progress_base = sp.total_bytes;
        self.update_and_send(sp.job, sp.started);
        self.drain();
    }

    /// Run the commands that waited for a spread, until one starts another.
    fn drain(&mut self) {
        while self.spread.is_none() && !self.reading {
            let Some(env) = self.queue.pop_front() else {
                break;
            };
            self.handle(env);
        }
    }

    /// Pair and compare what changed, diagnose, and send the session back.
    fn update_and_send(&mut self, job: u32, started: f64) {
        let scope = self.scope.clone();
        let mut last = 0.0f64;
        let base = self.progress_base;
        self.session.update(&mut |done, total, name| {
            // At most ~20 progress messages a second.
            let now = js_sys::Date::now();
            if now - last < 50.0 && done < total {
                return;
            }
            last = now;
            post(
                &scope,
                &FromWorker::Progress {
                    job,
                    stage: "comparing".into(),
                    file_index: 0,
                    file_name: name.to_string(),
                    done_bytes: base + done,
                    total_bytes: base + total,
                },
            );
        });
        // Big tables and long finding lists follow in parts: no message takes the UI long to read.
        // Tensor pairs go first: the UI holds them until their Done, so no view shows some pairs.
        let (analysis, parts) = crate::protocol::split_for_transfer(self.session.analysis.clone());
        let (first, parts): (Vec<_>, Vec<_>) = parts.into_iter().partition(|p| p.goes_first());
        for part in first {
            post(
                &self.scope,
                &FromWorker::Part(crate::protocol::PartMsg { job, part }),
            );
        }
        post(
            &self.scope,
            &FromWorker::Done(crate::protocol::Done {
                job,
                analysis,
                elapsed_ms: js_sys::Date::now() - started,
                parts: parts.len() as u32,
            }),
        );
        for part in parts {
            post(
                &self.scope,
                &FromWorker::Part(crate::protocol::PartMsg { job, part }),
            );
        }
        let notice = self.merge_loaded_journals();
        self.send_journal(notice, None);
    }

    /// SHA-256 of each Blob, streamed in slices (never whole), with progress.
    fn fingerprint(
        &self,
        job: u32,
        names: &[String],
        blobs: &Array,
    ) -> Result<Vec<(String, u64, String)>, String> {
        let blobs: Vec<Blob> = blobs.iter().filter_map(|b| b.dyn_into().ok()).collect();
        if blobs.len() != names.len() {
            return Err(format!("{} names for {} files", names.len(), blobs.len()));
        }
        let total: u64 = blobs.iter().map(|b| b.size() as u64).sum();
        let mut before = 0u64;
        let mut out = Vec::new();
        for (i, (name, blob)) in names.iter().zip(blobs).enumerate() {
            let size_bytes = blob.size() as u64;
            let scope = self.scope.clone();
            let mut last = 0.0f64;
            let mut on_slice = |pos: u64| {
                let now = js_sys::Date::now();
                if now - last > 100.0 {
                    last = now;
                    post(
                        &scope,
                        &FromWorker::Progress {
                            job,
                            stage: "hashing".into(),
                            file_index: i,
                            file_name: name.clone(),
                            done_bytes: before + pos,
                            total_bytes: total,
                        },
                    );
                }
            };
            let mut r = BlobReader {
                blob,
                reader: self.reader.clone(),
                size_bytes,
                pos: 0,
                buf: Vec::new(),
                buf_pos: 0,
                on_slice: &mut on_slice,
            };
            let mut hash = crate::engine::encode::Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = r.read(&mut buf).map_err(|e| format!("{name}: {e}"))?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
            }
            before += size_bytes;
            out.push((name.clone(), size_bytes, hash.hex()));
        }
        Ok(out)
    }

    /// Read one Blob whole (an app asset or a file to embed).
    fn read_all(&self, blob: &Blob) -> Result<Vec<u8>, String> {
        let ab = self
            .reader
            .read_as_array_buffer(blob)
            .map_err(|e| format!("the browser could not read a file: {e:?}"))?;
        Ok(Uint8Array::new(&ab).to_vec())
    }

    #[allow(clippy::too_many_arguments)]
    fn export_html(
        &self,
        job: u32,
        snippet_paths: &[String],
        names: &[String],
        blobs: &Array,
        fragment: &str,
        title: &str,
        about: &str,
    ) -> Result<String, String> {
        use crate::engine::bundle::{report_html, AppAssets, REPORT_DATA_CAP_BYTES};
        let blobs: Vec<Blob> = blobs.iter().filter_map(|b| b.dyn_into().ok()).collect();
        if blobs.len() != 5 + snippet_paths.len() + names.len() {
            return Err("the app's files did not all arrive".into());
        }
        let data_bytes: u64 = blobs[5 + snippet_paths.len()..]
            .iter()
            .map(|b| b.size() as u64)
            .sum();
        if data_bytes > REPORT_DATA_CAP_BYTES {
            return Err(format!(
                "the loaded files hold {} MiB; one HTML report embeds at most {} MiB: share a bundled site instead (quantlens bundle)",
                data_bytes >> 20,
                REPORT_DATA_CAP_BYTES >> 20
            ));
        }
        let text = |b: &Blob| -> Result<String, String> {
            String::from_utf8(self.read_all(b)?).map_err(|_| "an app file is not UTF-8".to_string())
        };
        let mut assets = AppAssets {
            app_js: text(&blobs[0])?,
            app_wasm: self.read_all(&blobs[1])?,
            worker_js: text(&blobs[2])?,
            worker_wasm: self.read_all(&blobs[3])?,
            css: text(&blobs[4])?,
            snippets: Vec::new(),
        };
        for (path, b) in snippet_paths.iter().zip(&blobs[5..]) {
            assets.snippets.push((path.clone(), text(b)?));
        }
        let mut files = Vec::new();
        let mut done_bytes = 0u64;
        for (i, (name, b)) in names
            .iter()
            .zip(&blobs[5 + snippet_paths.len()..])
            .enumerate()
        {
            self.progress(job, "packing", i, name, done_bytes, data_bytes);
            done_bytes += b.size() as u64;
            files.push((name.clone(), self.read_all(b)?));
        }
        // The journal travels with the report (read back like a dropped journal file).
        if !self.journal.runs.is_empty()
            && !files
                .iter()
                .any(|(n, _)| n.ends_with(crate::engine::journal::FILE_NAME))
        {
            files.push((
                crate::engine::journal::FILE_NAME.to_string(),
                self.journal.to_json().into_bytes(),
            ));
        }
        report_html(&assets, &files, fragment, title, about)
    }

    /// Keep the journal's settings and these runs (and forget the removed ones) in IndexedDB.
    fn persist(&mut self, ids: &[String], removed: &[String]) {
        self.revision += 1;
        let Some(db) = &self.db else { return };
        let runs: Vec<&crate::engine::journal::JournalRun> = self
            .journal
            .runs
            .iter()
            .filter(|r| ids.contains(&r.id))
            .collect();
        if let Err(e) = crate::journal_store::save(db, &self.journal, &runs, removed) {
            self.store_error = Some(format!(
                "the journal could not be saved in this browser: {e}"
            ));
        }
    }

    /// Send the journal view (its next step reads the loaded reports too). The comparison is
    /// made again only when the pair or the journal changed.
    fn send_journal(&mut self, notice: Option<String>, error: Option<String>) {
        use crate::engine::journal_view::{
            compare_view, current_summary, journal_view, loaded_runs,
        };
        let compare = match &self.compare {
            Some(pair) => match &self.compared {
                Some((p, by, rev, d))
                    if p == pair && *by == self.compare_by && *rev == self.revision =>
                {
                    Some(d.clone())
                }
                _ => {
                    let by = self.compare_by.clone();
                    let d = compare_view(&self.journal, &pair.0, &pair.1, by.as_deref());
                    self.compared = d.clone().map(|d| (pair.clone(), by, self.revision, d));
                    d
                }
            },
            None => None,
        };
        let a = &self.session.analysis;
        let current = current_summary(a);
        let mut view = journal_view(&self.journal, current.as_ref(), loaded_runs(a), compare);
        view.not_kept = self.store_error.clone();
        post(
            &self.scope,
            &FromWorker::Journal {
                view: Box::new(view),
                notice,
                error,
            },
        );
    }

    /// Journal files among the loaded ones (dropped, imported, or inside a report) join the journal.
    fn merge_loaded_journals(&mut self) -> Option<String> {
        use crate::engine::session::Document;
        let mut said = Vec::new();
        let mut ids = Vec::new();
        let found: Vec<(String, u64, crate::engine::journal::Journal)> = self
            .session
            .analysis
            .files
            .iter()
            .filter(|f| !self.merged.contains(&(f.name.clone(), f.size_bytes)))
            .filter_map(|f| match &f.document {
                Some(Document::Journal { journal }) => {
                    Some((f.name.clone(), f.size_bytes, journal.clone()))
                }
                _ => None,
            })
            .collect();
        for (name, size, j) in found {
            ids.extend(j.runs.iter().map(|r| r.id.clone()));
            let c = self.journal.merge(j);
            said.push(format!("{name}: {}", c.sentence()));
            self.merged.insert((name, size));
        }
        if said.is_empty() {
            return None;
        }
        self.persist(&ids, &[]);
        Some(format!("Journal — {}", said.join(" · ")))
    }

    fn journal_cmd(&mut self, cmd: crate::protocol::JournalCmd) {
        use crate::engine::journal_view::{apply_form, diff_json, new_run};
        use crate::protocol::JournalCmd;
        let now = js_sys::Date::now();
        // A change that this browser cannot keep says so (private windows may have no IndexedDB).
        let unkept = |n: Option<String>, store: &Option<String>| match (n, store) {
            (Some(n), Some(s)) => Some(format!("{n} ({s})")),
            (n, _) => n,
        };
        let (notice, error) = match cmd {
            JournalCmd::Get => (None, None),
            JournalCmd::Add { form, with } => {
                match new_run(
                    &self.journal,
                    &form,
                    &self.session.analysis,
                    with.as_deref(),
                    now,
                ) {
                    Ok(run) => {
                        let (id, name) = (run.id.clone(), run.name.clone());
                        self.journal.upsert(run);
                        self.persist(std::slice::from_ref(&id), &[]);
                        (
                            unkept(
                                Some(format!("“{name}” added to the journal")),
                                &self.store_error,
                            ),
                            None,
                        )
                    }
                    Err(e) => (None, Some(e)),
                }
            }
            JournalCmd::Update { id, form } => {
                let j = self.journal.clone();
                match self.journal.run_mut(&id) {
                    Some(run) => match apply_form(&j, run, &form) {
                        Ok(()) => {
                            run.updated_ms = now;
                            self.persist(std::slice::from_ref(&id), &[]);
                            (None, None)
                        }
                        Err(e) => (None, Some(e)),
                    },
                    None => (None, Some("that run is no longer in the journal".into())),
                }
            }
            JournalCmd::Delete { id } => {
                let name = self.journal.run(&id).map(|r| r.name.clone());
                if self.journal.remove(&id) {
                    if self
                        .compare
                        .as_ref()
                        .is_some_and(|(a, b)| *a == id || *b == id)
                    {
                        self.compare = None;
                    }
                    self.persist(&[], std::slice::from_ref(&id));
                }
                (
                    name.map(|n| format!("“{n}” deleted from the journal")),
                    None,
                )
            }
            JournalCmd::SetMetrics { text, allowed_loss } => {
                let loss = allowed_loss.trim().trim_end_matches('%').trim().to_string();
                match (
                    crate::engine::journal::parse_metric_defs(&text),
                    loss.parse::<f64>(),
                ) {
                    (Ok(defs), Ok(l)) if (0.0..100.0).contains(&l) => {
                        self.journal.metrics = defs;
                        self.journal.allowed_loss_pct = l;
                        self.persist(&[], &[]);
                        (None, None)
                    }
                    (Ok(_), _) => (
                        None,
                        Some(format!(
                            "the allowed loss {loss:?} is not a percentage between 0 and 100"
                        )),
                    ),
                    (Err(e), _) => (None, Some(e)),
                }
            }
            JournalCmd::Link => {
                let result = crate::engine::journal_view::journal_link(&self.journal);
                post(&self.scope, &FromWorker::JournalLink { result });
                return;
            }
            JournalCmd::OpenLink { fragment } => {
                match crate::engine::journal_view::decode_journal_link(&fragment) {
                    Ok(Some(j)) => {
                        let ids: Vec<String> = j.runs.iter().map(|r| r.id.clone()).collect();
                        let c = self.journal.merge(j);
                        self.persist(&ids, &[]);
                        (
                            Some(format!("Journal from the link: {}", c.sentence())),
                            None,
                        )
                    }
                    Ok(None) => (None, None),
                    Err(e) => (None, Some(e)),
                }
            }
            JournalCmd::Compare { pair, by } => {
                self.compare = pair;
                self.compare_by = by;
                (None, None)
            }
            JournalCmd::Export => {
                post(
                    &self.scope,
                    &FromWorker::JournalFile {
                        name: crate::engine::journal::FILE_NAME.into(),
                        text: self.journal.to_json(),
                    },
                );
                return;
            }
            JournalCmd::ExportDiff => {
                match self
                    .compare
                    .as_ref()
                    .and_then(|(a, b)| diff_json(&self.journal, a, b, self.compare_by.as_deref()))
                {
                    Some(text) => post(
                        &self.scope,
                        &FromWorker::JournalFile {
                            name: "quantlens-diff.json".into(),
                            text,
                        },
                    ),
                    None => self.send_journal(
                        None,
                        Some(
                            "pick two runs saved with their reports to download their diff".into(),
                        ),
                    ),
                }
                return;
            }
        };
        self.send_journal(notice, error);
    }

    fn handle(&mut self, env: Envelope) {
        if self.spread.is_some() || self.reading {
            self.queue.push_back(env);
            return;
        }
        let started = js_sys::Date::now();
        let job = env.cmd.job();
        self.progress_base = 0;
        // A command's own Blobs follow those staged ahead of it. The UI sends a job's messages
        // one after another, so Blobs staged for another job are stale: dropped.
        let (blobs, early) = match self.staged.take() {
            Some((j, staged, early)) if j == job => (staged.concat(&env.blobs), early),
            _ => (env.blobs.clone(), Array::new()),
        };
        let env = Envelope { blobs, ..env };
        match env.cmd {
            ToWorker::Stage { .. } => {
                // Small files start reading now, while the UI sends the next batch.
                for b in env.blobs.iter().skip(early.length() as usize) {
                    match b.dyn_into::<Blob>() {
                        Ok(b) if (b.size() as u64) <= SMALL_FILE_BYTES => {
                            early.push(&b.array_buffer());
                        }
                        _ => {
                            early.push(&JsValue::UNDEFINED);
                        }
                    }
                }
                self.staged = Some((job, env.blobs, early));
            }
            ToWorker::Journal { cmd, .. } => self.journal_cmd(cmd),
            ToWorker::Open { names, .. } => {
                // A journal opened again is merged again (and says what it added).
                self.merged.retain(|(n, _)| !names.contains(n));
                self.open_prefetched(job, names, env.blobs, &early, started);
            }
            ToWorker::SetIntent { intent, .. } => {
                self.session.set_intent(intent);
                self.compare_and_send(job, started);
            }
            ToWorker::SetSide { file, side, .. } => {
                match side {
                    Some(s) => self.session.settings.sides.insert(file, s),
                    None => self.session.settings.sides.remove(&file),
                };
                self.compare_and_send(job, started);
            }
            ToWorker::SetScale {
                name, scale, dtype, ..
            } => {
                if scale > 0.0 && scale.is_finite() {
                    self.session.settings.scales.insert(name, (scale, dtype));
                } else {
                    self.session.settings.scales.remove(&name);
                }
                self.compare_and_send(job, started);
            }
            ToWorker::Pair { float, quant, .. } => {
                self.session.settings.manual.push((float, quant));
                self.compare_and_send(job, started);
            }
            ToWorker::WhatIf { pair, typed, .. } => {
                let result = self.session.whatif(pair, &typed);
                post(&self.scope, &FromWorker::WhatIf { job, pair, result });
            }
            ToWorker::Restore {
                names,
                intent,
                settings,
                ..
            } => {
                self.session.clear();
                self.cached_bytes = 0;
                self.blobs.clear();
                self.session.settings = settings;
                self.session.analysis.intent = intent;
                match self.open(job, &names, &env.blobs) {
                    Ok(()) => self.compare_and_send(job, started),
                    Err(message) => post(&self.scope, &FromWorker::Failed { job, message }),
                }
            }
            ToWorker::Clear { .. } => {
                self.session.clear();
                self.cached_bytes = 0;
                self.blobs.clear();
                self.compare_and_send(job, started);
            }
            ToWorker::Fingerprint { names, purpose, .. } => {
                match self.fingerprint(job, &names, &env.blobs) {
                    Ok(files) => post(
                        &self.scope,
                        &FromWorker::Fingerprints {
                            job,
                            purpose,
                            files,
                        },
                    ),
                    Err(message) => post(&self.scope, &FromWorker::Failed { job, message }),
                }
            }
            ToWorker::ExportHtml {
                snippet_paths,
                names,
                fragment,
                title,
                about,
                file_name,
                ..
            } => {
                let result = self.export_html(
                    job,
                    &snippet_paths,
                    &names,
                    &env.blobs,
                    &fragment,
                    &title,
                    &about,
                );
                post(
                    &self.scope,
                    &FromWorker::Exported {
                        job,
                        file_name,
                        result,
                    },
                );
            }
        }
    }
}

/// Install the message handler: each message is an [`Envelope`] (a command and its Blobs).
pub fn start() {
    console_error_panic_hook_lite();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if crate::spread::is_helper(&scope) {
        crate::spread::run_helper(scope);
        return;
    }
    let reader = match FileReaderSync::new() {
        Ok(r) => r,
        Err(e) => {
            post(
                &scope,
                &FromWorker::Failed {
                    job: u32::MAX,
                    message: format!("FileReaderSync unavailable: {e:?}"),
                },
            );
            return;
        }
    };
    let worker = std::rc::Rc::new(std::cell::RefCell::new(Worker {
        scope: scope.clone(),
        reader,
        session: Session::new(),
        cached_bytes: 0,
        journal: Default::default(),
        compare: None,
        compare_by: None,
        compared: None,
        revision: 0,
        db: None,
        store_error: None,
        merged: Default::default(),
        me: Default::default(),
        helpers: Vec::new(),
        blobs: Default::default(),
        spread: None,
        serials: 0,
        progress_base: 0,
        queue: Default::default(),
        next_task: 0,
        reading: false,
        staged: None,
    }));
    worker.borrow_mut().me = std::rc::Rc::downgrade(&worker);
    // The journal is read from IndexedDB once; runs merged before it arrives are kept.
    {
        let worker = worker.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let loaded = match crate::journal_store::open().await {
                Ok(db) => crate::journal_store::load(&db).await.map(|j| (db, j)),
                Err(e) => Err(e),
            };
            let Ok(mut w) = worker.try_borrow_mut() else {
                return;
            };
            match loaded {
                Ok((db, mut j)) => {
                    let early = std::mem::take(&mut w.journal);
                    let ids: Vec<String> = early.runs.iter().map(|r| r.id.clone()).collect();
                    j.merge(early);
                    w.journal = j;
                    w.revision += 1;
                    w.db = Some(db);
                    if !ids.is_empty() {
                        w.persist(&ids, &[]);
                    }
                }
                Err(e) => {
                    w.store_error = Some(format!(
                        "this browser does not let the page keep the journal ({e}): it lasts until the page closes; export it to keep it"
                    ))
                }
            }
            w.send_journal(None, None);
        });
    }
    let scope_in = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match serde_wasm_bindgen::from_value::<Envelope>(ev.data()) {
            Ok(env) => match worker.try_borrow_mut() {
                Ok(mut w) => w.handle(env),
                Err(_) => post(
                    &scope_in,
                    &FromWorker::Failed {
                        job: env.cmd.job(),
                        message: "the worker is busy".into(),
                    },
                ),
            },
            Err(e) => post(
                &scope_in,
                &FromWorker::Failed {
                    job: u32::MAX,
                    message: format!("a command the worker does not understand: {e}"),
                },
            ),
        }
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&scope, &FromWorker::Ready);
}

/// Report panics to the console instead of an opaque `unreachable` trap.
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("QuantLens worker panicked: {info}").into());
    }));
}
