//! The engine's layers, enforced: every `super::x` / `crate::engine::x` path in a module must name a
//! module of its own layer or a lower one, the engine names no web crate, and the UI reaches the
//! engine only through the modules listed for it. Each rule says why (in the spirit of Perfetto's
//! `tools/check_imports`: "without enforcement, exceptions to this rule quickly slip in").

use std::collections::BTreeMap;
use std::path::Path;

/// Engine modules by layer, lowest first. A module may use its own layer and the ones below.
const LAYERS: &[(&str, &[&str], &str)] = &[
    (
        "vocabulary",
        &["findings", "num", "intent", "side", "cause", "error"],
        "the words every layer shares (findings, severities, row causes, intent, sides, non-finite numbers): they depend on nothing, so anything can use them",
    ),
    (
        "text+numeric",
        &["cells", "table", "textenc", "doc", "math", "metrics", "quant", "encode"],
        "table readers, cell decoders, text encodings; metric kernels, fake quantization, observers: reusable by every importer and analysis, knowing nothing of files or findings",
    ),
    (
        "formats",
        &[
            "detect", "model_check", "compare", "sensitivity", "tabdoc", "tensor", "scales", "onnx_graph", "sweep",
            "document", "preprocess", "journal",
        ],
        "the importers: the only code that looks at a file's bytes; parsers never diagnose, so they may not reach the analysis",
    ),
    (
        "analysis",
        &[
            "diagnose_check", "diagnose_report", "triage", "pairs", "whatif", "recommend", "model",
            "rundiff", "nextstep",
        ],
        "pure functions of documents and intent; never the session, so the CLI, the worker and the tests call the same code",
    ),
    (
        "session",
        &["session"],
        "the documents, the byte sources and recompute: everything below, nothing above",
    ),
    (
        "view",
        &["views", "share", "bundle", "digest", "export", "journal_view"],
        "what the UI draws, already computed, and the view a link carries in its fragment",
    ),
];

/// What the UI thread may name of the engine: the view model (`views`, which also re-exports the
/// types the UI draws) and the vocabulary. Parsers, analyses and the session are the worker's: the UI
/// renders what the protocol brings.
const UI_MAY_USE: &[&str] = &[
    "views", "share", "bundle", "digest", "export", "findings", "num", "intent", "side", "cause",
    "error",
];

fn layer_of(m: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms, _)| ms.contains(&m))
}

/// Engine module names a source file refers to (`super::x`, `crate::engine::x`), outside comments.
fn references(text: &str, via_super: bool) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for pat in ["crate::engine::", "quantlens::engine::"]
            .iter()
            .chain(if via_super { &["super::"][..] } else { &[][..] })
        {
            let mut rest = code;
            while let Some(i) = rest.find(pat) {
                rest = &rest[i + pat.len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // `super::{a, b}` lists.
                if name.is_empty() && rest.starts_with('{') {
                    let inner = rest[1..].split('}').next().unwrap_or("");
                    for part in inner.split(',') {
                        let n: String = part
                            .trim()
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        if !n.is_empty() {
                            out.push(n);
                        }
                    }
                } else if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

fn rs_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_engine_module_uses_only_its_layer_and_the_ones_below() {
    let mut files = Vec::new();
    rs_files(Path::new("src/engine"), &mut files);
    let mut broken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix("src/engine").expect("under src/engine");
        let first = rel.components().next().expect("component");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "mod" {
            continue;
        }
        let Some(own) = layer_of(&module) else {
            panic!("src/engine/{module}: not in any layer of tests/layering.rs — add it where it belongs");
        };
        let text = std::fs::read_to_string(f).expect("read");
        // Inside `tensor/`, `super::` is the tensor module itself.
        let in_sub = rel.components().count() > 1;
        for r in references(&text, !in_sub) {
            if r == module || r == "self" || r == "super" || r == "tests" {
                continue;
            }
            // A name that is not an engine module (`super::Accumulator` in a test module).
            let Some(l) = layer_of(&r) else { continue };
            if l > own {
                broken
                    .entry(format!("{module} ({})", LAYERS[own].0))
                    .or_default()
                    .push(format!("{r} ({}): {}", LAYERS[l].0, LAYERS[own].2));
            }
        }
    }
    assert!(broken.is_empty(), "layer rules broken:\n{broken:#?}");
}

#[test]
fn the_engine_names_no_web_crate() {
    // The engine is tested natively and runs in the CLI: a web crate in it would break both.
    let mut files = Vec::new();
    rs_files(Path::new("src/engine"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for w in [
            "yew",
            "web_sys",
            "js_sys",
            "wasm_bindgen",
            "gloo",
            "serde_wasm_bindgen",
        ] {
            assert!(
                !text
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or(""))
                    .any(|l| l.contains(&format!("{w}::")) || l.contains(&format!("use {w}"))),
                "{}: names {w}",
                f.display()
            );
        }
    }
}

#[test]
fn the_ui_thread_reaches_the_engine_only_through_its_allowed_modules() {
    // The worker owns the session and sends diagnosed results: the UI renders, it does not parse.
    let mut files = Vec::new();
    rs_files(Path::new("src/ui"), &mut files);
    assert!(!files.is_empty());
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        // Capitalised names are the engine root's re-exports of vocabulary (`engine::Severity`).
        for r in references(&text, false)
            .into_iter()
            .filter(|r| !r.starts_with(char::is_uppercase))
        {
            assert!(
                UI_MAY_USE.contains(&r.as_str()),
                "{}: the UI names engine::{r}; the UI may name only the view model and the vocabulary ({UI_MAY_USE:?}): add what it draws to engine::views",
                f.display()
            );
        }
    }
}

#[test]
fn the_rules_catch_a_violation() {
    // A parser that diagnoses (the old compare.rs → diagnose_report) must be caught.
    let refs = references("let d = super::diagnose_report::diagnose_row(r);", true);
    assert_eq!(refs, vec!["diagnose_report"]);
    assert!(layer_of("diagnose_report") > layer_of("compare"));
    assert_eq!(
        references("use super::{cells, table::Row};", true),
        vec!["cells", "table"]
    );
}
