//! `quantlens`: the command-line front end over the same engine the browser app uses.

use clap::{Parser, Subcommand};
use quantlens::engine::findings::FindingJson;
use quantlens::engine::session::{analyze_source, read_source, FileReport, Intent};
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
    /// Compare raw tensor dumps: FLOAT and QUANT are files (.npy, .npz, .safetensors) or folders.
    /// Tensors are paired by name (exact, then without ONNX Runtime QDQ suffixes).
    Compare {
        float: PathBuf,
        quant: PathBuf,
        /// Scale of a quantized tensor, enabling max_qscale_diff and the error split:
        /// NAME=S or NAME=S:int8|int16|uint8 (repeatable; NAME `*` applies to all).
        #[arg(long = "scale", value_name = "NAME=S[:DTYPE]")]
        scales: Vec<String>,
        /// Print JSON: {"pairs": [...], "findings": [...], "unpaired_float", "unpaired_quant", "errors"}.
        #[arg(long)]
        json: bool,
    },
    /// Which ops go to int16: Horizon's sensitivity setter applied to *_sensitive_ops.txt tables
    /// (top ceil(len·ratio) rows, filtered by type and current dtype), and the Python snippet. A
    /// compare_per_layer_out among the files adds its fixed-scale suggestions to the snippet.
    Recommend {
        #[arg(required = true)]
        tables: Vec<PathBuf>,
        /// Share of each table's top rows to consider, in (0, 1] (e.g. 0.005 for the top 0.5%).
        #[arg(long, conflicts_with = "topk")]
        ratio: Option<f64>,
        /// Number of each table's top rows to consider.
        #[arg(long)]
        topk: Option<usize>,
        #[arg(long = "sensitive-type", default_value = "activation", value_parser = ["activation", "weight", "both"])]
        sensitive_type: String,
        /// Print JSON: {"int16": [{name, metric, flops_share}], "snippet", "log"}.
        #[arg(long)]
        json: bool,
    },
    /// What-if for a float tensor: its error quantized with each dtype and observer (or a fixed
    /// scale), and when split into 2 or 4 groups with their own scales.
    Whatif {
        /// A tensor file (.npy, .npz, .safetensors, .pt); every tensor in it is analysed.
        file: PathBuf,
        /// int4, int8, int16 or uint8 (repeatable; default int8 and int16).
        #[arg(long = "dtype")]
        dtypes: Vec<String>,
        /// minmax, percentile[:P], mse, kl or fixed=S (repeatable; default all but fixed).
        #[arg(long = "observer")]
        observers: Vec<String>,
        /// Only the tensor of this name.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Time the comparison kernels on generated arrays (scripts/bench.sh compares them with numpy).
    #[command(hide = true)]
    Bench {
        /// Elements per array.
        #[arg(long, default_value_t = 64 << 20)]
        elems: usize,
        /// Time calibration instead (|x| max, 2048-bin histogram, all four observers' int8 scales).
        #[arg(long)]
        calib: bool,
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
    let mut session = quantlens::engine::session::Session::new();
    session.analysis.intent = expect.and_then(Intent::parse).unwrap_or_default();
    for path in &files {
        let mut src = match quantlens::engine::tensor::FileSource::open(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("quantlens: cannot open {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        // Inside a folder, files of other kinds (pickles, html) are skipped quietly.
        if from_dir && !paths.contains(path) {
            use quantlens::engine::tensor::ByteSource;
            let n = src
                .size()
                .min(quantlens::engine::detect::SNIFF_BYTES as u64) as usize;
            let mut head = vec![0u8; n];
            if src.read_at(0, &mut head).is_err() {
                continue;
            }
            let (_, text_head) = quantlens::engine::textenc::decode_head(&head);
            if matches!(
                quantlens::engine::detect::detect(
                    &path.display().to_string(),
                    &text_head,
                    src.size()
                ),
                quantlens::engine::detect::Detection::Rejected(_)
            ) && !quantlens::engine::session::is_tensor_file(&head, src.size())
            {
                continue;
            }
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
        };
        if let Err(code) = print_json(&out) {
            return code;
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
        Command::Bench { elems, calib } => {
            if calib {
                bench_calib(elems)
            } else {
                bench(elems)
            }
        }
        Command::Whatif {
            file,
            dtypes,
            observers,
            name,
            json,
        } => whatif(&file, &dtypes, &observers, name.as_deref(), json),
        Command::Recommend {
            tables,
            ratio,
            topk,
            sensitive_type,
            json,
        } => recommend(&tables, ratio, topk, &sensitive_type, json),
        Command::Compare {
            float,
            quant,
            scales,
            json,
        } => compare(&float, &quant, &scales, json),
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
        if let Err(code) = print_json(&out) {
            return code;
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

// --- compare ---------------------------------------------------------------------------------------

use quantlens::engine::metrics::PairMetrics;
use quantlens::engine::pairs::{self, Located};
use quantlens::engine::tensor::{self, FileSource};
use serde_json::{json, Value};

/// JSON cannot hold inf/nan: write them as the strings "inf", "-inf", "nan".
fn num(v: f64) -> Value {
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

fn pair_json(name: &str, shape: &[u64], m: &PairMetrics) -> Value {
    json!({
        "name": name, "shape": shape,
        "cosine": num(m.cosine), "mse": num(m.mse), "l1": num(m.l1), "kl": num(m.kl), "sqnr_db": num(m.sqnr_db),
        "atol": num(m.atol), "rtol": num(m.rtol),
        "base_min": num(m.base_min), "base_max": num(m.base_max), "base_mean": num(m.base_mean), "base_var": num(m.base_var),
        "analy_min": num(m.analy_min), "analy_max": num(m.analy_max), "analy_mean": num(m.analy_mean), "analy_var": num(m.analy_var),
        "max_qscale_diff": m.max_qscale_diff.map(num).unwrap_or(Value::Null),
        "error_split": m.error_split.map(|s| json!({
            "clip": num(s.clip), "round": num(s.round), "inherited": num(s.inherited), "clipped_fraction": num(s.clipped_fraction)
        })).unwrap_or(Value::Null),
    })
}

fn tensor_files(
    root: &Path,
    errors: &mut Vec<String>,
) -> Result<(Vec<PathBuf>, Vec<Located>), String> {
    let mut files = Vec::new();
    collect(root, &mut files)?;
    let from_dir = root.is_dir();
    let mut paths = Vec::new();
    let mut located = Vec::new();
    for path in files {
        let mut src =
            FileSource::open(&path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let rel = if rel.is_empty() {
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        } else {
            rel
        };
        match tensor::list_tensors_with_notes(&rel, &mut src) {
            Ok((entries, skipped)) => {
                errors.extend(
                    skipped
                        .into_iter()
                        .map(|s| format!("{}: not read: {s}", path.display())),
                );
                let fi = paths.len();
                paths.push(path.clone());
                for mut entry in entries {
                    // Inside a folder, an .npy's name is its relative path without the extension.
                    if from_dir && rel.ends_with(".npy") {
                        entry.name = rel.trim_end_matches(".npy").to_string();
                    }
                    located.push(Located { file: fi, entry });
                }
            }
            Err(e) if from_dir => errors.push(format!("{}: skipped: {e}", path.display())),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok((paths, located))
}

fn compare(float: &Path, quant: &Path, scale_args: &[String], json_out: bool) -> ExitCode {
    let mut scales: Vec<(String, f64, Option<String>)> = Vec::new();
    for s in scale_args {
        let parsed = s.split_once('=').and_then(|(n, v)| {
            let (v, d) = match v.split_once(':') {
                Some((v, d)) => (v, Some(d.to_string())),
                None => (v, None),
            };
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| *x > 0.0 && x.is_finite())
                .map(|x| (n.to_string(), x, d))
        });
        match parsed {
            Some(p) => scales.push(p),
            None => {
                eprintln!("quantlens: --scale {s}: expected NAME=S with S a positive number (optionally :int8 or :int16)");
                return ExitCode::from(2);
            }
        }
    }
    let mut errors = Vec::new();
    let (fpaths, flist) = match tensor_files(float, &mut errors) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("quantlens: {e}");
            return ExitCode::from(2);
        }
    };
    let (qpaths, qlist) = match tensor_files(quant, &mut errors) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("quantlens: {e}");
            return ExitCode::from(2);
        }
    };
    // Two single files holding one tensor each pair whatever their names.
    let mut pairing = pairs::pair(&flist, &qlist);
    if pairing.pairs.is_empty() && flist.len() == 1 && qlist.len() == 1 {
        pairing = pairs::Pairing {
            pairs: vec![pairs::Pair {
                name: flist[0].entry.name.clone(),
                float: flist[0].clone(),
                quant: qlist[0].clone(),
                matched_by: "manual".into(),
            }],
            ..Default::default()
        };
    }
    let mut out_pairs = Vec::new();
    let mut findings = Vec::new();
    let mut mismatches = Vec::new();
    for p in &pairing.pairs {
        let scale = scales
            .iter()
            .find(|(n, _, _)| *n == p.name || *n == p.quant.entry.name || *n == p.float.entry.name)
            .or_else(|| scales.iter().find(|(n, _, _)| n == "*"));
        let mut fs = match FileSource::open(&fpaths[p.float.file]) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{}: {e}", p.name));
                continue;
            }
        };
        let mut qs = match FileSource::open(&qpaths[p.quant.file]) {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("{}: {e}", p.name));
                continue;
            }
        };
        match pairs::compare_pair(
            &mut fs,
            &p.float.entry,
            &mut qs,
            &p.quant.entry,
            scale.map(|s| s.1),
            scale.and_then(|s| s.2.as_deref()),
            &mut |_| {},
        ) {
            Ok(m) => {
                findings.extend(pairs::pair_findings(&p.name, out_pairs.len(), &m));
                out_pairs.push((p.name.clone(), p.float.entry.shape.clone(), m));
            }
            Err(e) if e.starts_with("shape mismatch") => {
                mismatches.push(format!("{}: {e}", p.name))
            }
            Err(e) => errors.push(format!("{}: {e}", p.name)),
        }
    }
    if json_out {
        let v = json!({
            "pairs": out_pairs.iter().map(|(n, s, m)| pair_json(n, s, m)).collect::<Vec<_>>(),
            "findings": findings.iter().map(FindingJson::from).collect::<Vec<_>>(),
            "unpaired_float": pairing.unpaired_float,
            "unpaired_quant": pairing.unpaired_quant,
            "shape_mismatches": mismatches,
            "errors": errors,
        });
        if let Err(code) = print_json(&v) {
            return code;
        }
    } else {
        println!(
            "{:<40} {:>18} {:>10} {:>9} {:>11} {:>10} {:>8}  split clip/round/inherited",
            "name", "shape", "cosine", "sqnr_db", "mse", "atol", "qdiff"
        );
        for (n, s, m) in &out_pairs {
            let split = m
                .error_split
                .map(|sp| {
                    let t = (sp.clip + sp.round + sp.inherited).max(f64::MIN_POSITIVE);
                    format!(
                        "{:.0}% / {:.0}% / {:.0}%",
                        sp.clip / t * 100.0,
                        sp.round / t * 100.0,
                        sp.inherited / t * 100.0
                    )
                })
                .unwrap_or_else(|| "(no scale)".into());
            println!(
                "{:<40} {:>18} {:>10.6} {:>9.2} {:>11.4e} {:>10.4e} {:>8}  {split}",
                n,
                format!("{s:?}"),
                m.cosine,
                m.sqnr_db,
                m.mse,
                m.atol,
                m.max_qscale_diff
                    .map(|q| format!("{q:.2}"))
                    .unwrap_or_else(|| "-".into())
            );
        }
        if !findings.is_empty() {
            println!();
            print_findings(&findings);
        }
        for u in &pairing.unpaired_float {
            println!("unpaired (float side): {u}");
        }
        for u in &pairing.unpaired_quant {
            println!("unpaired (quantized side): {u}");
        }
        for m in &mismatches {
            println!("not compared: {m}");
        }
        for e in &errors {
            eprintln!("quantlens: {e}");
        }
    }
    if out_pairs.is_empty() && !mismatches.is_empty()
        || out_pairs.is_empty() && pairing.pairs.is_empty() && !errors.is_empty()
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// Print `v` as pretty JSON on stdout; on failure say why and give exit status 2.
fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<(), ExitCode> {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            Ok(())
        }
        Err(e) => {
            eprintln!("quantlens: cannot write JSON: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn bench_calib(n: usize) -> ExitCode {
    use quantlens::engine::quant::{calibrate, QDType};
    use std::time::Instant;
    let (x, _) = quantlens::engine::metrics::bench::arrays(n);
    let mut best = f64::INFINITY;
    let mut scales = [0.0; 4];
    for _ in 0..3 {
        let t = Instant::now();
        match calibrate(|| x.chunks(1 << 20), 2048, QDType::Int8) {
            Ok((_, s)) => scales = s,
            Err(e) => {
                eprintln!("quantlens: {e}");
                return ExitCode::from(2);
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{{\"elems\": {n}, \"calib_s\": {best}, \"scales\": [{}, {}, {}, {}]}}",
        scales[0], scales[1], scales[2], scales[3]
    );
    ExitCode::SUCCESS
}

fn bench(n: usize) -> ExitCode {
    use quantlens::engine::metrics::bench as b;
    use std::time::Instant;
    let (x, y) = b::arrays(n);
    let bytes = (n * 8) as f64;
    let time = |f: &dyn Fn() -> f64| {
        let mut best = f64::INFINITY;
        let mut sink = 0.0;
        for _ in 0..5 {
            let t = Instant::now();
            sink += f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        std::hint::black_box(sink);
        best
    };
    let t_sum = time(&|| b::plain_sum(&x, &y));
    let t_m = time(&|| b::metrics_no_kl(&x, &y));
    let t_kl = time(&|| b::kl_only(&x, &y));
    println!("{{\"elems\": {n}, \"bytes\": {bytes}, \"plain_sum_s\": {t_sum}, \"metrics_s\": {t_m}, \"kl_s\": {t_kl}}}");
    ExitCode::SUCCESS
}

fn recommend(
    paths: &[PathBuf],
    ratio: Option<f64>,
    topk: Option<usize>,
    sensitive_type: &str,
    json_out: bool,
) -> ExitCode {
    use quantlens::engine::cells::DType;
    use quantlens::engine::recommend::{self as rec, SetterRequest};
    let mut tables = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut compares = Vec::new();
    for path in paths {
        let (f, size) = match open(path) {
            Ok(x) => x,
            Err(e) => {
                eprintln!("quantlens: {e}");
                return ExitCode::from(2);
            }
        };
        let r = read_source(&path.display().to_string(), size, f);
        match r.document {
            Some(quantlens::engine::session::Document::Sensitivity(t)) => {
                tables.push(t);
                names.push(
                    path.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
            }
            // A layer comparison adds its fixed-scale suggestions to the snippet.
            Some(quantlens::engine::session::Document::Compare(_)) => compares.push(r),
            _ => {
                eprintln!(
                    "quantlens: {}: {}",
                    path.display(),
                    r.error
                        .unwrap_or_else(|| "not a sensitivity table (*_sensitive_ops.txt)".into())
                );
                return ExitCode::from(2);
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
        Err(e) => {
            eprintln!("quantlens: {e}");
            return ExitCode::from(2);
        }
    };
    let fixed = quantlens::engine::diagnose_report::fixed_scales(&compares);
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

/// Elements a what-if holds in memory (each configuration is evaluated on the whole tensor).
const WHATIF_MAX_ELEMS: u64 = 32 << 20;

fn whatif(
    path: &Path,
    dtypes: &[String],
    observers: &[String],
    only: Option<&str>,
    json_out: bool,
) -> ExitCode {
    use quantlens::engine::quant::{self, AbsHistogram, Observer, QDType};
    let mut dts = Vec::new();
    for d in if dtypes.is_empty() {
        vec!["int8".to_string(), "int16".to_string()]
    } else {
        dtypes.to_vec()
    } {
        match QDType::parse(&d) {
            Some(x) => dts.push(x),
            None => {
                eprintln!("quantlens: unknown dtype '{d}' (int4, int8, int16, uint8)");
                return ExitCode::from(2);
            }
        }
    }
    let mut obs = Vec::new();
    for o in if observers.is_empty() {
        vec![
            "minmax".into(),
            "percentile:99.99".into(),
            "mse".into(),
            "kl".into(),
        ]
    } else {
        observers.to_vec()
    } {
        match Observer::parse(&o) {
            Some(Observer::Fixed { scale }) if !(scale.is_finite() && scale > 0.0) => {
                eprintln!("quantlens: a fixed scale must be a positive number, not {scale}");
                return ExitCode::from(2);
            }
            Some(x) => obs.push(x),
            None => {
                eprintln!(
                    "quantlens: unknown observer '{o}' (minmax, percentile[:P], mse, kl, fixed=S)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let mut src = match FileSource::open(path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("quantlens: cannot open {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let entries = match tensor::list_tensors(&name, &mut src) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("quantlens: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| only.is_none_or(|n| n == e.name)) {
        if e.numel() > WHATIF_MAX_ELEMS {
            eprintln!("quantlens: {}: {} elements is more than a what-if holds ({WHATIF_MAX_ELEMS}); skipped", e.name, e.numel());
            continue;
        }
        let x = match tensor::read_all(&mut src, e) {
            Ok(x) => x,
            Err(err) => {
                eprintln!("quantlens: {}: {err}", e.name);
                return ExitCode::from(2);
            }
        };
        let amax = x
            .iter()
            .filter(|v| v.is_finite())
            .fold(0f32, |m, v| m.max(v.abs())) as f64;
        let mut h = AbsHistogram::new(amax, 2048);
        h.update(&x);
        let mut results = Vec::new();
        for &dt in &dts {
            for o in &obs {
                match o.scale(&h, dt) {
                    Ok(s) => {
                        let q = quant::quant_error(&x, s, dt);
                        results.push(json!({"dtype": dt.name(), "observer": o.label(), "scale": num(s), "mse": num(q.mse),
                            "sqnr_db": num(q.sqnr_db), "max_abs": num(q.max_abs), "max_rel": num(q.max_rel), "clipped_fraction": num(q.clipped_fraction)}));
                    }
                    Err(err) => results
                        .push(json!({"dtype": dt.name(), "observer": o.label(), "error": err})),
                }
            }
        }
        let splits: Vec<Value> = dts
            .iter()
            .flat_map(|&dt| {
                let x = &x;
                [1usize, 2, 4].into_iter().map(move |k| {
                    let s = quant::best_split(x, k, dt);
                    json!({"dtype": dt.name(), "groups": k, "cuts": s.cuts, "scales": s.scales, "mse": num(s.mse), "max_rel": num(s.max_rel), "objective": s.objective})
                })
            })
            .collect();
        out.push(json!({"name": e.name, "shape": e.shape, "amax": num(amax), "results": results, "splits": splits}));
    }
    if out.is_empty() {
        eprintln!(
            "quantlens: no tensor to analyse{}",
            only.map(|n| format!(" named '{n}'")).unwrap_or_default()
        );
        return ExitCode::from(2);
    }
    if json_out {
        return match print_json(&json!({"tensors": out})) {
            Ok(()) => ExitCode::SUCCESS,
            Err(code) => code,
        };
    }
    let f = |v: &Value| match v {
        Value::Number(n) => format!("{:.4e}", n.as_f64().unwrap_or(f64::NAN)),
        other => other.to_string(),
    };
    for t in &out {
        println!(
            "{} {} (max |x| {})",
            t["name"].as_str().unwrap_or(""),
            t["shape"],
            f(&t["amax"])
        );
        println!(
            "  {:<7} {:<20} {:>11} {:>9} {:>11} {:>10} {:>9}",
            "dtype", "observer", "scale", "SQNR dB", "MSE", "max rel", "clipped"
        );
        for r in t["results"].as_array().into_iter().flatten() {
            if let Some(e) = r.get("error") {
                println!(
                    "  {:<7} {:<20} {e}",
                    r["dtype"].as_str().unwrap_or(""),
                    r["observer"].as_str().unwrap_or("")
                );
                continue;
            }
            println!(
                "  {:<7} {:<20} {:>11} {:>9.2} {:>11} {:>10} {:>8.3}%",
                r["dtype"].as_str().unwrap_or(""),
                r["observer"].as_str().unwrap_or(""),
                f(&r["scale"]),
                r["sqnr_db"].as_f64().unwrap_or(f64::INFINITY),
                f(&r["mse"]),
                f(&r["max_rel"]),
                r["clipped_fraction"].as_f64().unwrap_or(0.0) * 100.0
            );
        }
        println!("  split into groups, each with its own min-max scale (cuts are element indices, flattened):");
        for s in t["splits"].as_array().into_iter().flatten() {
            println!(
                "  {:<7} {} group(s) cuts {:<14} MSE {} max rel {} ({})",
                s["dtype"].as_str().unwrap_or(""),
                s["groups"],
                s["cuts"].to_string(),
                f(&s["mse"]),
                f(&s["max_rel"]),
                s["objective"].as_str().unwrap_or("")
            );
        }
        println!();
    }
    ExitCode::SUCCESS
}
