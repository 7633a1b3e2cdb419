//! NumPy `.npy`: magic, version, a Python-dict header (`descr`, `fortran_order`, `shape`), raw data.

use crate::engine::error::ParseError;

use super::{ByteSource, DataRef, ElemType, TensorEntry};

/// `'<f4'` → (type, big endian).
pub fn parse_descr(d: &str) -> Result<(ElemType, bool), ParseError> {
    let d = d.trim();
    let (order, code) = match d.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &d[1..]),
        _ => ('=', d),
    };
    let big = order == '>';
    let t = match code {
        "f2" | "e" => ElemType::F16,
        "f4" | "f" => ElemType::F32,
        "f8" | "d" => ElemType::F64,
        "i1" | "b" => ElemType::I8,
        "i2" | "h" => ElemType::I16,
        "i4" | "i" => ElemType::I32,
        "i8" | "q" | "l" => ElemType::I64,
        "u1" | "B" => ElemType::U8,
        "u2" | "H" => ElemType::U16,
        "u4" | "I" => ElemType::U32,
        "u8" | "Q" | "L" => ElemType::U64,
        "b1" | "?" => ElemType::Bool,
        "V2" => ElemType::BF16, // ml_dtypes bfloat16 is saved as a 2-byte void
        other => return Err(ParseError::from(format!("unsupported npy dtype '{other}'"))),
    };
    Ok((t, big))
}

fn dict_value<'a>(h: &'a str, key: &str) -> Option<&'a str> {
    let k1 = format!("'{key}':");
    let k2 = format!("\"{key}\":");
    let i = h
        .find(&k1)
        .map(|i| i + k1.len())
        .or_else(|| h.find(&k2).map(|i| i + k2.len()))?;
    let rest = h[i..].trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|e| e + 1)?
    } else if let Some(q) = rest.strip_prefix('\'') {
        q.find('\'').map(|e| e + 2)?
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

/// Parse the header of an npy stored at `offset` in `src`.
pub fn read_header<S: ByteSource + ?Sized>(
    src: &mut S,
    offset: u64,
    name: &str,
) -> Result<TensorEntry, ParseError> {
    let mut pre = [0u8; 12];
    let avail = src.size().saturating_sub(offset).min(12) as usize;
    if avail < 10 {
        return Err("the .npy file is truncated (no header)".into());
    }
    src.read_at(offset, &mut pre[..avail])
        .map_err(|e| e.to_string())?;
    let (hlen, hstart) = parse_preamble(&pre[..avail])?;
    // A v2/v3 header claims up to 4 GiB: check it against the file before allocating it.
    if (hstart as u64).saturating_add(hlen as u64) > src.size().saturating_sub(offset) {
        return Err("the .npy header is truncated".into());
    }
    let mut header = vec![0u8; hlen];
    src.read_at(offset + hstart as u64, &mut header)
        .map_err(|_| "the .npy header is truncated".to_string())?;
    let e = entry_from_header(&header, name, offset + (hstart + hlen) as u64)?;
    let need = e.numel() * e.elem.size_bytes() as u64;
    let have = src.size().saturating_sub(offset + (hstart + hlen) as u64);
    if have < need {
        return Err(ParseError::from(format!(
            "the .npy data is truncated: the header says {} elements ({need} bytes) but only {have} bytes follow",
            e.numel()
        )));
    }
    Ok(e)
}

/// (header length, header start) from the magic + version + length preamble.
pub fn parse_preamble(pre: &[u8]) -> Result<(usize, usize), ParseError> {
    if !pre.starts_with(b"\x93NUMPY") || pre.len() < 10 {
        return Err("not an .npy file (no \\x93NUMPY magic)".into());
    }
    match pre[6] {
        1 => Ok((u16::from_le_bytes([pre[8], pre[9]]) as usize, 10)),
        2 | 3 if pre.len() >= 12 => Ok((
            u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]) as usize,
            12,
        )),
        v @ 2..=3 => Err(ParseError::from(format!(
            "the .npy file is truncated (its version {v} preamble is cut at {} bytes)",
            pre.len()
        ))),
        v => Err(ParseError::from(format!(
            "not a readable .npy: it starts with numpy's magic, but its format version is {v}.{} where numpy writes 1.0, 2.0 or 3.0 (the file is damaged, or not written by numpy)",
            pre[7]
        ))),
    }
}

/// A tensor entry from the header dict; data starts at `data_offset`.
pub fn entry_from_header(
    header: &[u8],
    name: &str,
    data_offset: u64,
) -> Result<TensorEntry, ParseError> {
    if header.len() > 1 << 20 {
        return Err("the .npy header is implausibly large".into());
    }
    let h = std::str::from_utf8(header).map_err(|_| "the .npy header is not text".to_string())?;
    let descr = dict_value(h, "descr").ok_or("the .npy header has no 'descr'")?;
    if descr.starts_with('[') {
        return Err("structured (record) .npy arrays are not supported".into());
    }
    let (elem, big_endian) = parse_descr(descr.trim_matches('\''))?;
    let fortran = dict_value(h, "fortran_order").is_some_and(|v| v.starts_with("True"));
    let shape_txt = dict_value(h, "shape").ok_or("the .npy header has no 'shape'")?;
    let shape: Vec<u64> = shape_txt
        .trim_matches(['(', ')'])
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<u64>()
                .map_err(|_| format!("bad shape entry '{s}'"))
        })
        .collect::<Result<_, _>>()?;
    let numel = shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .ok_or("the shape overflows")?;
    // The bytes too: a shape just under 2^64 elements of 8 bytes overflowed here (fuzz, 2026-12-03).
    let len = numel
        .checked_mul(elem.size_bytes() as u64)
        .ok_or("the shape overflows")?;
    Ok(TensorEntry {
        name: name.to_string(),
        elem,
        shape,
        big_endian,
        fortran,
        data: DataRef::Raw {
            offset: data_offset,
            len,
        },
        scale: None,
        quant: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::encode::npy;

    #[test]
    fn header_and_data() {
        let f = npy("<f4", false, &[2, 3], &[0u8; 24]);
        let e = read_header(&mut f.as_slice(), 0, "x").expect("npy");
        assert_eq!(e.shape, vec![2, 3]);
        assert_eq!(e.elem, ElemType::F32);
        let f = npy(">i2", true, &[4], &[0u8; 8]);
        let e = read_header(&mut f.as_slice(), 0, "x").expect("npy");
        assert!(e.big_endian && e.fortran);
        let scalar = npy("<f8", false, &[], &[0u8; 8]);
        assert_eq!(
            read_header(&mut scalar.as_slice(), 0, "s")
                .expect("scalar")
                .numel(),
            1
        );
        let short = npy("<f4", false, &[10], &[0u8; 12]);
        assert!(read_header(&mut short.as_slice(), 0, "x")
            .expect_err("this input must be refused")
            .contains("truncated"));
        let rec = npy("[('a', '<f4')]", false, &[2], &[0u8; 8]);
        assert!(read_header(&mut rec.as_slice(), 0, "x").is_err());
    }
}
