//! `quantlens check`: one model-check (or qconfig) file, diagnosed by the engine.

use crate::out::{fail, note_text, print_findings, print_json};
use quantlens::engine::findings::FindingJson;
use quantlens::engine::session::{analyze_source, FileReport};
use quantlens::engine::Finding;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

#[derive(Serialize)]
struct CheckJson<'a> {
    file: &'a str,
    format: Option<&'a str>,
    notes: Vec<String>,
    findings: Vec<FindingJson>,
}

pub fn run(path: &Path, json: bool) -> ExitCode {
    let (f, size) = match crate::open(path) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let (report, findings) = analyze_source(&name, size, f);
    if let Some(err) = &report.error {
        return fail(format_args!("{}: {err}", path.display()));
    }
    if json {
        let out = CheckJson {
            file: &report.name,
            format: report.format_label.as_deref(),
            notes: report.notes.iter().map(note_text).collect(),
            findings: findings.iter().map(FindingJson::from).collect(),
        };
        if let Err(code) = print_json(&out) {
            return code;
        }
    } else {
        print_human(&report, &findings);
    }
    ExitCode::SUCCESS
}

fn print_human(report: &FileReport, findings: &[Finding]) {
    println!(
        "{} — {}",
        report.name,
        report.format_label.as_deref().unwrap_or("unknown format")
    );
    print_findings(findings);
    for n in &report.notes {
        println!("note: {}", note_text(n));
    }
}
