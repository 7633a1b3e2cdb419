//! `quantlens`: the command-line front end over the same engine the browser app uses.

use clap::{Parser, Subcommand};
use quantlens::engine::findings::FindingJson;
use quantlens::engine::session::{analyze_source, FileReport};
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
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    println!(
        "{} — {}",
        report.name,
        report.format_label.as_deref().unwrap_or("unknown format")
    );
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
    for n in &report.notes {
        println!("note: {}", note_text(n));
    }
}
