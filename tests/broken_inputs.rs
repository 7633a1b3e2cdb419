//! The broken-input corpus (tests/fixtures/broken/, written by scripts/gen_broken_fixtures.py):
//! every file, opened the way the app and the CLI open a dropped file (`Session::open`, then
//! `update`), gets exactly the message in tests/fixtures/broken/messages.tsv, the one table of
//! file → message (RELIABILITY.md shows the same table; a test keeps them equal). Opened together
//! with good files, the broken ones leave the good ones loaded and diagnosed as before.
//!
//! After a deliberate change of wording: `QUANTLENS_BLESS=1 cargo test --test broken_inputs`
//! rewrites messages.tsv (then copy the table into RELIABILITY.md).

use quantlens::engine::session::Session;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir())
        .expect("tests/fixtures/broken")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n != "messages.tsv"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("read"))
        })
        .collect();
    files.sort();
    files
}

/// What the user is told about one file opened alone: each report the file became (a zip becomes
/// one per member) with its error, or its format and notes, and the findings about it.
fn outcome(name: &str, bytes: Vec<u8>) -> String {
    let bytes_again = bytes.clone();
    let mut s = Session::new();
    s.open(name, Box::new(bytes));
    s.update(&mut |_, _, _| {});
    let a = &s.analysis;
    let mut parts = Vec::new();
    for (i, f) in a.files.iter().enumerate() {
        let mut p = match &f.error {
            Some(e) => format!("refused: {e}"),
            None => format!(
                "read as {}",
                f.format_label.as_deref().unwrap_or("(no format)")
            ),
        };
        if a.files.len() > 1 {
            p = format!("{}: {p}", f.name);
        }
        for n in &f.notes {
            p.push_str(&format!(" · note: {}", n.text));
        }
        let kinds: Vec<&str> = a
            .findings
            .iter()
            .filter(|x| x.file == i)
            .map(|x| x.finding.kind.as_str())
            .collect();
        if !kinds.is_empty() {
            p.push_str(&format!(" · findings: {}", kinds.join(", ")));
        }
        parts.push(p);
    }
    // A tensor dump read: its tensors compared with themselves (the file as both sides), so what
    // its data holds (truncated, lying sizes, NaN) shows too.
    let is_dump = a.files.len() == 1
        && matches!(
            a.files[0].document,
            Some(quantlens::engine::session::Document::Tensors { .. })
        );
    if is_dump {
        parts.push(self_compared(name, a.files[0].size_bytes, bytes_again));
    }
    // One line per file in the table.
    parts.join(" | ").replace(['\n', '\t'], " ")
}

/// The dump as both sides of a comparison: each pair's error, or its non-finite counts.
fn self_compared(name: &str, _size: u64, bytes: Vec<u8>) -> String {
    let mut s = Session::new();
    s.open(&format!("float/{name}"), Box::new(bytes.clone()));
    s.open(&format!("quant/{name}"), Box::new(bytes));
    s.update(&mut |_, _, _| {});
    let pairs: Vec<String> = s
        .analysis
        .tensors
        .pairs
        .iter()
        .map(|p| match (&p.error, &p.metrics) {
            (Some(e), _) => format!("{}: {e}", p.name),
            (None, Some(m)) if m.nonfinite_base > 0 => format!(
                "{}: compared, {} of {} values not finite",
                p.name, m.nonfinite_base, m.numel
            ),
            (None, Some(m)) => format!("{}: compared, {} values", p.name, m.numel),
            (None, None) => format!("{}: not compared", p.name),
        })
        .collect();
    let kinds: Vec<&str> = s
        .analysis
        .findings
        .iter()
        .map(|f| f.finding.kind.as_str())
        .collect();
    let mut out = format!("against itself: {}", pairs.join("; "));
    if !kinds.is_empty() {
        out.push_str(&format!(" · findings: {}", kinds.join(", ")));
    }
    out
}

fn table() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(dir().join("messages.tsv")).expect("messages.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (f, m) = l.split_once('\t').expect("file<TAB>message");
            (f.to_string(), m.to_string())
        })
        .collect()
}

#[test]
fn every_broken_file_gets_its_exact_message() {
    let got: Vec<(String, String)> = corpus()
        .into_iter()
        .map(|(name, bytes)| {
            let m = outcome(&name, bytes);
            (name, m)
        })
        .collect();
    if std::env::var_os("QUANTLENS_BLESS").is_some() {
        let mut out = String::from(
            "# file\tmessage (tests/broken_inputs.rs; QUANTLENS_BLESS=1 rewrites this table)\n",
        );
        for (f, m) in &got {
            out.push_str(&format!("{f}\t{m}\n"));
        }
        std::fs::write(dir().join("messages.tsv"), out).expect("write");
        return;
    }
    let want = table();
    let names = |v: &[(String, String)]| v.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "the corpus and messages.tsv list different files"
    );
    for ((f, g), (_, w)) in got.iter().zip(&want) {
        assert_eq!(g, w, "{f}: the message changed");
    }
}

#[test]
fn reliability_md_shows_the_same_table() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("RELIABILITY.md"))
        .expect("RELIABILITY.md");
    for (f, m) in table() {
        let row = format!("| `{f}` | {} |", m.replace('|', "\\|"));
        assert!(
            doc.contains(&row),
            "RELIABILITY.md lacks the row for {f}:\n{row}"
        );
    }
}

#[test]
fn broken_files_leave_the_good_ones_loaded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let good = [
        "www/examples/model_check_result.txt",
        "www/examples/horizon_quant_analysis/compare_per_layer_out.txt",
        "www/examples/horizon_quant_analysis/output_0_L1_sensitive_ops.txt",
        "tests/fixtures/tensors/int8_float.npy",
        "tests/fixtures/tensors/int8_quant.npy",
    ];
    let open_good = |s: &mut Session| {
        for g in good {
            s.open(
                g,
                Box::new(std::fs::read(root.join(g)).expect("good fixture")),
            );
        }
    };
    let mut alone = Session::new();
    open_good(&mut alone);
    alone.update(&mut |_, _, _| {});
    // Every broken file, except the dumps that read (NaN values, a lying bomb): those are
    // tensor files like any other and take part in pairing (where sides are asked for).
    let mut mixed = Session::new();
    let mut opened = 0;
    for (name, bytes) in corpus() {
        let mut one = Session::new();
        one.open(&name, Box::new(bytes.clone()));
        let reads_as_dump = one.analysis.files.iter().any(|f| {
            matches!(
                f.document,
                Some(quantlens::engine::session::Document::Tensors { .. })
            )
        });
        if !reads_as_dump {
            mixed.open(&format!("broken/{name}"), Box::new(bytes));
            opened += 1;
        }
    }
    assert!(
        opened >= 40,
        "{opened} broken files opened beside the good ones"
    );
    open_good(&mut mixed);
    mixed.update(&mut |_, _, _| {});
    for g in good {
        let a = alone
            .analysis
            .files
            .iter()
            .find(|f| f.name == g)
            .expect("alone");
        let m = mixed
            .analysis
            .files
            .iter()
            .find(|f| f.name == g)
            .expect("mixed");
        assert!(
            m.error.is_none() && m.document.is_some(),
            "{g} not loaded beside the broken files"
        );
        assert_eq!(
            a.document, m.document,
            "{g} read differently beside the broken files"
        );
    }
    let kinds = |s: &Session, good_only: bool| {
        let mut k: Vec<String> = s
            .analysis
            .findings
            .iter()
            .filter(|f| !good_only || good.contains(&s.analysis.files[f.file].name.as_str()))
            .map(|f| f.finding.kind.clone())
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        kinds(&alone, true),
        kinds(&mixed, true),
        "the good files' findings changed"
    );
    assert_eq!(
        alone.analysis.tensors.pairs.len(),
        1,
        "the good float/quant npy pair"
    );
    assert!(
        mixed
            .analysis
            .tensors
            .pairs
            .iter()
            .any(|p| p.name == alone.analysis.tensors.pairs[0].name
                && p.error == alone.analysis.tensors.pairs[0].error),
        "the good pair is still compared"
    );
}
