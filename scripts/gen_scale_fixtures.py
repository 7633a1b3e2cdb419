#!/usr/bin/env python3
"""Scale-source fixtures for QuantLens (src/engine/scales.rs, tests/scales.rs).

1. A real QDQ model: PP-OCR's text-direction classifier (ch_ppocr_mobile_v2.0_cls_infer.onnx, shipped by
   the PyPI package rapidocr-onnxruntime) quantized by ONNX Runtime's own `quantize_static`: QDQ format,
   QInt8 activations (ORT's default: asymmetric, so zero points are not all 0), QInt8 per-channel
   weights, MinMax calibration over 8 seeded synthetic text-crop inputs of shape 1x3x48x192.
   -> tests/fixtures/scales/ppocr_cls_qdq_int8.onnx
2. A small hand-made model written with `onnx.helper`, for what ORT's quantizer does not emit: scales
   and zero points in `Constant` nodes (float_data and raw_data, `value_float`), the com.microsoft
   domain, int16 / uint16 / uint8 zero points, a QuantizeLinear without a zero point (uint8 by
   default), a float16 scale, a per-axis activation with an `axis` attribute, a DequantizeLinear fed by
   a graph input, and Q/DQ inside an `If` branch.
   -> tests/fixtures/scales/handmade_qdq.onnx
3. expected.json: every Q/DQ scale of both models as the `onnx` Python package reads it (the
   independent reference: onnx.load + numpy_helper.to_array), with the tensor names each scale is
   known by (the QuantizeLinear input, its output, the outputs of the DequantizeLinear nodes that
   consume it; for a weight, the DequantizeLinear output and the quantized initializer).
4. scales_flat.json, scales_nested.json: scales.json examples (bare numbers; a top-level "scales"
   object with scale / zero_point / dtype), values taken from the real model.

Run from the repository root:
    python3 scripts/gen_scale_fixtures.py           # (re)write the fixtures
    python3 scripts/gen_scale_fixtures.py --check   # fail if a committed fixture differs from what this writes
Needs numpy, onnx, onnxruntime and rapidocr-onnxruntime (scripts/setup.sh installs them); the Rust tests
need only the committed files.
"""
import json
import os
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "scales")
SEED = 20261201

DTYPES = {2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 21: "uint4", 22: "int4"}


def quantize_ppocr(out_path):
    import onnx
    import onnxruntime as ort
    import rapidocr_onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    src = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    rng = np.random.default_rng(SEED)

    def image():
        # A text-crop-like input: dark strokes on a light background, PP-OCR normalisation (x/255-0.5)/0.5.
        img = np.full((48, 192), 230.0)
        for _ in range(14):
            x, y = rng.integers(4, 180), rng.integers(8, 36)
            img[y:y + rng.integers(4, 14), x:x + rng.integers(2, 10)] = rng.uniform(10, 80)
        img += rng.normal(0, 6, img.shape)
        x = np.clip(img, 0, 255) / 255.0
        x = (x - 0.5) / 0.5
        return np.repeat(x[None, None], 3, axis=1).astype(np.float32)

    inp = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class Reader(CalibrationDataReader):
        def __init__(self, inputs):
            self.it = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {inp: x}

    # The export feeds weights through Constant nodes; the quantizer needs them as initializers.
    g = onnx.load(src)
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
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "cls_init.onnx")
        onnx.save(g, model)
        quantize_static(model, out_path, Reader([image() for _ in range(8)]), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
                        calibrate_method=CalibrationMethod.MinMax)


def handmade(out_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name, arr, raw):
        t = numpy_helper.from_array(np.asarray(arr), name="")
        if not raw:
            # Re-encode in the typed fields (float_data / int32_data) instead of raw_data.
            a = np.asarray(arr)
            t = helper.make_tensor("", t.data_type, list(a.shape), a.ravel().tolist(), raw=False)
        return helper.make_node("Constant", [], [name], name=name + "_const", value=t)

    nodes = [
        # Scale and zero point from Constant nodes (typed fields), default domain.
        const("a_scale", np.float32(0.0123), raw=False),
        const("a_zp", np.int8(-3), raw=False),
        helper.make_node("QuantizeLinear", ["a", "a_scale", "a_zp"], ["a_q"], name="q_a"),
        helper.make_node("DequantizeLinear", ["a_q", "a_scale", "a_zp"], ["a_dq"], name="dq_a"),
        # com.microsoft domain, int16 zero point in raw_data, scale from value_float.
        helper.make_node("Constant", [], ["b_scale"], name="b_scale_const", value_float=0.000244140625),
        const("b_zp", np.int16(12), raw=True),
        helper.make_node("QuantizeLinear", ["b", "b_scale", "b_zp"], ["b_q"], name="q_b", domain="com.microsoft"),
        helper.make_node("DequantizeLinear", ["b_q", "b_scale", "b_zp"], ["b_dq"], name="dq_b", domain="com.microsoft"),
        # uint16 zero point: QUInt16 (ORT's uint16 activations).
        helper.make_node("QuantizeLinear", ["c", "c_scale", "c_zp"], ["c_q"], name="q_c", domain="com.microsoft"),
        helper.make_node("DequantizeLinear", ["c_q", "c_scale", "c_zp"], ["c_dq"], name="dq_c", domain="com.microsoft"),
        # No zero point: uint8, zero point 0; float16 scale; two DequantizeLinear consumers.
        helper.make_node("QuantizeLinear", ["d", "d_scale"], ["d_q"], name="q_d"),
        helper.make_node("DequantizeLinear", ["d_q", "d_scale"], ["d_dq1"], name="dq_d1"),
        helper.make_node("DequantizeLinear", ["d_q", "d_scale"], ["d_dq2"], name="dq_d2"),
        # Per-axis activation, axis 1, uint8 zero points.
        helper.make_node("QuantizeLinear", ["e", "e_scale", "e_zp"], ["e_q"], name="q_e", axis=1),
        helper.make_node("DequantizeLinear", ["e_q", "e_scale", "e_zp"], ["e_dq"], name="dq_e", axis=1),
        # A DequantizeLinear of a graph input that is already quantized.
        helper.make_node("DequantizeLinear", ["f_int8", "f_scale", "f_zp"], ["f_dq"], name="dq_f"),
    ]
    then_g = helper.make_graph(
        [helper.make_node("QuantizeLinear", ["g", "g_scale", "g_zp"], ["g_q"], name="q_g"),
         helper.make_node("DequantizeLinear", ["g_q", "g_scale", "g_zp"], ["g_dq"], name="dq_g"),
         helper.make_node("Identity", ["g_dq"], ["then_out"])],
        "then", [], [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.float32(0.5), "g_scale"),
                     numpy_helper.from_array(np.int8(1), "g_zp")])
    else_g = helper.make_graph([helper.make_node("Identity", ["a_dq"], ["else_out"])], "else", [],
                               [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, None)])
    nodes.append(helper.make_node("If", ["cond"], ["if_out"], name="branch", then_branch=then_g, else_branch=else_g))
    inits = [
        numpy_helper.from_array(np.float32(0.001), "c_scale"),
        numpy_helper.from_array(np.uint16(32768), "c_zp"),
        numpy_helper.from_array(np.float16(0.0625), "d_scale"),
        numpy_helper.from_array(np.array([0.01, 0.02, 0.04], np.float32), "e_scale"),
        numpy_helper.from_array(np.array([128, 120, 130], np.uint8), "e_zp"),
        numpy_helper.from_array(np.float32(0.03125), "f_scale"),
        numpy_helper.from_array(np.int8(0), "f_zp"),
    ]
    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in "abcdeg"]
    ins += [helper.make_tensor_value_info("f_int8", TensorProto.INT8, None),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, [])]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None)
            for n in ("a_dq", "b_dq", "c_dq", "d_dq1", "d_dq2", "e_dq", "f_dq", "if_out")]
    graph = helper.make_graph(nodes, "handmade", ins, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)],
                              producer_name="gen_scale_fixtures.py")
    onnx.save(model, out_path)


def reference(path):
    """Every Q/DQ scale of a model as the onnx package reads it: one record per QuantizeLinear (names: its
    input, its output, the outputs of its DequantizeLinear consumers) and per DequantizeLinear that is not
    fed by a QuantizeLinear (names: its input and its output)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    values, types, nodes = {}, {}, []

    def walk(g):
        for t in g.initializer:
            values[t.name] = numpy_helper.to_array(t)
            types[t.name] = t.data_type
        for n in g.node:
            if n.op_type == "Constant":
                a = n.attribute[0]
                if a.name == "value":
                    values[n.output[0]] = numpy_helper.to_array(a.t)
                    types[n.output[0]] = a.t.data_type
                elif a.name == "value_float":
                    values[n.output[0]] = np.float32(a.f)
                    types[n.output[0]] = 1
            nodes.append(n)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(m.graph)
    consumers = {}
    for n in nodes:
        if n.op_type == "DequantizeLinear":
            consumers.setdefault(n.input[0], []).append(n.output[0])
    q_outputs = {n.output[0] for n in nodes if n.op_type == "QuantizeLinear"}

    def record(n, names, weight):
        s = np.asarray(values[n.input[1]], dtype=np.float64).ravel()
        zp_name = n.input[2] if len(n.input) > 2 and n.input[2] else None
        zp = np.asarray(values[zp_name]).astype(np.int64).ravel() if zp_name else np.zeros(1, np.int64)
        axis = next((a.i for a in n.attribute if a.name == "axis"), 1)
        r = {"node": n.name, "op": n.op_type, "names": names, "weight": weight,
             "dtype": DTYPES.get(types[zp_name]) if zp_name else "uint8"}
        if s.size == 1:
            r["scale"] = float(s[0])
            r["zero_point"] = int(zp[0])
        else:
            r["channel_scales"] = [float(v) for v in s]
            r["channel_zero_points"] = [int(v) for v in zp]
            r["axis"] = int(axis)
        return r

    out = []
    for n in nodes:
        if n.op_type == "QuantizeLinear":
            out.append(record(n, [n.input[0], n.output[0]] + consumers.get(n.output[0], []), False))
        elif n.op_type == "DequantizeLinear" and n.input[0] not in q_outputs:
            out.append(record(n, [n.input[0], n.output[0]], n.input[0] in values))
    return out


def scales_json(acts):
    """Two scales.json examples from the real model's activation scales."""
    first = [r for r in acts if "scale" in r][:6]
    flat = {r["names"][0]: r["scale"] for r in first}
    nested = {"scales": {r["names"][0]: {"scale": r["scale"], "zero_point": r["zero_point"], "dtype": r["dtype"]}
                         for r in first}}
    return (json.dumps(flat, indent=2) + "\n", json.dumps(nested, indent=2) + "\n")


def dump_expected(expected):
    """expected.json with one record per line (small and diffable)."""
    parts = []
    for key, value in expected.items():
        if isinstance(value, list):
            body = "[\n" + ",\n".join("  " + json.dumps(r) for r in value) + "\n ]"
        else:
            body = json.dumps(value, indent=2).replace("\n", "\n ")
        parts.append(" %s: %s" % (json.dumps(key), body))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def generate(out_dir):
    import onnx
    import onnxruntime
    os.makedirs(out_dir, exist_ok=True)
    real = os.path.join(out_dir, "ppocr_cls_qdq_int8.onnx")
    hand = os.path.join(out_dir, "handmade_qdq.onnx")
    quantize_ppocr(real)
    handmade(hand)
    real_ref, hand_ref = reference(real), reference(hand)
    expected = {
        "provenance": {
            "generator": "scripts/gen_scale_fixtures.py",
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__,
            "model": "ch_ppocr_mobile_v2.0_cls_infer.onnx (rapidocr-onnxruntime)",
            "quantizer": "onnxruntime.quantization.quantize_static: QDQ, QInt8 activations, QInt8 per-channel "
                         "weights, MinMax, 8 seeded inputs 1x3x48x192 (seed %d)" % SEED,
            "reference": "onnx.load + onnx.numpy_helper.to_array",
        },
        "ppocr_cls_qdq_int8.onnx": real_ref,
        "handmade_qdq.onnx": hand_ref,
    }
    files = {"expected.json": dump_expected(expected)}
    files["scales_flat.json"], files["scales_nested.json"] = scales_json([r for r in real_ref if not r["weight"]])
    for name, text in files.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(text)
    return ["ppocr_cls_qdq_int8.onnx", "handmade_qdq.onnx"] + list(files)


def check(tmp):
    """Regenerate into `tmp` and compare: the models by what the reference reads from them (their
    bytes also carry the quantizer's version), the JSON files byte for byte. Returns what differs."""
    bad = []
    for name in generate(tmp):
        new, old = os.path.join(tmp, name), os.path.join(OUT, name)
        if not os.path.exists(old):
            bad.append(name + " (missing)")
        elif name.endswith(".onnx"):
            if reference(new) != reference(old):
                bad.append(name)
        else:
            with open(new, "rb") as a, open(old, "rb") as b:
                if a.read() != b.read():
                    bad.append(name)
    return bad


def main():
    if "--check" in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            bad = check(tmp)
        if bad:
            sys.exit("fixtures differ from the generator: " + ", ".join(bad))
        print("fixtures match the generator")
        return
    for name in generate(OUT):
        p = os.path.join(OUT, name)
        print("wrote", os.path.relpath(p, ROOT), "(%d bytes)" % os.path.getsize(p))


if __name__ == "__main__":
    main()
