#!/usr/bin/env python3
"""How much is a *local* error ranking worth? Measured on a real model.

For every activation of PP-OCR's text-direction classifier (rapidocr-onnxruntime's
ch_ppocr_mobile_v2.0_cls_infer.onnx), with ONNX Runtime:
* local error: the activation's own int8 quantization error (symmetric min-max scale from the
  tensor's max |x|, round half to even) — what QuantLens ranks from dumps (clip + round);
* true single-op sensitivity: the model is run with only that activation fake-quantized
  (Div/Round/Clip/Mul inserted after it), and the L1 distance of the model output from the float
  output is measured — Horizon's `sensitivity` definition (one op quantized, output L1).
Prints the Spearman rank correlation and writes docs/local_vs_sensitivity.json.
"""
import json
import os
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import rapidocr_onnxruntime
from onnx import helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
model_path = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
g = onnx.load(model_path)
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
g.graph.node.extend(keep)
inp = g.graph.input[0].name
rng = np.random.default_rng(11)


def image():
    img = np.full((48, 192), 230.0)
    for _ in range(14):
        x, y = rng.integers(4, 180), rng.integers(8, 36)
        img[y:y + rng.integers(4, 14), x:x + rng.integers(2, 10)] = rng.uniform(10, 80)
    img += rng.normal(0, 6, img.shape)
    x = (np.clip(img, 0, 255) / 255.0 - 0.5) / 0.5
    return np.repeat(x[None, None], 3, axis=1).astype(np.float32)


inputs = [image() for _ in range(4)]
acts = [n.output[0] for n in g.graph.node if n.op_type not in ("Shape", "Reshape", "Cast", "Slice", "Concat", "Constant", "Identity", "Softmax")]
# One run with every activation as an output gives the float values.
aug = onnx.ModelProto()
aug.CopyFrom(g)
known = {o.name for o in aug.graph.output}
for a in acts:
    if a not in known:
        aug.graph.output.append(helper.make_tensor_value_info(a, onnx.TensorProto.FLOAT, None))
tmp = tempfile.mkdtemp()
p = os.path.join(tmp, "aug.onnx")
onnx.save(aug, p)
sess = ort.InferenceSession(p, providers=["CPUExecutionProvider"])
names = [o.name for o in sess.get_outputs()]
float_runs = [dict(zip(names, sess.run(None, {inp: x}))) for x in inputs]
out_name = g.graph.output[0].name
base_sess = ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"])
base_out = [base_sess.run(None, {inp: x})[0] for x in inputs]


def fq(x, s):
    return np.clip(np.rint(x / np.float32(s)), -128, 127) * np.float32(s)


rows = []
for a in acts:
    vals = [r[a] for r in float_runs if a in r]
    if not vals or vals[0].dtype != np.float32 or vals[0].size < 2:
        continue
    amax = max(float(np.abs(v).max()) for v in vals)
    if amax == 0:
        continue
    s = amax / 127.5
    local = float(np.mean([np.mean((fq(v, s) - v) ** 2) for v in vals]))
    local_rel = float(np.mean([np.sum((fq(v, s) - v) ** 2) / max(np.sum(v.astype(np.float64) ** 2), 1e-30) for v in vals]))
    # Insert fake quant after `a`: consumers read a_fq instead.
    m = onnx.ModelProto()
    m.CopyFrom(g)
    for node in m.graph.node:
        for i, x in enumerate(node.input):
            if x == a:
                node.input[i] = a + "_fq"
    for o in m.graph.output:
        if o.name == a:
            continue
    sc = numpy_helper.from_array(np.array(s, np.float32), a + "_fq_scale")
    lo = numpy_helper.from_array(np.array(-128, np.float32), a + "_fq_lo")
    hi = numpy_helper.from_array(np.array(127, np.float32), a + "_fq_hi")
    m.graph.initializer.extend([sc, lo, hi])
    m.graph.node.extend([
        helper.make_node("Div", [a, a + "_fq_scale"], [a + "_fq_d"]),
        helper.make_node("Round", [a + "_fq_d"], [a + "_fq_r"]),
        helper.make_node("Clip", [a + "_fq_r", a + "_fq_lo", a + "_fq_hi"], [a + "_fq_c"]),
        helper.make_node("Mul", [a + "_fq_c", a + "_fq_scale"], [a + "_fq"]),
    ])
    # Keep the graph topologically sorted: move the inserted nodes right after the producer.
    nodes = list(m.graph.node)
    ins = nodes[-4:]
    rest = nodes[:-4]
    pos = next(i for i, n in enumerate(rest) if a in n.output) + 1
    del m.graph.node[:]
    m.graph.node.extend(rest[:pos] + ins + rest[pos:])
    try:
        qs = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = [qs.run(None, {inp: x})[0] for x in inputs]
    except Exception as e:  # an op ORT cannot rewire this way: skip it, and say so
        print("skipped", a, str(e)[:80])
        continue
    sens = float(np.mean([np.mean(np.abs(o - b)) for o, b in zip(outs, base_out)]))
    rows.append({"tensor": a, "local_mse_int8": local, "local_rel_int8": local_rel, "sensitivity_l1": sens})


def spearman(x, y):
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    return float(np.corrcoef(rx, ry)[0, 1])


sens = [r["sensitivity_l1"] for r in rows]
rho_abs = spearman([r["local_mse_int8"] for r in rows], sens)
rho_rel = spearman([r["local_rel_int8"] for r in rows], sens)
top = sorted(rows, key=lambda r: -r["sensitivity_l1"])[:10]
top_local = sorted(rows, key=lambda r: -r["local_mse_int8"])[:10]
overlap = len({r["tensor"] for r in top} & {r["tensor"] for r in top_local})
res = {"model": "ch_ppocr_mobile_v2.0_cls_infer.onnx (rapidocr-onnxruntime)", "activations": len(rows),
       "spearman_local_mse_vs_sensitivity": rho_abs, "spearman_local_relative_vs_sensitivity": rho_rel,
       "top10_overlap": overlap, "onnxruntime": ort.__version__, "rows": rows}
os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
with open(os.path.join(ROOT, "docs", "local_vs_sensitivity.json"), "w") as f:
    json.dump(res, f, indent=1)
print(f"{len(rows)} activations: Spearman(local MSE, true sensitivity) = {rho_abs:.3f}; "
      f"Spearman(local relative error, true sensitivity) = {rho_rel:.3f}; top-10 overlap {overlap}/10")
