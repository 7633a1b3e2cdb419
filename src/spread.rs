//! Big tensor pairs spread over several workers: helper workers (the analysis worker's own script
//! started under another name) each compare a part of a pair (or a whole compressed pair) and post
//! back its sums.

use crate::engine::pairs::{
    finish_whole, is_compressed, merge_parts, part_schedule, Kept, PartRun,
    KEEP_COMPRESSED_MAX_ELEMS,
};
use crate::engine::tensor::{decode_range, raw_range};
use crate::engine::tensor::{DataRef, TensorEntry};
use crate::protocol::{PartEnvelope, PartOutput, PartReply, PartTask};
use js_sys::{Array, ArrayBuffer, Uint8Array};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    Blob, DedicatedWorkerGlobalScope, MessageEvent, ReadableStreamByobReader,
    ReadableStreamGetReaderOptions, ReadableStreamReaderMode,
};

/// The name a helper worker is started under (`WorkerOptions.name`): how the script knows its role.
pub const HELPER_NAME: &str = "quantlens-part";

/// At most this many workers share a pair, whatever the machine says.
const MAX_WORKERS: usize = 8;

/// Whether this worker was started as a helper.
pub fn is_helper(scope: &DedicatedWorkerGlobalScope) -> bool {
    scope.name() == HELPER_NAME
}

/// How many workers a big pair is spread over: `navigator.hardwareConcurrency` (at most
/// [`MAX_WORKERS`]); 1 where helpers cannot start (a worker booted from a Blob URL: the HTML
/// report, which carries no dumps).
pub fn workers_wanted(scope: &DedicatedWorkerGlobalScope) -> usize {
    if script_url(scope).is_none_or(|u| u.starts_with("blob:")) {
        return 1;
    }
    let cores = js_sys::Reflect::get(scope, &"navigator".into())
        .and_then(|n| js_sys::Reflect::get(&n, &"hardwareConcurrency".into()))
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or(1.0);
    (cores as usize).clamp(1, MAX_WORKERS)
}

fn script_url(scope: &DedicatedWorkerGlobalScope) -> Option<String> {
    js_sys::Reflect::get(scope, &"location".into())
        .and_then(|l| js_sys::Reflect::get(&l, &"href".into()))
        .ok()
        .and_then(|v| v.as_string())
}

/// A helper worker and the parts posted to it before it said it was ready (its handler is
/// installed only once its wasm runs: a message that arrives before that is lost).
pub struct Helper {
    worker: web_sys::Worker,
    ready: Rc<Cell<bool>>,
    early: Rc<RefCell<Vec<JsValue>>>,
}

impl Helper {
    /// Whether its handler is installed (it said `Ready`).
    pub fn is_ready(&self) -> bool {
        self.ready.get()
    }

    pub fn terminate(&self) {
        self.worker.terminate();
    }

    fn post(&self, msg: JsValue) -> Result<(), String> {
        if !self.ready.get() {
            self.early.borrow_mut().push(msg);
            return Ok(());
        }
        self.worker
            .post_message(&msg)
            .map_err(|e| format!("cannot send a part to a helper: {e:?}"))
    }
}

/// Start a helper (this worker's own script under [`HELPER_NAME`]); its replies go to
/// `on_reply`, and a helper that fails (its script, a panic, a reply that cannot be read) to
/// `on_error`.
pub fn spawn_helper(
    scope: &DedicatedWorkerGlobalScope,
    mut on_reply: Box<dyn FnMut(PartReply)>,
    on_error: Rc<dyn Fn(String)>,
) -> Result<Helper, String> {
    let url = script_url(scope).ok_or("the worker's own address is unknown")?;
    let opts = web_sys::WorkerOptions::new();
    opts.set_name(HELPER_NAME);
    let w = web_sys::Worker::new_with_options(&url, &opts)
        .map_err(|e| format!("cannot start a helper worker: {e:?}"))?;
    let on_bad_reply = on_error.clone();
    let (ready, early): (Rc<Cell<bool>>, Rc<RefCell<Vec<JsValue>>>) = Default::default();
    let (ready_in, early_in, w_in) = (ready.clone(), early.clone(), w.clone());
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match serde_wasm_bindgen::from_value::<PartReply>(ev.data()) {
            Ok(PartReply::Ready) => {
                ready_in.set(true);
                let early: Vec<JsValue> = early_in.borrow_mut().drain(..).collect();
                for msg in early {
                    if let Err(e) = w_in.post_message(&msg) {
                        on_bad_reply(format!("cannot send a part to a helper: {e:?}"));
                    }
                }
                on_reply(PartReply::Ready);
            }
            Ok(r) => on_reply(r),
            Err(e) => on_bad_reply(format!("a helper's reply could not be read: {e}")),
        }
    });
    w.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    let onerror = Closure::<dyn FnMut(web_sys::ErrorEvent)>::new(move |e: web_sys::ErrorEvent| {
        on_error(format!("a helper worker failed: {}", e.message()));
    });
    w.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onerror.forget();
    Ok(Helper {
        worker: w,
        ready,
        early,
    })
}

/// Post a part to a helper with its two Blobs.
pub fn post_task(w: &Helper, task: PartTask, float: &Blob, quant: &Blob) -> Result<(), String> {
    let blobs = Array::new();
    blobs.push(float);
    blobs.push(quant);
    let env = PartEnvelope { task, blobs };
    let msg =
        serde_wasm_bindgen::to_value(&env).map_err(|e| format!("cannot encode a part: {e}"))?;
    w.post(msg)
}

/// A stream read's `{done, value}` (done when it says nothing).
fn read_result(res: &JsValue) -> (bool, Option<Uint8Array>) {
    let done = js_sys::Reflect::get(res, &"done".into())
        .ok()
        .and_then(|d| d.as_bool())
        .unwrap_or(true);
    let value = js_sys::Reflect::get(res, &"value".into())
        .ok()
        .and_then(|v| v.dyn_into::<Uint8Array>().ok());
    (done, value)
}

/// A Blob read in byte ranges through `Blob.stream()` with a BYOB reader into one buffer that is
/// reused (each read transfers it and hands it back): no new ArrayBuffer per read, so a worker's
/// memory stays bounded whatever the file's size. Consecutive ranges continue one stream. A range
/// is read in two steps, [`StreamSource::start`] (the read is asked for and goes on in the browser)
/// and [`StreamSource::finish`] (awaits it), so the next range is read while this one's values are
/// computed: a huge map's part reads each channel's run from a new stream, and without this its
/// reads and its arithmetic took turns.
struct StreamSource {
    blob: Blob,
    size_bytes: u64,
    reader: Option<ReadableStreamByobReader>,
    /// The stream's next byte (counting a read started and not yet finished).
    pos: u64,
    buf: Option<ArrayBuffer>,
    /// Bytes of the last range in `buf`.
    len: usize,
    /// A range whose read was started and not yet awaited: its length and the first read's
    /// promise (none for an empty range).
    inflight: Option<(usize, Option<js_sys::Promise>)>,
}

impl StreamSource {
    fn new(blob: &Blob) -> StreamSource {
        StreamSource {
            size_bytes: blob.size() as u64,
            blob: blob.clone(),
            reader: None,
            pos: 0,
            buf: None,
            len: 0,
            inflight: None,
        }
    }

    /// Ask for `len` bytes at `offset` (into the buffer, once [`StreamSource::finish`]ed). The
    /// buffer goes into the read: [`StreamSource::copy_to`] the last range first.
    fn start(&mut self, offset: u64, len: usize) -> Result<(), String> {
        if self.inflight.is_some() {
            return Err("a read is already under way".into());
        }
        if offset
            .checked_add(len as u64)
            .is_none_or(|e| e > self.size_bytes)
        {
            return Err("read past the end of the file".into());
        }
        if self.reader.is_none() || self.pos != offset {
            if let Some(r) = self.reader.take() {
                quiet(r.cancel());
            }
            let slice = self
                .blob
                .slice_with_f64(offset as f64)
                .map_err(|e| format!("{e:?}"))?;
            let opts = ReadableStreamGetReaderOptions::new();
            opts.set_mode(ReadableStreamReaderMode::Byob);
            let reader = slice
                .stream()
                .get_reader_with_options(&opts)
                .dyn_into::<ReadableStreamByobReader>()
                .map_err(|_| "this browser cannot read a file into a buffer (BYOB)".to_string())?;
            self.reader = Some(reader);
        }
        let reader = self.reader.as_ref().ok_or("no reader")?;
        self.len = 0;
        self.pos = offset + len as u64;
        if len == 0 {
            // A read into an empty view is refused: nothing to ask for.
            self.inflight = Some((0, None));
            return Ok(());
        }
        let buf = match self.buf.take() {
            Some(b) if b.byte_length() as usize >= len => b,
            _ => ArrayBuffer::new(len as u32),
        };
        let view = Uint8Array::new_with_byte_offset_and_length(&buf, 0, len as u32);
        self.inflight = Some((len, Some(reader.read_with_array_buffer_view(&view))));
        Ok(())
    }

    /// Await the range [`StreamSource::start`]ed (more reads if the browser gave fewer bytes).
    async fn finish(&mut self) -> Result<(), String> {
        let (len, mut next) = self.inflight.take().ok_or("no read under way")?;
        if len == 0 {
            return Ok(());
        }
        let mut fill = 0usize;
        while let Some(p) = next.take() {
            let res = JsFuture::from(p)
                .await
                .map_err(|e| format!("the browser could not read the file: {e:?}"))?;
            let (done, value) = read_result(&res);
            // The buffer comes back (transferred) with the bytes read: the next read goes into it.
            let Some(v) = value else {
                self.reader = None;
                return Err("the browser gave back no buffer".into());
            };
            let buf = v.buffer();
            fill += v.length() as usize;
            if fill >= len {
                self.buf = Some(buf);
                self.len = len;
                return Ok(());
            }
            if done {
                self.reader = None;
                return Err("the file ended before the tensor did".into());
            }
            let reader = self.reader.as_ref().ok_or("no reader")?;
            let view =
                Uint8Array::new_with_byte_offset_and_length(&buf, fill as u32, (len - fill) as u32);
            next = Some(reader.read_with_array_buffer_view(&view));
        }
        Err("no read under way".into())
    }

    /// Copy the last range read into `out` (its length).
    fn copy_to(&self, out: &mut [u8]) -> std::io::Result<()> {
        match &self.buf {
            _ if out.is_empty() && self.len == 0 => Ok(()),
            Some(b) if out.len() == self.len => {
                Uint8Array::new_with_byte_offset_and_length(b, 0, self.len as u32).copy_to(out);
                Ok(())
            }
            _ => Err(std::io::Error::other("a read of another size")),
        }
    }
}

impl Drop for StreamSource {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            quiet(r.cancel());
        }
    }
}

/// Run one part here (in a helper, or in the analysis worker for its own share), reading both
/// files as streams ([`StreamSource`]) in [`part_schedule`]'s order, each read asked for before the
/// previous one's values are computed (a compressed pair: whole, in order, both passes at once,
/// [`run_whole_streamed`]); `alive()` false abandons it.
pub async fn run_part(
    task: &PartTask,
    float: &Blob,
    quant: &Blob,
    progress: &mut dyn FnMut(u64),
    alive: &dyn Fn() -> bool,
) -> Result<PartOutput, String> {
    let (fe, qe) = (&task.float, &task.quant);
    let compressed = is_compressed(fe) || is_compressed(qe);
    if task.merged.is_none()
        && crate::engine::pairs::one_read(fe, qe, task.part)
        && (!compressed || inflates_natively())
    {
        return run_whole_streamed(task, float, quant, progress, alive).await;
    }
    if compressed {
        // A compressed member where the browser cannot inflate: inflated here in order as it is
        // read (synchronous reads, which a worker may make), the whole pair on this worker;
        // other pairs go to the others. Both passes at once: the histograms from the values the
        // first pass kept.
        let mut fs = crate::worker::BlobSource::new(float)?;
        let mut qs = crate::worker::BlobSource::new(quant)?;
        return match task.merged.as_ref() {
            None => crate::engine::pairs::run_whole_part(
                &mut fs, fe, &mut qs, qe, task.spec, task.deq, task.part, progress,
            ),
            Some(m) => crate::engine::pairs::run_part(
                &mut fs,
                fe,
                &mut qs,
                qe,
                task.spec,
                task.deq,
                task.part,
                Some(m),
                progress,
            ),
        };
    }
    let mut schedule = part_schedule(fe, task.part)?;
    let mut run = PartRun::new(fe, task.spec, task.deq, task.part, task.merged.as_ref());
    if !run.reads() {
        return Ok(run.finish());
    }
    let (mut fs, mut qs) = (StreamSource::new(float), StreamSource::new(quant));
    // Both sides asked for at once: each stream's pipe drains while the other's fills.
    let start = |r: &crate::engine::pairs::PartRead,
                 fs: &mut StreamSource,
                 qs: &mut StreamSource|
     -> Result<u64, String> {
        let (fo, fl) = raw_range(fe, r.start, r.n).map_err(|e| format!("float side: {e}"))?;
        let (qo, ql) = raw_range(qe, r.start, r.n).map_err(|e| format!("quantized side: {e}"))?;
        fs.start(fo, fl).map_err(|e| format!("float side: {e}"))?;
        qs.start(qo, ql)
            .map_err(|e| format!("quantized side: {e}"))?;
        Ok((fl + ql) as u64)
    };
    let (mut b, mut a) = (Vec::new(), Vec::new());
    let mut done = 0u64;
    let mut cur = schedule.next();
    let mut bytes = match &cur {
        Some(r) => start(r, &mut fs, &mut qs)?,
        None => 0,
    };
    while let Some(r) = cur {
        if !alive() {
            return Err("abandoned".into());
        }
        let (f, q) = futures_util::future::join(fs.finish(), qs.finish()).await;
        f.map_err(|e| format!("float side: {e}"))?;
        q.map_err(|e| format!("quantized side: {e}"))?;
        decode_range(fe, r.start, r.n, &mut b, &mut |out| fs.copy_to(out))
            .map_err(|e| format!("float side: {e}"))?;
        decode_range(qe, r.start, r.n, &mut a, &mut |out| qs.copy_to(out))
            .map_err(|e| format!("quantized side: {e}"))?;
        // The next range is on its way while this one is computed.
        cur = schedule.next();
        let next_bytes = match &cur {
            Some(n) => start(n, &mut fs, &mut qs)?,
            None => 0,
        };
        run.feed(r.start, &b, &mut a, r.w);
        done += bytes;
        bytes = next_bytes;
        progress(done);
    }
    Ok(run.finish())
}

#[wasm_bindgen]
extern "C" {
    /// The browser's own inflater (`DecompressionStream`, a `{readable, writable}` pair; bound
    /// here: web-sys has it only behind `web_sys_unstable_apis`).
    #[wasm_bindgen(js_name = DecompressionStream)]
    type Decompression;
    #[wasm_bindgen(constructor, js_class = "DecompressionStream", catch)]
    fn new(format: &str) -> Result<Decompression, JsValue>;
}

/// Whether this browser inflates raw deflate streams (`DecompressionStream("deflate-raw")`:
/// Chromium 103, Firefox 113, Safari 16.4); else compressed members inflate in wasm.
fn inflates_natively() -> bool {
    Decompression::new("deflate-raw").is_ok()
}

/// A compressed `.npz` member read in order, inflated by the browser as it streams from the file:
/// its bytes are then decoded as a raw tensor's are.
struct InflateSource {
    reader: web_sys::ReadableStreamDefaultReader,
    /// Inflated bytes not yet taken: `have[pos..]`.
    have: Vec<u8>,
    pos: usize,
    /// Inflated bytes still to drop before the elements (the member's `.npy` header).
    skip: u64,
    ended: bool,
}

impl InflateSource {
    fn new(blob: &Blob, e: &TensorEntry) -> Result<InflateSource, String> {
        let DataRef::Deflate { offset, len, skip } = e.data else {
            return Err("not a compressed member".into());
        };
        let end = offset.checked_add(len).filter(|&x| x <= blob.size() as u64);
        let end = end.ok_or("the compressed member runs past the end of the file")?;
        let inflate = Decompression::new("deflate-raw")
            .map_err(|e| format!("this browser cannot inflate: {e:?}"))?;
        let slice = blob
            .slice_with_f64_and_f64(offset as f64, end as f64)
            .map_err(|e| format!("{e:?}"))?;
        let reader = slice
            .stream()
            .pipe_through(inflate.unchecked_ref::<web_sys::ReadableWritablePair>())
            .get_reader()
            .dyn_into::<web_sys::ReadableStreamDefaultReader>()
            .map_err(|_| "the inflated stream gave no reader".to_string())?;
        Ok(InflateSource {
            reader,
            have: Vec::new(),
            pos: 0,
            skip,
            ended: false,
        })
    }

    /// Inflate until `want` bytes are ready to take.
    async fn fill(&mut self, want: usize) -> Result<(), String> {
        while self.have.len() - self.pos < want {
            if self.ended {
                return Err(
                    "the compressed member holds fewer elements than its shape says".into(),
                );
            }
            let res = JsFuture::from(self.reader.read()).await.map_err(|e| {
                let said = e
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message()))
                    .unwrap_or_else(|| format!("{e:?}"));
                format!(
                    "corrupt deflate data (the browser: {})",
                    said.trim_end_matches('.')
                )
            })?;
            let (done, value) = read_result(&res);
            let Some(v) = value.filter(|_| !done) else {
                self.ended = true;
                continue;
            };
            let k = v.length() as usize;
            let drop = (self.skip.min(k as u64)) as usize;
            self.skip -= drop as u64;
            if drop < k {
                if self.pos > 0 {
                    self.have.drain(..self.pos);
                    self.pos = 0;
                }
                let old = self.have.len();
                self.have.resize(old + k - drop, 0);
                v.subarray(drop as u32, k as u32)
                    .copy_to(&mut self.have[old..]);
            }
        }
        Ok(())
    }

    /// Take the next `out.len()` inflated bytes (after [`InflateSource::fill`]).
    fn take(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        let end = self.pos + out.len();
        if end > self.have.len() {
            return Err(std::io::Error::other("a read of another size"));
        }
        out.copy_from_slice(&self.have[self.pos..end]);
        self.pos = end;
        Ok(())
    }
}

impl Drop for InflateSource {
    fn drop(&mut self) {
        // A stream that failed (corrupt data) rejects its cancel too: handled here, not left to
        // the console as an uncaught rejection (the pair already has its message).
        quiet(self.reader.cancel());
    }
}

/// A promise whose rejection nothing awaits, handled.
fn quiet(p: js_sys::Promise) {
    thread_local! {
        static NOTHING: Closure<dyn FnMut(JsValue)> = Closure::new(|_: JsValue| {});
    }
    NOTHING.with(|f| {
        let _ = p.catch(f);
    });
}

/// One side of a pair read in order: a raw tensor as a stream, a compressed one inflated.
enum InOrder {
    Raw(StreamSource),
    Inflate(InflateSource),
}

impl InOrder {
    fn new(blob: &Blob, e: &TensorEntry) -> Result<InOrder, String> {
        Ok(if is_compressed(e) {
            InOrder::Inflate(InflateSource::new(blob, e)?)
        } else {
            InOrder::Raw(StreamSource::new(blob))
        })
    }

    /// `n` elements from flat position `start` (the next ones) into `out`.
    async fn read(
        &mut self,
        e: &TensorEntry,
        start: u64,
        n: usize,
        out: &mut Vec<f32>,
    ) -> Result<(), String> {
        match self {
            InOrder::Raw(s) => {
                let (o, l) = raw_range(e, start, n).map_err(|e| e.to_string())?;
                s.start(o, l)?;
                s.finish().await?;
                decode_range(e, start, n, out, &mut |buf| s.copy_to(buf))
            }
            InOrder::Inflate(s) => {
                s.fill(n * e.elem.size_bytes()).await?;
                decode_range(e, start, n, out, &mut |buf| s.take(buf))
            }
        }
        .map_err(|e| e.to_string())
    }
}

/// A pair whole on this worker in one read ([`crate::engine::pairs::one_read`]: a compressed
/// one, inflated by the browser as it is read, or a small raw one, streamed): the metrics pass,
/// then the histograms from the values it kept (a compressed pair over
/// [`KEEP_COMPRESSED_MAX_ELEMS`] is read and inflated again for them).
async fn run_whole_streamed(
    task: &PartTask,
    float: &Blob,
    quant: &Blob,
    progress: &mut dyn FnMut(u64),
    alive: &dyn Fn() -> bool,
) -> Result<PartOutput, String> {
    let (fe, qe) = (&task.float, &task.quant);
    let keep = fe.numel() <= KEEP_COMPRESSED_MAX_ELEMS;
    let es = (fe.elem.size_bytes() + qe.elem.size_bytes()) as u64;
    let mut kept: Kept = Default::default();
    let mut merged = None;
    let mut sums = None;
    // The metrics pass, and (only when nothing was kept) the histogram pass.
    for pass in 0..2 {
        let mut run = PartRun::new(fe, task.spec, task.deq, task.part, merged.as_ref());
        if !run.reads() {
            break;
        }
        let (mut fs, mut qs) = (InOrder::new(float, fe)?, InOrder::new(quant, qe)?);
        let (mut b, mut a) = (Vec::new(), Vec::new());
        let mut done = 0u64;
        for r in part_schedule(fe, task.part)? {
            if !alive() {
                return Err("abandoned".into());
            }
            let (f, q) = futures_util::future::join(
                fs.read(fe, r.start, r.n, &mut b),
                qs.read(qe, r.start, r.n, &mut a),
            )
            .await;
            f.map_err(|e| format!("float side: {e}"))?;
            q.map_err(|e| format!("quantized side: {e}"))?;
            run.feed(r.start, &b, &mut a, r.w);
            if keep && pass == 0 {
                kept.0.extend_from_slice(&b);
                kept.1.extend_from_slice(&a);
                kept.2.push(r);
            }
            done += r.n as u64 * es;
            if pass == 0 {
                progress(done);
            }
        }
        match run.finish() {
            PartOutput::Sums(s) if pass == 0 => {
                if keep {
                    return Ok(finish_whole(fe, task.spec, task.part, s, kept));
                }
                merged = Some(merge_parts(std::slice::from_ref(&s), task.spec, &[]));
                sums = Some(s);
            }
            PartOutput::Hist(h) => return Ok(PartOutput::Whole(sums.ok_or("no sums")?, h)),
            _ => return Err("a pass gave what it should not".into()),
        }
    }
    Ok(PartOutput::Whole(sums.ok_or("no sums")?, None))
}

fn reply(scope: &DedicatedWorkerGlobalScope, r: &PartReply) {
    if let Ok(v) = serde_wasm_bindgen::to_value(r) {
        let _ = scope.post_message(&v);
    }
}

/// A helper's life: each message a part, answered with progress (at most every 100 ms) and its
/// result. No session, no journal: it holds nothing between parts. Parts run one after another.
pub fn run_helper(scope: DedicatedWorkerGlobalScope) {
    let queue: Rc<RefCell<std::collections::VecDeque<JsValue>>> = Default::default();
    let busy = Rc::new(Cell::new(false));
    let scope_in = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        queue.borrow_mut().push_back(ev.data());
        if busy.replace(true) {
            return;
        }
        let (queue, busy, scope) = (queue.clone(), busy.clone(), scope_in.clone());
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let Some(data) = queue.borrow_mut().pop_front() else {
                    break;
                };
                helper_part(&scope, data).await;
            }
            busy.set(false);
        });
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    reply(&scope, &PartReply::Ready);
}

async fn helper_part(scope: &DedicatedWorkerGlobalScope, data: JsValue) {
    let env = match serde_wasm_bindgen::from_value::<PartEnvelope>(data) {
        Ok(env) => env,
        Err(e) => {
            wasm_bindgen::throw_str(&format!("a part the helper does not understand: {e}"));
        }
    };
    let id = env.task.id;
    let blobs: Vec<Blob> = env
        .blobs
        .iter()
        .filter_map(|b| b.dyn_into::<Blob>().ok())
        .collect();
    let result = match blobs.as_slice() {
        [f, q] => {
            let mut last = 0.0f64;
            run_part(
                &env.task,
                f,
                q,
                &mut |done_bytes| {
                    let now = js_sys::Date::now();
                    if now - last >= 100.0 {
                        last = now;
                        reply(scope, &PartReply::Progress { id, done_bytes });
                    }
                },
                &|| true,
            )
            .await
        }
        _ => Err("the part's files did not reach the helper".to_string()),
    };
    reply(
        scope,
        &PartReply::Done {
            id,
            result: Box::new(result),
        },
    );
}
