#!/usr/bin/env python3
"""Which activations of a QDQ model only a Clip reads after their quantization (ScaleEntry::clamp_after in
src/engine/scales.rs; tests/scales.rs `clamps_*`), worked out with the `onnx` Python package as an
independent reference.

An activation X counts when X's only reader is a QuantizeLinear, that node's output is read only by
DequantizeLinear nodes, each of their outputs is read only by Clip or Relu nodes (no graph output among
them), all those have the same bounds (a Relu: a min of 0, no max), and each bound is a constant
(initializers or Constant nodes, or the min/max attributes before opset 11) or absent, not both absent. The
names it is known by are X, the QuantizeLinear output and the DequantizeLinear outputs; the value is
[min, max], a bound that is absent (or at or past the float32 range's end) written as +-1.7976931348623157e308
(f64::MAX, QuantLens's NO_BOUND).

1. A real QDQ model: PP-OCR's text-direction classifier (ch_ppocr_mobile_v2.0_cls_infer.onnx, from the
   PyPI package rapidocr-onnxruntime) raised to opset 13 by scripts/gen_real_runs.py's `prepare` (which
   makes its hardswish an Add -> Clip(0, 6) with the bounds as initializers) and quantized by ONNX
   Runtime's `quantize_static` (QDQ, QInt8 symmetric activations, MinMax over 4 seeded synthetic
   1x3x48x192 text crops): -> tests/fixtures/scales/ppocr_cls_qdq_int8_opset13.onnx. (The opset-11
   model of scripts/gen_scale_fixtures.py has no Clip: none of its activations counts.)
2. tests/fixtures/scales/clamp_cases.onnx, hand-made with onnx.helper: one activation that counts (Clip
   bounds as initializers), one whose bounds are a Constant node, and ones that must not count: the
   DequantizeLinear output also read by another node, two Clips with different bounds, X also read by
   another node, the DequantizeLinear output a graph output, a Clip whose max is a graph input (not a
   constant), a Clip without bounds; and ones that count with a bound absent: a Clip without a max, a
   Relu, two DequantizeLinear outputs each read by a Relu, a Clip whose max is +inf.
-> tests/fixtures/scales/clamps.json

Run from the repository root:
    python3 scripts/gen_clamp_fixtures.py           # (re)write the fixtures
    python3 scripts/gen_clamp_fixtures.py --check   # fail if a committed fixture differs
"""
import json
import os
import sys

import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "tests", "fixtures", "scales")


def constants(g):
    out = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    out[n.output[0]] = numpy_helper.to_array(a.t)
                elif a.name == "value_float":
                    out[n.output[0]] = np.array(a.f, dtype=np.float32)
    return out


NO_BOUND = sys.float_info.max
F32MAX = float(np.finfo(np.float32).max)


def clamps(model):
    g = model.graph
    readers = {}
    for n in g.node:
        for i in n.input:
            if i:
                readers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    const = constants(g)

    def bound(clip, k, attr, none):
        if clip.op_type == "Relu":
            return 0.0 if k == 1 else none
        if clip.input and len(clip.input) > k and clip.input[k]:
            v = const.get(clip.input[k])
            return float(v.reshape(-1)[0]) if v is not None and v.size == 1 else None
        for a in clip.attribute:
            if a.name == attr:
                return float(np.float32(a.f))
        return none

    def key(c):
        if c.op_type == "Relu":
            return ((), (("min", 0.0),))
        return (tuple(i for i in c.input[1:]), tuple((a.name, a.f) for a in c.attribute))

    out = {}
    for q in g.node:
        if q.op_type != "QuantizeLinear":
            continue
        x, qo = q.input[0], q.output[0]
        if len(readers.get(x, [])) != 1 or x in outputs or qo in outputs:
            continue
        dqs = readers.get(qo, [])
        if not dqs or any(d.op_type != "DequantizeLinear" for d in dqs):
            continue
        clips, ok = [], True
        for d in dqs:
            r = readers.get(d.output[0], [])
            if not r or d.output[0] in outputs or any(c.op_type not in ("Clip", "Relu") for c in r):
                ok = False
            clips += r
        if not ok:
            continue
        keys = {key(c) for c in clips}
        if len(keys) != 1:
            continue
        lo, hi = bound(clips[0], 1, "min", -NO_BOUND), bound(clips[0], 2, "max", NO_BOUND)
        if lo is None or hi is None:
            continue
        lo = -NO_BOUND if lo <= -F32MAX else lo
        hi = NO_BOUND if hi >= F32MAX else hi
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi or (lo == -NO_BOUND and hi == NO_BOUND):
            continue
        for n in [x, qo] + [d.output[0] for d in dqs]:
            out[n] = [lo, hi]
    return dict(sorted(out.items()))


def cases():
    f = TensorProto.FLOAT
    s = numpy_helper.from_array(np.array(0.05, dtype=np.float32), "s")
    z = numpy_helper.from_array(np.array(0, dtype=np.int8), "z")
    lo = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo")
    hi = numpy_helper.from_array(np.array(6.0, dtype=np.float32), "hi")
    hi3 = numpy_helper.from_array(np.array(3.0, dtype=np.float32), "hi3")
    nodes, outs = [], []

    def qdq(x):
        nodes.append(helper.make_node("QuantizeLinear", [x, "s", "z"], [x + "_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [x + "_q", "s", "z"], [x + "_dq"]))
        return x + "_dq"

    def add(name):
        nodes.append(helper.make_node("Add", ["in", "in"], [name]))
        return name

    def clip(x, out, lo_name="lo", hi_name="hi"):
        nodes.append(helper.make_node("Clip", [x, lo_name, hi_name], [out]))
        outs.append(out)

    # counts: bounds as initializers
    clip(qdq(add("good")), "good_clip")
    # counts: bounds from Constant nodes
    nodes.append(helper.make_node("Constant", [], ["c_lo"], value=numpy_helper.from_array(np.array(-1.0, dtype=np.float32))))
    nodes.append(helper.make_node("Constant", [], ["c_hi"], value_float=1.0))
    clip(qdq(add("const_bounds")), "const_bounds_clip", "c_lo", "c_hi")
    # no: the DequantizeLinear output is also read by a Relu
    d = qdq(add("also_relu"))
    clip(d, "also_relu_clip")
    nodes.append(helper.make_node("Relu", [d], ["also_relu_relu"]))
    outs.append("also_relu_relu")
    # no: two DequantizeLinear outputs, Clips with different bounds
    add("two_clips")
    nodes.append(helper.make_node("QuantizeLinear", ["two_clips", "s", "z"], ["two_clips_q"]))
    for k, h in (("a", "hi"), ("b", "hi3")):
        nodes.append(helper.make_node("DequantizeLinear", ["two_clips_q", "s", "z"], ["two_clips_dq_" + k]))
        clip("two_clips_dq_" + k, "two_clips_clip_" + k, "lo", h)
    # no: X also read by another node
    x = add("x_shared")
    clip(qdq(x), "x_shared_clip")
    nodes.append(helper.make_node("Neg", [x], ["x_shared_neg"]))
    outs.append("x_shared_neg")
    # no: the DequantizeLinear output is a graph output
    d = qdq(add("dq_output"))
    clip(d, "dq_output_clip")
    outs.append(d)
    # counts, [0, no max]: a Clip without a max
    nodes.append(helper.make_node("Clip", [qdq(add("no_max")), "lo"], ["no_max_clip"]))
    outs.append("no_max_clip")
    # counts, [0, no max]: a Relu
    nodes.append(helper.make_node("Relu", [qdq(add("relu_only"))], ["relu_only_relu"]))
    outs.append("relu_only_relu")
    # counts: two DequantizeLinear outputs, each read by a Relu
    add("two_relus")
    nodes.append(helper.make_node("QuantizeLinear", ["two_relus", "s", "z"], ["two_relus_q"]))
    for k in "ab":
        nodes.append(helper.make_node("DequantizeLinear", ["two_relus_q", "s", "z"], ["two_relus_dq_" + k]))
        nodes.append(helper.make_node("Relu", ["two_relus_dq_" + k], ["two_relus_relu_" + k]))
        outs.append("two_relus_relu_" + k)
    # no: one Relu and one Clip(0, 6) read the two DequantizeLinear outputs
    add("relu_and_clip")
    nodes.append(helper.make_node("QuantizeLinear", ["relu_and_clip", "s", "z"], ["relu_and_clip_q"]))
    nodes.append(helper.make_node("DequantizeLinear", ["relu_and_clip_q", "s", "z"], ["relu_and_clip_dq_a"]))
    nodes.append(helper.make_node("DequantizeLinear", ["relu_and_clip_q", "s", "z"], ["relu_and_clip_dq_b"]))
    nodes.append(helper.make_node("Relu", ["relu_and_clip_dq_a"], ["relu_and_clip_relu"]))
    outs.append("relu_and_clip_relu")
    clip("relu_and_clip_dq_b", "relu_and_clip_clip")
    # counts, [-1, no max]: a Clip whose max is +inf
    clip(qdq(add("inf_max")), "inf_max_clip", "c_lo", "inf")
    # no: a Clip without bounds
    nodes.append(helper.make_node("Clip", [qdq(add("no_bounds"))], ["no_bounds_clip"]))
    outs.append("no_bounds_clip")
    # no: the max is a graph input
    clip(qdq(add("input_max")), "input_max_clip", "lo", "in_max")
    g = helper.make_graph(
        nodes, "clamp_cases",
        [helper.make_tensor_value_info("in", f, [4]), helper.make_tensor_value_info("in_max", f, [])],
        [helper.make_tensor_value_info(o, f, [4]) for o in outs],
        [s, z, lo, hi, hi3, numpy_helper.from_array(np.array(np.inf, dtype=np.float32), "inf")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="gen_clamp_fixtures.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def real_model(tmp):
    import gen_real_runs as G
    from onnxruntime.quantization import CalibrationMethod, QuantType
    rng = np.random.default_rng(7)
    h, w = 48, 192
    g = G.prepare(os.path.join(G.models_dir(), G.CLS), (1, 3, h, w), 13)
    fp = os.path.join(tmp, "cls_float.onnx")
    onnx.save(g, fp)
    calib = [G.image(rng, h=h, w=w, src=(h, w)) for _ in range(4)]
    qp = os.path.join(tmp, "cls_qdq.onnx")
    G.quantize(fp, qp, g.graph.input[0].name, calib, QuantType.QInt8, CalibrationMethod.MinMax, {})
    return open(qp, "rb").read()


def main():
    check = "--check" in sys.argv
    model = cases()
    path = os.path.join(DIR, "clamp_cases.onnx")
    data = model.SerializeToString()
    real_path = os.path.join(DIR, "ppocr_cls_qdq_int8_opset13.onnx")
    with tempfile.TemporaryDirectory() as tmp:
        real = real_model(tmp)
    want = {
        "ppocr_cls_qdq_int8.onnx": clamps(onnx.load(os.path.join(DIR, "ppocr_cls_qdq_int8.onnx"))),
        "ppocr_cls_qdq_int8_opset13.onnx": clamps(onnx.load_from_string(real)),
        "clamp_cases.onnx": clamps(model),
    }
    text = json.dumps(want, indent=1, sort_keys=True) + "\n"
    out = os.path.join(DIR, "clamps.json")
    if check:
        bad = [p for p, b in ((path, data), (real_path, real), (out, text.encode()))
               if not os.path.exists(p) or open(p, "rb").read() != b]
        if bad:
            sys.exit("differs: " + ", ".join(bad))
        print("clamp fixtures match")
        return
    open(path, "wb").write(data)
    open(real_path, "wb").write(real)
    open(out, "w").write(text)
    print({k: len(v) for k, v in want.items()})


if __name__ == "__main__":
    main()
