//! `quantlens compare`: tensor files listed from two paths, the float path's on the float side and the
//! quant path's on the quantized side, paired and compared by `engine::pairs::compare_files`. A
//! `scales.json` or a QDQ ONNX model in either folder gives its scales, as in the app.

use crate::out::{fail, num, print_findings, print_json};
use quantlens::engine::document::Document;
use quantlens::engine::findings::FindingJson;
use quantlens::engine::metrics::PairMetrics;
use quantlens::engine::pairs::{self, CompareInput, PairResult, ScaleChoice, Side};
use quantlens::engine::quant::QDType;
use quantlens::engine::scales::ScaleSet;
use quantlens::engine::tensor::{self, ByteSource, FileSource, TensorEntry};
use quantlens::engine::Finding;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;

/// A `--scale NAME=S[:DTYPE]`: NAME is a pair's or a quantized tensor's name, or `*`.
struct TypedScale {
    name: String,
    scale: f64,
    dtype: Option<QDType>,
}

fn parse_scale(s: &str) -> Result<TypedScale, String> {
    let bad = || {
        format!(
            "--scale {s}: expected NAME=S with S a positive number (optionally :int8 or :int16)"
        )
    };
    let (name, v) = s.split_once('=').ok_or_else(bad)?;
    let (v, dtype) = match v.split_once(':') {
        Some((v, d)) => (v, Some(d)),
        None => (v, None),
    };
    let scale = v
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|x| *x > 0.0 && x.is_finite());
    let scale = scale.ok_or_else(bad)?;
    let dtype = match dtype {
        Some(d) => Some(
            QDType::parse(d)
                .ok_or_else(|| format!("--scale {s}: unknown dtype '{d}' (int8, int16, uint8)"))?,
        ),
        None => None,
    };
    Ok(TypedScale {
        name: name.to_string(),
        scale,
        dtype,
    })
}

/// Open files kept at once by [`PooledFile`]s, most recently read last.
type Pool = Rc<RefCell<Vec<(usize, FileSource)>>>;
const POOL_OPEN: usize = 32;

/// A tensor file opened when read: a folder may hold more dumps than a process may keep open.
struct PooledFile {
    id: usize,
    path: PathBuf,
    size: u64,
    pool: Pool,
}

impl ByteSource for PooledFile {
    fn size(&self) -> u64 {
        self.size
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut open = self.pool.borrow_mut();
        let mut f = match open.iter().position(|(id, _)| *id == self.id) {
            Some(i) => open.remove(i).1,
            None => FileSource::open(&self.path)?,
        };
        let read = f.read_at(offset, buf);
        if open.len() >= POOL_OPEN {
            open.remove(0);
        }
        open.push((self.id, f));
        read
    }
}

/// The tensor files under `root` with their tensors; a folder's `.npy` is named by its path below
/// `root` without the extension. A folder's scale sources (`scales.json`, a QDQ ONNX model) go to
/// `scales` with their file names; other files of a folder that hold no tensor are noted in
/// `errors`.
fn tensor_files(
    root: &Path,
    errors: &mut Vec<String>,
    scales: &mut Vec<(String, ScaleSet)>,
) -> Result<Vec<(PathBuf, u64, Vec<TensorEntry>)>, String> {
    let mut files = Vec::new();
    crate::collect(root, &mut files)?;
    let from_dir = root.is_dir();
    let mut out = Vec::new();
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
            Ok((mut entries, skipped)) => {
                let not_read = skipped.into_iter();
                errors.extend(not_read.map(|s| format!("{}: not read: {s}", path.display())));
                if from_dir && rel.ends_with(".npy") {
                    let stem = rel.trim_end_matches(".npy");
                    entries.iter_mut().for_each(|e| e.name = stem.to_string());
                }
                out.push((path, src.size(), entries));
            }
            Err(e) if from_dir => match scale_source(&path, &rel) {
                Ok(Some(set)) => scales.push((rel, set)),
                Ok(None) => errors.push(format!("{}: skipped: {e}", path.display())),
                Err(why) => errors.push(format!("{}: not read: {why}", path.display())),
            },
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(out)
}

/// The file's scales when it is a scale source: a QDQ ONNX model (its QuantizeLinear scales) or a
/// `scales.json`, detected by content as the app detects them. `Ok(None)`: not a scale source;
/// `Err`: a scale source that could not be read, and why.
fn scale_source(path: &Path, name: &str) -> Result<Option<ScaleSet>, String> {
    use quantlens::engine::detect::{container, Container, Format};
    let mut src = FileSource::open(path).map_err(|e| e.to_string())?;
    let size = src.size();
    let mut head = vec![0u8; size.min(16) as usize];
    src.read_at(0, &mut head).map_err(|e| e.to_string())?;
    if container(&head, size) == Some(Container::Onnx) {
        return quantlens::engine::scales::read_onnx_scales(&mut src)
            .map(Some)
            .map_err(|e| e.to_string());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let report = quantlens::engine::session::read_source(name, size, std::io::BufReader::new(file));
    match (report.document, report.format, report.error) {
        (Some(Document::Scales(set)), _, _) => Ok(Some(set)),
        (_, Some(Format::ScalesJson | Format::OnnxScales), Some(why)) => Err(why),
        _ => Ok(None),
    }
}

pub fn run(float: &Path, quant: &Path, scale_args: &[String], json_out: bool) -> ExitCode {
    let scales = match scale_args
        .iter()
        .map(|s| parse_scale(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let mut errors = Vec::new();
    let mut scale_sets = Vec::new();
    let mut inputs = Vec::new();
    let mut sources: Vec<Box<dyn ByteSource>> = Vec::new();
    let pool = Pool::default();
    for (root, side) in [(float, Side::Float), (quant, Side::Quant)] {
        let files = match tensor_files(root, &mut errors, &mut scale_sets) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        for (path, size, entries) in files {
            let key = format!("{}\u{1f}{size}", path.display());
            inputs.push(CompareInput {
                key,
                run: String::new(),
                entries,
                side: Some(side),
            });
            let id = sources.len();
            sources.push(Box::new(PooledFile {
                id,
                path,
                size,
                pool: pool.clone(),
            }));
        }
    }
    // Scales from the folders' scale sources, by tensor name (the first source's wins; per-tensor
    // entries only, as in the app).
    let mut known = pairs::KnownScales::default();
    for (file, set) in &scale_sets {
        known.add_set("", file, set);
    }
    // A --scale for the pair (or its quantized tensor) > the pair's name in a scale source (else
    // its loose spelling, `/` and `:` written as `_`) > `*`.
    let scale_of = |pair: &str, quant_tensor: &str, _run: &str| {
        let typed = |s: &TypedScale| ScaleChoice {
            scale: s.scale,
            dtype: s.dtype,
            zero_point: 0,
            source: "--scale".into(),
        };
        let named = scales
            .iter()
            .find(|s| s.name == pair || s.name == quant_tensor);
        let from_files = || {
            [
                pair.to_string(),
                quant_tensor.to_string(),
                pairs::normalize(quant_tensor),
            ]
            .iter()
            .find_map(|n| known.get("", n))
            .or_else(|| known.get_loose("", pair))
            .or_else(|| known.get_loose("", quant_tensor))
        };
        named
            .map(typed)
            .or_else(from_files)
            .or_else(|| scales.iter().find(|s| s.name == "*").map(typed))
    };
    let mut cache = pairs::CompareCache::new();
    let cmp = pairs::compare_files(
        &inputs,
        &mut sources,
        &scale_of,
        &[],
        &mut cache,
        &mut |_, _, _| {},
    );
    let (mut compared, mut findings, mut mismatches) = (Vec::new(), Vec::new(), Vec::new());
    // The first QDQ model among the scale sources places the pairs in its graph and knows which
    // activations only a Clip reads, as in the app.
    let order = scale_sets.iter().find_map(|(file, set)| {
        set.source
            .starts_with("ONNX")
            .then(|| pairs::GraphOrder::of_scales(file, set))
            .flatten()
    });
    findings.extend(
        pairs::all_pair_findings_in(&cmp.pairs, order.as_ref())
            .into_iter()
            .chain(pairs::nonfinite_findings(&cmp.pairs))
            .map(|(_, f)| f),
    );
    // Errors first, then warnings, then what is only information (a clip the next op makes
    // harmless); in the pairs' order within each.
    findings.sort_by_key(|f| f.severity);
    for p in &cmp.pairs {
        match (&p.metrics, &p.error) {
            (Some(m), _) => compared.push((p, m)),
            (None, Some(e)) if e.starts_with("shape mismatch") => {
                mismatches.push(format!("{}: {e}", p.name))
            }
            (None, e) => errors.push(format!(
                "{}: {}",
                p.name,
                e.as_deref().unwrap_or("not compared")
            )),
        }
    }
    if json_out {
        let v = json!({
            "pairs": compared.iter().map(|(p, m)| pair_json(p, m)).collect::<Vec<_>>(),
            "findings": findings.iter().map(FindingJson::from).collect::<Vec<_>>(),
            "unpaired_float": cmp.unpaired_float,
            "unpaired_quant": cmp.unpaired_quant,
            "scale_sources": scale_sets.iter().map(|(file, set)| json!({
                "file": file, "source": set.source, "entries": set.entries.len(),
            })).collect::<Vec<_>>(),
            "pre_qdq": cmp.pre_qdq,
            "shape_mismatches": mismatches,
            "errors": errors,
        });
        if let Err(code) = print_json(&v) {
            return code;
        }
    } else {
        print_text(&compared, &findings);
        for (file, set) in &scale_sets {
            println!("scales: {} from {file} ({})", set.entries.len(), set.source);
        }
        print_unpaired(
            &cmp.unpaired_float,
            "float tensor(s) with no quantized counterpart (not quantized, or named differently)",
        );
        print_unpaired(
            &cmp.unpaired_quant,
            "quantized tensor(s) with no float counterpart (a dump of activations has none for the weights and biases a QDQ model dequantizes)",
        );
        if !cmp.pre_qdq.is_empty() {
            println!(
                "not compared: {} quantized tensor(s) before their QuantizeLinear (their DequantizeLinear outputs were compared)",
                cmp.pre_qdq.len()
            );
        }
        for m in &mismatches {
            println!("not compared: {m}");
        }
        for e in &errors {
            eprintln!("quantlens: {e}");
        }
    }
    if compared.is_empty() && !mismatches.is_empty()
        || compared.is_empty() && cmp.pairs.is_empty() && !errors.is_empty()
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// How many names, what they are, and the first 20 of them (`--json` lists them all).
fn print_unpaired(names: &[String], what: &str) {
    const SHOWN: usize = 20;
    if names.is_empty() {
        return;
    }
    println!("unpaired: {} {what}:", names.len());
    for n in names.iter().take(SHOWN) {
        println!("  {n}");
    }
    if names.len() > SHOWN {
        println!(
            "  … and {} more (--json lists them all)",
            names.len() - SHOWN
        );
    }
}

fn pair_json(p: &PairResult, m: &PairMetrics) -> Value {
    json!({
        "name": p.name, "shape": p.shape,
        "float_tensor": p.float_tensor, "quant_tensor": p.quant_tensor, "matched_by": p.matched_by,
        "scale": p.scale.map(num).unwrap_or(Value::Null), "scale_source": p.scale_source,
        "cosine": num(m.cosine), "mse": num(m.mse), "l1": num(m.l1), "kl": num(m.kl), "sqnr_db": num(m.sqnr_db),
        "atol": num(m.atol), "rtol": num(m.rtol),
        "base_min": num(m.base_min), "base_max": num(m.base_max), "base_mean": num(m.base_mean), "base_var": num(m.base_var),
        "analy_min": num(m.analy_min), "analy_max": num(m.analy_max), "analy_mean": num(m.analy_mean), "analy_var": num(m.analy_var),
        "max_qscale_diff": m.max_qscale_diff.map(num).unwrap_or(Value::Null),
        "nonfinite_float": m.nonfinite_base, "nonfinite_quant": m.nonfinite_analy,
        "error_split": m.error_split.map(|s| json!({
            "clip": num(s.clip), "round": num(s.round), "inherited": num(s.inherited), "clipped_fraction": num(s.clipped_fraction)
        })).unwrap_or(Value::Null),
    })
}

/// The table of compared pairs, then the findings when there are any.
fn print_text(compared: &[(&PairResult, &PairMetrics)], findings: &[Finding]) {
    println!(
        "{:<40} {:>18} {:>10} {:>9} {:>11} {:>10} {:>8}  split clip/round/inherited",
        "name", "shape", "cosine", "sqnr_db", "mse", "atol", "qdiff"
    );
    for (p, m) in compared {
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
            p.name,
            quantlens::engine::views::shape_text(&p.shape),
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
        print_findings(findings);
    }
}
