//! Model-check parsing and diagnosis on real-format fixtures: golden summaries, the seed's conclusions,
//! detection by content, and bad input (empty, binary, truncated, hostile) that must fail cleanly.

use quantlens::engine::doc::DocTable;
use quantlens::engine::model_check::{self, CallStatus, FusionStatus};
use quantlens::engine::session::{analyze_text, Document};
use quantlens::engine::{Finding, Severity};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

mod common;
use common::text as fixture;

fn findings_of(name: &str, text: &str) -> Vec<Finding> {
    let (report, findings) = analyze_text(name, text);
    assert!(report.error.is_none(), "{name}: {:?}", report.error);
    findings
}

fn find<'a>(fs: &'a [Finding], kind: &str) -> &'a Finding {
    fs.iter().find(|f| f.kind == kind).unwrap_or_else(|| {
        panic!(
            "no {kind} finding in {:?}",
            fs.iter().map(|f| &f.kind).collect::<Vec<_>>()
        )
    })
}

/// What a golden file pins: every table's shape and every finding's kind, severity, layers and lines.
fn summary(text: &str) -> Value {
    let mc = model_check::parse_str(text).expect("parses");
    let findings = quantlens::engine::diagnose_check::diagnose(&mc);
    let tables: Vec<Value> = mc
        .tables
        .iter()
        .map(|t: &DocTable| {
            json!({"id": t.id, "headers": t.headers, "rows": t.rows.len(), "first_line": t.first_line,
                   "first_row": t.rows.first().map(|r| r.cells.clone())})
        })
        .collect();
    let fs: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({"kind": f.kind, "severity": f.severity, "layers": f.layers,
                   "lines": f.evidence.iter().map(|e| e.line).collect::<Vec<_>>()})
        })
        .collect();
    json!({"fusion": format!("{:?}", mc.fusion), "calls": format!("{:?}", mc.calls),
           "sections": mc.sections, "tables": tables, "findings": fs,
           "notes": mc.notes.iter().map(|n| n.text.clone()).collect::<Vec<_>>()})
}

fn check_golden(fixture_rel: &str) {
    let text = fixture(fixture_rel);
    let got = summary(&text);
    let golden: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(fixture_rel.replace(['/', '\\'], "__") + ".json");
    let pretty = serde_json::to_string_pretty(&got).expect("json") + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() || !golden.exists() {
        std::fs::create_dir_all(golden.parent().expect("dir")).expect("mkdir");
        std::fs::write(&golden, &pretty).expect("write golden");
        if std::env::var_os("UPDATE_GOLDEN").is_none() {
            panic!(
                "golden file {} was missing and has been written; review and commit it",
                golden.display()
            );
        }
    }
    let want = std::fs::read_to_string(&golden).expect("golden");
    assert_eq!(
        pretty,
        want,
        "summary of {fixture_rel} differs from {} (UPDATE_GOLDEN=1 to accept)",
        golden.display()
    );
}

#[test]
fn golden_s11_full() {
    check_golden("tests/fixtures/horizon/s11-full/model_check_result.txt");
}

#[test]
fn golden_j6_s13() {
    check_golden("tests/fixtures/horizon/j6-s13/model_check_result.txt");
}

#[test]
fn golden_j6_s13_annotated() {
    check_golden("tests/fixtures/horizon/j6-s13/model_check_result_annotated.txt");
}

#[test]
fn golden_oe3_variant() {
    check_golden("tests/fixtures/horizon/oe3-variant/model_check_result.txt");
}

#[test]
fn golden_x3_qconfig_info() {
    check_golden("tests/fixtures/horizon/x3-plugin1/qconfig_info.txt");
}

#[test]
fn golden_seed_excerpt() {
    check_golden("tests/fixtures/seed/model_check_excerpt.txt");
}

#[test]
fn golden_bundled_example() {
    check_golden("www/examples/model_check_result.txt");
}

// --- The seed's own conclusions ----------------------------------------------------------------

#[test]
fn seed_excerpt_reaches_the_seeds_conclusions() {
    let fs = findings_of(
        "excerpt.txt",
        &fixture("tests/fixtures/seed/model_check_excerpt.txt"),
    );
    // "The qconfig for model.obstacle_head.reg_branches.0.0 needs to be corrected."
    let q = find(&fs, "qint32_output");
    assert_eq!(q.severity, Severity::Error);
    assert_eq!(q.layers, vec!["model.obstacle_head.reg_branches.0.0"]);
    assert!(
        q.message.contains("248"),
        "stats count 248 qint32 outputs: {}",
        q.message
    );
    // "The DequantStub has a qint8 input ... check if those operators before dequant are GEMM-like"
    let d = find(&fs, "low_precision_output");
    assert_eq!(d.layers, vec!["model.obstacle_head.reg_out_dequant0"]);
    assert!(d.fix.contains("GEMM-like"));
    // "a small number of operators have fp32 inputs ... missing quant nodes ... fallbacked to CPU"
    let f = find(&fs, "float_input");
    assert!(f.message.contains("9 op call(s)"), "{}", f.message);
    assert!(f.message.contains("FloatFunctional ×3") && f.message.contains("Linear ×5"));
    assert!(f.message.contains("CPU") && f.fix.contains("QuantStub"));
    // Six conv+add groups under view_transformation, with the dynamic_block hint.
    let u = find(&fs, "unfused");
    assert_eq!(u.layers.len(), 12);
    assert!(u.message.starts_with("6 groups"));
    assert!(u.fix.contains("Tracer.dynamic_block"));
    assert_eq!(
        fs.iter().filter(|f| f.kind == "unfused").count(),
        1,
        "prose must not become a group"
    );
    // gen_sineembed_for_position: one instance per call site.
    let s = find(&fs, "shared_module");
    assert_eq!(s.layers.len(), 8);
    assert!(s.message.contains("gen_sineembed_for_position") && s.message.contains("4–8 times"));
    assert!(s
        .fix
        .contains("self.add_module(\"gen_sineembed_for_position%d\" % i"));
}

#[test]
fn bundled_example_reproduces_the_seed_statistics() {
    let text = fixture("www/examples/model_check_result.txt");
    let mc = model_check::parse_str(&text).expect("parses");
    let stats = mc.table("input_dtype_stats").expect("input stats");
    let total = stats.rows.last().expect("total row");
    assert_eq!(total.cells, vec!["total", "299", "1018", "859", "304"]);
    let out = mc.table("output_dtype_stats").expect("output stats");
    assert_eq!(
        out.rows.last().expect("total").cells,
        vec!["total", "12", "994", "1050", "248"]
    );
    assert_eq!(mc.table("layers").expect("layers").rows.len(), 2304);
    let fs = quantlens::engine::diagnose_check::diagnose(&mc);
    let q = find(&fs, "qint32_output");
    assert_eq!(
        q.layers.len(),
        248,
        "per-layer rows agree with the statistics"
    );
    assert!(q
        .layers
        .iter()
        .any(|l| l == "model.obstacle_head.reg_branches.0.0"));
    assert_eq!(find(&fs, "float_input").layers.len(), 9);
    assert_eq!(find(&fs, "low_precision_output").layers.len(), 8);
}

// --- Variants ----------------------------------------------------------------------------------

#[test]
fn s13_all_fused_run_once_and_fixed_scale() {
    let text = fixture("tests/fixtures/horizon/j6-s13/model_check_result.txt");
    let mc = model_check::parse_str(&text).expect("parses");
    assert_eq!(mc.fusion, FusionStatus::AllFused);
    assert_eq!(mc.calls, CallStatus::AllOnce);
    let fs = quantlens::engine::diagnose_check::diagnose(&mc);
    // dequant(1) is a second call of a DeQuantStub, which the file itself calls "run once": no warning.
    assert!(fs.iter().all(|f| f.kind != "shared_module"));
    let fixed = find(&fs, "unusual_qconfig");
    assert_eq!(fixed.layers, vec!["quant_grid"]);
    // 3.35693359375e-05 × 32767 = 1.09997 with quant_grid's qint16 output.
    assert!(
        fixed.message.contains("[-1.100000, 1.099966]"),
        "{}",
        fixed.message
    );
}

#[test]
fn oe3_observer_reprs_fakecast_and_unknown_section() {
    let text = fixture("tests/fixtures/horizon/oe3-variant/model_check_result.txt");
    let mc = model_check::parse_str(&text).expect("parses");
    let layers = mc.table("layers").expect("layers");
    let obs = layers.column("observer").expect("observer column");
    assert!(layers.rows[0].cells[obs].starts_with("FixedScaleObserver(scale=tensor([3.0518e-05]"));
    assert!(mc
        .notes
        .iter()
        .any(|n| n.text.contains("'Abnormal compute dtype:'")));
    let fs = quantlens::engine::diagnose_check::diagnose(&mc);
    // The fp16 FakeCast layer is deliberately float: only bev_fusion.proj lacks a QuantStub.
    assert_eq!(find(&fs, "float_input").layers, vec!["bev_fusion.proj"]);
    let shared = find(&fs, "shared_module");
    assert_eq!(
        shared.layers,
        vec!["head.pos_embed.sin", "head.pos_embed.cos"]
    );
    assert_eq!(find(&fs, "unused_module").layers, vec!["aux.fc"]);
    let unfused = find(&fs, "unfused");
    assert!(
        unfused.message.contains("`mod1.0` marked `(shared)`"),
        "{}",
        unfused.message
    );
}

#[test]
fn s11_graph_names_the_op_before_each_dequant() {
    let fs = findings_of(
        "m.txt",
        &fixture("tests/fixtures/horizon/s11-full/model_check_result.txt"),
    );
    let d = find(&fs, "low_precision_output");
    assert_eq!(d.layers, vec!["cls_dequant"]);
    assert!(
        d.message.contains("`cls_dequant` ← `add0`"),
        "{}",
        d.message
    );
    let f = fs
        .iter()
        .find(|f| f.kind == "float_input" && f.severity == Severity::Error)
        .expect("float_input");
    assert_eq!(f.layers, vec!["mask_mul[mul]"]);
    let q = find(&fs, "qint32_output");
    assert_eq!(q.layers, vec!["head.fc", "head.act"]);
    assert_eq!(find(&fs, "unused_module").layers, vec!["aux_head.fc"]);
}

#[test]
fn x3_legacy_five_columns_bare_dtypes() {
    let text = fixture("tests/fixtures/horizon/x3-plugin1/qconfig_info.txt");
    let mc = model_check::parse_str(&text).expect("parses");
    let layers = mc.table("layers").expect("layers");
    assert_eq!(layers.headers.len(), 5);
    let fs = quantlens::engine::diagnose_check::diagnose(&mc);
    // quantx has a bare `torch.float32` input and is a QuantStub: not a float_input problem.
    assert!(fs.iter().all(|f| f.kind != "float_input"));
    assert_eq!(find(&fs, "shared_module").layers, vec!["shared_conv"]);
    assert!(fs
        .iter()
        .any(|f| f.kind == "unusual_qconfig" && f.message.contains("qint16 weight!!!")));
}

// --- Detection is by content ---------------------------------------------------------------------

#[test]
fn detection_does_not_depend_on_the_file_name() {
    for rel in [
        "tests/fixtures/horizon/s11-full/model_check_result.txt",
        "tests/fixtures/horizon/x3-plugin1/qconfig_info.txt",
        "tests/fixtures/seed/model_check_excerpt.txt",
    ] {
        let text = fixture(rel);
        let a = findings_of("model_check_result.txt", &text);
        let b = findings_of("unknown", &text);
        assert_eq!(a, b, "{rel}");
    }
}

#[test]
fn crlf_line_endings_read_the_same() {
    let text = fixture("tests/fixtures/horizon/s11-full/model_check_result.txt");
    let crlf = text.replace('\n', "\r\n");
    assert_eq!(findings_of("a", &text), findings_of("b", &crlf));
}

// --- Bad input -----------------------------------------------------------------------------------

fn rejection(name: &str, bytes: &[u8]) -> String {
    let (report, findings) = quantlens::engine::analyze_source(name, bytes.len() as u64, bytes);
    assert!(findings.is_empty());
    report
        .error
        .unwrap_or_else(|| panic!("{name} should be rejected"))
}

#[test]
fn bad_files_get_clear_reasons() {
    assert_eq!(rejection("empty.txt", b""), "the file is empty");
    assert!(rejection("x.bin", &[0u8, 1, 2, 3, 0, 255]).contains("binary"));
    assert!(rejection("w.pt", b"PK\x03\x04rest").contains("tensor dump"));
    assert!(rejection("a.npy", b"\x93NUMPY\x01\x00").contains("quantlens compare"));
    assert!(rejection(
        "latin1.txt",
        &[b'a', 0xe9, 0xe9, 0xe9, b'b', b'c', b'd', b'e', b'f', b'g']
    )
    .contains("UTF-8"));
    let named = rejection("model_check_result.txt", b"hello\nworld\n");
    assert!(named.contains("named like a model-check file"), "{named}");
    let other = rejection("notes.txt", b"hello\n");
    assert!(other.starts_with("not a format QuantLens knows"), "{other}");
    let cmp = rejection("x.txt", b"| | mod_name | base_op_type |\n");
    assert!(
        cmp.contains("compare table has a header but no rows"),
        "{cmp}"
    );
}

#[test]
fn truncated_files_never_panic_and_keep_what_was_read() {
    let text = fixture("tests/fixtures/horizon/s11-full/model_check_result.txt");
    let bytes = text.as_bytes();
    // Cut everywhere (including inside a multi-byte char would be impossible here: ASCII fixture).
    for cut in (1..bytes.len()).step_by(37) {
        let (report, _findings) =
            quantlens::engine::analyze_source("cut.txt", cut as u64, &bytes[..cut]);
        if let Some(e) = &report.error {
            assert!(!e.is_empty());
        }
    }
    // Cut in the middle of the per-layer table: the rows before the cut are kept.
    let mid = text.find("| mask_mul[mul]").expect("row");
    let (report, findings) = analyze_text("cut.txt", &text[..mid]);
    assert!(report.error.is_none());
    let Some(Document::ModelCheck(mc)) = report.document else {
        panic!("document")
    };
    assert_eq!(mc.table("layers").expect("layers").rows.len(), 5);
    assert!(findings.iter().any(|f| f.kind == "unfused"));
}

#[test]
fn hostile_input_is_bounded() {
    // A 2 MB line, deep brackets, and table borders without bodies must not hang or panic.
    let mut s = String::from("Each layer out qconfig:\n+---+---+\n| a | b |\n|---+---|\n| ");
    s.push_str(&"[".repeat(200_000));
    s.push_str(" | x |\n");
    s.push_str(&"y".repeat(2_000_000));
    s.push_str("\ninput dtype statistics:\n+--\n|\n+-+\nWeight qconfig:\n");
    let (report, _) = analyze_text("hostile.txt", &s);
    assert!(report.error.is_none(), "{:?}", report.error);
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 % 96 + 32)
        .collect();
    let (report, _) =
        quantlens::engine::analyze_source("g.txt", garbage.len() as u64, &garbage[..]);
    assert!(report.error.is_some());
}

#[test]
fn sections_only_headers_report_missing_tables() {
    let (report, findings) = analyze_text(
        "m.txt",
        "Each layer out qconfig:\n\ninput dtype statistics:\n",
    );
    assert!(report.error.is_none());
    assert!(findings.is_empty());
    assert!(report.notes.iter().any(|n| n.text.contains("has no table")));
}
