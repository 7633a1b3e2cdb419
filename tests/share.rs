//! The view-state codec of links: round trip, versions, size cap, garbage and hostile fragments.

use quantlens::engine::share::{
    decode, encode, GridState, MixState, PairsState, ShareError, TabRef, ViewState,
    FRAGMENT_CAP_BYTES, SHARE_VERSION,
};

fn b64url(bytes: &[u8]) -> String {
    // An independent encoder (the standard alphabet, then the URL-safe swap), for hand-made fragments.
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(STD[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    s.replace('+', "-").replace('/', "_")
}

fn fragment_of_json(json: &str) -> String {
    format!(
        "s={}",
        b64url(&miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6))
    )
}

#[test]
fn every_view_round_trips() {
    let states = [
        ViewState::default(),
        ViewState {
            tab: TabRef::File,
            file: Some("runs/ort_int8/compare_per_layer_out.txt".into()),
            finding: Some(3),
            row: Some(49_999),
            grid: GridState {
                text: "backbone.conv".into(),
                dtype: "qint16".into(),
                cause: "truncation".into(),
                kind: "low_sqnr".into(),
                sort: Some(("sqnr".into(), true)),
                columns: Some(vec!["name".into(), "sqnr".into()]),
                all_rows: true,
            },
            ..ViewState::default()
        },
        ViewState {
            tab: TabRef::Tensors,
            pairs: PairsState {
                pair: Some(41),
                name: "backbone.stage2.conv1.output".into(),
                sort: Some(("sqnr".into(), false)),
            },
            ..ViewState::default()
        },
        ViewState {
            tab: TabRef::Recommend,
            mix: MixState {
                run: Some("ort_int16".into()),
                sensitive_type: "both".into(),
                step: Some(17),
            },
            ..ViewState::default()
        },
        ViewState {
            tab: TabRef::File,
            file: Some("名前 with spaces & #hash <b>.txt".into()),
            ..ViewState::default()
        },
    ];
    for s in states {
        let f = encode(&s);
        assert!(f.starts_with("s="), "{f}");
        assert!(
            f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
            "fragment must be URL-safe: {f}"
        );
        assert_eq!(decode(&f).expect("decodes"), Some(s.clone()));
        assert_eq!(decode(&format!("#{f}")).expect("with #"), Some(s));
    }
}

/// A fragment of version 1, committed literally so a later encoder cannot change it. Made by
/// Python's zlib (raw deflate, level 9) and base64.urlsafe_b64encode, padding stripped:
/// `zlib.compressobj(9, zlib.DEFLATED, -15)` on the JSON below.
const V1_LINK: &str =
    "#s=q1YqU7Iy1FEqSUxSslJKy8xJVdKBUFZKufkpqTnxyRmpydnxRanFpTkleiUVJUD5ovxyJSvzWgA";

#[test]
fn links_of_version_1_keep_opening() {
    let json = r#"{"v":1,"tab":"file","file":"model_check_result.txt","row":7}"#;
    // The committed link is this JSON; check it against an independent encoder once.
    let mine = fragment_of_json(json);
    let want = ViewState {
        tab: TabRef::File,
        file: Some("model_check_result.txt".into()),
        row: Some(7),
        ..ViewState::default()
    };
    assert_eq!(decode(&mine).expect("independent"), Some(want.clone()));
    assert_eq!(decode(V1_LINK).expect("v1 link"), Some(want));
}

#[test]
fn unknown_fields_are_ignored_and_missing_ones_default() {
    let f = fragment_of_json(r#"{"v":1,"future_field":[1,2,3]}"#);
    assert_eq!(decode(&f).expect("decodes"), Some(ViewState::default()));
}

#[test]
fn a_newer_link_says_so() {
    let f = fragment_of_json(&format!(r#"{{"v":{}}}"#, SHARE_VERSION + 1));
    let e = decode(&f).expect_err("newer");
    assert_eq!(e, ShareError::Newer(SHARE_VERSION + 1));
    assert!(e.to_string().contains("newer QuantLens"), "{e}");
}

#[test]
fn no_state_is_not_an_error() {
    assert_eq!(decode("").expect("empty"), None);
    assert_eq!(decode("#").expect("hash"), None);
    assert_eq!(decode("#other=1&x").expect("foreign"), None);
}

#[test]
fn garbage_is_refused_with_a_reason() {
    let cases: Vec<(String, &str)> = vec![
        ("s=!!!".into(), "not base64url"),
        ("s=A".into(), "not base64url"),
        (
            format!("s={}", b64url(b"plain, not deflate")),
            "not deflate",
        ),
        (fragment_of_json("<script>alert(1)</script>"), "not JSON"),
        (fragment_of_json(r#"{"tab":"file"}"#), "no version"),
        (fragment_of_json(r#"{"v":0}"#), "version 0"),
        (fragment_of_json(r#"{"v":1,"row":"x"}"#), "wrong type"),
        (fragment_of_json(r#"{"v":1,"tab":"nowhere"}"#), "wrong type"),
        (fragment_of_json(r#"{"v":1,"row":-1}"#), "wrong type"),
        (
            fragment_of_json(r#"{"v":1,"grid":{"sort":"sqnr"}}"#),
            "wrong type",
        ),
    ];
    for (f, why) in cases {
        let e = decode(&f).expect_err(&f);
        assert!(e.to_string().contains(why), "{f}: {e}");
        assert!(e.to_string().contains("not read"), "{f}: {e}");
    }
}

#[test]
fn oversized_and_bomb_fragments_are_refused() {
    let long = format!("s={}", "A".repeat(FRAGMENT_CAP_BYTES));
    assert!(matches!(decode(&long), Err(ShareError::TooLong(_))));
    // 1 MiB of spaces deflates to about a kilobyte: under the length cap, over the inflate cap.
    let bomb = format!(
        "s={}",
        b64url(&miniz_oxide::deflate::compress_to_vec(
            &vec![b' '; 1 << 20],
            9
        ))
    );
    assert!(bomb.len() < FRAGMENT_CAP_BYTES, "{}", bomb.len());
    let e = decode(&bomb).expect_err("bomb");
    assert!(
        e.to_string().contains("inflates past its size limit"),
        "{e}"
    );
}

#[test]
fn a_typical_view_is_short() {
    let s = ViewState {
        tab: TabRef::File,
        file: Some("output/quant_analysis/compare_per_layer_out.txt".into()),
        finding: Some(12),
        row: Some(1234),
        ..ViewState::default()
    };
    let n = encode(&s).len();
    assert!(n < 160, "{n} bytes");
}

#[test]
fn a_pair_is_found_by_name_when_the_list_changed() {
    let p = PairsState {
        pair: Some(1),
        name: "b".into(),
        sort: None,
    };
    assert_eq!(p.resolve(["a", "b", "c"].into_iter()), Some(1));
    assert_eq!(p.resolve(["b", "a", "c"].into_iter()), Some(0));
    assert_eq!(p.resolve(["a", "c"].into_iter()), None);
    assert_eq!(PairsState::default().resolve(["a"].into_iter()), None);
}

#[test]
fn the_runs_settings_round_trip_and_bad_scales_are_dropped() {
    use quantlens::engine::intent::Intent;
    use quantlens::engine::quant::QDType;
    use quantlens::engine::share::RunState;
    use quantlens::engine::side::Side;
    let mut run = RunState {
        intent: Intent::AllInt16,
        ..RunState::default()
    };
    run.sides.insert("ort_int8/quant.npz".into(), Side::Quant);
    run.scales
        .insert("Add@0".into(), (0.05, Some(QDType::Int8)));
    run.scales.insert("*".into(), (1.5e-3, None));
    run.pairs
        .push(("conv1_out".into(), "conv1_out_QuantizeLinear".into()));
    let state = ViewState {
        tab: TabRef::Tensors,
        run: run.clone(),
        ..ViewState::default()
    };
    let f = encode(&state);
    assert_eq!(decode(&f).expect("decodes"), Some(state));
    // A hand-written link with a zero, negative or huge-exponent scale: those scales are dropped.
    let f = fragment_of_json(
        r#"{"v":2,"run":{"intent":"all_int8","scales":{"a":[0.0,null],"b":[-1.0,null],"c":[0.25,"int16"]}}}"#,
    );
    let got = decode(&f).expect("decodes").expect("state");
    assert_eq!(got.run.intent, Intent::AllInt8);
    assert_eq!(got.run.scales.len(), 1);
    assert_eq!(got.run.scales["c"], (0.25, Some(QDType::Int16)));
}

#[test]
fn a_links_file_is_found_under_another_folder_or_alone() {
    use quantlens::engine::share::resolve_file;
    let loaded = [
        "examples/model_check_result.txt",
        "examples/horizon_quant_analysis/compare_per_layer_out.txt",
        "compare_per_layer_out.csv",
    ];
    let r = |w: &str| resolve_file(w, loaded.iter().copied());
    assert_eq!(r("examples/model_check_result.txt"), Some(0));
    assert_eq!(
        r("example/horizon_quant_analysis/compare_per_layer_out.txt"),
        Some(1)
    );
    assert_eq!(r("compare_per_layer_out.txt"), Some(1));
    assert_eq!(r("run42/compare_per_layer_out.csv"), Some(2));
    assert_eq!(r("other.txt"), None);
    // Two runs: the file name alone is ambiguous, the folder decides.
    let two = ["ort_int8/quant.npz", "ort_int16/quant.npz"];
    assert_eq!(resolve_file("quant.npz", two.iter().copied()), None);
    assert_eq!(
        resolve_file("x/ort_int16/quant.npz", two.iter().copied()),
        Some(1)
    );
}
