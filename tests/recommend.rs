//! The sensitivity setter reproduced exactly (horizon-formats.md §4.1) on real-format tables and the
//! seed's own tables, plus the CLI contract and the clear errors.

use quantlens::engine::cells::DType;
use quantlens::engine::recommend::{self, SetterRequest};
use quantlens::engine::sensitivity;
use std::path::Path;

fn table(rel: &str) -> sensitivity::SensitivityTable {
    sensitivity::parse(common::text(rel).as_bytes(), rel).expect("table")
}

mod common;
use common::quantlens_output as quantlens;

fn req(t: &str, ratio: Option<f64>, topk: Option<usize>) -> SetterRequest {
    SetterRequest {
        sensitive_type: t.into(),
        origin_dtype: DType::QInt8,
        ratio,
        topk,
    }
}

#[test]
fn six_columns_top_rows_filtered_by_type_and_dtype() {
    let t = table("tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt");
    // ceil(7 × 0.5) = 4 rows: add2, conv, bn (activation, qint8) and conv (weight).
    let r = recommend::setter(&t, &req("activation", Some(0.5), None)).expect("setter");
    assert_eq!(r.topk, 4);
    let names: Vec<&str> = r.picks.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["add2", "conv", "bn"]);
    assert_eq!(
        r.log,
        "3 ops with 36720(100.00%) flops will be set custom activation qconfig in top 4 ops:"
    );
    // A table without a flops column (the real int8 run's): no "0(0.00%) flops".
    let real = table("tests/fixtures/real/ort_int8/horizon_quant_analysis/output_softmax_11.tmp_0_L1_sensitive_ops.txt");
    let r = recommend::setter(&real, &req("activation", None, Some(3))).expect("setter");
    assert!(
        r.log.ends_with(
            "ops will be set custom activation qconfig in top 3 ops (the table gives no flops):"
        ),
        "{}",
        r.log
    );
    let w = recommend::setter(&t, &req("weight", None, Some(4))).expect("weight");
    assert_eq!(
        w.picks.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        ["conv"]
    );
    let both = recommend::setter(&t, &req("both", None, Some(7))).expect("both");
    assert_eq!(
        both.picks.len(),
        6,
        "quant_grid is qint16 already and is not switched"
    );
}

#[test]
fn five_and_four_columns() {
    // 5 columns: x[-1] is the dtype.
    let t = table("tests/fixtures/horizon/qa-small/output_0_Cosine_sensitive_ops.txt");
    assert_eq!(t.columns, 5);
    let r = recommend::setter(&t, &req("activation", Some(1.0), None)).expect("5 cols");
    assert!(
        r.picks.iter().all(|p| p.name != "quant_grid"),
        "qint16 row excluded"
    );
    // 4 columns: no dtype to filter on.
    let t = table("tests/fixtures/horizon/qa-small/output_boxes_MSE_sensitive_ops.txt");
    let r = recommend::setter(&t, &req("activation", Some(1.0), None)).expect("4 cols");
    assert!(
        r.picks.iter().any(|p| p.name == "quant_grid"),
        "4-column rows are filtered by type only"
    );
}

#[test]
fn the_seeds_tables_give_the_seeds_choices() {
    // All-int8 debug table: "setting the top 0.5% most sensitive operators as int16"; on the
    // 9 rows the seed shows, ceil(9 × 0.005) = 1 → ref_point_quant (the seed's first int16 op).
    let t = table("tests/fixtures/seed/output_0_L1_sensitive_ops_int8.txt");
    let r = recommend::setter(&t, &req("activation", Some(0.005), None)).expect("seed int8");
    assert_eq!(r.picks.len(), 1);
    assert_eq!(r.picks[0].name, "model.view_transformation.ref_point_quant");
    // The top 9 include the dim_t_quant modules and the reg_branch adds, as the seed lists them.
    let r = recommend::setter(&t, &req("activation", None, Some(9))).expect("top 9");
    assert!(r
        .picks
        .iter()
        .any(|p| p.name.ends_with("gen_sineembed_for_position0.dim_t_quant")));
    // The all-int16 table's rows are qint16 already: nothing to switch.
    let t16 = table("tests/fixtures/seed/output_0_L1_sensitive_ops_int16_qat.txt");
    let r = recommend::setter(&t16, &req("activation", Some(1.0), None)).expect("int16");
    assert!(r.picks.is_empty());
    assert!(r.log.starts_with("0 ops"));
}

#[test]
fn bad_requests_are_clear_errors() {
    let t = table("tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt");
    for (q, want) in [
        (
            req("activation", Some(0.0), None),
            "ratio must be in (0, 1]",
        ),
        (
            req("activation", Some(1.5), None),
            "ratio must be in (0, 1]",
        ),
        (
            req("activation", Some(f64::NAN), None),
            "ratio must be in (0, 1]",
        ),
        (req("activation", Some(0.5), Some(2)), "exactly one"),
        (req("activation", None, None), "exactly one"),
        (req("activation", None, Some(0)), "at least 1"),
        (req("bias", Some(0.5), None), "sensitive type"),
    ] {
        let e = recommend::setter(&t, &q).expect_err("this input must be refused");
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn cli_recommend_json_shape() {
    let out = quantlens(&[
        "recommend",
        "tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt",
        "--ratio",
        "0.5",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let first = &v["int16"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .expect("obj")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(keys, ["flops_share", "metric", "name"]);
    assert_eq!(v["int16"][1]["flops_share"], 100.0);
    let snippet = v["snippet"].as_str().expect("snippet");
    assert!(snippet
        .contains("sensitive_op_calibration_8bit_weight_16bit_act_qconfig_setter(t, ratio=0.5)"));
    assert!(snippet.contains("torch.load(\"output_0_L1_sensitive_ops.pt\")"));
    let bad = quantlens(&["recommend", "Cargo.toml", "--ratio", "0.5"]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(v["merged"].as_array().map(Vec::len), Some(0));
}

#[test]
fn cli_recommend_merges_several_tables() {
    let out = quantlens(&[
        "recommend",
        "tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt",
        "tests/fixtures/horizon/qa-small/output_0_Cosine_sensitive_ops.txt",
        "--ratio",
        "0.2",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let m = &v["merged"][0];
    assert_eq!(m["name"], "add2");
    // L1 top is add2 (share 1); Cosine top error is add2's 1 - 0.996353 (share 1).
    assert!((m["score"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{m}");
    assert_eq!(m["ranks"].as_array().map(Vec::len), Some(2));
}

#[test]
fn nice_ratios_select_the_same_rows() {
    for n in [7usize, 9, 100, 1964, 2500] {
        for k in 1..=n.min(300) {
            let r = recommend::nice_ratio(k, n);
            assert!(r > 0.0 && r <= 1.0);
            assert_eq!(((n as f64) * r).ceil() as usize, k, "n {n} k {k} r {r}");
        }
    }
    assert_eq!(recommend::nice_ratio(9, 1964), 0.0041);
}

#[test]
fn merged_ranking_weighs_tables() {
    let a = table("tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt");
    let b = table("tests/fixtures/horizon/qa-small/output_boxes_MSE_sensitive_ops.txt");
    let m = recommend::merged_ranking(&[&a, &b], &[1.0, 1.0]);
    assert_eq!(m[0].name, "add2", "top of both tables");
    assert!((m[0].score - 2.0).abs() < 1e-12);
    assert_eq!(m[0].per_table.len(), 2);
    // Weighting the second table to zero leaves the first table's order.
    let only_a = recommend::merged_ranking(&[&a, &b], &[1.0, 0.0]);
    let names: Vec<&str> = only_a.iter().take(3).map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["add2", "conv", "bn"]);
    // A Cosine table (smaller is worse) counts 1 − cosine.
    let c = table("tests/fixtures/horizon/qa-small/output_0_Cosine_sensitive_ops.txt");
    let mc = recommend::merged_ranking(&[&c], &[1.0]);
    assert_eq!(mc[0].name, "add2");
}

#[test]
fn cli_recommend_puts_fixed_scales_in_the_snippet() {
    let out = quantlens(&[
        "recommend",
        "www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
        "www/examples/horizon_quant_analysis/compare_per_layer_out.txt",
        "--ratio",
        "0.01",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = v["fixed_scales"].as_array().expect("fixed_scales");
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        f[0]["name"],
        "model.view_transformation.transformer.layers.0.quant"
    );
    assert_eq!(f[0]["bound"], 100.0);
    assert_eq!(f[0]["physical"], true);
    assert_eq!(f[0]["scale"], 100.0 / 32768.0);
    let snippet = v["snippet"].as_str().expect("snippet");
    assert!(snippet.contains("\"model.view_transformation.transformer.layers.0.quant\": get_default_qconfig(activation_qkwargs={\"observer\": FixedScaleObserver, \"scale\": 100 / 32768, \"dtype\": qint16}),  # physical bound"), "{snippet}");
    assert!(snippet
        .contains("calib_qconfig_setter = (\n    ModuleNameQconfigSetter(module_name_qconfig),\n"));
    assert_runnable_python(snippet);
}

/// The snippet is valid Python, and every name it uses is imported or defined in it (a copied
/// snippet must not stop at a NameError).
fn assert_runnable_python(snippet: &str) {
    let check = r#"
import ast, builtins, sys
tree = ast.parse(sys.stdin.read())
defined = set(dir(builtins))
for n in ast.walk(tree):
    if isinstance(n, (ast.Import, ast.ImportFrom)):
        defined.update((a.asname or a.name).split(".")[0] for a in n.names)
    elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
        defined.add(n.id)
used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
missing = sorted(used - defined)
if missing:
    sys.exit("undefined names: " + ", ".join(missing))
"#;
    let mut py = std::process::Command::new("python3")
        .args(["-c", check])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    py.stdin
        .take()
        .expect("stdin")
        .write_all(snippet.as_bytes())
        .expect("write");
    assert!(
        py.wait().expect("wait").success(),
        "snippet does not parse:\n{snippet}"
    );
}

#[test]
fn ratio_zero_gives_a_snippet_that_switches_nothing() {
    use quantlens::engine::diagnose_report::FixedScale;
    let names = ["output_0_L1_sensitive_ops.txt".to_string()];
    let none = req("activation", None, None);
    let s = recommend::snippet(&names, &none, &[], &[]);
    assert!(!s.contains("()") && !s.contains(", )"), "{s}");
    assert!(
        s.contains("ratio 0: no op goes to int16 activations"),
        "{s}"
    );
    assert!(s.contains("int16_ops = []"), "{s}");
    assert_runnable_python(&s);
    let fixed = [FixedScale {
        name: "quant".into(),
        bound: 100.0,
        physical: true,
        scale_int16: 100.0 / 32768.0,
    }];
    let s = recommend::snippet(&names, &req("weight", None, None), &[], &fixed);
    assert!(s.contains("calib_qconfig_setter = (\n    ModuleNameQconfigSetter(module_name_qconfig),\n    default_calibration_qconfig_setter,\n)"), "{s}");
    assert_runnable_python(&s);
    // Switch = both: no "no both op".
    let s = recommend::snippet(&names, &req("both", None, None), &[], &[]);
    assert!(s.contains("ratio 0: no op goes to int16;"), "{s}");
}

#[test]
fn pareto_sweep_counts_ops_flops_and_activation_bytes() {
    use quantlens::engine::session::{read_source, Document};
    let t = table("tests/fixtures/horizon/qa-small/output_0_L1_sensitive_ops.txt");
    let rel = "tests/fixtures/horizon/qa-small/compare_per_layer_out.txt";
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect("fixture");
    let r = read_source(rel, bytes.len() as u64, &bytes[..]);
    let Some(Document::Compare(cmp)) = r.document else {
        panic!("not a comparison: {:?}", r.error)
    };
    let elems = recommend::activation_elems(&[&cmp]);
    assert_eq!(elems["add2"], 18 * 3 * 8 * 5);
    assert_eq!(elems["quant"], 18 * 3 * 17 * 7);
    assert!(!elems.contains_key("conv"), "fused rows have no shape");
    let act_total: u64 = elems.values().sum();
    let (pts, knee) = recommend::pareto(&[&t], "activation", &elems);
    assert_eq!(pts.len(), t.rows.len() + 1);
    assert_eq!((pts[0].ops, pts[0].remaining_error), (0, 1.0));
    // Top 1: add2 (L1 0.00364654 of the activation rows' 0.00364654 + 0.00266579 + 0.00253051 +
    // 0.00103114 + 3.56923e-05).
    let total_err = 0.00364654 + 0.00266579 + 0.00253051 + 0.00103114 + 3.56923e-05;
    assert_eq!(pts[1].ops, 1);
    assert!((pts[1].remaining_error - (1.0 - 0.00364654 / total_err)).abs() < 1e-12);
    assert_eq!(pts[1].flops_share, 0.0);
    assert!((pts[1].act_bytes_share - 2160.0 / act_total as f64).abs() < 1e-12);
    // Top 2 adds conv (100% of the flops, no shape: fused into bn).
    assert_eq!(pts[2].flops_share, 1.0);
    assert_eq!(pts[2].act_bytes_share, pts[1].act_bytes_share);
    // quant_grid is qint16 already: never switched, so some error always stays.
    assert!(pts.last().expect("last").remaining_error > 0.0);
    assert!(pts
        .windows(2)
        .all(|w| w[1].remaining_error <= w[0].remaining_error));
    assert!(knee.is_some());
    // Without a comparison table the bytes axis is unknown (0), not invented.
    let (pts, _) = recommend::pareto(&[&t], "activation", &Default::default());
    assert!(pts.iter().all(|p| p.act_bytes_share == 0.0));
}

#[test]
fn unreadable_and_empty_tables_say_why() {
    let header_only = "op_name     sensitive_type    op_type    L1\n----------  ----------------  ---------  ----\n";
    let e = sensitivity::parse(header_only.as_bytes(), "output_0_L1_sensitive_ops.txt")
        .expect_err("this input must be refused");
    assert!(e.to_string().contains("header but no rows"), "{e}");
    let e = sensitivity::parse(&b"hello\nworld\n"[..], "x.txt")
        .expect_err("this input must be refused");
    assert!(e.to_string().contains("no sensitivity table found"), "{e}");
    let e = sensitivity::parse(&b"op_name \xff\xfe\n"[..], "x.txt")
        .expect_err("this input must be refused");
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn each_sweep_point_picks_what_the_setter_picks_for_tables_of_different_lengths() {
    // qa-small's tables differ in length (one has 515 rows): the sweep's op count at a ratio must be
    // the setter's own list at that ratio.
    let dir = "tests/fixtures/horizon/qa-small";
    let mut tables = Vec::new();
    for e in std::fs::read_dir(common::path(dir)).expect("dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with("_sensitive_ops.txt") {
            tables.push(table(&format!("{dir}/{name}")));
        }
    }
    assert!(tables.len() >= 2);
    let refs: Vec<_> = tables.iter().collect();
    let (pts, _) = recommend::pareto(&refs, "activation", &Default::default());
    for pt in pts.iter().filter(|p| p.ratio > 0.0) {
        let (_, picks) =
            recommend::recommend(&refs, &req("activation", Some(pt.ratio), None)).expect("setter");
        let mut names: Vec<&str> = picks.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            pt.ops,
            names.len(),
            "ratio {}: sweep {} ops, setter {:?}",
            pt.ratio,
            pt.ops,
            names
        );
    }
}
