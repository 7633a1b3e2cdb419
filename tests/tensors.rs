//! Tensor dumps: every metric checked against numpy on real activations of a real model (PP-OCR's
//! classifier quantized by ONNX Runtime's QDQ quantizer, scripts/gen_tensor_fixtures.py) and on edge
//! cases, to 1e-5 relative (SQNR to 0.01 dB); formats npy/npz (stored and deflated)/safetensors.

use quantlens::engine::metrics::PairMetrics;
use quantlens::engine::pairs::{self, Located};
use quantlens::engine::tensor::{self, ByteSource};
use serde_json::Value;
use std::path::Path;

fn path(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensors")
        .join(rel)
}

fn bytes(rel: &str) -> Vec<u8> {
    std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn expected() -> Value {
    serde_json::from_slice(&bytes("expected.json")).expect("expected.json")
}

fn located(rel: &str) -> (Vec<u8>, Vec<Located>) {
    let mut b = bytes(rel);
    let entries = tensor::list_tensors(rel, &mut b).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (
        b,
        entries
            .into_iter()
            .map(|entry| Located { file: 0, entry })
            .collect(),
    )
}

fn num(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if s == "inf" || s == "Infinity" => f64::INFINITY,
        _ => f64::NAN,
    }
}

fn close(got: f64, want: f64, what: &str) {
    if want.is_nan() {
        assert!(got.is_nan(), "{what}: want nan, got {got}");
    } else if want.is_infinite() {
        assert_eq!(got, want, "{what}");
    } else {
        let tol = 1e-5 * want.abs().max(1e-12) + 1e-12;
        assert!(
            (got - want).abs() <= tol,
            "{what}: got {got}, want {want} (rel {:.2e})",
            (got - want).abs() / want.abs()
        );
    }
}

fn check(m: &PairMetrics, want: &Value, label: &str) {
    for (k, got) in [
        ("cosine", m.cosine),
        ("mse", m.mse),
        ("l1", m.l1),
        ("kl", m.kl),
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
        if let Some(w) = want.get(k) {
            // KL of nearly equal distributions is a difference of nearly equal terms: absolute 1e-9.
            if k == "kl" && num(w).is_finite() && num(w).abs() < 1e-4 {
                assert!(
                    (got - num(w)).abs() < 1e-9,
                    "{label} kl: got {got}, want {}",
                    num(w)
                );
                continue;
            }
            close(got, num(w), &format!("{label} {k}"));
        }
    }
    if let Some(w) = want.get("sqnr_db") {
        let w = num(w);
        if w.is_finite() {
            assert!(
                (m.sqnr_db - w).abs() < 0.01,
                "{label} sqnr: {} vs {w}",
                m.sqnr_db
            );
        } else {
            assert_eq!(
                m.sqnr_db.is_nan(),
                w.is_nan(),
                "{label} sqnr {} vs {w}",
                m.sqnr_db
            );
            if !w.is_nan() {
                assert_eq!(m.sqnr_db, w, "{label} sqnr");
            }
        }
    }
    if let Some(sp) = want.get("error_split").filter(|v| v.is_object()) {
        let got = m.error_split.expect("split");
        let total = num(&sp["clip"]) + num(&sp["round"]) + num(&sp["inherited"]);
        for (k, g) in [
            ("clip", got.clip),
            ("round", got.round),
            ("inherited", got.inherited),
        ] {
            let w = num(&sp[k]);
            // Components are compared relative to the total energy (a near-zero component has no
            // meaningful relative error of its own).
            assert!(
                (g - w).abs() <= 1e-5 * total.max(1e-30),
                "{label} split {k}: {g} vs {w} (total {total})"
            );
        }
        close(
            got.clipped_fraction,
            num(&sp["clipped_fraction"]),
            &format!("{label} clipped_fraction"),
        );
        close(
            m.max_qscale_diff.expect("qdiff"),
            num(&want["max_qscale_diff"]),
            &format!("{label} max_qscale_diff"),
        );
    }
}

#[test]
fn real_model_activations_match_numpy() {
    let exp = expected();
    let (mut fb, fl) = located("ppocr_cls_float.npz");
    let (mut qb, ql) = located("ppocr_cls_qdq.npz");
    let p = pairs::pair(&fl, &ql);
    assert!(
        p.unpaired_float.is_empty() && p.unpaired_quant.is_empty(),
        "{:?}",
        p
    );
    assert_eq!(p.pairs.len(), 6);
    for pair in &p.pairs {
        assert_eq!(
            pair.matched_by, "as its DequantizeLinear output",
            "QDQ names carry _DequantizeLinear_Output"
        );
        let want = &exp[&pair.name];
        let scale = num(&want["scale"]);
        let m = pairs::compare_pair(
            &mut fb,
            &pair.float.entry,
            &mut qb,
            &pair.quant.entry,
            Some(scale),
            Some("int8"),
            0,
            &mut |_| {},
        )
        .expect("compare");
        assert_eq!(m.numel, pair.float.entry.numel());
        check(&m, want, &pair.name);
    }
}

#[test]
fn the_error_split_tells_clipping_from_inherited_error() {
    let exp = expected();
    let (mut fb, fl) = located("ppocr_cls_float.npz");
    let (mut qb, ql) = located("ppocr_cls_qdq.npz");
    let p = pairs::pair(&fl, &ql);
    let get = |n: &str| p.pairs.iter().find(|x| x.name == n).expect(n).clone();
    let add = get("Add@0");
    let m = pairs::compare_pair(
        &mut fb,
        &add.float.entry,
        &mut qb,
        &add.quant.entry,
        Some(num(&exp["Add@0"]["scale"])),
        Some("int8"),
        0,
        &mut |_| {},
    )
    .expect("add");
    let sp = m.error_split.expect("split");
    assert!(
        sp.clip > 10.0 * (sp.round + sp.inherited),
        "Add@0 is dominated by clipping: {sp:?}"
    );
    let f = pairs::pair_findings("Add@0", 0, &m);
    assert_eq!(f[0].kind, "truncation");
    // The fix says the scale that covers the range, per dtype, and that a Clip after it may make
    // the cut harmless (the Clip@0 pair below is that op).
    let amax = m.base_min.abs().max(m.base_max.abs());
    let want = format!(
        "int8: scale ≥ {}; int16: scale ≥ {}",
        quantlens::engine::num::short(amax / 127.0),
        quantlens::engine::num::short(amax / 32767.0)
    );
    assert!(f[0].fix.contains(&want), "{} / {want}", f[0].fix);
    assert!(
        f[0].fix.contains("this clipping costs nothing"),
        "{}",
        f[0].fix
    );
    let clip = get("Clip@0");
    let m = pairs::compare_pair(
        &mut fb,
        &clip.float.entry,
        &mut qb,
        &clip.quant.entry,
        Some(num(&exp["Clip@0"]["scale"])),
        Some("int8"),
        0,
        &mut |_| {},
    )
    .expect("clip");
    let sp = m.error_split.expect("split");
    assert_eq!(
        sp.clip, 0.0,
        "after the Clip op nothing is beyond the range"
    );
    assert!(
        sp.inherited > sp.round,
        "Clip@0 mostly carries the error of Add@0: {sp:?}"
    );
}

#[test]
fn edge_cases_match_numpy() {
    let exp = expected();
    let (mut fb, fl) = located("edge_float.npz");
    let (mut qb, ql) = located("edge_quant.npz");
    let p = pairs::pair(&fl, &ql);
    assert_eq!(p.pairs.len(), 6);
    for pair in &p.pairs {
        let want = &exp[&format!("edge/{}", pair.name)];
        let scale = want["scale"].as_f64();
        let m = pairs::compare_pair(
            &mut fb,
            &pair.float.entry,
            &mut qb,
            &pair.quant.entry,
            scale,
            Some("int8"),
            0,
            &mut |_| {},
        )
        .expect("compare");
        match pair.name.as_str() {
            "empty" => assert!(m.numel == 0 && m.cosine.is_nan()),
            "identical" => assert_eq!(m.sqnr_db, f64::INFINITY),
            "zeros" => assert_eq!((m.cosine, m.sqnr_db), (0.0, f64::INFINITY)),
            "nan_inf" => assert!(m.nonfinite_base == 1 && m.nonfinite_analy == 1, "{m:?}"),
            _ => {}
        }
        if pair.name != "nan_inf" && pair.name != "empty" {
            check(&m, want, &pair.name);
        }
    }
}

fn single(f: &str, q: &str, scale: Option<f64>) -> PairMetrics {
    let (mut fb, fl) = located(f);
    let (mut qb, ql) = located(q);
    pairs::compare_pair(
        &mut fb,
        &fl[0].entry,
        &mut qb,
        &ql[0].entry,
        scale,
        None,
        0,
        &mut |_| {},
    )
    .expect("compare")
}

#[test]
fn int8_dump_f16_big_endian_fortran_and_single_npy() {
    let exp = expected();
    check(
        &single("int8_float.npy", "int8_quant.npy", Some(0.05)),
        &exp["int8"],
        "int8",
    );
    check(
        &single("f16_float.npy", "f16_quant.npy", None),
        &exp["f16_vs_bigendian"],
        "f16/big-endian",
    );
    check(
        &single("fortran_float.npy", "fortran_quant.npy", None),
        &exp["fortran"],
        "fortran",
    );
    let first = exp
        .as_object()
        .expect("obj")
        .iter()
        .find(|(k, v)| {
            !k.starts_with('_')
                && !k.contains('/')
                && v["shape"].as_array().is_some_and(|s| s.len() == 4)
                && k.as_str() != "int8"
                && k.as_str() != "fortran"
                && k.as_str() != "f16_vs_bigendian"
        })
        .map(|(k, _)| k.clone());
    assert!(first.is_some());
    // A raw int8 dump without a scale is refused with the reason.
    let (mut fb, fl) = located("int8_float.npy");
    let (mut qb, ql) = located("int8_quant.npy");
    let e = pairs::compare_pair(
        &mut fb,
        &fl[0].entry,
        &mut qb,
        &ql[0].entry,
        None,
        None,
        0,
        &mut |_| {},
    )
    .expect_err("this input must be refused");
    assert!(e.contains("give its scale"), "{e}");
}

#[test]
fn safetensors_pairs_by_name() {
    let exp = expected();
    let (mut fb, fl) = located("model_float.safetensors");
    let (mut qb, ql) = located("model_quant.safetensors");
    let p = pairs::pair(&fl, &ql);
    assert_eq!(p.pairs.len(), 2);
    for pair in &p.pairs {
        let m = pairs::compare_pair(
            &mut fb,
            &pair.float.entry,
            &mut qb,
            &pair.quant.entry,
            None,
            None,
            0,
            &mut |_| {},
        )
        .expect("cmp");
        check(&m, &exp[&format!("safetensors/{}", pair.name)], &pair.name);
    }
}

#[test]
fn shape_mismatch_and_truncation_are_reported_not_broadcast() {
    let (mut fb, fl) = located("int8_float.npy");
    let (mut qb, ql) = located("edge_quant.npz");
    let zeros = ql.iter().find(|l| l.entry.name == "zeros").expect("zeros");
    let e = pairs::compare_pair(
        &mut fb,
        &fl[0].entry,
        &mut qb,
        &zeros.entry,
        None,
        None,
        0,
        &mut |_| {},
    )
    .expect_err("this input must be refused");
    assert!(e.starts_with("shape mismatch"), "{e}");
    // A truncated .npy and a truncated .npz fail with a reason.
    let mut t = bytes("single_float.npy");
    t.truncate(t.len() / 2);
    assert!(tensor::list_tensors("x.npy", &mut t)
        .expect_err("this input must be refused")
        .contains("truncated"));
    // A real deflated .npz (ORT's 20 activations) that lost its last 100 bytes (its directory's
    // end): every member is whole before the cut, so all are read, with a note that says so.
    let mut z = bytes("ppocr_cls_qdq.npz");
    let whole = tensor::list_tensors("x.npz", &mut z.clone())
        .expect("whole")
        .len();
    z.truncate(z.len() - 100);
    let (cut, notes) = tensor::list_tensors_with_notes("x.npz", &mut z).expect("cut short");
    assert_eq!(cut.len(), whole);
    assert!(notes[0].starts_with("The zip is cut short"), "{notes:?}");
    let mut junk = b"not a tensor at all".to_vec();
    assert!(tensor::list_tensors("x.bin", &mut junk)
        .expect_err("this input must be refused")
        .contains("not a tensor file"));
    // Every truncation point of a deflated npz either lists cleanly or errors: never a panic.
    let z = bytes("ppocr_cls_qdq.npz");
    for cut in (0..z.len()).step_by(997) {
        let mut part = z[..cut].to_vec();
        if let Ok(entries) = tensor::list_tensors("x.npz", &mut part) {
            for e in entries {
                let _ = tensor::read_all(&mut part, &e);
            }
        }
    }
    assert!(z.as_slice().size() > 0);
}

#[test]
fn cli_compare_json_has_the_documented_keys() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantlens"))
        .args([
            "compare",
            "tests/fixtures/tensors/ppocr_cls_float.npz",
            "tests/fixtures/tensors/ppocr_cls_qdq.npz",
            "--scale",
            "Add@0=0.04724",
            "--json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let pairs = v["pairs"].as_array().expect("pairs");
    assert_eq!(pairs.len(), 6);
    let keys = [
        "name",
        "shape",
        "float_tensor",
        "quant_tensor",
        "matched_by",
        "scale",
        "scale_source",
        "cosine",
        "mse",
        "l1",
        "kl",
        "sqnr_db",
        "atol",
        "rtol",
        "base_min",
        "base_max",
        "base_mean",
        "base_var",
        "analy_min",
        "analy_max",
        "analy_mean",
        "analy_var",
        "max_qscale_diff",
        "nonfinite_float",
        "nonfinite_quant",
        "error_split",
    ];
    for p in pairs {
        let mut got: Vec<&str> = p
            .as_object()
            .expect("obj")
            .keys()
            .map(String::as_str)
            .collect();
        got.sort();
        let mut want = keys.to_vec();
        want.sort();
        assert_eq!(got, want);
    }
    let add = pairs.iter().find(|p| p["name"] == "Add@0").expect("Add@0");
    assert_eq!(
        (
            add["nonfinite_float"].as_u64(),
            add["nonfinite_quant"].as_u64()
        ),
        (Some(0), Some(0))
    );
    assert!(add["error_split"]["clip"].as_f64().expect("clip") > 0.0);
    assert!(pairs
        .iter()
        .filter(|p| p["name"] != "Add@0")
        .all(|p| p["error_split"].is_null() && p["max_qscale_diff"].is_null()));
    assert!(v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|f| f["kind"] == "truncation"));
    assert!(v["unpaired_float"].as_array().is_some_and(Vec::is_empty));
}

#[test]
fn torch_save_archives_plain_parameter_and_quantized_tensors() {
    let exp = expected();
    let (mut fb, fl) = located("torch_float.pt");
    let (mut qb, ql) = located("torch_quant.pt");
    let q = ql
        .iter()
        .find(|l| l.entry.name == "layer.out")
        .expect("qtensor");
    assert_eq!(q.entry.elem, tensor::ElemType::I8);
    assert_eq!(
        q.entry.scale,
        Some(0.05),
        "the qtensor's scale comes from the file"
    );
    let pc = ql
        .iter()
        .find(|l| l.entry.name == "layer.param")
        .expect("per-channel");
    let qi = pc.entry.quant.as_ref().expect("per-channel params");
    assert_eq!((qi.axis, qi.scales.len()), (Some(1), 3));
    let p = pairs::pair(&fl, &ql);
    assert_eq!(p.pairs.len(), 3, "{p:?}");
    for pair in &p.pairs {
        // No scale given: the per-tensor qtensor brings its own (and the error split with it).
        let m = pairs::compare_pair(
            &mut fb,
            &pair.float.entry,
            &mut qb,
            &pair.quant.entry,
            None,
            None,
            0,
            &mut |_| {},
        )
        .expect("cmp");
        check(&m, &exp[&format!("torch/{}", pair.name)], &pair.name);
        if pair.name == "layer.out" {
            assert!(m.error_split.is_some());
        }
    }
}

#[test]
fn horizon_opinfo_objects_yield_their_tensors_by_attribute() {
    let (_, l) = located("conv_0.opinfo");
    let names: Vec<&str> = l.iter().map(|x| x.entry.name.as_str()).collect();
    assert_eq!(names, vec!["input.0", "output", "op_states.weight"]);
}

#[test]
fn pickles_are_never_executed() {
    let marker = std::path::Path::new("/tmp/quantlens_pickle_was_executed");
    let _ = std::fs::remove_file(marker);
    let mut b = bytes("evil.pt");
    let e = tensor::list_tensors("evil.pt", &mut b).expect_err("this input must be refused");
    assert!(e.contains("no tensor found"), "{e}");
    assert!(!marker.exists(), "a global in the pickle was called");
    // Truncated pickles and archives fail cleanly at every cut.
    let t = bytes("torch_quant.pt");
    for cut in (0..t.len()).step_by(61) {
        let mut part = t[..cut].to_vec();
        if let Ok(entries) = tensor::list_tensors("x.pt", &mut part) {
            for e in entries {
                let _ = tensor::read_all(&mut part, &e);
            }
        }
    }
}

#[test]
fn small_pairs_carry_the_group_split_what_if() {
    // Computed on demand for the pair in view (not while comparing every pair).
    let m = {
        let (mut fb, fl) = located("int8_float.npy");
        quantlens::engine::whatif::pair_whatif(&mut fb, &fl[0].entry, &[]).expect("what-if")
    };
    let got: Vec<(String, usize)> = m.groups.iter().map(|g| (g.dtype.clone(), g.k)).collect();
    let want: Vec<(String, usize)> = ["int8", "int16"]
        .iter()
        .flat_map(|d| [1, 2, 4].map(|k| (d.to_string(), k)))
        .collect();
    assert_eq!(got, want);
    // One group is plain min-max fake quantization of the float tensor (round half to even).
    let (mut fb, fl) = located("int8_float.npy");
    let mut x = Vec::new();
    tensor::read_range(&mut fb, &fl[0].entry, 0, 120, &mut x).expect("read");
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    let s = (amax / 127.5) as f32;
    let mse = x
        .iter()
        .map(|&v| {
            let q = (v / s).round_ties_even().clamp(-128.0, 127.0) * s;
            ((q - v) as f64).powi(2)
        })
        .sum::<f64>()
        / 120.0;
    assert!(
        (m.groups[0].split.mse - mse).abs() <= 1e-9 * mse,
        "{} vs {mse}",
        m.groups[0].split.mse
    );
    assert!(m.groups[0].split.cuts.is_empty());
    // More groups never hurt; int16 beats int8.
    assert!(m.groups[1].split.mse <= m.groups[0].split.mse);
    assert!(m.groups[2].split.mse <= m.groups[1].split.mse);
    assert_eq!(
        m.groups[2].split.scales.len(),
        m.groups[2].split.cuts.len() + 1
    );
    assert!(m.groups[3].split.mse < m.groups[0].split.mse);
    // Per channel along axes 0 and 1 at int8 and int16, beside one scale for the tensor.
    let ch: Vec<(String, usize, usize)> = m
        .channels
        .iter()
        .map(|c| (c.dtype.clone(), c.axis, c.channels))
        .collect();
    assert_eq!(
        ch,
        [
            ("int8", 0, 2),
            ("int8", 1, 3),
            ("int16", 0, 2),
            ("int16", 1, 3)
        ]
        .map(|(d, a, n)| (d.to_string(), a, n))
    );
    assert!((m.channels[0].per_tensor_mse - mse).abs() <= 1e-9 * mse);
    assert!(m
        .channels
        .iter()
        .all(|c| c.per_channel_mse <= c.per_tensor_mse * (1.0 + 1e-9)));
}

/// A `.npz` cut short anywhere (a copy or download stopped early: no directory at its end) gives
/// the members that are whole before the cut, with numpy's values, and a note of where it ends;
/// before the first member is whole it is refused. The two-member deflated zip of the
/// broken-input corpus (`a` and `b`, each `np.arange(24)`), cut at every byte.
#[test]
fn a_zip_cut_anywhere_gives_its_whole_members_and_says_where_it_ends() {
    let full = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/broken/npz_truncated_directory.npz"),
    )
    .expect("fixture");
    let want: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let mut counts = [0usize; 3];
    let mut last = 0;
    for cut in 0..=full.len() {
        let mut src = &full[..cut];
        let n = match tensor::list_tensors_with_notes("cut.npz", &mut src) {
            Err(_) => 0,
            Ok((entries, notes)) => {
                assert_eq!(notes.len(), 1, "cut {cut}");
                assert!(
                    notes[0].starts_with("The zip is cut short (its end, where the directory of its members is, is missing): it ends ")
                        && notes[0].contains("QuantLens read the"),
                    "cut {cut}: {}",
                    notes[0]
                );
                for (e, name) in entries.iter().zip(["a", "b"]) {
                    assert_eq!(e.name, name, "cut {cut}");
                    assert_eq!(
                        tensor::read_all(&mut src, e).expect("read"),
                        want,
                        "cut {cut}"
                    );
                }
                entries.len()
            }
        };
        // Members only ever become whole as the cut moves on.
        assert!(n >= last, "cut {cut}: {n} members after {last}");
        last = n;
        counts[n] += 1;
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}

#[test]
fn one_name_picked_from_two_folders_keeps_both_files() {
    // float_out/ and quant_out/ picked as one flat list: the folders are lost, the names repeat.
    use quantlens::engine::pairs::Side;
    use quantlens::engine::session::Session;
    let npy = |v: &[f32]| {
        let data: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        quantlens::engine::encode::npy("<f4", false, &[v.len()], &data)
    };
    let float_x = npy(&[0.1, 0.2, 0.3, 0.4]);
    let quant_x = npy(&[0.125, 0.25, 0.25, 0.375]);
    let float_y = npy(&[1.0, -1.0]);
    let quant_y = npy(&[1.0, -0.875]);
    let dropped: Vec<String> = ["x.npy", "y.npy", "x.npy", "y.npy"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let d = quantlens::engine::views::distinct_paths(&dropped, &[]);
    assert_eq!(d.names, ["x.npy", "y.npy", "(2)/x.npy", "(2)/y.npy"]);
    assert!(d
        .note
        .as_deref()
        .unwrap()
        .contains("drop or pick the folders themselves"));
    let mut s = Session::new();
    for (name, bytes) in d.names.iter().zip([&float_x, &float_y, &quant_x, &quant_y]) {
        s.open(name, Box::new(bytes.clone()));
    }
    s.update(&mut |_, _, _| {});
    // All four kept (same name and size: the old rule took the second for a re-drop of the first).
    assert_eq!(s.analysis.files.len(), 4);
    // Nothing says which side each is: the user is asked.
    assert!(s.analysis.tensors.pairs.is_empty());
    let message = s.analysis.tensors.message.clone().unwrap_or_default();
    assert!(
        message.contains("4 of 4 tensor files have no side yet"),
        "{message}"
    );
    // One choice for the files without a folder: pairing puts the (2)/ copies on the other side,
    // and the renamed copies keep their tensors' names, so they pair.
    assert_eq!(quantlens::engine::views::folder_key("x.npy"), "./");
    assert_eq!(quantlens::engine::views::folder_key("(2)/x.npy"), "(2)/");
    s.settings.sides.insert("./".into(), Side::Float);
    s.update(&mut |_, _, _| {});
    let paired = |s: &Session| {
        let mut names: Vec<String> = s
            .analysis
            .tensors
            .pairs
            .iter()
            .map(|p| p.name.clone())
            .collect();
        names.sort();
        names
    };
    assert_eq!(paired(&s), ["x", "y"]);
    let x = s
        .analysis
        .tensors
        .pairs
        .iter()
        .find(|p| p.name == "x")
        .unwrap();
    assert_eq!(s.analysis.files[x.quant_file].name, "(2)/x.npy");
    assert!(x.metrics.is_some(), "{:?}", x.error);
    // A file's own choice beats its folder's: all four on the float side leaves nothing to pair.
    s.settings.sides.insert("(2)/".into(), Side::Float);
    s.update(&mut |_, _, _| {});
    assert!(s.analysis.tensors.pairs.is_empty());
    s.settings.sides.insert("(2)/y.npy".into(), Side::Quant);
    s.update(&mut |_, _, _| {});
    assert_eq!(paired(&s), ["y"]);
}

#[test]
fn a_zip64_npz_is_read_through_its_zip64_records() {
    // scripts/gen_zip64_fixture.py: the end record says 0xFFFF members at 0xFFFFFFFF, each directory
    // entry keeps its sizes and offset only in its zip64 extra field (Python's zipfile reads it).
    let mut b = bytes("zip64_eocd.npz");
    let entries = tensor::list_tensors("zip64_eocd.npz", &mut b).expect("list");
    let mut names: Vec<(&str, &[u64])> = entries
        .iter()
        .map(|e| (e.name.as_str(), e.shape.as_slice()))
        .collect();
    names.sort();
    assert_eq!(names, [("bias", &[2][..]), ("conv", &[3, 4][..])]);
    let conv = entries.iter().find(|e| e.name == "conv").unwrap();
    let values = tensor::read_all(&mut b, conv).expect("read");
    let want: Vec<f32> = (0..12).map(|i| i as f32 / 8.0).collect();
    assert_eq!(values, want);
    // The locator cut off: the reader says what is missing.
    let mut cut = bytes("zip64_eocd.npz");
    let n = cut.len();
    cut[n - 22 - 20] = b'X';
    let err = tensor::list_tensors("x.npz", &mut cut)
        .unwrap_err()
        .to_string();
    assert!(err.contains("zip64 locator missing"), "{err}");
}
