//! A zip of files (a report folder zipped, as Finder or `zip -r` write it) opens as the folder would;
//! a zip inside a zip, an empty zip and a zip bomb are refused with a message, and nothing else breaks.
//! Fixtures: `scripts/gen_zip_fixtures.py`.

mod common;

use quantlens::engine::detect::Format;

fn names(s: &quantlens::engine::session::Session) -> Vec<(String, Option<String>)> {
    s.analysis
        .files
        .iter()
        .map(|f| (f.name.clone(), f.error.clone()))
        .collect()
}

#[test]
fn a_zipped_report_folder_opens_as_the_folder_would() {
    let s = common::session_in("tests/fixtures/zip", &["reports.zip"]);
    let got = names(&s);
    assert_eq!(
        got,
        vec![
            ("run42/model_check_result.txt".to_string(), None),
            (
                "run42/horizon_quant_analysis/abnormal_layer_advisor.txt".to_string(),
                None
            ),
            ("run42/scales.json".to_string(), None),
        ],
        "folders and __MACOSX metadata are left out"
    );
    // The same findings as the unzipped files give.
    let unzipped = common::session_in(
        "www/examples",
        &[
            "model_check_result.txt",
            "horizon_quant_analysis/abnormal_layer_advisor.txt",
        ],
    );
    let kinds = |s: &quantlens::engine::session::Session| {
        let mut k: Vec<String> = s
            .analysis
            .findings
            .iter()
            .map(|f| f.finding.kind.clone())
            .collect();
        k.sort();
        k
    };
    assert_eq!(kinds(&s), kinds(&unzipped));
    assert_eq!(s.analysis.files[2].format, Some(Format::ScalesJson));
}

#[test]
fn a_zip_without_a_folder_names_its_files_after_the_zip() {
    let s = common::session_in("tests/fixtures/zip", &["flat.zip"]);
    assert_eq!(
        names(&s),
        vec![("flat/model_check_result.txt".to_string(), None)]
    );
}

#[test]
fn nested_empty_and_bomb_zips_say_why_and_the_rest_stays() {
    let s = common::session_in(
        "tests/fixtures/zip",
        &["nested.zip", "empty.zip", "bomb.zip", "flat.zip"],
    );
    let got = names(&s);
    let err = |name: &str| {
        got.iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, e)| e.clone())
            .unwrap_or_else(|| panic!("{name} in {got:?}"))
    };
    assert_eq!(
        err("nested/inner.zip"),
        "a zip inside a zip: extract the outer one and drop the folder"
    );
    assert_eq!(err("empty.zip"), "a zip with no files in it");
    assert!(
        err("bomb/model_check_result.txt")
            .contains("inflates past the 1000 bytes the directory claims"),
        "{got:?}"
    );
    assert!(got.contains(&("flat/model_check_result.txt".to_string(), None)));
}

/// The zip QuantLens writes (a run's reports, downloaded from the page) reads back member by
/// member, names in UTF-8 included, and Python's `zipfile` reads it too.
#[test]
fn the_zip_quantlens_writes_reads_back() {
    use quantlens::engine::encode::zip_stored;
    use quantlens::engine::tensor::npz::{central_directory, read_member};
    let files = vec![
        (
            "ppocr_cls_int8_run/compare_per_layer_out.txt".to_string(),
            b"+--+\n".to_vec(),
        ),
        (
            "ppocr_cls_int8_run/b \u{e9}.json".to_string(),
            b"{}".to_vec(),
        ),
        ("ppocr_cls_int8_run/empty.txt".to_string(), Vec::new()),
    ];
    let mut zip = zip_stored(&files).expect("zip");
    let members = central_directory(&mut zip).expect("directory");
    assert_eq!(members.len(), 3);
    for (m, (name, data)) in members.iter().zip(&files) {
        assert_eq!(&m.name, name);
        assert_eq!(&read_member(&mut zip, m, 1 << 20).expect("member"), data);
    }
    let path = std::env::temp_dir().join(format!("quantlens-zip-{}.zip", std::process::id()));
    std::fs::write(&path, &zip).expect("write");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print('|'.join(f'{i.filename}={len(z.read(i))}' for i in z.infolist()))",
            path.to_str().unwrap(),
        ])
        .output()
        .expect("python3");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ppocr_cls_int8_run/compare_per_layer_out.txt=5|ppocr_cls_int8_run/b \u{e9}.json=2|ppocr_cls_int8_run/empty.txt=0"
    );
}
