//! Shared output helpers: JSON printing, non-finite numbers, finding lists, notes, failures.

use quantlens::engine::doc::Note;
use quantlens::engine::{Finding, Severity};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Say `msg` on stderr and give exit status 2 (bad input, nothing to show).
pub fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("quantlens: {msg}");
    ExitCode::from(2)
}

/// Print `v` as pretty JSON on stdout; on failure say why and give exit status 2.
pub fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => Err(fail(format_args!("cannot write JSON: {e}"))),
    }
}

/// [`print_json`] as the command's exit status.
pub fn json_status<T: serde::Serialize + ?Sized>(v: &T) -> ExitCode {
    match print_json(v) {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

/// JSON cannot hold inf/nan: write them as the strings "inf", "-inf", "nan".
pub fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("nan")
    } else if v > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

/// A note with its line, when it has one.
pub fn note_text(n: &Note) -> String {
    match n.line {
        Some(l) => format!("line {l}: {}", n.text),
        None => n.text.clone(),
    }
}

/// The human form of a finding list: counts by severity, then each finding with its fix and lines.
pub fn print_findings(findings: &[Finding]) {
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
        // Line 0 is no line: evidence from tensor pairs (dumps have no lines to cite).
        let cited: Vec<usize> = f
            .evidence
            .iter()
            .map(|e| e.line)
            .filter(|&l| l > 0)
            .collect();
        if !cited.is_empty() {
            let lines: Vec<String> = cited.iter().take(10).map(|l| l.to_string()).collect();
            let more = if cited.len() > 10 {
                format!(" (+{} more)", cited.len() - 10)
            } else {
                String::new()
            };
            println!("   Lines: {}{more}", lines.join(", "));
        }
        println!();
    }
}
