//! The model runner against ONNX Runtime on a real model (PP-OCR's text classifier): scales,
//! the all-int8 simulation tensor by tensor, and true single-tensor sensitivity (values, Spearman
//! rank correlation, top-20 overlap); its tables read back by QuantLens's own parsers.
//! Reference: `scripts/gen_model_reference.py` (ORT with Div/Round/Clip/Mul inserted).
#![cfg(feature = "model")]

mod common;

use quantlens::engine::model::{
    assignment_for, compare_table_txt, sensitivity, sensitivity_table_txt, simulate, tensor,
    values, Assignment, Model, Sensitive,
};
use quantlens::engine::quant::{Observer, QDType};
use quantlens::engine::tensor::{list_tensors, read_all};
use serde_json::Value;
use std::collections::HashMap;

type Samples = Vec<Vec<quantlens::engine::model::Tensor>>;

/// A model (bytes), its two committed samples (`<prefix>{0,1}.npz`) and ORT's numbers.
fn load(bytes: &[u8], prefix: &str, expected: &str) -> (Model, Samples, Value) {
    let mut samples = Vec::new();
    for i in 0..2 {
        let mut raw = common::bytes(&format!("tests/fixtures/model/{prefix}{i}.npz"));
        let entries = list_tensors("s.npz", &mut raw).expect("npz");
        let e = &entries[0];
        let data = read_all(&mut raw, e).expect("read");
        let shape: Vec<usize> = e.shape.iter().map(|&d| d as usize).collect();
        samples.push(vec![tensor(&shape, data).expect("tensor")]);
    }
    let shape = samples[0][0].shape().to_vec();
    let model = Model::load(bytes, &[shape]).expect("model loads");
    let expected: Value = serde_json::from_str(&common::text(expected)).expect("json");
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

/// Scales, the all-int8 simulation and true sensitivity (activation and weight rows) against
/// ORT's numbers; gives the assignment used and the sensitivity rows.
/// Bounds on |Cosine − ORT's Cosine| over the simulated tensors: median, 90th percentile, worst
/// on tensors of ≥ 1024 elements, worst on any.
struct SimBounds([f64; 4]);

#[allow(clippy::unwrap_used)]
fn check_against_ort(
    model: &Model,
    samples: &Samples,
    expected: &Value,
    bounds: SimBounds,
) -> (
    HashMap<usize, Assignment>,
    Vec<quantlens::engine::model::SimRow>,
    Vec<quantlens::engine::model::SensRow>,
) {
    let scales = model
        .calibrate(samples, &Observer::MinMax, QDType::Int8)
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
    let a = assignment_for(model, &ort_scales, &ort_scales, QDType::Int8, &[]);
    let rows = simulate(model, samples, &a).expect("simulate");
    let row_of: HashMap<&str, &quantlens::engine::model::SimRow> =
        rows.iter().map(|r| (r.tensor.name.as_str(), r)).collect();
    // Float kernels differ in summation order (tract's optimized ones and ORT's), so a value at a
    // rounding boundary can round to the other neighbour. Most tensors agree to 1e-6; where a
    // tiny tensor sits in the chain (the squeeze-excitation blocks' [1, C, 1, 1] gates scale whole
    // channels; the [1, 2] logits) one element of a handful rounding the other way moves the
    // Cosine visibly, and everything after the gate inherits it. ORT with and without its own
    // graph optimizations agrees to 4e-6 on the same graph: the gap is the kernels', not the
    // fake quantization's (run unoptimized, QuantLens agreed to 1e-4 everywhere).
    let mut diffs = Vec::new();
    for n in &common_names {
        let r = row_of[n];
        let want = expected["simulate"][n]["Cosine"].as_f64().unwrap();
        let elems: usize = r.shape.iter().product();
        diffs.push((
            (r.metrics.cosine - want).abs(),
            elems,
            *n,
            r.metrics.cosine,
            want,
        ));
    }
    if std::env::var("QL_DEBUG").is_ok() {
        for d in diffs.iter().filter(|d| d.0 > 1e-6).take(25) {
            let t = model.tensors.iter().find(|t| t.name == d.2).unwrap();
            eprintln!("{:>10.2e} {:>7} {} {} {:.5}", d.0, d.1, t.op_type, d.2, d.4);
        }
    }
    diffs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let q = |p: f64| diffs[((diffs.len() - 1) as f64 * p) as usize].0;
    let worst_big = diffs
        .iter()
        .filter(|d| d.1 >= 1024)
        .map(|d| d.0)
        .fold(0.0, f64::max);
    let worst = diffs.last().unwrap().0;
    eprintln!(
        "simulated Cosine vs ORT: median {:.1e}, 90th percentile {:.1e}, worst {worst_big:.1e} (≥ 1024 elements), {worst:.1e} (any)",
        q(0.5),
        q(0.9)
    );
    assert!(
        q(0.5) < bounds.0[0]
            && q(0.9) < bounds.0[1]
            && worst_big < bounds.0[2]
            && worst < bounds.0[3],
        "simulated Cosine differs from ORT: {:?}",
        &diffs[diffs.len() - 8..]
    );

    // True sensitivity of every activation and every weight (Horizon's two row kinds).
    let sens = sensitivity(model, samples, &a, &mut |_, _| true).expect("sensitivity");
    let s_of: HashMap<(&str, Sensitive), [f64; 3]> = sens
        .iter()
        .map(|r| ((r.tensor.name.as_str(), r.kind), r.values[0]))
        .collect();
    let weights: Vec<&str> = expected["sensitivity_weight"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        sens.iter().filter(|r| r.kind == Sensitive::Weight).count(),
        weights.len(),
        "the ops with a weight are those ORT's reference quantizes"
    );
    let keys: Vec<(&str, Sensitive, &str)> = common_names
        .iter()
        .map(|n| (*n, Sensitive::Activation, "sensitivity"))
        .chain(
            weights
                .iter()
                .map(|n| (*n, Sensitive::Weight, "sensitivity_weight")),
        )
        .collect();
    let ours: Vec<f64> = keys.iter().map(|(n, k, _)| s_of[&(*n, *k)][0]).collect();
    let theirs: Vec<f64> = keys
        .iter()
        .map(|(n, _, table)| expected[table][n]["L1"].as_f64().unwrap())
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
        "sensitivity L1 vs ORT: Spearman {rho:.5}, top-20 overlap {overlap}/20, {} rows ({} weights)",
        ours.len(),
        weights.len()
    );
    assert!(rho >= 0.99, "Spearman {rho}");
    assert!(overlap >= 18, "top-20 overlap {overlap}");
    (a, rows, sens)
}

#[test]
fn the_classifier_agrees_with_onnx_runtime() {
    let (model, samples, expected) = load(
        &common::bytes("tests/fixtures/model/ppocr_cls.onnx"),
        "cls_sample",
        "tests/fixtures/model/expected.json",
    );
    let (a, rows, sens) = check_against_ort(
        &model,
        &samples,
        &expected,
        SimBounds([1e-6, 1e-4, 1e-3, 5e-3]),
    );

    // Downstream-only re-runs give the numbers of whole runs with that one tensor quantized.
    let mut plain = Model::load(
        &common::bytes("tests/fixtures/model/ppocr_cls.onnx"),
        &[vec![1, 3, 48, 192]],
    )
    .expect("model");
    plain.quantize_weights = false;
    let act_rows = sensitivity(&plain, &samples, &a, &mut |_, _| true).expect("sensitivity");
    assert_eq!(
        act_rows.len(),
        a.len(),
        "no weight rows when weights stay float"
    );
    for r in act_rows.iter().step_by(23) {
        let one: HashMap<usize, Assignment> = [(r.tensor.node, r.assignment)].into();
        let mut l1 = 0f64;
        let mut n = 0usize;
        for s in &samples {
            let f = plain.run_float(s).expect("float");
            let q = plain.run_quantized(s, &one).expect("quantized");
            l1 += f[0]
                .iter()
                .zip(&q[0])
                .map(|(x, y)| (*x as f64 - *y as f64).abs())
                .sum::<f64>();
            n += f[0].len();
        }
        let full = l1 / n as f64;
        assert!(
            (r.values[0][0] - full).abs() <= 1e-12 + 1e-9 * full,
            "{}: downstream-only L1 {} vs whole run {full}",
            r.tensor.name,
            r.values[0][0]
        );
    }

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

/// PP-OCRv4's recognizer (SVTR: convolutions, attention MatMuls, LayerNorm, Softmax), read from
/// the installed rapidocr-onnxruntime package (10.8 MB, not committed; `scripts/setup.sh test`
/// installs it) and checked against the SHA-256 the reference recorded.
#[test]
fn the_recognizer_agrees_with_onnx_runtime() {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import rapidocr_onnxruntime, os; print(os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), 'models', 'ch_PP-OCRv4_rec_infer.onnx'))",
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the recognizer comes from the rapidocr-onnxruntime package: scripts/setup.sh test installs it ({})",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (model, samples, expected) = load(
        &bytes,
        "rec_sample",
        "tests/fixtures/model/expected_rec.json",
    );
    assert_eq!(
        quantlens::engine::encode::sha256_hex(&bytes),
        expected["model_sha256"].as_str().unwrap(),
        "{path} is not the recognizer the reference was computed on"
    );
    // All-int8 with min-max scales wrecks this model (late tensors' Cosine falls to 0.1–0.6), and
    // where the signal is mostly noise a value rounding the other way moves everything after it:
    // the simulated tensors agree less closely than the classifier's, the sensitivities (one
    // tensor quantized at a time) as closely.
    let (_, rows, sens) = check_against_ort(
        &model,
        &samples,
        &expected,
        SimBounds([1e-4, 5e-3, 2e-2, 2e-2]),
    );
    assert!(
        rows.len() >= 400 && sens.len() > rows.len(),
        "{} tensors, {} rows",
        rows.len(),
        sens.len()
    );
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
    // Already when the model's inputs are read (before any sample): the app says it at once.
    let e = quantlens::engine::model::declared_inputs(&bytes).expect_err("refused");
    assert!(
        e.starts_with("the op GridWarpMagic (node \"y\") is not supported by the model runner"),
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
    let kinds = |k: &str| ops.iter().filter(|o| o["sensitive_type"] == k).count();
    assert_eq!((kinds("activation"), kinds("weight")), (235, 54));
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

/// The runner's whole report (what the app's model worker writes) verifies the mixed-precision
/// ratios by simulation: the sweep file reads back, and the Pareto view carries the measured
/// error at the ratios simulated, falling as activations go to int16.
#[test]
fn the_report_verifies_mixed_precision_by_simulation() {
    use quantlens::engine::model::run_report;
    let bytes = common::bytes("tests/fixtures/model/ppocr_cls.onnx");
    let mut samples = Vec::new();
    for i in 0..2 {
        let mut raw = common::bytes(&format!("tests/fixtures/model/cls_sample{i}.npz"));
        let e = list_tensors("s.npz", &mut raw).expect("npz").remove(0);
        let data = read_all(&mut raw, &e).expect("read");
        samples.push(vec![values(
            e.shape.iter().map(|&d| d as usize).collect(),
            data,
        )
        .expect("values")]);
    }
    let mut stages = Vec::new();
    let files = run_report(
        &bytes,
        &samples,
        QDType::Int8,
        &Observer::MinMax,
        &mut |s, _, _| {
            if stages.last() != Some(&s.to_string()) {
                stages.push(s.to_string());
            }
            true
        },
    )
    .expect("report");
    assert_eq!(
        stages,
        [
            "calibrating",
            "simulating",
            "sensitivity",
            "verifying mixed precision"
        ]
    );
    let mut s = quantlens::engine::session::Session::new();
    for (name, text) in &files {
        s.open(
            &format!("ppocr_cls_int8_run/{name}"),
            Box::new(text.clone().into_bytes()),
        );
    }
    s.update(&mut |_, _, _| {});
    let sweep_file = s
        .analysis
        .files
        .iter()
        .find(|f| f.name.ends_with("simulated_mixed_precision.json"))
        .expect("the sweep is written");
    assert!(sweep_file.error.is_none(), "{:?}", sweep_file.error);
    let sweep = sweep_file.sweep().expect("read as a sweep");
    assert_eq!(
        sweep.table,
        "output_save_infer_model_scale_0_tmp_1_L1_sensitive_ops.txt"
    );
    assert_eq!(sweep.table_rows, 289);
    let (first, last) = (&sweep.points[0], sweep.points.last().unwrap());
    assert_eq!((first.topk, first.int16.len()), (0, 0));
    assert_eq!((last.topk, last.int16.len()), (289, 235));
    assert!(
        // The weights stay int8 per channel: their error remains (61% of the all-int8 L1 here).
        last.outputs[0].l1 < 0.75 * first.outputs[0].l1,
        "all activations int16 ({}) against all int8 ({})",
        last.outputs[0].l1,
        first.outputs[0].l1
    );
    let runs = quantlens::engine::document::run_keys(&s.analysis.files);
    let run = runs
        .iter()
        .zip(&s.analysis.files)
        .find(|(_, f)| f.sweep().is_some())
        .map(|(r, _)| r.clone())
        .unwrap();
    let (pts, knee) =
        quantlens::engine::views::mixed_precision_sweep(&s.analysis, &run, "activation");
    let measured: Vec<_> = pts.iter().filter(|p| p.simulated_error.is_some()).collect();
    assert_eq!(
        measured.len(),
        sweep.points.len(),
        "every simulated ratio is on the curve"
    );
    assert_eq!(measured[0].simulated_error, Some(1.0));
    assert!(measured.last().unwrap().simulated_error.unwrap() < 0.75);
    let k = knee.expect("a knee");
    assert!(
        pts[k].simulated_error.is_some(),
        "the knee is a measured point"
    );
    // The estimate (single-op errors left, each table weighing the same: L1, 1 − Cosine, and SQNR
    // as noise power) falls from all of it to none as the activations go to int16.
    assert_eq!(pts[0].remaining_error, 1.0);
    assert!(pts
        .windows(2)
        .all(|w| w[1].remaining_error <= w[0].remaining_error + 1e-12));
    let tenth = pts.iter().find(|p| p.ratio >= 0.1).expect("10%");
    assert!(tenth.remaining_error < 0.9, "{tenth:?}");
    assert!(pts.last().unwrap().remaining_error < 1e-9);
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

/// Split over several workers (each measures every `parts`-th row, the first one merges the
/// others' rows in), the report is the one a single worker writes, byte for byte.
#[test]
fn a_report_split_over_workers_is_the_same_report() {
    use quantlens::engine::model::{report_begin, report_finish, run_report};
    let bytes = common::bytes("tests/fixtures/model/ppocr_cls.onnx");
    let mut raw = common::bytes("tests/fixtures/model/cls_sample0.npz");
    let e = list_tensors("s.npz", &mut raw).expect("npz").remove(0);
    let data = read_all(&mut raw, &e).expect("read");
    let samples = vec![vec![values(
        e.shape.iter().map(|&d| d as usize).collect(),
        data,
    )
    .expect("values")]];
    let mut quiet = |_: &str, _: usize, _: usize| true;
    let one = run_report(
        &bytes,
        &samples,
        QDType::Int8,
        &Observer::MinMax,
        &mut quiet,
    )
    .expect("one worker");
    let parts = 3;
    let mut begun: Vec<_> = (0..parts)
        .map(|p| {
            report_begin(
                &bytes,
                &samples,
                QDType::Int8,
                &Observer::MinMax,
                p,
                parts,
                &mut quiet,
            )
            .expect("part")
        })
        .collect();
    let others: Vec<_> = begun[1..].iter().map(|r| r.part_values()).collect();
    assert!(others.iter().all(|v| !v.is_empty()));
    let first = begun.remove(0);
    // A part missing: refused with the row named, not a table with holes.
    let partial = report_begin(
        &bytes,
        &samples,
        QDType::Int8,
        &Observer::MinMax,
        0,
        parts,
        &mut quiet,
    )
    .expect("part 0");
    let e = report_finish(partial, others[..1].to_vec(), &mut quiet).unwrap_err();
    assert!(e.contains("was not measured by any worker"), "{e}");
    let split = report_finish(first, others, &mut quiet).expect("merged");
    assert_eq!(one.len(), split.len());
    for ((n1, t1), (n2, t2)) in one.iter().zip(&split) {
        assert_eq!(n1, n2);
        assert!(t1 == t2, "{n1} differs when split over {parts} workers");
    }
}

#[test]
fn ops_no_schema_lists_with_no_input_are_refused_not_a_panic() {
    // Rsqrt (tract's own) and ConstantLike (its input optional) are not in the arity table; a node
    // of each with no input at all (scripts/gen_onnx_no_input.py) gets a message, no panic.
    for name in ["rsqrt-no-input.onnx", "constantlike-no-input.onnx"] {
        let bytes = common::bytes(&format!("fuzz/regressions/onnx_model/{name}"));
        let r = std::panic::catch_unwind(|| Model::load(&bytes, &[]).err());
        let e = r.unwrap_or_else(|_| panic!("{name}: tract panicked"));
        eprintln!("{name}: {e:?}");
        assert!(e.is_some_and(|e| !e.is_empty()), "{name} refused in words");
    }
}
