//! The native half of the native = wasm identity: the results of `tests/common/identity.rs`
//! (metrics and error split, fake quantization, observers on seeded pseudo-random inputs) are the
//! committed golden file bit for bit; `tests/wasm_engine.rs` checks the wasm32 build against the
//! same file. After a deliberate change of results: `QUANTLENS_BLESS=1 cargo test --test
//! wasm_identity` rewrites it.
#![cfg(not(target_arch = "wasm32"))]

#[path = "common/identity.rs"]
mod identity;

const GOLDEN: &str = "tests/fixtures/wasm_identity.txt";

#[test]
fn golden_file_is_what_the_native_engine_computes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN);
    // The inputs and results depend on nothing of the run (no time, addresses or hash seeds), so
    // the committed file is what every run computes.
    let text = identity::golden_text();
    if std::env::var_os("QUANTLENS_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write the golden file");
    }
    let committed = std::fs::read_to_string(&path).expect("the golden file");
    let (want, got) = (
        identity::golden_lines(&committed),
        identity::golden_lines(&text),
    );
    assert_eq!(want.len(), got.len(), "{GOLDEN}: line count");
    assert!(got.len() >= 3 * identity::CASES as usize);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(
            w, g,
            "{GOLDEN} differs from the native results (QUANTLENS_BLESS=1 rewrites it)"
        );
    }
}
