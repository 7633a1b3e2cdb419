#!/usr/bin/env python3
"""Real quantization runs of real PP-OCR models, written as QuantLens reads them (tests/fixtures/real/).

Provenance
----------
Models: the ONNX files shipped by the PyPI package rapidocr-onnxruntime (site-packages/rapidocr_onnxruntime/models/):
* ch_PP-OCRv4_rec_infer.onnx — the PP-OCRv4 text recognizer (PPLCNetV3 backbone whose hardswish is exported as
  `Add(+3) -> Clip(0,6) -> Mul -> Div(6)`, an SVTR neck with decomposed LayerNorm, a CTC head ending in Softmax);
* ch_ppocr_mobile_v2.0_cls_infer.onnx — the text-direction classifier.
Preparation (numerics unchanged, asserted): `Constant` nodes become initializers (ORT's quantizer needs weights as
initializers); the input is fixed to 1x3xHxW; the opset is raised in place (rec: 12 -> 21, so that QDQ int16 and
per-channel `axis` are standard ops; cls: 11 -> 13): only `Squeeze`/`ReduceMean` change form (axes attribute ->
input). Every node keeps its original name. The float output of the prepared model equals the original's.

Quantizer: onnxruntime.quantization.quantize_static, QuantFormat.QDQ, symmetric activations and weights
(ActivationSymmetric/WeightSymmetric), weights QInt8 per channel.
* ort_int8:  activations QInt8,  CalibrationMethod.Percentile (CalibPercentile 99.99, 2048 bins).
* ort_int16: activations QInt16, CalibrationMethod.MinMax.
Calibration data: 6 synthetic text crops (dark strokes on a light background with noise, 48x32, box-averaged to
HxW, PP-OCR normalisation (x/255-0.5)/0.5), seed SEED. Evaluation input: a different crop with higher contrast
(strokes near black, background near white), so that some activations leave their calibrated range.
Activations: onnxruntime.quantization.qdq_loss_debug (modify_model_output_intermediate_tensors,
collect_activations, create_activation_matching) on the float model and on the QDQ model, for the eval input.
Float names are the float model's tensor names; quantized names are ORT's (`<name>_DequantizeLinear_Output`;
a graph output keeps its own name on the quantized side, its pre-QDQ value being `<name>_QuantizeLinear_Input`).

Formulas (horizon-formats.md §3.4; b = float/baseline, a = dequantized/analysis, float32 dumps, all elements)
-----------------------------------------------------------------------------------------------------------
Cosine = Σab / (max(‖a‖,1e-8)·max(‖b‖,1e-8)); MSE = mean((b−a)²); L1 = mean|b−a|;
KL = mean over all elements of p_b·(log p_b − log p_a), p = softmax in float64 along dim 1 if ndim > 2 else the last;
SQNR = 20·log10(‖b‖/‖b−a‖) (inf when equal); Atol = max|b−a|; Rtol = max|nan_to_num((b−a)/b)| in float32
(0/0 -> 0, x/0 -> ±float32 max); min/max/mean, var unbiased (n−1), computed in float64 from the float32 values;
max_atol_diff = Atol; max_qscale_diff = Atol / qscale.
Clipping: a row clips when base_min < (qmin−1)·s or base_max > (qmax+1)·s, with (qmin, qmax) the runtime range of
the Q node's dtype (int8 −128..127, int16 −32768..32767) and s its scale: the float range leaves the
representable range by more than one step.
Sensitivity (Horizon's definition, one op quantized): for each activation alone, fake quantization
`Mul(Clip(Round(Div(x, s)), qmin, qmax), s)` (ONNX Round = half to even, as QuantizeLinear) is inserted after it
in the float graph with its real scale and dtype range, everything else float; the metric is the L1 distance
(mean |Δ|) of the model output from the float output, averaged over the eval input(s). Implemented as one graph in
which every activation passes through `Where(gate_i, fq(x), x)`, all gates off except one per run (ORT, graph
optimisations off, one thread); with all gates off its output equals the float model's bit for bit (asserted), and
fq(x) of the graph input equals ORT's own DequantizeLinear output bit for bit (asserted).

Files: tests/fixtures/real/{ort_int8,ort_int16}/{float.npz, quant.npz, scales.json,
horizon_quant_analysis/compare_per_layer_out.{txt,csv}, horizon_quant_analysis/output_<out>_L1_sensitive_ops.txt},
ppocr_cls_qdq_int8.onnx (+ .scales.json), PROVENANCE.md, expected.json. The npz files are written with a fixed
zip timestamp (numpy's own savez stamps the current time), so a rerun gives the same bytes.

Run from the repository root: python3 scripts/gen_real_runs.py        (writes tests/fixtures/real/)
                              python3 scripts/gen_real_runs.py --check (regenerates into a temp dir; exit 1 on a difference)
Needs numpy, onnx, onnxruntime (1.32 used), rapidocr-onnxruntime, tabulate 0.9.0.
"""
import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import helper, numpy_helper
from tabulate import tabulate

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "real")
SEED = 20260311
H, W = 16, 8                  # recognizer input 1x3xHxW (small: every activation is dumped)
CLS_H, CLS_W = 48, 192        # classifier calibration input
N_CALIB = 6
PERCENTILE = 99.99
REC = "ch_PP-OCRv4_rec_infer.onnx"
CLS = "ch_ppocr_mobile_v2.0_cls_infer.onnx"
NAMED = ["x", "p2o.Add.5", "softmax_11.tmp_0"]   # tensors whose metrics expected.json spells out
HEADERS = ["mod_name", "base_op_type", "analy_op_type", "shape", "quant_dtype", "qscale", "Cosine", "MSE", "L1",
           "KL", "SQNR", "Atol", "Rtol", "base_model_min", "analy_model_min", "base_model_max", "analy_model_max",
           "base_model_mean", "analy_model_mean", "base_model_var", "analy_model_var", "max_atol_diff",
           "max_qscale_diff"]
QRANGE = {"qint8": (-128, 127), "qint16": (-32768, 32767)}
ONNX_QDTYPE = {onnx.TensorProto.INT8: "qint8", onnx.TensorProto.INT16: "qint16", onnx.TensorProto.UINT8: "quint8",
               onnx.TensorProto.UINT16: "quint16"}


def models_dir():
    import rapidocr_onnxruntime
    return os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def ort_options(threads=1):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return so


def session(model, threads=1):
    import onnxruntime as ort
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else model
    return ort.InferenceSession(data, sess_options=ort_options(threads), providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------------------------------------------
# Model preparation
# ---------------------------------------------------------------------------------------------------------------
def prepare(path, shape, opset):
    """Constants -> initializers, static input shape, opset raised in place (node names kept)."""
    g = onnx.load(path)
    keep = []
    for node in g.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            g.graph.initializer.append(t)
        else:
            keep.append(node)
    del g.graph.node[:]
    for node in keep:
        if node.op_type in ("Squeeze", "Unsqueeze") and opset >= 13 or node.op_type == "ReduceMean" and opset >= 18:
            attrs = [a for a in node.attribute if a.name == "axes"]
            if attrs:
                name = node.name + "_axes"
                g.graph.initializer.append(numpy_helper.from_array(np.array(attrs[0].ints, np.int64), name))
                node.attribute.remove(attrs[0])
                node.input.append(name)
        if node.op_type in ("Split", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd") and any(a.name == "axes" for a in node.attribute):
            raise RuntimeError("op form changed across opsets, not handled: " + node.op_type)
        g.graph.node.append(node)
    for d, v in zip(g.graph.input[0].type.tensor_type.shape.dim, shape):
        d.ClearField("dim_param")
        d.dim_value = v
    del g.graph.value_info[:]
    for o in g.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = opset
    g.ir_version = max(g.ir_version, 8 if opset < 21 else 10)
    onnx.checker.check_model(g)
    g = onnx.shape_inference.infer_shapes(g)
    return g


def image(rng, contrast=1.0, h=H, w=W, src=(48, 32)):
    """A text-crop-like input: dark strokes on a light background, box-averaged to h x w, PP-OCR normalised."""
    sh, sw = src
    bg, lo, hi = (230.0, 10, 80) if contrast == 1.0 else (252.0, 0, 25)
    img = np.full((sh, sw), bg)
    for _ in range(max(6, sw // 5)):
        x, y = rng.integers(1, sw - 6), rng.integers(4, sh - 12)
        img[y:y + rng.integers(4, 14), x:x + rng.integers(2, 8)] = rng.uniform(lo, hi)
    img += rng.normal(0, 6 if contrast == 1.0 else 3, img.shape)
    img = np.clip(img, 0, 255)
    img = img.reshape(h, sh // h, w, sw // w).mean(axis=(1, 3))
    x = (img / 255.0 - 0.5) / 0.5
    return np.repeat(x[None, None], 3, axis=1).astype(np.float32)


class Reader:
    """A CalibrationDataReader over a list of inputs."""

    def __init__(self, name, inputs):
        self.name, self.it = name, iter(inputs)

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {self.name: x}

    def __iter__(self):
        return self

    def __next__(self):
        x = self.get_next()
        if x is None:
            raise StopIteration
        return x


def quantize(float_path, out_path, inp, calib, act_type, method, extra):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationDataReader

    class R(Reader, CalibrationDataReader):
        pass

    opts = {"ActivationSymmetric": True, "WeightSymmetric": True}
    opts.update(extra)
    logging.getLogger().setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_static(float_path, out_path, R(inp, calib), quant_format=QuantFormat.QDQ, activation_type=act_type,
                        weight_type=QuantType.QInt8, per_channel=True, calibrate_method=method, extra_options=opts)


def qdq_params(qdq):
    """{tensor quantized by a QuantizeLinear node: (scale, zero_point, qdtype, q node name)} and the DQ weights."""
    inits = {i.name: numpy_helper.to_array(i) for i in qdq.graph.initializer}
    acts, weights = {}, {}
    for n in qdq.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in inits:
            s, z = inits[n.input[1]], inits[n.input[2]]
            assert s.size == 1 and z.size == 1, n.name
            val = (float(s.ravel()[0]), int(z.ravel()[0]), ONNX_QDTYPE[helper.np_dtype_to_tensor_dtype(z.dtype)], n.name)
            if n.input[0] in acts:
                assert acts[n.input[0]][:3] == val[:3], n.name
                continue
            acts[n.input[0]] = val
        elif n.op_type == "DequantizeLinear" and n.input[0] in inits:
            axis = next((a.i for a in n.attribute if a.name == "axis"), None)
            s, z = inits[n.input[1]], inits[n.input[2]] if len(n.input) > 2 else None
            weights[n.input[0]] = {"dq_node": n.name, "output": n.output[0], "scale": s, "zero_point": z,
                                   "dtype": str(inits[n.input[0]].dtype), "axis": axis if s.size > 1 else None}
    return acts, weights


def collect(float_path, qdq_path, inp, x, tmp):
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, create_activation_matching,
                                                         modify_model_output_intermediate_tensors)
    fa_path, qa_path = os.path.join(tmp, "float_aug.onnx"), os.path.join(tmp, "qdq_aug.onnx")
    modify_model_output_intermediate_tensors(float_path, fa_path)
    modify_model_output_intermediate_tensors(qdq_path, qa_path)
    fa = collect_activations(fa_path, Reader(inp, [x]), session_options=ort_options())
    qa = collect_activations(qa_path, Reader(inp, [x]), session_options=ort_options())
    return fa, qa, create_activation_matching(qa, fa)


def tensor_shapes(g, inp, x):
    """Shapes of every tensor, from one run of the float model (qdq_loss_debug returns flattened arrays)."""
    m = onnx.ModelProto()
    m.CopyFrom(g)
    known = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for o in node.output:
            if o not in known:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
    sess = session(m)
    shapes = {o.name: list(v.shape) for o, v in zip(sess.get_outputs(), sess.run(None, {inp: x}))}
    shapes[inp] = list(x.shape)
    return shapes


def quant_name(name, qa):
    """The tensor name under which create_activation_matching found the post-QDQ value."""
    for cand in (name + "_DequantizeLinear_Output", name + "_DequantizeLinear_Output_1"):
        if cand in qa:
            return cand
    assert name + "_QuantizeLinear_Input" in qa and name in qa, name
    return name


# ---------------------------------------------------------------------------------------------------------------
# Metrics (§3.4)
# ---------------------------------------------------------------------------------------------------------------
def metrics(b, a):
    b32, a32 = np.asarray(b, np.float32), np.asarray(a, np.float32)
    b64, a64 = b32.astype(np.float64).ravel(), a32.astype(np.float64).ravel()
    n = b64.size
    d = b64 - a64
    na, nb = np.sqrt((a64 * a64).sum()), np.sqrt((b64 * b64).sum())
    dn = np.sqrt((d * d).sum())
    out = {
        "Cosine": float((a64 * b64).sum() / (max(na, 1e-8) * max(nb, 1e-8))),
        "MSE": float((d * d).mean()),
        "L1": float(np.abs(d).mean()),
        "SQNR": float("inf") if dn == 0 else float(20 * np.log10(nb / dn)),
        "Atol": float(np.abs(d).max()),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (b32 - a32) / b32
    r = np.nan_to_num(r, nan=0.0, posinf=np.finfo(np.float32).max, neginf=-np.finfo(np.float32).max)
    out["Rtol"] = float(np.abs(r).max())
    shp = b32.shape if b32.ndim else (1,)
    dim = 1 if len(shp) > 2 else len(shp) - 1
    bb, aa = b64.reshape(shp), a64.reshape(shp)

    def log_softmax(v):
        m = v.max(axis=dim, keepdims=True)
        return v - m - np.log(np.exp(v - m).sum(axis=dim, keepdims=True))

    lp_b, lp_a = log_softmax(bb), log_softmax(aa)
    out["KL"] = float((np.exp(lp_b) * (lp_b - lp_a)).sum() / n)
    for side, v in (("base_model", b64), ("analy_model", a64)):
        out[side + "_min"] = float(v.min())
        out[side + "_max"] = float(v.max())
        out[side + "_mean"] = float(v.mean())
        out[side + "_var"] = float(v.var(ddof=1)) if n > 1 else float("nan")
    return out


class TorchSize:
    def __init__(self, dims):
        self.dims = list(dims)

    def __str__(self):
        return "torch.Size([%s])" % ", ".join(str(d) for d in self.dims)


def fake_quant(x, s, qdtype):
    qmin, qmax = QRANGE[qdtype]
    s32 = np.float32(s)
    return (np.clip(np.rint(np.asarray(x, np.float32) / s32), qmin, qmax) * s32).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------------
# Sensitivity: every activation behind a gate, one gate on per run
# ---------------------------------------------------------------------------------------------------------------
def gated_model(g, acts, params):
    m = onnx.ModelProto()
    m.CopyFrom(g)
    del m.graph.value_info[:]
    inputs = {i.name for i in m.graph.input}
    n = len(acts)
    m.graph.input.append(helper.make_tensor_value_info("__gates", onnx.TensorProto.BOOL, [n]))
    new_nodes = []
    producer = {}
    for node in m.graph.node:
        for o in node.output:
            producer[o] = node
    pending = {}
    for i, a in enumerate(acts):
        s, _, qd, _ = params[a]
        qmin, qmax = QRANGE[qd]
        p = "__fq%d_" % i
        m.graph.initializer.extend([
            numpy_helper.from_array(np.array(s, np.float32), p + "s"),
            numpy_helper.from_array(np.array(qmin, np.float32), p + "lo"),
            numpy_helper.from_array(np.array(qmax, np.float32), p + "hi"),
            numpy_helper.from_array(np.array(i, np.int64), p + "i"),
        ])
        if a in inputs:
            src, dst = a, p + "sel"
            for node in m.graph.node:
                for k, v in enumerate(node.input):
                    if v == a:
                        node.input[k] = dst
        else:
            src, dst = p + "float", a
            node = producer[a]
            for k, v in enumerate(node.output):
                if v == a:
                    node.output[k] = src
        pending.setdefault(src if a in inputs else id(producer[a]), []).extend([
            helper.make_node("Div", [src, p + "s"], [p + "d"]),
            helper.make_node("Round", [p + "d"], [p + "r"]),
            helper.make_node("Clip", [p + "r", p + "lo", p + "hi"], [p + "c"]),
            helper.make_node("Mul", [p + "c", p + "s"], [p + "q"]),
            helper.make_node("Gather", ["__gates", p + "i"], [p + "g"]),
            helper.make_node("Where", [p + "g", p + "q", src], [dst]),
        ])
    for a in acts:
        if a in inputs:
            new_nodes.extend(pending.pop(a))
    for node in m.graph.node:
        new_nodes.append(node)
        new_nodes.extend(pending.pop(id(node), []))
    assert not pending
    del m.graph.node[:]
    m.graph.node.extend(new_nodes)
    return m


def sensitivity(g, inp, acts, params, inputs, float_outs):
    sess = session(gated_model(g, acts, params))
    n = len(acts)
    off = np.zeros(n, bool)
    for x, ref in zip(inputs, float_outs):
        got = sess.run(None, {inp: x, "__gates": off})[0]
        assert np.array_equal(got, ref), "gated model with all gates off must equal the float model"
    res = []
    for i in range(n):
        gates = off.copy()
        gates[i] = True
        l1 = [float(np.abs(sess.run(None, {inp: x, "__gates": gates})[0].astype(np.float64) - ref.astype(np.float64)).mean())
              for x, ref in zip(inputs, float_outs)]
        res.append(float(np.mean(l1)))
    return res


# ---------------------------------------------------------------------------------------------------------------
# Deterministic npz
# ---------------------------------------------------------------------------------------------------------------
def savez_deterministic(path, arrays):
    """Like np.savez_compressed (deflated members, zip64 headers), with a fixed timestamp."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(arr), allow_pickle=False)


def write_json(path, obj):
    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    with open(path, "w") as f:
        json.dump(clean(obj), f, indent=1, allow_nan=False)
        f.write("\n")


# ---------------------------------------------------------------------------------------------------------------
# One recognizer run
# ---------------------------------------------------------------------------------------------------------------
def rec_run(label, g, float_path, inp, calib, eval_inputs, act_type, method, extra, out_dir, tmp):
    qdq_path = os.path.join(tmp, label + "_qdq.onnx")
    quantize(float_path, qdq_path, inp, calib, act_type, method, extra)
    qdq = onnx.load(qdq_path)
    params, weights = qdq_params(qdq)
    x_eval = eval_inputs[0]
    fa, qa, match = collect(float_path, qdq_path, inp, x_eval, tmp)
    # Graph order: the graph input first, then node outputs in the float model's (topological) node order.
    producer = {}
    for node in g.graph.node:
        for o in node.output:
            producer[o] = node
    shapes = tensor_shapes(g, inp, x_eval)
    order = [i.name for i in g.graph.input] + [o for node in g.graph.node for o in node.output]
    paired = [t for t in order if t in match and "float" in match[t]]
    assert set(paired) == {t for t, v in match.items() if "float" in v}
    for t in paired:  # a graph output is quantized under the name <t>_QuantizeLinear_Input
        if t not in params and t + "_QuantizeLinear_Input" in params:
            params[t] = params[t + "_QuantizeLinear_Input"]
    missing = [t for t in paired if t not in params]
    assert not missing, "paired activations without a QuantizeLinear: %s" % missing
    q_nodes = {n.name: n for n in qdq.graph.node}
    qdq_producer = {o: n for n in qdq.graph.node for o in n.output}
    rows, floats, quants, names = [], {}, {}, {}
    for t in paired:
        f = np.asarray(match[t]["float"][0], np.float32).reshape(shapes[t])
        qn = quant_name(t, qa)
        q = np.asarray(qa[qn][0], np.float32).reshape(shapes[t])
        assert np.array_equal(q.ravel(), np.asarray(match[t]["post_qdq"][0]).ravel())
        floats[t], quants[qn], names[t] = f, q, qn
        s, z, qd, qnode = params[t]
        assert z == 0
        if t in producer:
            node = producer[t]
            mod, bt = node.name, node.op_type
            qp = qdq_producer[t]
            if qp.op_type == "DequantizeLinear":  # a graph output: the op now writes <t>_QuantizeLinear_Input
                qp = qdq_producer[t + "_QuantizeLinear_Input"]
            assert qp.name == node.name and qp.op_type == node.op_type, (t, qp.name, node.name)
            at = qp.op_type
        else:  # the graph input: Horizon's QuantStub row; the QDQ model's Q node names it
            mod, bt, at = qnode, q_nodes[qnode].op_type, q_nodes[qnode].op_type
        mt = metrics(f, q)
        row = {"mod_name": mod, "base_op_type": bt, "analy_op_type": at, "shape": TorchSize(f.shape),
               "quant_dtype": qd, "qscale": s}
        for h in HEADERS[6:]:
            if h in mt:
                row[h] = mt[h]
        row["max_atol_diff"] = mt["Atol"]
        row["max_qscale_diff"] = mt["Atol"] / s
        rows.append({h: row[h] for h in HEADERS})
    # Fake quantization reproduces ORT's QuantizeLinear->DequantizeLinear exactly on the graph input.
    x0 = paired[0]
    assert x0 == inp and np.array_equal(fake_quant(floats[x0], params[x0][0], params[x0][2]), quants[names[x0]])
    # Natural edge cases.
    identical = [t for t in paired if np.array_equal(floats[t], quants[names[t]])]
    one_elem = [t for t in paired if floats[t].size == 1]
    extra_scalar = None
    if not one_elem:
        # A real 1-element tensor of this model: the hardswish `+3` constant of the first hardswish Add, as the QDQ
        # model quantized it (an int8 initializer + its DequantizeLinear, collected by qdq_loss_debug).
        add = producer["p2o.Add.5"]
        cname = next(i for i in add.input if i + "_quantized" in weights)
        w = weights[cname + "_quantized"]
        init = {i.name: numpy_helper.to_array(i) for i in g.graph.initializer}
        fv = np.asarray(init[cname], np.float32)
        qv = np.asarray(qa[w["output"]][0], np.float32).reshape(fv.shape)
        assert fv.size == 1
        floats[cname], quants[w["output"]] = fv, qv
        extra_scalar = {"float_name": cname, "quant_name": w["output"], "float_value": float(fv.ravel()[0]),
                        "quant_value": float(qv.ravel()[0]), "scale": float(w["scale"].ravel()[0]),
                        "zero_point": int(w["zero_point"].ravel()[0]), "dtype": w["dtype"], "shape": list(fv.shape),
                        "identical": bool(np.array_equal(fv, qv)), "consumer": add.name}
    # Files.
    os.makedirs(os.path.join(out_dir, "horizon_quant_analysis"), exist_ok=True)
    savez_deterministic(os.path.join(out_dir, "float.npz"), floats)
    savez_deterministic(os.path.join(out_dir, "quant.npz"), quants)
    scales = {t: params[t][0] for t in paired}
    if extra_scalar:
        scales[extra_scalar["float_name"]] = extra_scalar["scale"]
    write_json(os.path.join(out_dir, "scales.json"), scales)
    ha = os.path.join(out_dir, "horizon_quant_analysis")
    with open(os.path.join(ha, "compare_per_layer_out.txt"), "w") as f:
        f.write(tabulate(rows, headers="keys", tablefmt="psql", floatfmt=".7f", showindex=True) + "\n")
    with open(os.path.join(ha, "compare_per_layer_out.csv"), "w") as f:
        f.write(", ".join(rows[0].keys()) + "\n")
        for r in rows:
            f.write(", ".join(str(v).replace(",", "*") if k == "shape" else str(v) for k, v in r.items()) + "\n")
    # True single-op sensitivity.
    fsess = session(g)
    out_name = g.graph.output[0].name
    float_outs = [fsess.run(None, {inp: x})[0] for x in eval_inputs]
    assert np.array_equal(float_outs[0], floats[out_name])
    sens = sensitivity(g, inp, paired, params, eval_inputs, float_outs)
    by_t = {t: r for t, r in zip(paired, rows)}
    srows = [[by_t[t]["mod_name"], "activation", by_t[t]["analy_op_type"], v, params[t][2]] for t, v in zip(paired, sens)]
    srows = sorted(srows, key=lambda r: r[3], reverse=True)
    with open(os.path.join(ha, "output_%s_L1_sensitive_ops.txt" % out_name), "w") as f:
        f.write(tabulate(srows, headers=["op_name", "sensitive_type", "op_type", "L1", "quant_dtype"]) + "\n")
    # Whole-model error of the QDQ model on the eval input.
    qsess = session(qdq)
    full = [float(np.abs(qsess.run(None, {inp: x})[0].astype(np.float64) - r.astype(np.float64)).mean())
            for x, r in zip(eval_inputs, float_outs)]
    return {"g": g, "producer": producer, "paired": paired, "floats": floats, "quants": quants, "names": names,
            "params": params, "rows": rows, "sens": dict(zip(paired, sens)), "srows": srows, "identical": identical,
            "one_elem": one_elem, "extra_scalar": extra_scalar, "out_name": out_name, "full_l1": float(np.mean(full)),
            "n_weights": len(weights), "qdq_nodes": len(qdq.graph.node)}


def hardswish_adds(g):
    """{Add node name: Clip node name} for `Add(x, 3) -> Clip(0, 6)` where the Clip is the Add's only consumer."""
    init = {i.name: numpy_helper.to_array(i) for i in g.graph.initializer}
    consumers = {}
    for node in g.graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    out = {}
    for node in g.graph.node:
        if node.op_type != "Add":
            continue
        c = [i for i in node.input if i in init and init[i].size == 1]
        if not c or float(init[c[0]].ravel()[0]) != 3.0:
            continue
        cons = consumers.get(node.output[0], [])
        if len(cons) == 1 and cons[0].op_type == "Clip" and len(cons[0].input) == 3:
            lo, hi = init.get(cons[0].input[1]), init.get(cons[0].input[2])
            if lo is not None and hi is not None and float(lo.ravel()[0]) == 0.0 and float(hi.ravel()[0]) == 6.0:
                out[node.name] = cons[0].name
    return out


def independent_facts(run, hs):
    """Facts recomputed from the written arrays (not from the table rows), cross-checked against the rows."""
    g, producer = run["g"], run["producer"]
    order_nodes = [n.name for n in g.graph.node]
    facts = {"paired_activations": len(run["paired"]), "npz_tensors": len(run["floats"]),
             "compare_rows": len(run["rows"])}
    facts["top5_sensitive"] = [r[0] for r in run["srows"][:5]]
    facts["top5_sensitive_l1"] = [r[3] for r in run["srows"][:5]]
    clipped = []
    for t, row in zip(run["paired"], run["rows"]):
        f = run["floats"][t].astype(np.float64)
        s, _, qd, _ = run["params"][t]
        qmin, qmax = QRANGE[qd]
        lo, hi = (qmin - 1) * s, (qmax + 1) * s
        if f.min() < lo or f.max() > hi:
            k = np.rint(run["floats"][t] / np.float32(s))
            item = {"mod_name": row["mod_name"], "tensor": t, "op_type": row["base_op_type"], "scale": s,
                    "quant_dtype": qd, "float_min": float(f.min()), "float_max": float(f.max()),
                    "qmin_x_scale": qmin * s, "qmax_x_scale": qmax * s,
                    "steps_beyond": float(max((qmin * s - f.min()) / s, (f.max() - qmax * s) / s)),
                    "clipped_elements": int(((k < qmin) | (k > qmax)).sum()), "numel": int(f.size)}
            item["sensitivity_l1"] = run["sens"][t]
            item["sensitivity_rank"] = [r[0] for r in run["srows"]].index(row["mod_name"]) + 1
            if row["mod_name"] in hs:
                nxt = order_nodes[order_nodes.index(row["mod_name"]) + 1]
                item["hardswish_clip"] = hs[row["mod_name"]]
                item["clip_is_next_node"] = nxt == hs[row["mod_name"]]
            clipped.append(item)
    facts["clipped_rows"] = [c["mod_name"] for c in clipped]
    facts["clipped_hardswish_add_then_clip"] = [c["mod_name"] for c in clipped
                                                if c.get("hardswish_clip") and c.get("clip_is_next_node")]
    facts["clipped_detail"] = clipped
    named = {}
    for t in NAMED:
        b = run["floats"][t].astype(np.float64).ravel()
        a = run["quants"][run["names"][t]].astype(np.float64).ravel()
        d = b - a
        cos = float(np.dot(a, b) / (max(np.linalg.norm(a), 1e-8) * max(np.linalg.norm(b), 1e-8)))
        sq = float(20 * np.log10(np.linalg.norm(b) / np.linalg.norm(d))) if np.any(d) else float("inf")
        mse = float(np.mean(d * d))
        row = run["rows"][run["paired"].index(t)]
        assert abs(row["Cosine"] - cos) <= 1e-12 and abs(row["MSE"] - mse) <= 1e-15 + 1e-9 * mse
        assert abs(row["SQNR"] - sq) <= 1e-9 * max(1.0, abs(sq))
        named[t] = {"mod_name": row["mod_name"], "quant_name": run["names"][t], "cosine": cos, "sqnr_db": sq,
                    "mse": mse, "scale": run["params"][t][0]}
    facts["named_tensors"] = named
    facts["identical_tensors"] = run["identical"]
    facts["one_element_tensors_natural"] = run["one_elem"]
    facts["extra_scalar"] = run["extra_scalar"]
    facts["model_output"] = run["out_name"]
    facts["full_qdq_model_output_l1"] = run["full_l1"]
    facts["hardswish_add_count"] = sum(1 for r in run["rows"] if r["mod_name"] in hs)
    return facts


# ---------------------------------------------------------------------------------------------------------------
# Classifier QDQ model
# ---------------------------------------------------------------------------------------------------------------
def cls_fixture(rng, out_root, tmp):
    from onnxruntime.quantization import CalibrationMethod, QuantType
    src = os.path.join(models_dir(), CLS)
    orig = onnx.load(src)
    g = prepare(src, (1, 3, CLS_H, CLS_W), 13)
    inp = g.graph.input[0].name
    calib = [image(rng, h=CLS_H, w=CLS_W, src=(CLS_H, CLS_W)) for _ in range(N_CALIB)]
    ref = session(orig).run(None, {inp: calib[0]})[0]
    assert np.array_equal(session(g).run(None, {inp: calib[0]})[0], ref)
    fp = os.path.join(tmp, "cls_float.onnx")
    onnx.save(g, fp)
    out = os.path.join(out_root, "ppocr_cls_qdq_int8.onnx")
    quantize(fp, out, inp, calib, QuantType.QInt8, CalibrationMethod.MinMax, {})
    # Read back with the onnx package only.
    m = onnx.load(out)
    init = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    acts, weights = {}, {}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear" and n.input[0] not in init:
            s, z = init[n.input[1]], init[n.input[2]]
            acts[n.input[0]] = {"scale": float(s.ravel()[0]), "zero_point": int(z.ravel()[0]), "dtype": str(z.dtype),
                                "q_node": n.name, "scale_name": n.input[1], "zero_point_name": n.input[2]}
        elif n.op_type == "DequantizeLinear" and n.input[0] in init:
            s, z = init[n.input[1]], init[n.input[2]]
            axis = next((a.i for a in n.attribute if a.name == "axis"), None)
            wname = n.input[0][: -len("_quantized")] if n.input[0].endswith("_quantized") else n.input[0]
            weights[wname] = {"scale": s.ravel().tolist() if s.size > 1 else float(s.ravel()[0]),
                              "zero_point": z.ravel().tolist() if z.size > 1 else int(z.ravel()[0]),
                              "dtype": str(init[n.input[0]].dtype), "axis": axis if s.size > 1 else None,
                              "shape": list(init[n.input[0]].shape), "dq_node": n.name}
    q_full = session(m).run(None, {inp: calib[0]})[0]
    doc = {
        "model": "ppocr_cls_qdq_int8.onnx",
        "source_model": CLS,
        "note": "activations: every QuantizeLinear whose input is not an initializer, keyed by that input (the float "
                "tensor name); weights: every DequantizeLinear of an initializer, keyed by the float weight name "
                "(the initializer name without ORT's _quantized suffix). dtype is the numpy dtype of the zero point "
                "(activations) or of the quantized initializer (weights).",
        "scales": {k: v["scale"] for k, v in acts.items()},
        "activations": acts,
        "weights": weights,
        "counts": {"activations": len(acts), "weights": len(weights),
                   "per_channel_weights": sum(1 for w in weights.values() if w["axis"] is not None),
                   "nodes": len(m.graph.node)},
        "opset": [{"domain": o.domain, "version": o.version} for o in m.opset_import],
    }
    write_json(os.path.join(out_root, "ppocr_cls_qdq_int8.scales.json"), doc)
    return doc, float(np.abs(q_full.astype(np.float64) - ref.astype(np.float64)).mean())


# ---------------------------------------------------------------------------------------------------------------
def generate(out_root):
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantType
    os.makedirs(out_root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="quantlens_real_")
    try:
        rng = np.random.default_rng(SEED)
        src = os.path.join(models_dir(), REC)
        orig = onnx.load(src)
        g = prepare(src, (1, 3, H, W), 21)
        inp = g.graph.input[0].name
        calib = [image(rng) for _ in range(N_CALIB)]
        eval_inputs = [image(rng, contrast=2.0)]
        ref = session(orig).run(None, {inp: eval_inputs[0]})[0]
        assert np.array_equal(session(g).run(None, {inp: eval_inputs[0]})[0], ref), "prepared model changed numerics"
        fp = os.path.join(tmp, "rec_float.onnx")
        onnx.save(g, fp)
        hs = hardswish_adds(g)
        runs, facts = {}, {}
        for label, at, meth, extra in (
                ("ort_int8", QuantType.QInt8, CalibrationMethod.Percentile, {"CalibPercentile": PERCENTILE}),
                ("ort_int16", QuantType.QInt16, CalibrationMethod.MinMax, {})):
            run = rec_run(label, g, fp, inp, calib, eval_inputs, at, meth, extra, os.path.join(out_root, label), tmp)
            runs[label] = run
            facts[label] = independent_facts(run, hs)
            print("%s: %d paired activations, %d rows clip (%d hardswish Add->Clip), identical: %s, "
                  "1-element (natural): %s, extra scalar: %s" % (
                      label, len(run["paired"]), len(facts[label]["clipped_rows"]),
                      len(facts[label]["clipped_hardswish_add_then_clip"]), run["identical"] or "none",
                      run["one_elem"] or "none", run["extra_scalar"]["float_name"] if run["extra_scalar"] else "none"))
        cls_doc, cls_l1 = cls_fixture(rng, out_root, tmp)
        expected = {
            "_formulas": "horizon-formats.md §3.4 in float64 from the float32 dumps; see scripts/gen_real_runs.py",
            "input_shape": [1, 3, H, W],
            "eval_input_sha256": hashlib.sha256(eval_inputs[0].tobytes()).hexdigest(),
            "hardswish_adds": len(hs),
            "runs": facts,
            "ppocr_cls_qdq_int8": {"activations": cls_doc["counts"]["activations"],
                                   "weights": cls_doc["counts"]["weights"],
                                   "output_l1_vs_float_on_calibration_input_0": cls_l1},
        }
        write_json(os.path.join(out_root, "expected.json"), expected)
        info = {"eval_vs_calib": (float(eval_inputs[0].min()), float(eval_inputs[0].max()),
                                  float(min(c.min() for c in calib)), float(max(c.max() for c in calib)))}
        write_provenance(out_root, runs, facts, cls_doc, hs, orig, ort.__version__, info)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_provenance(out_root, runs, facts, cls_doc, hs, orig, ort_version, info):
    import tabulate as tabulate_mod
    md = os.path.join(models_dir())
    L = []
    L.append("# Real quantization runs (`tests/fixtures/real/`)\n")
    L.append("Written by `scripts/gen_real_runs.py` (its docstring states the formulas); `python3 scripts/gen_real_runs.py "
             "--check` regenerates everything into a temp dir and fails on any difference. Nothing here is synthetic "
             "except the input images: the models are real, the quantization is ONNX Runtime's own, the activations "
             "are what ORT computed.\n")
    L.append("## Versions and models\n")
    L.append("| item | value |\n|---|---|")
    L.append("| onnxruntime | %s |" % ort_version)
    L.append("| onnx | %s |" % onnx.__version__)
    L.append("| numpy | %s |" % np.__version__)
    L.append("| tabulate | %s |" % tabulate_mod.__version__)
    L.append("| recognizer | `%s` (rapidocr-onnxruntime `models/`), sha256 `%s`, opset %d |" % (
        REC, sha256(os.path.join(md, REC)), orig.opset_import[0].version))
    L.append("| classifier | `%s` (rapidocr-onnxruntime `models/`), sha256 `%s` |" % (CLS, sha256(os.path.join(md, CLS))))
    L.append("")
    L.append("## Recognizer runs: `ort_int8/`, `ort_int16/`\n")
    L.append("* Preparation: Constant nodes -> initializers; input fixed to **1x3x%dx%d** (small so that every "
             "activation fits: 16x8 is a one-character crop; the CTC output is 1x1x6625); opset 12 -> 21 in place "
             "(Squeeze/ReduceMean axes become inputs; node names unchanged; float output asserted equal to the "
             "original model's)." % (H, W))
    L.append("* Quantizer: `quantize_static`, QDQ, `ActivationSymmetric`, `WeightSymmetric`, weights QInt8 per channel "
             "(BatchNormalization scales, 1-D, fall back to per-tensor).")
    L.append("  * `ort_int8`: activations QInt8, `CalibrationMethod.Percentile`, `CalibPercentile` %s." % PERCENTILE)
    L.append("  * `ort_int16`: activations QInt16 (standard opset-21 QuantizeLinear), `CalibrationMethod.MinMax`.")
    L.append("* Calibration: %d synthetic text crops (dark strokes 10–80 on a 230 background, noise σ=6, drawn 48x32 "
             "then box-averaged to %dx%d, `(x/255−0.5)/0.5`), numpy seed %d." % (N_CALIB, H, W, SEED))
    L.append("* Eval input (dumps, tables and sensitivity): one different crop with higher contrast (strokes 0–25 on "
             "252, noise σ=3, same seed stream), values %.4f .. %.4f against %.4f .. %.4f over the calibration "
             "inputs: its bright background leaves the calibrated input range." % info["eval_vs_calib"])
    L.append("* ORT detail that shapes these tables: `adjust_tensor_ranges` (onnxruntime/quantization/base_quantizer.py) "
             "gives the sole input of a Clip/Relu the Clip's *output* range, so every hardswish `Add(+3)` is quantized "
             "with the range of `Clip(0,6)` (symmetric: ±6, scale 6/127 resp. 6/32767) and clips heavily (bad "
             "cosine/SQNR, huge max_qscale_diff) although the Clip right after it removes the same values anyway "
             "(the Mul reads the Add's *input*, not the Add). Their single-op sensitivity is correspondingly small; "
             "see the ranks below. Softmax outputs get the fixed range 0..1, so the neck's attention softmaxes "
             "over a single token (all 1.0) are reproduced exactly.")
    L.append("* Dumps: `qdq_loss_debug` on the float and the QDQ model for the eval input. `float.npz` keys are float "
             "tensor names; `quant.npz` keys are ORT's names (`<name>_DequantizeLinear_Output`; the graph output "
             "`softmax_11.tmp_0` keeps its own name on the quantized side). Both are written in graph order with a "
             "fixed zip timestamp (deflated, like `np.savez_compressed`).")
    L.append("* `scales.json`: `{float tensor name: scale}` from each activation's QuantizeLinear scale initializer "
             "(all zero points are 0).")
    L.append("* `horizon_quant_analysis/compare_per_layer_out.{txt,csv}`: Horizon QuantAnalysis layout (23 columns + "
             "index, `tabulate(rows, headers=\"keys\", tablefmt=\"psql\", floatfmt=\".7f\", showindex=True)`; csv "
             "`\", \"`-joined, `str()` floats, shape commas as `*`), one row per quantized activation in graph order. "
             "mod_name = the ONNX node producing the tensor (same name in both models); base/analy_op_type = its ONNX "
             "op type; for the graph input `x` the row is named after the QDQ model's `x_QuantizeLinear` node "
             "(op type QuantizeLinear on both sides, like Horizon's QuantStub row). qscale = the activation scale.")
    L.append("* `horizon_quant_analysis/output_softmax_11.tmp_0_L1_sensitive_ops.txt`: true single-op sensitivity "
             "(5 columns: op_name, sensitive_type, op_type, L1, quant_dtype; Horizon's simple tabulate table, "
             "sorted by L1 descending, stable).")
    L.append("")
    rows = []
    for label, run in runs.items():
        f = facts[label]
        rows.append([label, f["paired_activations"], f["npz_tensors"], len(f["clipped_rows"]),
                     len(f["clipped_hardswish_add_then_clip"]), "%.6g" % f["full_qdq_model_output_l1"],
                     ", ".join(f["top5_sensitive"])])
    L.append("| run | paired activations (= rows) | npz tensors | rows that clip | of which hardswish Add->Clip | "
             "whole QDQ model output L1 | top-5 sensitive |\n|---|---|---|---|---|---|---|")
    for r in rows:
        L.append("| " + " | ".join(str(c) for c in r) + " |")
    L.append("")
    L.append("The recognizer has %d hardswish blocks (`Add(+3) -> Clip(0,6) -> Mul -> Div(6)`); each Add row is "
             "directly followed by its Clip row." % len(hs))
    for label, run in runs.items():
        f = facts[label]
        L.append("\n### `%s`\n" % label)
        L.append("Rows that clip (float range beyond (qmin−1)·s .. (qmax+1)·s):\n")
        L.append("| mod_name | op type | float min .. max | representable | steps beyond | clipped elements | "
                 "sensitivity rank (of %d) | hardswish Add -> Clip |\n|---|---|---|---|---|---|---|---|" % len(run["paired"]))
        for c in f["clipped_detail"]:
            L.append("| %s | %s | %.6g .. %.6g | %.6g .. %.6g | %.2f | %d / %d | %d | %s |" % (
                c["mod_name"], c["op_type"], c["float_min"], c["float_max"], c["qmin_x_scale"], c["qmax_x_scale"],
                c["steps_beyond"], c["clipped_elements"], c["numel"], c["sensitivity_rank"],
                ("-> " + c["hardswish_clip"]) if c.get("hardswish_clip") else ""))
        L.append("")
        L.append("* Tensors identical on both sides: %s." % (", ".join("`%s`" % t for t in f["identical_tensors"]) or
                                                             "none occurs naturally"))
        if f["one_element_tensors_natural"]:
            L.append("* 1-element activations: %s (natural)." % ", ".join(f["one_element_tensors_natural"]))
        else:
            e = f["extra_scalar"]
            L.append("* No activation has 1 element. Added to both npz (not to the tables or the scale-less count): "
                     "the real constant `%s` (the `+3` of hardswish Add `%s`, shape %s, value %r) as `%s` in "
                     "`float.npz`, and ORT's quantized version of it as `%s` in `quant.npz` (value %r, scale %r, "
                     "%s); identical: %s. Its scale is in `scales.json` too." % (
                         e["float_name"], e["consumer"], e["shape"], e["float_value"], e["float_name"],
                         e["quant_name"], e["quant_value"], e["scale"], e["dtype"], e["identical"]))
    L.append("\n## `ppocr_cls_qdq_int8.onnx` (+ `.scales.json`)\n")
    L.append("The classifier (`%s`), Constant nodes -> initializers, input fixed to 1x3x%dx%d, opset 11 -> 13 in place, "
             "quantized by `quantize_static`: QDQ, activations and weights QInt8, symmetric, weights per channel, "
             "MinMax over %d synthetic crops (the same generator, 48x192). %d activation QuantizeLinear nodes, %d "
             "weight DequantizeLinear nodes (%d per channel). `ppocr_cls_qdq_int8.scales.json` was written by reading "
             "the saved model back with the `onnx` package: `scales` = {float tensor name: scale}, `activations` = "
             "{name: scale, zero_point, dtype, node and initializer names}, `weights` = {float weight name: scale(s), "
             "zero point(s), dtype, axis}." % (
                 CLS, CLS_H, CLS_W, N_CALIB, cls_doc["counts"]["activations"], cls_doc["counts"]["weights"],
                 cls_doc["counts"]["per_channel_weights"]))
    L.append("\n## `expected.json`\n")
    L.append("Per run: paired activations, top-5 sensitive ops (with L1), rows that clip and which of them are "
             "hardswish Adds directly followed by Clip(0,6), cosine/SQNR/MSE for %s recomputed in float64 from the "
             "npz arrays (not from the table), the natural identical/1-element tensors, the added scalar, and the "
             "whole QDQ model's output L1." % ", ".join("`%s`" % t for t in NAMED))
    L.append("\nDeterminism: fixed seeds, one ORT thread, fixed zip timestamps; two runs give the same bytes on one "
             "machine. Another CPU or ORT build may round differently; `--check` then reports which arrays differ.")
    with open(os.path.join(out_root, "PROVENANCE.md"), "w") as f:
        f.write("\n".join(L) + "\n")


def same_npz(a, b):
    with np.load(a) as x, np.load(b) as y:
        if list(x.keys()) != list(y.keys()):
            return False
        return all(x[k].dtype == y[k].dtype and x[k].shape == y[k].shape and np.array_equal(x[k], y[k], equal_nan=True)
                   for k in x.keys())


def same_onnx(a, b):
    ma, mb = onnx.load(a), onnx.load(b)
    if [(n.op_type, n.name, list(n.input), list(n.output)) for n in ma.graph.node] != \
       [(n.op_type, n.name, list(n.input), list(n.output)) for n in mb.graph.node]:
        return False
    ia = {i.name: numpy_helper.to_array(i) for i in ma.graph.initializer}
    ib = {i.name: numpy_helper.to_array(i) for i in mb.graph.initializer}
    return ia.keys() == ib.keys() and all(ia[k].dtype == ib[k].dtype and np.array_equal(ia[k], ib[k]) for k in ia)


# --check on another CPU: the activations (npz), models and scales are exact on every machine tried, but
# two kinds of derived numbers are not. (1) numpy's float64 sums (MSE and the like in the comparison
# tables) may differ in the last ulp where the SIMD width differs; (2) the single-op sensitivity is the
# L1 of the model output computed by ORT, whose kernels round differently by CPU (AVX-512 vs AVX2):
# seen 2026-12-03 on an AMD EPYC against the fixtures made on another CPU, L1 values 3e-5 apart
# relative for the largest and up to 7e-3 for the smallest (1e-8, four orders below the largest),
# which moves the ranks of near-equal rows. So these files are compared number by number within
# stated tolerances (the sensitivity as rows by name, its order and ranks not compared); every
# other file must be equal.
NUM_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
TIGHT_RTOL = 1e-9              # numpy float64 reductions on another CPU
SENS_RTOL, SENS_ATOL_OF_MAX = 1e-2, 1e-4   # ORT output L1: relative, and absolute as a fraction of the run's largest


def last_digit(tok):
    """One unit in the last printed digit of a number token (a 6-significant-digit table value may round the other way)."""
    m = NUM_RE.match(tok)
    mant, exp = m.group(1), int(m.group(2)[1:]) if m.group(2) else 0
    decimals = len(mant.split(".")[1]) if "." in mant else 0
    return 10.0 ** (exp - decimals)


def close(x, y, rtol, atol):
    if not any(c in x + y for c in ".eE"):
        return x == y  # counts are exact
    fx, fy = float(x), float(y)
    return abs(fx - fy) <= max(rtol * max(abs(fx), abs(fy)), 1.01 * max(last_digit(x), last_digit(y))) + atol


def tokens_close(la, lb, rtol, atol):
    ta, tb = la.replace(",", " , ").replace("|", " | ").split(), lb.replace(",", " , ").replace("|", " | ").split()
    if len(ta) != len(tb):
        return False
    for x, y in zip(ta, tb):
        if x == y:
            continue
        if not (NUM_RE.match(x) and NUM_RE.match(y) and close(x, y, rtol, atol)):
            return False
    return True


def sensitivity_close(a, b):
    """A sensitive-ops table: the same rows by name (any order), each L1 within the tolerance."""
    def rows(text):
        out = {}
        for line in text.splitlines()[2:]:
            t = line.split()
            if len(t) >= 5 and NUM_RE.match(t[3]):
                out[t[0]] = (t[1], t[2], t[4], t[3])
        return out
    ra, rb = rows(a), rows(b)
    if not ra or ra.keys() != rb.keys():
        return False
    atol = SENS_ATOL_OF_MAX * max(float(v[3]) for v in ra.values())
    return all(ra[k][:3] == rb[k][:3] and close(ra[k][3], rb[k][3], SENS_RTOL, atol) for k in ra)


SENS_KEYS = ("sensitivity_l1", "top5_sensitive_l1", "full_qdq_model_output_l1", "output_l1_vs_float_on_calibration_input_0")


def json_close(a, b, atol, key=""):
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() != b.keys():
            return False
        return all(json_close(a[k], b[k], atol, k) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_close(x, y, atol, key) for x, y in zip(a, b))
    if key == "sensitivity_rank":
        return isinstance(b, int)
    if isinstance(a, float) and isinstance(b, float):
        if key in SENS_KEYS:
            return abs(a - b) <= SENS_RTOL * max(abs(a), abs(b)) + atol
        return abs(a - b) <= TIGHT_RTOL * max(abs(a), abs(b))
    return a == b


def close_enough(rel, a, b):
    """Whether a file that differs in bytes is equal within the tolerances above (see the comment)."""
    try:
        ta, tb = open(a, encoding="utf-8").read(), open(b, encoding="utf-8").read()
    except (UnicodeDecodeError, OSError):
        return False
    if rel.endswith("_sensitive_ops.txt"):
        return sensitivity_close(ta, tb)
    if rel == "expected.json":
        ja, jb = json.loads(ta), json.loads(tb)
        # Top-5 names: the same, or swapped only where their L1 values are within the tolerance.
        ok = True
        for run in ja.get("runs", {}):
            na, nb = ja["runs"][run]["top5_sensitive"], jb["runs"][run]["top5_sensitive"]
            la = ja["runs"][run]["top5_sensitive_l1"]
            atol = SENS_ATOL_OF_MAX * max(la)
            ok &= all(x == y or abs(la[i] - la[min(i + 1, 4)]) <= atol or abs(la[i] - la[max(i - 1, 0)]) <= atol
                      for i, (x, y) in enumerate(zip(na, nb)))
            ja["runs"][run]["top5_sensitive"] = jb["runs"][run]["top5_sensitive"]
        atol = SENS_ATOL_OF_MAX * max(max(r["top5_sensitive_l1"]) for r in ja["runs"].values())
        return ok and json_close(ja, jb, atol)
    la, lb = ta.splitlines(), tb.splitlines()
    if len(la) != len(lb):
        return False
    if rel.endswith(".csv") or rel.endswith(".txt"):
        return all(x == y or tokens_close(x, y, TIGHT_RTOL, 0.0) for x, y in zip(la, lb))
    if rel == "PROVENANCE.md":
        # The clip tables' "sensitivity rank" cell follows the order of near-equal L1 values: not compared. The
        # summary's whole-model L1 is compared within SENS_RTOL, everything else within the printed digits.
        rank, ok = None, True
        for x, y in zip(la, lb):
            cx, cy = x.split("|"), y.split("|")
            if "sensitivity rank" in x:
                rank = next(i for i, c in enumerate(cx) if "sensitivity rank" in c)
            elif not x.startswith("|"):
                rank = None
            ok &= len(cx) == len(cy) and all(
                p == q or i == rank or tokens_close(p, q, SENS_RTOL, 0.0) for i, (p, q) in enumerate(zip(cx, cy)))
        return ok
    return False


def check():
    tmp = tempfile.mkdtemp(prefix="quantlens_real_check_")
    try:
        generate(tmp)
        bad = []
        files = set()
        for base in (OUT, tmp):
            for d, _, fs in os.walk(base):
                for f in fs:
                    files.add(os.path.relpath(os.path.join(d, f), base))
        for rel in sorted(files):
            a, b = os.path.join(OUT, rel), os.path.join(tmp, rel)
            if not (os.path.exists(a) and os.path.exists(b)):
                bad.append(rel + " (missing on one side)")
                continue
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if fa.read() == fb.read():
                    continue
            if rel.endswith(".npz") and same_npz(a, b) or rel.endswith(".onnx") and same_onnx(a, b):
                print("bytes differ but content is equal:", rel)
                continue
            if close_enough(rel, a, b):
                print("bytes differ, numbers within the stated tolerance (another CPU):", rel)
                continue
            bad.append(rel)
        if bad:
            print("DIFFERENT:", *bad, sep="\n  ")
            return 1
        print("all %d files match" % len(files))
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="regenerate into a temp dir; exit 1 if a committed file differs")
    ap.add_argument("--out", default=OUT, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.check:
        sys.exit(check())
    generate(args.out)
    for d, _, fs in sorted(os.walk(args.out)):
        for f in sorted(fs):
            p = os.path.join(d, f)
            print("%9d  %s" % (os.path.getsize(p), os.path.relpath(p, ROOT)))


if __name__ == "__main__":
    main()
