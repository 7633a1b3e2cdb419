//! `quantlens recommend`: Horizon's sensitivity setter, the snippet and the merged ranking, all from
//! the engine's `recommend`, over sensitivity tables (and a layer comparison's fixed scales).

use crate::out::{fail, num, print_json};
use quantlens::engine::cells::DType;
use quantlens::engine::diagnose_report::fixed_scales;
use quantlens::engine::recommend::{self as rec, SetterRequest};
use quantlens::engine::session::{read_source, Document};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(
    paths: &[PathBuf],
    ratio: Option<f64>,
    topk: Option<usize>,
    sensitive_type: &str,
    json_out: bool,
) -> ExitCode {
    let mut tables = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut compares = Vec::new();
    for path in paths {
        let (f, size) = match crate::open(path) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let r = read_source(&path.display().to_string(), size, f);
        match r.document {
            Some(Document::Sensitivity(t)) => {
                tables.push(t);
                names.push(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            }
            // A layer comparison adds its fixed-scale suggestions to the snippet.
            Some(Document::Compare(_)) => compares.push(r),
            _ => {
                return fail(format_args!(
                    "{}: {}",
                    path.display(),
                    r.error
                        .unwrap_or_else(|| "not a sensitivity table (*_sensitive_ops.txt)".into())
                ))
            }
        }
    }
    let req = SetterRequest {
        sensitive_type: sensitive_type.to_string(),
        origin_dtype: DType::QInt8,
        ratio,
        topk,
    };
    let refs: Vec<_> = tables.iter().collect();
    let (results, picks) = match rec::recommend(&refs, &req) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let fixed = fixed_scales(&compares);
    let snippet = rec::snippet(&names, &req, &picks, &fixed);
    if json_out {
        let v = json!({
            "int16": picks.iter().map(|p| json!({"name": p.name, "metric": p.metric.map(num).unwrap_or(Value::Null),
                "flops_share": p.flops_share.map(num).unwrap_or(Value::Null)})).collect::<Vec<_>>(),
            "snippet": snippet,
            "log": results.iter().map(|r| r.log.clone()).collect::<Vec<_>>(),
            "fixed_scales": fixed.iter().map(|f| json!({"name": f.name, "bound": num(f.bound), "physical": f.physical,
                "scale": num(f.scale_int16), "dtype": "qint16"})).collect::<Vec<_>>(),
            // Several tables: one ranking over all of them, each scaled by its top error.
            "merged": if refs.len() > 1 {
                rec::merged_ranking(&refs, &[]).iter().map(|m| json!({"name": m.name, "score": num(m.score),
                    "ranks": m.per_table.iter().map(|(l, r, _)| json!({"table": l, "rank": r})).collect::<Vec<_>>()})).collect::<Vec<_>>()
            } else { Vec::new() },
        });
        if let Err(code) = print_json(&v) {
            return code;
        }
    } else {
        for (t, r) in tables.iter().zip(&results) {
            println!("{}: {}", t.label(), r.log);
        }
        println!();
        for (i, p) in picks.iter().enumerate() {
            println!(
                "{:>3}. {}  ({}, {} {}{})",
                i + 1,
                p.name,
                p.sensitive_type,
                p.table,
                p.metric.map(|m| m.to_string()).unwrap_or_default(),
                p.flops_share
                    .map(|f| format!(", {f:.2}% flops"))
                    .unwrap_or_default()
            );
        }
        println!("\n{snippet}");
    }
    ExitCode::SUCCESS
}
