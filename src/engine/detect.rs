//! Format detection by content (the head of a file), with the file name only as a tie-breaker, and a
//! plain-words reason for every file that is rejected.

use super::model_check;
use serde::{Deserialize, Serialize};

/// How many bytes of a file detection looks at.
pub const SNIFF_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `model_check_result.txt` / `qconfig_info.txt` from `check_qat_model` / `prepare` / `check_qconfig`.
    ModelCheck,
}

impl Format {
    pub fn label(self) -> &'static str {
        match self {
            Format::ModelCheck => "Horizon model check (model_check_result.txt)",
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

fn known_later(name: &str, text: &str) -> Option<&'static str> {
    let has = |s: &str| text.contains(s);
    if has("mod_name") && has("base_op_type") {
        return Some("a QuantAnalysis per-layer comparison (compare_per_layer_out)");
    }
    if has("op_name") && has("sensitive_type") {
        return Some("a QuantAnalysis sensitivity table (*_sensitive_ops.txt)");
    }
    if has("abnormal_info") && has("advice") {
        return Some("a QuantAnalysis abnormal_layer_advisor.txt");
    }
    if has("Op Name") && has("Mod Name") && has("Attr") {
        return Some("a QuantAnalysis statistic.txt");
    }
    if has("The bad case input index") {
        return Some("a QuantAnalysis badcase.txt");
    }
    if name.ends_with("similarity.txt") || has("Suffix '(I)' means") {
        return Some("a featuremap_similarity report");
    }
    None
}

/// Decide what a file is from its first bytes (up to [`SNIFF_BYTES`]) and its name.
pub fn detect(name: &str, head: &[u8], size_bytes: u64) -> Detection {
    let lower = name.to_ascii_lowercase();
    if size_bytes == 0 || head.is_empty() {
        return Detection::Rejected("the file is empty".into());
    }
    if head.starts_with(b"PK\x03\x04") {
        return Detection::Rejected(
            "a zip archive (PyTorch .pt/.pth or NumPy .npz); tensor files are not supported yet"
                .into(),
        );
    }
    if head.starts_with(b"\x93NUMPY") {
        return Detection::Rejected(
            "a NumPy .npy tensor; tensor files are not supported yet".into(),
        );
    }
    if head.starts_with(b"\x80\x02")
        || head.starts_with(b"\x80\x04")
        || head.starts_with(b"\x80\x05")
    {
        return Detection::Rejected(
            "a Python pickle; pickled objects are not supported yet".into(),
        );
    }
    if head.contains(&0) {
        return Detection::Rejected(
            "a binary file (it contains NUL bytes), not a text report".into(),
        );
    }
    // The head may end inside a multi-byte character: decode only the valid prefix.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.valid_up_to() + 4 >= head.len() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return Detection::Rejected("not UTF-8 text (a binary file?)".into()),
    };
    if text.lines().any(model_check::is_signature_line) {
        return Detection::Supported(Format::ModelCheck);
    }
    if let Some(what) = known_later(&lower, text) {
        return Detection::Rejected(format!(
            "this looks like {what}; QuantLens reads model-check files in this version, and this \
             format is next on the list"
        ));
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
        "not a format QuantLens knows: no model-check section header in the first {} KiB",
        SNIFF_BYTES / 1024
    ))
}
