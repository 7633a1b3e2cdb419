//! `quantlens`: the command-line front end over the same engine the browser app uses.

use clap::{Parser, Subcommand};
use quantlens::engine::findings::FindingJson;
use quantlens::engine::session::{analyze_source, read_source, Analysis, FileReport, Intent};
use quantlens::engine::{Finding, Severity};
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "quantlens",
    version,
    about = "Quantization-accuracy debugger: reads quantization toolchain reports and explains each problem and its fix."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Diagnose a model_check_result.txt (or qconfig_info.txt) written by horizon_plugin_pytorch.
    Check {
        /// The file to read.
        file: PathBuf,
        /// Print JSON: {"file", "format", "notes", "findings": [{kind, severity, layers, message, fix}]}.
        #[arg(long)]
        json: bool,
    },
    /// Diagnose QuantAnalysis reports (a horizon_quant_analysis/ folder or any of its files) together
    /// with any model-check file: compare_per_layer_out.txt/.csv, *_sensitive_ops.txt,
    /// abnormal_layer_advisor.txt, statistic.txt, badcase.txt, similarity.txt.
    Report {
        /// Files and/or folders (folders are read recursively; files are recognised by content).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// What this run is meant to be: int8 (all-int8), int16 (all-int16) or mixed.
        #[arg(long, value_parser = ["int8", "int16", "mixed"])]
        expect: Option<String>,
        /// Print JSON: {"findings": [...], "files": [{name, format, error, tables: [{id, title, rows}]}]}.
        #[arg(long)]
        json: bool,
    },
}

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

#[derive(Serialize)]
struct ReportJson {
    intent: Intent,
    files: Vec<FileJson>,
    findings: Vec<FindingJson>,
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            collect(&e, out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

fn report(paths: &[PathBuf], expect: Option<&str>, json: bool) -> ExitCode {
    let mut files = Vec::new();
    for p in paths {
        if let Err(e) = collect(p, &mut files) {
            eprintln!("quantlens: {e}");
            return ExitCode::from(2);
        }
    }
    let from_dir = paths.iter().any(|p| p.is_dir());
    let mut analysis = Analysis::default();
    for path in &files {
        let (f, size) = match open(path) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("quantlens: {e}");
                return ExitCode::from(2);
            }
        };
        let name = path.display().to_string();
        let r = read_source(&name, size, f);
        // Inside a folder, files of other kinds (pickles, html) are skipped quietly.
        if r.error.is_some() && from_dir && !paths.contains(path) {
            continue;
        }
        analysis.add_file(r);
    }
    analysis.intent = expect.and_then(Intent::parse).unwrap_or_default();
    analysis.recompute();
    let read = analysis.files.iter().filter(|f| f.error.is_none()).count();
    for f in analysis.files.iter().filter(|f| f.error.is_some()) {
        eprintln!(
            "quantlens: {}: {}",
            f.name,
            f.error.as_deref().unwrap_or("")
        );
    }
    if read == 0 {
        eprintln!("quantlens: no readable report among the given paths");
        return ExitCode::from(2);
    }
    if json {
        let out = ReportJson {
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
                .map(|f| FindingJson::from(&f.finding))
                .collect(),
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("quantlens: cannot write JSON: {e}");
                return ExitCode::from(2);
            }
        }
        return ExitCode::SUCCESS;
    }
    for f in analysis.files.iter().filter(|f| f.error.is_none()) {
        let rows = f.row_count();
        println!(
            "{} — {} ({rows} rows)",
            f.name,
            f.format_label.as_deref().unwrap_or("?")
        );
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

#[derive(Serialize)]
struct CheckJson<'a> {
    file: &'a str,
    format: Option<&'a str>,
    notes: Vec<String>,
    findings: Vec<FindingJson>,
}

fn open(path: &Path) -> Result<(File, u64), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a directory; give a file", path.display()));
    }
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok((f, meta.len()))
}

fn main() -> ExitCode {
    // `quantlens check f | head` must end quietly, not panic on a closed pipe.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string();
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!("quantlens: internal error: {msg}");
    }));
    let cli = Cli::parse();
    match cli.command {
        Command::Check { file, json } => check(&file, json),
        Command::Report {
            paths,
            expect,
            json,
        } => report(&paths, expect.as_deref(), json),
    }
}

fn check(path: &Path, json: bool) -> ExitCode {
    let (f, size) = match open(path) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("quantlens: {e}");
            return ExitCode::from(2);
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let (report, findings) = analyze_source(&name, size, f);
    if let Some(err) = &report.error {
        eprintln!("quantlens: {}: {err}", path.display());
        return ExitCode::from(2);
    }
    if json {
        let out = CheckJson {
            file: &report.name,
            format: report.format_label.as_deref(),
            notes: report.notes.iter().map(note_text).collect(),
            findings: findings.iter().map(FindingJson::from).collect(),
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("quantlens: cannot write JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print_human(&report, &findings);
    }
    ExitCode::SUCCESS
}

fn note_text(n: &quantlens::engine::doc::Note) -> String {
    match n.line {
        Some(l) => format!("line {l}: {}", n.text),
        None => n.text.clone(),
    }
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

fn print_findings(findings: &[Finding]) {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    println!(
        "{} finding(s): {} error(s), {} warning(s), {} info\n",
        findings.len(),
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for (i, f) in findings.iter().enumerate() {
        println!(
            "{}. [{}] {}",
            i + 1,
            f.severity.as_str().to_uppercase(),
            f.kind
        );
        println!("   {}", f.message);
        println!("   Fix: {}", f.fix.replace('\n', "\n        "));
        if !f.evidence.is_empty() {
            let lines: Vec<String> = f
                .evidence
                .iter()
                .take(10)
                .map(|e| e.line.to_string())
                .collect();
            let more = if f.evidence.len() > 10 {
                format!(" (+{} more)", f.evidence.len() - 10)
            } else {
                String::new()
            };
            println!("   Lines: {}{more}", lines.join(", "));
        }
        println!();
    }
}
