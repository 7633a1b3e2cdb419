//! Big tensor pairs spread over several workers: helper workers (the analysis worker's own script
//! started under another name) each compare a part of a pair and post back its sums.

use crate::engine::pairs::{compare_part, hist_part};
use crate::protocol::{PartEnvelope, PartOutput, PartReply, PartTask};
use js_sys::Array;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DedicatedWorkerGlobalScope, FileReaderSync, MessageEvent};

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

/// Run one part here (in a helper, or in the analysis worker for its own share).
pub fn run_part(
    reader: &FileReaderSync,
    task: &PartTask,
    float: &Blob,
    quant: &Blob,
    progress: &mut dyn FnMut(u64),
) -> Result<PartOutput, String> {
    let mut f = crate::worker::BlobSource::new(float.clone(), reader.clone());
    let mut q = crate::worker::BlobSource::new(quant.clone(), reader.clone());
    match &task.merged {
        None => compare_part(
            &mut f,
            &task.float,
            &mut q,
            &task.quant,
            task.spec,
            task.deq,
            task.part,
            progress,
        )
        .map(PartOutput::Sums),
        Some(m) => hist_part(
            &mut f,
            &task.float,
            &mut q,
            &task.quant,
            task.deq,
            task.part,
            m,
            progress,
        )
        .map(PartOutput::Hist),
    }
}

fn reply(scope: &DedicatedWorkerGlobalScope, r: &PartReply) {
    if let Ok(v) = serde_wasm_bindgen::to_value(r) {
        let _ = scope.post_message(&v);
    }
}

/// A helper's life: each message a part, answered with progress (at most every 100 ms) and its
/// result. No session, no journal: it holds nothing between parts.
pub fn run_helper(scope: DedicatedWorkerGlobalScope) {
    let reader = match FileReaderSync::new() {
        Ok(r) => r,
        Err(e) => {
            // The analysis worker takes this helper's parts back (see its error handler).
            wasm_bindgen::throw_str(&format!("FileReaderSync unavailable: {e:?}"));
        }
    };
    let scope_in = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        let env = match serde_wasm_bindgen::from_value::<PartEnvelope>(ev.data()) {
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
                let scope_p = scope_in.clone();
                run_part(&reader, &env.task, f, q, &mut |done_bytes| {
                    let now = js_sys::Date::now();
                    if now - last >= 100.0 {
                        last = now;
                        reply(&scope_p, &PartReply::Progress { id, done_bytes });
                    }
                })
            }
            _ => Err("the part's files did not reach the helper".to_string()),
        };
        reply(&scope_in, &PartReply::Done { id, result });
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    reply(&scope, &PartReply::Ready);
}
