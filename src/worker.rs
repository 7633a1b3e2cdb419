//! The analysis web worker: reads dropped files in slices (`FileReaderSync` over `Blob.slice`) and runs
//! the engine off the UI thread, posting progress and the final analysis as JSON messages.

use crate::engine::session::{read_source, Analysis};
use crate::protocol::{FromWorker, SLICE_BYTES};
use js_sys::{Array, Reflect, Uint8Array};
use std::io::Read;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DedicatedWorkerGlobalScope, FileReaderSync, MessageEvent};

fn post(scope: &DedicatedWorkerGlobalScope, msg: &FromWorker) {
    match serde_json::to_string(msg) {
        Ok(s) => {
            let _ = scope.post_message(&JsValue::from_str(&s));
        }
        Err(e) => {
            let _ = scope.post_message(&JsValue::from_str(&format!(
                "{{\"type\":\"failed\",\"job\":0,\"message\":\"cannot encode result: {e}\"}}"
            )));
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

fn run_job(scope: &DedicatedWorkerGlobalScope, job: u32, items: Array) -> Result<Analysis, String> {
    let reader = FileReaderSync::new().map_err(|e| format!("FileReaderSync unavailable: {e:?}"))?;
    let mut analysis = Analysis::default();
    let total_bytes: u64 = items
        .iter()
        .filter_map(|it| Reflect::get(&it, &"blob".into()).ok())
        .filter_map(|b| b.dyn_into::<Blob>().ok())
        .map(|b| b.size() as u64)
        .sum();
    let mut done_before = 0u64;
    for (file_index, item) in items.iter().enumerate() {
        let name = Reflect::get(&item, &"name".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_else(|| format!("file {}", file_index + 1));
        let blob: Blob = Reflect::get(&item, &"blob".into())
            .ok()
            .and_then(|b| b.dyn_into().ok())
            .ok_or_else(|| format!("item {file_index} has no file data"))?;
        let size_bytes = blob.size() as u64;
        let mut on_slice = |pos: u64| {
            post(
                scope,
                &FromWorker::Progress {
                    job,
                    file_index,
                    file_name: name.clone(),
                    done_bytes: done_before + pos,
                    total_bytes,
                },
            );
        };
        let source = BlobReader {
            blob,
            reader: reader.clone(),
            size_bytes,
            pos: 0,
            buf: Vec::new(),
            buf_pos: 0,
            on_slice: &mut on_slice,
        };
        analysis.add_file(read_source(&name, size_bytes, source));
        done_before += size_bytes;
    }
    // Findings are computed by the receiver when it merges this batch into its session.
    Ok(analysis)
}

/// Install the message handler. Each message is `{job: number, items: [{name, blob}]}`.
pub fn start() {
    console_error_panic_hook_lite();
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let scope_in = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let data = ev.data();
        let job = Reflect::get(&data, &"job".into())
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(0.0) as u32;
        let items: Array = Reflect::get(&data, &"items".into())
            .ok()
            .and_then(|v| v.dyn_into().ok())
            .unwrap_or_default();
        let started = js_sys::Date::now();
        match run_job(&scope_in, job, items) {
            Ok(analysis) => post(
                &scope_in,
                &FromWorker::Done {
                    job,
                    analysis,
                    elapsed_ms: js_sys::Date::now() - started,
                },
            ),
            Err(message) => post(&scope_in, &FromWorker::Failed { job, message }),
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
