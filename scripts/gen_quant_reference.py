#!/usr/bin/env python3
"""Reference values for QuantLens's quantization engine (tests/quant.rs):

* torch.fake_quantize_per_tensor_affine / per_channel_affine outputs (int4, int8, int16, uint8 with a
  zero point; values placed exactly on rounding ties) — compared bit for bit;
* torch.ao.quantization.MinMaxObserver(per_tensor_symmetric) scales;
* the histogram observers (percentile, KL/entropy) re-implemented independently in numpy from their
  definitions, on a real activation (PP-OCR classifier `Add@0`, tests/fixtures/tensors). The
  MSE-optimal observer is held to a brute-force minimum instead (scripts/gen_mse_reference.py).

Run from the repository root: python3 scripts/gen_quant_reference.py (needs torch, numpy).
"""
import json
import os
import sys

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402  (`--check`: regenerate elsewhere and compare)

DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "quant")
OUT = fixture_check.out_dir(DEFAULT_OUT)
os.makedirs(OUT, exist_ok=True)

real = np.load(os.path.join(ROOT, "tests", "fixtures", "tensors", "ppocr_cls_float.npz"))["Add@0"].astype(np.float32).ravel()
g = torch.Generator().manual_seed(7)
syn = (torch.randn(5000, generator=g) * 2.0).numpy().astype(np.float32)
syn[:5] = [40.0, -35.0, 0.125, -0.375, 0.0]  # outliers and exact ties
ties = (np.arange(-300, 300, dtype=np.float32) + 0.5) * np.float32(0.25)  # every x/scale lands on .5
np.save(os.path.join(OUT, "real.npy"), real)
np.save(os.path.join(OUT, "syn.npy"), syn)
np.save(os.path.join(OUT, "ties.npy"), ties)

cases = []
for name, x in (("real", real), ("syn", syn), ("ties", ties)):
    t = torch.from_numpy(x)
    for dt, (qmin, qmax), zp, s in (("int8", (-128, 127), 0, 0.25), ("int8", (-128, 127), 0, 0.047), ("int16", (-32768, 32767), 0, 0.0003),
                                    ("int4", (-8, 7), 0, 0.5), ("uint8", (0, 255), 128, 0.05)):
        fq = torch.fake_quantize_per_tensor_affine(t, s, zp, qmin, qmax).numpy()
        fname = f"fq_{name}_{dt}_{s}.npy"
        np.save(os.path.join(OUT, fname), fq)
        cases.append({"input": f"{name}.npy", "dtype": dt, "scale": s, "zero_point": zp, "qmin": qmin, "qmax": qmax, "output": fname})
w = torch.randn(4, 3, 5, generator=g)
np.save(os.path.join(OUT, "w.npy"), w.numpy())
scales = torch.tensor([0.01, 0.05, 0.002, 0.3], dtype=torch.float32)
zps = torch.tensor([0, 0, 0, 0], dtype=torch.int32)
fqc = torch.fake_quantize_per_channel_affine(w, scales, zps, 0, -128, 127).numpy()
np.save(os.path.join(OUT, "fq_w_per_channel.npy"), fqc)

mm = {}
for name, x in (("real", real), ("syn", syn)):
    for dt, tdt in (("int8", torch.qint8),):
        o = torch.ao.quantization.MinMaxObserver(dtype=tdt, qscheme=torch.per_tensor_symmetric)
        o(torch.from_numpy(x))
        s, _ = o.calculate_qparams()
        mm[f"{name}_{dt}"] = float(s.item())


def hist(x, nbins=2048):
    amax = float(np.abs(x).max())
    k = nbins / amax
    b = np.minimum((np.abs(x).astype(np.float64) * k).astype(np.int64), nbins - 1)
    return amax, np.bincount(b, minlength=nbins).astype(np.float64)


def percentile(x, p, nbins=2048):
    amax, h = hist(x, nbins)
    target = max(np.ceil(p * h.sum()), 1)
    i = int(np.searchsorted(np.cumsum(h), target))
    return (i + 1) * amax / nbins


def kl_clip(x, levels, nbins=2048):
    amax, h = hist(x, nbins)
    best = (np.inf, nbins)
    for i in range(levels, nbins + 1):
        p = h[:i].copy()
        p[i - 1] += h[i:].sum()
        q = np.zeros(i)
        per = i / levels
        for j in range(levels):
            a = int(np.floor(j * per))
            b = i if j == levels - 1 else int(np.floor((j + 1) * per))
            seg = h[a:b]
            nz = seg > 0
            if nz.any():
                q[a:b][nz] = seg.sum() / nz.sum()
        if p.sum() == 0 or q.sum() == 0:
            continue
        pn, qn = p / p.sum(), np.maximum(q / q.sum(), 1e-12)
        m = pn > 0
        kl = float((pn[m] * np.log(pn[m] / qn[m])).sum())
        if kl < best[0]:
            best = (kl, i)
    return best[1] * amax / nbins


obs = {}
for name, x in (("real", real), ("syn", syn)):
    obs[name] = {"percentile_99.9": percentile(x, 0.999), "percentile_99.99": percentile(x, 0.9999),
                 "kl_int8": kl_clip(x, 128), "amax": float(np.abs(x).max())}

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump({"fake_quant": cases, "per_channel": {"input": "w.npy", "shape": [4, 3, 5], "axis": 0, "scales": scales.tolist(),
                                                    "output": "fq_w_per_channel.npy"},
               "minmax_scale": mm, "observers_clip": obs, "torch": torch.__version__}, f, indent=1, sort_keys=True)
print(len(cases), "fake-quant cases;", sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT)), "bytes")
fixture_check.finish(DEFAULT_OUT)
