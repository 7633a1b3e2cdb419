//! Run an ONNX model (tract): every float activation recorded, calibrated with the engine's observers, fake-quantized on demand; the per-layer comparison and true single-tensor sensitivity written in Horizon's table formats.
//!
//! Each of the ONNX file's own tensors gets a tap (an opaque pass-through op) before tract
//! optimizes the graph, so the tensors stay real and named while everything between them runs as
//! fast as tract runs it; QuantLens steps the plan node by node and reads (calibrates) or replaces
//! (fake-quantizes) each tap's value. Weights are quantized in a second plan built from the same
//! graph with its weights fake-quantized (int8, per output channel). Fake quantization is the engine's
//! own (`quant::fake_quant`: symmetric, round half to even), so it agrees with the error split, the
//! what-if and PyTorch's `fake_quantize_per_tensor_affine`.

use super::metrics::{Accumulator, PairMetrics, QuantSpec};
use super::onnx_graph::check_for_tract;
use super::quant::{fake_quant, symmetric_scale, AbsHistogram, Observer, QDType};
use std::collections::HashMap;
pub use tract_onnx::prelude::Tensor;
use tract_onnx::prelude::*;
use tract_onnx::tract_core;
use tract_onnx::tract_core::internal::{EvalContext, EvalOp, Op, StaticName, TypedOp};
use tract_onnx::tract_core::plan::{SimplePlan, SimpleState};
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::DimLike;

pub use super::preprocess::{values, Values};
/// An input's name and the shape the file declares (`None`: symbolic).
pub type DeclaredInput = (String, Vec<Option<usize>>);
/// Sees each node's output: (node, shape, values).
type Recorder<'a> = &'a mut dyn FnMut(usize, &[usize], &[f32]);

/// Bins of the |x| histogram the percentile, MSE and KL observers read.
const HIST_BINS: usize = 2048;

/// One tensor QuantLens can quantize: a node's first output, in plan order.
#[derive(Debug, Clone)]
pub struct ModelTensor {
    /// The tensor's id (assignments and scales are keyed by it).
    pub node: usize,
    /// The ONNX value name (the tensor name), or the node's name when the value has none.
    pub name: String,
    /// The op that writes it (`Conv`, `Add`, …; `Source` for a model input).
    pub op_type: String,
}

/// QuantLens's pass-through op after every activation. The optimizer cannot see through it, so
/// the tensor stays real (a BatchNorm is not folded into its Conv past it) and the runner finds
/// the tensor by its id; everything between two taps is optimized as tract would.
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct Tap(usize);

impl Op for Tap {
    fn name(&self) -> StaticName {
        "QuantLensTap".into()
    }
    fn as_typed(&self) -> Option<&dyn TypedOp> {
        Some(self)
    }
}

impl EvalOp for Tap {
    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        Ok(inputs)
    }
    fn eval_out_of_plan(&self, inputs: TVec<TValue>) -> TractResult<Option<TVec<TValue>>> {
        Ok(Some(inputs))
    }
}

impl TypedOp for Tap {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].clone()))
    }
    fn as_op(&self) -> &dyn Op {
        self
    }
    fn as_op_mut(&mut self) -> &mut dyn Op {
        self
    }
}

/// One optimized plan and how QuantLens steps it.
struct Runner {
    plan: Arc<TypedSimplePlan>,
    /// Nodes in evaluation order (constants are values, not steps).
    order: Vec<usize>,
    /// `flush[step]`: the nodes whose last reader is that step, dropped once its inputs are
    /// gathered, so a run holds only the live values (what the rest of the plan still reads).
    flush: Vec<Vec<usize>>,
    /// The tap node of each tensor (`None`: folded into a constant by the optimizer).
    tap: Vec<Option<usize>>,
    /// The tensor of each tap node.
    tap_id: HashMap<usize, usize>,
    outputs: Vec<OutletId>,
}

impl Runner {
    /// Optimize `typed` and plan it. `keep[k]`: tensor ids whose values must stay live until
    /// tensor `k`'s tap has run (a weight row recomputes `k` from them).
    fn new(
        typed: TypedModel,
        n_tensors: usize,
        keep: &HashMap<usize, Vec<usize>>,
    ) -> Result<Runner, String> {
        let optimized = typed
            .into_optimized()
            .map_err(|e| format!("the model cannot be optimized: {}", describe(&e)))?;
        let plan = SimplePlan::new(optimized).map_err(err)?;
        let order = plan.order_without_consts().to_vec();
        let model = plan.model();
        let mut tap = vec![None; n_tensors];
        let mut tap_id = HashMap::new();
        for n in &order {
            if let Some(t) = model.node(*n).op_as::<Tap>() {
                tap[t.0] = Some(*n);
                tap_id.insert(*n, t.0);
            }
        }
        let step_of: HashMap<usize, usize> =
            order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let outputs = model.output_outlets().map_err(err)?.to_vec();
        let mut last: HashMap<usize, usize> = HashMap::new();
        for (i, &n) in order.iter().enumerate() {
            let l = model
                .node(n)
                .outputs
                .iter()
                .flat_map(|o| o.successors.iter())
                .filter_map(|s| step_of.get(&s.node))
                .max()
                .copied()
                .unwrap_or(i);
            last.insert(n, l.max(i));
        }
        for (k, ids) in keep {
            // Read after tap `k`'s step: flushed at the step after it.
            let Some(reader) = tap[*k].and_then(|n| step_of.get(&n).map(|s| s + 1)) else {
                continue;
            };
            for id in ids {
                if let Some(n) = tap[*id] {
                    let l = last.entry(n).or_insert(reader);
                    *l = (*l).max(reader);
                }
            }
        }
        let mut flush = vec![Vec::new(); order.len()];
        for (i, &n) in order.iter().enumerate() {
            if outputs.iter().any(|o| o.node == n) {
                continue;
            }
            let l = last[&n].max(i + 1);
            if l < order.len() {
                flush[l].push(n);
            }
        }
        Ok(Runner {
            plan,
            order,
            flush,
            tap,
            tap_id,
            outputs,
        })
    }

    /// A state with the sample's inputs set (and the constants), ready to step.
    fn start(&self, inputs: &[Tensor]) -> Result<State, String> {
        let mut st = SimpleState::new(&self.plan).map_err(err)?;
        let inputs: TVec<TValue> = inputs.iter().cloned().map(|t| t.into_tvalue()).collect();
        st.set_inputs(inputs).map_err(err)?;
        Ok(st)
    }

    /// Step `step`: gather the node's inputs, drop the values no later step reads, compute.
    fn step(&self, st: &mut State, step: usize) -> Result<(), String> {
        let node = self.order[step];
        let inputs = st.prepare_inputs(node).map_err(err)?;
        for f in &self.flush[step] {
            st.turn_state.values[*f] = None;
        }
        st.compute_one_with_inputs(node, inputs)
            .map_err(|e| format!("running the model failed: {}", describe(&e)))
    }

    /// The model's outputs once every step has run.
    fn outputs_of(&self, st: &State) -> Result<Vec<Values>, String> {
        self.outputs
            .iter()
            .map(|o| {
                let v = st.turn_state.values[o.node]
                    .as_ref()
                    .and_then(|vs| vs.get(o.slot))
                    .ok_or("an output was not computed")?;
                let t = v.cast_to::<f32>().map_err(err)?;
                t.into_owned().into_plain_array::<f32>().map_err(err)
            })
            .collect()
    }

    /// Run once: `act(id)` fake-quantizes a tensor; `record(id, shape, values)` sees each tensor
    /// after that. Gives the outputs.
    fn run(
        &self,
        inputs: &[Tensor],
        act: &dyn Fn(usize) -> Option<Assignment>,
        record: Recorder<'_>,
    ) -> Result<Vec<Values>, String> {
        let mut st = self.start(inputs)?;
        for step in 0..self.order.len() {
            self.step(&mut st, step)?;
            let node = self.order[step];
            let Some(&id) = self.tap_id.get(&node) else {
                continue;
            };
            if let Some(a) = act(id) {
                quantize_output(&mut st, node, a)?;
            }
            if let Some((shape, v)) = f32_output(&st, node) {
                record(id, shape, v);
            }
        }
        self.outputs_of(&st)
    }

    /// The nodes that compute tensor `k` from other tensors (its tap included), in plan order,
    /// and the tensors they read.
    fn segment(&self, k: usize) -> (Vec<usize>, Vec<usize>) {
        let model = self.plan.model();
        let Some(tap) = self.tap[k] else {
            return (Vec::new(), Vec::new());
        };
        let mut seen = std::collections::HashSet::from([tap]);
        let mut stack = vec![tap];
        let mut reads = Vec::new();
        while let Some(n) = stack.pop() {
            for i in &model.node(n).inputs {
                if !seen.insert(i.node) {
                    continue;
                }
                if let Some(&id) = self.tap_id.get(&i.node) {
                    reads.push(id);
                } else if !model.node(i.node).op_is::<tract_core::ops::konst::Const>() {
                    stack.push(i.node);
                }
            }
        }
        let mut nodes: Vec<usize> = self
            .order
            .iter()
            .copied()
            .filter(|n| seen.contains(n) && self.tap_id.get(n).is_none_or(|id| *id == k))
            .filter(|n| !model.node(*n).op_is::<tract_core::ops::konst::Const>())
            .collect();
        nodes.dedup();
        (nodes, reads)
    }
}

/// A loaded model, its input shapes fixed, ready to run.
pub struct Model {
    /// The plan with float weights.
    float: Runner,
    /// The plan with every weight fake-quantized (int8, per output channel); `None` when the
    /// model has no weight.
    quant: Option<Runner>,
    /// Per tensor computed with a weight: the quantized plan's nodes that compute it and the
    /// tensors they read (a weight row re-does them).
    weight_segments: HashMap<usize, (Vec<usize>, Vec<usize>)>,
    /// Quantizable activations (f32 outputs of every node but constants), in plan order.
    pub tensors: Vec<ModelTensor>,
    /// (name, shape) of each input, in the model's order.
    pub inputs: Vec<(String, Vec<usize>)>,
    /// Output names, in the model's order.
    pub outputs: Vec<String>,
    /// Quantize the weights of the ops (int8, per output channel, symmetric), as Horizon's
    /// default qconfig does; `false` keeps every weight in float.
    pub quantize_weights: bool,
}

/// A run's state: tract's, stepped node by node by QuantLens.
type State = SimpleState<TypedFact, Box<dyn TypedOp>>;

fn err(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or(&s).to_string()
}

/// Input names and the shapes the file declares (`None` for a symbolic dimension), read before
/// any shape is fixed: what samples must provide. An op the runner does not have fails here,
/// named with its node, before any sample is read. A graph output no node makes is refused
/// before tract sees the file (`onnx_graph`: tract would panic).
pub fn declared_inputs(bytes: &[u8]) -> Result<Vec<DeclaredInput>, String> {
    check_for_tract(bytes).map_err(|e| e.to_string())?;
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .map_err(|e| format!("not a model QuantLens can run: {}", err(e)))?;
    let missing: Vec<String> = model
        .nodes()
        .iter()
        .filter_map(|n| {
            let op = n.op.name();
            let op = op.strip_prefix("Unimplemented(")?.strip_suffix(')')?;
            Some(format!("{op} (node {:?})", n.name))
        })
        .collect();
    if let Some(first) = missing.first() {
        return Err(format!(
            "the op {first}{} is not supported by the model runner (tract 0.23.9): export the model without it, or run QuantAnalysis on the training server",
            match missing.len() {
                1 => String::new(),
                n => format!(" (and {} more: {})", n - 1, missing[1..].iter().take(3).cloned().collect::<Vec<_>>().join(", ")),
            }
        ));
    }
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

/// The output-channel axis of a node's weight input `slot` (`None`: the node has no weight there).
fn weight_axis(model: &TypedModel, node: &TypedNode, slot: usize) -> Option<usize> {
    let rank = model.outlet_fact(node.inputs[slot]).ok()?.rank();
    if let Some(conv) = node.op_as::<tract_core::ops::cnn::Conv>() {
        return (slot == 1).then_some(match conv.kernel_fmt {
            tract_core::ops::cnn::KernelFormat::HWIO => rank - 1,
            _ => 0,
        });
    }
    if node.op_is::<tract_core::ops::cnn::Deconv>() {
        // ONNX ConvTranspose: (C_in, C_out / group, kH, kW); PyTorch's per-channel axis is 1.
        return (slot == 1 && rank > 1).then_some(1);
    }
    if let Some(es) = node.op_as::<tract_core::ops::einsum::EinSum>() {
        // The weight's axis that reaches the output and no other operand: its output channels.
        let axes: Vec<usize> = es
            .axes
            .iter_all_axes()
            .filter(|a| {
                a.inputs.get(slot).is_some_and(|p| p.len() == 1)
                    && a.outputs.first().is_some_and(|p| !p.is_empty())
                    && a.inputs
                        .iter()
                        .enumerate()
                        .all(|(i, p)| i == slot || p.is_empty())
            })
            .map(|a| a.inputs[slot][0])
            .collect();
        return match axes.as_slice() {
            [axis] => Some(*axis),
            _ => None,
        };
    }
    None
}

/// A weight fake-quantized per output channel (`axis`), symmetric, round half to even.
fn quantize_weight(w: &Tensor, axis: usize, dtype: QDType) -> Result<Tensor, String> {
    let mut a = w.clone().into_plain_array::<f32>().map_err(err)?;
    let (qmin, qmax) = dtype.range();
    for mut lane in a.axis_iter_mut(ndarray::Axis(axis)) {
        let amax = lane
            .iter()
            .fold(0f32, |m, x| if x.is_finite() { m.max(x.abs()) } else { m });
        let s = symmetric_scale(amax as f64, dtype) as f32;
        lane.mapv_inplace(|x| fake_quant(x, s, 0, qmin, qmax));
    }
    Ok(a.into_tensor())
}

impl Model {
    /// Load an ONNX model from bytes with each input's shape fixed (`shapes[i]` for input `i`), so
    /// shapes are known before the graph is optimized. Unsupported ops and shapes fail here with
    /// the op or input named.
    pub fn load(bytes: &[u8], shapes: &[Vec<usize>]) -> Result<Model, String> {
        check_for_tract(bytes).map_err(|e| e.to_string())?;
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
        // Typed, then a tap after each of the ONNX file's own tensors before optimizing (the
        // optimizer folds and renames nodes: only ~5% of the value names would survive it).
        let mut typed = model
            .into_typed()
            .map_err(|e| format!("the model cannot be analysed: {}", describe(&e)))?;
        let mut tensors = Vec::new();
        let mut producer = Vec::new();
        for &n in typed.eval_order().map_err(err)?.iter() {
            let node = typed.node(n);
            let op_type = node.op().name().to_string();
            if op_type == "Const" || node.outputs.is_empty() {
                continue;
            }
            let fact = &node.outputs[0].fact;
            if fact.datum_type != f32::datum_type() || fact.konst.is_some() {
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
                node: tensors.len(),
                name: label,
                op_type,
            });
            producer.push(n);
        }
        // Weights: constant f32 operands of Conv / ConvTranspose / MatMul / Gemm.
        let mut weights: Vec<(usize, Tensor)> = Vec::new();
        let mut weighted: std::collections::HashSet<usize> = Default::default();
        for node in typed.nodes() {
            for (slot, inlet) in node.inputs.iter().enumerate() {
                let src = typed.node(inlet.node);
                let Some(k) = src.op_as::<tract_core::ops::konst::Const>() else {
                    continue;
                };
                if k.val().datum_type() != f32::datum_type() || k.val().rank() < 2 {
                    continue;
                }
                if let Some(axis) = weight_axis(&typed, node, slot) {
                    let q = quantize_weight(k.val(), axis, QDType::Int8)
                        .map_err(|e| format!("weight of {}: {e}", node.name))?;
                    weights.push((inlet.node, q));
                    weighted.insert(node.id);
                }
            }
        }
        // The taps: each consumer (and a model output) reads the tap instead.
        let mut outs = typed.output_outlets().map_err(err)?.to_vec();
        for (id, &n) in producer.iter().enumerate() {
            let outlet = OutletId::new(n, 0);
            let readers: Vec<InletId> = typed.node(n).outputs[0].successors.to_vec();
            let tap = typed
                .wire_node(format!("quantlens.tap.{id}"), Tap(id), &[outlet])
                .map_err(err)?[0];
            for r in readers {
                typed.add_edge(tap, r).map_err(err)?;
            }
            for o in outs.iter_mut().filter(|o| **o == outlet) {
                *o = tap;
            }
        }
        typed.select_output_outlets(&outs).map_err(err)?;
        let outputs = producer_names(&typed, &outs, &tensors);
        // Tensors computed with a weight: the ones whose producer (or what tract expanded the ONNX
        // op into) reads a weight.
        let mut with_weight = Vec::new();
        for (id, &n) in producer.iter().enumerate() {
            let mut stack = vec![n];
            let mut seen = std::collections::HashSet::new();
            let mut found = false;
            while let Some(x) = stack.pop() {
                if !seen.insert(x) {
                    continue;
                }
                found |= weighted.contains(&x);
                for i in &typed.node(x).inputs {
                    if !typed.node(i.node).op_is::<Tap>() {
                        stack.push(i.node);
                    }
                }
            }
            if found {
                with_weight.push(id);
            }
        }
        let n_tensors = tensors.len();
        let (quant, weight_segments) = if weights.is_empty() {
            (None, HashMap::new())
        } else {
            let mut q = typed.clone();
            for (node, w) in weights {
                // The op and its fact: the optimizer folds constants from the fact.
                let w = Arc::new(w);
                q.node_mut(node).op =
                    Box::new(tract_core::ops::konst::Const::new(w.clone()).map_err(err)?);
                q.set_outlet_fact(OutletId::new(node, 0), TypedFact::try_from(w).map_err(err)?)
                    .map_err(err)?;
            }
            let runner = Runner::new(q, n_tensors, &HashMap::new())?;
            let segs: HashMap<usize, (Vec<usize>, Vec<usize>)> = with_weight
                .iter()
                .map(|&id| (id, runner.segment(id)))
                .filter(|(_, (nodes, _))| !nodes.is_empty())
                .collect();
            (Some(runner), segs)
        };
        let keep: HashMap<usize, Vec<usize>> = weight_segments
            .iter()
            .map(|(k, (_, reads))| (*k, reads.clone()))
            .collect();
        let float = Runner::new(typed, n_tensors, &keep)?;
        // A tensor the optimizer turned into a constant is not an activation.
        let tensors = tensors
            .into_iter()
            .filter(|t| float.tap[t.node].is_some())
            .collect();
        Ok(Model {
            float,
            quant,
            weight_segments,
            tensors,
            inputs,
            outputs,
            quantize_weights: true,
        })
    }

    /// How many tensors are computed with a (quantizable) weight.
    pub fn weight_count(&self) -> usize {
        self.weight_segments.len()
    }

    /// The runner a quantized run uses: weights quantized unless `quantize_weights` is off.
    fn quantized_runner(&self) -> &Runner {
        match (&self.quant, self.quantize_weights) {
            (Some(q), true) => q,
            _ => &self.float,
        }
    }

    /// The outputs with the activations of `assignment` fake-quantized (and every weight, with
    /// `quantize_weights`): a whole quantized run.
    pub fn run_quantized(
        &self,
        inputs: &[Tensor],
        assignment: &HashMap<usize, Assignment>,
    ) -> Result<Vec<Values>, String> {
        self.quantized_runner()
            .run(inputs, &|n| assignment.get(&n).copied(), &mut |_, _, _| {})
    }

    /// The float outputs for `inputs`.
    pub fn run_float(&self, inputs: &[Tensor]) -> Result<Vec<Values>, String> {
        self.float.run(inputs, &|_| None, &mut |_, _, _| {})
    }

    /// Scales of every activation: |x| max over the samples (pass 1), then, for the histogram
    /// observers, a 2048-bin |x| histogram (pass 2) read by `observer`.
    pub fn calibrate(
        &self,
        samples: &[Vec<Tensor>],
        observer: &Observer,
        dtype: QDType,
    ) -> Result<HashMap<usize, f64>, String> {
        let n = self.float.tap.len();
        let mut amax = vec![0f32; n];
        for s in samples {
            self.float.run(s, &|_| None, &mut |id, _, v| {
                amax[id] = amax[id].max(super::quant::abs_max(v));
            })?;
        }
        let mut scales = HashMap::new();
        if matches!(observer, Observer::MinMax) {
            for t in &self.tensors {
                scales.insert(t.node, symmetric_scale(amax[t.node] as f64, dtype));
            }
            return Ok(scales);
        }
        let mut hists: Vec<AbsHistogram> = amax
            .iter()
            .map(|&a| AbsHistogram::new(a as f64, HIST_BINS))
            .collect();
        for s in samples {
            self.float.run(s, &|_| None, &mut |id, _, v| {
                hists[id].update(v);
            })?;
        }
        for t in &self.tensors {
            let h = &hists[t.node];
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

/// The model's output names: the ONNX value names of the tensors behind the output taps.
fn producer_names(typed: &TypedModel, outs: &[OutletId], tensors: &[ModelTensor]) -> Vec<String> {
    outs.iter()
        .map(|o| match typed.node(o.node).op_as::<Tap>() {
            Some(t) => tensors[t.0].name.clone(),
            None => typed
                .outlet_label(*o)
                .map(str::to_string)
                .unwrap_or_else(|| typed.node(o.node).name.clone()),
        })
        .collect()
}

/// An array's values in C order (every [`Values`] the runner makes is in standard layout).
fn flat(v: &Values) -> &[f32] {
    v.as_slice().unwrap_or(&[])
}

/// A node's first output when it is f32: (shape, values).
fn f32_output(st: &State, node: usize) -> Option<(&[usize], &[f32])> {
    let v = st.turn_state.values[node].as_ref()?.first()?;
    if v.datum_type() != f32::datum_type() {
        return None;
    }
    let data = v.try_as_plain_ram().ok()?.as_slice::<f32>().ok()?;
    Some((v.shape(), data))
}

/// Fake-quantize a node's (f32) first output in the state, in place when no one else holds it.
fn quantize_output(st: &mut State, node: usize, a: Assignment) -> Result<(), String> {
    let Some(mut vs) = st.turn_state.values[node].take() else {
        return Ok(());
    };
    if vs
        .first()
        .is_some_and(|v| v.datum_type() == f32::datum_type())
    {
        let mut t = vs.remove(0).into_tensor();
        {
            let mut view = t.try_as_plain_ram_mut().map_err(err)?;
            quantize_in_place(view.as_slice_mut::<f32>().map_err(err)?, a);
        }
        vs.insert(0, t.into_tvalue());
    }
    st.turn_state.values[node] = Some(vs);
    Ok(())
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

/// Run every sample in float and with `assignment` (tensors not in it stay float; every weight
/// quantized per channel unless `quantize_weights` is off), compare each tensor: the per-layer
/// comparison of a whole quantized model. The float and the quantized run step side by side, so
/// only the live values of both are held, whatever the model's size.
pub fn simulate(
    model: &Model,
    samples: &[Vec<Tensor>],
    assignment: &HashMap<usize, Assignment>,
) -> Result<Vec<SimRow>, String> {
    let (fr, qr) = (&model.float, model.quantized_runner());
    let mut accs: HashMap<usize, (Vec<usize>, Accumulator)> = HashMap::new();
    for s in samples {
        let mut f = fr.start(s)?;
        let mut q = qr.start(s)?;
        let mut qstep = 0;
        // Quantized tensors computed ahead of the float run's (the plans' orders may differ).
        let mut ahead: HashMap<usize, TValue> = HashMap::new();
        for step in 0..fr.order.len() {
            fr.step(&mut f, step)?;
            let Some(&id) = fr.tap_id.get(&fr.order[step]) else {
                continue;
            };
            let a = assignment.get(&id).copied();
            while !ahead.contains_key(&id) && qstep < qr.order.len() {
                qr.step(&mut q, qstep)?;
                let node = qr.order[qstep];
                qstep += 1;
                if let Some(&qid) = qr.tap_id.get(&node) {
                    if let Some(qa) = assignment.get(&qid) {
                        quantize_output(&mut q, node, *qa)?;
                    }
                    if let Some(v) = q.turn_state.values[node].as_ref().and_then(|v| v.first()) {
                        ahead.insert(qid, v.clone());
                    }
                }
            }
            let (Some(qv), Some((fs, fv))) = (ahead.remove(&id), f32_output(&f, fr.order[step]))
            else {
                continue;
            };
            let Ok(qd) = qv
                .try_as_plain_ram()
                .and_then(|r| r.as_slice::<f32>().map(|s| s.to_vec()))
            else {
                continue;
            };
            if fs != qv.shape() {
                continue;
            }
            let spec = a.map(|a| {
                let (qmin, qmax) = a.dtype.range();
                QuantSpec {
                    scale: a.scale,
                    qmin,
                    qmax,
                    zero_point: 0,
                }
            });
            let entry = accs.entry(id).or_insert_with(|| {
                let sh: Vec<u64> = fs.iter().map(|&d| d as u64).collect();
                (fs.to_vec(), Accumulator::new(&sh, false, spec, true))
            });
            entry.1.update(fv, &qd);
        }
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

/// What a sensitivity row quantized alone: an activation (the op's output) or the op's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sensitive {
    Activation,
    Weight,
}

impl Sensitive {
    /// The `sensitive_type` cell Horizon writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitive::Activation => "activation",
            Sensitive::Weight => "weight",
        }
    }
}

/// One row of true sensitivity: at each model output, each metric of the output with only this
/// activation (or this op's weight) quantized against the float output, over the samples.
#[derive(Debug, Clone)]
pub struct SensRow {
    pub tensor: ModelTensor,
    pub kind: Sensitive,
    /// The activation's assignment (for a weight row: int8, per channel; `scale` is NaN).
    pub assignment: Assignment,
    /// `[output][metric]` in [`SENSITIVITY_METRICS`] order.
    pub values: Vec<[f64; 3]>,
}

fn metric_values(m: &PairMetrics) -> [f64; 3] {
    [m.l1, m.cosine, m.sqnr_db]
}

/// True single-op sensitivity: each activation of `assignment` quantized alone, and each of
/// those ops' weights alone (when `quantize_weights`), the rest of the model in float, compared
/// at every output. Only the plan after the quantized op is re-run: the float run steps once
/// through the plan, and at each quantized op a branch shares the float run's live values (no
/// copy), replaces that op's output (fake-quantized, or recomputed by the weight-quantized plan
/// from the same inputs) and runs the rest. Memory: the float run's live values plus one
/// branch's. `progress(done, total)` after each row and sample; `false` stops.
pub fn sensitivity(
    model: &Model,
    samples: &[Vec<Tensor>],
    assignment: &HashMap<usize, Assignment>,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<SensRow>, String> {
    sensitivity_part(model, samples, assignment, 0, 1, progress)
}

/// [`sensitivity`] for the rows `i` with `i % parts == part` (the others keep empty values): a
/// share of the loop for one of several workers.
pub fn sensitivity_part(
    model: &Model,
    samples: &[Vec<Tensor>],
    assignment: &HashMap<usize, Assignment>,
    part: usize,
    parts: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<SensRow>, String> {
    let parts = parts.max(1);
    let fr = &model.float;
    let weights = match &model.quant {
        Some(q) if model.quantize_weights => Some(q),
        _ => None,
    };
    // The rows, in plan order: the op's weight row (if any) then its activation row.
    let mut rows: Vec<SensRow> = Vec::new();
    let mut row_of: HashMap<(usize, bool), usize> = HashMap::new();
    for t in &model.tensors {
        let Some(&a) = assignment.get(&t.node) else {
            continue;
        };
        if weights.is_some() && model.weight_segments.contains_key(&t.node) {
            row_of.insert((t.node, true), rows.len());
            rows.push(SensRow {
                tensor: t.clone(),
                kind: Sensitive::Weight,
                assignment: Assignment {
                    scale: f64::NAN,
                    dtype: QDType::Int8,
                },
                values: Vec::new(),
            });
        }
        row_of.insert((t.node, false), rows.len());
        rows.push(SensRow {
            tensor: t.clone(),
            kind: Sensitive::Activation,
            assignment: a,
            values: Vec::new(),
        });
    }
    let mine = |r: usize| r % parts == part;
    let total = (0..rows.len()).filter(|&r| mine(r)).count() * samples.len();
    let mut accs: Vec<Vec<Option<Accumulator>>> = rows
        .iter()
        .map(|_| (0..model.outputs.len()).map(|_| None).collect())
        .collect();
    let mut done = 0;
    for s in samples {
        let float = model.run_float(s)?;
        let mut f = fr.start(s)?;
        // One branch state, reused (each branch replaces its values), and one state of the
        // weight-quantized plan for the weight rows.
        let mut b = SimpleState::new(&fr.plan).map_err(err)?;
        let mut bq = match weights {
            Some(q) => Some(q.start(s)?),
            None => None,
        };
        for step in 0..fr.order.len() {
            fr.step(&mut f, step)?;
            let node = fr.order[step];
            let Some(&id) = fr.tap_id.get(&node) else {
                continue;
            };
            for weight in [true, false] {
                let Some(&r) = row_of.get(&(id, weight)).filter(|&&r| mine(r)) else {
                    continue;
                };
                b.turn_state.values = f.turn_state.values.clone();
                if weight {
                    let (Some(q), Some(bq)) = (weights, bq.as_mut()) else {
                        continue;
                    };
                    let (nodes, reads) = &model.weight_segments[&id];
                    for i in reads {
                        let (Some(fnode), Some(qnode)) = (fr.tap[*i], q.tap[*i]) else {
                            continue;
                        };
                        bq.turn_state.values[qnode] = f.turn_state.values[fnode].clone();
                    }
                    for n in nodes {
                        bq.compute_one(*n)
                            .map_err(|e| format!("running the model failed: {}", describe(&e)))?;
                    }
                    let v = q.tap[id].and_then(|n| bq.turn_state.values[n].clone());
                    for n in nodes
                        .iter()
                        .chain(reads.iter().filter_map(|i| q.tap[*i].as_ref()))
                    {
                        bq.turn_state.values[*n] = None;
                    }
                    b.turn_state.values[node] = v;
                } else {
                    quantize_output(&mut b, node, rows[r].assignment)?;
                }
                for later in step + 1..fr.order.len() {
                    fr.step(&mut b, later)?;
                }
                let outs = fr.outputs_of(&b)?;
                b.turn_state.values = Vec::new();
                for (o, (q, f)) in outs.iter().zip(&float).enumerate() {
                    let acc = accs[r][o].get_or_insert_with(|| {
                        let sh: Vec<u64> = q.shape().iter().map(|&d| d as u64).collect();
                        Accumulator::new(&sh, false, None, false)
                    });
                    acc.update(flat(f), flat(q));
                }
                done += 1;
                if !progress(done, total) {
                    return Err("cancelled".into());
                }
            }
        }
    }
    for (i, (row, acc)) in rows.iter_mut().zip(accs).enumerate() {
        if !mine(i) {
            continue;
        }
        row.values = acc
            .into_iter()
            .map(|a| {
                a.map(|a| metric_values(&a.finish()))
                    .unwrap_or([f64::NAN; 3])
            })
            .collect();
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
        Some(QDType::Uint16) => "quint16",
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

/// The rows most sensitive first at `output` by `metric` (L1 descending; Cosine and SQNR
/// ascending): the order of the table Horizon writes.
pub fn ranked(rows: &[SensRow], output: usize, metric: usize) -> Vec<&SensRow> {
    let key = |r: &SensRow| r.values.get(output).map(|v| v[metric]).unwrap_or(f64::NAN);
    let mut order: Vec<&SensRow> = rows.iter().collect();
    order.sort_by(|a, b| {
        let (x, y) = (key(a), key(b));
        let c = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
        if metric == 0 {
            c.reverse()
        } else {
            c
        }
    });
    order
}

/// The simulated mixed-precision sweep: at each ratio of Horizon's sensitivity setter over the
/// ranking (rows most sensitive first), the activation rows among the top `ceil(len · ratio)`
/// go to int16 (with their int16 scale), every other tensor stays int8, and the whole model runs
/// on every sample; each output against the float one. The points are those of the Pareto
/// view's grid nearest a ladder of ratios (0 to 100%). `progress(done, total)`; `false` stops.
pub fn sweep(
    model: &Model,
    samples: &[Vec<Tensor>],
    scales8: &HashMap<usize, f64>,
    scales16: &HashMap<usize, f64>,
    ranking: &[&SensRow],
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<super::sweep::SweepPoint>, String> {
    let n = ranking.len();
    let grid: Vec<usize> = if n <= 200 {
        (0..=n).collect()
    } else {
        (0..=200).map(|i| i * n / 200).collect()
    };
    let mut ks: Vec<usize> = [
        0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0,
    ]
    .iter()
    .filter_map(|r: &f64| {
        let want = (n as f64 * r).ceil() as usize;
        grid.iter().copied().find(|&k| k >= want)
    })
    .collect();
    ks.dedup();
    let floats: Vec<Vec<Values>> = samples
        .iter()
        .map(|s| model.run_float(s))
        .collect::<Result<_, _>>()?;
    let mut points = Vec::new();
    for (i, &k) in ks.iter().enumerate() {
        let ratio = super::recommend::nice_ratio(k, n);
        let int16: Vec<String> = ranking[..k]
            .iter()
            .filter(|r| r.kind == Sensitive::Activation)
            .map(|r| r.tensor.name.clone())
            .collect();
        let a = assignment_for(model, scales8, scales16, QDType::Int8, &int16);
        let mut accs: Vec<Option<Accumulator>> = (0..model.outputs.len()).map(|_| None).collect();
        for (s, float) in samples.iter().zip(&floats) {
            let outs = model.run_quantized(s, &a)?;
            for (o, (q, f)) in outs.iter().zip(float).enumerate() {
                let acc = accs[o].get_or_insert_with(|| {
                    let sh: Vec<u64> = q.shape().iter().map(|&d| d as u64).collect();
                    Accumulator::new(&sh, false, None, false)
                });
                acc.update(flat(f), flat(q));
            }
        }
        let outputs = accs
            .into_iter()
            .zip(&model.outputs)
            .map(|(acc, name)| {
                let [l1, cosine, sqnr_db] = acc
                    .map(|a| metric_values(&a.finish()))
                    .unwrap_or([f64::NAN; 3]);
                super::sweep::OutputError {
                    name: name.clone(),
                    l1,
                    cosine,
                    sqnr_db,
                }
            })
            .collect();
        points.push(super::sweep::SweepPoint {
            topk: k,
            ratio,
            int16,
            outputs,
        });
        if !progress(i + 1, ks.len()) {
            return Err("cancelled".into());
        }
    }
    Ok(points)
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
    let order = ranked(rows, output, metric);
    let key = |r: &SensRow| r.values.get(output).map(|v| v[metric]).unwrap_or(f64::NAN);
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
                r.kind.as_str().into(),
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
                    "{name}: {input} has shape {shape:?}{}; the model declares {}",
                    if entry.fortran {
                        " in Fortran order"
                    } else {
                        ""
                    },
                    super::preprocess::dims_text(want)
                ));
                break;
            }
            match super::tensor::read_all(bytes, entry) {
                Ok(v) => match values(shape, v) {
                    Ok(v) => sample.push(v),
                    Err(e) => {
                        notes.push(format!("{name}: {e}"));
                        break;
                    }
                },
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

/// The sweep as the file the app reads (`simulated_mixed_precision.json`).
pub fn sweep_json(
    model: &Model,
    table: &str,
    table_rows: usize,
    samples: usize,
    points: Vec<super::sweep::SweepPoint>,
) -> (String, String) {
    let set = super::sweep::SweepSet {
        format: super::sweep::SIGNATURE.into(),
        version: 1,
        model: model
            .inputs
            .first()
            .map(|_| String::new())
            .unwrap_or_default(),
        table: table.to_string(),
        table_rows,
        base_dtype: "qint8".into(),
        weights: if model.quantize_weights && model.weight_count() > 0 {
            "int8 per channel".into()
        } else {
            "float".into()
        },
        samples,
        points,
    };
    (
        super::sweep::FILE_NAME.to_string(),
        serde_json::to_string_pretty(&set).unwrap_or_default(),
    )
}

/// One part of a sensitivity run's results, as it travels between workers: (row index, values).
pub type PartValues = Vec<(u32, Vec<[f64; 3]>)>;

/// A report in progress: the model loaded and calibrated, the comparison written, and this
/// part's sensitivity rows measured; [`report_finish`] adds the other parts' rows and writes the
/// tables and the sweep.
pub struct Report {
    model: Model,
    tensors: Vec<Vec<Tensor>>,
    dtype: QDType,
    s8: HashMap<usize, f64>,
    s16: HashMap<usize, f64>,
    files: Vec<(String, String)>,
    rows: Vec<SensRow>,
    part: usize,
    parts: usize,
}

impl Report {
    /// The rows this part measured (its share of every sensitivity row: index % parts == part).
    pub fn part_values(&self) -> PartValues {
        self.rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % self.parts == self.part)
            .map(|(i, r)| (i as u32, r.values.clone()))
            .collect()
    }
}

/// The first half of [`run_report`], for part `part` of `parts` (workers splitting the
/// sensitivity rows; each calibrates the same way on the same samples, so their scales agree):
/// load, calibrate, the comparison (part 0 only) and this part's sensitivity rows.
pub fn report_begin(
    bytes: &[u8],
    samples: &[Vec<Values>],
    dtype: QDType,
    observer: &Observer,
    part: usize,
    parts: usize,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Report, String> {
    let parts = parts.max(1);
    if part >= parts {
        return Err(format!("part {part} of {parts}"));
    }
    let Some(first) = samples.first() else {
        return Err("no sample input matches the model's inputs".into());
    };
    let shapes: Vec<Vec<usize>> = first.iter().map(|v| v.shape().to_vec()).collect();
    let model = Model::load(bytes, &shapes)?;
    let tensors: Vec<Vec<Tensor>> = samples
        .iter()
        .map(|s| {
            s.iter()
                .map(|v| Ok::<_, String>(Tensor::from(v.clone())))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    progress("calibrating", 0, 1);
    let s8 = model.calibrate(&tensors, observer, QDType::Int8)?;
    let s16 = model.calibrate(&tensors, observer, QDType::Int16)?;
    let scales = if dtype == QDType::Int16 { &s16 } else { &s8 };
    let a = assignment_for(&model, scales, &s16, dtype, &[]);
    let mut files = Vec::new();
    if part == 0 {
        if !progress("simulating", 0, 1) {
            return Err("cancelled".into());
        }
        let rows = simulate(&model, &tensors, &a)?;
        files.push((
            "compare_per_layer_out.txt".to_string(),
            compare_table_txt(&rows),
        ));
    }
    let rows = sensitivity_part(&model, &tensors, &a, part, parts, &mut |d, t| {
        progress("sensitivity", d, t)
    })?;
    Ok(Report {
        model,
        tensors,
        dtype,
        s8,
        s16,
        files,
        rows,
        part,
        parts,
    })
}

/// The second half of [`run_report`]: the other parts' rows merged in, then the sensitivity
/// tables and (at int8) the simulated mixed-precision sweep.
pub fn report_finish(
    mut r: Report,
    others: Vec<PartValues>,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<(String, String)>, String> {
    for (i, values) in others.into_iter().flatten() {
        let row = r
            .rows
            .get_mut(i as usize)
            .ok_or("a worker's rows do not match this model")?;
        row.values = values;
    }
    if let Some(i) = r.rows.iter().position(|row| row.values.is_empty()) {
        return Err(format!(
            "row {i} of the sensitivity ({}) was not measured by any worker",
            r.rows[i].tensor.name
        ));
    }
    let (model, sens) = (&r.model, &r.rows);
    let mut files = std::mem::take(&mut r.files);
    for o in 0..model.outputs.len() {
        for m in 0..SENSITIVITY_METRICS.len() {
            files.push(sensitivity_table_txt(model, sens, o, m));
        }
    }
    if r.dtype != QDType::Int16 {
        // The setter's ratios verified by simulating each as a whole (ranked by output 0's L1,
        // Horizon's default table).
        let table = sensitivity_table_txt(model, sens, 0, 0).0;
        let order = ranked(sens, 0, 0);
        let points = sweep(model, &r.tensors, &r.s8, &r.s16, &order, &mut |d, t| {
            progress("verifying mixed precision", d, t)
        })?;
        files.push(sweep_json(
            model,
            &table,
            order.len(),
            r.tensors.len(),
            points,
        ));
    }
    Ok(files)
}

/// A whole QuantAnalysis-style report of a model: calibrated on the samples, the all-`dtype`
/// comparison table, the sensitivity tables (L1, Cosine, SQNR per output) and, at int8, the
/// simulated mixed-precision sweep, as (file name, text). `progress(stage, done, total)` returns
/// `false` to stop.
pub fn run_report(
    bytes: &[u8],
    samples: &[Vec<Values>],
    dtype: QDType,
    observer: &Observer,
    progress: &mut dyn FnMut(&str, usize, usize) -> bool,
) -> Result<Vec<(String, String)>, String> {
    let r = report_begin(bytes, samples, dtype, observer, 0, 1, progress)?;
    report_finish(r, Vec::new(), progress)
}
