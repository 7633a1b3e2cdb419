//! QuantAnalysis reports: parsing every format as the tools write them, and the diagnosis reaching
//! the seed's conclusions on the seed's own rows (791, 883, 1227/1520, 1296 and the sensitivity tables).

use quantlens::engine::cells::DType;
use quantlens::engine::compare;
use quantlens::engine::diagnose_report::Cause;
use quantlens::engine::session::{read_source, Analysis, Document, Intent};
use quantlens::engine::{Finding, Severity};

mod common;
use common::{assert_has, root, text};

fn analysis(rels: &[&str], intent: Intent) -> Analysis {
    let mut a = Analysis::default();
    for rel in rels {
        let t = text(rel);
        let r = read_source(rel, t.len() as u64, t.as_bytes());
        assert!(r.error.is_none(), "{rel}: {:?}", r.error);
        a.add_file(r);
    }
    a.intent = intent;
    a.recompute();
    a
}

fn findings<'a>(a: &'a Analysis, kind: &str) -> Vec<&'a Finding> {
    a.findings
        .iter()
        .map(|f| &f.finding)
        .filter(|f| f.kind == kind)
        .collect()
}

fn one<'a>(a: &'a Analysis, kind: &str, layer: &str) -> &'a Finding {
    findings(a, kind)
        .into_iter()
        .find(|f| f.layers.iter().any(|l| l == layer))
        .unwrap_or_else(|| {
            panic!(
                "no {kind} for {layer}; have {:?}",
                a.findings
                    .iter()
                    .map(|f| (&f.finding.kind, &f.finding.layers))
                    .collect::<Vec<_>>()
            )
        })
}

// --- Parsing ---------------------------------------------------------------------------------------

#[test]
fn txt_and_csv_twins_parse_to_the_same_rows() {
    for dir in [
        "tests/fixtures/horizon/qa-small",
        "tests/fixtures/horizon/qa-seed",
    ] {
        let txt = compare::parse_txt(text(&format!("{dir}/compare_per_layer_out.txt")).as_bytes())
            .expect("txt");
        let csv = compare::parse_csv(text(&format!("{dir}/compare_per_layer_out.csv")).as_bytes())
            .expect("csv");
        assert_eq!(txt.rows.len(), csv.rows.len(), "{dir}");
        for (a, b) in txt.rows.iter().zip(&csv.rows) {
            assert_eq!(a.mod_name, b.mod_name);
            assert_eq!(a.shape, b.shape);
            assert_eq!(a.shape_text.is_empty(), b.shape_text.is_empty());
            assert_eq!(a.quant_dtype, b.quant_dtype);
            for (x, y) in [
                (a.qscale, b.qscale),
                (a.cosine, b.cosine),
                (a.base_max, b.base_max),
                (a.max_qscale_diff, b.max_qscale_diff),
            ] {
                match (x, y) {
                    (Some(x), Some(y)) => assert!(
                        (x - y).abs() <= 5e-8 + 1e-7 * x.abs(),
                        "{dir} {}: {x} vs {y}",
                        a.mod_name
                    ),
                    (x, y) => assert_eq!(x, y, "{dir} {}", a.mod_name),
                }
            }
        }
    }
}

#[test]
fn s13_current_format_17_columns() {
    let t = compare::parse_txt(
        text("tests/fixtures/horizon/qa-small/compare_per_layer_out.txt").as_bytes(),
    )
    .expect("txt");
    assert_eq!(t.doc.headers.len(), 17);
    assert_eq!(t.rows.len(), 9);
    assert!(t.diag.is_empty(), "parsers never diagnose");
    let mut t = t;
    quantlens::engine::diagnose_report::diagnose_compare(&mut t);
    let conv = &t.rows[1];
    assert_eq!(conv.mod_name, "conv");
    assert!(
        conv.shape.is_none() && conv.cosine.is_none(),
        "fused row: blank shape and metrics"
    );
    assert_eq!(conv.base_min, Some(-1.0464442));
    assert_eq!(t.diag[1].cause, Cause::NoMetrics);
    assert_eq!(t.rows[4].mod_name, "", "free function at root");
    assert_eq!(
        t.rows[8].index,
        Some(9),
        "showindex keeps the original numbering"
    );
    // No SQNR column in this format: the grid opens with L1 in its place (it has no MSE).
    let cols = quantlens::engine::views::default_columns(&t);
    assert!(!cols.iter().any(|c| c == "sqnr"), "{cols:?}");
    let at = |k: &str| cols.iter().position(|c| c == k);
    assert_eq!(at("l1"), at("cosine").map(|i| i + 1), "{cols:?}");
    assert_eq!(at("mse"), None, "{cols:?}");
    assert!(
        at("qscale").is_some() && at("base_max").is_some(),
        "{cols:?}"
    );
    // A table with every default metric opens with all of them.
    let seed = compare::parse_txt(
        text("tests/fixtures/horizon/qa-seed/compare_per_layer_out.txt").as_bytes(),
    )
    .expect("seed txt");
    assert_eq!(
        quantlens::engine::views::default_columns(&seed),
        quantlens::engine::views::DEFAULT_COLUMNS
    );
    assert_eq!(t.rows[8].quant_dtype, Some(DType::Float32));
    assert_eq!(t.diag[8].cause, Cause::NotQuantized);
    // max_qscale_diff = Atol / qscale
    assert!(
        (t.rows[0].atol.unwrap_or(0.0) / t.rows[0].qscale.unwrap_or(1.0) - 0.4999948).abs() < 1e-3
    );
}

#[test]
fn full_24_columns_with_float32_max_rtol() {
    let t = compare::parse_txt(
        text("www/examples/horizon_quant_analysis/compare_per_layer_out.txt").as_bytes(),
    )
    .expect("txt");
    assert_eq!(t.doc.headers.len(), 24);
    assert_eq!(t.rows.len(), 1544);
    let r = t
        .rows
        .iter()
        .find(|r| r.index == Some(412))
        .expect("row 412");
    assert_eq!(r.rtol, Some(3.4028234663852886e38));
    let r791 = t.rows.iter().find(|r| r.index == Some(791)).expect("791");
    assert_eq!(
        r791.mod_name,
        "model.view_transformation.transformer.layers.0.quant"
    );
    assert_eq!(r791.sqnr, Some(46.6785774));
    assert_eq!(r791.analy_var, Some(2446.8227539));
}

#[test]
fn seed_excerpts_with_collapsed_spacing_and_column_subsets() {
    let t =
        compare::parse_txt(text("tests/fixtures/seed/compare_shared_div_excerpt.txt").as_bytes())
            .expect("excerpt");
    assert_eq!(t.doc.headers.len(), 11, "the seed prints a column subset");
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rows[1].index, Some(1520));
    assert_eq!(t.rows[1].base_max, Some(6.2831225));
    assert!(t.notes.iter().any(|n| n.text.contains("excerpt")));
}

#[test]
fn sensitivity_variants_4_5_6_columns() {
    let a = analysis(
        &[
            "tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt",
            "tests/fixtures/horizon/qa-small/output_0_Cosine_sensitive_ops.txt",
            "tests/fixtures/horizon/qa-small/output_boxes_MSE_sensitive_ops.txt",
            "tests/fixtures/seed/output_0_L1_sensitive_ops_int8.txt",
        ],
        Intent::Unstated,
    );
    let cols: Vec<usize> = a
        .files
        .iter()
        .map(|f| f.sensitivity().expect("table").columns)
        .collect();
    assert_eq!(cols, vec![6, 5, 4, 5]);
    let l1 = a.files[0].sensitivity().expect("l1");
    assert_eq!(l1.rows[1].flops, Some(36720));
    assert_eq!(l1.rows[5].value, Some(3.56923e-05));
    assert_eq!(a.files[1].sensitivity().expect("cos").metric, "Cosine");
    assert!(a.files[1].sensitivity().expect("cos").ascending());
    assert_eq!(
        a.files[2].sensitivity().expect("mse").output.as_deref(),
        Some("boxes")
    );
    let seed = a.files[3].sensitivity().expect("seed");
    assert_eq!(seed.rows.len(), 9);
    assert_eq!(
        seed.rows[0].op_name,
        "model.view_transformation.ref_point_quant"
    );
    assert_eq!(seed.rows[0].value, Some(1.79371));
}

#[test]
fn statistic_advisor_badcase_similarity_are_read() {
    let a = analysis(
        &[
            "tests/fixtures/horizon/qa-small/analysis_model/statistic.txt",
            "tests/fixtures/horizon/qa-small/abnormal_layer_advisor.txt",
            "tests/fixtures/horizon/qa-small/badcase.txt",
            "tests/fixtures/horizon/qa-small/similarity.txt",
        ],
        Intent::Unstated,
    );
    let tables = |i: usize| a.files[i].tables();
    assert_eq!(tables(0)[0].headers[1], "Op Name");
    assert_eq!(tables(0)[0].rows.len(), 6);
    assert_eq!(
        tables(0)[0].rows[5].cells[2],
        "",
        "empty Mod Name for free functions"
    );
    assert_eq!(tables(2).len(), 3, "badcase.txt has three tables");
    assert_eq!(
        tables(2)[2].title,
        "The bad case input index of the worst output"
    );
    let sim = tables(3)[0];
    assert_eq!(
        sim.headers[5], "Acc Error (float atol)",
        "two-line headers are joined"
    );
    assert_eq!(sim.rows[1].cells[1], "cat_op(1)");
    // Without a compare table, the advisor's rows become findings of the shared vocabulary.
    assert_eq!(
        one(&a, "range_too_large", "head.reg").severity,
        Severity::Error
    );
    assert_eq!(one(&a, "inf_nan", "head.cls").severity, Severity::Error);
    one(&a, "low_precision_output", "head.out");
    one(&a, "asymmetric", "quant_in");
}

#[test]
fn detection_by_content_for_every_report() {
    for (rel, label) in [
        (
            "tests/fixtures/horizon/qa-small/compare_per_layer_out.txt",
            "compare_per_layer_out.txt",
        ),
        (
            "tests/fixtures/horizon/qa-small/compare_per_layer_out.csv",
            "compare_per_layer_out.csv",
        ),
        (
            "tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt",
            "sensitive_ops",
        ),
        (
            "tests/fixtures/horizon/qa-small/abnormal_layer_advisor.txt",
            "advisor",
        ),
        (
            "tests/fixtures/horizon/qa-small/analysis_model/statistic.txt",
            "statistic",
        ),
        ("tests/fixtures/horizon/qa-small/badcase.txt", "badcase"),
        (
            "tests/fixtures/horizon/qa-small/similarity.txt",
            "similarity",
        ),
    ] {
        let t = text(rel);
        let r = read_source("renamed.dat", t.len() as u64, t.as_bytes());
        assert!(
            r.format_label.as_deref().is_some_and(|l| l.contains(label)),
            "{rel}: {:?} {:?}",
            r.format_label,
            r.error
        );
    }
}

#[test]
fn malformed_reports_fail_cleanly() {
    // A compare header and nothing else; a truncated grid; a sensitivity header without a rule.
    for (name, body) in [
        ("a.txt", "| | mod_name | base_op_type | analy_op_type |\n"),
        ("b.txt", "+---+----------+--------------+\n| | mod_name | base_op_type |\n|---+----------+--------------|\n| 0 | conv | torch.nn.Conv2d"),
        ("c.txt", "op_name sensitive_type op_type L1\nno rule here\n"),
        ("d.csv", "mod_name, base_op_type, analy_op_type\n, , \n,,,,,,,,,\n"),
    ] {
        let r = read_source(name, body.len() as u64, body.as_bytes());
        let mut a = Analysis::default();
        a.add_file(r.clone());
        a.recompute(); // must not panic
        if let Some(e) = &r.error {
            assert!(!e.is_empty());
        }
    }
    let r = read_source(
        "c.txt",
        40,
        "op_name sensitive_type op_type L1\nno rule here\n".as_bytes(),
    );
    assert!(r.error.expect("rejected").contains("no sensitivity table"));
}

// --- The seed's conclusions -----------------------------------------------------------------------

#[test]
fn seed_791_int16_not_applied_fixed_scale_100_over_32768() {
    let a = analysis(
        &[
            "tests/fixtures/seed/compare_calib_excerpt.txt",
            "tests/fixtures/seed/output_0_L1_sensitive_ops_calib_excerpt.txt",
        ],
        Intent::AllInt16,
    );
    let layer = "model.view_transformation.transformer.layers.0.quant";
    // "The quantization type is still qint8, which indicates that the int16 configuration has not taken effect."
    let d = one(&a, "dtype_not_applied", layer);
    assert_eq!(d.severity, Severity::Error);
    // "the representable floating-point range is from 0.776 * (-128) = -99.38 to 0.776 * 127 = 98.61"
    let r = one(&a, "rounding", layer);
    assert!(r.message.contains("[-99.3882, 98.6118]"), "{}", r.message);
    // "switch to int16 quantization and set a fixed scale of 100 / 32768"
    let f = one(&a, "fixed_scale", layer);
    assert!(f.message.contains("≈ [-100, 1]"), "{}", f.message);
    assert!(
        f.fix.contains("int16 with scale 100/32768 = 0.0031"),
        "{}",
        f.fix
    );
    assert!(f.message.contains("ranks #1"));
}

#[test]
fn seed_883_quant_normalizer_is_truncated() {
    let a = analysis(
        &[
            "tests/fixtures/seed/compare_calib_excerpt.txt",
            "tests/fixtures/seed/output_0_L1_sensitive_ops_calib_excerpt.txt",
        ],
        Intent::AllInt16,
    );
    let layer = "model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer";
    let t = one(&a, "truncation", layer);
    assert_eq!(t.severity, Severity::Error);
    assert!(
        t.message.contains("above by 3.6377") && t.message.contains("below by 2.5321"),
        "{}",
        t.message
    );
    // "For quant_normalizer, the issue is similar": a fixed scale is suggested too.
    one(&a, "fixed_scale", layer);
    one(&a, "dtype_not_applied", layer);
    // Not inherited: the range is not covered, whatever max_qscale_diff says (238.95).
    assert!(findings(&a, "inherited").is_empty());
}

#[test]
fn seed_1227_1520_shared_div_first_fits_second_clipped() {
    let a = analysis(
        &["tests/fixtures/seed/compare_shared_div_excerpt.txt"],
        Intent::Unstated,
    );
    let layer = "model.map_head.sparse_head.decoder.gen_sineembed_for_position.div";
    let m = one(&a, "shared_range_mismatch", layer);
    assert_eq!(m.severity, Severity::Error);
    assert!(
        m.message.contains("call 1 (row 1227) reaches 4.5936, fits"),
        "{}",
        m.message
    );
    assert!(
        m.message
            .contains("call 2 (row 1520) reaches 6.2831, clipped"),
        "{}",
        m.message
    );
    assert!(m.fix.contains("gen_sineembed_for_position%d"), "{}", m.fix);
    let t = one(&a, "truncation", layer);
    assert!(t.message.contains("row 1520"));
    assert_eq!(t.evidence.len(), 1);
}

#[test]
fn seed_1296_dim_t_is_rounding_not_truncation_and_split_is_advised() {
    let a = analysis(
        &[
            "tests/fixtures/seed/compare_int16_qat_excerpt.txt",
            "tests/fixtures/seed/output_0_L1_sensitive_ops_int16_qat.txt",
        ],
        Intent::AllInt16,
    );
    let layer = "model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant";
    // "the quantization range is 32767 * 0.2642754 ≈ 8659.51 ... there is no noticeable truncation error"
    assert!(findings(&a, "truncation").is_empty());
    let r = one(&a, "rounding", layer);
    assert!(r.message.contains("8659.51"), "{}", r.message);
    assert!(
        r.message.contains("13.2%"),
        "half a step is 13% of the smallest value: {}",
        r.message
    );
    assert!(r.fix.contains("split the tensor into groups"), "{}", r.fix);
    assert!(r.fix.contains("Already int16"));
    // All rows are qint16 as intended: nothing "not applied".
    assert!(findings(&a, "dtype_not_applied").is_empty());
    // The sensitivity table's top op links to its comparison row and names the cause.
    let s = &findings(&a, "sensitive_ops")[0];
    assert!(
        s.message
            .contains("dim_t_quant` (QuantStub, activation, qint16) 0.8221 → rounding"),
        "{}",
        s.message
    );
}

#[test]
fn seed_sensitivity_tables_are_excerpts_so_no_tail_verdict() {
    let a = analysis(
        &["tests/fixtures/seed/output_0_L1_sensitive_ops_int8.txt"],
        Intent::Unstated,
    );
    assert!(
        findings(&a, "sensitivity_tail_not_zero").is_empty(),
        "9-row excerpt: the tail is not shown"
    );
    let top = &findings(&a, "sensitive_ops")[0];
    assert_eq!(top.layers[0], "model.view_transformation.ref_point_quant");
    assert!(top.message.contains("Most of the top ops are QuantStubs"));
}

#[test]
fn sensitivity_tail_not_zero_when_post_processing_is_left_in() {
    let a = analysis(
        &["tests/fixtures/horizon/qa-small/output_bad_tail_L1_sensitive_ops.txt"],
        Intent::Unstated,
    );
    let t = &findings(&a, "sensitivity_tail_not_zero")[0];
    assert_eq!(t.severity, Severity::Warning);
    assert!(t.fix.contains("NMS"));
    let ok = analysis(
        &["www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt"],
        Intent::Unstated,
    );
    assert!(
        findings(&ok, "sensitivity_tail_not_zero").is_empty(),
        "a healthy table's tail is ≈0"
    );
}

#[test]
fn example_folder_inherited_error_points_to_the_clipped_origin() {
    let a = analysis(
        &[
            "www/examples/horizon_quant_analysis/compare_per_layer_out.txt",
            "www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
            "www/examples/horizon_quant_analysis/abnormal_layer_advisor.txt",
        ],
        Intent::AllInt16,
    );
    let inh = &findings(&a, "inherited")[0];
    assert_eq!(inh.layers.len(), 14);
    assert!(inh.message.contains("first appears at `model.obstacle_head.decoder.layers.0.cross_attn.quant_normalizer` (row 883"), "{}", inh.message);
    // The advisor file's rows are cited on the computed findings, not repeated.
    let asym = one(
        &a,
        "asymmetric",
        "model.map_head.sparse_head.decoder.gen_sineembed_for_position0.dim_t_quant",
    );
    assert!(
        asym.evidence.iter().any(|e| e.file == Some(2)),
        "advisor row cited"
    );
    // The collapse point is the clipped QuantStub.
    let Some(Document::Compare(c)) = &a.files[0].document else {
        panic!()
    };
    assert_eq!(c.collapse_row.map(|i| c.rows[i].index), Some(Some(883)));
    // Top of the overview: the sensitivity table's own top ops (the seed's first step), then the
    // clipped normalizer (#2 in that table) before the rest.
    assert_eq!(a.findings[0].finding.kind, "sensitive_ops");
    assert_eq!(a.findings[1].finding.kind, "truncation");
    assert!(a.findings[1].finding.layers[0].ends_with("quant_normalizer"));
    assert!(
        a.findings[1].finding.rank_reason.starts_with("#2 of"),
        "{}",
        a.findings[1].finding.rank_reason
    );
    // Without a stated intent there is no dtype verdict.
    let mut b = a.clone();
    b.set_intent(Intent::Unstated);
    assert!(findings(&b, "dtype_not_applied").is_empty());
    b.set_intent(Intent::AllInt8);
    assert_eq!(
        findings(&b, "dtype_not_applied")[0].severity,
        Severity::Warning
    );
}

#[test]
fn printed_scale_precision_does_not_fake_clipping() {
    // int16 rows whose qscale has only 3 significant digits in `.7f`: no scale_not_cover, no truncation.
    let a = analysis(
        &["www/examples/horizon_quant_analysis/compare_per_layer_out.txt"],
        Intent::Unstated,
    );
    for f in findings(&a, "truncation")
        .into_iter()
        .chain(findings(&a, "scale_not_cover"))
    {
        assert!(
            f.layers
                .iter()
                .all(|l| l.contains("quant_normalizer") || l.contains("gen_sineembed")),
            "{:?}",
            f.layers
        );
    }
}

// --- Golden summaries of the report fixtures --------------------------------------------------------

/// Everything a reader of these files relies on, pinned: per file its format, row counts and a few
/// typed values; per finding its kind, severity, layers and cited lines.
fn report_summary(rels: &[&str], intent: Intent) -> serde_json::Value {
    let a = analysis(rels, intent);
    let files: Vec<serde_json::Value> = a
        .files
        .iter()
        .map(|f| {
            let typed = match &f.document {
                Some(Document::Compare(c)) => serde_json::json!({
                    "columns": c.doc.headers, "extra_columns": c.extra_columns,
                    "causes": c.diag.iter().map(|d| d.cause.label()).collect::<Vec<_>>(),
                    "collapse_row": c.collapse_row,
                }),
                Some(Document::Sensitivity(s)) => serde_json::json!({
                    "metric": s.metric, "output": s.output, "columns": s.columns,
                    "top": s.rows.iter().take(3).map(|r| (r.op_name.clone(), r.value)).collect::<Vec<_>>(),
                }),
                _ => serde_json::json!({
                    "tables": f.tables().iter().map(|t| (t.title.clone(), t.headers.clone(), t.rows.len())).collect::<Vec<_>>(),
                }),
            };
            serde_json::json!({"name": f.name, "format": f.format_label, "rows": f.row_count(), "typed": typed})
        })
        .collect();
    let findings: Vec<serde_json::Value> = a
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({"file": f.file, "kind": f.finding.kind, "severity": f.finding.severity,
                "layers": f.finding.layers, "lines": f.finding.evidence.iter().map(|e| (e.file, e.line)).collect::<Vec<_>>()})
        })
        .collect();
    serde_json::json!({"files": files, "findings": findings})
}

fn golden(name: &str, value: serde_json::Value) {
    let path = root().join("tests/golden").join(format!("{name}.json"));
    let pretty = serde_json::to_string_pretty(&value).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() || !path.exists() {
        std::fs::write(&path, &pretty).expect("write golden");
        assert!(
            std::env::var_os("UPDATE_GOLDEN").is_some(),
            "golden {} was missing: written, review and commit",
            path.display()
        );
    }
    assert_eq!(
        pretty,
        std::fs::read_to_string(&path).expect("golden"),
        "{name} differs (UPDATE_GOLDEN=1 to accept)"
    );
}

#[test]
fn golden_qa_small_folder() {
    golden(
        "reports__qa-small",
        report_summary(
            &[
                "tests/fixtures/horizon/qa-small/compare_per_layer_out.txt",
                "tests/fixtures/horizon/qa-small/compare_per_layer_out.csv",
                "tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt",
                "tests/fixtures/horizon/qa-small/output_0_Cosine_sensitive_ops.txt",
                "tests/fixtures/horizon/qa-small/output_boxes_MSE_sensitive_ops.txt",
                "tests/fixtures/horizon/qa-small/abnormal_layer_advisor.txt",
                "tests/fixtures/horizon/qa-small/badcase.txt",
                "tests/fixtures/horizon/qa-small/similarity.txt",
                "tests/fixtures/horizon/qa-small/analysis_model/statistic.txt",
            ],
            Intent::Unstated,
        ),
    );
}

#[test]
fn golden_qa_seed_rows() {
    golden(
        "reports__qa-seed",
        report_summary(
            &[
                "tests/fixtures/horizon/qa-seed/compare_per_layer_out.txt",
                "tests/fixtures/horizon/qa-seed/compare_per_layer_out.csv",
            ],
            Intent::AllInt16,
        ),
    );
}

#[test]
fn golden_example_folder() {
    golden(
        "reports__example",
        report_summary(
            &[
                "www/examples/model_check_result.txt",
                "www/examples/horizon_quant_analysis/compare_per_layer_out.txt",
                "www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
                "www/examples/horizon_quant_analysis/abnormal_layer_advisor.txt",
            ],
            Intent::AllInt16,
        ),
    );
}

#[test]
fn a_relu_after_a_cut_makes_the_cut_below_harmless_and_leaves_the_cut_above() {
    // Scale 0.01 (int8 represents [-1.28, 1.27]); rows generated by scripts/gen_fixtures.py.
    let a = analysis(
        &["tests/fixtures/horizon/relu-cut/compare_per_layer_out.txt"],
        Intent::Unstated,
    );
    // Cut below only, then a ReLU: nothing of it matters.
    let low = one(&a, "truncation", "conv_low");
    assert_eq!(low.severity, Severity::Info, "{}", low.message);
    assert!(
        low.rank_reason.starts_with("harmless"),
        "{}",
        low.rank_reason
    );
    assert_has(&low.message, "only negative values are cut");
    // Cut on both sides (by 1.72 below, 0.23 above), then a ReLU: the cut below is said to cost
    // nothing, the finding stays on the cut above, ranked on it alone.
    let both = one(&a, "truncation", "conv_both");
    assert_ne!(both.severity, Severity::Info, "{}", both.message);
    assert_has(
        &both.message,
        "The cut below (by 1.7200) costs nothing: the next op `relu_both` (ReLU)",
    );
    assert_has(&both.message, "only the cut above, by 0.2300");
    assert_has(&both.rank_reason, "above only");
    // The fix asks for a scale covering what the ReLU keeps (1.5), not the cut negatives (3).
    assert_has(&both.fix, "must reach 1.5000 ");
    // The same cut read by an add: all of it is real, ranked above the ReLU's, and the fix covers 3.
    let plain = one(&a, "truncation", "conv_plain");
    assert!(
        !plain.message.contains("costs nothing"),
        "{}",
        plain.message
    );
    assert_has(&plain.fix, "must reach 3 ");
    assert!(
        plain.score > both.score,
        "{} <= {}",
        plain.score,
        both.score
    );
    // The share of the range the ReLU case is ranked on: 0.23 of the 4.5 wide float range.
    assert!(
        both.rank_reason.starts_with("clips 5.1%"),
        "{}",
        both.rank_reason
    );
    assert!(
        plain.rank_reason.starts_with("clips 43.3%"),
        "{}",
        plain.rank_reason
    );
}
