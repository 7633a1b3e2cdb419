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
echo "== wasm sizes (dist/, as served; wasm-opt off)"
for f in dist/*.wasm; do
  printf '  %-34s %10d bytes   gzip -9 %9d bytes\n' "$(basename "$f")" "$(stat -c %s "$f")" "$(gzip -9c "$f" | wc -c)"
done
# wasm-opt (binaryen from npm; Debian's wasm-opt 108 cannot read our output) on the app and the
# worker, for the record: BENCH_WASM_OPT=1 scripts/bench.sh (a few minutes per file on 2 cores).
if [ "${BENCH_WASM_OPT:-0}" = 1 ]; then
  wo="$(mktemp -d)"
  [ -x "$wo/node_modules/.bin/wasm-opt" ] || (cd "$wo" && npm install --no-audit --no-fund --loglevel=error binaryen@132 >/dev/null)
  feats="--enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue"
  for f in dist/app-*_bg.wasm dist/worker_bg.wasm; do
    # shellcheck disable=SC2086
    "$wo/node_modules/.bin/wasm-opt" $feats -O3 "$f" -o "$wo/o.wasm"
    printf '  %-34s %10d bytes   gzip -9 %9d bytes   (wasm-opt -O3)\n' "$(basename "$f")" "$(stat -c %s "$wo/o.wasm")" "$(gzip -9c "$wo/o.wasm" | wc -c)"
  done
  rm -rf "$wo"
fi
echo "== report parsing"
node e2e/bench.mjs
echo "== big dumps in the browser: plain read vs QuantLens, and a typed scale"
node e2e/bench_ingest.mjs
echo "== comparison kernels"
python3 scripts/bench_metrics.py
# relaxed-simd, for the record (off in the build: not exact): BENCH_RELAXED=1 scripts/bench.sh builds
# the wasm kernel benchmark and the native = wasm identity test with +relaxed-simd in a target dir of
# their own and runs them beside the shipped simd128 build (Node needs a flag for relaxed SIMD).
if [ "${BENCH_RELAXED:-0}" = 1 ]; then
  echo "== relaxed-simd vs simd128 (wasm kernels under Node; identity: the committed native results)"
  for i in 1 2; do
    cargo test --release --locked --target wasm32-unknown-unknown --no-default-features --test wasm_bench -- --include-ignored --nocapture 2>&1 | grep WASMBENCH | sed 's/^/  simd128: /'
    CARGO_TARGET_DIR=target/relaxed CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" NODE_ARGS=--experimental-wasm-relaxed-simd \
      cargo test --release --locked --target wasm32-unknown-unknown --no-default-features --test wasm_bench -- --include-ignored --nocapture 2>&1 | grep WASMBENCH | sed 's/^/  relaxed: /'
  done
  CARGO_TARGET_DIR=target/relaxed CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd" NODE_ARGS=--experimental-wasm-relaxed-simd \
    cargo test --release --locked --target wasm32-unknown-unknown --no-default-features --test wasm_engine 2>&1 | grep -E "lines differ|test result" | sed 's/^ */  relaxed identity: /' || true
fi
echo "== bounded memory: a pair of 2 GiB dumps (peak heap)"
QUANTLENS_MEM_TEST_MIB=2048 cargo test --release --locked --test memory -- --nocapture 2>&1 | grep -E "compared|test result"
echo "== model runner vs onnxruntime-web"
python3 -c 'import onnx, rapidocr_onnxruntime' 2>/dev/null || python3 -m pip install --quiet onnx rapidocr-onnxruntime
node e2e/bench_model.mjs
