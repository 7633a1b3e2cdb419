//! Right on real runs: dumps and QuantAnalysis-style reports of PP-OCR's recognizer quantized by ONNX
//! Runtime at int8 and int16 (`scripts/gen_real_runs.py`, `tests/fixtures/real/`), opened as a user
//! drops them. Each test pins a defect found when real runs were loaded.

use quantlens::engine::findings::{kind, Severity};
use quantlens::engine::pairs::{Side, SideBasis};
use quantlens::engine::quant::QDType;
use quantlens::engine::session::{read_source, Analysis, Session};
use quantlens::engine::tensor::FileSource;
use serde_json::Value;
use std::path::Path;

const REAL: &str = "tests/fixtures/real";

fn expected() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("{REAL}/expected.json")).expect("expected.json"),
    )
    .expect("json")
}

mod common;

/// A session with these files (paths under tests/fixtures/real, named as a folder drop names them).
fn session(rel: &[&str]) -> Session {
    common::session_in(REAL, rel)
}

fn report_files(run: &str) -> Vec<String> {
    let dir = Path::new(REAL).join(run).join("horizon_quant_analysis");
    let mut v: Vec<String> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| {
            format!(
                "{run}/horizon_quant_analysis/{}",
                e.expect("entry").file_name().to_string_lossy()
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn identical_and_one_element_tensors_cross_every_boundary_intact() {
    let s = session(&["ort_int8/float.npz", "ort_int8/quant.npz"]);
    let e = expected();
    let run = &e["runs"]["ort_int8"];
    let a = &s.analysis;
    assert_eq!(
        a.tensors.pairs.len() as u64,
        run["paired_activations"].as_u64().expect("n")
    );
    let by_name = |n: &str| {
        a.tensors
            .pairs
            .iter()
            .find(|p| p.name == n)
            .unwrap_or_else(|| panic!("pair {n}"))
    };
    let identical = run["identical_tensors"][0].as_str().expect("name");
    let one = run["one_element_tensors_natural"][0]
        .as_str()
        .expect("name");
    let m = by_name(identical).metrics.as_ref().expect("metrics");
    assert_eq!(m.sqnr_db, f64::INFINITY, "identical: no error");
    let m1 = by_name(one).metrics.as_ref().expect("metrics");
    assert!(m1.base_var.is_nan(), "one element: variance undefined");
    // The worker sends the whole session as JSON: it must read back, with ∞ and NaN intact.
    let text = serde_json::to_string(a).expect("encode");
    let back: Analysis = serde_json::from_str(&text).expect("the session reads back");
    let p = back
        .tensors
        .pairs
        .iter()
        .find(|p| p.name == identical)
        .expect("pair");
    assert_eq!(p.metrics.as_ref().expect("m").sqnr_db, f64::INFINITY);
    let p = back
        .tensors
        .pairs
        .iter()
        .find(|p| p.name == one)
        .expect("pair");
    assert!(p.metrics.as_ref().expect("m").base_var.is_nan());
}

#[test]
fn the_file_name_decides_the_side_before_the_folder() {
    let s = session(&["ort_int8/float.npz", "ort_int8/quant.npz"]);
    let sides: Vec<_> = s.analysis.tensors.sides.iter().map(|(_, x)| *x).collect();
    assert_eq!(
        sides,
        vec![
            Some((Side::Float, SideBasis::FileName)),
            Some((Side::Quant, SideBasis::FileName))
        ]
    );
    assert!(s.analysis.tensors.message.is_none());
    assert_eq!(s.analysis.tensors.pairs.len(), 384);
    assert!(s.analysis.tensors.unpaired_float.is_empty());
}

#[test]
fn without_names_the_assignment_that_pairs_the_most_tensors_wins() {
    // Copies named with no side word, in a folder that says "int8": both would be "quantized".
    let dir = std::env::temp_dir().join(format!("ql-sides-{}", std::process::id()));
    let run = dir.join("ort_int8");
    std::fs::create_dir_all(&run).expect("tmp");
    std::fs::copy(format!("{REAL}/ort_int8/float.npz"), run.join("a.npz")).expect("copy");
    std::fs::copy(format!("{REAL}/ort_int8/quant.npz"), run.join("b.npz")).expect("copy");
    let mut s = Session::new();
    for f in ["a.npz", "b.npz"] {
        let src = FileSource::open(&run.join(f)).expect("open");
        s.open(&format!("ort_int8/{f}"), Box::new(src));
    }
    s.update(&mut |_, _, _| {});
    // Either way round pairs every tensor: nothing says which is float, so the user is asked.
    assert_eq!(s.analysis.tensors.pairs.len(), 0);
    let msg = s.analysis.tensors.message.clone().expect("asked");
    assert!(msg.contains("choose each file's side"), "{msg}");
    // Once one side is chosen, the other follows from the pairing.
    s.settings
        .sides
        .insert("ort_int8/a.npz".into(), Side::Float);
    s.update(&mut |_, _, _| {});
    assert_eq!(
        s.analysis.tensors.pairs.len(),
        384,
        "{:?}",
        s.analysis.tensors.message
    );
    assert!(
        s.analysis
            .tensors
            .sides
            .iter()
            .any(|(_, x)| matches!(x, Some((Side::Quant, _)))),
        "{:?}",
        s.analysis.tensors.sides
    );
    // Two files that share no tensor name: said plainly, not left as "0 pairs".
    let mut s = Session::new();
    for (name, path) in [
        ("ort_int8/float.npz", format!("{REAL}/ort_int8/float.npz")),
        (
            "cls/ppocr_cls_float.npz",
            "tests/fixtures/tensors/ppocr_cls_float.npz".to_string(),
        ),
    ] {
        s.open(
            name,
            Box::new(FileSource::open(Path::new(&path)).expect("open")),
        );
    }
    s.update(&mut |_, _, _| {});
    let msg = s.analysis.tensors.message.clone().expect("a message");
    assert!(
        msg.contains("float side") || msg.contains("No tensor name"),
        "{msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_what_if_scale_requantizes_the_float_side_and_predicts_clipping() {
    let e = expected();
    let t = &e["runs"]["ort_int8"]["named_tensors"]["p2o.Add.5"];
    let scale = t["scale"].as_f64().expect("scale");
    let mut s = Session::new();
    s.settings
        .scales
        .insert("p2o.Add.5".into(), (scale, Some(QDType::Int8)));
    for r in ["ort_int8/float.npz", "ort_int8/quant.npz"] {
        s.open(
            r,
            Box::new(FileSource::open(&Path::new(REAL).join(r)).expect("open")),
        );
    }
    s.update(&mut |_, _, _| {});
    let i = s
        .analysis
        .tensors
        .pairs
        .iter()
        .position(|p| p.name == "p2o.Add.5")
        .expect("pair");
    let m = s.analysis.tensors.pairs[i]
        .metrics
        .clone()
        .expect("metrics");
    let measured = m.error_split.expect("split with the real scale");
    assert!(measured.clip > measured.round, "{measured:?}");
    let w = s.whatif(i, &[(QDType::Int8, scale)]).expect("what-if");
    // The real scale, re-quantizing the float side: exactly the measured clipping energy.
    let p = &w.typed[0];
    assert!(
        (p.clip - measured.clip).abs() <= 1e-6 * measured.clip,
        "{} vs {}",
        p.clip,
        measured.clip
    );
    // Min-max covers the range (torch's symmetric min-max cuts the single largest value by at
    // most half a step): the predicted error is rounding, not clipping, and never "inherited".
    let mm = w
        .observers
        .iter()
        .find(|o| o.dtype == QDType::Int8 && o.label.starts_with("min-max"))
        .expect("min-max");
    assert!(mm.clip < 0.01 * mm.round, "{mm:?}");
    assert!(mm.clipped_fraction < 0.01, "{mm:?}");
    assert!(p.clip > 100.0 * mm.clip);
    // The MSE-optimal scale of a clipped tensor still clips a little, and says so.
    let mse = w
        .observers
        .iter()
        .find(|o| o.dtype == QDType::Int8 && o.label == "MSE-optimal")
        .expect("mse");
    assert!(mse.clip + mse.round > 0.0);
    // Asking the what-if compared nothing else: the pair list is as it was.
    assert_eq!(s.analysis.tensors.pairs[i].scale, Some(scale));
}

#[test]
fn triage_puts_the_sensitive_ops_first_and_harmless_clips_last() {
    let e = expected();
    for run in ["ort_int8", "ort_int16"] {
        let files = report_files(run);
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let s = session(&refs);
        let a = &s.analysis;
        // Hardswish `Add → Clip(0, 6)` rows whose representable range holds [0, 6]: what they cut
        // the Clip cuts anyway. (Where the scale stops short of 6, the cut is real and stays.)
        let hardswish: Vec<&str> = e["runs"][run]["clipped_detail"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|d| d["hardswish_clip"].is_string() && d["clip_is_next_node"] == true)
            .filter(|d| {
                let s = d["scale"].as_f64().unwrap_or(0.0);
                d["qmax_x_scale"].as_f64().unwrap_or(0.0) >= 6.0 - s
            })
            .filter_map(|d| d["mod_name"].as_str())
            .collect();
        assert!(hardswish.len() >= 10, "{run}: {hardswish:?}");
        let top: Vec<&_> = a.top(10).iter().map(|&i| &a.findings[i].finding).collect();
        for f in &top {
            assert!(
                !(f.kind == kind::TRUNCATION
                    && f.layers.iter().any(|l| hardswish.contains(&l.as_str()))),
                "{run}: a harmless hardswish clip in the top ten: {:?} ({})",
                f.layers,
                f.rank_reason
            );
            assert!(
                !f.rank_reason.is_empty(),
                "{run}: {:?} has no reason",
                f.layers
            );
        }
        // Every hardswish Add → Clip(0, 6) clip that is reported is said to be harmless, as info.
        let mut seen = 0;
        for ff in &a.findings {
            let f = &ff.finding;
            if f.kind == kind::TRUNCATION
                && f.layers.iter().any(|l| hardswish.contains(&l.as_str()))
            {
                seen += 1;
                assert_eq!(f.severity, Severity::Info, "{run}: {}", f.message);
                assert!(f.rank_reason.starts_with("harmless"), "{}", f.rank_reason);
                assert!(f.message.contains("Clip"), "{}", f.message);
                // [0, 6] against a bound of 5.997…: within rounding, not "inside".
                if f.message.contains("clamps to [0, 6]") && f.message.contains("5.99") {
                    assert!(
                        f.message
                            .contains("within rounding of the representable range"),
                        "{}",
                        f.message
                    );
                }
            }
        }
        assert!(seen >= 10, "{run}: only {seen} hardswish clips reported");
        // The most sensitive ops are among the first findings.
        let named: Vec<&String> = top.iter().flat_map(|f| f.layers.iter()).collect();
        let top5: Vec<&str> = e["runs"][run]["top5_sensitive"]
            .as_array()
            .expect("top5")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let hits = top5
            .iter()
            .filter(|n| named.iter().any(|l| l == *n))
            .count();
        assert!(
            hits >= 4,
            "{run}: {hits} of the 5 most sensitive ops in the top ten: {named:?}"
        );
    }
}

/// One psql row of a compare table with the columns the diagnosis reads.
fn compare_text(rows: &[[&str; 14]]) -> String {
    let mut t = String::from("+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+\n| | mod_name | base_op_type | analy_op_type | shape | quant_dtype | qscale | Cosine | SQNR | Rtol | base_model_min | analy_model_min | base_model_max | analy_model_max | max_qscale_diff |\n|---+---+---+---+---+---+---+---+---+---+---+---+---+---+---|\n");
    for (i, r) in rows.iter().enumerate() {
        t.push_str(&format!("| {i} | {} |\n", r.join(" | ")));
    }
    t.push_str("+---+---+---+---+---+---+---+---+---+---+---+---+---+---+---+\n");
    t
}

fn analyse(name: &str, text: &str) -> Analysis {
    let mut a = Analysis::default();
    a.add_file(read_source(name, text.len() as u64, text.as_bytes()));
    a.recompute();
    a
}

#[test]
fn a_deep_cut_on_an_int16_row_and_dim_t_rounding_are_findings_on_the_row_alone() {
    // An int16 row whose float minimum passes the representable one by 475 steps, the quantized
    // minimum sitting at the bound; the cut is under 1% of the range width.
    let text = compare_text(&[
        [
            "model.enc.proj",
            "torch.nn.Linear",
            "qat.Linear",
            "torch.Size([1, 64])",
            "qint16",
            "0.0010000",
            "0.9995000",
            "30.1",
            "0.05",
            "-33.2430000",
            "-32.7680000",
            "32.5000000",
            "32.4990000",
            "475.0000000",
        ],
        // The seed's dim_t (row 1296): qint16, [1, 8659], Rtol 8.5%, max_qscale_diff 0.5.
        [
            "model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant",
            "torch.ao.quantization.stubs.QuantStub",
            "horizon_plugin_pytorch.nn.qat.stubs.QuantStub",
            "torch.Size([128])",
            "qint16",
            "0.2642754",
            "0.9999999",
            "89.0683746",
            "0.0845878",
            "1.0000000",
            "1.0571015",
            "8659.6435547",
            "8659.5107422",
            "0.5025535",
        ],
    ]);
    let a = analyse("compare_per_layer_out.txt", &text);
    let cut = a
        .findings
        .iter()
        .find(|f| f.finding.kind == kind::TRUNCATION && f.finding.layers == ["model.enc.proj"])
        .expect("the deep cut is a finding");
    // Its severity follows its impact: a warning at Cosine 0.9995 (475 int16 steps are under two
    // int8 steps), an error once the layer's output suffers.
    assert_eq!(cut.finding.severity, Severity::Warning);
    assert!(
        cut.finding.message.contains("475 steps"),
        "{}",
        cut.finding.message
    );
    assert!(
        !cut.finding.fix.contains("use int16 for this layer"),
        "an int16 row's fix: {}",
        cut.finding.fix
    );
    let dim_t = a
        .findings
        .iter()
        .find(|f| f.finding.kind == kind::ROUNDING)
        .expect("dim_t rounding is a finding without any sensitivity table");
    assert!(dim_t.finding.layers[0].ends_with("dim_t_quant"));
    assert!(dim_t.finding.fix.contains("split"), "{}", dim_t.finding.fix);
    assert!(
        !dim_t.finding.fix.contains("Use int16"),
        "{}",
        dim_t.finding.fix
    );
}

#[test]
fn an_all_zero_quantized_output_is_the_collapse_point() {
    let text = compare_text(&[
        [
            "head.fc",
            "torch.nn.Linear",
            "qat.Linear",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.9990000",
            "35.0",
            "0.01",
            "-3.0000000",
            "-3.0000000",
            "3.0000000",
            "3.0000000",
            "0.5000000",
        ],
        [
            "head.sigmoid",
            "torch.nn.Sigmoid",
            "qat.SegmentLUT",
            "torch.Size([1, 8])",
            "torch.float32",
            "",
            "0.0000000",
            "0.0",
            "1.0",
            "0.0474259",
            "0.0000000",
            "0.9525741",
            "0.0000000",
            "",
        ],
        [
            "head.out",
            "torch.nn.Identity",
            "qat.Identity",
            "torch.Size([1, 8])",
            "torch.float32",
            "",
            "0.0000000",
            "0.0",
            "1.0",
            "0.0474259",
            "0.0000000",
            "0.9525741",
            "0.0000000",
            "",
        ],
    ]);
    let a = analyse("compare_per_layer_out.txt", &text);
    let f = a
        .findings
        .iter()
        .find(|f| f.finding.kind == kind::COLLAPSED_OUTPUT)
        .expect("collapse finding");
    assert_eq!(f.finding.severity, Severity::Error);
    assert_eq!(f.finding.layers, ["head.sigmoid", "head.out"]);
    assert_eq!(a.top(1), vec![0], "the collapse point leads");
    assert_eq!(a.findings[0].finding.kind, kind::COLLAPSED_OUTPUT);
}

#[test]
fn utf16_reports_read_like_utf8_ones() {
    let text = std::fs::read_to_string(format!(
        "{REAL}/ort_int8/horizon_quant_analysis/compare_per_layer_out.txt"
    ))
    .expect("txt");
    let mut utf16 = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    let a = read_source("compare_per_layer_out.txt", utf16.len() as u64, &utf16[..]);
    let b = read_source(
        "compare_per_layer_out.txt",
        text.len() as u64,
        text.as_bytes(),
    );
    assert!(a.error.is_none(), "{:?}", a.error);
    let (ra, rb) = (
        &a.compare().expect("table").rows,
        &b.compare().expect("table").rows,
    );
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(rb.iter()) {
        assert_eq!(format!("{x:?}"), format!("{y:?}"));
    }
    assert!(a.notes.iter().any(|n| n.text.contains("UTF-16")));
}

#[test]
fn two_runs_loaded_together_are_told_apart_and_dump_findings_credit_the_dump() {
    let mut rel = report_files("ort_int8");
    rel.extend(report_files("ort_int16"));
    rel.push("ort_int8/float.npz".into());
    rel.push("ort_int8/quant.npz".into());
    let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
    let mut s = Session::new();
    s.settings
        .scales
        .insert("*".into(), (0.05, Some(QDType::Int8)));
    for r in &refs {
        s.open(
            r,
            Box::new(FileSource::open(&Path::new(REAL).join(r)).expect("open")),
        );
    }
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    let names = a.display_names();
    let txt: Vec<&String> = names
        .iter()
        .filter(|n| n.ends_with("compare_per_layer_out.txt"))
        .collect();
    assert_eq!(txt.len(), 2);
    assert_ne!(txt[0], txt[1], "{names:?}");
    assert!(
        txt[0].starts_with("ort_int8") && txt[1].starts_with("ort_int16"),
        "{names:?}"
    );
    // Findings measured from the dumps are credited to the quantized dump.
    let quant = a
        .files
        .iter()
        .position(|f| f.name == "ort_int8/quant.npz")
        .expect("quant file");
    let measured: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.message.contains("measured from the dumps"))
        .collect();
    assert!(!measured.is_empty());
    assert!(measured.iter().all(|f| f.file == quant));
}

#[test]
fn the_mixed_precision_sweep_has_nothing_to_do_on_int16_and_its_knee_is_the_smallest_ratio() {
    use quantlens::engine::recommend;
    for (run, expect_ops) in [("ort_int16", false), ("ort_int8", true)] {
        let files = report_files(run);
        let refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let s = session(&refs);
        let tables: Vec<_> = s
            .analysis
            .files
            .iter()
            .filter_map(|f| f.sensitivity())
            .collect();
        assert_eq!(tables.len(), 1);
        let (pts, knee) = recommend::pareto(&tables, "activation", &Default::default());
        if !expect_ops {
            assert!(
                pts.iter().all(|p| p.ops == 0),
                "{run}: all-int16 has nothing to switch"
            );
            assert_eq!(knee, None);
            continue;
        }
        let k = knee.expect("a knee");
        assert!(pts[k].ops > 0);
        // No smaller ratio reaches the same ops.
        assert!(
            k == 0 || pts[k - 1].ops < pts[k].ops,
            "{:?} vs {:?}",
            pts[k - 1],
            pts[k]
        );
        assert!(pts[k].ratio < 1.0);
        // The error left falls as ops are added (the chart's y axis reads it from 100% down).
        assert_eq!(pts[0].remaining_error, 1.0);
        assert!(pts
            .windows(2)
            .all(|w| w[1].remaining_error <= w[0].remaining_error + 1e-12));
    }
}

#[test]
fn two_runs_keep_their_own_scales_pairs_and_sensitivity_ranks() {
    let mut rel: Vec<String> = Vec::new();
    for run in ["ort_int8", "ort_int16"] {
        rel.extend(report_files(run));
        for f in ["float.npz", "quant.npz", "scales.json"] {
            rel.push(format!("{run}/{f}"));
        }
    }
    let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
    let s = session(&refs);
    let a = &s.analysis;
    let e = expected();
    // Every pair stays within its run and takes that run's scale.
    assert_eq!(a.tensors.pairs.len(), 768);
    for p in &a.tensors.pairs {
        let fr = &a.files[p.float_file].name;
        let qr = &a.files[p.quant_file].name;
        assert_eq!(
            fr.split('/').next(),
            qr.split('/').next(),
            "{} pairs across runs",
            p.name
        );
    }
    let x16 = a
        .tensors
        .pairs
        .iter()
        .find(|p| p.name == "x" && p.run == "ort_int16")
        .expect("int16 x");
    let want = e["runs"]["ort_int16"]["named_tensors"]["x"]["scale"]
        .as_f64()
        .expect("scale");
    let got = x16.scale.expect("scale");
    assert!((got - want).abs() <= 1e-6 * want, "{got} vs {want}");
    assert_eq!(x16.scale_source.as_deref(), Some("scales.json"));
    // Each finding's sensitivity rank comes from its own run's table.
    let int8_compare = a
        .files
        .iter()
        .position(|f| f.name == "ort_int8/horizon_quant_analysis/compare_per_layer_out.txt")
        .expect("int8 compare");
    let mul = a
        .findings
        .iter()
        .find(|f| f.file == int8_compare && f.finding.layers == ["p2o.Mul.195"])
        .expect("int8 Mul.195 finding");
    assert!(
        mul.finding.rank_reason.starts_with("#3 of 384"),
        "{}",
        mul.finding.rank_reason
    );
    // Each run's .txt and .csv are one table (one tab in the app): twinned within the run only.
    let name = |i: usize| a.files[i].name.as_str();
    let twins: Vec<(&str, &str)> = quantlens::engine::views::compare_twins(&a.files)
        .into_iter()
        .map(|(t, c)| (name(t), name(c)))
        .collect();
    let q = "horizon_quant_analysis/compare_per_layer_out";
    assert_eq!(
        twins,
        [
            (&*format!("ort_int8/{q}.txt"), &*format!("ort_int8/{q}.csv")),
            (
                &*format!("ort_int16/{q}.txt"),
                &*format!("ort_int16/{q}.csv")
            ),
        ]
    );
    // An op's rows are the txt's (the csv twin has no view of its own).
    let (file, rows) = a.compare_rows_of("p2o.Mul.195").expect("rows");
    assert_eq!(name(file), format!("ort_int8/{q}.txt"));
    assert_eq!(rows.len(), 1);
    // A .csv alone has no twin.
    let csv_only = session(&[&*format!("ort_int8/{q}.csv")]);
    assert!(quantlens::engine::views::compare_twins(&csv_only.analysis.files).is_empty());
}

#[test]
fn an_int16_txt_takes_the_exact_qscale_of_its_csv() {
    let s = session(
        &report_files("ort_int16")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let e = expected();
    let want = e["runs"]["ort_int16"]["named_tensors"]["x"]["scale"]
        .as_f64()
        .expect("scale");
    let t = s
        .analysis
        .files
        .iter()
        .filter_map(|f| f.compare())
        .find(|t| t.source == "txt")
        .expect("txt");
    let r = t
        .rows
        .iter()
        .find(|r| r.mod_name == "x_QuantizeLinear")
        .expect("row");
    let got = r.qscale.expect("qscale");
    assert!(
        (got - want).abs() <= 1e-9,
        "{got} vs {want}: the .txt's 7 decimals were kept"
    );
    // The representable range the diagnosis uses is the exact one.
    let d = &t.diag[t
        .rows
        .iter()
        .position(|r| r.mod_name == "x_QuantizeLinear")
        .expect("i")];
    assert!((d.rep_max.expect("rep") - 32767.0 * want).abs() < 1e-9);
}

#[test]
fn the_collapse_point_is_a_fall_that_lasts_not_a_dip_that_recovers() {
    // A hardswish Add dips (0.92) and its Clip recovers at once (0.997); later the model falls for
    // good (0.95 → 0.6 and stays).
    let text = compare_text(&[
        [
            "a.conv",
            "Conv",
            "Conv",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.9990000",
            "35.0",
            "0.01",
            "-3.0",
            "-3.0",
            "3.0",
            "3.0",
            "0.5",
        ],
        [
            "a.add",
            "Add",
            "Add",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.9200000",
            "11.0",
            "0.2",
            "-3.0",
            "-3.0",
            "6.3",
            "6.3",
            "0.5",
        ],
        [
            "a.clip",
            "Clip",
            "Clip",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.9970000",
            "25.0",
            "0.01",
            "0.0",
            "0.0",
            "6.0",
            "6.0",
            "0.5",
        ],
        [
            "b.conv",
            "Conv",
            "Conv",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.9500000",
            "15.0",
            "0.1",
            "-3.0",
            "-3.0",
            "3.0",
            "3.0",
            "3.0",
        ],
        [
            "b.mul",
            "Mul",
            "Mul",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.6000000",
            "3.0",
            "0.5",
            "-3.0",
            "-3.0",
            "3.0",
            "3.0",
            "9.0",
        ],
        [
            "b.out",
            "Add",
            "Add",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.5800000",
            "3.0",
            "0.5",
            "-3.0",
            "-3.0",
            "3.0",
            "3.0",
            "9.0",
        ],
        [
            "c.out",
            "Add",
            "Add",
            "torch.Size([1, 8])",
            "qint8",
            "0.0500000",
            "0.5500000",
            "3.0",
            "0.5",
            "-3.0",
            "-3.0",
            "3.0",
            "3.0",
            "9.0",
        ],
    ]);
    let a = analyse("compare_per_layer_out.txt", &text);
    let t = a.files[0].compare().expect("table");
    assert_eq!(
        t.collapse_row.map(|i| t.rows[i].mod_name.as_str()),
        Some("b.mul")
    );
}

#[test]
fn csv_exports_keep_infinite_and_nan_values_as_numpy_reads_them() {
    use quantlens::engine::views;
    let s = session(&[
        "ort_int8/float.npz",
        "ort_int8/quant.npz",
        "ort_int8/scales.json",
    ]);
    let e = expected();
    let csv = views::pairs_csv(&s.analysis.tensors);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).expect("column");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 384);
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let find = |name: &str| rows.iter().find(|r| r[0] == name).expect("row");
    let identical = e["runs"]["ort_int8"]["identical_tensors"][0]
        .as_str()
        .expect("name");
    assert_eq!(find(identical)[col("sqnr_db")], "inf");
    let one = e["runs"]["ort_int8"]["one_element_tensors_natural"][0]
        .as_str()
        .expect("name");
    assert_eq!(find(one)[col("base_var")], "nan");
    // numpy's float() reads them: "inf" and "nan" parse as f64 too.
    assert_eq!("inf".parse::<f64>().ok(), Some(f64::INFINITY));
    // The comparison table as shown: the same rule.
    let r = session(
        &report_files("ort_int8")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let t = r
        .analysis
        .files
        .iter()
        .find_map(|f| f.compare())
        .expect("table");
    let text = views::rows_csv(
        t,
        &[0, 1, 2],
        &["index", "mod_name", "cosine", "sqnr", "cause"],
    );
    assert_eq!(text.lines().count(), 4);
    assert!(text.starts_with("#,mod_name,Cosine,SQNR,cause\n"), "{text}");
}

#[test]
fn inherited_error_downstream_is_one_finding_not_one_per_pair() {
    // The real int8 dumps with their scales: downstream of the layers that clip, most pairs carry
    // inherited error. They are one finding citing each pair's row, so that the pairs whose own
    // clipping or rounding is the cause stand out (there were 358 inherited findings of 366).
    let s = session(&[
        "ort_int8/float.npz",
        "ort_int8/quant.npz",
        "ort_int8/scales.json",
    ]);
    let a = &s.analysis;
    let inherited: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "inherited")
        .collect();
    assert_eq!(inherited.len(), 1, "one inherited finding");
    let f = &inherited[0].finding;
    assert!(f.layers.len() > 100, "{} pairs", f.layers.len());
    assert_eq!(f.evidence.len(), f.layers.len());
    // Every cited row is a pair whose measured split is mostly inherited.
    for e in &f.evidence {
        let m = a.tensors.pairs[e.row].metrics.as_ref().expect("metrics");
        let sp = m.error_split.expect("split");
        assert!(
            sp.inherited > sp.clip && sp.inherited > sp.round,
            "{}",
            a.tensors.pairs[e.row].name
        );
    }
    // The pairs' own causes are findings of their own, and now outnumber it; the fix names
    // them (the ones not harmless) as those to fix first.
    let own: Vec<&str> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "truncation" || f.finding.kind == "rounding")
        .filter(|f| f.finding.severity != quantlens::engine::Severity::Info)
        .map(|f| f.finding.layers[0].as_str())
        .collect();
    assert!(
        f.fix.starts_with(&format!(
            "Fix the pairs whose own clipping or rounding dominates first ({} pairs: `",
            own.len()
        )),
        "{}",
        f.fix
    );
    assert!(f.fix.contains(&format!("`{}`", own[0])), "{}", f.fix);
    let own = own.len();
    assert!(
        own >= 1 && a.findings.len() < 60,
        "{own} own, {} in all",
        a.findings.len()
    );
}

#[test]
fn two_runs_each_get_their_own_inherited_finding() {
    // Both real runs with their scales: the inherited error of each run is its own finding, which
    // names its run and cites only its run's pairs (one finding spanning both said "652 pairs"
    // and opened a view of one file's 297).
    let s = session(&[
        "ort_int8/float.npz",
        "ort_int8/quant.npz",
        "ort_int8/scales.json",
        "ort_int16/float.npz",
        "ort_int16/quant.npz",
        "ort_int16/scales.json",
    ]);
    let a = &s.analysis;
    let inherited: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "inherited")
        .collect();
    assert!(!inherited.is_empty());
    let mut runs_seen = Vec::new();
    for f in &inherited {
        let runs: std::collections::BTreeSet<&str> = f
            .finding
            .evidence
            .iter()
            .map(|e| a.tensors.pairs[e.row].run.as_str())
            .collect();
        assert_eq!(runs.len(), 1, "{}: {runs:?}", f.finding.message);
        let run = *runs.iter().next().expect("one run");
        if f.finding.evidence.len() > 1 {
            assert!(
                f.finding.message.contains(&format!(" in {run} carry")),
                "{}",
                f.finding.message
            );
        }
        assert!(!runs_seen.contains(&run), "one finding per run");
        runs_seen.push(run);
    }
}

#[test]
fn a_clip_the_table_shows_harmless_is_harmless_in_the_dumps_too() {
    // The int8 run's dumps with its scales and its own comparison table: hardswish's Add → Clip(0, 6)
    // clips at the Add, and the table says the clip costs nothing. The dumps' truncation finding of
    // that Add said "error"; it now says the table's reason and goes to the bottom.
    let s = session(&[
        "ort_int8/float.npz",
        "ort_int8/quant.npz",
        "ort_int8/scales.json",
        "ort_int8/horizon_quant_analysis/compare_per_layer_out.txt",
    ]);
    let a = &s.analysis;
    let from_table: std::collections::BTreeSet<&str> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "truncation" && f.finding.rank_reason.starts_with("harmless"))
        .filter(|f| a.files[f.file].compare().is_some())
        .map(|f| f.finding.layers[0].as_str())
        .collect();
    assert!(!from_table.is_empty(), "the table has harmless clips");
    let pair_clips: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.finding.kind == "truncation")
        .filter(|f| {
            f.finding
                .evidence
                .first()
                .is_some_and(|e| e.table == "pairs")
        })
        .collect();
    // The dumps name tensors (`p2o.Add.5`), the table their producing nodes (`p2o.Add.4`).
    let marked: Vec<_> = pair_clips
        .iter()
        .filter(|f| f.finding.rank_reason.starts_with("harmless"))
        .collect();
    let clip_names: Vec<_> = pair_clips
        .iter()
        .map(|f| f.finding.layers[0].as_str())
        .collect();
    assert!(
        marked.len() >= 8,
        "dumped pairs clip where the table says harmless: {from_table:?} {clip_names:?}"
    );
    for f in &marked {
        assert_eq!(f.finding.severity, quantlens::engine::Severity::Info);
        assert!(
            f.finding.rank_reason.starts_with("harmless: the next op"),
            "{}",
            f.finding.rank_reason
        );
        // Each is the output of a row the table calls harmless.
        let row = f
            .finding
            .message
            .split("Harmless here (compare_per_layer_out.txt, its row `")
            .nth(1)
            .and_then(|r| r.split('`').next());
        assert!(
            row.is_some_and(|r| from_table.contains(r)),
            "{}",
            f.finding.message
        );
    }
    // The others keep their weight (the model input and the ReduceMean clip for real).
    for name in ["x", "p2o.ReduceMean.11"] {
        let f = pair_clips
            .iter()
            .find(|f| f.finding.layers[0] == name)
            .expect(name);
        assert_ne!(
            f.finding.severity,
            quantlens::engine::Severity::Info,
            "{name}"
        );
    }
}

#[test]
fn the_collapse_point_is_not_a_fall_from_a_side_branch_row() {
    // The real int8 table lists hardswish's Clip (its side branch, Cosine 0.99) between rows of the
    // main path (0.85): the Mul after it "fell" 0.17 from the Clip, not from the path, which was at
    // 0.82–0.85 already (and the squeeze-excite branch before p2o.Mul.126 is five rows at 0.96–0.998).
    // The collapse point is a fall below the lowest Cosine before it.
    let s = session(&["ort_int8/horizon_quant_analysis/compare_per_layer_out.txt"]);
    let t = s.analysis.files[0].compare().expect("table");
    let i = t.collapse_row.expect("a collapse point");
    let name = t.rows[i].mod_name.as_str();
    assert_ne!(name, "p2o.Mul.136");
    let cos = |k: usize| t.rows[k].cosine.expect("cosine");
    let before = (0..i).map(cos).fold(f64::INFINITY, f64::min);
    eprintln!("collapse at row {i} {name}: {before} -> {}", cos(i));
    assert!(before - cos(i) > 0.05, "{before} -> {}", cos(i));
}
