//! `quantlens simulate` and `quantlens sensitivity`: an ONNX model run in float and fake-quantized (tract), written as Horizon's comparison and sensitivity tables.

use crate::inputs::{gather, InputArgs};
use crate::out::{fail, print_json};
use quantlens::engine::model::{
    assignment_for, compare_table_txt, declared_inputs, sensitivity, sensitivity_table_txt,
    simulate, Model, SENSITIVITY_METRICS,
};
use quantlens::engine::quant::{Observer, QDType};
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// The model, its samples (one per input file) and both calibrations.
struct Loaded {
    model: Model,
    samples: Vec<Vec<quantlens::engine::model::Tensor>>,
}

fn load(model_path: &Path, args: &InputArgs) -> Result<Loaded, String> {
    let bytes = std::fs::read(model_path)
        .map_err(|e| format!("cannot read {}: {e}", model_path.display()))?;
    let declared = declared_inputs(&bytes)?;
    let raw = gather(args, &declared)?;
    let Some((first_name, first)) = raw.first() else {
        return Err("no sample input".into());
    };
    // The shape is fixed from the first sample (every sample must agree).
    let shapes: Vec<Vec<usize>> = first.iter().map(|v| v.shape().to_vec()).collect();
    for (i, ((name, want), got)) in declared.iter().zip(&shapes).enumerate() {
        let fits =
            want.len() == got.len() && want.iter().zip(got).all(|(w, g)| w.is_none_or(|w| w == *g));
        if !fits {
            return Err(format!(
                "input {i} ({name}) of {first_name} has shape {got:?}; the model declares {}",
                quantlens::engine::preprocess::dims_text(want)
            ));
        }
    }
    let model = Model::load(&bytes, &shapes)?;
    let mut samples = Vec::new();
    for (name, s) in raw {
        let mut ts = Vec::new();
        for (v, want) in s.into_iter().zip(&shapes) {
            if v.shape() != want.as_slice() {
                return Err(format!(
                    "{name}: shape {:?}, the first sample's is {want:?}",
                    v.shape()
                ));
            }
            ts.push(quantlens::engine::model::Tensor::from(v));
        }
        samples.push(ts);
    }
    Ok(Loaded { model, samples })
}

fn observer(s: &str) -> Result<Observer, String> {
    Observer::parse(s)
        .filter(|o| !matches!(o, Observer::Fixed { .. }))
        .ok_or_else(|| format!("unknown observer {s:?}: minmax, percentile[:P], mse or kl"))
}

#[derive(Serialize)]
struct SimJson {
    name: String,
    op_type: String,
    quant_dtype: String,
    scale: Option<f64>,
    #[serde(flatten)]
    metrics: quantlens::engine::metrics::PairMetrics,
}

#[allow(clippy::too_many_arguments)]
pub fn run_simulate(
    model_path: &Path,
    inputs: &InputArgs,
    dtype: &str,
    obs: &str,
    int16: &[String],
    weights: bool,
    out: Option<&Path>,
    json: bool,
) -> ExitCode {
    let r = (|| -> Result<Option<String>, String> {
        let dt = QDType::parse(dtype).ok_or("--dtype is int8 or int16")?;
        let o = observer(obs)?;
        let mut l = load(model_path, inputs)?;
        l.model.quantize_weights = weights;
        let s8 = l.model.calibrate(&l.samples, &o, QDType::Int8)?;
        let s16 = l.model.calibrate(&l.samples, &o, QDType::Int16)?;
        let a = assignment_for(&l.model, &s8, &s16, dt, int16);
        let rows = simulate(&l.model, &l.samples, &a)?;
        let txt = compare_table_txt(&rows);
        if let Some(dir) = out {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let p = dir.join("compare_per_layer_out.txt");
            std::fs::write(&p, &txt).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        if json {
            let v: Vec<SimJson> = rows
                .into_iter()
                .map(|r| SimJson {
                    name: r.tensor.name,
                    op_type: r.tensor.op_type,
                    quant_dtype: r
                        .assignment
                        .map(|a| a.dtype.name().to_string())
                        .unwrap_or("float32".into()),
                    scale: r.assignment.map(|a| a.scale),
                    metrics: r.metrics,
                })
                .collect();
            return Ok(Some(
                serde_json::to_string_pretty(&serde_json::json!({ "rows": v }))
                    .map_err(|e| e.to_string())?,
            ));
        }
        Ok(if out.is_none() { Some(txt) } else { None })
    })();
    match r {
        Ok(Some(s)) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

#[derive(Serialize)]
struct OpJson {
    name: String,
    op_type: String,
    /// `activation` or `weight`, as Horizon's tables.
    sensitive_type: String,
    value: f64,
}

#[derive(Serialize)]
struct TableJson {
    output: String,
    metric: String,
    ops: Vec<OpJson>,
}

pub fn run_sensitivity(
    model_path: &Path,
    inputs: &InputArgs,
    dtype: &str,
    obs: &str,
    weights: bool,
    out: Option<&Path>,
    json: bool,
) -> ExitCode {
    let r = (|| -> Result<(), String> {
        let dt = QDType::parse(dtype).ok_or("--dtype is int8 or int16")?;
        let o = observer(obs)?;
        let mut l = load(model_path, inputs)?;
        l.model.quantize_weights = weights;
        let scales = l.model.calibrate(&l.samples, &o, dt)?;
        let a = assignment_for(&l.model, &scales, &scales, dt, &[]);
        let rows = sensitivity(&l.model, &l.samples, &a, &mut |done, total| {
            if !json && (done % 20 == 0 || done == total) {
                eprint!("\rsensitivity: {done}/{total} runs");
            }
            true
        })?;
        if !json {
            eprintln!();
        }
        let mut tables = Vec::new();
        for o in 0..l.model.outputs.len() {
            for (m, metric) in SENSITIVITY_METRICS.iter().enumerate() {
                let (name, txt) = sensitivity_table_txt(&l.model, &rows, o, m);
                if let Some(dir) = out {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    std::fs::write(dir.join(&name), &txt)
                        .map_err(|e| format!("cannot write {name}: {e}"))?;
                    eprintln!("wrote {}", dir.join(&name).display());
                }
                let mut ops: Vec<OpJson> = rows
                    .iter()
                    .map(|r| OpJson {
                        name: r.tensor.name.clone(),
                        op_type: r.tensor.op_type.clone(),
                        sensitive_type: r.kind.as_str().to_string(),
                        value: r.values[o][m],
                    })
                    .collect();
                ops.sort_by(|x, y| {
                    let c = x
                        .value
                        .partial_cmp(&y.value)
                        .unwrap_or(std::cmp::Ordering::Equal);
                    if m == 0 {
                        c.reverse()
                    } else {
                        c
                    }
                });
                if !json && out.is_none() && m == 0 {
                    println!("{name}\n{txt}");
                }
                tables.push(TableJson {
                    output: l.model.outputs[o].clone(),
                    metric: metric.to_string(),
                    ops,
                });
            }
        }
        if json {
            print_json(&serde_json::json!({ "tables": tables }))
                .map_err(|_| "cannot print".to_string())?;
        }
        Ok(())
    })();
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}
