//! The engine compiled to wasm32 (+simd128) gives the same findings as natively (run under Node by
//! `wasm-bindgen-test-runner`; `cargo test --target wasm32-unknown-unknown --no-default-features --test wasm_engine`).
#![cfg(target_arch = "wasm32")]

use quantlens::engine::session::analyze_text;
use wasm_bindgen_test::wasm_bindgen_test;

const S11: &str = include_str!("fixtures/horizon/s11-full/model_check_result.txt");
const SEED: &str = include_str!("fixtures/seed/model_check_excerpt.txt");

#[wasm_bindgen_test]
fn wasm_engine_diagnoses_the_s11_fixture() {
    let (report, findings) = analyze_text("model_check_result.txt", S11);
    assert!(report.error.is_none());
    let kinds: Vec<&str> = findings.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "qint32_output",
            "float_input",
            "low_precision_output",
            "unfused",
            "unfused",
            "shared_module",
            "unusual_qconfig",
            "unusual_qconfig",
            "unused_module"
        ]
    );
}

#[wasm_bindgen_test]
fn wasm_engine_reaches_the_seed_conclusions() {
    let (_, findings) = analyze_text("excerpt", SEED);
    let q = findings
        .iter()
        .find(|f| f.kind == "qint32_output")
        .expect("qint32");
    assert_eq!(q.layers, ["model.obstacle_head.reg_branches.0.0"]);
}

#[wasm_bindgen_test]
fn wasm_engine_rejects_binary_cleanly() {
    let (report, _) = quantlens::engine::analyze_source("x.bin", 4, &[0u8, 159, 146, 150][..]);
    assert!(report.error.expect("rejected").contains("binary"));
}

#[wasm_bindgen_test]
fn simd128_is_enabled_for_the_wasm_build() {
    assert!(
        cfg!(target_feature = "simd128"),
        ".cargo/config.toml must enable +simd128"
    );
}
