//! The `quantlens` command-line contract: exit codes, human output, and the JSON shape.

mod common;
use common::quantlens;

#[test]
fn check_json_has_exactly_the_documented_finding_keys() {
    let (code, stdout, stderr) =
        quantlens(&["check", "www/examples/model_check_result.txt", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("valid JSON");
    let findings = v["findings"].as_array().expect("findings array");
    assert!(!findings.is_empty());
    for f in findings {
        let mut keys: Vec<&str> = f
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        assert_eq!(keys, ["fix", "kind", "layers", "message", "severity"]);
        assert!(["error", "warning", "info"].contains(&f["severity"].as_str().expect("severity")));
    }
    let kinds: Vec<&str> = findings.iter().filter_map(|f| f["kind"].as_str()).collect();
    for k in [
        "qint32_output",
        "float_input",
        "low_precision_output",
        "unfused",
        "shared_module",
    ] {
        assert!(kinds.contains(&k), "{k} missing");
    }
}

#[test]
fn check_human_output_lists_findings_with_lines() {
    let (code, stdout, _) = quantlens(&[
        "check",
        "tests/fixtures/horizon/s11-full/model_check_result.txt",
    ]);
    assert_eq!(code, 0);
    assert!(stdout.contains("[ERROR] qint32_output"));
    assert!(stdout.contains("Fix: "));
    assert!(stdout.contains("Lines: "));
}

#[test]
fn check_exits_0_when_parsed_even_with_no_findings() {
    let dir = std::env::temp_dir().join(format!("quantlens-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let clean = dir.join("clean.txt");
    std::fs::write(
        &clean,
        "All fusable modules are fused in model!\nAll modules in the model run exactly once.\n",
    )
    .expect("write");
    let (code, stdout, _) = quantlens(&["check", clean.to_str().expect("path"), "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["findings"].as_array().map(Vec::len), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_exits_2_with_a_clear_message_on_unreadable_input() {
    let (code, _, stderr) = quantlens(&["check", "does/not/exist.txt"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("cannot read does/not/exist.txt"),
        "{stderr}"
    );
    let (code, _, stderr) = quantlens(&["check", "Cargo.toml"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("not a format QuantLens knows"), "{stderr}");
    let (code, _, stderr) = quantlens(&["check", "tests"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn report_json_lists_findings_in_triage_order_with_the_reason_for_each_place() {
    let (code, stdout, stderr) = quantlens(&[
        "report",
        "tests/fixtures/real/ort_int8/horizon_quant_analysis",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    let f = v["findings"].as_array().expect("findings");
    assert!(f.len() > 20);
    for (i, x) in f.iter().enumerate() {
        assert_eq!(x["rank"].as_u64(), Some(i as u64 + 1));
        assert!(!x["rank_reason"].as_str().unwrap_or("").is_empty(), "{x}");
    }
    // The sensitivity table's own top ops first; a harmless clip never before a real one.
    assert_eq!(f[0]["kind"], "sensitive_ops");
    let first_harmless = f
        .iter()
        .position(|x| {
            x["rank_reason"]
                .as_str()
                .unwrap_or("")
                .starts_with("harmless")
        })
        .expect("harmless clips are listed");
    assert!(f[first_harmless..].iter().all(|x| x["severity"] == "info"
        || x["rank_reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("harmless")
        || x["kind"] != "truncation"));
    // Tensor files given to `report` are read, not refused as "not supported yet".
    let (code, stdout, stderr) = quantlens(&[
        "report",
        "tests/fixtures/real/ort_int8/float.npz",
        "tests/fixtures/real/ort_int8/quant.npz",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stdout.contains("not supported yet"));
    assert!(
        stdout.contains("Tensor dump"),
        "{}",
        &stdout[..stdout.len().min(400)]
    );
}

/// A 0-d tensor (numpy's shape `()`) says so in the table, not with a bare `[]`.
#[test]
fn compare_names_a_zero_d_shape() {
    let dir = std::env::temp_dir().join(format!("quantlens-cli-0d-{}", std::process::id()));
    for (side, v) in [("f", 1.234f32), ("q", 1.24)] {
        std::fs::create_dir_all(dir.join(side)).expect("tmp");
        std::fs::write(dir.join(side).join("t.npy"), common::npy_f32(&[], &[v])).expect("write");
        std::fs::write(dir.join(side).join("u.npy"), common::npy_f32(&[1], &[v])).expect("write");
    }
    let path = |s: &str| dir.join(s).to_str().expect("path").to_string();
    let (code, stdout, stderr) = quantlens(&["compare", &path("f"), &path("q")]);
    assert_eq!(code, 0, "{stderr}");
    let line = |n: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(n))
            .unwrap_or("")
            .to_string()
    };
    assert!(line("t ").contains("[] (0-d)"), "{stdout}");
    assert!(
        line("u ").contains("[1]") && !line("u ").contains("0-d"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scale source in a dump folder (here ORT's run's `scales.json` beside its `quant.npz`) gives
/// `compare` its scales, as it gives the app and `report`: the error splits, and the pairs say which
/// tensor and which scale they took.
#[test]
fn compare_takes_the_scales_of_a_scale_source_in_the_folder() {
    let dir = std::env::temp_dir().join(format!("quantlens-cli-scales-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let real = std::path::Path::new("tests/fixtures/real/ort_int8");
    for f in ["quant.npz", "scales.json"] {
        std::fs::copy(real.join(f), dir.join(f)).expect("copy");
    }
    let float = real.join("float.npz");
    let args = |json: bool| {
        let mut a = vec![
            "compare".to_string(),
            float.to_str().expect("path").to_string(),
            dir.to_str().expect("path").to_string(),
        ];
        if json {
            a.push("--json".into());
        }
        a
    };
    let run = |json: bool| {
        let a = args(json);
        quantlens(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, stdout, stderr) = run(true);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        v["scale_sources"][0]["file"], "scales.json",
        "{}",
        v["scale_sources"]
    );
    let pairs = v["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 384);
    let scaled = pairs
        .iter()
        .filter(|p| p["scale_source"] == "scales.json")
        .count();
    assert!(scaled > 300, "{scaled} pairs took the folder's scales");
    let p = &pairs[1];
    assert!(
        p["quant_tensor"]
            .as_str()
            .unwrap_or("")
            .ends_with("_DequantizeLinear_Output"),
        "{p}"
    );
    let kinds: Vec<&str> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"truncation"), "{kinds:?}");
    // Without it, nothing splits.
    std::fs::remove_file(dir.join("scales.json")).expect("rm");
    let (_, stdout, _) = run(true);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert!(v["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .all(|p| p["scale"].is_null()));
    let (_, text, _) = run(false);
    assert!(!text.contains("scales: "), "{text}");
    // Its findings cite pairs, not lines: no "Lines: 0, 0, …".
    assert!(
        text.contains("unexplained_error") && !text.contains("Lines:"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
