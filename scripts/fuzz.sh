#!/usr/bin/env bash
# Re-runs every fuzz target (or the ones named) for SECONDS each (default 60), then minimizes its
# corpus (`cargo fuzz cmin`) into fuzz/corpus/TARGET. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Not part of scripts/test.sh: the committed corpora are
# replayed by `cargo test` (tests/fuzz_corpus.rs); this script searches for new inputs.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS 0 fuzzes nothing: it only makes the committed corpora again from the working ones.
#
# A crash, a hang (-timeout) or an allocation over -malloc_limit_mb stops that target and leaves
# the input in fuzz/artifacts/TARGET/; the script goes on with the next and exits 1 at the end.
# A summary line per target (executions, coverage, corpus) is printed and appended to
# fuzz/runs.log (not committed).
#
# Each target fuzzes a working corpus, fuzz/work/TARGET (not committed, never capped; made from the
# committed corpus the first time), so a second run goes on from everything the first found and
# its "last new edge" reads a plateau rather than edges the cap had dropped. After each run the
# working corpus is minimized and a capped copy of it becomes the committed fuzz/corpus/TARGET.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
secs=${1:-60}
shift || true
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list); fi
# Keep the committed corpora small: at most this many files and bytes per target. The committed
# corpus is the working one minimized on edges alone (no hit counts: 500 to 1,300 files, 0.2 to
# 1.4 MB), so it reaches every edge the working corpus reaches while it fits.
max_files=1500
max_bytes=$((3 << 19))
# Built once (release, debug assertions on: overflow checks, AddressSanitizer); the binaries are
# then run directly, so editing the sources while fuzzing does not rebuild in the middle.
# onnx_model loads models with tract (`--features model`): built on its own, without
# AddressSanitizer (tract is large, and safe Rust), and run with 2 GiB of memory.
plain=0
model=0
for t in "${targets[@]}"; do if [ "$t" = onnx_model ]; then model=1; else plain=1; fi; done
if [ $plain = 1 ]; then nice -n 10 cargo +nightly fuzz build -O -a || exit 1; fi
if [ $model = 1 ]; then nice -n 10 cargo +nightly fuzz build -O -a -s none --features model onnx_model || exit 1; fi
bin=target/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
  if [ ! -d "work/$t" ]; then mkdir -p work && cp -r "corpus/$t" "work/$t"; fi
  # Inputs that once crashed a target (fixed since) are fuzzed from too.
  inputs=("work/$t" "corpus/$t" "seeds/$t")
  if [ -d "regressions/$t" ]; then inputs+=("regressions/$t"); fi
  limits=(-rss_limit_mb=1024 -malloc_limit_mb=256)
  if [ "$t" = onnx_model ]; then limits=(-rss_limit_mb=2048); fi
  log=$(mktemp)
  rc=0
  if [ "$secs" -gt 0 ]; then
    nice -n 10 "$bin/$t" "${inputs[@]}" -artifact_prefix="artifacts/$t/" \
      -max_total_time="$secs" -timeout=10 "${limits[@]}" \
      -max_len=65536 -print_final_stats=1 >"$log" 2>&1
    rc=$?
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  # Edges when the corpus was loaded, so a run's gain reads off its line.
  init=$(grep -E '^#[0-9]+\s+INITED' "$log" | grep -oE 'cov: [0-9]+' | head -1 | grep -oE '[0-9]+')
  # Saturation: the execution at which the last new edge (cov) came, and the share of the run
  # that came after it. Features (ft) keep growing for long; edges are what a plateau is read on.
  sat=$(grep -oE '^#[0-9]+\s+(INITED|NEW|REDUCE|pulse)\s+cov: [0-9]+' "$log" |
    awk -v total="${runs:-0}" '{n=substr($1,2)+0; c=$NF+0; if (c>best) {best=c; at=n}}
      END {if (total>0) printf "last new edge at execution %d of %d (%.1f%% of the run after it)", at, total, 100*(total-at)/total}')
  if [ $rc -ne 0 ]; then
    status=1
    echo "$t: FAILED (exit $rc) after ${runs:-?} executions; see fuzz/artifacts/$t/" | tee -a runs.log
    grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -5
    cp "$log" "artifacts/$t/last.log"
  else
    # Minimize the working corpus into a fresh folder, then replace it with that.
    rm -rf "work/$t.min" && mkdir "work/$t.min"
    nice -n 10 "$bin/$t" "work/$t.min" "${inputs[@]}" \
      -merge=1 -timeout=10 "${limits[@]}" -max_len=65536 >/dev/null 2>&1 &&
      rm -rf "work/$t" && mv "work/$t.min" "work/$t"
    wfiles=$(ls "work/$t" | wc -l)
    # The committed corpus: the working one minimized on edges alone (-use_counters=0: a file is
    # kept for an edge no smaller file reaches, not for a new hit count), so it reaches every
    # edge the working corpus does. Over the cap (files or bytes), files chosen by their names
    # (content hashes, so an unbiased sample) are dropped, never by size: the largest inputs are
    # often the ones that reach deep.
    rm -rf "corpus/$t" && mkdir "corpus/$t"
    nice -n 10 "$bin/$t" "corpus/$t" "work/$t" -merge=1 -use_counters=0 -timeout=10 \
      "${limits[@]}" -max_len=65536 >"$log.merge" 2>&1 ||
      { rm -rf "corpus/$t" && cp -r "work/$t" "corpus/$t"; }
    edges=$(grep -oE '[0-9]+ new coverage edges' "$log.merge" | grep -oE '^[0-9]+' | tail -1)
    rm -f "$log.merge"
    capped=0
    while [ "$(ls "corpus/$t" | wc -l)" -gt "$max_files" ] || [ "$(du -sb "corpus/$t" | cut -f1)" -gt "$max_bytes" ]; do
      ls "corpus/$t" | sort | tail -n 20 | sed "s|^|corpus/$t/|" | xargs rm -f
      capped=1
    done
    reach="reaching all ${edges:-?} edges of the working corpus"
    if [ $capped = 1 ]; then reach="capped: less than the ${edges:-?} edges of the working corpus"; fi
    files=$(ls "corpus/$t" | wc -l)
    bytes=$(du -sb "corpus/$t" | cut -f1)
    echo "$t: ${secs}s, ${runs:-?} executions, edges at start ${init:-?}, ${cov:-cov ?}, ${sat:-saturation ?}, working corpus $wfiles files, committed $files files / $bytes bytes ($reach)" | tee -a runs.log
  fi
  rm -f "$log"
done
exit $status
