#!/usr/bin/env python3
"""numpy calibrating the same data as `quantlens bench --calib` (the benchmark's baseline).

Data: b[i] = sin((i % 9973)·0.001)·3 + ((i // 4096) % 7)·0.1 (float32), streamed in batches of 2^20.
Pass 1: |x| max. Pass 2: 2048-bin |x| histogram with the same bin formula as QuantLens
(floor(|x|·bins/amax), last bin inclusive; np.bincount, faster than np.histogram). Then the int8 scales
of min-max, percentile 99.99%, MSE search over bin edges (each bin's rounding and clipping error
integrated in closed form, as QuantLens predicts it) and TensorRT-style KL, vectorized where
numpy allows. Prints JSON with the best of 3 runs and the scales.
"""
import json
import math
import sys
import time

import numpy as np

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000_000
i = np.arange(n, dtype=np.int64)
x = (np.sin((i % 9973).astype(np.float32) * np.float32(0.001)) * np.float32(3.0)
     + ((i // 4096) % 7).astype(np.float32) * np.float32(0.1)).astype(np.float32)
del i
NB, HALF, LEVELS = 2048, 127.5, 128
EPS = float(np.finfo(np.float32).eps)


def scale(a):
    return max(a / HALF, EPS)


def kl_threshold(bins):
    nb = len(bins)
    best = (math.inf, nb)
    for i in range(LEVELS, nb + 1):
        p = bins[:i].astype(np.float64)
        p[i - 1] += bins[i:].sum()
        per = i / LEVELS
        edges = [math.floor(j * per) for j in range(LEVELS)] + [i]
        q = np.zeros(i)
        for j in range(LEVELS):
            a, b = edges[j], edges[j + 1]
            seg = bins[a:b]
            nz = seg > 0
            c = int(nz.sum())
            if c:
                q[a:b][nz] = seg.sum() / c
        sp, sq = p.sum(), q.sum()
        if sp == 0 or sq == 0:
            continue
        m = p > 0
        pk = p[m] / sp
        qk = np.maximum(q[m] / sq, 1e-12)
        kl = float((pk * np.log(pk / qk)).sum())
        if kl < best[0]:
            best = (kl, i)
    return best[1]


def calibrate():
    batches = [x[s:s + (1 << 20)] for s in range(0, n, 1 << 20)]
    amax = max(float(np.abs(b).max()) for b in batches)
    k = NB / amax
    bins = np.zeros(NB, dtype=np.int64)
    for b in batches:
        idx = np.minimum((np.abs(b).astype(np.float64) * k).astype(np.int64), NB - 1)
        bins += np.bincount(idx, minlength=NB)
    w = amax / NB
    count = int(bins.sum())
    target = max(math.ceil(0.9999 * count), 1)
    pct = (int(np.searchsorted(np.cumsum(bins), target)) + 1) * w
    return [scale(amax), scale(pct), mse_scale(bins, w, amax), scale(kl_threshold(bins) * w)]


def rounding_integral(u):
    """H(u) = integral over [0, u] of (v - round(v))^2 dv, elementwise (u >= 0)."""
    c = np.floor(u + 0.5)
    d = u - c
    return np.where(c <= 0, u ** 3 / 3.0, 1.0 / 24.0 + (c - 1.0) / 12.0 + (d ** 3 + 0.125) / 3.0)


def predicted_sq_error(bins, w, svals, top):
    """For each scale in svals: the sum over bins of n/w times the integral over the bin of
    (x - q(x))^2, q rounding to the scale's grid and clipping at top*scale (each bin's values
    spread evenly over it)."""
    nz = np.nonzero(bins)[0]
    n = bins[nz].astype(np.float64)
    a, b = nz * w, (nz + 1) * w
    s = np.asarray(svals, dtype=np.float64)[:, None]
    lim = top * s
    lo = np.maximum(a, lim)
    over = np.where(b > lim, ((b - lim) ** 3 - (lo - lim) ** 3) / 3.0, 0.0)
    hi = np.minimum(b, lim)
    rnd = np.where(hi > a, s ** 3 * (rounding_integral(hi / s) - rounding_integral(a / s)), 0.0)
    return ((over + rnd) * n / w).sum(axis=1)


def mse_scale(bins, w, amax):
    """The MSE-optimal int8 scale as QuantLens searches it: a clip at every 8th bin edge, then every
    edge around the best; amax/127 (nothing clipped) when it is within 0.1% of the best."""
    top = 127.0
    stride = -(-NB // 256)
    coarse = list(range(stride, NB + 1, stride)) + [NB]
    err = predicted_sq_error(bins, w, [scale(i * w) for i in coarse], top)
    best = (math.inf, 0)
    for i, e in zip(coarse, err):
        if e < best[0]:
            best = (e, i)
    fine = list(range(max(best[1] - stride, 1), min(best[1] + stride, NB) + 1))
    for i, e in zip(fine, predicted_sq_error(bins, w, [scale(i * w) for i in fine], top)):
        if e < best[0]:
            best = (e, i)
    ort = amax / top
    if predicted_sq_error(bins, w, [ort], top)[0] <= best[0] * (1 + 1e-3):
        return ort
    return scale(best[1] * w)


best, scales = math.inf, None
for _ in range(3):
    t = time.perf_counter()
    scales = calibrate()
    best = min(best, time.perf_counter() - t)
print(json.dumps({"elems": n, "calib_s": best, "scales": scales}))
