#!/usr/bin/env bash
# How much of each decoder's own source its fuzz corpus reaches: every target (or the ones named)
# is built with coverage instrumentation (`cargo fuzz coverage`), its committed corpus, seeds and
# regression inputs are replayed, and the lines reached in the decoder's files are printed (and
# appended to fuzz/coverage.log, not committed). Edges that keep growing say the fuzzer is still
# finding paths; this says whether those paths are the decoder's: a corpus that never gets past a
# format check shows it here and nowhere else.
#
#   scripts/fuzz_coverage.sh [--work] [TARGET...]
#
# --work replays the uncapped working corpora (fuzz/work/TARGET) instead of the committed ones.
# Needs the nightly toolchain, cargo-fuzz and nightly's llvm-tools
# (`rustup component add llvm-tools --toolchain nightly`). onnx_model is left out unless named
# (tract built with coverage takes long); its decoder file is onnx_graph.rs.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
which=corpus
if [ "${1:-}" = --work ]; then which=work; shift; fi
if [ $# -gt 0 ]; then targets=("$@"); else
  mapfile -t targets < <(cargo +nightly fuzz list | grep -vx onnx_model)
fi
sysroot=$(rustc +nightly --print sysroot)
llvm="$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin"
if [ ! -x "$llvm/llvm-cov" ]; then
  echo "llvm-cov missing: rustup component add llvm-tools --toolchain nightly" >&2
  exit 1
fi
src=$(cd .. && pwd)/src/engine
# The files each target decodes with (the decoder's own source, not what it shares with others).
declare -A files=(
  [report_model_check]="model_check.rs"
  [report_compare_txt]="compare.rs table.rs"
  [report_compare_csv]="compare.rs"
  [report_sensitivity]="sensitivity.rs"
  [report_tabdoc]="tabdoc.rs"
  [report_detect]="detect.rs textenc.rs"
  [tensor_npy]="tensor/npy.rs"
  [tensor_npz]="tensor/npz.rs"
  [tensor_safetensors]="tensor/safetensors.rs"
  [tensor_torch]="tensor/torch.rs"
  [onnx_scales]="scales.rs onnx_graph.rs"
  [scales_json]="scales.rs"
  [sweep_json]="sweep.rs"
  [journal]="journal.rs"
  [share_link]="share.rs"
  [digest_link]="digest.rs"
  [onnx_model]="onnx_graph.rs"
)
bin=target/x86_64-unknown-linux-gnu/coverage/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
  dirs=("$which/$t" "seeds/$t")
  if [ -d "regressions/$t" ]; then dirs+=("regressions/$t"); fi
  features=()
  if [ "$t" = onnx_model ]; then features=(--features model); fi
  rm -rf "coverage/$t"
  if ! nice -n 10 cargo +nightly fuzz coverage "${features[@]}" "$t" "${dirs[@]}" >"/tmp/fuzz_coverage_$t.log" 2>&1; then
    echo "$t: coverage run failed; see /tmp/fuzz_coverage_$t.log"
    status=1
    continue
  fi
  inputs=$(find "${dirs[@]}" -type f | wc -l)
  paths=()
  for f in ${files[$t]}; do paths+=("$src/$f"); done
  # llvm-cov report's columns: regions, missed, cover, functions, missed, executed, lines, missed, cover, …
  "$llvm/llvm-cov" report "$bin/$t" -instr-profile="coverage/$t/coverage.profdata" "${paths[@]}" 2>/dev/null |
    awk -v t="$t" -v which="$which" -v inputs="$inputs" '
      $1 ~ /\.rs$/ {sub(/.*src\/engine\//, "", $1);
        printf "%s (%s, %d inputs): %s lines %d of %d reached (%s), functions %d of %d\n", t, which, inputs, $1, $8-$9, $8, $10, $5-$6, $5}' |
    tee -a coverage.log
done
exit $status
