#!/usr/bin/env python3
"""numpy computing the same metrics as QuantLens on the same arrays (the benchmark's baseline).

Arrays: b[i] = sin((i % 9973)·0.001)·3 + ((i // 4096) % 7)·0.1 (float32), a = its int8 fake-quant at 0.02.
Metrics without KL: cosine, MSE, L1, SQNR, Atol, Rtol, min/max/mean/var of both, the error split.
KL: softmax along dim 1 of [1, 64, n/64] in float64. Prints JSON with the best of 5 runs.
"""
import json
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 64 << 20
i = np.arange(n, dtype=np.int64)
b = (np.sin((i % 9973).astype(np.float32) * np.float32(0.001)) * np.float32(3.0) + ((i // 4096) % 7).astype(np.float32) * np.float32(0.1)).astype(np.float32)
a = (np.clip(np.rint(b * np.float32(1 / np.float32(0.02))), -128, 127) * np.float32(0.02)).astype(np.float32)
del i


def metrics():
    d = b - a
    dot = float(np.dot(b.astype(np.float64), a.astype(np.float64)))
    na, nb = np.linalg.norm(a.astype(np.float64)), np.linalg.norm(b.astype(np.float64))
    dd = float(np.dot(d.astype(np.float64), d.astype(np.float64)))
    out = [dot / (max(na, 1e-8) * max(nb, 1e-8)), dd / n, float(np.abs(d).mean(dtype=np.float64)),
           20 * np.log10(nb / np.sqrt(dd)), float(np.abs(d).max())]
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.nan_to_num(d / b, nan=0.0, posinf=np.finfo(np.float32).max)
    out.append(float(np.abs(r).max()))
    for v in (a, b):
        out += [float(v.min()), float(v.max()), float(v.mean(dtype=np.float64)), float(v.var(dtype=np.float64, ddof=1))]
    k = np.rint(b * np.float32(50.0))
    clipped = (k > 127) | (k < -128)
    e = (np.clip(k, -128, 127) * np.float32(0.02) - b).astype(np.float64)
    out += [float((e[clipped] ** 2).sum()), float((e[~clipped] ** 2).sum())]
    return out


def kl():
    m = n // 64
    bb = b[: m * 64].reshape(1, 64, m).astype(np.float64)
    aa = a[: m * 64].reshape(1, 64, m).astype(np.float64)

    def log_softmax(x):
        mx = x.max(axis=1, keepdims=True)
        return x - mx - np.log(np.exp(x - mx).sum(axis=1, keepdims=True))

    lb, la = log_softmax(bb), log_softmax(aa)
    return float((np.exp(lb) * (lb - la)).sum() / (m * 64))


def best(f):
    t = float("inf")
    for _ in range(5):
        s = time.perf_counter()
        f()
        t = min(t, time.perf_counter() - s)
    return t


print(json.dumps({"elems": n, "metrics_s": best(metrics), "kl_s": best(kl)}))
