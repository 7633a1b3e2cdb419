#!/usr/bin/env python3
"""Run the metric benchmarks in one go and print throughput and ratios: QuantLens native, QuantLens wasm
(simd128, in Node), numpy computing the same metrics, and a bandwidth baseline (a plain sum over the same
bytes, natively). Same arrays everywhere (metrics::bench::arrays / scripts/bench_numpy.py)."""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 16 << 20
env = dict(os.environ)
# Measure numpy as it runs unhindered (see the env notes on OPENBLAS_CORETYPE).
np_env = {k: v for k, v in env.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}


def run(cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True, **kw).stdout


native = json.loads(run([os.path.join(ROOT, "target/release/quantlens"), "bench", "--elems", str(N)]))
numpy = json.loads(run([sys.executable, os.path.join(ROOT, "scripts/bench_numpy.py"), str(N)], env=np_env))
out = run(["cargo", "test", "--release", "--target", "wasm32-unknown-unknown", "--no-default-features",
           "--test", "wasm_bench", "--", "--include-ignored", "--nocapture"])
wasm = json.loads(re.search(r"WASMBENCH (\{.*\})", out).group(1))
wasm_calib = json.loads(re.search(r"WASMCALIB (\{.*\})", out).group(1))
CN = 100_000_000
native_calib = json.loads(run([os.path.join(ROOT, "target/release/quantlens"), "bench", "--calib", "--elems", str(CN)]))
numpy_calib = json.loads(run([sys.executable, os.path.join(ROOT, "scripts/bench_calib_numpy.py"), str(CN)], env=np_env))
gb = N * 8 / 1e9
rows = [
    ("bandwidth baseline (plain sum, native)", native["plain_sum_s"], None),
    (f"QuantLens native ({native['kernel']}): metrics + split", native["metrics_s"], numpy["metrics_s"]),
    *([("QuantLens native (avx2, CPUs without AVX-512)", native["metrics_avx2_s"], numpy["metrics_s"])]
      if native.get("metrics_avx2_s") else []),
    ("QuantLens native (sse2, the portable kernel)", native["metrics_portable_s"], numpy["metrics_s"]),
    ("QuantLens wasm (Node, simd128): metrics + split", wasm["metrics_s"], numpy["metrics_s"]),
    ("numpy: the same metrics + split", numpy["metrics_s"], numpy["metrics_s"]),
    ("QuantLens native: KL (softmax dim 1, f32 lanes)", native["kl_s"], numpy["kl_s"]),
    ("QuantLens wasm: KL", wasm["kl_s"], numpy["kl_s"]),
    ("numpy: KL", numpy["kl_s"], numpy["kl_s"]),
]
print(f"\nComparison kernels on 2 × {N} float32 elements ({gb:.2f} GB), best of 5, one run:")
print(f"  {'':50} {'time':>9} {'GB/s':>7} {'× numpy':>8}")
for name, t, ref in rows:
    ratio = f"{ref / t:7.1f}×" if ref else "       "
    print(f"  {name:50} {t * 1000:7.1f} ms {gb / t:7.2f} {ratio}")
print(f"  KL: wasm {numpy['kl_s'] / wasm['kl_s']:.1f}× numpy, native {numpy['kl_s'] / native['kl_s']:.1f}× numpy (target: wasm ≥ 3×)")
print(f"  native metrics ({native['kernel']}) reach {native['plain_sum_s'] / native['metrics_s'] * 100:.0f}% of the bandwidth baseline"
      + (f" (the avx2 kernel {native['plain_sum_s'] / native['metrics_avx2_s'] * 100:.0f}%," if native.get("metrics_avx2_s") else " (")
      + f" the sse2 kernel {native['plain_sum_s'] / native['metrics_portable_s'] * 100:.0f}%)")

print(f"\nCalibration over {CN} float32 values (|x| max, 2048-bin histogram, then min-max, percentile 99.99%, MSE and KL int8 scales), best of 3:")
print(f"  {'':50} {'time':>9} {'Mvalues/s':>10} {'× numpy':>8}")
for name, r in [("QuantLens native", native_calib), ("QuantLens wasm (Node, simd128)", wasm_calib), ("numpy (bincount; python KL loop)", numpy_calib)]:
    print(f"  {name:50} {r['calib_s'] * 1000:7.1f} ms {CN / r['calib_s'] / 1e6:10.0f} {numpy_calib['calib_s'] / r['calib_s']:7.1f}×")
same = all(abs(p - q) <= 1e-12 * abs(q) for r in (native_calib, wasm_calib) for p, q in zip(r["scales"], numpy_calib["scales"]))
print(f"  scales agree with numpy's: {'yes' if same else 'NO'} {native_calib['scales']}")
if not same:
    sys.exit(f"calibration scales differ: {native_calib['scales']} {wasm_calib['scales']} {numpy_calib['scales']}")
