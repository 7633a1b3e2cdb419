//! Files written by real `torch.save` (scripts/gen_torch_fixtures.py, torch 2.15) read by the
//! restricted pickle reader, and metrics checked against torch's own implementation of Horizon's
//! definitions (CosineSimilarity, MSELoss, L1Loss, KLDivLoss, …) and `fake_quantize_per_tensor_affine`.

use quantlens::engine::pairs;
use quantlens::engine::tensor::{self, TensorEntry};
use serde_json::Value;
use std::path::Path;

fn file(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tensors/torch_real")
            .join(name),
    )
    .expect("fixture")
}

fn expected() -> Value {
    serde_json::from_slice(&file("expected.json")).expect("json")
}

fn entries(b: &mut Vec<u8>) -> Vec<TensorEntry> {
    tensor::list_tensors("x.pt", b).expect("torch archive")
}

fn sum(b: &mut Vec<u8>, e: &TensorEntry) -> f64 {
    tensor::read_all(b, e)
        .expect("read")
        .iter()
        .map(|&v| v as f64)
        .sum()
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-5 * want.abs().max(1e-9),
        "{what}: got {got}, want {want}"
    );
}

#[test]
fn every_dtype_and_nesting_of_a_real_state_dict() {
    let exp = expected();
    let mut f = file("float.pt");
    let es = entries(&mut f);
    let names: Vec<&str> = es.iter().map(|e| e.name.as_str()).collect();
    for want in [
        "act",
        "conv.weight",
        "half",
        "bf16",
        "f64",
        "nested.list.0",
        "nested.list.1",
        "nested.tuple.0",
        "mask",
        "u8",
        "i16",
        "i32",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for (k, v) in exp["sums"].as_object().expect("sums") {
        if k == "transposed" {
            continue;
        }
        let e = es
            .iter()
            .find(|e| e.name == *k)
            .unwrap_or_else(|| panic!("{k}"));
        let s = sum(&mut f, e);
        let want = v.as_f64().expect("num");
        assert!(
            (s - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{k}: {s} vs {want}"
        );
    }
}

#[test]
fn real_qtensors_dequantize_like_torch() {
    let exp = expected();
    let mut q = file("quant.pt");
    let es = entries(&mut q);
    for k in ["act", "conv.weight", "u8act"] {
        let e = es.iter().find(|e| e.name == k).expect(k);
        close(
            sum(&mut q, e),
            exp[k]["dequant_sum"].as_f64().expect("sum"),
            &format!("{k} dequantized sum"),
        );
    }
    let w = es.iter().find(|e| e.name == "conv.weight").expect("w");
    assert_eq!(
        w.quant.as_ref().and_then(|q| q.axis),
        Some(0),
        "per-channel along axis 0"
    );
    let act = es.iter().find(|e| e.name == "act").expect("act");
    assert_eq!(act.scale, Some(0.05));
}

#[test]
fn metrics_match_torch_on_real_qtensors() {
    let exp = expected();
    let mut f = file("float.pt");
    let mut q = file("quant.pt");
    let fe = entries(&mut f);
    let qe = entries(&mut q);
    for k in ["act", "conv.weight"] {
        let a = fe.iter().find(|e| e.name == k).expect(k);
        let b = qe.iter().find(|e| e.name == k).expect(k);
        let m =
            pairs::compare_pair(&mut f, a, &mut q, b, None, None, 0, &mut |_| {}).expect("compare");
        let want = &exp[k];
        for (name, got) in [
            ("cosine", m.cosine),
            ("mse", m.mse),
            ("l1", m.l1),
            ("atol", m.atol),
            ("rtol", m.rtol),
            ("base_min", m.base_min),
            ("base_max", m.base_max),
            ("base_mean", m.base_mean),
            ("base_var", m.base_var),
            ("analy_min", m.analy_min),
            ("analy_max", m.analy_max),
            ("analy_mean", m.analy_mean),
            ("analy_var", m.analy_var),
        ] {
            close(
                got,
                want[name].as_f64().expect(name),
                &format!("{k} {name}"),
            );
        }
        assert!(
            (m.sqnr_db - want["sqnr_db"].as_f64().expect("sqnr")).abs() < 0.01,
            "{k} sqnr"
        );
        assert!(
            (m.kl - want["kl"].as_f64().expect("kl")).abs() < 1e-9,
            "{k} kl {} vs {}",
            m.kl,
            want["kl"]
        );
        if k == "act" {
            // The split's own-rounding energy is torch.fake_quantize_per_tensor_affine's error.
            let sp = m.error_split.expect("the qtensor brings its scale");
            close(
                sp.clip + sp.round,
                want["fake_quant_energy"].as_f64().expect("fq"),
                "fake-quant energy",
            );
        }
    }
}

#[test]
fn views_transposed_read_and_non_contiguous_reported() {
    let exp = expected();
    let mut v = file("views.pt");
    let (es, notes) = tensor::list_tensors_with_notes("views.pt", &mut v).expect("views");
    let t = es
        .iter()
        .find(|e| e.name == "transposed")
        .expect("transposed");
    assert!(t.fortran);
    close(
        sum(&mut v, t),
        exp["sums"]["transposed"].as_f64().expect("sum"),
        "transposed sum",
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("sliced") && n.contains("non-contiguous")),
        "{notes:?}"
    );
}
