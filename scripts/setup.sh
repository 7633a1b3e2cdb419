#!/usr/bin/env bash
# Installs whatever QuantLens needs that is missing on this machine. Idempotent: every step checks first.
#   scripts/setup.sh app    -> what `trunk serve` needs (wasm32 target, trunk, wasm-bindgen-cli)
#   scripts/setup.sh test   -> the above plus Python fixture tools, Chromium + chromedriver, npm test packages
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-test}"
TRUNK_VERSION=0.21.14
WASM_BINDGEN_VERSION=0.2.130
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    say "adding rust component ${component}"
    rustup component add "${component}"
  fi
done
if ! wasm-bindgen --version 2>/dev/null | grep -qE "^wasm-bindgen ${WASM_BINDGEN_VERSION}( |$)"; then
  say "installing wasm-bindgen-cli ${WASM_BINDGEN_VERSION} (a few minutes, once)"
  # no --locked: the crate's lock file names a version the registry no longer has
  cargo install wasm-bindgen-cli --version "${WASM_BINDGEN_VERSION}" --force
fi
if ! trunk --version 2>/dev/null | grep -qE "^trunk ${TRUNK_VERSION}( |$)"; then
  say "installing trunk ${TRUNK_VERSION} (about 6 minutes, once)"
  cargo install trunk --version "${TRUNK_VERSION}" --locked --force
fi

[ "$mode" = "app" ] && exit 0

if ! python3 -c 'import tabulate, sys; sys.exit(tabulate.__version__ != "0.9.0")' 2>/dev/null; then
  say "installing python package tabulate (fixture generator)"
  python3 -m pip install --quiet 'tabulate==0.9.0'
fi
# ONNX Runtime and PP-OCR's real models: the model runner's references (gen_model_reference.py)
# and the real-run fixtures are checked against them, and the recognizer test reads its model.
if ! python3 -c 'import onnxruntime, onnx, rapidocr_onnxruntime' 2>/dev/null; then
  say "installing python packages onnxruntime, onnx, rapidocr-onnxruntime (real models for the references)"
  python3 -m pip install --quiet 'onnxruntime==1.32.0' 'onnx==1.23.2' 'rapidocr-onnxruntime==1.4.4'
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing Debian chromium + chromium-driver"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if [ ! -d e2e/node_modules/playwright-core ]; then
  say "installing npm test packages (playwright-core; it never downloads a browser)"
  (cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
say "all tools present"
