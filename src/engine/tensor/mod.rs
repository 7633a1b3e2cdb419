//! Tensor dump formats (detected by content, each importer its own module) behind one random-access
//! byte source, and streaming element readers that decode any supported dtype to f32 in slices.

use crate::engine::error::ParseError;

pub mod npy;
pub mod npz;
pub mod safetensors;
pub mod torch;

use crate::engine::detect::{container, Container};
use serde::{Deserialize, Serialize};
use std::io;

/// Random access to a file's bytes: a native file, a browser Blob (read in slices), or memory.
pub trait ByteSource {
    fn size(&self) -> u64;
    /// Fill `buf` from `offset`; an error if the source ends first.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ByteSource for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= self.len())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the file",
                )
            })?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

impl ByteSource for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

/// A native file (the CLI).
pub struct FileSource {
    file: std::fs::File,
    size_bytes: u64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> io::Result<FileSource> {
        let file = std::fs::File::open(path)?;
        let size_bytes = file.metadata()?.len();
        Ok(FileSource { file, size_bytes })
    }
}

impl ByteSource for FileSource {
    fn size(&self) -> u64 {
        self.size_bytes
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        self.file.seek(SeekFrom::Start(offset))?;
        self.file.read_exact(buf)
    }
}

/// Element types of the dumps QuantLens reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElemType {
    F16,
    BF16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl ElemType {
    pub fn size_bytes(self) -> usize {
        match self {
            ElemType::I8 | ElemType::U8 | ElemType::Bool => 1,
            ElemType::F16 | ElemType::BF16 | ElemType::I16 | ElemType::U16 => 2,
            ElemType::F32 | ElemType::I32 | ElemType::U32 => 4,
            ElemType::F64 | ElemType::I64 | ElemType::U64 => 8,
        }
    }

    pub fn is_int(self) -> bool {
        !matches!(
            self,
            ElemType::F16 | ElemType::BF16 | ElemType::F32 | ElemType::F64
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            ElemType::F16 => "float16",
            ElemType::BF16 => "bfloat16",
            ElemType::F32 => "float32",
            ElemType::F64 => "float64",
            ElemType::I8 => "int8",
            ElemType::I16 => "int16",
            ElemType::I32 => "int32",
            ElemType::I64 => "int64",
            ElemType::U8 => "uint8",
            ElemType::U16 => "uint16",
            ElemType::U32 => "uint32",
            ElemType::U64 => "uint64",
            ElemType::Bool => "bool",
        }
    }
}

/// Where a tensor's elements are in its file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DataRef {
    /// Raw bytes at `[offset, offset + len)`.
    Raw { offset: u64, len: u64 },
    /// A deflate stream at `[offset, offset + len)`; the element bytes start `skip` bytes into
    /// the inflated stream (after an npy header inside an `.npz` member).
    Deflate { offset: u64, len: u64, skip: u64 },
}

/// One tensor found in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    pub elem: ElemType,
    pub shape: Vec<u64>,
    pub big_endian: bool,
    /// Fortran (column-major) element order.
    pub fortran: bool,
    pub data: DataRef,
    /// Per-tensor scale of a quantized tensor, when the file says it.
    #[serde(default, with = "crate::engine::num::opt")]
    pub scale: Option<f64>,
    /// Quantization parameters of a quantized tensor (a PyTorch qtensor): the reader dequantizes.
    #[serde(default)]
    pub quant: Option<QuantInfo>,
}

/// `(q − zero_point) · scale`, per tensor (`axis` None, one scale) or per channel along `axis`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuantInfo {
    #[serde(default, with = "crate::engine::num::vec")]
    pub scales: Vec<f64>,
    pub zero_points: Vec<i64>,
    pub axis: Option<usize>,
}

impl TensorEntry {
    pub fn numel(&self) -> u64 {
        // Saturating: a lying shape (dimensions whose product passes u64) must not panic here;
        // its readers refuse it against the file's real size.
        crate::engine::metrics::dims_product(&self.shape)
    }

    /// Integer values without quantization parameters (a raw int8 dump): they need a scale.
    pub fn is_raw_int(&self) -> bool {
        self.elem.is_int() && self.quant.is_none()
    }
}

/// f16 bits → f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match exp {
        0 if frac == 0 => sign,
        0 => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = frac;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((f & 0x3ff) << 13)
        }
        0x1f => sign | 0x7f80_0000 | (frac << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// Decode `bytes` (whole elements) of type `t` into `out` as f32.
pub fn decode(t: ElemType, big_endian: bool, bytes: &[u8], out: &mut Vec<f32>) {
    macro_rules! each {
        ($n:expr, $conv:expr) => {{
            // `extend` over an exact-size iterator: one reservation and a loop LLVM vectorises.
            out.extend(bytes.chunks_exact($n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                $conv(a)
            }));
        }};
    }
    match (t, big_endian) {
        (ElemType::F32, false) => each!(4, f32::from_le_bytes),
        (ElemType::F32, true) => each!(4, f32::from_be_bytes),
        (ElemType::F64, false) => each!(8, |a| f64::from_le_bytes(a) as f32),
        (ElemType::F64, true) => each!(8, |a| f64::from_be_bytes(a) as f32),
        (ElemType::F16, false) => each!(2, |a| f16_to_f32(u16::from_le_bytes(a))),
        (ElemType::F16, true) => each!(2, |a| f16_to_f32(u16::from_be_bytes(a))),
        (ElemType::BF16, false) => {
            each!(2, |a| f32::from_bits((u16::from_le_bytes(a) as u32) << 16))
        }
        (ElemType::BF16, true) => {
            each!(2, |a| f32::from_bits((u16::from_be_bytes(a) as u32) << 16))
        }
        (ElemType::I8, _) => each!(1, |a: [u8; 1]| a[0] as i8 as f32),
        (ElemType::U8, _) => each!(1, |a: [u8; 1]| a[0] as f32),
        (ElemType::Bool, _) => each!(1, |a: [u8; 1]| (a[0] != 0) as u8 as f32),
        (ElemType::I16, false) => each!(2, |a| i16::from_le_bytes(a) as f32),
        (ElemType::I16, true) => each!(2, |a| i16::from_be_bytes(a) as f32),
        (ElemType::U16, false) => each!(2, |a| u16::from_le_bytes(a) as f32),
        (ElemType::U16, true) => each!(2, |a| u16::from_be_bytes(a) as f32),
        (ElemType::I32, false) => each!(4, |a| i32::from_le_bytes(a) as f32),
        (ElemType::I32, true) => each!(4, |a| i32::from_be_bytes(a) as f32),
        (ElemType::U32, false) => each!(4, |a| u32::from_le_bytes(a) as f32),
        (ElemType::U32, true) => each!(4, |a| u32::from_be_bytes(a) as f32),
        (ElemType::I64, false) => each!(8, |a| i64::from_le_bytes(a) as f32),
        (ElemType::I64, true) => each!(8, |a| i64::from_be_bytes(a) as f32),
        (ElemType::U64, false) => each!(8, |a| u64::from_le_bytes(a) as f32),
        (ElemType::U64, true) => each!(8, |a| u64::from_be_bytes(a) as f32),
    }
}

/// Reads a tensor's elements as f32, a slice at a time (bounded memory whatever the tensor size).
pub struct ElemReader<'a, S: ByteSource + ?Sized> {
    src: &'a mut S,
    entry: TensorEntry,
    /// Element bytes delivered so far.
    done_bytes: u64,
    total_bytes: u64,
    inflate: Option<Box<Inflater>>,
    raw: Vec<u8>,
}

/// Streaming inflate state for a deflated `.npz` member.
pub struct Inflater {
    state: Box<miniz_oxide::inflate::stream::InflateState>,
    in_pos: u64,
    in_end: u64,
    inbuf: Vec<u8>,
    in_start: usize,
    /// Inflated bytes not yet delivered: `out[out_start..out_end]` (a slice inflates up to
    /// [`READ_SLICE_BYTES`], a caller may want fewer).
    out: Vec<u8>,
    out_start: usize,
    out_end: usize,
    to_skip: u64,
    finished: bool,
    /// Compressed bytes read per slice.
    slice: usize,
}

/// Bytes read from the source per slice.
pub const READ_SLICE_BYTES: usize = 1 << 20;

/// Bytes read and inflated per slice when only a member's `.npy` header is wanted (listing an
/// `.npz`): a whole slice per member inflated up to 1 MiB each, 1.4 s in the browser for 32
/// members of 4 MiB.
const HEADER_SLICE_BYTES: usize = 4096;

impl Inflater {
    fn new(offset: u64, len: u64, skip: u64) -> Inflater {
        Inflater::with_slice(offset, len, skip, READ_SLICE_BYTES)
    }

    /// An inflater for a member's first bytes (its header): small slices.
    pub(crate) fn for_header(offset: u64, len: u64) -> Inflater {
        Inflater::with_slice(offset, len, 0, HEADER_SLICE_BYTES)
    }

    fn with_slice(offset: u64, len: u64, skip: u64, slice: usize) -> Inflater {
        Inflater {
            slice,
            state: miniz_oxide::inflate::stream::InflateState::new_boxed(
                miniz_oxide::DataFormat::Raw,
            ),
            in_pos: offset,
            in_end: offset + len,
            inbuf: Vec::new(),
            in_start: 0,
            out: vec![0u8; slice],
            out_start: 0,
            out_end: 0,
            to_skip: skip,
            finished: false,
        }
    }

    /// Inflate up to `want` bytes into `dst` (appending); fewer only at the stream's end. What a
    /// slice inflated beyond `want` is kept for the next call.
    fn read<S: ByteSource + ?Sized>(
        &mut self,
        src: &mut S,
        want: usize,
        dst: &mut Vec<u8>,
    ) -> io::Result<()> {
        use miniz_oxide::inflate::stream::inflate;
        use miniz_oxide::{MZError, MZFlush, MZStatus};
        while dst.len() < want {
            if self.out_start < self.out_end {
                let n = (want - dst.len()).min(self.out_end - self.out_start);
                dst.extend_from_slice(&self.out[self.out_start..self.out_start + n]);
                self.out_start += n;
                continue;
            }
            if self.finished {
                break;
            }
            if self.in_start >= self.inbuf.len() && self.in_pos < self.in_end {
                let n = ((self.in_end - self.in_pos) as usize).min(self.slice);
                self.inbuf.resize(n, 0);
                src.read_at(self.in_pos, &mut self.inbuf)?;
                self.in_pos += n as u64;
                self.in_start = 0;
            }
            // Never `MZFlush::Finish`: miniz_oxide takes a first call with Finish as "all output
            // fits in this buffer" and fails the stream (`Data`) on the next call when it does not
            // (a member under one slice that inflates past one slice: 10 MB of zeros). The end is
            // the stream's own end marker.
            let res = inflate(
                &mut self.state,
                &self.inbuf[self.in_start..],
                &mut self.out,
                MZFlush::None,
            );
            self.in_start += res.bytes_consumed;
            let skip = (self.to_skip.min(res.bytes_written as u64)) as usize;
            self.to_skip -= skip as u64;
            self.out_start = skip;
            self.out_end = res.bytes_written;
            match res.status {
                Ok(MZStatus::StreamEnd) => self.finished = true,
                Ok(_) => {}
                // No progress is judged below, whatever the status says.
                Err(MZError::Buf) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("corrupt deflate data ({e:?})"),
                    ))
                }
            }
            if res.bytes_written == 0 && res.bytes_consumed == 0 && !self.finished {
                let ended = self.in_start >= self.inbuf.len() && self.in_pos >= self.in_end;
                return Err(io::Error::new(
                    if ended {
                        io::ErrorKind::UnexpectedEof
                    } else {
                        io::ErrorKind::InvalidData
                    },
                    if ended {
                        "the compressed member ends early"
                    } else {
                        "corrupt deflate data (no progress)"
                    },
                ));
            }
        }
        Ok(())
    }
}

impl<'a, S: ByteSource + ?Sized> ElemReader<'a, S> {
    pub fn new(src: &'a mut S, entry: &TensorEntry) -> ElemReader<'a, S> {
        let total_bytes = entry.numel().saturating_mul(entry.elem.size_bytes() as u64);
        let inflate = match entry.data {
            DataRef::Deflate { offset, len, skip } => {
                Some(Box::new(Inflater::new(offset, len, skip)))
            }
            DataRef::Raw { .. } => None,
        };
        ElemReader {
            src,
            entry: entry.clone(),
            done_bytes: 0,
            total_bytes,
            inflate,
            raw: Vec::new(),
        }
    }

    /// Decode up to `max_elems` more elements into `out` (cleared first). Returns how many; 0 at the end.
    pub fn next_chunk(&mut self, out: &mut Vec<f32>, max_elems: usize) -> io::Result<usize> {
        out.clear();
        let es = self.entry.elem.size_bytes() as u64;
        let left = self.total_bytes - self.done_bytes;
        let want = (max_elems as u64 * es).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        self.raw.clear();
        match (&self.entry.data, self.inflate.as_mut()) {
            (DataRef::Raw { offset, .. }, _) if is_native_f32(&self.entry) => {
                let first = self.done_bytes / es;
                read_native_f32(self.src, offset + self.done_bytes, want / 4, out)?;
                self.done_bytes += want as u64;
                if let Some(q) = &self.entry.quant {
                    dequantize(q, &self.entry, first, out);
                }
                return Ok(out.len());
            }
            (DataRef::Raw { offset, .. }, _) => {
                self.raw.resize(want, 0);
                self.src.read_at(offset + self.done_bytes, &mut self.raw)?;
            }
            (_, Some(inf)) => {
                inf.read(self.src, want, &mut self.raw)?;
                if self.raw.len() < want {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the compressed member holds fewer elements than its shape says",
                    ));
                }
                self.raw.truncate(want);
            }
            _ => return Err(io::Error::other("inconsistent tensor reference")),
        }
        let first = self.done_bytes / es;
        self.done_bytes += want as u64;
        decode(self.entry.elem, self.entry.big_endian, &self.raw, out);
        if let Some(q) = &self.entry.quant {
            dequantize(q, &self.entry, first, out);
        }
        Ok(out.len())
    }

    pub fn done_bytes(&self) -> u64 {
        self.done_bytes
    }
}

/// Float32 stored in this machine's byte order (little-endian: x86, ARM, wasm): its bytes are
/// the values, read straight into the output with no decoding pass.
fn is_native_f32(e: &TensorEntry) -> bool {
    e.elem == ElemType::F32 && e.big_endian == cfg!(target_endian = "big")
}

/// Read `n` float32 values in native byte order at `offset` into `out` (cleared first): one copy
/// from the source into the values, none through a byte buffer.
fn read_native_f32<S: ByteSource + ?Sized>(
    src: &mut S,
    offset: u64,
    n: usize,
    out: &mut Vec<f32>,
) -> io::Result<()> {
    out.clear();
    out.resize(n, 0.0);
    // SAFETY: the byte view covers exactly the `n` initialised f32 of `out` (alignment 4 ≥ 1),
    // and every bit pattern is a valid f32, so whatever `read_at` writes leaves valid values.
    let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), n * 4) };
    if let Err(e) = src.read_at(offset, bytes) {
        out.clear();
        return Err(e);
    }
    Ok(())
}

/// Read `n` elements from flat position `start` of a tensor stored raw (random access).
pub fn read_range<S: ByteSource + ?Sized>(
    src: &mut S,
    e: &TensorEntry,
    start: u64,
    n: usize,
    out: &mut Vec<f32>,
) -> io::Result<()> {
    let (offset, _) = raw_range(e, start, n)?;
    decode_range(e, start, n, out, &mut |buf| src.read_at(offset, buf))
}

/// Where `n` elements from flat position `start` of a tensor stored raw lie in its file: (byte
/// offset, byte length).
pub fn raw_range(e: &TensorEntry, start: u64, n: usize) -> io::Result<(u64, usize)> {
    let DataRef::Raw { offset, .. } = e.data else {
        return Err(io::Error::other(
            "random access into a compressed member is not supported",
        ));
    };
    let es = e.elem.size_bytes();
    let len = n
        .checked_mul(es)
        .ok_or_else(|| io::Error::other("range too large"))?;
    let at = start
        .checked_mul(es as u64)
        .and_then(|b| b.checked_add(offset))
        .ok_or_else(|| io::Error::other("range too large"))?;
    Ok((at, len))
}

/// Decode `n` elements from flat position `start` (see [`raw_range`]) into `out` (cleared
/// first), `fill` writing their bytes: into `out` itself for float32 in this machine's byte
/// order (no byte buffer), else into a buffer decoded after. Quantized entries are dequantized.
pub fn decode_range(
    e: &TensorEntry,
    start: u64,
    n: usize,
    out: &mut Vec<f32>,
    fill: &mut dyn FnMut(&mut [u8]) -> io::Result<()>,
) -> io::Result<()> {
    out.clear();
    if is_native_f32(e) {
        out.resize(n, 0.0);
        // SAFETY: the byte view covers exactly the `n` initialised f32 of `out` (alignment 4 ≥
        // 1), and every bit pattern is a valid f32, so whatever `fill` writes leaves valid values.
        let bytes = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), n * 4) };
        if let Err(err) = fill(bytes) {
            out.clear();
            return Err(err);
        }
    } else {
        let mut raw = vec![0u8; n * e.elem.size_bytes()];
        fill(&mut raw)?;
        decode(e.elem, e.big_endian, &raw, out);
    }
    if let Some(q) = &e.quant {
        dequantize(q, e, start, out);
    }
    Ok(())
}

/// Dequantize decoded integer values in place; `first` is the flat index of `out[0]`.
fn dequantize(q: &QuantInfo, e: &TensorEntry, first: u64, out: &mut [f32]) {
    match q.axis {
        Some(axis) if axis < e.shape.len() && q.scales.len() as u64 == e.shape[axis] => {
            let inner: u64 = if e.fortran {
                crate::engine::metrics::dims_product(&e.shape[..axis])
            } else {
                crate::engine::metrics::dims_product(&e.shape[axis + 1..])
            };
            let inner = inner.max(1);
            let dim = e.shape[axis];
            for (k, v) in out.iter_mut().enumerate() {
                let c = ((first + k as u64) / inner % dim) as usize;
                let z = q.zero_points.get(c).copied().unwrap_or(0) as f32;
                *v = (*v - z) * q.scales[c] as f32;
            }
        }
        _ => {
            let s = q.scales.first().copied().unwrap_or(1.0) as f32;
            let z = q.zero_points.first().copied().unwrap_or(0) as f32;
            for v in out.iter_mut() {
                *v = (*v - z) * s;
            }
        }
    }
}

/// Read a whole (small) tensor: tests and the tiny tensors of a what-if.
pub fn read_all<S: ByteSource + ?Sized>(src: &mut S, entry: &TensorEntry) -> io::Result<Vec<f32>> {
    let mut r = ElemReader::new(src, entry);
    // Reserve by what the header claims only up to 1 Mi elements: a lying shape (a pickle's
    // per-channel scales claiming 2^40 values) must not allocate before a byte is read.
    let mut all = Vec::with_capacity(entry.numel().min(1 << 20) as usize);
    let mut chunk = Vec::new();
    while r.next_chunk(&mut chunk, 1 << 16)? > 0 {
        all.extend_from_slice(&chunk);
    }
    Ok(all)
}

/// What a tensor file holds, or why it cannot be read.
pub fn list_tensors<S: ByteSource + ?Sized>(
    name: &str,
    src: &mut S,
) -> Result<Vec<TensorEntry>, ParseError> {
    list_tensors_with_notes(name, src).map(|(e, _)| e)
}

/// [`list_tensors`], plus a note for each tensor of the file that could not be taken.
pub fn list_tensors_with_notes<S: ByteSource + ?Sized>(
    name: &str,
    src: &mut S,
) -> Result<(Vec<TensorEntry>, Vec<String>), ParseError> {
    let n = src.size().min(16);
    let mut head = vec![0u8; n as usize];
    src.read_at(0, &mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    if container(&head, src.size()) == Some(Container::Zip) {
        match npz::central_directory(src) {
            Ok(members) if members.iter().any(|m| m.name.ends_with("data.pkl")) => {
                let (entries, skipped) = torch::list_with_notes(src)?;
                let notes = skipped.into_iter().map(|t| format!("Not read: {t}"));
                return Ok((entries, notes.collect()));
            }
            Err(e) if e.to_string().contains("no end-of-central-directory") => {
                // No directory: a copy cut short. An .npz's whole members are still numpy's
                // arrays, found from the start (a torch.save archive needs its directory).
                let (members, end) = npz::local_members(src);
                let npy = members.iter().filter(|m| m.name.ends_with(".npy")).count();
                if npy == 0 || members.iter().any(|m| m.name.ends_with("data.pkl")) {
                    return Err(e);
                }
                // Members that do not read as npy arrays leave the directory's error to say it.
                let Ok(entries) = npz::list_members(src, members) else {
                    return Err(e);
                };
                let arrays = match entries.len() {
                    1 => "one array".to_string(),
                    n => format!("{n} arrays"),
                };
                let note = format!("The zip is cut short (its end, where the directory of its members is, is missing): it ends {end}. QuantLens read the {arrays} whole before that; a complete copy of the file has the rest.");
                return Ok((entries, vec![note]));
            }
            Ok(_) | Err(_) => {}
        }
    }
    list_tensors_plain(name, src).map(|e| (e, Vec::new()))
}

fn list_tensors_plain<S: ByteSource + ?Sized>(
    name: &str,
    src: &mut S,
) -> Result<Vec<TensorEntry>, ParseError> {
    let n = src.size().min(16);
    let mut head = vec![0u8; n as usize];
    src.read_at(0, &mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    let stem = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(name)
        .trim_end_matches(".npy")
        .to_string();
    // The container was told by `detect::container`, the one place that reads magic bytes.
    match container(&head, src.size()) {
        Some(Container::Npy) => return npy::read_header(src, 0, &stem).map(|e| vec![e]),
        Some(Container::Zip) => {
            let members = npz::central_directory(src)?;
            if members.iter().any(|m| m.name.ends_with("data.pkl")) {
                return torch::list(src);
            }
            return npz::list(src);
        }
        Some(Container::Pickle) => return Err(crate::engine::detect::PICKLE.into()),
        Some(Container::Safetensors) => return safetensors::list(src),
        Some(Container::Onnx) => {
            return Err(
                "an ONNX model: its scales are read beside the dumps; it holds no activations"
                    .into(),
            )
        }
        Some(Container::Png | Container::Jpeg) => {
            return Err(
                "an image: a sample input for the model runner (with a float ONNX model), not a tensor dump"
                    .into(),
            )
        }
        None => {}
    }
    Err(
        "not a tensor file QuantLens reads (.npy, .npz, .safetensors, torch.save .pt/.pth/.opinfo)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
