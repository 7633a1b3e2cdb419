//! The analysis web worker: reads dropped files in slices (`FileReaderSync` over `Blob.slice`) and runs
//! the engine off the UI thread, posting progress and the final analysis as JSON messages.

use crate::engine::pairs::{self, Side};
use crate::engine::session::{is_tensor_file, read_source, read_tensor_source, Analysis, Document};
use crate::engine::tensor::ByteSource;
use crate::protocol::{FromWorker, SLICE_BYTES};
use js_sys::{Array, Reflect, Uint8Array};
use std::collections::HashMap;
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

/// Random access to a Blob: each read is one `Blob.slice` read synchronously (the file is never whole).
struct BlobSource {
    blob: Blob,
    reader: FileReaderSync,
    size_bytes: u64,
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

fn side_of(v: &JsValue) -> Option<Side> {
    match Reflect::get(v, &"side".into()).ok()?.as_string()?.as_str() {
        "float" => Some(Side::Float),
        "quant" => Some(Side::Quant),
        _ => None,
    }
}

fn run_job(
    scope: &DedicatedWorkerGlobalScope,
    job: u32,
    items: Array,
    scales: HashMap<String, f64>,
    manual: Vec<(String, String)>,
) -> Result<Analysis, String> {
    let reader = FileReaderSync::new().map_err(|e| format!("FileReaderSync unavailable: {e:?}"))?;
    let mut analysis = Analysis::default();
    let total_bytes: u64 = items
        .iter()
        .filter_map(|it| Reflect::get(&it, &"blob".into()).ok())
        .filter_map(|b| b.dyn_into::<Blob>().ok())
        .map(|b| b.size() as u64)
        .sum();
    let mut done_before = 0u64;
    let mut tensor_sources: Vec<(usize, BlobSource)> = Vec::new();
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
        // Tensor dumps are read with random access; reports as a stream of lines.
        let mut src = BlobSource {
            blob: blob.clone(),
            reader: reader.clone(),
            size_bytes,
        };
        let mut head = vec![0u8; size_bytes.min(16) as usize];
        if src.read_at(0, &mut head).is_ok() && is_tensor_file(&head, size_bytes) {
            let mut report = read_tensor_source(&name, &mut src);
            if let (Some(side), Some(Document::Tensors { side: s, .. })) =
                (side_of(&item), report.document.as_mut())
            {
                *s = Some(side);
            }
            tensor_sources.push((analysis.files.len(), src));
            analysis.add_file(report);
            done_before += size_bytes;
            continue;
        }
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
    // Tensor files on both sides: pair and compare them now, while the worker can read the Blobs.
    if !tensor_sources.is_empty() {
        let mut files = Vec::new();
        let mut sources: Vec<Box<dyn ByteSource>> = Vec::new();
        for (fi, src) in tensor_sources {
            if let Some(Document::Tensors { entries, side }) = &analysis.files[fi].document {
                files.push((fi, (entries.clone(), *side)));
                sources.push(Box::new(src));
            }
        }
        let listing: Vec<_> = files.iter().map(|(_, f)| f.clone()).collect();
        let mut last_post = 0.0f64;
        let mut cmp = pairs::compare_files(
            &listing,
            &mut sources,
            &scales,
            &manual,
            &mut |done, total, name| {
                // At most ~20 progress messages a second.
                let now = js_sys::Date::now();
                if now - last_post < 50.0 && done < total {
                    return;
                }
                last_post = now;
                post(
                    scope,
                    &FromWorker::Progress {
                        job,
                        file_index: 0,
                        file_name: format!("comparing {name}"),
                        done_bytes: done,
                        total_bytes: total,
                    },
                );
            },
        );
        // Map listing indices back to analysis file indices.
        for p in &mut cmp.pairs {
            p.float_file = files[p.float_file].0;
            p.quant_file = files[p.quant_file].0;
        }
        analysis.tensors = cmp;
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
        let mut scales = HashMap::new();
        if let Ok(obj) = Reflect::get(&data, &"scales".into()) {
            if let Ok(keys) = js_sys::Reflect::own_keys(&obj) {
                for k in keys.iter() {
                    if let (Some(name), Some(v)) = (
                        k.as_string(),
                        Reflect::get(&obj, &k).ok().and_then(|v| v.as_f64()),
                    ) {
                        if v > 0.0 && v.is_finite() {
                            scales.insert(name, v);
                        }
                    }
                }
            }
        }
        // Pairs made by hand: [[float name, quantized name], ...].
        let manual: Vec<(String, String)> = Reflect::get(&data, &"pairs".into())
            .ok()
            .and_then(|v| v.dyn_into::<Array>().ok())
            .map(|a| {
                a.iter()
                    .filter_map(|p| {
                        let p: Array = p.dyn_into().ok()?;
                        Some((p.get(0).as_string()?, p.get(1).as_string()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let started = js_sys::Date::now();
        match run_job(&scope_in, job, items, scales, manual) {
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
