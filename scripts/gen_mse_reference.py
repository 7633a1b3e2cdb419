#!/usr/bin/env python3
"""Reference for the MSE-optimal observer (tests/quant.rs): the least mean squared error that a
symmetric per-tensor scale reaches on real and synthetic tensors, found by brute force in numpy
(every scale amax·t/qmax for 4,000 values of t in (0, 1], the error of each computed exactly on the
tensor: round half to even, clip to [qmin, qmax]), with min-max's and amax/qmax's errors beside it.
Independent of QuantLens's histogram search, which the test holds to within a few percent of the
brute-force minimum.

Tensors: the committed `tests/fixtures/quant/real.npy` (PP-OCR classifier `Add@0`) and `syn.npy`
(randn·2 with outliers 40, −35), the real int8 run's `softmax_11.tmp_0` (PP-OCR recognizer's
output softmax, tests/fixtures/real/ort_int8/float.npz: most values near 0) and one element.

Run from the repository root: python3 scripts/gen_mse_reference.py [--check] (needs numpy).
"""
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixture_check  # noqa: E402

DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "mse")
OUT = fixture_check.out_dir(DEFAULT_OUT)
os.makedirs(OUT, exist_ok=True)

q = os.path.join(ROOT, "tests", "fixtures", "quant")
tensors = {
    "real": np.load(os.path.join(q, "real.npy")).astype(np.float32).ravel(),
    "syn": np.load(os.path.join(q, "syn.npy")).astype(np.float32).ravel(),
    "softmax": np.load(os.path.join(ROOT, "tests", "fixtures", "real", "ort_int8", "float.npz"))["softmax_11.tmp_0"].astype(np.float32).ravel(),
    "one": np.array([0.37], dtype=np.float32),
}
np.save(os.path.join(OUT, "softmax.npy"), tensors["softmax"])
np.save(os.path.join(OUT, "one.npy"), tensors["one"])


def mse(x, s, qmin, qmax):
    s = np.float32(s)
    k = np.clip(np.round(x * (np.float32(1) / s)), qmin, qmax)  # numpy rounds half to even
    d = (k * s - x).astype(np.float64)
    return float((d * d).mean())


out = {}
for name, x in tensors.items():
    amax = float(np.abs(x).max())
    for dt, (qmin, qmax) in (("int8", (-128, 127)), ("int16", (-32768, 32767))):
        ts = np.arange(1, 4001) / 4000.0
        errs = [mse(x, amax * t / qmax, qmin, qmax) for t in ts]
        i = int(np.argmin(errs))
        out[f"{name}_{dt}"] = {
            "best_mse": errs[i], "best_scale": amax * ts[i] / qmax,
            "minmax_mse": mse(x, amax / ((qmax - qmin) / 2), qmin, qmax),
            "amax_over_qmax_mse": mse(x, amax / qmax, qmin, qmax),
        }

with open(os.path.join(OUT, "expected.json"), "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
print(json.dumps({k: round(v["best_mse"] / max(v["minmax_mse"], 1e-300), 4) for k, v in out.items()}))
fixture_check.finish(DEFAULT_OUT)
