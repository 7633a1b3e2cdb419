#!/usr/bin/env bash
# Benchmarks with baselines measured in the same run. Prints throughput and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
scripts/setup.sh test >/dev/null
python3 -c 'import numpy' 2>/dev/null || python3 -m pip install --quiet numpy
cargo build --release --locked --bin quantlens
trunk build --release --offline
echo "== report parsing"
node e2e/bench.mjs
echo "== comparison kernels"
python3 scripts/bench_metrics.py
echo "== bounded memory: a pair of 2 GiB dumps (peak heap)"
QUANTLENS_MEM_TEST_MIB=2048 cargo test --release --locked --test memory -- --nocapture 2>&1 | grep -E "compared|test result"
echo "== model runner vs onnxruntime-web"
python3 -c 'import onnx, rapidocr_onnxruntime' 2>/dev/null || python3 -m pip install --quiet onnx rapidocr-onnxruntime
node e2e/bench_model.mjs
