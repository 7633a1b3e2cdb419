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
