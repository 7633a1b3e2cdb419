//! Decoders for the Python reprs found in table cells: dtypes and dtype lists, class reprs,
//! `torch.Size`, observer reprs, and Horizon module names like `add1[add](2)` or `conv(shared)`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A tensor dtype as the Horizon tools print it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    QInt4,
    QUInt4,
    QInt8,
    QUInt8,
    QInt16,
    QUInt16,
    QInt32,
    Float16,
    BFloat16,
    Float32,
    Float64,
    Bool,
    Int64,
    /// Anything else, kept verbatim.
    Other(String),
}

impl DType {
    /// Parse `qint8`, `'qint8'`, `torch.float32`, `torch.qint8`, `float32`… (quotes and spaces ignored).
    pub fn parse(s: &str) -> DType {
        let t = s.trim().trim_matches(|c| c == '\'' || c == '"').trim();
        let bare = t.strip_prefix("torch.").unwrap_or(t);
        match bare {
            "qint4" => DType::QInt4,
            "quint4" => DType::QUInt4,
            "qint8" | "int8" => DType::QInt8,
            "quint8" | "uint8" => DType::QUInt8,
            "qint16" | "int16" => DType::QInt16,
            "quint16" | "uint16" => DType::QUInt16,
            "qint32" | "int32" => DType::QInt32,
            "float16" | "half" => DType::Float16,
            "bfloat16" => DType::BFloat16,
            "float32" | "float" => DType::Float32,
            "float64" | "double" => DType::Float64,
            "bool" => DType::Bool,
            "int64" | "long" => DType::Int64,
            _ => DType::Other(t.to_string()),
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(
            self,
            DType::Float16 | DType::BFloat16 | DType::Float32 | DType::Float64
        )
    }

    /// int8/int16 activations: the dtypes a BPU computes in.
    pub fn is_low_precision_int(&self) -> bool {
        matches!(
            self,
            DType::QInt8
                | DType::QUInt8
                | DType::QInt16
                | DType::QUInt16
                | DType::QInt4
                | DType::QUInt4
        )
    }

    /// `(qmin, qmax)` of a quantized dtype.
    pub fn qrange(&self) -> Option<(i64, i64)> {
        match self {
            DType::QInt4 => Some((-8, 7)),
            DType::QUInt4 => Some((0, 15)),
            DType::QInt8 => Some((-128, 127)),
            DType::QUInt8 => Some((0, 255)),
            DType::QInt16 => Some((-32768, 32767)),
            DType::QUInt16 => Some((0, 65535)),
            DType::QInt32 => Some((i32::MIN as i64, i32::MAX as i64)),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DType::QInt4 => "qint4",
            DType::QUInt4 => "quint4",
            DType::QInt8 => "qint8",
            DType::QUInt8 => "quint8",
            DType::QInt16 => "qint16",
            DType::QUInt16 => "quint16",
            DType::QInt32 => "qint32",
            DType::Float16 => "torch.float16",
            DType::BFloat16 => "torch.bfloat16",
            DType::Float32 => "torch.float32",
            DType::Float64 => "torch.float64",
            DType::Bool => "torch.bool",
            DType::Int64 => "torch.int64",
            DType::Other(s) => s,
        };
        f.write_str(s)
    }
}

/// Parse a dtype cell: a Python list repr `['qint8', 'qint8']`, `[torch.float32]`, or a bare dtype
/// (older `qconfig_info.txt`). Empty cells and `None` give an empty list.
pub fn parse_dtype_list(cell: &str) -> Vec<DType> {
    let t = cell.trim();
    if t.is_empty() || t == "None" || t == "[]" {
        return Vec::new();
    }
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .or_else(|| t.strip_prefix('(').and_then(|s| s.strip_suffix(')')))
        .unwrap_or(t);
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "None")
        .map(DType::parse)
        .collect()
}

/// `<class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'>` → `horizon_plugin_pytorch.nn.qat.conv2d.Conv2d`.
/// A cell that is not a class repr is returned trimmed.
pub fn class_path(cell: &str) -> &str {
    let t = cell.trim();
    t.strip_prefix("<class '")
        .and_then(|s| s.strip_suffix("'>"))
        .unwrap_or(t)
}

/// Last component of a dotted path: `a.b.Conv2d` → `Conv2d`.
pub fn short_type(path: &str) -> &str {
    let p = class_path(path);
    p.rsplit('.').next().unwrap_or(p)
}

/// Kinds of module that matter to the qconfig checks.
pub fn is_quant_stub(type_path: &str) -> bool {
    matches!(short_type(type_path), "QuantStub" | "Quantize")
}

pub fn is_dequant_stub(type_path: &str) -> bool {
    matches!(short_type(type_path), "DeQuantStub" | "DeQuantize")
}

/// GEMM-like ops: the ones Horizon can give high-precision (float) output before a DeQuantStub.
pub fn is_gemm_like(type_path: &str) -> bool {
    let s = short_type(type_path);
    s.starts_with("Conv")
        || s.starts_with("Linear")
        || s.contains("Matmul")
        || s.contains("MatMul")
        || s.starts_with("ConvTranspose")
}

/// A module name as Horizon prints it: `base[method](k)` or `base(shared)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleName {
    /// Qualified module name without suffixes.
    pub base: String,
    /// FloatFunctional method, e.g. `add` in `add1[add]`.
    pub method: Option<String>,
    /// 0 for the first call; k for `(k)`, the k-th extra call of a shared module.
    pub call_index: u32,
    /// `(shared)` suffix of the fusable-groups table: the output goes to several consumers.
    pub shared_output: bool,
}

impl ModuleName {
    pub fn parse(s: &str) -> ModuleName {
        let mut rest = s.trim();
        let mut call_index = 0;
        let mut shared_output = false;
        let mut method = None;
        if let Some(r) = rest.strip_suffix("(shared)") {
            shared_output = true;
            rest = r;
        }
        if rest.ends_with(')') {
            if let Some(open) = rest.rfind('(') {
                let inner = &rest[open + 1..rest.len() - 1];
                if let Ok(k) = inner.parse::<u32>() {
                    call_index = k;
                    rest = &rest[..open];
                }
            }
        }
        if rest.ends_with(']') {
            if let Some(open) = rest.rfind('[') {
                let inner = &rest[open + 1..rest.len() - 1];
                if !inner.is_empty() && inner.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    method = Some(inner.to_string());
                    rest = &rest[..open];
                }
            }
        }
        ModuleName {
            base: rest.to_string(),
            method,
            call_index,
            shared_output,
        }
    }
}

/// Parent path of a dotted module name (`a.b.c` → `a.b`; a top-level name has parent `""`).
pub fn parent_path(name: &str) -> &str {
    name.rsplit_once('.').map(|(p, _)| p).unwrap_or("")
}

/// An observer cell: `MinMaxObserver` or `MinMaxObserver(averaging_constant=0.01)` or
/// `FixedScaleObserver(scale=tensor([3.0518e-05], device='cuda:0'),zero_point=...)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observer {
    pub name: String,
    pub args: Vec<(String, String)>,
}

impl Observer {
    pub fn parse(cell: &str) -> Option<Observer> {
        let t = cell.trim();
        if t.is_empty() || t == "None" {
            return None;
        }
        let (name, args_str) = match t.find('(') {
            Some(i) if t.ends_with(')') => (&t[..i], &t[i + 1..t.len() - 1]),
            _ => (t, ""),
        };
        let mut args = Vec::new();
        for part in split_top_level(args_str, ',') {
            if let Some((k, v)) = part.split_once('=') {
                args.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Some(Observer {
            name: name.trim().to_string(),
            args,
        })
    }

    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric argument, reading through `tensor([x], device=...)` wrappers.
    pub fn arg_f64(&self, key: &str) -> Option<f64> {
        let v = self.arg(key)?;
        first_number(v)
    }
}

/// Split on `sep` outside brackets and quotes (the engine's one splitter, `table::split_outside_brackets`).
pub fn split_top_level(s: &str, sep: char) -> Vec<String> {
    super::table::split_outside_brackets(s, |c| c == sep, true)
}

/// The first number in a string such as `tensor([3.0518e-05], device='cuda:0')`.
pub fn first_number(s: &str) -> Option<f64> {
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let starts = c.is_ascii_digit()
            || ((c == '-' || c == '+' || c == '.')
                && bytes
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_digit() || *n == '.'));
        if starts {
            let mut j = i + 1;
            while j < bytes.len()
                && (bytes[j].is_ascii_digit()
                    || bytes[j] == '.'
                    || bytes[j] == 'e'
                    || bytes[j] == 'E'
                    || ((bytes[j] == '-' || bytes[j] == '+') && matches!(bytes[j - 1], 'e' | 'E')))
            {
                j += 1;
            }
            let num: String = bytes[i..j].iter().collect();
            if let Ok(v) = num.parse::<f64>() {
                return Some(v);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// `torch.Size([1, 3, 4])` (or the csv form `torch.Size([1* 3* 4])`) → `[1, 3, 4]`.
pub fn parse_torch_size(cell: &str) -> Option<Vec<u64>> {
    let t = cell.trim();
    let inner = t.strip_prefix("torch.Size([")?.strip_suffix("])")?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    inner
        .split([',', '*'])
        .map(|p| p.trim().parse::<u64>().ok())
        .collect()
}

/// A numeric cell: `.7f`/`g`/Python `str(float)` numbers, `inf`, `-inf`, `nan`; empty or `None` → None.
pub fn parse_num(cell: &str) -> Option<f64> {
    let t = cell.trim();
    match t {
        "" | "None" | "null" | "-" => None,
        "inf" | "Inf" | "+inf" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-Inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" | "NaN" | "-nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok(),
    }
}

/// A flops cell `13271040(0.07%)` → (13271040, 0.07).
pub fn parse_flops(cell: &str) -> Option<(u64, f64)> {
    let t = cell.trim();
    let (n, rest) = t.split_once('(')?;
    let pct = rest.strip_suffix("%)")?;
    Some((n.trim().parse().ok()?, pct.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_lists() {
        assert_eq!(
            parse_dtype_list("['qint8', 'qint16']"),
            vec![DType::QInt8, DType::QInt16]
        );
        assert_eq!(parse_dtype_list("[torch.float32]"), vec![DType::Float32]);
        assert_eq!(parse_dtype_list("qint16"), vec![DType::QInt16]);
        assert_eq!(
            parse_dtype_list("[torch.float16, torch.float32]"),
            vec![DType::Float16, DType::Float32]
        );
        assert!(parse_dtype_list("").is_empty());
        assert_eq!(DType::parse("'qint32'").to_string(), "qint32");
    }

    #[test]
    fn module_names() {
        let m = ModuleName::parse("add1[add](2)");
        assert_eq!(
            (m.base.as_str(), m.method.as_deref(), m.call_index),
            ("add1", Some("add"), 2)
        );
        let m = ModuleName::parse("model.view.input_proj.0.0(shared)");
        assert!(m.shared_output);
        assert_eq!(m.base, "model.view.input_proj.0.0");
        assert_eq!(ModuleName::parse("dequant(1)").call_index, 1);
        assert_eq!(ModuleName::parse("layers.0").base, "layers.0");
    }

    #[test]
    fn observers() {
        let o = Observer::parse("FixedScaleObserver(scale=tensor([3.0518e-05], device='cuda:0'),zero_point=tensor([0], device='cuda:0'))").expect("observer");
        assert_eq!(o.name, "FixedScaleObserver");
        assert_eq!(o.arg_f64("scale"), Some(3.0518e-05));
        assert_eq!(o.arg_f64("zero_point"), Some(0.0));
        let o = Observer::parse("MinMaxObserver(averaging_constant=0)").expect("observer");
        assert_eq!(o.arg_f64("averaging_constant"), Some(0.0));
        assert_eq!(Observer::parse(""), None);
    }

    #[test]
    fn class_and_size() {
        assert_eq!(short_type("<class 'a.b.stubs.QuantStub'>"), "QuantStub");
        assert!(is_dequant_stub("<class 'a.DeQuantStub'>"));
        assert_eq!(
            parse_torch_size("torch.Size([1* 3* 4])"),
            Some(vec![1, 3, 4])
        );
        assert_eq!(parse_torch_size("torch.Size([])"), Some(vec![]));
        assert_eq!(
            first_number("Fixed scale 3.0517578125e-05"),
            Some(3.0517578125e-05)
        );
    }
}
