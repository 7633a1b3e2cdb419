//! The model runner's web worker: reads the dropped model and sample files, runs calibration, the simulated comparison and true sensitivity (engine::model, tract), posts progress and the reports written.

use crate::engine::model::{
    declared_inputs, report_begin, report_finish, samples_from_files, Report,
};
use crate::engine::preprocess::{
    apply_typed, decode, dims_text, samples_from_images, split_images, RANDOM_WARNING,
};
use crate::engine::quant::Observer;
use crate::protocol::{FromModel, ImageCheck, ModelEnvelope, ToModel};
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, DedicatedWorkerGlobalScope, FileReaderSync, MessageEvent};

fn post(scope: &DedicatedWorkerGlobalScope, msg: &FromModel) {
    if let Ok(v) = serde_wasm_bindgen::to_value(msg) {
        let _ = scope.post_message(&v);
    }
}

fn read(reader: &FileReaderSync, blob: &Blob) -> Result<Vec<u8>, String> {
    let ab = reader
        .read_as_array_buffer(blob)
        .map_err(|e| format!("the browser could not read a file: {e:?}"))?;
    Ok(Uint8Array::new(&ab).to_vec())
}

/// The model's declared inputs and each image's size (or why it does not decode).
fn inspect(
    reader: &FileReaderSync,
    blobs: &[Blob],
    job: u32,
    model: String,
    images: Vec<String>,
) -> Result<FromModel, String> {
    if blobs.len() != 1 + images.len() {
        return Err("the model and its images did not all arrive".into());
    }
    let bytes = read(reader, &blobs[0])?;
    let inputs = declared_inputs(&bytes).map_err(|e| format!("{model}: {e}"))?;
    let mut checks = Vec::new();
    for (name, b) in images.into_iter().zip(&blobs[1..]) {
        let check = match read(reader, b).and_then(|bytes| decode(&name, &bytes)) {
            Ok(img) => ImageCheck {
                name,
                size: Some((img.width, img.height)),
                error: None,
            },
            Err(e) => ImageCheck {
                name,
                size: None,
                error: Some(e),
            },
        };
        checks.push(check);
    }
    Ok(FromModel::Inputs {
        job,
        model,
        inputs,
        images: checks,
    })
}

fn run(
    scope: &DedicatedWorkerGlobalScope,
    reader: &FileReaderSync,
    env: ModelEnvelope,
) -> Result<FromModel, String> {
    let blobs: Vec<Blob> = env.blobs.iter().filter_map(|b| b.dyn_into().ok()).collect();
    let (job, model, inputs, dtype, observer, folder, preprocess, typed, random, part, parts) =
        match env.cmd {
            ToModel::Inspect { job, model, images } => {
                return inspect(reader, &blobs, job, model, images)
            }
            ToModel::Parts { job, values } => {
                let Some(p) = PENDING
                    .with(|p| p.borrow_mut().take())
                    .filter(|p| p.job == job)
                else {
                    return Err("the other workers' rows came for no run in progress".into());
                };
                let mut last = 0.0f64;
                let reports = report_finish(p.report, values, &mut |stage, done, total| {
                    progress(scope, job, &mut last, stage, done, total)
                })
                .map_err(|e| format!("{}: {e}", p.model))?;
                return Ok(done(job, &p.folder, reports, p.notes, p.used));
            }
            ToModel::Run {
                job,
                model,
                inputs,
                dtype,
                observer,
                folder,
                preprocess,
                typed,
                random,
                part,
                parts,
            } => (
                job, model, inputs, dtype, observer, folder, preprocess, typed, random, part, parts,
            ),
            ToModel::Bench { .. } => return Err("not a run".into()),
        };
    if blobs.len() != 1 + inputs.len() {
        return Err("the model and its inputs did not all arrive".into());
    }
    let obs = Observer::parse(&observer).ok_or_else(|| format!("unknown observer {observer:?}"))?;
    let bytes = read(reader, &blobs[0])?;
    let declared = declared_inputs(&bytes).map_err(|e| format!("{model}: {e}"))?;
    let declared = apply_typed(&declared, &typed)?;
    let mut used = Vec::new();
    let mut notes = Vec::new();
    let samples = if let Some(r) = random {
        used.push(format!("{} — {RANDOM_WARNING}", r.describe()));
        r.samples(&declared)?
    } else {
        let mut files = Vec::new();
        for (name, b) in inputs.iter().zip(&blobs[1..]) {
            files.push((name.clone(), read(reader, b)?));
        }
        let (images, bad, mut rest) = split_images(files);
        notes.extend(bad);
        let (mut samples, n) = samples_from_files(&declared, &mut rest);
        notes.extend(n);
        if !images.is_empty() {
            match samples_from_images(&declared, &images, &preprocess) {
                Ok((s, n, u)) => {
                    samples.extend(s);
                    notes.extend(n);
                    used.push(u);
                }
                Err(e) => notes.push(e),
            }
        }
        samples
    };
    // Every sample at the first one's shapes (the model is loaded at them).
    let samples: Vec<_> = match samples
        .first()
        .map(|s| s.iter().map(|v| v.shape().to_vec()).collect::<Vec<_>>())
    {
        Some(first) => samples
            .into_iter()
            .enumerate()
            .filter(|(i, s)| {
                let same = s
                    .iter()
                    .map(|v| v.shape())
                    .eq(first.iter().map(|f| f.as_slice()));
                if !same {
                    notes.push(format!(
                        "sample {} has other shapes than the first ({})",
                        i + 1,
                        first
                            .iter()
                            .map(|d| dims_text(&d.iter().copied().map(Some).collect::<Vec<_>>()))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                same
            })
            .map(|(_, s)| s)
            .collect(),
        None => Vec::new(),
    };
    if samples.is_empty() {
        let wants: Vec<String> = declared
            .iter()
            .map(|(n, d)| format!("{n} {}", dims_text(d)))
            .collect();
        let what = if notes.is_empty() {
            format!("no sample input for {model}")
        } else {
            format!(
                "none of the sample files fits {model} ({})",
                notes.join("; ")
            )
        };
        return Err(format!(
            "{what}: drop .npz files with a tensor per input ({}), .npy or PNG/JPEG images for a one-input model",
            wants.join(", "),
        ));
    }
    let mut last = 0.0f64;
    let (part, parts) = (part as usize, parts.max(1) as usize);
    let report = report_begin(
        &bytes,
        &samples,
        dtype,
        &obs,
        part,
        parts,
        &mut |stage, done, total| progress(scope, job, &mut last, stage, done, total),
    )
    .map_err(|e| format!("{model}: {e}"))?;
    if part > 0 {
        return Ok(FromModel::Part {
            job,
            part: part as u32,
            values: report.part_values(),
            wasm_heap_bytes: crate::model_bench::heap_bytes(),
        });
    }
    if parts > 1 {
        PENDING.with(|p| {
            *p.borrow_mut() = Some(Pending {
                job,
                model,
                folder,
                notes,
                used,
                report,
            })
        });
        return Ok(FromModel::AwaitingParts { job });
    }
    let reports = report_finish(report, Vec::new(), &mut |stage, done, total| {
        progress(scope, job, &mut last, stage, done, total)
    })
    .map_err(|e| format!("{model}: {e}"))?;
    Ok(done(job, &folder, reports, notes, used))
}

/// A split run's part 0 between its own rows and the others' ([`ToModel::Parts`]).
struct Pending {
    job: u32,
    model: String,
    folder: String,
    notes: Vec<String>,
    used: Vec<String>,
    report: Report,
}

thread_local! {
    /// The command being run (a panic's message names it).
    static JOB: std::cell::Cell<u32> = const { std::cell::Cell::new(u32::MAX) };
    static PENDING: std::cell::RefCell<Option<Pending>> = const { std::cell::RefCell::new(None) };
}

/// Post progress at most every 100 ms (and at the end of a stage).
fn progress(
    scope: &DedicatedWorkerGlobalScope,
    job: u32,
    last: &mut f64,
    stage: &str,
    done: usize,
    total: usize,
) -> bool {
    let now = js_sys::Date::now();
    if now - *last > 100.0 || done == total {
        *last = now;
        post(
            scope,
            &FromModel::Progress {
                job,
                stage: stage.to_string(),
                done: done as u64,
                total: total as u64,
                wasm_heap_bytes: crate::model_bench::heap_bytes(),
            },
        );
    }
    true
}

fn done(
    job: u32,
    folder: &str,
    reports: Vec<(String, String)>,
    notes: Vec<String>,
    used: Vec<String>,
) -> FromModel {
    FromModel::Done {
        job,
        files: reports
            .into_iter()
            .map(|(n, t)| (format!("{folder}/{n}"), t))
            .collect(),
        notes,
        used,
        wasm_heap_bytes: crate::model_bench::heap_bytes(),
    }
}

/// Install the message handler and say `Ready`.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("QuantLens model worker panicked: {info}").into());
        // Said in words before the worker ends (the page then stops the run with this message,
        // not the bare error event that follows).
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        post(
            &scope,
            &FromModel::Failed {
                job: JOB.with(|j| j.get()),
                message: format!(
                    "the model runner stopped on this model ({what}): a broken ONNX file, or an op in a form the runner does not handle"
                ),
            },
        );
    }));
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let Ok(reader) = FileReaderSync::new() else {
        post(
            &scope,
            &FromModel::Failed {
                job: u32::MAX,
                message: "FileReaderSync unavailable".into(),
            },
        );
        return;
    };
    let scope_in = scope.clone();
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        match serde_wasm_bindgen::from_value::<ModelEnvelope>(ev.data()) {
            Ok(env) => {
                let job = env.cmd.job();
                JOB.with(|j| j.set(job));
                if matches!(env.cmd, ToModel::Bench { .. }) {
                    return post(&scope_in, &crate::model_bench::bench(&reader, env));
                }
                match run(&scope_in, &reader, env) {
                    Ok(done) => post(&scope_in, &done),
                    Err(message) => post(&scope_in, &FromModel::Failed { job, message }),
                }
            }
            Err(e) => post(
                &scope_in,
                &FromModel::Failed {
                    job: u32::MAX,
                    message: format!("a command the model worker does not understand: {e}"),
                },
            ),
        }
    });
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&scope, &FromModel::Ready);
}
