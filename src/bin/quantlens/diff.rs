//! `quantlens diff RUN_A RUN_B`: two runs (folders, files, or runs of a journal file) compared: per-layer deltas, sensitivity movement, findings fixed/new/kept.

use crate::out::{fail, print_json};
use quantlens::engine::journal::{self, RunSummary};
use quantlens::engine::rundiff::{self, Change, Movement, RunDiff};
use quantlens::engine::session::Intent;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Layers listed per direction in the text output.
const SHOWN: usize = 15;

/// A run given on the command line: `JOURNAL.json#name-or-id`, or files and folders.
fn load_run(spec: &str, extra: &[PathBuf]) -> Result<(String, RunSummary), ExitCode> {
    if let Some((file, which)) = spec.rsplit_once('#') {
        let path = Path::new(file);
        if path.is_file() && extra.is_empty() {
            let text = std::fs::read_to_string(path)
                .map_err(|e| fail(format_args!("cannot read {file}: {e}")))?;
            if journal::looks_like_journal(text.as_bytes()) {
                let (j, _) = journal::parse(&text).map_err(|e| {
                    fail(format_args!(
                        "{file}: not a readable QuantLens journal: {e}"
                    ))
                })?;
                let run = j
                    .runs
                    .iter()
                    .find(|r| r.id == which)
                    .or_else(|| j.runs.iter().rev().find(|r| r.name == which))
                    .ok_or_else(|| {
                        let names: Vec<&str> = j.runs.iter().map(|r| r.name.as_str()).collect();
                        fail(format_args!(
                            "{file} has no run named {which:?} (its runs: {})",
                            names.join(", ")
                        ))
                    })?;
                let summary = run.summary.clone().ok_or_else(|| {
                    fail(format_args!(
                        "run {:?} of {file} keeps no analysis (it was saved without reports)",
                        run.name
                    ))
                })?;
                return Ok((format!("{file}#{}", run.name), summary));
            }
        }
    }
    // A journal named without a run: say which runs it has.
    if Path::new(spec).is_file() && extra.is_empty() {
        if let Ok(text) = std::fs::read_to_string(spec) {
            if journal::looks_like_journal(text.as_bytes()) {
                let names = journal::parse(&text)
                    .map(|(j, _)| {
                        j.runs
                            .iter()
                            .map(|r| r.name.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                return Err(fail(format_args!(
                    "{spec} is a QuantLens journal: name one of its runs as {spec}#NAME (its runs: {names})"
                )));
            }
        }
    }
    let mut paths = vec![PathBuf::from(spec)];
    paths.extend(extra.iter().cloned());
    let a = crate::report::load(&paths, Intent::Unstated)?;
    let summary = rundiff::summarize(&a.files, &a.findings, &a.tensors, None);
    Ok((spec.to_string(), summary))
}

pub fn run(
    a: &str,
    b: &str,
    more_a: &[PathBuf],
    more_b: &[PathBuf],
    by: Option<&str>,
    json: bool,
) -> ExitCode {
    let (name_a, sa) = match load_run(a, more_a) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (name_b, sb) = match load_run(b, more_b) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if sa.is_empty() && sb.is_empty() {
        return fail(
            "neither run has a layer comparison, a sensitivity table or a finding to compare",
        );
    }
    let d = rundiff::diff_by(&sa, &sb, by);
    if json {
        return match print_json(&d) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    print_text(&name_a, &name_b, &sa, &sb, &d);
    ExitCode::SUCCESS
}

fn metric(m: &journal::Metrics, k: &str) -> String {
    match m.get(k) {
        Some(v) if v.0.is_finite() => format!("{:.6}", v.0),
        Some(v) => quantlens::engine::num::non_finite_text(v.0)
            .unwrap_or("?")
            .to_string(),
        None => "—".into(),
    }
}

fn print_text(name_a: &str, name_b: &str, sa: &RunSummary, sb: &RunSummary, d: &RunDiff) {
    for (tag, n, s) in [("A", name_a, sa), ("B", name_b, sb)] {
        println!(
            "{tag}: {n} — {} layers, {} sensitivity tables, {} findings",
            s.layers.len(),
            s.sensitivity.len(),
            s.findings.len()
        );
    }
    println!(
        "\nLayers in both: {} ({} improved, {} worse by {}); only in A: {}; only in B: {}; probably renamed: {}",
        d.layers.len(),
        d.improved(),
        d.worse(),
        d.primary,
        d.unmatched.a_only.len(),
        d.unmatched.b_only.len(),
        d.unmatched.renamed.len()
    );
    for (title, want) in [("Got worse", Change::Worse), ("Improved", Change::Improved)] {
        let rows: Vec<_> = d.layers.iter().filter(|l| l.change == want).collect();
        if rows.is_empty() {
            continue;
        }
        println!("\n{title} ({}; largest change first):", rows.len());
        for l in rows.iter().take(SHOWN) {
            println!(
                "  {:<60} {} {} → {}",
                l.name,
                d.primary,
                metric(&l.a, &d.primary),
                metric(&l.b, &d.primary)
            );
        }
        if rows.len() > SHOWN {
            println!("  … {} more (--json lists all)", rows.len() - SHOWN);
        }
    }
    let moved: Vec<_> = d
        .sensitivity
        .iter()
        .filter(|m| matches!(m.movement, Movement::LeftTop | Movement::EnteredTop))
        .collect();
    if !moved.is_empty() {
        println!("\nSensitivity (top {}):", rundiff::TOP);
        for m in moved {
            let rank = |r: Option<usize>| r.map_or("—".to_string(), |r| format!("#{r}"));
            println!(
                "  {:<60} {} → {}  {}  [{}]",
                m.name,
                rank(m.rank_a),
                rank(m.rank_b),
                if m.movement == Movement::LeftTop {
                    "left the top"
                } else {
                    "entered the top"
                },
                m.table
            );
        }
    }
    println!(
        "\nFindings: {} fixed, {} new, {} kept",
        d.findings.fixed.len(),
        d.findings.new.len(),
        d.findings.kept.len()
    );
    for (tag, list) in [("fixed", &d.findings.fixed), ("new", &d.findings.new)] {
        for f in list.iter().take(SHOWN) {
            let m: String = f.message.chars().take(160).collect();
            let cut = if m.len() < f.message.len() { "…" } else { "" };
            println!("  {tag}: [{}] {m}{cut}", f.kind);
        }
    }
    if !d.unmatched.renamed.is_empty() {
        println!(
            "\nProbably renamed (same row of both tables; findings and ranks follow) ({}):",
            d.unmatched.renamed.len()
        );
        for r in d.unmatched.renamed.iter().take(SHOWN) {
            println!("  {} → {}", r.a, r.b);
        }
    }
    if !d.findings.on_missing_layers.is_empty() {
        println!(
            "\nFindings on layers B does not have (neither fixed nor kept): {}",
            d.findings.on_missing_layers.len()
        );
    }
    for (tag, list) in [("A", &d.unmatched.a_only), ("B", &d.unmatched.b_only)] {
        if !list.is_empty() {
            println!("\nOnly in {tag} ({}):", list.len());
            for n in list.iter().take(SHOWN) {
                println!("  {n}");
            }
            if list.len() > SHOWN {
                println!("  … {} more", list.len() - SHOWN);
            }
        }
    }
}
