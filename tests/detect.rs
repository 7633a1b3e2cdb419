//! Formats are told by content: every fixture is detected the same under its own name and as
//! "unknown" (speedscope's `checkProfileSnapshot` check), and the one registry of magic bytes
//! (`detect::container`) routes every binary fixture.

mod common;

use quantlens::engine::detect::{container, detect, Detection, SNIFF_BYTES};
use quantlens::engine::textenc::decode_head;
use std::path::Path;

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_is_detected_by_content_not_by_name() {
    let mut all = Vec::new();
    files(&common::path("tests/fixtures"), &mut all);
    files(&common::path("www/examples"), &mut all);
    let mut supported = 0;
    for p in &all {
        let bytes = std::fs::read(p).expect("read");
        let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
        let (_, text) = decode_head(head);
        let name = p.to_string_lossy();
        let named = detect(&name, &text, bytes.len() as u64);
        let unknown = detect("unknown", &text, bytes.len() as u64);
        match (&named, &unknown) {
            (Detection::Supported(a), Detection::Supported(b)) => {
                assert_eq!(a, b, "{name}");
                supported += 1;
            }
            (Detection::Rejected(_), Detection::Rejected(_)) => {}
            _ => panic!("{name}: {named:?} by name, {unknown:?} by content"),
        }
        // A binary container is routed by its bytes alone.
        if let Some(c) = container(head, bytes.len() as u64) {
            assert!(
                matches!(named, Detection::Supported(_))
                    || matches!(
                        c,
                        quantlens::engine::detect::Container::Pickle
                            | quantlens::engine::detect::Container::Png
                            | quantlens::engine::detect::Container::Jpeg
                    ),
                "{name}: container {c:?} but {named:?}"
            );
        }
    }
    assert!(supported > 40, "{supported} fixtures detected");
}
