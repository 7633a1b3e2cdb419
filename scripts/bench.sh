#!/usr/bin/env bash
# Benchmarks with a baseline measured in the same run. Prints throughput and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true
scripts/setup.sh test >/dev/null
cargo build --release --locked --bin quantlens
trunk build --release --offline
node e2e/bench.mjs
