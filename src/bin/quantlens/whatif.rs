//! `quantlens whatif`: every tensor of a file read by the engine, swept through dtypes × observers
//! and group splits by `engine::whatif::sweep`, and printed.

use crate::out::{fail, json_status, num};
use quantlens::engine::quant::{Observer, QDType};
use quantlens::engine::tensor::{self, FileSource, TensorEntry};
use quantlens::engine::whatif::{self, TensorWhatIf, SWEEP_MAX_ELEMS};
use serde_json::{json, Value};
use std::path::Path;
use std::process::ExitCode;

/// The dtypes and observers asked for (defaults when none), or why an argument is not one.
fn parse_args(
    dtypes: &[String],
    observers: &[String],
) -> Result<(Vec<QDType>, Vec<Observer>), String> {
    let default_dtypes = ["int8", "int16"].map(String::from);
    let dtypes = if dtypes.is_empty() {
        &default_dtypes[..]
    } else {
        dtypes
    };
    let dts = dtypes
        .iter()
        .map(|d| QDType::parse(d).ok_or(format!("unknown dtype '{d}' (int4, int8, int16, uint8)")))
        .collect::<Result<Vec<_>, _>>()?;
    // Parsed from text, as typed: `percentile:99.99` is p = 99.99 / 100.
    let default_observers = ["minmax", "percentile:99.99", "mse", "kl"].map(String::from);
    let observers = if observers.is_empty() {
        &default_observers[..]
    } else {
        observers
    };
    let obs = observers
        .iter()
        .map(|o| match Observer::parse(o) {
            Some(Observer::Fixed { scale }) if !(scale.is_finite() && scale > 0.0) => Err(format!(
                "a fixed scale must be a positive number, not {scale}"
            )),
            Some(x) => Ok(x),
            None => Err(format!(
                "unknown observer '{o}' (minmax, percentile[:P], mse, kl, fixed=S)"
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((dts, obs))
}

pub fn run(
    path: &Path,
    dtypes: &[String],
    observers: &[String],
    only: Option<&str>,
    json_out: bool,
) -> ExitCode {
    let (dts, obs) = match parse_args(dtypes, observers) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let mut src = match FileSource::open(path) {
        Ok(s) => s,
        Err(e) => return fail(format_args!("cannot open {}: {e}", path.display())),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries = match tensor::list_tensors(&name, &mut src) {
        Ok(e) => e,
        Err(e) => return fail(format_args!("{}: {e}", path.display())),
    };
    let mut out: Vec<(&TensorEntry, TensorWhatIf)> = Vec::new();
    for e in entries.iter().filter(|e| only.is_none_or(|n| n == e.name)) {
        if e.numel() > SWEEP_MAX_ELEMS {
            eprintln!("quantlens: {}: {} elements is more than a what-if holds ({SWEEP_MAX_ELEMS}); skipped", e.name, e.numel());
            continue;
        }
        match tensor::read_all(&mut src, e) {
            Ok(x) => out.push((e, whatif::sweep(&x, &dts, &obs))),
            Err(err) => return fail(format_args!("{}: {err}", e.name)),
        }
    }
    if out.is_empty() {
        return fail(format_args!(
            "no tensor to analyse{}",
            only.map(|n| format!(" named '{n}'")).unwrap_or_default()
        ));
    }
    if json_out {
        let tensors: Vec<Value> = out.iter().map(|(e, w)| tensor_json(e, w)).collect();
        return json_status(&json!({ "tensors": tensors }));
    }
    for (e, w) in &out {
        print_text(e, w);
    }
    ExitCode::SUCCESS
}

fn tensor_json(e: &TensorEntry, w: &TensorWhatIf) -> Value {
    let results: Vec<Value> = w
        .results
        .iter()
        .map(|r| match &r.result {
            Ok(q) => json!({"dtype": r.dtype.name(), "observer": r.observer.label(), "scale": num(q.scale), "mse": num(q.mse),
                "sqnr_db": num(q.sqnr_db), "max_abs": num(q.max_abs), "max_rel": num(q.max_rel), "clipped_fraction": num(q.clipped_fraction)}),
            Err(err) => json!({"dtype": r.dtype.name(), "observer": r.observer.label(), "error": err}),
        })
        .collect();
    let splits: Vec<Value> = w
        .splits
        .iter()
        .map(|g| {
            let s = &g.split;
            json!({"dtype": g.dtype, "groups": g.k, "cuts": s.cuts, "scales": s.scales, "mse": num(s.mse), "max_rel": num(s.max_rel), "objective": s.objective})
        })
        .collect();
    json!({"name": e.name, "shape": e.shape, "amax": num(w.amax), "results": results, "splits": splits})
}

/// A number as the text table shows it: `1.2345e-3`, or the JSON string of a non-finite one.
fn sci(v: f64) -> String {
    match num(v) {
        Value::Number(n) => format!("{:.4e}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    }
}

fn print_text(e: &TensorEntry, w: &TensorWhatIf) {
    println!("{} {} (max |x| {})", e.name, json!(e.shape), sci(w.amax));
    println!(
        "  {:<7} {:<20} {:>11} {:>9} {:>11} {:>10} {:>9}",
        "dtype", "observer", "scale", "SQNR dB", "MSE", "max rel", "clipped"
    );
    for r in &w.results {
        let (dtype, observer) = (r.dtype.name(), r.observer.label());
        let q = match &r.result {
            Ok(q) => q,
            Err(err) => {
                println!("  {dtype:<7} {observer:<20} {}", json!(err));
                continue;
            }
        };
        // A non-finite SQNR reads as ∞ and a non-finite clipped share as 0, as they always have.
        let sqnr_db = Some(q.sqnr_db).filter(|v| v.is_finite());
        let clipped = Some(q.clipped_fraction).filter(|v| v.is_finite());
        println!(
            "  {dtype:<7} {observer:<20} {:>11} {:>9.2} {:>11} {:>10} {:>8.3}%",
            sci(q.scale),
            sqnr_db.unwrap_or(f64::INFINITY),
            sci(q.mse),
            sci(q.max_rel),
            clipped.unwrap_or(0.0) * 100.0
        );
    }
    println!("  split into groups, each with its own min-max scale (cuts are element indices, flattened):");
    for g in &w.splits {
        println!(
            "  {:<7} {} group(s) cuts {:<14} MSE {} max rel {} ({})",
            g.dtype,
            g.k,
            json!(g.split.cuts).to_string(),
            sci(g.split.mse),
            sci(g.split.max_rel),
            g.split.objective
        );
    }
    println!();
}
