//! The shapes a shared analysis travels in: a bundle's index (read strictly), a bundled site's page
//! and service worker, and the single-file HTML report (its parts decode back to the inputs, its CSP
//! allows exactly its boot script), plus `quantlens bundle` / `report --html` end to end.

#![allow(clippy::unwrap_used)] // test helpers: a failure is the test failing

use quantlens::engine::bundle::{
    build_files, bundle_page, parse_index, report_html, service_worker_for, AppAssets, BundleFile,
    BundleIndex, REPORT_BOOT_JS, REPORT_DATA_CAP_BYTES,
};
use quantlens::engine::encode::{base64_encode, sha256_hex};

/// Standard base64 decoding, written here independently of the engine (which only encodes it).
fn b64decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::new();
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= u32::from(val(c)) << (18 - 6 * i);
        }
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8][..chunk.len() - 1]);
    }
    out
}

fn file(name: &str, url: &str) -> BundleFile {
    BundleFile {
        name: name.into(),
        url: url.into(),
        bytes: 3,
        sha256: "0".repeat(64),
    }
}

#[test]
fn an_index_round_trips_and_every_url_stays_below_its_folder() {
    let index = BundleIndex::new(vec![file("run 42/a b.txt", "run%2042/a%20b.txt")]);
    let json = serde_json::to_vec(&index).unwrap();
    assert_eq!(parse_index(&json).unwrap(), index);
    for (url, why) in [
        ("../x.txt", "`.` and `..` are not allowed"),
        ("a/../../x.txt", "`.` and `..` are not allowed"),
        (
            "/etc/passwd",
            "only paths below the index's folder are allowed",
        ),
        (
            "http://evil.example/x",
            "only paths below the index's folder are allowed",
        ),
        (
            "javascript:alert(1)",
            "only paths below the index's folder are allowed",
        ),
        (
            "a\\..\\x",
            "only paths below the index's folder are allowed",
        ),
        (
            "x.txt?y=1",
            "control characters, `?` and `#` are not allowed",
        ),
        ("", "an empty URL"),
    ] {
        let bad = serde_json::to_vec(&BundleIndex::new(vec![file("x", url)])).unwrap();
        let err = parse_index(&bad).unwrap_err();
        assert!(err.ends_with(why), "{url}: {err}");
    }
    let newer = br#"{"quantlens_bundle": 2, "files": []}"#;
    assert!(parse_index(newer)
        .unwrap_err()
        .contains("open it with a newer QuantLens"));
    assert!(parse_index(b"<html>")
        .unwrap_err()
        .starts_with("not a QuantLens bundle index"));
    let many: Vec<BundleFile> = (0..10_001)
        .map(|i| file("x", &format!("{i}.txt")))
        .collect();
    let many = serde_json::to_vec(&BundleIndex::new(many)).unwrap();
    assert!(parse_index(&many).unwrap_err().contains("at most 10000"));
}

/// The head of a real `trunk build --release` index.html (trunk 0.21.14), links as it writes them.
const TRUNK_INDEX: &str = r#"<!doctype html>
<html lang="en">
  <head>
    <link rel="stylesheet" href="./styles-1acfd4d214ab537a.css" integrity="sha384-x"/>
<script type="module">
import init, * as bindings from './app-cb410ad261c9166e.js';
</script>
  <link rel="modulepreload" href="./app-cb410ad261c9166e.js" crossorigin="anonymous" integrity="sha384-y"><link rel="modulepreload" href="./snippets/quantlens-a4e8e9215a64525a/inline0.js" crossorigin="anonymous" integrity="sha384-z"><link rel="preload" href="./app-cb410ad261c9166e_bg.wasm" crossorigin="anonymous" integrity="sha384-w" as="fetch" type="application/wasm"></head>
  <body></body>
</html>
"#;

#[test]
fn a_builds_files_are_found_through_its_index_and_a_bundle_page_names_its_index() {
    let files = build_files(TRUNK_INDEX).unwrap();
    assert_eq!(
        files,
        vec![
            ("css", "./styles-1acfd4d214ab537a.css".to_string()),
            ("app-js", "./app-cb410ad261c9166e.js".to_string()),
            (
                "snippet",
                "./snippets/quantlens-a4e8e9215a64525a/inline0.js".to_string()
            ),
            ("app-wasm", "./app-cb410ad261c9166e_bg.wasm".to_string()),
        ]
    );
    assert!(build_files("<html><head></head></html>")
        .unwrap_err()
        .contains("names no app-js file"));
    let page = bundle_page(TRUNK_INDEX, "data/index.json").unwrap();
    assert_eq!(
        page.matches("<meta name=\"quantlens-src\" content=\"data/index.json\" />")
            .count(),
        1
    );
    assert!(page.find("quantlens-src").unwrap() < page.find("</head>").unwrap());
    assert!(bundle_page("<html>", "x").is_err());
}

#[test]
fn a_bundled_sites_service_worker_lists_its_own_index() {
    let sw = "const VERSION = \"53e13f4470c53515\";\nconst FILES = [\n  [\"app.js\", \"aa\"],\n  [\"index.html\", \"old\"],\n];\n";
    let out = service_worker_for(sw, "old", "new").unwrap();
    assert!(out.contains("[\"index.html\", \"new\"]"));
    assert!(out.contains("[\"app.js\", \"aa\"]"));
    assert!(
        !out.contains("53e13f4470c53515"),
        "a new version, so a new cache"
    );
    assert_eq!(service_worker_for(sw, "other", "new"), None);
}

fn assets() -> AppAssets {
    AppAssets {
        app_js:
            "import * as a from \"./snippets/q/inline0.js\"; export default async function init(){}"
                .into(),
        app_wasm: (0..50_000u32).map(|i| (i % 251) as u8).collect(),
        snippets: vec![(
            "./snippets/q/inline0.js".into(),
            "export const x = 1;".into(),
        )],
        worker_js: "let wasm_bindgen;".into(),
        worker_wasm: vec![0, 97, 115, 109, 1, 0, 0, 0],
        css: "body { color: red }".into(),
    }
}

/// (attributes, base64 body) of each inert part of a report.
fn parts(html: &str) -> Vec<(String, String)> {
    html.split("<script type=\"application/x-quantlens\"")
        .skip(1)
        .map(|p| {
            let (attrs, rest) = p.split_once('>').unwrap();
            (
                attrs.to_string(),
                rest.split("</script>").next().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_report_embeds_the_app_and_files_that_decode_back_exactly() {
    let hostile = "run\"/<img src=x onerror=alert(1)>.txt".to_string();
    let data: Vec<u8> = b"Layer,Cosine\n".repeat(1000);
    let html = report_html(
        &assets(),
        &[(hostile.clone(), data.clone())],
        "s=AbC_-",
        "QuantLens report — <run>",
        "1 file",
    )
    .unwrap();
    // The only executable script is the boot script, and the CSP allows exactly it (by hash), no
    // origin at all, and no inline script but it.
    let boot_hash = base64_encode(
        &(0..32)
            .map(|i| {
                u8::from_str_radix(&sha256_hex(REPORT_BOOT_JS.as_bytes())[2 * i..2 * i + 2], 16)
                    .unwrap()
            })
            .collect::<Vec<u8>>(),
    );
    assert!(html.contains(&format!(
        "script-src 'sha256-{boot_hash}' blob: 'wasm-unsafe-eval'"
    )));
    assert!(html.contains("connect-src 'none'") && html.contains("default-src 'none'"));
    assert!(html.contains(&format!(
        "<script type=\"module\">{REPORT_BOOT_JS}</script>"
    )));
    assert_eq!(html.matches("<script type=\"module\">").count(), 1);
    assert!(!html.contains("<img src=x"), "names are escaped");
    assert!(html.contains("<title>QuantLens report — &lt;run&gt;</title>"));
    let ps = parts(&html);
    let file_part = ps
        .iter()
        .find(|(a, _)| a.contains("data-role=\"file\""))
        .unwrap();
    assert!(file_part
        .0
        .contains("data-name=\"run&quot;/&lt;img src=x onerror=alert(1)&gt;.txt\""));
    let inflated = miniz_oxide::inflate::decompress_to_vec(&b64decode(&file_part.1)).unwrap();
    assert_eq!(inflated, data);
    assert!(file_part.1.len() < data.len() / 4, "deflated");
    let wasm = ps
        .iter()
        .find(|(a, _)| a.contains("data-role=\"app-wasm\""))
        .unwrap();
    assert_eq!(
        miniz_oxide::inflate::decompress_to_vec(&b64decode(&wasm.1)).unwrap(),
        assets().app_wasm
    );
    let snip = ps
        .iter()
        .find(|(a, _)| a.contains("data-role=\"snippet\""))
        .unwrap();
    assert!(snip.0.contains("data-path=\"./snippets/q/inline0.js\""));
    assert!(html.contains("id=\"ql-state\">s=AbC_-</script>"));
}

#[test]
fn a_report_refuses_more_data_than_its_cap_and_says_what_to_do() {
    // A claimed size is not enough to refuse: the cap is on the bytes given. Build just over it
    // cheaply with one shared zeroed buffer per file.
    let big = vec![0u8; (REPORT_DATA_CAP_BYTES / 2 + 1) as usize];
    let err = report_html(
        &assets(),
        &[("a".into(), big.clone()), ("b".into(), big)],
        "",
        "t",
        "",
    )
    .unwrap_err();
    assert!(
        err.contains("share a bundled site instead (quantlens bundle)"),
        "{err}"
    );
}

/// A minimal web build: what `load_assets` and `bundle` need, nothing else.
fn fake_app(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("snippets/quantlens-a4e8e9215a64525a")).unwrap();
    std::fs::write(dir.join("index.html"), TRUNK_INDEX).unwrap();
    for f in [
        "styles-1acfd4d214ab537a.css",
        "app-cb410ad261c9166e.js",
        "snippets/quantlens-a4e8e9215a64525a/inline0.js",
        "worker.js",
    ] {
        std::fs::write(dir.join(f), format!("/* {f} */")).unwrap();
    }
    std::fs::write(dir.join("app-cb410ad261c9166e_bg.wasm"), b"\0asm").unwrap();
    std::fs::write(dir.join("worker_bg.wasm"), b"\0asm").unwrap();
}

#[test]
fn the_cli_bundles_a_site_and_writes_a_report() {
    let tmp = std::env::temp_dir().join(format!("quantlens-bundle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let app = tmp.join("app");
    fake_app(&app);
    let site = tmp.join("site");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_quantlens"))
            .args(args)
            .output()
            .unwrap()
    };
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/www/examples");
    let out = run(&[
        "bundle",
        examples,
        "--out",
        site.to_str().unwrap(),
        "--app",
        app.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index = parse_index(&std::fs::read(site.join("data/index.json")).unwrap()).unwrap();
    let names: Vec<&str> = index.files.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.contains(&"examples/model_check_result.txt"),
        "{names:?}"
    );
    assert!(names.contains(&"examples/horizon_quant_analysis/compare_per_layer_out.txt"));
    for f in &index.files {
        let bytes = std::fs::read(site.join("data").join(&f.name)).unwrap();
        assert_eq!(f.bytes, bytes.len() as u64);
        assert_eq!(f.sha256, sha256_hex(&bytes));
    }
    let page = std::fs::read_to_string(site.join("index.html")).unwrap();
    assert!(page.contains("<meta name=\"quantlens-src\" content=\"data/index.json\" />"));
    // Bundling again over an earlier bundle replaces it; over any other folder it refuses.
    let again = run(&[
        "bundle",
        examples,
        "--out",
        site.to_str().unwrap(),
        "--app",
        app.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    let other = run(&[
        "bundle",
        examples,
        "--out",
        app.to_str().unwrap(),
        "--app",
        app.to_str().unwrap(),
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("is not an earlier bundle"));
    // No web build: the message says how to get one.
    let none = run(&[
        "bundle",
        examples,
        "--out",
        tmp.join("x").to_str().unwrap(),
        "--app",
        tmp.join("nowhere").to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("trunk build --release --offline"));

    let html = tmp.join("r.html");
    let out = run(&[
        "report",
        examples,
        "--html",
        html.to_str().unwrap(),
        "--app",
        app.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        parts(&text)
            .iter()
            .filter(|(a, _)| a.contains("data-role=\"file\""))
            .count(),
        4
    );
    assert!(text.contains("data-name=\"examples/model_check_result.txt\""));
    let _ = std::fs::remove_dir_all(&tmp);
}
