//! The model runner against ONNX Runtime on a real model (PP-OCR's text classifier): scales,
//! the all-int8 simulation tensor by tensor, and true single-tensor sensitivity (values, Spearman
//! rank correlation, top-20 overlap); its tables read back by QuantLens's own parsers.
//! Reference: `scripts/gen_model_reference.py` (ORT with Div/Round/Clip/Mul inserted).
#![cfg(feature = "model")]

mod common;

use quantlens::engine::model::{
    assignment_for, compare_table_txt, sensitivity, sensitivity_table_txt, simulate, tensor, Model,
};
use quantlens::engine::quant::{Observer, QDType};
use quantlens::engine::tensor::{list_tensors, read_all};
use serde_json::Value;
use std::collections::HashMap;

fn load() -> (Model, Vec<Vec<quantlens::engine::model::Tensor>>, Value) {
    let bytes = common::bytes("tests/fixtures/model/ppocr_cls.onnx");
    let mut samples = Vec::new();
    for i in 0..2 {
        let mut raw = common::bytes(&format!("tests/fixtures/model/cls_sample{i}.npz"));
        let entries = list_tensors("s.npz", &mut raw).expect("npz");
        let e = &entries[0];
        let data = read_all(&mut raw, e).expect("read");
        let shape: Vec<usize> = e.shape.iter().map(|&d| d as usize).collect();
        samples.push(vec![tensor(&shape, data).expect("tensor")]);
    }
    let model = Model::load(&bytes, &[vec![1, 3, 48, 192]]).expect("model loads");
    let expected: Value =
        serde_json::from_str(&common::text("tests/fixtures/model/expected.json")).expect("json");
    (model, samples, expected)
}

/// Average ranks (ties share their mean rank), then Pearson on ranks.
fn spearman(x: &[f64], y: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[a].partial_cmp(&v[b]).unwrap_or(std::cmp::Ordering::Equal));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let n = x.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn scales_simulation_and_sensitivity_agree_with_onnx_runtime() {
    let (model, samples, expected) = load();
    let scales = model
        .calibrate(&samples, &Observer::MinMax, QDType::Int8)
        .expect("calibrate");
    let by_name: HashMap<&str, usize> = model
        .tensors
        .iter()
        .map(|t| (t.name.as_str(), t.node))
        .collect();
    let common_names: Vec<&str> = expected["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|n| by_name.contains_key(n))
        .collect();
    let missing: Vec<&str> = expected["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .filter(|n| !by_name.contains_key(n))
        .collect();
    assert!(
        missing.is_empty(),
        "ONNX activations the runner does not see: {missing:?}"
    );
    assert!(
        common_names.len() >= 200,
        "{} of the ONNX file's tensors found in the runner",
        common_names.len()
    );
    for n in &common_names {
        let want = expected["scales"][n].as_f64().unwrap();
        let got = scales[&by_name[n]];
        // Float kernels differ in summation order: a max can move in its last digits.
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "{n}: scale {got} vs ORT {want}"
        );
    }

    // All-int8 simulation with ORT's scales (the calibration is checked above): each tensor
    // against its float value, as ORT with the fake quantization after every tensor.
    let ort_scales: HashMap<usize, f64> = common_names
        .iter()
        .map(|n| (by_name[n], expected["scales"][n].as_f64().unwrap()))
        .collect();
    let a = assignment_for(&model, &ort_scales, &ort_scales, QDType::Int8, &[]);
    let rows = simulate(&model, &samples, &a).expect("simulate");
    let row_of: HashMap<&str, &quantlens::engine::model::SimRow> =
        rows.iter().map(|r| (r.tensor.name.as_str(), r)).collect();
    let mut worst = 0f64;
    let mut diffs = Vec::new();
    for (k, n) in common_names.iter().enumerate() {
        let r = row_of[n];
        let want = expected["simulate"][n]["Cosine"].as_f64().unwrap();
        worst = worst.max((r.metrics.cosine - want).abs());
        diffs.push((
            (r.metrics.cosine - want).abs(),
            k,
            *n,
            r.metrics.cosine,
            want,
        ));
    }
    diffs.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    assert!(
        worst < 1e-4,
        "simulated Cosine differs from ORT by up to {worst}: {:?}",
        &diffs[..3]
    );

    // True sensitivity of every tensor.
    let sens = sensitivity(&model, &samples, &a, &mut |_, _| true).expect("sensitivity");
    let s_of: HashMap<&str, [f64; 3]> = sens
        .iter()
        .map(|r| (r.tensor.name.as_str(), r.values[0]))
        .collect();
    let ours: Vec<f64> = common_names.iter().map(|n| s_of[n][0]).collect();
    let theirs: Vec<f64> = common_names
        .iter()
        .map(|n| expected["sensitivity"][n]["L1"].as_f64().unwrap())
        .collect();
    let rho = spearman(&ours, &theirs);
    let top = |v: &[f64]| {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&a, &b| v[b].partial_cmp(&v[a]).unwrap());
        idx.truncate(20);
        idx
    };
    let (to, tt) = (top(&ours), top(&theirs));
    let overlap = to.iter().filter(|i| tt.contains(i)).count();
    eprintln!(
        "sensitivity L1 vs ORT: Spearman {rho:.5}, top-20 overlap {overlap}/20, {} tensors",
        ours.len()
    );
    assert!(rho >= 0.99, "Spearman {rho}");
    assert!(overlap >= 18, "top-20 overlap {overlap}");

    // The tables read back as the formats they imitate.
    let txt = compare_table_txt(&rows);
    let (f, _) = quantlens::engine::analyze_text("compare_per_layer_out.txt", &txt);
    assert!(f.error.is_none(), "{:?}", f.error);
    assert_eq!(
        f.compare().expect("comparison table").rows.len(),
        rows.len()
    );
    let (name, txt) = sensitivity_table_txt(&model, &sens, 0, 0);
    assert_eq!(
        name,
        "output_save_infer_model_scale_0_tmp_1_L1_sensitive_ops.txt"
    );
    let (f, _) = quantlens::engine::analyze_text(&name, &txt);
    let t = f.sensitivity().expect("sensitivity table");
    assert_eq!(t.rows.len(), sens.len());
    assert!(t.measured_by_quantlens(), "the runner's own table says so");
    let (f, _) = quantlens::engine::analyze_text(
        "output_0_L1_sensitive_ops.txt",
        &common::text("www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt"),
    );
    assert!(!f
        .sensitivity()
        .expect("toolchain table")
        .measured_by_quantlens());
}

#[test]
fn a_wrong_input_shape_and_garbage_say_what_is_wrong() {
    let bytes = common::bytes("tests/fixtures/model/ppocr_cls.onnx");
    let e = Model::load(&bytes, &[]).err().expect("refused");
    assert_eq!(e, "the model has 1 input(s); 0 shape(s) given");
    let e = Model::load(b"not a model at all", &[vec![1]])
        .err()
        .expect("refused");
    assert!(e.starts_with("not a model QuantLens can run"), "{e}");
    let bytes = common::bytes("tests/fixtures/model/unsupported_op.onnx");
    let e = Model::load(&bytes, &[vec![1, 4]]).err().expect("refused");
    assert!(
        e.contains("the op GridWarpMagic (node \"y\") is not supported by the model runner"),
        "{e}"
    );
}

#[test]
fn the_cli_writes_horizon_tables_and_json() {
    let tmp = std::env::temp_dir().join(format!("quantlens-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let out = common::quantlens_output(&[
        "sensitivity",
        "tests/fixtures/model/ppocr_cls.onnx",
        "--input",
        "tests/fixtures/model/cls_sample0.npz",
        "--out",
        tmp.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let tables = v["tables"].as_array().expect("tables");
    assert_eq!(tables.len(), 3, "one output, three metrics");
    assert_eq!(tables[0]["metric"], "L1");
    let ops = tables[0]["ops"].as_array().unwrap();
    assert_eq!(ops.len(), 235);
    let vals: Vec<f64> = ops
        .iter()
        .map(|o| o["value"].as_f64().unwrap_or(f64::NAN))
        .collect();
    assert!(
        vals.windows(2).all(|w| w[0] >= w[1]),
        "L1 most sensitive first"
    );
    for m in ["L1", "Cosine", "SQNR"] {
        let f = tmp.join(format!(
            "output_save_infer_model_scale_0_tmp_1_{m}_sensitive_ops.txt"
        ));
        assert!(f.is_file(), "{}", f.display());
    }
    // `report` reads what `sensitivity` wrote.
    let (code, stdout, _) = common::quantlens(&["report", tmp.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(stdout.contains("sensitivity"), "{stdout}");
    // No inputs: the message says what the model needs.
    let out = common::quantlens_output(&[
        "simulate",
        "tests/fixtures/model/ppocr_cls.onnx",
        "--input",
        "tests/fixtures/model/expected.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_cli_runs_on_images_typed_shapes_and_random_inputs_with_a_warning() {
    // Text-line crops (scripts/gen_image_fixtures.py), PP-OCR's preprocessing at 48×192.
    let out = common::quantlens_output(&[
        "sensitivity",
        "tests/fixtures/model/ppocr_cls.onnx",
        "--input",
        "tests/fixtures/image/text0.png",
        "tests/fixtures/image/text1.jpg",
        "--preset",
        "ppocr",
        "--size",
        "48x192",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("2 image(s) as x [1, 3, 48, 192]: BGR"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ops = v["tables"][0]["ops"].as_array().expect("ops");
    assert!(ops.len() >= 235, "every activation: {}", ops.len());
    assert!(ops
        .iter()
        .all(|o| o["value"].as_f64().is_some_and(f64::is_finite)));
    // A damaged image is named; nothing runs on half the inputs.
    let (code, _, err) = common::quantlens(&[
        "simulate",
        "tests/fixtures/model/ppocr_cls.onnx",
        "--input",
        "tests/fixtures/image/text0.png",
        "tests/fixtures/image/broken.png",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("tests/fixtures/image/broken.png: a PNG image QuantLens cannot read"),
        "{err}"
    );
    // Random inputs: only when asked, with the symbolic dimensions typed, and with a warning.
    let (code, _, err) = common::quantlens(&[
        "simulate",
        "tests/fixtures/model/ppocr_cls.onnx",
        "--random",
        "1",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("type the symbolic dimensions"), "{err}");
    let run = |seed: &str| {
        common::quantlens(&[
            "simulate",
            "tests/fixtures/model/ppocr_cls.onnx",
            "--random",
            "1",
            "--shape",
            "1x3x48x192",
            "--random-dist",
            "normal",
            "--random-range",
            "0,0.5",
            "--seed",
            seed,
            "--json",
        ])
    };
    let (code, a, err) = run("7");
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: 1 random sample(s), normal(mean 0, std 0.5), seed 7: random inputs mis-rank layers"), "{err}");
    assert_eq!(run("7").1, a, "the same seed, the same run");
    assert_ne!(run("8").1, a);
}
