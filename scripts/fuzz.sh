#!/usr/bin/env bash
# Re-runs every fuzz target (or the ones named) for SECONDS each (default 60), then minimizes its
# corpus (`cargo fuzz cmin`) into fuzz/corpus/TARGET. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`). Not part of scripts/test.sh: the committed corpora are
# replayed by `cargo test` (tests/fuzz_corpus.rs); this script searches for new inputs.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# A crash, a hang (-timeout) or an allocation over -malloc_limit_mb stops that target and leaves
# the input in fuzz/artifacts/TARGET/; the script goes on with the next and exits 1 at the end.
# A summary line per target (executions, coverage, corpus) is printed and appended to
# fuzz/runs.log (not committed).
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
export PATH="$HOME/.cargo/bin:$PATH"
secs=${1:-60}
shift || true
# onnx_model needs tract (`--features model`, a long build): run it by hand (RELIABILITY.md).
if [ $# -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo +nightly fuzz list | grep -vx onnx_model); fi
# Keep the committed corpora small: at most this many files and bytes per target after minimizing.
max_files=500
max_bytes=$((1 << 20))
# Built once (release, debug assertions on: overflow checks, AddressSanitizer); the binaries are
# then run directly, so editing the sources while fuzzing does not rebuild in the middle.
nice -n 10 cargo +nightly fuzz build -O -a || exit 1
bin=target/x86_64-unknown-linux-gnu/release
status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
  log=$(mktemp)
  nice -n 10 "$bin/$t" "corpus/$t" "seeds/$t" -artifact_prefix="artifacts/$t/" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -malloc_limit_mb=256 \
    -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
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
    # Minimize into a fresh folder, then replace the corpus with it.
    rm -rf "corpus/$t.min" && mkdir "corpus/$t.min"
    nice -n 10 "$bin/$t" "corpus/$t.min" "corpus/$t" "seeds/$t" \
      -merge=1 -timeout=10 -rss_limit_mb=1024 -max_len=65536 >/dev/null 2>&1 &&
      rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
    # Over the cap (files or bytes): drop files chosen by their names (content hashes, so an
    # unbiased sample), never by size: the largest inputs are often the ones that reach deep.
    while [ "$(ls "corpus/$t" | wc -l)" -gt "$max_files" ] || [ "$(du -sb "corpus/$t" | cut -f1)" -gt "$max_bytes" ]; do
      ls "corpus/$t" | sort | tail -n 20 | sed "s|^|corpus/$t/|" | xargs rm -f
    done
    files=$(ls "corpus/$t" | wc -l)
    bytes=$(du -sb "corpus/$t" | cut -f1)
    echo "$t: ${secs}s, ${runs:-?} executions, ${cov:-cov ?}, ${sat:-saturation ?}, corpus $files files / $bytes bytes" | tee -a runs.log
  fi
  rm -f "$log"
done
exit $status
