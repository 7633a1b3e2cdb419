//! Run an ONNX model (tract): every float activation recorded, calibrated with the engine's observers, fake-quantized on demand; the per-layer comparison and true single-tensor sensitivity written in Horizon's table formats.
//!
//! The model is decluttered (not optimized), so node and tensor names stay those of the ONNX file,
//! and run through tract's plan with an evaluation hook that can read (calibrate) or replace
//! (fake-quantize) any node's output without editing the graph. Fake quantization is the engine's
//! own (`quant::fake_quant`: symmetric, round half to even), so it agrees with the error split, the
//! what-if and PyTorch's `fake_quantize_per_tensor_affine`.

use super::metrics::{Accumulator, PairMetrics, QuantSpec};
use super::quant::{fake_quant, symmetric_scale, AbsHistogram, Observer, QDType};
use std::collections::HashMap;
pub use tract_onnx::prelude::Tensor;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;
use tract_onnx::tract_core::plan::{SimplePlan, SimpleState};
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

/// A tensor's shape and its values (C order).
pub type Values = (Vec<usize>, Vec<f32>);
/// An input's name and the shape the file declares (`None`: symbolic).
pub type DeclaredInput = (String, Vec<Option<usize>>);
/// Sees each node's output: (node, shape, values).
type Recorder<'a> = &'a mut dyn FnMut(usize, &[usize], &[f32]);

/// Bins of the |x| histogram the percentile, MSE and KL observers read.
const HIST_BINS: usize = 2048;

/// One tensor QuantLens can quantize: a node's first output, in plan order.
#[derive(Debug, Clone)]
pub struct ModelTensor {
    pub node: usize,
    /// The ONNX value name (the tensor name), or the node's name when the value has none.
    pub name: String,
    /// The op that writes it (`Conv`, `Add`, …; `Source` for a model input).
    pub op_type: String,
}

/// A loaded model, its input shapes fixed, ready to run.
pub struct Model {
    plan: Arc<TypedSimplePlan>,
    /// Quantizable activations (f32 outputs of every node but constants), in plan order.
    pub tensors: Vec<ModelTensor>,
    /// (name, shape) of each input, in the model's order.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Output names, in the model's order.
    pub outputs: Vec<String>,
}

fn err(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or(&s).to_string()
}

/// Input names and the shapes the file declares (`None` for a symbolic dimension), read before
/// any shape is fixed: what samples must provide.
pub fn declared_inputs(bytes: &[u8]) -> Result<Vec<DeclaredInput>, String> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| format!("not a model QuantLens can run: {}", err(e)))?;
    let mut out = Vec::new();
    for (ix, outlet) in model.input_outlets().map_err(err)?.iter().enumerate() {
        let name = model.node(outlet.node).name.clone();
        let fact = model.input_fact(ix).map_err(err)?;
        let dims = fact
            .shape
            .dims()
            .map(|d| d.concretize().and_then(|d| d.to_usize().ok()))
            .collect();
        out.push((name, dims));
    }
    Ok(out)
}

impl Model {
    /// Load an ONNX model from bytes with each input's shape fixed (`shapes[i]` for input `i`), so
    /// shapes are known before the graph is simplified. Unsupported ops and shapes fail here with
    /// the op or input named.
    pub fn load(bytes: &[u8], shapes: &[Vec<usize>]) -> Result<Model, String> {
        let mut model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .map_err(|e| format!("not a model QuantLens can run: {}", err(e)))?;
        let n_inputs = model.input_outlets().map_err(err)?.len();
        if shapes.len() != n_inputs {
            return Err(format!(
                "the model has {n_inputs} input(s); {} shape(s) given",
                shapes.len()
            ));
        }
        let mut inputs = Vec::new();
        for (ix, shape) in shapes.iter().enumerate() {
            let node = model.input_outlets().map_err(err)?[ix].node;
            let name = model.node(node).name.clone();
            model
                .set_input_fact(ix, f32::fact(shape).into())
                .map_err(|e| format!("input {name}: {}", err(e)))?;
            inputs.push((name, shape.clone()));
        }
        // Typed but not decluttered: decluttering folds and renames nodes (a BatchNorm into its
        // Conv), and only ~5% of the ONNX value names would survive it.
        let typed = model
            .into_typed()
            .map_err(|e| format!("the model cannot be analysed: {}", describe(&e)))?;
        let mut tensors = Vec::new();
        for &n in typed.eval_order().map_err(err)?.iter() {
            let node = typed.node(n);
            let op_type = node.op().name().to_string();
            if op_type == "Const" || node.outputs.is_empty() {
                continue;
            }
            let fact = &node.outputs[0].fact;
            if fact.datum_type != f32::datum_type() {
                continue;
            }
            // Only the ONNX file's own tensors (their value names are outlet labels); the nodes
            // tract adds when it expands an op (BatchNorm's Mul and Add) are not quantized.
            let is_input = op_type == "Source";
            let Some(label) = typed
                .outlet_label(OutletId::new(n, 0))
                .map(str::to_string)
                .or_else(|| is_input.then(|| node.name.clone()))
            else {
                continue;
            };
            let op_type = if is_input {
                "Input".to_string()
            } else {
                onnx_op_name(&node.name, &op_type)
            };
            tensors.push(ModelTensor {
                node: n,
                name: label,
                op_type,
            });
        }
        let outs = typed.output_outlets().map_err(err)?.to_vec();
        let outputs = outs
            .iter()
            .map(|o| {
                typed
                    .outlet_label(*o)
                    .map(str::to_string)
                    .unwrap_or_else(|| typed.node(o.node).name.clone())
            })
            .collect();
        let plan = SimplePlan::new(typed).map_err(err)?;
        Ok(Model {
            plan,
            tensors,
            inputs,
            outputs,
        })
    }

    /// Run once. `replace(node, values)` may fake-quantize a node's output in place (it returns
    /// whether it did); `record(node, values)` sees every output after that. Gives the outputs.
    fn run(
        &self,
        inputs: &[Tensor],
        replace: &mut dyn FnMut(usize, &mut [f32]) -> bool,
        record: Recorder<'_>,
    ) -> Result<Vec<Values>, String> {
        let mut state = SimpleState::new(&self.plan).map_err(err)?;
        let inputs: TVec<TValue> = inputs.iter().cloned().map(|t| t.into_tvalue()).collect();
        let outs = state
            .run_plan_with_eval(inputs, |ctx, st, node, inp| {
                let mut out = tract_core::plan::eval(ctx, st, node, inp)?;
                if let Some(first) = out.first() {
                    if first.datum_type() == f32::datum_type() {
                        let mut t = first.clone().into_tensor();
                        let changed = {
                            let mut view = t.try_as_plain_ram_mut()?;
                            replace(node.id, view.as_slice_mut::<f32>()?)
                        };
                        record(node.id, t.shape(), t.try_as_plain_ram()?.as_slice::<f32>()?);
                        if changed {
                            out[0] = t.into_tvalue();
                        }
                    }
                }
                Ok::<_, TractError>(out)
            })
            .map_err(|e| format!("running the model failed: {}", describe(&e)))?;
        outs.iter()
            .map(|t| {
                let t = t.cast_to::<f32>().map_err(err)?;
                let v = t
                    .try_as_plain_ram()
                    .map_err(err)?
                    .as_slice::<f32>()
                    .map_err(err)?
                    .to_vec();
                Ok((t.shape().to_vec(), v))
            })
            .collect()
    }

    /// The float outputs for `inputs`.
    pub fn run_float(&self, inputs: &[Tensor]) -> Result<Vec<Values>, String> {
        self.run(inputs, &mut |_, _| false, &mut |_, _, _| {})
    }

    /// Scales of every activation: |x| max over the samples (pass 1), then, for the histogram
    /// observers, a 2048-bin |x| histogram (pass 2) read by `observer`.
    pub fn calibrate(
        &self,
        samples: &[Vec<Tensor>],
        observer: &Observer,
        dtype: QDType,
    ) -> Result<HashMap<usize, f64>, String> {
        let watched: HashMap<usize, usize> = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.node, i))
            .collect();
        let mut amax = vec![0f32; self.tensors.len()];
        for s in samples {
            self.run(s, &mut |_, _| false, &mut |node, _, v| {
                if let Some(&i) = watched.get(&node) {
                    amax[i] = amax[i].max(super::quant::abs_max(v));
                }
            })?;
        }
        let mut scales = HashMap::new();
        if matches!(observer, Observer::MinMax) {
            for (t, a) in self.tensors.iter().zip(&amax) {
                scales.insert(t.node, symmetric_scale(*a as f64, dtype));
            }
            return Ok(scales);
        }
        let mut hists: Vec<AbsHistogram> = amax
            .iter()
            .map(|&a| AbsHistogram::new(a as f64, HIST_BINS))
            .collect();
        for s in samples {
            self.run(s, &mut |_, _| false, &mut |node, _, v| {
                if let Some(&i) = watched.get(&node) {
                    hists[i].update(v);
                }
            })?;
        }
        for (t, h) in self.tensors.iter().zip(&hists) {
            let s = if h.count == 0 {
                symmetric_scale(0.0, dtype)
            } else {
                observer
                    .scale(h, dtype)
                    .map_err(|e| format!("{}: {e}", t.name))?
            };
            scales.insert(t.node, s);
        }
        Ok(scales)
    }
}

/// The ONNX op type of a node: tract names unnamed nodes `OpType@index` (and expansions
/// `OpType@index.part`); otherwise its own op name.
fn onnx_op_name(node_name: &str, tract_op: &str) -> String {
    match node_name.split_once('@') {
        Some((op, rest))
            if !op.is_empty()
                && !rest.is_empty()
                && op.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            op.to_string()
        }
        _ => tract_op.to_string(),
    }
}

/// A tract error in one line, naming the op (and the node) when it is an unsupported one.
fn describe(e: &TractError) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let all = chain.join(": ");
    if let Some(i) = all.find("Unimplemented(") {
        let op = all[i + "Unimplemented(".len()..]
            .split(')')
            .next()
            .unwrap_or("?");
        // `Translating node #2 "y" Unimplemented(…)`: the node's name is the quoted one.
        let node = all[..i]
            .rsplit('"')
            .nth(1)
            .filter(|n| !n.is_empty())
            .map(|n| format!(" (node {n:?})"))
            .unwrap_or_default();
        return format!(
            "the op {op}{node} is not supported by the model runner (tract 0.23.9): export the model without it, or run QuantAnalysis on the training server"
        );
    }
    all
}

/// What each activation is quantized to in a simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    pub scale: f64,
    pub dtype: QDType,
}

fn quantize_in_place(v: &mut [f32], a: Assignment) {
    let (qmin, qmax) = a.dtype.range();
    let s = a.scale as f32;
    for x in v.iter_mut() {
        *x = fake_quant(*x, s, 0, qmin, qmax);
    }
}

/// One row of the simulated comparison: a tensor, its assignment and the metrics of the quantized
/// run against the float run at that tensor (accumulated over the samples).
#[derive(Debug, Clone)]
pub struct SimRow {
    pub tensor: ModelTensor,
    pub shape: Vec<usize>,
    pub assignment: Option<Assignment>,
    pub metrics: PairMetrics,
}

/// Run every sample in float and with `assignment` (tensors not in it stay float), compare each
/// tensor: the per-layer comparison of a whole quantized model.
pub fn simulate(
    model: &Model,
    samples: &[Vec<Tensor>],
    assignment: &HashMap<usize, Assignment>,
) -> Result<Vec<SimRow>, String> {
    let mut accs: HashMap<usize, (Vec<usize>, Accumulator)> = HashMap::new();
    for s in samples {
        let mut float: HashMap<usize, Values> = HashMap::new();
        let watched: std::collections::HashSet<usize> =
            model.tensors.iter().map(|t| t.node).collect();
        model.run(s, &mut |_, _| false, &mut |node, shape, v| {
            if watched.contains(&node) {
                float.insert(node, (shape.to_vec(), v.to_vec()));
            }
        })?;
        model.run(
            s,
            &mut |node, v| match assignment.get(&node) {
                Some(a) => {
                    quantize_in_place(v, *a);
                    true
                }
                None => false,
            },
            &mut |node, shape, v| {
                let Some((fs, fv)) = float.get(&node) else {
                    return;
                };
                if fs != shape {
                    return;
                }
                let q = assignment.get(&node).map(|a| {
                    let (qmin, qmax) = a.dtype.range();
                    QuantSpec {
                        scale: a.scale,
                        qmin,
                        qmax,
                    }
                });
                let entry = accs.entry(node).or_insert_with(|| {
                    let sh: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
                    (shape.to_vec(), Accumulator::new(&sh, false, q, true))
                });
                entry.1.update(fv, v);
            },
        )?;
    }
    Ok(model
        .tensors
        .iter()
        .filter_map(|t| {
            let (shape, acc) = accs.remove(&t.node)?;
            Some(SimRow {
                tensor: t.clone(),
                shape,
                assignment: assignment.get(&t.node).copied(),
                metrics: acc.finish(),
            })
        })
        .collect())
}

/// The metrics a sensitivity table can rank by.
pub const SENSITIVITY_METRICS: &[&str] = &["L1", "Cosine", "SQNR"];

/// One tensor's sensitivity: at each model output, each metric of the output with only this
/// tensor quantized against the float output (accumulated over the samples).
#[derive(Debug, Clone)]
pub struct SensRow {
    pub tensor: ModelTensor,
    pub assignment: Assignment,
    /// `[output][metric]` in [`SENSITIVITY_METRICS`] order.
    pub values: Vec<[f64; 3]>,
}

fn metric_values(m: &PairMetrics) -> [f64; 3] {
    [m.l1, m.cosine, m.sqnr_db]
}

/// True single-tensor sensitivity: each tensor of `assignment` quantized alone, the rest of the
/// model in float, compared at every output. `progress(done, total)` after each tensor; return
/// `false` from it to stop (cancel).
pub fn sensitivity(
    model: &Model,
    samples: &[Vec<Tensor>],
    assignment: &HashMap<usize, Assignment>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<SensRow>, String> {
    let floats: Vec<Vec<Values>> = samples
        .iter()
        .map(|s| model.run_float(s))
        .collect::<Result<_, _>>()?;
    let targets: Vec<&ModelTensor> = model
        .tensors
        .iter()
        .filter(|t| assignment.contains_key(&t.node))
        .collect();
    let mut rows = Vec::new();
    for (k, t) in targets.iter().enumerate() {
        let a = assignment[&t.node];
        let mut accs: Vec<Option<Accumulator>> = (0..model.outputs.len()).map(|_| None).collect();
        for (s, float) in samples.iter().zip(&floats) {
            let outs = model.run(
                s,
                &mut |node, v| {
                    if node == t.node {
                        quantize_in_place(v, a);
                        true
                    } else {
                        false
                    }
                },
                &mut |_, _, _| {},
            )?;
            for (o, ((shape, qv), (_, fv))) in outs.iter().zip(float).enumerate() {
                let acc = accs[o].get_or_insert_with(|| {
                    let sh: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
                    Accumulator::new(&sh, false, None, false)
                });
                acc.update(fv, qv);
            }
        }
        rows.push(SensRow {
            tensor: (*t).clone(),
            assignment: a,
            values: accs
                .into_iter()
                .map(|a| {
                    a.map(|a| metric_values(&a.finish()))
                        .unwrap_or([f64::NAN; 3])
                })
                .collect(),
        });
        if !progress(k + 1, targets.len()) {
            return Err("cancelled".into());
        }
    }
    Ok(rows)
}

/// Every tensor at `dtype` with its calibrated scale, except the ones in `int16` (at int16, their
/// scale re-derived for int16 from the same range).
pub fn assignment_for(
    model: &Model,
    scales8: &HashMap<usize, f64>,
    scales16: &HashMap<usize, f64>,
    dtype: QDType,
    int16: &[String],
) -> HashMap<usize, Assignment> {
    model
        .tensors
        .iter()
        .filter_map(|t| {
            let wide = dtype == QDType::Int16 || int16.contains(&t.name);
            let (scale, dtype) = if wide {
                (*scales16.get(&t.node)?, QDType::Int16)
            } else {
                (*scales8.get(&t.node)?, dtype)
            };
            Some((t.node, Assignment { scale, dtype }))
        })
        .collect()
}

/// A sample input as a tract tensor.
pub fn tensor(shape: &[usize], data: Vec<f32>) -> Result<Tensor, String> {
    Tensor::from_shape(shape, &data).map_err(err)
}

fn dtype_name(a: Option<Assignment>) -> &'static str {
    match a.map(|a| a.dtype) {
        Some(QDType::Int16) => "qint16",
        Some(QDType::Int8) => "qint8",
        Some(QDType::Uint8) => "quint8",
        Some(QDType::Int4) => "qint4",
        None => "torch.float32",
    }
}

fn f7(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v:.7}")
    }
}

/// `tabulate(..., tablefmt="psql", showindex=True)`: a bordered grid, numbers right-aligned.
fn psql(headers: &[&str], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let mut widths: Vec<usize> = std::iter::once(0)
        .chain(headers.iter().map(|h| h.chars().count()))
        .collect();
    for (i, r) in rows.iter().enumerate() {
        widths[0] = widths[0].max(i.to_string().len());
        for (j, c) in r.iter().enumerate() {
            widths[j + 1] = widths[j + 1].max(c.chars().count());
        }
    }
    let rule = |edge: char, mid: char| {
        let mut s = String::from(edge);
        for (k, w) in widths.iter().enumerate() {
            s.push_str(&"-".repeat(w + 2));
            s.push(if k + 1 == widths.len() { edge } else { mid });
        }
        s.push('\n');
        s
    };
    let cell = |text: &str, w: usize, right: bool| {
        let pad = " ".repeat(w - text.chars().count());
        if right {
            format!(" {pad}{text} ")
        } else {
            format!(" {text}{pad} ")
        }
    };
    let mut out = rule('+', '+');
    out.push('|');
    out.push_str(&cell("", widths[0], true));
    for (j, h) in headers.iter().enumerate() {
        out.push('|');
        out.push_str(&cell(h, widths[j + 1], numeric[j]));
    }
    out.push_str("|\n");
    out.push_str(&rule('|', '+'));
    for (i, r) in rows.iter().enumerate() {
        out.push('|');
        out.push_str(&cell(&i.to_string(), widths[0], true));
        for (j, c) in r.iter().enumerate() {
            out.push('|');
            out.push_str(&cell(c, widths[j + 1], numeric[j]));
        }
        out.push_str("|\n");
    }
    out.push_str(&rule('+', '+'));
    out
}

/// `compare_per_layer_out.txt` as QuantAnalysis writes it (the fuller 23-column set).
pub fn compare_table_txt(rows: &[SimRow]) -> String {
    let headers = [
        "mod_name",
        "base_op_type",
        "analy_op_type",
        "shape",
        "quant_dtype",
        "qscale",
        "Cosine",
        "MSE",
        "L1",
        "KL",
        "SQNR",
        "Atol",
        "Rtol",
        "base_model_min",
        "analy_model_min",
        "base_model_max",
        "analy_model_max",
        "base_model_mean",
        "analy_model_mean",
        "base_model_var",
        "analy_model_var",
        "max_atol_diff",
        "max_qscale_diff",
    ];
    let numeric: Vec<bool> = (0..headers.len()).map(|j| j >= 5).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let m = &r.metrics;
            let shape = format!(
                "torch.Size([{}])",
                r.shape
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            vec![
                r.tensor.name.clone(),
                r.tensor.op_type.clone(),
                r.tensor.op_type.clone(),
                shape,
                dtype_name(r.assignment).to_string(),
                r.assignment.map(|a| f7(a.scale)).unwrap_or_default(),
                f7(m.cosine),
                f7(m.mse),
                f7(m.l1),
                f7(m.kl),
                f7(m.sqnr_db),
                f7(m.atol),
                f7(m.rtol),
                f7(m.base_min),
                f7(m.analy_min),
                f7(m.base_max),
                f7(m.analy_max),
                f7(m.base_mean),
                f7(m.analy_mean),
                f7(m.base_var),
                f7(m.analy_var),
                f7(m.max_atol_diff),
                m.max_qscale_diff.map(f7).unwrap_or_default(),
            ]
        })
        .collect();
    psql(&headers, &body, &numeric)
}

/// Python's `format(v, "g")`: 6 significant digits, exponent form outside [1e-4, 1e6).
fn g(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return f7(v);
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..6).contains(&exp) {
        let decimals = (5 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        s
    } else {
        let s = format!("{v:.5e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = if mant.contains('.') {
            mant.trim_end_matches('0').trim_end_matches('.')
        } else {
            mant
        };
        let e: i32 = e.parse().unwrap_or(0);
        format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    }
}

/// `output_<out>_<metric>_sensitive_ops.txt` as `SensitivityTable.dump` writes it (a `tabulate`
/// simple table: op_name, sensitive_type, op_type, metric, quant_dtype, flops), most sensitive
/// first (L1 descending; Cosine and SQNR ascending). Gives (file name, text).
pub fn sensitivity_table_txt(
    model: &Model,
    rows: &[SensRow],
    output: usize,
    metric: usize,
) -> (String, String) {
    let mname = SENSITIVITY_METRICS[metric];
    let mut order: Vec<&SensRow> = rows.iter().collect();
    let key = |r: &SensRow| r.values.get(output).map(|v| v[metric]).unwrap_or(f64::NAN);
    order.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        let c = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
        if metric == 0 {
            c.reverse()
        } else {
            c
        }
    });
    let headers = [
        "op_name",
        "sensitive_type",
        "op_type",
        mname,
        "quant_dtype",
        "flops",
    ];
    let body: Vec<[String; 6]> = order
        .iter()
        .map(|r| {
            [
                r.tensor.name.clone(),
                "activation".into(),
                format!("<class 'onnx.{}'>", r.tensor.op_type),
                g(key(r)),
                dtype_name(Some(r.assignment)).into(),
                "0(0%)".into(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &body {
        for (j, c) in r.iter().enumerate() {
            widths[j] = widths[j].max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let pad = widths[j] - c.chars().count();
                if j == 3 {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(&headers.map(String::from));
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for r in &body {
        out.push_str(&line(r));
    }
    let out_name: String = model.outputs[output]
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (format!("output_{out_name}_{mname}_sensitive_ops.txt"), out)
}

/// The samples among dropped tensor files: each file that holds every model input (by name, or
/// its only tensor for a one-input model) with the declared shape is one sample; the others are
/// left out with the reason. Gives (samples, notes).
pub fn samples_from_files(
    declared: &[DeclaredInput],
    files: &mut [(String, Vec<u8>)],
) -> (Vec<Vec<Values>>, Vec<String>) {
    let mut samples = Vec::new();
    let mut notes = Vec::new();
    for (name, bytes) in files.iter_mut() {
        let entries = match super::tensor::list_tensors(name, bytes) {
            Ok(e) => e,
            Err(e) => {
                notes.push(format!("{name}: {e}"));
                continue;
            }
        };
        let mut sample = Vec::new();
        for (input, want) in declared {
            let entry = if entries.len() == 1 && declared.len() == 1 {
                Some(&entries[0])
            } else {
                entries.iter().find(|e| e.name == *input)
            };
            let Some(entry) = entry else {
                notes.push(format!("{name}: no tensor named {input}"));
                break;
            };
            let shape: Vec<usize> = entry.shape.iter().map(|&d| d as usize).collect();
            let fits = want.len() == shape.len()
                && want
                    .iter()
                    .zip(&shape)
                    .all(|(w, g)| w.is_none_or(|w| w == *g));
            if !fits || entry.fortran {
                notes.push(format!(
                    "{name}: {input} has shape {shape:?}{}; the model declares {want:?}",
                    if entry.fortran {
                        " in Fortran order"
                    } else {
                        ""
                    }
                ));
                break;
            }
            match super::tensor::read_all(bytes, entry) {
                Ok(v) => sample.push((shape, v)),
                Err(e) => {
                    notes.push(format!("{name}: {e}"));
                    break;
                }
            }
        }
        if sample.len() == declared.len() {
            samples.push(sample);
        }
    }
    (samples, notes)
}

/// A whole QuantAnalysis-style report of a model: calibrated on the samples, the all-`dtype`
/// comparison table and the sensitivity tables (L1, Cosine, SQNR per output), as (file name, text).
/// `progress(stage, done, total)` returns `false` to stop.
pub fn run_report(
    bytes: &[u8],
    samples: &[Vec<Values>],
    dtype: QDType,
    observer: &Observer,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<(String, String)>, String> {
    let Some(first) = samples.first() else {
        return Err("no sample input matches the model's inputs".into());
    };
    let shapes: Vec<Vec<usize>> = first.iter().map(|(s, _)| s.clone()).collect();
    let model = Model::load(bytes, &shapes)?;
    let tensors: Vec<Vec<Tensor>> = samples
        .iter()
        .map(|s| {
            s.iter()
                .map(|(shape, v)| tensor(shape, v.clone()))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    progress("calibrating", 0, 1);
    let s8 = model.calibrate(&tensors, observer, QDType::Int8)?;
    let s16 = model.calibrate(&tensors, observer, QDType::Int16)?;
    let scales = if dtype == QDType::Int16 { &s16 } else { &s8 };
    let a = assignment_for(&model, scales, &s16, dtype, &[]);
    if !progress("simulating", 0, 1) {
        return Err("cancelled".into());
    }
    let rows = simulate(&model, &tensors, &a)?;
    let mut files = vec![(
        "compare_per_layer_out.txt".to_string(),
        compare_table_txt(&rows),
    )];
    let sens = sensitivity(&model, &tensors, &a, &mut |d, t| {
        progress("sensitivity", d, t)
    })?;
    for o in 0..model.outputs.len() {
        for m in 0..SENSITIVITY_METRICS.len() {
            files.push(sensitivity_table_txt(&model, &sens, o, m));
        }
    }
    Ok(files)
}
