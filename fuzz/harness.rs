//! What every fuzz target does with its input, shared by the fuzzers (`fuzz/fuzz_targets/*.rs`)
//! and the corpus replay in the normal test suite (`tests/fuzz_corpus.rs`): each function hands
//! arbitrary bytes to one decoder the way the app and the CLI do, then does the work that follows
//! a successful parse (diagnosis, reading a bounded number of elements), so a crash anywhere on a
//! file's path shows up. None may panic, hang or allocate in proportion to a size the input claims.
#![allow(dead_code)]

use quantlens::engine::session::{read_source, Analysis, Document, FileReport, Session};
use quantlens::engine::tensor::{self, ElemReader};
use quantlens::engine::{
    compare, digest, journal, model_check, onnx_graph, scales, sensitivity, share, sweep, tabdoc,
};

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// The targets, by name (the folder of each corpus under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("report_model_check", report_model_check),
    ("report_compare_txt", report_compare_txt),
    ("report_compare_csv", report_compare_csv),
    ("report_sensitivity", report_sensitivity),
    ("report_tabdoc", report_tabdoc),
    ("report_detect", report_detect),
    ("tensor_npy", tensor_npy),
    ("tensor_npz", tensor_npz),
    ("tensor_safetensors", tensor_safetensors),
    ("tensor_torch", tensor_torch),
    ("onnx_scales", onnx_scales),
    ("scales_json", scales_json),
    ("sweep_json", sweep_json),
    ("journal", journal_file),
    ("share_link", share_link),
    ("digest_link", digest_link),
    #[cfg(feature = "model")]
    ("onnx_model", onnx_model),
];

fn report(name: &str, doc: Document) -> FileReport {
    FileReport {
        name: name.to_string(),
        size_bytes: 0,
        format: None,
        format_label: None,
        error: None,
        document: Some(doc),
        notes: Vec::new(),
    }
}

/// Diagnose a parsed document (the rules run on whatever the parser let through).
fn diagnose(name: &str, doc: Document) {
    let mut a = Analysis::default();
    a.add_file(report(name, doc));
    a.recompute();
    let _ = a.evidence_index();
    let _ = a.display_names();
}

/// The path of a dropped report: encoding, detection, parser, diagnosis.
fn through_session(name: &str, data: &[u8]) {
    let _ = quantlens::engine::analyze_source(name, data.len() as u64, data);
}

pub fn report_model_check(data: &[u8]) {
    if let Ok(mc) = model_check::parse_reader(data) {
        diagnose("model_check_result.txt", Document::ModelCheck(mc));
    }
    through_session("model_check_result.txt", data);
}

pub fn report_compare_txt(data: &[u8]) {
    if let Ok(t) = compare::parse_txt(data) {
        diagnose("layerwise_compare.txt", Document::Compare(t));
    }
    through_session("layerwise_compare.txt", data);
}

pub fn report_compare_csv(data: &[u8]) {
    if let Ok(t) = compare::parse_csv(data) {
        diagnose("layerwise_compare.csv", Document::Compare(t));
    }
    through_session("layerwise_compare.csv", data);
}

pub fn report_sensitivity(data: &[u8]) {
    if let Ok(t) = sensitivity::parse(data, "output_0_L1_sensitive_ops.txt") {
        diagnose("output_0_L1_sensitive_ops.txt", Document::Sensitivity(t));
    }
    through_session("output_0_L1_sensitive_ops.txt", data);
}

pub fn report_tabdoc(data: &[u8]) {
    if let Ok((tables, _)) = tabdoc::parse_tables(data) {
        diagnose("advisor.txt", Document::Tables { tables });
    }
    through_session("advisor.txt", data);
}

/// Any bytes under any name: detection by content (text, UTF-16, binary containers).
pub fn report_detect(data: &[u8]) {
    const NAMES: &[&str] = &[
        "report.txt",
        "run/model_check_result.txt",
        "x.csv",
        "dump.npy",
        "scales.json",
        "model.onnx",
    ];
    let name = NAMES[data.first().map_or(0, |b| *b as usize) % NAMES.len()];
    let _ = read_source(name, data.len() as u64, data);
    through_session(name, data);
}

/// A tensor file as the app opens it: listed, then the same bytes as both sides of a pair,
/// compared (every element read through the streaming readers).
fn tensors(name: &str, data: &[u8]) {
    let mut src: &[u8] = data;
    if let Ok((entries, _)) = tensor::list_tensors_with_notes(name, &mut src) {
        let mut out = Vec::new();
        for e in entries.iter().take(16) {
            let mut r = ElemReader::new(&mut src, e);
            let mut budget = 1usize << 16;
            while budget > 0 {
                match r.next_chunk(&mut out, 4096) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => budget = budget.saturating_sub(n),
                }
            }
        }
    }
    let mut s = Session::new();
    s.open(&format!("float/{name}"), Box::new(data.to_vec()));
    s.open(&format!("quant/{name}"), Box::new(data.to_vec()));
    s.update(&mut |_, _, _| {});
}

pub fn tensor_npy(data: &[u8]) {
    tensors("x.npy", data);
}

pub fn tensor_npz(data: &[u8]) {
    tensors("x.npz", data);
}

pub fn tensor_safetensors(data: &[u8]) {
    tensors("x.safetensors", data);
}

/// A `torch.save` archive: a zip as given, or else the input as the pickle (`data.pkl`) of a
/// stored zip with one storage beside it, so the fuzzer works on the pickle VM directly.
pub fn tensor_torch(data: &[u8]) {
    if data.starts_with(b"PK") {
        tensors("x.pt", data);
        return;
    }
    let storage: Vec<u8> = (0u8..64).collect();
    let files = vec![
        ("archive/data.pkl".to_string(), data.to_vec()),
        ("archive/data/0".to_string(), storage),
        ("archive/byteorder".to_string(), b"little".to_vec()),
    ];
    if let Ok(zip) = quantlens::engine::encode::zip_stored(&files) {
        tensors("x.pt", &zip);
    }
}

pub fn onnx_scales(data: &[u8]) {
    let mut src: &[u8] = data;
    let _ = scales::read_onnx_scales(&mut src);
    // The model runner's structural check walks the same protobuf (without tract: fast to fuzz).
    let _ = onnx_graph::check_for_tract(data);
    let mut s = Session::new();
    s.open("model_qdq.onnx", Box::new(data.to_vec()));
    s.update(&mut |_, _, _| {});
}

pub fn scales_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(set) = scales::read_scales_json(text) {
            let _ = set.as_map();
            diagnose("scales.json", Document::Scales(set));
        }
    }
    through_session("scales.json", data);
}

pub fn sweep_json(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((sweep, _)) = sweep::parse(text) {
            let doc = sweep.doc_table();
            diagnose(
                "simulated_mixed_precision.json",
                Document::Sweep { sweep, doc },
            );
        }
    }
    through_session("simulated_mixed_precision.json", data);
}

pub fn journal_file(data: &[u8]) {
    use quantlens::engine::journal_view;
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((j, _)) = journal::parse(text) {
            let _ = j.to_json();
            // What the worker does with a dropped journal: merged into the one it keeps (twice:
            // a journal dropped again), then drawn, two of its runs compared, and as a link.
            let mut kept = journal::Journal::default();
            let _ = kept.merge(j.clone()).sentence();
            let _ = kept.merge(j.clone()).sentence();
            let _ = journal_view::journal_view(&kept, None, Vec::new(), None);
            if let (Some(a), Some(b)) = (kept.runs.first(), kept.runs.last()) {
                let (a, b) = (a.id.clone(), b.id.clone());
                let _ = journal_view::compare_view(&kept, &a, &b, None);
            }
            if let Ok(link) = journal_view::journal_link(&kept.without_summaries()) {
                let _ = journal_view::decode_journal_link(&link);
            }
            diagnose("quantlens-journal.json", Document::Journal { journal: j });
        }
        // The run form's metric definitions are typed text.
        if let Ok(defs) = journal::parse_metric_defs(text) {
            let _ = journal::metric_defs_text(&defs);
        }
    }
    through_session("quantlens-journal.json", data);
}

/// A view link's fragment, as text (what a pasted URL carries) and as a packed payload (so the
/// fuzzer reaches the JSON behind the base64url and deflate layers).
pub fn share_link(data: &[u8]) {
    // What the app does with a link's state: its file and pair found among the loaded names,
    // the state written again; a refusal's sentence.
    let open = |frag: &str| match share::decode(frag) {
        Ok(Some(state)) => {
            let _ = share::encode(&state);
            const NAMES: &[&str] = &["a/compare.txt", "b/compare.txt", "x.npz", "Add@0"];
            let _ = share::resolve_file(state.file.as_deref().unwrap_or(""), NAMES.iter().copied());
            let _ = state.pairs.resolve(NAMES.iter().copied());
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    };
    if let Ok(text) = std::str::from_utf8(data) {
        open(text);
    }
    let packed = miniz_oxide::deflate::compress_to_vec(data, 1);
    open(&format!(
        "s={}",
        quantlens::engine::encode::base64url_encode(&packed)
    ));
}

pub fn digest_link(data: &[u8]) {
    let check = |frag: &str| {
        if let Ok(Some(d)) = digest::decode_digest(frag) {
            let _ = digest::encode_digest(&d);
            let checks = digest::check_files(&d, &[("a.txt".into(), 3, "00".into())]);
            let _ = digest::files_match(&checks);
            let _ = digest::check_sentence(&checks, d.files_omitted);
        } else if let Err(e) = digest::decode_digest(frag) {
            let _ = digest::describe_error(&e);
        }
    };
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    let packed = miniz_oxide::deflate::compress_to_vec(data, 1);
    check(&format!(
        "d={}",
        quantlens::engine::encode::base64url_encode(&packed)
    ));
}

/// The ONNX loader (tract, feature `model`): the declared inputs, then a load with those shapes
/// (symbolic dimensions as 1), as the model runner does before it runs anything.
#[cfg(feature = "model")]
pub fn onnx_model(data: &[u8]) {
    use quantlens::engine::model::{declared_inputs, Model};
    if let Ok(inputs) = declared_inputs(data) {
        let shapes: Vec<Vec<usize>> = inputs
            .iter()
            .map(|(_, shape)| shape.iter().map(|d| d.unwrap_or(1).min(64)).collect())
            .collect();
        let _ = Model::load(data, &shapes);
    }
}
