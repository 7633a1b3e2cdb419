//! `quantlens`: the command-line front end over the same engine the browser app uses.

mod bench;
mod bundle;
mod check;
mod compare;
mod diff;
mod inputs;
#[cfg(feature = "model")]
mod model;
mod out;
mod recommend;
mod report;
mod whatif;

use clap::{Parser, Subcommand};
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
        /// Also write one self-contained HTML file (the app and these files; opens offline from
        /// file://, every view, no request of any kind).
        #[arg(long, value_name = "OUT.html")]
        html: Option<PathBuf>,
        /// The QuantLens web build to embed (default: $QUANTLENS_APP, else this checkout's dist/).
        #[arg(long, value_name = "DIR")]
        app: Option<PathBuf>,
    },
    /// Compare two runs (before and after a fix): per-layer deltas of every metric, sensitivity
    /// ranking movement, findings fixed, new and kept. Each run is a folder or file (more files with
    /// --a/--b), or a run of an exported journal as `quantlens-journal.json#NAME`.
    Diff {
        run_a: String,
        run_b: String,
        /// More files or folders of run A.
        #[arg(long = "a", value_name = "PATH")]
        more_a: Vec<PathBuf>,
        /// More files or folders of run B.
        #[arg(long = "b", value_name = "PATH")]
        more_b: Vec<PathBuf>,
        /// Judge and sort the layers by this metric (`cosine`, `sqnr_db`, `mse`, `l1`, `kl`, `atol`,
        /// `max_qscale_diff`, …); default SQNR, else Cosine, MSE, L1.
        #[arg(long, value_name = "METRIC")]
        by: Option<String>,
        /// Print JSON: {"primary", "layers": [{"name", "a", "b", "delta", "change", "gain"}],
        /// "unmatched": {"a_only", "b_only"}, "findings": {"fixed", "new", "kept"},
        /// "sensitivity": [{"name", "table", "rank_a", "rank_b", "value_a", "value_b", "movement", "dropped"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Write a static site: the app and the given report/dump folders with an index. Served by any
    /// static host, its index.html opens the analysis with the data loaded (a CI job's report link).
    Bundle {
        /// Folders and/or files (folders keep their name: `run42/compare_per_layer_out.txt`).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The folder to write (new, empty, or an earlier bundle to replace).
        #[arg(long, value_name = "SITE")]
        out: PathBuf,
        /// The QuantLens web build to copy (default: $QUANTLENS_APP, else this checkout's dist/).
        #[arg(long, value_name = "DIR")]
        app: Option<PathBuf>,
    },
    /// Compare raw tensor dumps: FLOAT and QUANT are files (.npy, .npz, .safetensors) or folders.
    /// Tensors are paired by name (exact, then without ONNX Runtime QDQ suffixes). A scales.json or
    /// a QDQ .onnx model in either folder gives the pairs their scales (the error split).
    Compare {
        float: PathBuf,
        quant: PathBuf,
        /// Scale of a quantized tensor, enabling max_qscale_diff and the error split:
        /// NAME=S or NAME=S:int8|int16|uint8 (repeatable; NAME `*` applies to all). A named one
        /// wins over a scale source's, which wins over `*`.
        #[arg(long = "scale", value_name = "NAME=S[:DTYPE]")]
        scales: Vec<String>,
        /// Print JSON: {"pairs": [...], "findings": [...], "unpaired_float", "unpaired_quant", "scale_sources", "pre_qdq", "errors"}.
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
    /// Run an ONNX model in float and fake-quantized (every activation, calibrated on the inputs),
    /// and write the per-layer comparison (compare_per_layer_out.txt) for that assignment.
    Simulate {
        model: PathBuf,
        #[command(flatten)]
        inputs: inputs::InputArgs,
        #[arg(long, default_value = "int8", value_parser = ["int8", "int16"])]
        dtype: String,
        /// minmax, percentile[:P], mse or kl.
        #[arg(long, default_value = "minmax")]
        observer: String,
        /// Tensors to keep at int16 (ONNX tensor names; repeatable).
        #[arg(long = "int16")]
        int16: Vec<String>,
        /// Weights of the quantized ops: int8 per output channel (Horizon's default) or float.
        #[arg(long, default_value = "int8", value_parser = ["int8", "float"])]
        weights: String,
        /// Write compare_per_layer_out.txt here.
        #[arg(long)]
        out: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// True single-op sensitivity of an ONNX model: each activation quantized alone, the rest in
    /// float, L1 / Cosine / SQNR at every output; writes Horizon's *_sensitive_ops.txt tables.
    Sensitivity {
        model: PathBuf,
        #[command(flatten)]
        inputs: inputs::InputArgs,
        #[arg(long, default_value = "int8", value_parser = ["int8", "int16"])]
        dtype: String,
        #[arg(long, default_value = "minmax")]
        observer: String,
        /// Weights of the quantized ops: int8 per output channel (Horizon's default) or float.
        #[arg(long, default_value = "int8", value_parser = ["int8", "float"])]
        weights: String,
        /// Write output_<name>_<metric>_sensitive_ops.txt tables here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON: {"tables": [{"output", "metric", "ops": [{"name", "op_type", "sensitive_type", "value"}]}]}.
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
        Command::Check { file, json } => check::run(&file, json),
        Command::Report {
            paths,
            expect,
            json,
            html,
            app,
        } => {
            let code = report::run(&paths, expect.as_deref(), json);
            match html {
                Some(out) if code == ExitCode::SUCCESS => {
                    match bundle::write_html(&paths, &out, app.as_deref()) {
                        Ok(bytes) => {
                            eprintln!(
                                "wrote {} ({:.1} MB): open it in a browser, offline",
                                out.display(),
                                bytes as f64 / 1e6
                            );
                            code
                        }
                        Err(e) => out::fail(e),
                    }
                }
                _ => code,
            }
        }
        Command::Diff {
            run_a,
            run_b,
            more_a,
            more_b,
            by,
            json,
        } => diff::run(&run_a, &run_b, &more_a, &more_b, by.as_deref(), json),
        Command::Bundle { paths, out, app } => bundle::run_bundle(&paths, &out, app.as_deref()),
        #[cfg(feature = "model")]
        Command::Simulate {
            model,
            inputs,
            dtype,
            observer,
            int16,
            weights,
            out,
            json,
        } => model::run_simulate(
            &model,
            &inputs,
            &dtype,
            &observer,
            &int16,
            weights == "int8",
            out.as_deref(),
            json,
        ),
        #[cfg(feature = "model")]
        Command::Sensitivity {
            model,
            inputs,
            dtype,
            observer,
            weights,
            out,
            json,
        } => model::run_sensitivity(
            &model,
            &inputs,
            &dtype,
            &observer,
            weights == "int8",
            out.as_deref(),
            json,
        ),
        #[cfg(not(feature = "model"))]
        Command::Simulate { .. } | Command::Sensitivity { .. } => out::fail(
            "this quantlens was built without the model runner: cargo run --release --features model --bin quantlens -- …",
        ),
        Command::Bench { elems, calib } => {
            if calib {
                bench::calib(elems)
            } else {
                bench::kernels(elems)
            }
        }
        Command::Whatif {
            file,
            dtypes,
            observers,
            name,
            json,
        } => whatif::run(&file, &dtypes, &observers, name.as_deref(), json),
        Command::Recommend {
            tables,
            ratio,
            topk,
            sensitive_type,
            json,
        } => recommend::run(&tables, ratio, topk, &sensitive_type, json),
        Command::Compare {
            float,
            quant,
            scales,
            json,
        } => compare::run(&float, &quant, &scales, json),
    }
}

/// The files under `path` (itself when it is a file), folders walked recursively in name order.
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

/// Open a report file (not a folder) and give its size.
fn open(path: &Path) -> Result<(File, u64), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_dir() {
        return Err(format!("{} is a directory; give a file", path.display()));
    }
    let f = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Ok((f, meta.len()))
}
