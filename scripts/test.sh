#!/usr/bin/env bash
# Installs whatever is missing, then runs every test: fixture generator check, layering check,
# native cargo tests, wasm tests (Node), release web build, and browser end-to-end tests (Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }
# A fresh clone gains nothing from incremental compilation, and it costs GBs of disk.
export CARGO_INCREMENTAL=0
# The build needs a few GB and the browser tests write up to ~1 GiB of temporary files at once
# (removed as each test file ends): say so plainly when the disk is short, before "ENOSPC" does.
disk() {
  local tmp=${TMPDIR:-/tmp} free_kib
  df -h . "$tmp" | awk 'NR == 1 || !seen[$0]++'
  free_kib=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
  if [ "${free_kib:-0}" -lt $((2 * 1024 * 1024)) ]; then
    echo "warning: less than 2 GiB free in $tmp; the browser tests write up to ~1 GiB there" >&2
  fi
}

step "setup"
disk
scripts/setup.sh test

step "fixtures are what their generators write"
python3 scripts/gen_fixtures.py --check
python3 scripts/gen_zip_fixtures.py --check
python3 scripts/gen_icons.py --check
python3 scripts/gen_seed_journal.py --check
python3 scripts/gen_mse_reference.py --check
if python3 -c 'import PIL, numpy' 2>/dev/null; then python3 scripts/gen_image_fixtures.py --check; else echo "skipped: gen_image_fixtures.py --check (needs PIL, numpy)"; fi
if python3 -c 'import numpy, onnx' 2>/dev/null; then python3 scripts/gen_broken_fixtures.py --check; else echo "skipped: gen_broken_fixtures.py --check (needs numpy, onnx)"; fi
# Every other generator regenerates into a temporary folder and compares (`--check`) where its
# packages are installed: ONNX Runtime on PP-OCR's models (pip install onnxruntime onnx
# rapidocr-onnxruntime), torch for the torch references (about 3 GB, so not installed by setup).
ort_ok=$(python3 -c 'import onnxruntime, onnx, rapidocr_onnxruntime' 2>/dev/null && echo 1 || true)
torch_ok=$(python3 -c 'import torch' 2>/dev/null && echo 1 || true)
for gen in gen_real_runs:ort gen_scale_fixtures:ort gen_clamp_fixtures:ort gen_model_reference:ort gen_tensor_fixtures:ort,torch gen_torch_fixtures:torch gen_quant_reference:torch; do
  name=${gen%%:*}; needs=${gen#*:}; ok=1
  case $needs in *ort*) [ -n "$ort_ok" ] || ok=;; esac
  case $needs in *torch*) [ -n "$torch_ok" ] || ok=;; esac
  if [ -n "$ok" ]; then python3 "scripts/$name.py" --check; else echo "skipped: $name.py --check (needs $needs)"; fi
done

step "layering: the engine uses no web crates (tests/layering.rs checks every layer rule)"
if grep -rnE '\b(yew|web_sys|js_sys|gloo|wasm_bindgen)\b' src/engine; then
  echo "src/engine must stay free of web crates" >&2; exit 1
fi
cargo test --locked --test layering

step "format and lints (rustfmt, clippy -D warnings: native and the wasm web build)"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --features model --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --no-default-features --features web --lib --bins -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --no-default-features --features model-web --lib --bin model_worker -- -D warnings

step "native tests (engine, CLI)"
cargo test --locked

step "model runner (tract) against ONNX Runtime on PP-OCR's classifier; image inputs against PIL + numpy; the onnx_model fuzz corpus through tract"
cargo test --locked --features model --test model_runner --test preprocess --test fuzz_corpus

step "wasm tests (engine on wasm32 + simd128, under Node)"
cargo test --locked --target wasm32-unknown-unknown --no-default-features --test wasm_engine

step "release web build (trunk)"
cargo fetch --locked
trunk build --release --offline

step "browser end-to-end tests (Chromium)"
disk
(cd e2e && node --test --test-concurrency=1 tests/)
