//! `quantlens report`: QuantAnalysis reports, model checks and tensor files read into one engine
//! session, diagnosed together and triaged.

use crate::out::{fail, note_text, print_findings, print_json};
use quantlens::engine::detect::{self, Detection};
use quantlens::engine::findings::FindingJson;
use quantlens::engine::session::{is_tensor_file, Analysis, Intent, Session};
use quantlens::engine::tensor::{ByteSource, FileSource};
use quantlens::engine::{textenc, Finding};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Serialize)]
struct TableCount {
    id: String,
    title: String,
    rows: usize,
}

#[derive(Serialize)]
struct FileJson {
    name: String,
    format: Option<String>,
    error: Option<String>,
    rows: usize,
    tables: Vec<TableCount>,
}

/// A finding of `report --json`: the documented keys, plus its place in the triage and why.
#[derive(Serialize)]
struct RankedFindingJson {
    #[serde(flatten)]
    finding: FindingJson,
    /// 1 = matters most (the Overview's order).
    rank: usize,
    rank_reason: String,
    /// The file the finding was made from.
    file: String,
}

#[derive(Serialize)]
struct ReportJson {
    intent: Intent,
    files: Vec<FileJson>,
    findings: Vec<RankedFindingJson>,
}

/// Whether a file found inside a folder is worth opening: a report the detector accepts, or a
/// tensor file (pickles, html and the like are skipped quietly).
pub(crate) fn wanted(path: &Path, src: &mut FileSource) -> bool {
    let n = src.size().min(detect::SNIFF_BYTES as u64) as usize;
    let mut head = vec![0u8; n];
    if src.read_at(0, &mut head).is_err() {
        return false;
    }
    let (_, text_head) = textenc::decode_head(&head);
    !matches!(
        detect::detect(&path.display().to_string(), &text_head, src.size()),
        Detection::Rejected(_)
    ) || is_tensor_file(&head, src.size())
}

/// Read files and folders into one session, diagnosed (per-file errors on stderr). `Err` when
/// nothing could be read, with the exit code already decided.
pub(crate) fn load(paths: &[PathBuf], intent: Intent) -> Result<Analysis, ExitCode> {
    let mut files = Vec::new();
    for p in paths {
        if let Err(e) = crate::collect(p, &mut files) {
            return Err(fail(e));
        }
    }
    let from_dir = paths.iter().any(|p| p.is_dir());
    let mut session = Session::new();
    session.analysis.intent = intent;
    for path in &files {
        let mut src = match FileSource::open(path) {
            Ok(s) => s,
            Err(e) => return Err(fail(format_args!("cannot open {}: {e}", path.display()))),
        };
        if from_dir && !paths.contains(path) && !wanted(path, &mut src) {
            continue;
        }
        session.open(&path.display().to_string(), Box::new(src));
    }
    session.update(&mut |_, _, _| {});
    let analysis = session.analysis;
    let read = analysis.files.iter().filter(|f| f.error.is_none()).count();
    for f in analysis.files.iter().filter(|f| f.error.is_some()) {
        eprintln!(
            "quantlens: {}: {}",
            f.name,
            f.error.as_deref().unwrap_or("")
        );
    }
    if read == 0 {
        return Err(fail("no readable report among the given paths"));
    }
    Ok(analysis)
}

pub fn run(paths: &[PathBuf], expect: Option<&str>, json: bool) -> ExitCode {
    let analysis = match load(paths, expect.and_then(Intent::parse).unwrap_or_default()) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if json {
        if let Err(code) = print_json(&report_json(&analysis)) {
            return code;
        }
        return ExitCode::SUCCESS;
    }
    use quantlens::engine::document::Document;
    use quantlens::engine::side::Side;
    for f in analysis.files.iter().filter(|f| f.error.is_none()) {
        let what = match &f.document {
            Some(Document::Tensors { entries, side }) => format!(
                "{} tensors, {}",
                entries.len(),
                match side {
                    Some(Side::Float) => "float side",
                    Some(Side::Quant) => "quantized side",
                    None => "side not known",
                }
            ),
            _ => format!("{} rows", f.row_count()),
        };
        println!(
            "{} — {} ({what})",
            f.name,
            f.format_label.as_deref().unwrap_or("?")
        );
    }
    let t = &analysis.tensors;
    if !t.pairs.is_empty() || !t.unpaired_float.is_empty() || !t.unpaired_quant.is_empty() {
        let scaled = t.pairs.iter().filter(|p| p.scale.is_some()).count();
        println!(
            "tensor pairs: {} ({scaled} with a scale); unpaired: {} float, {} quantized (`quantlens compare --json` lists them)",
            t.pairs.len(),
            t.unpaired_float.len(),
            t.unpaired_quant.len()
        );
    }
    let unsided = analysis
        .files
        .iter()
        .any(|f| matches!(&f.document, Some(Document::Tensors { side: None, .. })));
    if unsided {
        println!("the sides of some tensor files are not known from their paths: `quantlens compare FLOAT QUANT` names them");
    }
    println!();
    let findings: Vec<Finding> = analysis
        .findings
        .iter()
        .map(|f| f.finding.clone())
        .collect();
    print_findings(&findings);
    for f in &analysis.files {
        for n in &f.notes {
            println!("note: {}: {}", f.name, note_text(n));
        }
    }
    ExitCode::SUCCESS
}

fn report_json(analysis: &Analysis) -> ReportJson {
    ReportJson {
        intent: analysis.intent,
        files: analysis
            .files
            .iter()
            .map(|f| FileJson {
                name: f.name.clone(),
                format: f.format_label.clone(),
                error: f.error.clone(),
                rows: f.row_count(),
                tables: f
                    .tables()
                    .iter()
                    .map(|t| TableCount {
                        id: t.id.clone(),
                        title: t.title.clone(),
                        rows: t.rows.len(),
                    })
                    .collect(),
            })
            .collect(),
        findings: analysis
            .findings
            .iter()
            .enumerate()
            .map(|(i, f)| RankedFindingJson {
                finding: FindingJson::from(&f.finding),
                rank: i + 1,
                rank_reason: f.finding.rank_reason.clone(),
                file: analysis
                    .files
                    .get(f.file)
                    .map(|x| x.name.clone())
                    .unwrap_or_default(),
            })
            .collect(),
    }
}
