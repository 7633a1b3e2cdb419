//! NumPy `.npz`: a zip of `.npy` members, stored (`np.savez`) or deflated (`np.savez_compressed`).
//! Reads the central directory (zip64 included) and each member's npy header; elements are then
//! streamed from the member (inflated on the fly when deflated).

use crate::engine::error::ParseError;

use super::{npy, ByteSource, DataRef, TensorEntry};

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

/// A zip member: its name, compression method, compressed and uncompressed lengths and local
/// header offset.
pub struct Member {
    pub name: String,
    pub method: u16,
    pub comp_len: u64,
    /// Uncompressed length as the directory claims it (checked when the member is read).
    pub raw_len: u64,
    pub local_offset: u64,
}

/// A member's bytes, whole: stored or deflated, at most `cap_bytes` once inflated (a member that
/// claims more, or inflates past its claim, is refused: a zip bomb stops there).
pub fn read_member<S: ByteSource + ?Sized>(
    src: &mut S,
    m: &Member,
    cap_bytes: u64,
) -> Result<Vec<u8>, ParseError> {
    if m.raw_len > cap_bytes {
        return Err(ParseError::from(format!(
            "{}: {} MiB uncompressed, over the {} MiB a member may have here",
            m.name,
            m.raw_len >> 20,
            cap_bytes >> 20
        )));
    }
    let start = data_start(src, m)?;
    if m.comp_len > cap_bytes {
        return Err(ParseError::from(format!("{}: too large", m.name)));
    }
    let mut packed = vec![0u8; m.comp_len as usize];
    src.read_at(start, &mut packed)
        .map_err(|e| format!("{}: {e}", m.name))?;
    let bytes = match m.method {
        0 => packed,
        8 => miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, m.raw_len as usize)
            .map_err(|_| {
                format!(
                    "{}: the deflated data is corrupt or inflates past the {} bytes the directory claims",
                    m.name, m.raw_len
                )
            })?,
        other => {
            return Err(ParseError::from(format!(
                "{}: compression method {other} (only stored and deflate are read)",
                m.name
            )))
        }
    };
    if bytes.len() as u64 != m.raw_len {
        return Err(ParseError::from(format!(
            "{}: {} bytes, the directory claims {}",
            m.name,
            bytes.len(),
            m.raw_len
        )));
    }
    Ok(bytes)
}

/// Where a member's data starts (after its local header).
pub fn data_start<S: ByteSource + ?Sized>(src: &mut S, m: &Member) -> Result<u64, ParseError> {
    let mut lh = [0u8; 30];
    src.read_at(m.local_offset, &mut lh)
        .map_err(|e| format!("{}: {e}", m.name))?;
    if !lh.starts_with(b"PK\x03\x04") {
        return Err(ParseError::from(format!(
            "{}: corrupt local header",
            m.name
        )));
    }
    // Saturating: zip64 offsets and lengths near u64::MAX must not wrap into "fits".
    let data = m
        .local_offset
        .saturating_add(30 + u16_at(&lh, 26) as u64 + u16_at(&lh, 28) as u64);
    if data.saturating_add(m.comp_len) > src.size() {
        return Err(ParseError::from(format!(
            "{}: the member is truncated",
            m.name
        )));
    }
    Ok(data)
}

/// The members listed in a zip's central directory.
pub fn central_directory<S: ByteSource + ?Sized>(src: &mut S) -> Result<Vec<Member>, ParseError> {
    let size = src.size();
    let tail_len = size.min(65_557) as usize;
    let mut tail = vec![0u8; tail_len];
    src.read_at(size - tail_len as u64, &mut tail)
        .map_err(|e| e.to_string())?;
    let eocd = (0..tail_len.saturating_sub(21))
        .rev()
        .find(|&i| tail[i..].starts_with(b"PK\x05\x06"))
        .ok_or("not a complete zip archive (no end-of-central-directory record: truncated?)")?;
    let mut count = u16_at(&tail, eocd + 10) as u64;
    let mut cd_size = u32_at(&tail, eocd + 12) as u64;
    let mut cd_off = u32_at(&tail, eocd + 16) as u64;
    if cd_off == 0xffff_ffff || count == 0xffff {
        // zip64: the locator sits just before the EOCD record.
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..].starts_with(b"PK\x06\x07"))
            .ok_or("zip64 locator missing")?;
        let rec_off = u64_at(&tail, loc + 8);
        let mut rec = [0u8; 56];
        src.read_at(rec_off, &mut rec).map_err(|e| e.to_string())?;
        if !rec.starts_with(b"PK\x06\x06") {
            return Err("zip64 end record missing".into());
        }
        count = u64_at(&rec, 32);
        cd_size = u64_at(&rec, 40);
        cd_off = u64_at(&rec, 48);
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > size) || cd_size > 64 << 20 {
        return Err("the zip central directory points outside the file".into());
    }
    let mut cd = vec![0u8; cd_size as usize];
    src.read_at(cd_off, &mut cd).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut i = 0usize;
    for _ in 0..count {
        if i + 46 > cd.len() || !cd[i..].starts_with(b"PK\x01\x02") {
            return Err("corrupt zip central directory".into());
        }
        let method = u16_at(&cd, i + 10);
        let mut comp_len = u32_at(&cd, i + 20) as u64;
        let mut raw_len = u32_at(&cd, i + 24) as u64;
        let name_len = u16_at(&cd, i + 28) as usize;
        let extra_len = u16_at(&cd, i + 30) as usize;
        let comment_len = u16_at(&cd, i + 32) as usize;
        let mut local_offset = u32_at(&cd, i + 42) as u64;
        let name_end = i + 46 + name_len;
        if name_end + extra_len > cd.len() {
            return Err("corrupt zip central directory".into());
        }
        let name = String::from_utf8_lossy(&cd[i + 46..name_end]).into_owned();
        // zip64 extra field: the 0xffffffff fields in order raw, comp, offset.
        let mut e = name_end;
        while e + 4 <= name_end + extra_len {
            let id = u16_at(&cd, e);
            let len = u16_at(&cd, e + 2) as usize;
            if id == 1 {
                let mut p = e + 4;
                if raw_len == 0xffff_ffff && p + 8 <= e + 4 + len {
                    raw_len = u64_at(&cd, p);
                    p += 8;
                }
                if comp_len == 0xffff_ffff && p + 8 <= e + 4 + len {
                    comp_len = u64_at(&cd, p);
                    p += 8;
                }
                if local_offset == 0xffff_ffff && p + 8 <= e + 4 + len {
                    local_offset = u64_at(&cd, p);
                }
            }
            e += 4 + len;
        }
        out.push(Member {
            name,
            method,
            comp_len,
            raw_len,
            local_offset,
        });
        i = name_end + extra_len + comment_len;
    }
    Ok(out)
}

/// The members a zip's local headers show, read from its start, for a zip whose directory (at
/// its end) is missing: a copy or download cut short. Each whole member in order, and where the
/// scan stopped, in words: inside a member, at the directory, or at a member whose lengths follow
/// its data (a data descriptor: its end cannot be found without the directory).
pub fn local_members<S: ByteSource + ?Sized>(src: &mut S) -> (Vec<Member>, String) {
    let size = src.size();
    let mut out: Vec<Member> = Vec::new();
    let mut off = 0u64;
    let after = |out: &[Member]| match out.last() {
        Some(m) => format!("after `{}`", m.name),
        None => "before its first member".to_string(),
    };
    loop {
        let mut lh = [0u8; 30];
        if off.saturating_add(30) > size || src.read_at(off, &mut lh).is_err() {
            let end = if off == size {
                format!("right {}", after(&out))
            } else {
                format!("inside the header of the member {}", after(&out))
            };
            return (out, end);
        }
        if lh.starts_with(b"PK\x01\x02") {
            return (out, "inside its directory, after every member".to_string());
        }
        if !lh.starts_with(b"PK\x03\x04") {
            let end = format!("in bytes that are not a zip member, {}", after(&out));
            return (out, end);
        }
        let flags = u16_at(&lh, 6);
        let method = u16_at(&lh, 8);
        let mut comp_len = u32_at(&lh, 18) as u64;
        let mut raw_len = u32_at(&lh, 22) as u64;
        let (name_len, extra_len) = (u16_at(&lh, 26) as usize, u16_at(&lh, 28) as usize);
        let data = off + 30 + (name_len + extra_len) as u64;
        let mut var = vec![0u8; name_len + extra_len];
        if data > size || src.read_at(off + 30, &mut var).is_err() {
            let end = format!("inside the header of the member {}", after(&out));
            return (out, end);
        }
        let name = String::from_utf8_lossy(&var[..name_len]).into_owned();
        // zip64 extra field: the uncompressed then the compressed length.
        let mut e = name_len;
        while e + 4 <= var.len() {
            let (id, len) = (u16_at(&var, e), u16_at(&var, e + 2) as usize);
            if id == 1 && e + 4 + 16 <= var.len() && len >= 16 {
                raw_len = u64_at(&var, e + 4);
                comp_len = u64_at(&var, e + 12);
            }
            e += 4 + len;
        }
        if flags & 8 != 0 {
            return (
                out,
                format!("at `{name}`, whose lengths follow its data (the members from there on need the directory)"),
            );
        }
        let end = data.saturating_add(comp_len);
        if end > size {
            return (out, format!("inside `{name}`"));
        }
        out.push(Member {
            name,
            method,
            comp_len,
            raw_len,
            local_offset: off,
        });
        off = end;
    }
}

/// The `.npy` members of an `.npz`, named without the `.npy` suffix (as `np.load` names them).
pub fn list<S: ByteSource + ?Sized>(src: &mut S) -> Result<Vec<TensorEntry>, ParseError> {
    let members = central_directory(src)?;
    list_members(src, members)
}

/// The `.npy` ones of these members (from the directory, or [`local_members`]).
pub fn list_members<S: ByteSource + ?Sized>(
    src: &mut S,
    members: Vec<Member>,
) -> Result<Vec<TensorEntry>, ParseError> {
    let mut out = Vec::new();
    for m in members {
        if !m.name.ends_with(".npy") {
            continue;
        }
        let name = m.name.trim_end_matches(".npy").to_string();
        // Checked against the file, saturating (zip64 lengths near u64::MAX must not wrap).
        let data = data_start(src, &m)?;
        match m.method {
            0 => {
                let mut e =
                    npy::read_header(src, data, &name).map_err(|e| format!("{name}: {e}"))?;
                if let DataRef::Raw { offset, len } = e.data {
                    if offset.saturating_add(len) > data + m.comp_len {
                        return Err(ParseError::from(format!(
                            "{name}: the member is shorter than its header says"
                        )));
                    }
                }
                e.name = name;
                out.push(e);
            }
            8 => {
                // Inflate just enough to read the npy header; elements are inflated while streaming.
                let mut inf = super::Inflater::for_header(data, m.comp_len);
                let mut head = Vec::new();
                inf.read(src, 12, &mut head)
                    .map_err(|e| format!("{name}: {e}"))?;
                let (hlen, hstart) =
                    npy::parse_preamble(&head).map_err(|e| format!("{name}: {e}"))?;
                inf.read(src, hstart + hlen, &mut head)
                    .map_err(|e| format!("{name}: {e}"))?;
                if head.len() < hstart + hlen {
                    return Err(ParseError::from(format!(
                        "{name}: the compressed npy header is truncated"
                    )));
                }
                let mut e = npy::entry_from_header(&head[hstart..hstart + hlen], &name, 0)
                    .map_err(|e| format!("{name}: {e}"))?;
                e.data = DataRef::Deflate {
                    offset: data,
                    len: m.comp_len,
                    skip: (hstart + hlen) as u64,
                };
                out.push(e);
            }
            other => {
                return Err(ParseError::from(format!(
                "{name}: zip compression method {other} is not supported (stored and deflate are)"
            )))
            }
        }
    }
    if out.is_empty() {
        return Err(
            "the zip archive holds no .npy member (a PyTorch .pt file? not supported yet)".into(),
        );
    }
    Ok(out)
}
