//! Replays every fuzz target's committed corpus (`fuzz/corpus/TARGET/`, and its seeds) through the
//! same harness the fuzzers run (`fuzz/harness.rs`): each input that once crashed, hung or blew up
//! memory stays fixed, and each decoder keeps taking what it took. Runs in the normal `cargo test`;
//! the fuzzers themselves run with `scripts/fuzz.sh`.

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::Path;
use std::time::{Duration, Instant};

fn inputs(target: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "seeds", "regressions"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    files.sort();
    files
}

#[test]
fn every_target_has_a_corpus() {
    for (name, _) in harness::TARGETS {
        assert!(
            !inputs(name).is_empty(),
            "fuzz target {name} has no corpus or seeds in fuzz/"
        );
    }
}

#[test]
fn every_corpus_replays_without_a_panic() {
    let mut total = 0;
    for (name, run) in harness::TARGETS {
        for path in inputs(name) {
            let data = std::fs::read(&path).expect("read a corpus file");
            let t0 = Instant::now();
            let r = std::panic::catch_unwind(|| run(&data));
            assert!(r.is_ok(), "{name}: {} panics", path.display());
            // A hang is a failure too (the fuzzers stop at 10 s; a replay is far below that).
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{name}: {} takes {:?}",
                path.display(),
                t0.elapsed()
            );
            total += 1;
        }
    }
    eprintln!("{total} inputs replayed");
    assert!(total >= harness::TARGETS.len());
}
