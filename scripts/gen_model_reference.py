#!/usr/bin/env python3
"""Reference for the model runner (`quantlens simulate` / `sensitivity`, engine::model), computed with
ONNX Runtime on a real model, independently of QuantLens.

The model is PP-OCR's text-direction classifier shipped by rapidocr-onnxruntime
(`ch_ppocr_mobile_v2.0_cls_infer.onnx`, copied to tests/fixtures/model/ppocr_cls.onnx). Two synthetic
text-crop inputs (PP-OCR normalisation) are the samples. For every float activation of the graph (each
node output, and the input; not weights: Constant nodes, initializers and what is computed from them
alone):
- the min-max int8 scale over both samples, amax / 127.5 (QuantLens's symmetric scale);
- true single-tensor sensitivity: the same fake quantization inserted into the ONNX graph after that
  tensor alone (Mul by the float32 inverse of the scale as PyTorch's fake_quantize does, Round (half to
  even), Clip [-128, 127], Mul), everything else float; L1, Cosine
  and SQNR of the model output against the float output, over both samples together (§3.4);
- weights (the constant operand of Conv (axis 0), ConvTranspose (axis 1) and MatMul (last axis)):
  fake-quantized per output channel, int8, symmetric (amax_c / 127.5, round half to even, clip
  [-128, 127]) in numpy, and set as the op's operand; the "weight" sensitivity rows quantize one op's
  weight alone, as Horizon's QuantAnalysis does (`sensitive_type="weight"`);
- the all-int8 simulation: fake quantization after every tensor and of every weight at once; each
  tensor's Cosine and L1 against its float value.
Also a tiny model with a custom-domain op the runner cannot run (`unsupported_op.onnx`, with
`unsupported_x.npz`). Writes tests/fixtures/model/{ppocr_cls.onnx, cls_sample0.npz, cls_sample1.npz,
expected.json, unsupported_op.onnx, unsupported_x.npz};
`--check` regenerates into a temporary folder and compares: the models and samples exactly, the
JSON references within 1% (relative) of each number. ONNX Runtime's kernels round differently by
CPU: on an AMD EPYC (2026-12-03) against references made on another CPU, 0.55% at most (the all-int8
simulation's Cosine of 0.104 at the recognizer's last conv, where rounding flips add up), 0.2% for
the smallest sensitivities (3.6e-7), 6e-6 for a scale; the tests that read them compare QuantLens
within wider bounds.
"""
import hashlib
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DEFAULT = os.path.join(ROOT, "tests", "fixtures", "model")
OUT = fixture_check.out_dir(DEFAULT)


def reference(model_path, samples, ort, onnx, TensorProto, helper, numpy_helper):
    """Every number the Rust test checks, for one model and its samples (see the module doc)."""
    base = onnx.load(model_path)
    inp = base.graph.input[0].name
    out_name = base.graph.output[0].name
    inits = {t.name for t in base.graph.initializer}
    # Every float tensor a node writes (and the input), in graph order; shapes by inference.
    inferred = onnx.shape_inference.infer_shapes(base)
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    tensors = [inp]
    # Weights are not activations: Constant nodes, initializers, and whatever is computed from
    # them alone (a Reshape of a Constant).
    const = set(inits)
    for n in base.graph.node:
        if n.op_type == "Constant" or (n.input and all(i in const or not i for i in n.input)):
            const.update(n.output)
    for n in base.graph.node:
        if n.output[0] in const:
            continue
        for o in n.output:
            if o and o not in inits and types.get(o) == TensorProto.FLOAT and o not in tensors:
                tensors.append(o)

    # Weights: constant operands (Constant nodes or initializers) of Conv, ConvTranspose, MatMul.
    const_val = {t.name: numpy_helper.to_array(t) for t in base.graph.initializer}
    for n in base.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    const_val[n.output[0]] = numpy_helper.to_array(a.t)
    weights = {}  # output tensor -> (node index, slot, quantized weight, axis)

    def fq_weight(w, axis):
        w = w.astype(np.float32)
        moved = np.moveaxis(w, axis, 0)
        amax = np.abs(moved.reshape(moved.shape[0], -1)).max(axis=1)
        s = np.maximum(amax / 127.5, np.finfo(np.float32).eps).astype(np.float32)
        shape = [1] * w.ndim
        shape[axis] = -1
        s = s.reshape(shape)
        return (np.round(w * (np.float32(1.0) / s)).clip(-128, 127) * s).astype(np.float32)

    for k, n in enumerate(base.graph.node):
        axis = {"Conv": 0, "ConvTranspose": 1}.get(n.op_type)
        if n.op_type == "MatMul" and len(n.input) > 1 and n.input[1] in const_val:
            axis = const_val[n.input[1]].ndim - 1
        if axis is None or len(n.input) < 2 or n.input[1] not in const_val:
            continue
        w = const_val[n.input[1]]
        if w.dtype != np.float32 or w.ndim < 2:
            continue
        weights[n.output[0]] = (k, 1, fq_weight(w, axis), axis)

    def set_weight(m, t, k):
        """The op writing `t` reads its fake-quantized weight (a new initializer)."""
        idx, slot, q, _ = weights[t]
        name = f"{t}__wq{k}"
        m.graph.initializer.append(numpy_helper.from_array(q, name))
        m.graph.node[idx].input[slot] = name

    def session(m):
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])

    def with_outputs(m, names):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        have = {o.name for o in m.graph.output}
        for n in names:
            if n not in have:
                m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
        return m

    def insert_fq(m, name, scale, k):
        """Mul(1/s)/Round/Clip/Mul(s) after tensor `name` (PyTorch's fake_quantize multiplies by the
        float32 inverse of the scale, as QuantLens does); its consumers read the fake-quantized value."""
        fq = f"{name}__fq{k}"
        s = numpy_helper.from_array(np.array(scale, dtype=np.float32), f"{fq}_s")
        inv = numpy_helper.from_array(np.float32(1.0) / np.array(scale, dtype=np.float32), f"{fq}_inv")
        lo = numpy_helper.from_array(np.array(-128.0, dtype=np.float32), f"{fq}_lo")
        hi = numpy_helper.from_array(np.array(127.0, dtype=np.float32), f"{fq}_hi")
        m.graph.initializer.extend([s, inv, lo, hi])
        for node in m.graph.node:
            for i, x in enumerate(node.input):
                if x == name:
                    node.input[i] = fq
        nodes = [
            helper.make_node("Mul", [name, f"{fq}_inv"], [f"{fq}_d"]),
            helper.make_node("Round", [f"{fq}_d"], [f"{fq}_r"]),
            helper.make_node("Clip", [f"{fq}_r", f"{fq}_lo", f"{fq}_hi"], [f"{fq}_c"]),
            helper.make_node("Mul", [f"{fq}_c", f"{fq}_s"], [fq]),
        ]
        # Keep the graph topologically sorted: the FQ nodes go right after the producer.
        pos = 0
        for i, node in enumerate(m.graph.node):
            if name in node.output:
                pos = i + 1
        for j, nd in enumerate(nodes):
            m.graph.node.insert(pos + j, nd)
        for o in m.graph.output:
            if o.name == name:
                o.name = fq
        return fq

    # Float values of every tensor.
    full = session(with_outputs(base, tensors))
    names = [o.name for o in full.get_outputs()]
    floats = [dict(zip(names, full.run(None, {inp: s}))) for s in samples]
    for f, s in zip(floats, samples):
        f[inp] = s
    amax = {t: max(float(np.max(np.abs(f[t]))) for f in floats) for t in tensors}
    scale = {t: max(amax[t] / 127.5, float(np.finfo(np.float32).eps)) for t in tensors}

    def fq_np(x, scale):
        s32 = np.float32(scale)
        return (np.round(x * (np.float32(1.0) / s32)).clip(-128, 127) * s32).astype(np.float32)

    def metrics(b, a):
        b = np.concatenate([x.ravel() for x in b]).astype(np.float64)
        a = np.concatenate([x.ravel() for x in a]).astype(np.float64)
        nb, na = np.linalg.norm(b), np.linalg.norm(a)
        cos = float(np.dot(b, a) / max(nb * na, 1e-8)) if nb > 0 and na > 0 else 0.0
        err = np.linalg.norm(b - a)
        sqnr = float("inf") if err == 0 else float(20 * np.log10(nb / err))
        return {"L1": float(np.mean(np.abs(b - a))), "Cosine": cos, "SQNR": sqnr}

    # Sensitivity: one tensor at a time.
    sens = {}
    for k, t in enumerate(tensors):
        m = onnx.ModelProto()
        m.CopyFrom(base)
        if t == inp:
            outs = [session(m).run(None, {inp: fq_np(s, scale[t])})[0] for s in samples]
        else:
            insert_fq(m, t, scale[t], k)
            sess = session(m)
            outs = [sess.run(None, {inp: s})[0] for s in samples]
        sens[t] = metrics([f[out_name] for f in floats], outs)
    sens_w = {}
    for k, t in enumerate(tensors):
        if t not in weights:
            continue
        m = onnx.ModelProto()
        m.CopyFrom(base)
        set_weight(m, t, k)
        sess = session(m)
        outs = [sess.run(None, {inp: s})[0] for s in samples]
        sens_w[t] = metrics([f[out_name] for f in floats], outs)

    # All-int8 simulation: every tensor fake-quantized at once.
    m = onnx.ModelProto()
    m.CopyFrom(base)
    # Weights first (node indices are those of the base graph), then the activations' fake quant.
    for k, t in enumerate(tensors):
        if t in weights:
            set_weight(m, t, k)
    fq_of = {}
    for k, t in enumerate(tensors):
        if t != inp:
            fq_of[t] = insert_fq(m, t, scale[t], k)
    m2 = onnx.ModelProto()
    m2.CopyFrom(m)
    have = {o.name for o in m2.graph.output}
    for t in tensors:
        if t != inp and fq_of[t] not in have:
            m2.graph.output.append(helper.make_tensor_value_info(fq_of[t], TensorProto.FLOAT, None))
    sess = session(m2)
    onames = [o.name for o in sess.get_outputs()]
    sim = {}
    qruns = []
    for s in samples:
        qin = fq_np(s, scale[inp])
        qruns.append(dict(zip(onames, sess.run(None, {inp: qin}))))
        qruns[-1][inp] = qin
    for t in tensors:
        key = inp if t == inp else fq_of[t]
        r = metrics([f[t] for f in floats], [q[key] for q in qruns])
        sim[t] = {"Cosine": r["Cosine"], "L1": r["L1"]}

    expected = {
        "provenance": "scripts/gen_model_reference.py: onnxruntime %s, onnx %s, ORT graph optimizations off" % (ort.__version__, onnx.__version__),
        "input": inp,
        "output": out_name,
        "tensors": tensors,
        "scales": scale,
        "sensitivity": sens,
        "sensitivity_weight": sens_w,
        "weight_axis": {t: w[3] for t, w in weights.items()},
        "simulate": sim,
    }
    def finite(v):
        # Non-finite numbers as the strings QuantLens reads ("inf", "nan"); JSON has no literal.
        if isinstance(v, dict):
            return {k: finite(x) for k, x in v.items()}
        if isinstance(v, list):
            return [finite(x) for x in v]
        if isinstance(v, float) and not np.isfinite(v):
            return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        return v

    return finite(expected)


def main():
    import onnx
    import onnxruntime as ort
    import rapidocr_onnxruntime
    from onnx import TensorProto, helper, numpy_helper

    src = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    model_path = os.path.join(OUT, "ppocr_cls.onnx")
    shutil.copyfile(src, model_path)
    rng = np.random.default_rng(20261201)

    def image():
        img = np.full((48, 192), 230.0)
        for _ in range(14):
            x, y = rng.integers(4, 180), rng.integers(8, 36)
            img[y:y + rng.integers(4, 14), x:x + rng.integers(2, 10)] = rng.uniform(10, 80)
        img += rng.normal(0, 6, img.shape)
        x = np.clip(img, 0, 255) / 255.0
        x = (x - 0.5) / 0.5
        return np.repeat(x[None, None], 3, axis=1).astype(np.float32)

    samples = [image(), image()]
    for i, s in enumerate(samples):
        np.savez(os.path.join(OUT, f"cls_sample{i}.npz"), x=s)

    expected = reference(model_path, samples, ort, onnx, TensorProto, helper, numpy_helper)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)

    # The recognizer (PP-OCRv4 rec, 10.8 MB): not copied; the test reads it from the installed
    # package and checks its SHA-256 against the one recorded here.
    rec_src = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_PP-OCRv4_rec_infer.onnx")

    def line():
        img = np.full((48, 320), 225.0)
        for _ in range(26):
            x, y = rng.integers(4, 310), rng.integers(8, 36)
            img[y:y + rng.integers(4, 16), x:x + rng.integers(2, 8)] = rng.uniform(10, 90)
        img += rng.normal(0, 6, img.shape)
        x = (np.clip(img, 0, 255) / 255.0 - 0.5) / 0.5
        return np.repeat(x[None, None], 3, axis=1).astype(np.float32)

    rec_samples = [line(), line()]
    for i, s in enumerate(rec_samples):
        np.savez(os.path.join(OUT, f"rec_sample{i}.npz"), x=s)
    rec = reference(rec_src, rec_samples, ort, onnx, TensorProto, helper, numpy_helper)
    with open(rec_src, "rb") as f:
        rec["model_sha256"] = hashlib.sha256(f.read()).hexdigest()
    rec["model"] = "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx (rapidocr-onnxruntime 1.4.4)"
    with open(os.path.join(OUT, "expected_rec.json"), "w") as f:
        json.dump(rec, f, indent=1, sort_keys=True)
    # A model the runner cannot run: a custom-domain op (its message must name the op and node).
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    yo = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"]),
                           helper.make_node("GridWarpMagic", ["r"], ["y"], domain="com.example.custom")],
                          "unsupported", [xi], [yo])
    um = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example.custom", 1)],
                           producer_name="gen_model_reference.py")
    um.ir_version = 8
    with open(os.path.join(OUT, "unsupported_op.onnx"), "wb") as f:
        f.write(um.SerializeToString())
    np.savez(os.path.join(OUT, "unsupported_x.npz"), x=np.linspace(-1, 1, 4, dtype=np.float32).reshape(1, 4))
    for e in (expected, rec):
        print(f"{len(e['tensors'])} tensors, {len(e['weight_axis'])} weights; output {e['output']}")
    fixture_check.finish(DEFAULT, json_rtol=1e-2)


if __name__ == "__main__":
    main()
