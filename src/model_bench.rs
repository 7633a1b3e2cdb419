//! The model runner's benchmark, run inside its worker (`ToModel::Bench`, driven by
//! `e2e/bench_model.mjs`; the app never sends it). Times come from `performance.now()` (JS):
//! `std::time::Instant` panics on wasm32-unknown-unknown.

use crate::engine::model::{
    assignment_for, run_report, sensitivity, tensor, Model, Tensor, Values,
};
use crate::engine::quant::{Observer, QDType};
use crate::protocol::{BenchResult, FromModel, ModelEnvelope, ToModel};
use js_sys::{Function, Reflect, Uint8Array};
use std::collections::HashMap;
use wasm_bindgen::JsCast;
use web_sys::{Blob, FileReaderSync};

/// `performance.now()` of the worker (falls back to `Date.now()`).
fn now() -> f64 {
    let g = js_sys::global();
    Reflect::get(&g, &"performance".into())
        .ok()
        .and_then(|p| {
            let f: Function = Reflect::get(&p, &"now".into()).ok()?.dyn_into().ok()?;
            f.call0(&p).ok()?.as_f64()
        })
        .unwrap_or_else(js_sys::Date::now)
}

/// The byte length of this wasm module's memory (it only grows: the high-water mark).
/// This worker's wasm memory in bytes (it never shrinks: the high-water mark).
pub(crate) fn heap_bytes() -> f64 {
    let mem = wasm_bindgen::memory();
    Reflect::get(&mem, &"buffer".into())
        .ok()
        .and_then(|b| Reflect::get(&b, &"byteLength".into()).ok())
        .and_then(|n| n.as_f64())
        .unwrap_or(f64::NAN)
}

fn read(reader: &FileReaderSync, blob: &Blob) -> Result<Vec<u8>, String> {
    let ab = reader
        .read_as_array_buffer(blob)
        .map_err(|e| format!("the browser could not read a file: {e:?}"))?;
    Ok(Uint8Array::new(&ab).to_vec())
}

/// Run a [`ToModel::Bench`]: a `FromModel::Bench` with the figures, or `Failed`.
pub fn bench(reader: &FileReaderSync, env: ModelEnvelope) -> FromModel {
    let job = env.cmd.job();
    match measure(reader, env) {
        Ok(result) => FromModel::Bench { job, result },
        Err(message) => FromModel::Failed { job, message },
    }
}

fn measure(reader: &FileReaderSync, env: ModelEnvelope) -> Result<BenchResult, String> {
    let ToModel::Bench {
        shape,
        warmup,
        runs,
        sensitivity: sens,
        full_run,
        ..
    } = env.cmd
    else {
        return Err("not a benchmark".into());
    };
    let blobs: Vec<Blob> = env.blobs.iter().filter_map(|b| b.dyn_into().ok()).collect();
    let [model_blob, input_blob] = &blobs[..] else {
        return Err("a benchmark needs the model and one input".into());
    };
    let bytes = read(reader, model_blob)?;
    let raw = read(reader, input_blob)?;
    let values: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if values.len() != shape.iter().product::<usize>() {
        return Err(format!("{} input values for shape {shape:?}", values.len()));
    }
    let mut r = BenchResult::default();

    let t = now();
    let mut model = Model::load(&bytes, std::slice::from_ref(&shape))?;
    // Activations only, as onnxruntime-web's gated graph: one row per tensor.
    model.quantize_weights = false;
    r.load_ms = now() - t;
    r.tensors = model.tensors.len();
    let input: Vec<Tensor> = vec![tensor(&shape, values.clone())?];

    let t = now();
    let outs = model.run_float(&input)?;
    r.first_ms = now() - t;
    r.output = outs
        .into_iter()
        .next()
        .map(|v| v.iter().copied().collect())
        .unwrap_or_default();
    for _ in 0..warmup {
        model.run_float(&input)?;
    }
    for _ in 0..runs {
        let t = now();
        model.run_float(&input)?;
        r.forward_ms.push(now() - t);
    }

    // tract alone: the untouched model, optimized, run by tract's own loop.
    {
        use tract_onnx::prelude::*;
        let plain = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .and_then(|mut m| {
                m.set_input_fact(0, f32::fact(&shape).into())?;
                m.into_optimized()?.into_runnable()
            })
            .map_err(|e| format!("tract alone: {e}"))?;
        let x: TVec<TValue> = tvec!(input[0].clone().into_tvalue());
        for _ in 0..warmup {
            plain.run(x.clone()).map_err(|e| e.to_string())?;
        }
        for _ in 0..runs {
            let t = now();
            plain.run(x.clone()).map_err(|e| e.to_string())?;
            r.plain_forward_ms.push(now() - t);
        }
    }

    if sens {
        let samples = vec![input.clone()];
        let t = now();
        let s8 = model.calibrate(&samples, &Observer::MinMax, QDType::Int8)?;
        r.calibrate_ms = now() - t;
        let a = assignment_for(&model, &s8, &HashMap::new(), QDType::Int8, &[]);
        let t = now();
        let rows = sensitivity(&model, &samples, &a, &mut |_, _| true)?;
        r.sensitivity_ms = now() - t;
        r.sensitivity_tensors = rows.len();
        r.scales = model
            .tensors
            .iter()
            .filter_map(|t| Some((t.name.clone(), a.get(&t.node)?.scale)))
            .collect();
        r.sensitivity_l1 = rows
            .iter()
            .map(|row| {
                let l1 = row.values.first().map(|v| v[0]).unwrap_or(f64::NAN);
                (row.tensor.name.clone(), l1)
            })
            .collect();
    }
    drop(model);

    if full_run {
        let samples: Vec<Vec<Values>> =
            vec![vec![crate::engine::model::values(shape.clone(), values)?]];
        let mut stages: Vec<(String, f64)> = Vec::new();
        let t0 = now();
        let mut last = ("loading".to_string(), t0);
        run_report(
            &bytes,
            &samples,
            QDType::Int8,
            &Observer::MinMax,
            &mut |stage, _, _| {
                if stage != last.0 {
                    let t = now();
                    stages.push((
                        std::mem::replace(&mut last.0, stage.to_string()),
                        t - last.1,
                    ));
                    last.1 = t;
                }
                true
            },
        )?;
        let end = now();
        stages.push((format!("{} + tables", last.0), end - last.1));
        r.full_run_ms = end - t0;
        r.full_run_stages = stages;
    }
    r.wasm_heap_bytes = heap_bytes();
    Ok(r)
}
