//! Digest links: the findings that matter and their rows fit the cap on real analyses, round trip,
//! open when written by another encoder (Python's zlib), refuse garbage and newer versions with a
//! clear reason, and check dropped files by size and SHA-256.

mod common;

use quantlens::engine::digest::{
    check_files, check_sentence, decode_digest, digest, encode_digest, files_match, DigestFile,
    FileCheck, DIGEST_CAP_BYTES, DIGEST_VERSION,
};
use quantlens::engine::encode::sha256_hex;
use quantlens::engine::share::ShareError;

const EXAMPLE: &[&str] = &[
    "model_check_result.txt",
    "horizon_quant_analysis/compare_per_layer_out.txt",
    "horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
    "horizon_quant_analysis/abnormal_layer_advisor.txt",
];

fn sha_of(base: &'static str) -> impl Fn(&str) -> Option<String> {
    move |name: &str| Some(sha256_hex(&common::bytes(&format!("{base}/{name}"))))
}

#[test]
fn the_example_digest_keeps_the_top_findings_with_their_rows_under_the_cap() {
    let s = common::session_in("www/examples", EXAMPLE);
    let a = &s.analysis;
    let d = digest(a, &sha_of("www/examples"), 24);
    let enc = encode_digest(&d);
    assert!(enc.len() <= DIGEST_CAP_BYTES, "{} characters", enc.len());
    assert_eq!(
        decode_digest(&format!("#{enc}&s=x")).unwrap(),
        Some(d.clone())
    );
    assert_eq!(d.v, DIGEST_VERSION);
    // The Overview's order, and the count of what was left out.
    for (df, af) in d.findings.iter().zip(&a.findings) {
        assert_eq!(df.kind, af.finding.kind);
        assert_eq!(df.severity, af.finding.severity);
    }
    assert_eq!(d.findings.len() + d.omitted, a.findings.len());
    assert!(d.findings.len() >= 10, "{} findings fit", d.findings.len());
    // A finding that cites comparison rows carries them with their cells by header.
    let cited = d
        .findings
        .iter()
        .find(|f| {
            f.rows
                .iter()
                .any(|r| r.file.ends_with("compare_per_layer_out.txt"))
        })
        .expect("a finding citing the comparison table");
    let row = &cited.rows[0];
    assert!(
        row.cells
            .iter()
            .any(|(h, _)| h == "Cosine" || h == "cosine"),
        "{:?}",
        row.cells
    );
    assert_eq!((d.files.len(), d.files_omitted), (4, 0));
    // Each file's SHA-256: whole, or its first 16 digits when the findings needed the room.
    for f in &d.files {
        let full = sha256_hex(&common::bytes(&format!("www/examples/{}", f.name)));
        assert!(
            f.sha256.len() >= 16 && full.starts_with(&f.sha256),
            "{} {}",
            f.sha256,
            full
        );
    }
    assert_eq!(d.counts.iter().sum::<usize>(), a.findings.len());
}

#[test]
fn a_real_run_with_hundreds_of_rows_still_fits() {
    let mut rel: Vec<String> = std::fs::read_dir(common::path(
        "tests/fixtures/real/ort_int8/horizon_quant_analysis",
    ))
    .unwrap()
    .map(|e| {
        format!(
            "ort_int8/horizon_quant_analysis/{}",
            e.unwrap().file_name().to_string_lossy()
        )
    })
    .collect();
    rel.sort();
    let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
    let s = common::session_in("tests/fixtures/real", &rel);
    let d = digest(&s.analysis, &sha_of("tests/fixtures/real"), 1000);
    assert!(encode_digest(&d).len() <= DIGEST_CAP_BYTES);
    assert!(!d.findings.is_empty());
    assert_eq!(d.findings.len() + d.omitted, s.analysis.findings.len());
}

/// Written by Python's zlib (scripts: `zlib.compressobj(9, zlib.DEFLATED, -15)` over the JSON, then
/// `base64.urlsafe_b64encode` without padding), independently of the engine's encoder.
const PYTHON_V1: &str = "d=pVLBTsMwDP2VKIgbKms7NrEb4sqF81RNXutt0dJkJO7YNO3fsb3BBQ4g1Kqp_d5znp2c7N7OTHlnrAuEgTiwQ8gEhJ3l7Mp5zJycn2yAHgVOQxhX923sd5BwscO08HDkbxyooAOJankkVZVVPeYwb6B6mIgWlv971FJMPajR1wECPQXwx-yyURfm4svlGOy50QZC58L62sOWI1ESN9ECOWaJP9xjcnQUBFOKSZJaTmW2jx36YoPQFW-ypZXCfeTuv0gjyWDOsNYZtd7tsqnLYnpr4so4yiZBYEwdHYTCC3Ymt-A1y_B2kRDEOKM3lejKx8n48xR-OfoU36-9_kFEsLxwf2RdyzJey1xcEOqUf1v0Xjeb2xchWx3L91nN7XPMImN8VNSTUWmb5tzo-cTekdy1mamkYhwCaUm-kvI25w8";

#[test]
fn a_digest_written_by_another_encoder_opens() {
    let d = decode_digest(PYTHON_V1).unwrap().unwrap();
    assert_eq!(d.files[0].name, "run42/compare_per_layer_out.txt");
    assert_eq!(d.findings[0].kind, "truncation");
    assert_eq!(
        d.findings[0].rows[0].cells[1],
        ("Cosine".into(), "0.3601".into())
    );
    assert_eq!(d.omitted, 2);
}

#[test]
fn garbage_newer_and_oversized_digests_say_why() {
    assert_eq!(decode_digest("#s=abc").unwrap(), None);
    assert!(matches!(
        decode_digest("#d=%%%"),
        Err(ShareError::Damaged("not base64url"))
    ));
    assert!(matches!(
        decode_digest("#d=AAAA"),
        Err(ShareError::Damaged(_))
    ));
    assert!(matches!(
        decode_digest(&format!("#d={}", "A".repeat(3 * DIGEST_CAP_BYTES))),
        Err(ShareError::TooLong(_))
    ));
    let newer = serde_json::json!({"v": DIGEST_VERSION + 1, "anything": true}).to_string();
    let packed = miniz_oxide::deflate::compress_to_vec(newer.as_bytes(), 9);
    let frag = format!(
        "#d={}",
        quantlens::engine::encode::base64url_encode(&packed)
    );
    assert!(matches!(decode_digest(&frag), Err(ShareError::Newer(v)) if v == DIGEST_VERSION + 1));
    // A deflate bomb stops at the inflate cap.
    let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b' '; 4 << 20], 9);
    let frag = format!("#d={}", quantlens::engine::encode::base64url_encode(&bomb));
    assert!(matches!(
        decode_digest(&frag),
        Err(ShareError::Damaged(_)) | Err(ShareError::TooLong(_))
    ));
}

#[test]
fn dropped_files_are_checked_by_size_and_hash_and_matched_by_name_or_last_segment() {
    let d = decode_digest(PYTHON_V1).unwrap().unwrap();
    let h = "ab".repeat(32);
    let same = check_files(&d, &[("compare_per_layer_out.txt".into(), 1234, h.clone())]);
    assert_eq!(same[0].1, FileCheck::Same);
    assert_eq!(
        check_sentence(&same, 0),
        "These are the link's files: 1 of 1 match (size and SHA-256)."
    );
    assert!(files_match(&same));
    let other_hash = check_files(
        &d,
        &[(
            "run42/compare_per_layer_out.txt".into(),
            1234,
            "cd".repeat(32),
        )],
    );
    assert!(check_sentence(&other_hash, 0).contains("(same size, different SHA-256)"));
    assert!(!files_match(&other_hash));
    let other_size = check_files(&d, &[("x/compare_per_layer_out.txt".into(), 99, h)]);
    assert_eq!(
        other_size[0].1,
        FileCheck::Different {
            here_bytes: 99,
            link_bytes: 1234
        }
    );
    let missing = check_files(&d, &[]);
    assert!(check_sentence(&missing, 0).contains("run42/compare_per_layer_out.txt is not loaded"));
    assert!(!files_match(&missing));
}

#[test]
fn two_link_files_of_the_same_name_are_each_checked_against_their_own() {
    // Two runs' `quant.npz`, dropped from a folder of another name: each link file is checked
    // against the loaded file of its own run, and the one that differs is the one named.
    let mut d = decode_digest(PYTHON_V1).unwrap().unwrap();
    let (a, b, c) = ("aa".repeat(32), "bb".repeat(32), "cc".repeat(32));
    d.files = vec![
        DigestFile {
            name: "ort_int8/quant.npz".into(),
            bytes: 10,
            sha256: a.clone(),
            format: String::new(),
        },
        DigestFile {
            name: "ort_int16/quant.npz".into(),
            bytes: 20,
            sha256: b,
            format: String::new(),
        },
    ];
    let loaded = [
        ("x/ort_int16/quant.npz".to_string(), 20, c),
        ("x/ort_int8/quant.npz".to_string(), 10, a),
    ];
    let checks = check_files(&d, &loaded);
    assert_eq!(checks[0], ("ort_int8/quant.npz".into(), FileCheck::Same));
    assert_eq!(
        checks[1].0,
        "ort_int16/quant.npz (loaded as x/ort_int16/quant.npz)"
    );
    assert_eq!(
        check_sentence(&checks, 0),
        "Not the link's files: ort_int16/quant.npz (loaded as x/ort_int16/quant.npz) differs from the link's (same size, different SHA-256). What you see is computed from the files loaded here."
    );
    // One loaded file stands for one link file: the other is not loaded.
    let one = check_files(&d, &loaded[1..]);
    assert_eq!(one[0].1, FileCheck::Same);
    assert_eq!(one[1].1, FileCheck::Missing);
}

#[test]
fn a_run_of_hundreds_of_files_keeps_its_findings_and_says_which_files_it_left_out() {
    // The example's analysis beside 600 more files (a dump folder of one file per tensor): the
    // files' hashes alone are several times the cap. Findings come first; the files cited by
    // them are kept; the hashes are shortened; the rest of the files fill what is left, and the
    // link says how many it left out (a drop checks only the files it names).
    let s = common::session_in("www/examples", EXAMPLE);
    let alone = digest(&s.analysis, &sha_of("www/examples"), 24);
    let mut a = s.analysis.clone();
    let extra = a.files[0].clone();
    for i in 0..600 {
        let mut f = extra.clone();
        f.name = format!("int8 dump (run 2)/act_{i:03}.npy");
        a.files.push(f);
    }
    // The added files' hashes stand in (any 64 digits): they are the files' names hashed.
    let sha = |name: &str| match name.starts_with("int8 dump") {
        true => Some(sha256_hex(name.as_bytes())),
        false => sha_of("www/examples")(name),
    };
    let d = digest(&a, &sha, 24);
    assert!(encode_digest(&d).len() <= DIGEST_CAP_BYTES);
    assert_eq!(
        d.findings.len(),
        alone.findings.len(),
        "the findings all stay"
    );
    assert!(
        d.files_omitted > 0 && d.files.len() > 4,
        "{} files",
        d.files.len()
    );
    assert_eq!(d.files.len() + d.files_omitted, a.files.len());
    // Every file a finding cites is named, with its hash shortened to 16 digits.
    for f in &d.findings {
        assert!(d.files.iter().any(|x| x.name == f.file), "{}", f.file);
    }
    assert!(d.files.iter().all(|f| f.sha256.len() == 16));
    // Dropping the same files: those named match by the short hash; the sentence says how many
    // of the run's files were not checked.
    let loaded: Vec<(String, u64, String)> = a
        .files
        .iter()
        .map(|f| (f.name.clone(), f.size_bytes, sha(&f.name).unwrap()))
        .collect();
    let checks = check_files(&d, &loaded);
    assert!(files_match(&checks), "{checks:?}");
    let n = d.files.len();
    assert_eq!(
        check_sentence(&checks, d.files_omitted),
        format!(
            "These are the link's files: {n} of {n} match (size and SHA-256). The link names {n} of the 604 files it was made from (a link holds no more): the other {} were not checked.",
            d.files_omitted
        )
    );
    // A different file under a named name still differs by its short hash.
    let mut changed = loaded.clone();
    let k = changed
        .iter()
        .position(|(n, _, _)| *n == d.files[0].name)
        .unwrap();
    changed[k].2 = "0".repeat(64);
    assert!(!files_match(&check_files(&d, &changed)));
}
