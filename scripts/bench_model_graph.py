#!/usr/bin/env python3
"""The onnxruntime-web baseline of the model benchmark (e2e/bench_model.mjs): one ONNX graph that
can fake-quantize any single activation, chosen at run time.

After every tensor named in the scales file (the int8 min-max scales QuantLens's own calibration
used in the same benchmark run, so both sides quantize the same tensors with the same scales), the
graph computes

    y = x + mask[i] * (fq(x) - x),   fq(x) = Clip(Round(x * (1/scale)), -128, 127) * scale

where `mask` is a new float input of shape [N] (one-hot: 1 at the tensor under test, all zeros for
the float run). Every consumer (and a graph output) reads y. So true single-tensor sensitivity is
one session and one run per tensor, which is the cheapest way found to do it with onnxruntime.

Usage: bench_model_graph.py MODEL.onnx SCALES.json OUT.onnx
  SCALES.json: [[tensor name, scale], ...]  Prints a JSON line: ONNX node count (and without Constant nodes), gated tensors, names
  in the scales file that the graph has no value for.
"""
import json
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np


def main():
    src, scales_path, out = sys.argv[1:4]
    model = onnx.load(src)
    g = model.graph
    scales = json.load(open(scales_path))
    op_count = len(g.node)
    compute_ops = sum(1 for n in g.node if n.op_type != "Constant")
    inits = {i.name for i in g.initializer}
    produced = {o for n in g.node for o in n.output} | {i.name for i in g.input if i.name not in inits}
    gated, missing = [], []
    for name, scale in scales:
        if name in produced and name not in inits:
            gated.append((name, float(scale)))
        else:
            missing.append(name)

    # The raw value of each gated tensor gets a new name; the gate writes the old one.
    raw = {name: f"{name}__raw" for name, _ in gated}
    for n in g.node:
        for k, o in enumerate(n.output):
            if o in raw:
                n.output[k] = raw[o]
    for i in g.input:
        if i.name in raw:
            i.name = raw[i.name]

    consts = [
        numpy_helper.from_array(np.array(-128.0, np.float32), "fq__qmin"),
        numpy_helper.from_array(np.array(127.0, np.float32), "fq__qmax"),
    ]
    gate = {}
    for k, (name, scale) in enumerate(gated):
        x, p = raw[name], f"fq{k}__"
        consts += [
            numpy_helper.from_array(np.array(1.0 / scale, np.float32), p + "inv"),
            numpy_helper.from_array(np.array(scale, np.float32), p + "scale"),
            numpy_helper.from_array(np.array(k, np.int64), p + "ix"),
        ]
        gate[x] = [
            helper.make_node("Mul", [x, p + "inv"], [p + "a"]),
            helper.make_node("Round", [p + "a"], [p + "r"]),
            helper.make_node("Clip", [p + "r", "fq__qmin", "fq__qmax"], [p + "c"]),
            helper.make_node("Mul", [p + "c", p + "scale"], [p + "q"]),
            helper.make_node("Sub", [p + "q", x], [p + "d"]),
            helper.make_node("Gather", ["fq__mask", p + "ix"], [p + "m"], axis=0),
            helper.make_node("Mul", [p + "d", p + "m"], [p + "g"]),
            helper.make_node("Add", [x, p + "g"], [name]),
        ]
    # Topological order: each gate right after what writes its tensor (inputs' gates first).
    nodes = [n for i in g.input for n in gate.get(i.name, [])]
    for n in g.node:
        nodes.append(n)
        for o in n.output:
            nodes += gate.get(o, [])
    del g.node[:]
    g.node.extend(nodes)
    g.initializer.extend(consts)
    g.input.append(helper.make_tensor_value_info("fq__mask", TensorProto.FLOAT, [len(gated)]))
    # Value infos of renamed tensors would now be stale: drop them all (shape inference redoes it).
    del g.value_info[:]
    # Round and Clip with min/max inputs need opset 11.
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 11:
            o.version = 11
    onnx.checker.check_model(model)
    onnx.save(model, out)
    print(json.dumps({"ops": op_count, "compute_ops": compute_ops, "gated": [n for n, _ in gated], "missing": missing}))


if __name__ == "__main__":
    main()
