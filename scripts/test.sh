#!/usr/bin/env bash
# Installs whatever is missing, then runs every test: fixture generator check, layering check,
# native cargo tests, wasm tests (Node), release web build, and browser end-to-end tests (Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*"; }

step "setup"
scripts/setup.sh test

step "fixtures are what their generators write"
python3 scripts/gen_fixtures.py --check
# The real-run and scale-source fixtures come from ONNX Runtime on PP-OCR's models: checked where
# those packages are installed (pip install onnxruntime onnx rapidocr-onnxruntime), skipped elsewhere.
if python3 -c 'import onnxruntime, onnx, rapidocr_onnxruntime' 2>/dev/null; then
  python3 scripts/gen_real_runs.py --check
  python3 scripts/gen_scale_fixtures.py --check
else
  echo "skipped: gen_real_runs.py / gen_scale_fixtures.py --check (onnxruntime, onnx, rapidocr-onnxruntime not installed)"
fi

step "layering: the engine uses no web crates (tests/layering.rs checks every layer rule)"
if grep -rnE '\b(yew|web_sys|js_sys|gloo|wasm_bindgen)\b' src/engine; then
  echo "src/engine must stay free of web crates" >&2; exit 1
fi
cargo test --locked --test layering

step "format and lints (rustfmt, clippy -D warnings: native and the wasm web build)"
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo clippy --locked --target wasm32-unknown-unknown --no-default-features --features web --lib --bins -- -D warnings

step "native tests (engine, CLI)"
cargo test --locked

step "wasm tests (engine on wasm32 + simd128, under Node)"
cargo test --locked --target wasm32-unknown-unknown --no-default-features --test wasm_engine

step "release web build (trunk)"
cargo fetch --locked
trunk build --release --offline

step "browser end-to-end tests (Chromium)"
(cd e2e && node --test --test-concurrency=1 tests/)
