#!/usr/bin/env python3
"""Tensor-dump fixtures and independently computed expected metrics for QuantLens.

Real tensors from a real model: PP-OCR's text-direction classifier (ch_ppocr_mobile_v2.0_cls_infer.onnx,
shipped by the PyPI package rapidocr-onnxruntime) is quantized with ONNX Runtime's own QDQ quantizer
(static, symmetric int8, MinMax calibration), and ORT's `qdq_loss_debug` collects the float model's
activations and the QDQ model's dequantized activations on a test input. A few activations are saved
(float side: an .npz with stored members; quantized side: an .npz with deflated members, named as the
QDQ model names them, `<name>_DequantizeLinear_Output`), with their scales from the QDQ model.
Synthetic edge cases cover zeros, identical tensors, NaN/Inf, empty and 1-element tensors, raw int8
dumps, float16, big-endian, Fortran order and safetensors.

Expected values use numpy only, following horizon-formats.md §3.4 (what torch computes there):
cosine = Σab / (max(‖a‖,1e-8)·max(‖b‖,1e-8)); MSE, L1 means; SQNR = 20·log10(‖b‖/‖b−a‖) (inf when
equal); Atol = max|b−a|; Rtol = max|nan_to_num((b−a)/b)| in float32; KL = mean(p_b·(log p_b − log p_a))
with softmax (float64) along dim 1 if ndim > 2 else the last dim; var unbiased (n−1); the error split
with q(x) = clip(rint(x·float32(1/s)), qmin, qmax)·s in float32 (rint = round half to even).

Run from the repository root: python3 scripts/gen_tensor_fixtures.py   (needs numpy, onnx,
onnxruntime, rapidocr-onnxruntime; scripts/setup.sh installs them).
"""
import json
import os
import sys
import struct
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402  (`--check`: regenerate elsewhere and compare)

DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "tensors")
OUT = fixture_check.out_dir(DEFAULT_OUT)


def metrics(b, a, scale=None, qrange=(-128, 127)):
    b32 = np.asarray(b, dtype=np.float32)
    a32 = np.asarray(a, dtype=np.float32)
    b64 = b32.astype(np.float64).ravel()
    a64 = a32.astype(np.float64).ravel()
    n = b64.size
    out = {"numel": n}
    if n == 0:
        return out
    d = b64 - a64
    na, nb = np.sqrt((a64 * a64).sum()), np.sqrt((b64 * b64).sum())
    out["cosine"] = float((a64 * b64).sum() / (max(na, 1e-8) * max(nb, 1e-8)))
    out["mse"] = float((d * d).mean())
    out["l1"] = float(np.abs(d).mean())
    dn = np.sqrt((d * d).sum())
    out["sqnr_db"] = float("inf") if dn == 0 else float(20 * np.log10(nb / dn))
    out["atol"] = float(np.abs(d).max())
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (b32 - a32) / b32
    r = np.nan_to_num(r, nan=0.0, posinf=np.finfo(np.float32).max, neginf=-np.finfo(np.float32).max)
    out["rtol"] = float(np.abs(r).max())
    for side, v in (("base", b64), ("analy", a64)):
        out[side + "_min"] = float(v.min())
        out[side + "_max"] = float(v.max())
        out[side + "_mean"] = float(v.mean())
        out[side + "_var"] = float(v.var(ddof=1)) if n > 1 else float("nan")
    # KL over softmax along dim 1 (ndim > 2) or the last dim, in float64.
    shp = b32.shape
    dim = 1 if len(shp) > 2 else (len(shp) - 1 if len(shp) else 0)
    bb = b32.astype(np.float64).reshape(shp if shp else (1,))
    aa = a32.astype(np.float64).reshape(shp if shp else (1,))

    def log_softmax(x):
        m = x.max(axis=dim, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))

    lp_b, lp_a = log_softmax(bb), log_softmax(aa)
    out["kl"] = float((np.exp(lp_b) * (lp_b - lp_a)).sum() / n)
    if scale is not None:
        qmin, qmax = qrange
        s32 = np.float32(scale)
        inv = np.float32(1.0) / s32
        k = np.rint(b32 * inv)
        clipped = (k > qmax) | (k < qmin)
        q = (np.clip(k, qmin, qmax) * s32).astype(np.float32)
        e = (q.astype(np.float64) - b64.reshape(shp if shp else (1,))).ravel()
        cm = clipped.ravel()
        clip = float((e[cm] ** 2).sum())
        rnd = float((e[~cm] ** 2).sum())
        total = float((d * d).sum())
        out["max_qscale_diff"] = out["atol"] / scale
        out["error_split"] = {"clip": clip, "round": rnd, "inherited": max(total - clip - rnd, 0.0),
                              "clipped_fraction": float(cm.mean())}
    return out


def real_model():
    import onnx
    import onnxruntime as ort
    import rapidocr_onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    model = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models", "ch_ppocr_mobile_v2.0_cls_infer.onnx")
    rng = np.random.default_rng(20261125)

    def image():
        # A text-crop-like input: dark strokes on a light background, PP-OCR normalisation (x/255−0.5)/0.5.
        img = np.full((48, 192), 230.0)
        for _ in range(14):
            x, y = rng.integers(4, 180), rng.integers(8, 36)
            img[y:y + rng.integers(4, 14), x:x + rng.integers(2, 10)] = rng.uniform(10, 80)
        img += rng.normal(0, 6, img.shape)
        x = np.clip(img, 0, 255) / 255.0
        x = (x - 0.5) / 0.5
        return np.repeat(x[None, None], 3, axis=1).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self, inputs):
            self.it = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"x": x}

    tmp = tempfile.mkdtemp()
    inp_name = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    calib = [image() for _ in range(8)]
    test = image()

    class R(Reader):
        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {inp_name: x}

    # The export feeds weights through Constant nodes; the quantizer needs them as initializers.
    g = onnx.load(model)
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
    model = os.path.join(tmp, "cls_init.onnx")
    onnx.save(g, model)
    qdq = os.path.join(tmp, "cls_qdq.onnx")
    quantize_static(model, qdq, R(calib), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, per_channel=False, calibrate_method=CalibrationMethod.MinMax,
                    extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    aug_f, aug_q = os.path.join(tmp, "f_aug.onnx"), os.path.join(tmp, "q_aug.onnx")
    modify_model_output_intermediate_tensors(model, aug_f)
    modify_model_output_intermediate_tensors(qdq, aug_q)
    fa = collect_activations(aug_f, R([test]))
    qa = collect_activations(aug_q, R([test]))
    match = create_activation_matching(qa, fa)
    # Scales of the QuantizeLinear nodes, by their input tensor.
    m = onnx.load(qdq)
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in m.graph.initializer}
    scales = {n.input[0]: float(inits[n.input[1]]) for n in m.graph.node
              if n.op_type == "QuantizeLinear" and n.input[1] in inits and inits[n.input[1]].size == 1}
    # Activations only: outputs of compute nodes (this export also emits weights through Constant nodes).
    order = [n.output[0] for n in onnx.load(model).graph.node if n.op_type not in ("Constant", "Identity")]
    chosen = []
    # collect_activations returns flattened arrays: take the real shapes from one run of the float model.
    # (The augmented model saves them reshaped), so infer shapes with the input fixed to the test shape.
    gi = onnx.load(model)
    for d, v in zip(gi.graph.input[0].type.tensor_type.shape.dim, test.shape):
        d.ClearField("dim_param")
        d.dim_value = v
    gi = onnx.shape_inference.infer_shapes(gi)
    shapes = {}
    for vi in list(gi.graph.value_info) + list(gi.graph.output):
        dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if dims and all(x > 0 for x in dims):
            shapes[vi.name] = tuple(dims)
    for name in order:
        v = match.get(name)
        if not v or "float" not in v or "post_qdq" not in v or name not in scales or name not in shapes:
            continue
        if int(np.prod(shapes[name])) != np.asarray(v["float"][0]).size:
            continue
        f = np.asarray(v["float"][0]).reshape(shapes[name])
        q = np.asarray(v["post_qdq"][0]).reshape(shapes[name])
        if 64 <= f.size <= 40000 and f.shape == q.shape and f.ndim >= 2:
            chosen.append((name, f.astype(np.float32), q.astype(np.float32)))
        if len(chosen) == 6:
            break
    return chosen, scales, inp_name


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- torch.save archives, byte-compatible, without torch -----------------------------------------------
# torch.save writes a zip (stored) with <name>/data.pkl (pickle protocol 2), <name>/data/<key> raw storages,
# <name>/version and <name>/byteorder. Tensors pickle as REDUCE(torch._utils._rebuild_tensor_v2, (storage,
# offset, size, stride, requires_grad, hooks)) with the storage as a persistent id ('storage', <Storage
# class>, key, location, numel); qtensors use _rebuild_qtensor with (qscheme, scale, zero_point) or
# (qscheme, scales, zero_points, axis). Stand-in modules give pickle exactly those global names.
import collections
import io
import pickle
import sys
import types
import zipfile


def _fake_torch():
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    nn = types.ModuleType("torch.nn")
    param = types.ModuleType("torch.nn.parameter")
    for mod, fname in ((utils, "_rebuild_tensor_v2"), (utils, "_rebuild_qtensor"), (utils, "_rebuild_parameter")):
        f = lambda *a: None
        f.__module__, f.__name__, f.__qualname__ = mod.__name__, fname, fname
        setattr(mod, fname, f)
    for cls in ("FloatStorage", "HalfStorage", "QInt8Storage", "DoubleStorage", "LongStorage", "CharStorage"):
        c = type(cls, (), {"__module__": "torch"})
        setattr(torch, cls, c)

    class QScheme:
        __module__ = "torch"

        def __init__(self, name):
            self.name = name

        def __reduce__(self):
            return self.name

    torch.per_tensor_affine = QScheme("per_tensor_affine")
    torch.per_channel_affine = QScheme("per_channel_affine")
    torch._utils = utils
    for m in (torch, utils, nn, param):
        sys.modules[m.__name__] = m
    return torch, utils


class _Storage:
    def __init__(self, kind, key, arr):
        self.kind, self.key, self.arr = kind, key, arr


class _Tensor:
    """Pickles like a torch tensor (optionally quantized)."""

    def __init__(self, storage, shape, stride=None, offset=0, q=None):
        self.storage, self.shape, self.offset, self.q = storage, tuple(shape), offset, q
        if stride is None:
            stride, acc = [], 1
            for d in reversed(shape):
                stride.insert(0, acc)
                acc *= d
        self.stride = tuple(stride)

    def __reduce_ex__(self, proto):
        t, u = _fake_torch.cache
        if self.q is None:
            return (u._rebuild_tensor_v2, (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict()))
        return (u._rebuild_qtensor, (self.storage, self.offset, self.shape, self.stride, self.q, False, collections.OrderedDict()))


class _Param:
    def __init__(self, t):
        self.t = t

    def __reduce_ex__(self, proto):
        return (_fake_torch.cache[1]._rebuild_parameter, (self.t, True, collections.OrderedDict()))


class OpRunningInfo:
    """Stand-in for horizon_plugin_profiler.utils.op_running_info.OpRunningInfo (an arbitrary class)."""


OpRunningInfo.__module__ = "horizon_plugin_profiler.utils.op_running_info"
for _m in ("horizon_plugin_profiler", "horizon_plugin_profiler.utils", "horizon_plugin_profiler.utils.op_running_info"):
    sys.modules.setdefault(_m, types.ModuleType(_m))
sys.modules["horizon_plugin_profiler.utils.op_running_info"].OpRunningInfo = OpRunningInfo


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/quantlens_pickle_was_executed",))


def write_torch(path, obj, storages):
    t, _ = _fake_torch.cache

    class P(pickle.Pickler):
        def persistent_id(self, o):
            if isinstance(o, _Storage):
                return ("storage", getattr(t, o.kind), o.key, "cpu", int(o.arr.size))
            return None

    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    name = os.path.splitext(os.path.basename(path))[0]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(name + "/data.pkl", buf.getvalue())
        z.writestr(name + "/byteorder", "little")
        for st in storages:
            z.writestr(name + "/data/" + st.key, st.arr.tobytes())
        z.writestr(name + "/version", "3\n")


_fake_torch.cache = None


def torch_fixtures(expected, x, xq, s):
    _fake_torch.cache = _fake_torch()
    # Float side: a state dict with a tensor, a Parameter and a half tensor sharing nothing.
    sf = _Storage("FloatStorage", "0", x.ravel())
    sh = _Storage("HalfStorage", "1", x.astype(np.float16).ravel())
    write_torch(os.path.join(OUT, "torch_float.pt"),
                collections.OrderedDict([("layer.out", _Tensor(sf, x.shape)), ("layer.param", _Param(_Tensor(sf, x.shape))),
                                         ("layer.half", _Tensor(sh, x.shape))]), [sf, sh])
    # Quantized side: per-tensor qint8 (scale s), per-channel qint8 along axis 1, and a float tensor.
    q8 = np.clip(np.rint(x / s), -128, 127).astype(np.int8)
    sq = _Storage("QInt8Storage", "0", q8.ravel())
    ch_scales = np.array([0.02, 0.05, 0.1], np.float64)
    qc = np.clip(np.rint(x / ch_scales[None, :, None, None]), -128, 127).astype(np.int8)
    sqc = _Storage("QInt8Storage", "1", qc.ravel())
    ss = _Storage("DoubleStorage", "2", ch_scales)
    sz = _Storage("LongStorage", "3", np.zeros(3, np.int64))
    sfl = _Storage("FloatStorage", "4", xq.ravel())
    t, _ = _fake_torch.cache
    write_torch(os.path.join(OUT, "torch_quant.pt"),
                {"layer.out": _Tensor(sq, x.shape, q=(t.per_tensor_affine, s, 0)),
                 "layer.param": _Tensor(sqc, x.shape, q=(t.per_channel_affine, _Tensor(ss, (3,)), _Tensor(sz, (3,)), 1)),
                 "layer.half": _Tensor(sfl, x.shape)}, [sq, sqc, ss, sz, sfl])
    deq_c = (qc.astype(np.float32) * ch_scales[None, :, None, None].astype(np.float32)).astype(np.float32)
    expected["torch/layer.out"] = {"scale": s, "shape": list(x.shape), **metrics(x, q8.astype(np.float32) * np.float32(s), s)}
    expected["torch/layer.param"] = {"scale": None, "shape": list(x.shape), **metrics(x, deq_c)}
    expected["torch/layer.half"] = {"scale": None, "shape": list(x.shape), **metrics(x.astype(np.float16).astype(np.float32), xq)}
    # A Horizon op_infos file: an arbitrary class holding input/output/op_states tensors.
    info = OpRunningInfo()
    so = _Storage("FloatStorage", "0", x.ravel())
    sw = _Storage("FloatStorage", "1", np.arange(6, dtype=np.float32))
    info.__dict__.update({"loc": {"mod_name": "conv", "idx": 0}, "input": (_Tensor(so, x.shape),),
                          "output": _Tensor(so, x.shape), "op_states": {"weight": _Tensor(sw, (2, 3))}})
    write_torch(os.path.join(OUT, "conv_0.opinfo"), info, [so, sw])
    # A hostile pickle: os.system must never run.
    write_torch(os.path.join(OUT, "evil.pt"), {"x": _Evil()}, [])


def main():
    os.makedirs(OUT, exist_ok=True)
    expected = {}
    chosen, scales, inp = real_model()
    np.savez(os.path.join(OUT, "ppocr_cls_float.npz"), **{n: f for n, f, _ in chosen})
    np.savez_compressed(os.path.join(OUT, "ppocr_cls_qdq.npz"), **{n + "_DequantizeLinear_Output": q for n, _, q in chosen})
    for n, f, q in chosen:
        expected[n] = {"scale": scales[n], "shape": list(f.shape), **metrics(f, q, scales[n])}
    # One pair also as single .npy files (the first activation).
    n0, f0, q0 = chosen[0]
    np.save(os.path.join(OUT, "single_float.npy"), f0)
    np.save(os.path.join(OUT, "single_quant.npy"), q0)

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    s = 0.05
    xq = (np.clip(np.rint(x * np.float32(1 / np.float32(s))), -128, 127) * np.float32(s)).astype(np.float32)
    edge = {
        "zeros": (np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32), None),
        "identical": (x, x.copy(), None),
        "one": (np.array([1.5], np.float32), np.array([1.25], np.float32), None),
        "empty": (np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32), None),
        "own_quant": (x, xq, s),
        "nan_inf": (np.array([1.0, np.inf, 2.0, 0.0], np.float32), np.array([1.0, 1.0, np.nan, 0.5], np.float32), None),
    }
    np.savez(os.path.join(OUT, "edge_float.npz"), **{k: v[0] for k, v in edge.items()})
    np.savez(os.path.join(OUT, "edge_quant.npz"), **{k: v[1] for k, v in edge.items()})
    for k, (b, a, sc) in edge.items():
        expected["edge/" + k] = {"scale": sc, "shape": list(b.shape), **metrics(b, a, sc)}
    # Raw int8 dump + scale; float16; big-endian; Fortran order.
    raw = np.clip(np.rint(x / s), -128, 127).astype(np.int8)
    np.save(os.path.join(OUT, "int8_quant.npy"), raw)
    np.save(os.path.join(OUT, "int8_float.npy"), x)
    expected["int8"] = {"scale": s, "shape": list(x.shape), **metrics(x, raw.astype(np.float32) * np.float32(s), s)}
    np.save(os.path.join(OUT, "f16_float.npy"), x.astype(np.float16))
    np.save(os.path.join(OUT, "f16_quant.npy"), xq.astype(">f4"))
    expected["f16_vs_bigendian"] = {"scale": None, "shape": list(x.shape),
                                    **metrics(x.astype(np.float16).astype(np.float32), xq)}
    xf = np.asfortranarray(x)
    np.save(os.path.join(OUT, "fortran_float.npy"), xf)
    np.save(os.path.join(OUT, "fortran_quant.npy"), np.asfortranarray(xq))
    expected["fortran"] = {"scale": None, "shape": list(x.shape), **metrics(x, xq)}
    write_safetensors(os.path.join(OUT, "model_float.safetensors"), {"layer.out": ("F32", x), "layer.aux": ("F16", x.astype(np.float16))})
    write_safetensors(os.path.join(OUT, "model_quant.safetensors"), {"layer.out": ("F32", xq), "layer.aux": ("F32", xq)})
    expected["safetensors/layer.out"] = {"scale": None, "shape": list(x.shape), **metrics(x, xq)}
    expected["safetensors/layer.aux"] = {"scale": None, "shape": list(x.shape), **metrics(x.astype(np.float16).astype(np.float32), xq)}
    torch_fixtures(expected, x, xq, s)
    expected["_provenance"] = {
        "model": "rapidocr-onnxruntime: models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "input_name": inp,
        "quantizer": "onnxruntime.quantization.quantize_static QDQ, QInt8 activations and weights, symmetric, MinMax, 8 calibration inputs",
        "versions": {"numpy": np.__version__, "onnxruntime": __import__("onnxruntime").__version__},
    }
    def clean(v):
        # JSON has no inf/nan: write them as strings, as the CLI does.
        if isinstance(v, float) and not np.isfinite(v):
            return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(clean(expected), f, indent=1, sort_keys=True, default=str, allow_nan=False)
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))
    fixture_check.finish(DEFAULT_OUT)


if __name__ == "__main__":
    main()
