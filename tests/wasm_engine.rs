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

#[wasm_bindgen_test]
fn wasm_metrics_match_the_native_ones_on_real_activations() {
    use quantlens::engine::pairs;
    use quantlens::engine::tensor;
    let mut f = include_bytes!("fixtures/tensors/ppocr_cls_float.npz").to_vec();
    let mut q = include_bytes!("fixtures/tensors/ppocr_cls_qdq.npz").to_vec();
    let fl: Vec<pairs::Located> = tensor::list_tensors("f.npz", &mut f)
        .expect("float npz")
        .into_iter()
        .map(|entry| pairs::Located { file: 0, entry })
        .collect();
    let ql: Vec<pairs::Located> = tensor::list_tensors("q.npz", &mut q)
        .expect("deflated npz")
        .into_iter()
        .map(|entry| pairs::Located { file: 0, entry })
        .collect();
    let p = pairs::pair(&fl, &ql);
    let add = p.pairs.iter().find(|x| x.name == "Add@0").expect("Add@0");
    let m = pairs::compare_pair(
        &mut f,
        &add.float.entry,
        &mut q,
        &add.quant.entry,
        Some(0.047_244_094_312_191_01),
        Some("int8"),
        0,
        &mut |_| {},
    )
    .expect("compare");
    // numpy: cosine 0.997864…, 3.17% of elements clipped (tests/fixtures/tensors/expected.json).
    assert!((m.cosine - 0.997864).abs() < 1e-5, "{}", m.cosine);
    let sp = m.error_split.expect("split");
    assert!(
        (sp.clipped_fraction - 0.031738).abs() < 1e-4,
        "{}",
        sp.clipped_fraction
    );
}

#[path = "common/identity.rs"]
mod identity;

/// Native = wasm: the metrics (with the error split and the whole result as JSON), fake
/// quantization and observers of `tests/common/identity.rs`'s seeded cases, computed here under
/// wasm32 + simd128, are the native results committed in the golden file: bit for bit, SQNR's
/// log10 and KL's logarithms included (`engine::math`; they are written apart on each line, after
/// `libm=`, from when they went through the platform's math library and differed).
#[wasm_bindgen_test]
fn wasm_results_are_bit_identical_to_the_native_ones() {
    let golden = include_str!("fixtures/wasm_identity.txt");
    let want = identity::golden_lines(golden);
    let got = identity::lines();
    assert_eq!(want.len(), got.len(), "line count");
    assert!(got.len() >= 3 * identity::CASES as usize);
    let (mut libm_values, mut libm_differ) = (0, 0);
    let mut differ: Vec<(&str, &String)> = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        let ((we, wl), (ge, gl)) = (identity::split_libm(w), identity::split_libm(g));
        libm_values += wl.len();
        libm_differ += wl
            .iter()
            .zip(&gl)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        let libm_ok = wl.len() == gl.len()
            && wl
                .iter()
                .zip(&gl)
                .all(|(a, b)| identity::libm_close(*a, *b));
        if we != ge || !libm_ok {
            differ.push((w, g));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} lines differ from the native results; first:\nnative {}\nwasm   {}",
        differ.len(),
        got.len(),
        differ[0].0,
        differ[0].1
    );
    // SQNR and KL go through `engine::math` (the libm crate on both targets): the same bits too.
    assert_eq!(
        libm_differ, 0,
        "{libm_differ} of {libm_values} SQNR/KL results differ from the native ones in their last bits"
    );
    wasm_bindgen_test::console_log!(
        "native = wasm: {} lines identical, their {libm_values} SQNR/KL results included",
        got.len()
    );
}

/// A changed scale computes the split alone (`Accumulator::update_split`: the simd128 kernel's
/// split loop and the scalar steps for a partial chunk); under wasm it is the whole pass's split,
/// bit for bit, on ragged lengths and non-finite values.
#[wasm_bindgen_test]
fn the_split_alone_is_the_whole_passes_split_in_wasm() {
    use quantlens::engine::metrics::{Accumulator, QuantSpec};
    let mut rng = identity::Rng::new(7);
    let mut cases = 0;
    for len in (0..40).chain([255, 256, 257, 1000, 4099]) {
        for kind in 0..3 {
            let b: Vec<f32> = (0..len).map(|_| rng.value(kind)).collect();
            let chunk = 1 + rng.below(700) as usize;
            for quant in [QuantSpec::int8(0.02), QuantSpec::int16(1e-4)] {
                let split = |whole: bool| {
                    let mut acc = Accumulator::new(&[len as u64], false, Some(quant), false);
                    for x in b.chunks(chunk) {
                        if whole {
                            acc.update(x, x);
                        } else {
                            acc.update_split(x);
                        }
                    }
                    let s = acc.finish().error_split.expect("a split");
                    // NaN's sign and payload carry nothing (and differ between x86 and wasm).
                    let bits = |v: f64| if v.is_nan() { u64::MAX } else { v.to_bits() };
                    (bits(s.clip), bits(s.round), bits(s.clipped_fraction))
                };
                assert_eq!(
                    split(false),
                    split(true),
                    "len {len}, kind {kind}, {quant:?}"
                );
                cases += 1;
            }
        }
    }
    assert_eq!(cases, 45 * 3 * 2);
}
