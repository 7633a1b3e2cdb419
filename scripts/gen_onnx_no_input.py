#!/usr/bin/env python3
"""Writes fuzz/regressions/onnx_model/{rsqrt,constantlike}-no-input.onnx: one node of an op tract-onnx
registers but no ONNX schema lists (Rsqrt; ConstantLike, whose input is optional), with no input at
all. tract's op builders index inputs without checking their number, so these must get a message,
not a panic (replayed through tract by `cargo test --features model --test fuzz_corpus`).
    python3 scripts/gen_onnx_no_input.py
"""
import pathlib

from onnx import TensorProto, helper

out = pathlib.Path(__file__).resolve().parent.parent / "fuzz/regressions/onnx_model"
for op in ["Rsqrt", "ConstantLike"]:
    node = helper.make_node(op, [], ["y"], name="n0")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    g = helper.make_graph([node], "g", [], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    (out / f"{op.lower()}-no-input.onnx").write_bytes(m.SerializeToString())
    print(out / f"{op.lower()}-no-input.onnx")
