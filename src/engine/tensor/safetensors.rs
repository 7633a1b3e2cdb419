//! safetensors: an 8-byte little-endian header length, a JSON header `{name: {dtype, shape,
//! data_offsets}}`, then the data (little-endian, C order).

use crate::engine::error::ParseError;

use super::{ByteSource, DataRef, ElemType, TensorEntry};

/// Plausible safetensors start: a header length that fits in the file, followed by `{`.
pub fn looks_like(head: &[u8], size: u64) -> bool {
    if head.len() < 9 {
        return false;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&head[..8]);
    let n = u64::from_le_bytes(a);
    // A lying length near u64::MAX must not wrap around into "fits".
    n >= 2 && n.checked_add(8).is_some_and(|end| end <= size) && head[8] == b'{'
}

fn dtype(s: &str) -> Result<ElemType, ParseError> {
    Ok(match s {
        "F16" => ElemType::F16,
        "BF16" => ElemType::BF16,
        "F32" => ElemType::F32,
        "F64" => ElemType::F64,
        "I8" => ElemType::I8,
        "I16" => ElemType::I16,
        "I32" => ElemType::I32,
        "I64" => ElemType::I64,
        "U8" => ElemType::U8,
        "U16" => ElemType::U16,
        "U32" => ElemType::U32,
        "U64" => ElemType::U64,
        "BOOL" => ElemType::Bool,
        other => {
            return Err(ParseError::from(format!(
                "unsupported safetensors dtype {other}"
            )))
        }
    })
}

pub fn list<S: ByteSource + ?Sized>(src: &mut S) -> Result<Vec<TensorEntry>, ParseError> {
    let mut a = [0u8; 8];
    src.read_at(0, &mut a).map_err(|e| e.to_string())?;
    let n = u64::from_le_bytes(a);
    if n > 100 << 20 || n.saturating_add(8) > src.size() {
        return Err("the safetensors header length is implausible (truncated file?)".into());
    }
    let mut header = vec![0u8; n as usize];
    src.read_at(8, &mut header).map_err(|e| e.to_string())?;
    let v: serde_json::Value = serde_json::from_slice(&header)
        .map_err(|e| format!("the safetensors header is not JSON: {e}"))?;
    let obj = v
        .as_object()
        .ok_or("the safetensors header is not an object")?;
    let base = 8 + n;
    let mut out = Vec::new();
    for (name, t) in obj {
        if name == "__metadata__" {
            continue;
        }
        let elem = dtype(
            t["dtype"]
                .as_str()
                .ok_or_else(|| format!("{name}: no dtype"))?,
        )?;
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .ok_or_else(|| format!("{name}: no shape"))?
            .iter()
            .map(|d| d.as_u64().ok_or_else(|| format!("{name}: bad shape")))
            .collect::<Result<_, _>>()?;
        let offs = t["data_offsets"]
            .as_array()
            .ok_or_else(|| format!("{name}: no data_offsets"))?;
        let (s, e) = (
            offs.first()
                .and_then(|x| x.as_u64())
                .ok_or_else(|| format!("{name}: bad data_offsets"))?,
            offs.get(1)
                .and_then(|x| x.as_u64())
                .ok_or_else(|| format!("{name}: bad data_offsets"))?,
        );
        // Checked: a shape or offsets near u64::MAX must be refused, not wrap into a match.
        let bytes = shape
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|numel| numel.checked_mul(elem.size_bytes() as u64));
        if e < s || Some(e - s) != bytes || base.saturating_add(e) > src.size() {
            return Err(ParseError::from(format!(
                "{name}: data_offsets do not match the shape or the file size"
            )));
        }
        out.push(TensorEntry {
            name: name.clone(),
            elem,
            shape,
            big_endian: false,
            fortran: false,
            data: DataRef::Raw {
                offset: base + s,
                len: e - s,
            },
            scale: None,
            quant: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
