//! Format detection by content (the head of a file), with the file name only as a tie-breaker, and a
//! plain-words reason for every file that is rejected.

use super::model_check;
use serde::{Deserialize, Serialize};

/// Why a bare pickle is not read.
pub const PICKLE: &str = "a bare pickle (legacy torch.save, or pickle.dump): only torch.save zip archives (.pt/.pth) are read; re-save with torch.save(obj, path) from torch ≥ 1.6";

/// How many bytes of a file detection looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `model_check_result.txt` / `qconfig_info.txt` from `check_qat_model` / `prepare` / `check_qconfig`.
    ModelCheck,
    /// `compare_per_layer_out.txt` (psql).
    CompareTxt,
    /// `compare_per_layer_out.csv`.
    CompareCsv,
    /// `output_<out>_<metric>_sensitive_ops.txt`.
    Sensitivity,
    /// `abnormal_layer_advisor.txt`.
    Advisor,
    /// `baseline_model/statistic.txt`, `analysis_model/statistic.txt` (or profile_featuremap's).
    Statistic,
    /// `badcase.txt`.
    Badcase,
    /// `similarity.txt` / `ordered_op_error_similarity.txt` (featuremap_similarity).
    Similarity,
    /// A tensor dump: `.npy`, `.npz`, `.safetensors`, torch.save archives.
    Tensors,
    /// Scales by tensor name: a `scales.json`.
    ScalesJson,
    /// An ONNX model: the scales of its QuantizeLinear/DequantizeLinear nodes.
    OnnxScales,
    /// The model runner's simulated mixed-precision sweep (`simulated_mixed_precision.json`).
    SimulatedSweep,
    /// QuantLens's journal of tuning runs (`quantlens-journal.json`).
    Journal,
    /// A float ONNX model (no Q/DQ node): what the model runner calibrates, simulates and measures.
    OnnxModel,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::ModelCheck => "Horizon model check (model_check_result.txt)",
            Format::CompareTxt => "QuantAnalysis layer comparison (compare_per_layer_out.txt)",
            Format::CompareCsv => "QuantAnalysis layer comparison (compare_per_layer_out.csv)",
            Format::Sensitivity => "QuantAnalysis sensitivity table (*_sensitive_ops.txt)",
            Format::Advisor => "QuantAnalysis advisor (abnormal_layer_advisor.txt)",
            Format::Statistic => "Per-op statistics (statistic.txt)",
            Format::Badcase => "QuantAnalysis bad cases (badcase.txt)",
            Format::Similarity => "Feature-map similarity (similarity.txt)",
            Format::Tensors => "Tensor dump (.npy / .npz / .safetensors / .pt)",
            Format::ScalesJson => "Scales by tensor name (scales.json)",
            Format::OnnxScales => "ONNX QDQ model (its quantization scales)",
            Format::SimulatedSweep => "Simulated mixed precision (simulated_mixed_precision.json)",
            Format::Journal => "QuantLens journal of runs (quantlens-journal.json)",
            Format::OnnxModel => "ONNX float model (the model runner can run it)",
        }
    }
}

/// Outcome of looking at a file's head.
#[derive(Debug, Clone, PartialEq)]
pub enum Detection {
    Supported(Format),
    /// Not a file QuantLens can read (yet): the reason, in plain words.
    Rejected(String),
}

/// QuantAnalysis and profiler formats, by their header lines.
fn report_format(text: &str) -> Option<Format> {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if first.starts_with("mod_name, ") && first.contains("op_type") {
        return Some(Format::CompareCsv);
    }
    for line in text.lines().take(4000) {
        let t = line.trim();
        if t.starts_with('|') {
            let cells: Vec<String> = t
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            let has = |n: &str| cells.iter().any(|c| c.eq_ignore_ascii_case(n));
            if super::compare::looks_like_header(&cells) {
                return Some(Format::CompareTxt);
            }
            if has("abnormal_info") && has("advice") {
                return Some(Format::Advisor);
            }
            if (has("Op Name") && has("Mod Name") && has("Attr"))
                || (has("Module Index") && has("Input/Output/Attr"))
            {
                return Some(Format::Statistic);
            }
            if has("Similarity") && (has("Module Name") || has("Acc Error")) {
                return Some(Format::Similarity);
            }
        }
        if super::sensitivity::looks_like_header(t) {
            return Some(Format::Sensitivity);
        }
        if t.starts_with("The bad case input index of each output") {
            return Some(Format::Badcase);
        }
        if t.starts_with("* Suffix '(I)' means this layer is Identity") {
            return Some(Format::Similarity);
        }
    }
    None
}

/// The binary container a file's first bytes announce. With [`detect`], the only code that reads
/// magic bytes: the session routes files by it and the tensor importer picks its reader by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// NumPy `.npy` (`\x93NUMPY`).
    Npy,
    /// A zip: NumPy `.npz` or a `torch.save` archive (told apart by its members).
    Zip,
    /// A bare pickle (legacy `torch.save`, `pickle.dump`): refused, with why.
    Pickle,
    /// safetensors (an 8-byte header length, then JSON).
    Safetensors,
    /// An ONNX model (a protobuf `ModelProto`).
    Onnx,
    /// A PNG image (`\x89PNG\r\n\x1a\n`): a sample input for the model runner.
    Png,
    /// A JPEG image (`FF D8 FF`): a sample input for the model runner.
    Jpeg,
}

impl Container {
    /// Read by random access (tensor dumps, models), not as a text stream.
    pub fn random_access(self) -> bool {
        !matches!(self, Container::Png | Container::Jpeg)
    }
}

/// The container of a binary file, if its first bytes (16 are enough) name one.
pub fn container(head: &[u8], size_bytes: u64) -> Option<Container> {
    if head.starts_with(b"\x93NUMPY") {
        Some(Container::Npy)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Container::Png)
    } else if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Container::Jpeg)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Container::Zip)
    } else if head.first() == Some(&0x80) && head.get(1).is_some_and(|v| (2..=5).contains(v)) {
        Some(Container::Pickle)
    } else if super::scales::looks_like_onnx(head) {
        Some(Container::Onnx)
    } else if super::tensor::safetensors::looks_like(head, size_bytes) {
        Some(Container::Safetensors)
    } else {
        None
    }
}

/// The words that mark a file as an image for the model runner (the UI finds them in a file's
/// report, as it finds a float model's).
pub const IMAGE_SAMPLE: &str = "a sample input for the model runner";

/// What a dropped image is: its kind, its size when the header gives it cheaply (PNG's IHDR).
fn image_sentence(c: Container, head: &[u8]) -> String {
    let size = match (c, head.get(16..24)) {
        (Container::Png, Some(b)) if &head[12..16] == b"IHDR" => {
            let w = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let h = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            format!(" {w}×{h}")
        }
        _ => String::new(),
    };
    let kind = if c == Container::Png { "PNG" } else { "JPEG" };
    format!(
        "a {kind} image{size}: {IMAGE_SAMPLE} (drop it beside a float ONNX model), not a report"
    )
}

/// Decide what a file is from its first bytes (up to [`SNIFF_BYTES`]) and its name.
pub fn detect(name: &str, head: &[u8], size_bytes: u64) -> Detection {
    let lower = name.to_ascii_lowercase();
    if size_bytes == 0 || head.is_empty() {
        return Detection::Rejected("the file is empty".into());
    }
    match container(head, size_bytes) {
        Some(Container::Npy | Container::Zip | Container::Safetensors) => {
            return Detection::Supported(Format::Tensors)
        }
        Some(Container::Onnx) => return Detection::Supported(Format::OnnxScales),
        Some(Container::Pickle) => return Detection::Rejected(PICKLE.into()),
        Some(c @ (Container::Png | Container::Jpeg)) => {
            return Detection::Rejected(image_sentence(c, head))
        }
        None => {}
    }
    if head.contains(&0) {
        let tensorish = [
            ".npz",
            ".npy",
            ".pt",
            ".pth",
            ".safetensors",
            ".onnx",
            ".opinfo",
        ]
        .iter()
        .any(|e| lower.ends_with(e));
        return Detection::Rejected(if tensorish {
            "named like a tensor dump or model, but its bytes are not one (no NumPy, zip, safetensors or ONNX header): a truncated or renamed file?".into()
        } else {
            "a binary file (it contains NUL bytes), not a text report".into()
        });
    }
    // The head may end inside a multi-byte character: decode only the valid prefix.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.valid_up_to() + 4 >= head.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Detection::Rejected("not UTF-8 text (a binary file?)".into()),
    };
    if super::sweep::looks_like_sweep(text.as_bytes()) {
        return Detection::Supported(Format::SimulatedSweep);
    }
    if super::journal::looks_like_journal(text.as_bytes()) {
        return Detection::Supported(Format::Journal);
    }
    if super::scales::looks_like_scales_json(text.as_bytes()) {
        return Detection::Supported(Format::ScalesJson);
    }
    if text.lines().any(model_check::is_signature_line) {
        return Detection::Supported(Format::ModelCheck);
    }
    if let Some(f) = report_format(text) {
        return Detection::Supported(f);
    }
    if lower.contains("model_check") || lower.contains("qconfig_info") {
        return Detection::Rejected(format!(
            "it is named like a model-check file, but none of its section headers (such as '{}' or \
             '{}') appear in the first {} KiB",
            model_check::SIGNATURE_LINES[8],
            model_check::SIGNATURE_LINES[6],
            SNIFF_BYTES / 1024
        ));
    }
    Detection::Rejected(format!(
        "not a format QuantLens knows: no model-check section and no QuantAnalysis table header in the first {} KiB",
        SNIFF_BYTES / 1024
    ))
}
