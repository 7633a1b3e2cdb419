//! Scale sources: the quantization scales users of ONNX Runtime already have, read so they need not
//! type them by hand.
//!
//! * A QDQ-quantized ONNX model (`onnxruntime.quantization.quantize_static` with `QuantFormat.QDQ`, or
//!   any model with `QuantizeLinear` / `DequantizeLinear` nodes, domain `""` or `com.microsoft`). Each
//!   QuantizeLinear's scale and zero point is recorded under its float input (`conv1_output`), its
//!   output (`conv1_output_QuantizeLinear_Output`) and the output of every DequantizeLinear that
//!   consumes it (`conv1_output_DequantizeLinear_Output`), so dumps named either way find their
//!   scale. A DequantizeLinear not fed by a QuantizeLinear (a weight or bias initializer, a Constant,
//!   an already-quantized input) is recorded under its input and its output, and a weight stored as
//!   `<name>_quantized` (ORT's naming) also under `<name>`. Scales and zero points come from
//!   initializers or `Constant` nodes, in subgraphs (If/Loop/Scan bodies) too.
//! * A `scales.json`: `{"conv1": 0.0123, ...}`, `{"conv1": {"scale": 0.0123, "zero_point": 0,
//!   "dtype": "int8"}}`, or either wrapped in a top-level `{"scales": {...}}`.
//!
//! The ONNX reader is a minimal protobuf wire-format walker over a [`ByteSource`]: it reads the
//! graph's node headers and the few tensors that are scales or zero points, and seeks over everything
//! else (the weights' `raw_data` included), so the bytes read grow with the number of nodes and
//! initializers, not with the weights (a file up to 4 MiB is simply read once, whole). Hostile
//! files meet hard limits (subgraph depth, field lengths inside their parent, node count, name
//! lengths, stored bytes, values per tensor) and give an error in plain words, never a panic, a hang
//! or a huge allocation. Two passes: the first collects the Q/DQ nodes, the second the tensors they
//! name.

use crate::engine::error::ParseError;

use super::quant::QDType;
use super::tensor::{f16_to_f32, ByteSource};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// One tensor's quantization parameters, under one name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleEntry {
    pub name: String,
    /// The scale; for a per-channel entry, the largest channel scale (the coarsest grid).
    pub scale: f64,
    /// The zero point; for a per-channel entry, that of the channel with the largest scale.
    pub zero_point: i64,
    /// The integer grid, when the source says it and QuantLens has it (no uint4, int32, float8).
    pub dtype: Option<QDType>,
    /// Per-channel: every channel's scale (empty for a per-tensor entry).
    pub channel_scales: Vec<f64>,
    /// Per-channel: every channel's zero point (empty for a per-tensor entry).
    pub channel_zero_points: Vec<i64>,
    /// Per-channel: the channel axis (ONNX's `axis` attribute; may be negative).
    pub axis: Option<i64>,
    /// A weight's or bias's scale: a DequantizeLinear of an initializer or a Constant.
    pub weight: bool,
    /// [lo, hi] when every consumer of the activation's QuantizeLinear → DequantizeLinear is a
    /// `Clip` to these same constant bounds (hardswish's `Add → Clip(0, 6)`), or a `Relu`
    /// ([0, no maximum]): values the quantization clips beyond them are cut there anyway. A
    /// missing bound is `±f64::MAX` ([`NO_BOUND`]); never NaN or infinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clamp_after: Option<[f64; 2]>,
}

/// A `clamp_after` bound that is not there (a Relu's maximum; a Clip without min or max).
pub const NO_BOUND: f64 = f64::MAX;

impl ScaleEntry {
    pub fn is_per_channel(&self) -> bool {
        !self.channel_scales.is_empty()
    }
}

/// The scales one source holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScaleSet {
    /// What they came from: "ONNX QDQ model" or "scales.json".
    pub source: String,
    pub entries: Vec<ScaleEntry>,
    /// What was read, and what was skipped and why.
    pub notes: Vec<String>,
}

/// Suffixes ONNX Runtime's quantizer appends to a float tensor's name.
const NAME_SUFFIXES: [&str; 3] = [
    "_DequantizeLinear_Output",
    "_QuantizeLinear_Output",
    "_quantized",
];

impl ScaleSet {
    /// The entry for `name`; failing an exact match, the same name with ORT's suffix
    /// (`_DequantizeLinear_Output`, `_QuantizeLinear_Output`, `_quantized`) removed or added.
    pub fn get(&self, name: &str) -> Option<&ScaleEntry> {
        let exact = |n: &str| self.entries.iter().find(|e| e.name == n);
        if let Some(e) = exact(name) {
            return Some(e);
        }
        let stem = NAME_SUFFIXES
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        exact(stem).or_else(|| {
            NAME_SUFFIXES
                .iter()
                .find_map(|s| exact(&format!("{stem}{s}")))
        })
    }

    /// Name → scale (per-channel entries give their largest channel scale).
    pub fn as_map(&self) -> HashMap<String, f64> {
        self.entries
            .iter()
            .map(|e| (e.name.clone(), e.scale))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Sniffing

/// Does `head` (the first bytes of a file) start like a serialized ONNX `ModelProto`? Its first field
/// is `ir_version` (field 1, a small varint), followed by other ModelProto fields.
pub fn looks_like_onnx(head: &[u8]) -> bool {
    fn varint(b: &[u8], p: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let x = *b.get(*p)?;
            *p += 1;
            v |= u64::from(x & 0x7f) << (7 * i);
            if x & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let mut p = 0usize;
    let mut fields = 0;
    while p < head.len() {
        let Some(tag) = varint(head, &mut p) else {
            break;
        };
        let (num, wire) = (tag >> 3, tag & 7);
        let known = match wire {
            0 => matches!(num, 1 | 5),
            2 => matches!(num, 2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26),
            _ => false,
        };
        if !known || (fields == 0 && num != 1) {
            return false;
        }
        fields += 1;
        let Some(v) = varint(head, &mut p) else {
            break;
        };
        if fields == 1 && !(1..=100).contains(&v) {
            return false;
        }
        if wire == 2 {
            match usize::try_from(v).ok().and_then(|v| p.checked_add(v)) {
                Some(e) => p = e,
                None => break,
            }
        }
    }
    fields >= 2
}

/// Does `head` (the first bytes of a file, maybe cut short) look like a scales.json: a JSON object
/// whose values are numbers or objects with a `"scale"`, optionally inside `{"scales": {...}}`?
pub fn looks_like_scales_json(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}');
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let Value::Object(obj) = &v else {
            return false;
        };
        let obj = match obj.get("scales") {
            Some(Value::Object(inner)) => inner,
            _ => obj,
        };
        return !obj.is_empty()
            && obj.values().all(|v| match v {
                Value::Number(_) => true,
                Value::Object(o) => o.contains_key("scale"),
                _ => false,
            });
    }
    // Cut short: every entry seen must fit, and there must be one.
    let mut seen = 0usize;
    let mut p = 0usize;
    sniff_object(text.as_bytes(), &mut p, true, &mut seen).unwrap_or(seen > 0)
}

/// Walk a JSON object that may be cut short: `Some(verdict)`, or None when the text ends first.
fn sniff_object(b: &[u8], p: &mut usize, top: bool, seen: &mut usize) -> Option<bool> {
    const PARAM_KEYS: [&str; 4] = ["scale", "zero_point", "dtype", "axis"];
    fn ws(b: &[u8], p: &mut usize) -> Option<u8> {
        while b.get(*p)?.is_ascii_whitespace() {
            *p += 1;
        }
        b.get(*p).copied()
    }
    fn string(b: &[u8], p: &mut usize) -> Option<String> {
        *p += 1;
        let start = *p;
        loop {
            match *b.get(*p)? {
                b'\\' => *p += 2,
                b'"' => break,
                _ => *p += 1,
            }
        }
        let s = String::from_utf8_lossy(b.get(start..*p)?).into_owned();
        *p += 1;
        Some(s)
    }
    if ws(b, p)? != b'{' {
        return Some(false);
    }
    *p += 1;
    let mut first = true;
    loop {
        match ws(b, p)? {
            b'}' => return Some(!first),
            b'"' => {}
            _ => return Some(false),
        }
        let key = string(b, p)?;
        if ws(b, p)? != b':' {
            return Some(false);
        }
        *p += 1;
        match ws(b, p)? {
            c if c.is_ascii_digit() || c == b'-' => {
                *seen += 1;
                while b
                    .get(*p)
                    .is_some_and(|c| c.is_ascii_digit() || b"-+.eE".contains(c))
                {
                    *p += 1;
                }
            }
            b'{' if top && first && key == "scales" => return sniff_object(b, p, false, seen),
            b'{' => {
                // An entry's object: its first key is a parameter; skip to its end.
                *p += 1;
                if ws(b, p)? != b'"' || !PARAM_KEYS.contains(&string(b, p)?.as_str()) {
                    return Some(false);
                }
                *seen += 1;
                let mut depth = 1usize;
                while depth > 0 {
                    match *b.get(*p)? {
                        b'"' => {
                            string(b, p)?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    *p += 1;
                }
            }
            _ => return Some(false),
        }
        first = false;
        match ws(b, p)? {
            b',' => *p += 1,
            b'}' => return Some(true),
            _ => return Some(false),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format over a ByteSource

/// Bytes read from the source at a time when reading on, and after a jump.
const WINDOW: u64 = 64 << 10;
const JUMP_WINDOW: u64 = 4 << 10;
/// A file this small is read whole, once.
const WHOLE_FILE: u64 = 4 << 20;
/// Longest name (tensor, node, attribute) read.
const MAX_NAME: u64 = 64 << 10;
/// Deepest nesting of subgraphs (If/Loop/Scan bodies).
pub(super) const MAX_GRAPH_DEPTH: usize = 16;
/// Most nodes, over all graphs.
const MAX_NODES: usize = 4_000_000;
/// Most bytes kept for Q/DQ nodes and scale tensors.
const MAX_STORED: usize = 64 << 20;
/// Most values of one scale or zero-point tensor.
const MAX_VALUES: u64 = 1 << 20;
/// Most dimensions of one tensor.
const MAX_DIMS: usize = 64;
/// Most detailed notes; the rest are counted.
const MAX_NOTES: usize = 40;

#[derive(Clone, Copy, Debug)]
pub(super) enum Val {
    Int(u64),
    Fixed(u64),
    /// Offset and length of a length-delimited field's payload.
    Len(u64, u64),
    /// A group (wire types 3 … 4, proto2's deprecated form), skipped whole as prost skips it.
    Group,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Field {
    pub(super) num: u64,
    pub(super) val: Val,
}

/// A message being walked: `[pos, end)`; `top` when it is the whole file.
#[derive(Clone, Copy, Debug)]
pub(super) struct Msg {
    pub(super) pos: u64,
    pub(super) end: u64,
    pub(super) top: bool,
}

impl Msg {
    pub(super) fn of(at: u64, len: u64) -> Msg {
        Msg {
            pos: at,
            end: at.saturating_add(len),
            top: false,
        }
    }
}

fn ends_inside(m: &Msg, at: u64) -> String {
    if m.top {
        format!("the ONNX file is truncated: it ends inside the field at byte {at}")
    } else {
        format!(
            "corrupt ONNX file: the field at byte {at} runs past the end of its enclosing message (byte {})",
            m.end
        )
    }
}

fn too_long(m: &Msg, at: u64, len: u64) -> String {
    if m.top {
        format!(
            "the ONNX file is truncated: the field at byte {at} is {len} bytes long, but the file ends at byte {}",
            m.end
        )
    } else {
        format!(
            "corrupt ONNX file: the field at byte {at} is {len} bytes long, past the end of its enclosing message (byte {})",
            m.end
        )
    }
}

pub(super) struct Wire<'a, S: ByteSource + ?Sized> {
    src: &'a mut S,
    pub(super) size: u64,
    win: Vec<u8>,
    win_at: u64,
    stored: usize,
}

impl<'a, S: ByteSource + ?Sized> Wire<'a, S> {
    pub(super) fn new(src: &'a mut S) -> Wire<'a, S> {
        let size = src.size();
        Wire {
            src,
            size,
            win: Vec::new(),
            win_at: 0,
            stored: 0,
        }
    }

    /// Load the window at `at`, at least `need` bytes (≤ [`WINDOW`]): a few KiB after a jump (the
    /// header after a skipped weight), the whole window when reading on.
    fn fill(&mut self, at: u64, need: u64) -> Result<(), ParseError> {
        let (at, n) = if self.size <= WHOLE_FILE {
            (0, self.size as usize)
        } else {
            let sequential = at == self.win_at + self.win.len() as u64;
            let want = if sequential { WINDOW } else { JUMP_WINDOW }.max(need);
            (at, self.size.saturating_sub(at).min(want) as usize)
        };
        self.win.resize(n, 0);
        self.win_at = at;
        if let Err(e) = self.src.read_at(at, &mut self.win) {
            self.win.clear();
            return Err(ParseError::from(format!(
                "cannot read the file at byte {at}: {e}"
            )));
        }
        Ok(())
    }

    fn byte(&mut self, at: u64) -> Result<u8, ParseError> {
        if at < self.win_at || at - self.win_at >= self.win.len() as u64 {
            if at >= self.size {
                return Err(ParseError::from(format!(
                    "the ONNX file is truncated: it ends before byte {at}"
                )));
            }
            self.fill(at, 1)?;
        }
        self.win
            .get((at - self.win_at) as usize)
            .copied()
            .ok_or_else(|| ParseError::from(format!("cannot read the file at byte {at}")))
    }

    /// `len` bytes at `at`; callers bound `len`.
    pub(super) fn bytes(&mut self, at: u64, len: u64) -> Result<Vec<u8>, ParseError> {
        let end = at
            .checked_add(len)
            .filter(|&e| e <= self.size)
            .ok_or_else(|| {
                format!("the ONNX file is truncated: {len} bytes at byte {at} run past its end")
            })?;
        if at < self.win_at || end > self.win_at + self.win.len() as u64 {
            if len > WINDOW {
                let mut v = vec![0u8; len as usize];
                self.src
                    .read_at(at, &mut v)
                    .map_err(|e| format!("cannot read the file at byte {at}: {e}"))?;
                return Ok(v);
            }
            self.fill(at, len)?;
        }
        let s = (at - self.win_at) as usize;
        self.win
            .get(s..s + len as usize)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| ParseError::from(format!("cannot read the file at byte {at}")))
    }

    fn varint(&mut self, m: &mut Msg, field_at: u64) -> Result<u64, ParseError> {
        let start = m.pos;
        let mut v = 0u64;
        for i in 0..10u32 {
            if m.pos >= m.end {
                return Err(ParseError::from(ends_inside(m, field_at)));
            }
            let b = self.byte(m.pos)?;
            m.pos += 1;
            if i == 9 && b > 1 {
                break;
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ParseError::from(format!(
            "corrupt ONNX file: a malformed number at byte {start}"
        )))
    }

    fn fixed(&mut self, m: &mut Msg, field_at: u64, n: u64) -> Result<u64, ParseError> {
        if m.end - m.pos < n {
            return Err(ParseError::from(ends_inside(m, field_at)));
        }
        let mut v = 0u64;
        for i in 0..n {
            v |= u64::from(self.byte(m.pos + i)?) << (8 * i);
        }
        m.pos += n;
        Ok(v)
    }

    /// The next field of `m`, or None at its end.
    pub(super) fn next(&mut self, m: &mut Msg) -> Result<Option<Field>, ParseError> {
        if m.pos >= m.end {
            return Ok(None);
        }
        let at = m.pos;
        let tag = self.varint(m, at)?;
        let num = tag >> 3;
        if num == 0 {
            return Err(ParseError::from(format!(
                "corrupt ONNX file: field number 0 at byte {at} (not an ONNX model?)"
            )));
        }
        let val = match tag & 7 {
            0 => Val::Int(self.varint(m, at)?),
            1 => Val::Fixed(self.fixed(m, at, 8)?),
            5 => Val::Fixed(self.fixed(m, at, 4)?),
            2 => {
                let len = self.varint(m, at)?;
                if len > m.end - m.pos {
                    return Err(ParseError::from(too_long(m, at, len)));
                }
                let v = Val::Len(m.pos, len);
                m.pos += len;
                v
            }
            3 => {
                self.skip_group(m, num, at)?;
                Val::Group
            }
            w => {
                return Err(ParseError::from(format!(
                    "corrupt ONNX file: unknown field type {w} at byte {at} (not an ONNX model?)"
                )))
            }
        };
        Ok(Some(Field { num, val }))
    }

    /// Skip a group's fields up to its end tag (the start tag of field `num` just read), as
    /// prost (tract's protobuf decoder) does: nested groups too, up to prost's recursion limit of
    /// 100; an end tag of another field is an error, as it is for prost. Skipping them keeps this
    /// walk reading what tract reads (a group before the graph once hid a broken graph from it).
    fn skip_group(&mut self, m: &mut Msg, num: u64, at: u64) -> Result<(), ParseError> {
        let mut open = vec![num];
        while let Some(&inner) = open.last() {
            if m.pos >= m.end {
                return Err(ParseError::from(format!(
                    "corrupt ONNX file: the group of field {inner} at byte {at} has no end"
                )));
            }
            let field_at = m.pos;
            let tag = self.varint(m, field_at)?;
            match tag & 7 {
                0 => {
                    self.varint(m, field_at)?;
                }
                1 => {
                    self.fixed(m, field_at, 8)?;
                }
                5 => {
                    self.fixed(m, field_at, 4)?;
                }
                2 => {
                    let len = self.varint(m, field_at)?;
                    if len > m.end - m.pos {
                        return Err(ParseError::from(too_long(m, field_at, len)));
                    }
                    m.pos += len;
                }
                3 if open.len() < 100 => open.push(tag >> 3),
                4 if tag >> 3 == inner => {
                    open.pop();
                }
                _ => {
                    return Err(ParseError::from(format!(
                        "corrupt ONNX file: a group that does not close at byte {field_at} (not an ONNX model?)"
                    )))
                }
            }
        }
        Ok(())
    }

    pub(super) fn name(&mut self, at: u64, len: u64) -> Result<String, ParseError> {
        if len > MAX_NAME {
            return Err(ParseError::from(format!(
                "corrupt ONNX file: a name of {len} bytes at byte {at} (names longer than {MAX_NAME} bytes are refused)"
            )));
        }
        Ok(String::from_utf8_lossy(&self.bytes(at, len)?).into_owned())
    }

    /// A short identifier (operator, domain, attribute name); longer ones are returned empty.
    fn short(&mut self, val: Val) -> Result<String, ParseError> {
        match val {
            Val::Len(at, len) if len <= 128 => self.name(at, len),
            _ => Ok(String::new()),
        }
    }

    fn charge(&mut self, n: usize) -> Result<(), ParseError> {
        self.stored = self.stored.saturating_add(n);
        if self.stored > MAX_STORED {
            return Err(ParseError::from(format!(
                "the model's quantization nodes and scales take more than {} MiB: not read (a broken or hostile file?)",
                MAX_STORED >> 20
            )));
        }
        Ok(())
    }

    /// Append a repeated numeric field's values (packed or not) as raw bits: `width` 0 for varints,
    /// 4 or 8 for fixed. False (nothing appended) when `used` would pass [`MAX_VALUES`].
    pub(super) fn repeated(
        &mut self,
        val: Val,
        width: u64,
        out: &mut Vec<u64>,
        used: &mut u64,
    ) -> Result<bool, ParseError> {
        let room = MAX_VALUES.saturating_sub(*used);
        match val {
            Val::Len(at, len) if width > 0 => {
                if len % width != 0 {
                    return Err(ParseError::from(format!(
                        "corrupt ONNX file: the packed list at byte {at} ({len} bytes) is not whole {width}-byte values"
                    )));
                }
                if len / width > room {
                    return Ok(false);
                }
                let b = self.bytes(at, len)?;
                for c in b.chunks_exact(width as usize) {
                    let mut a = [0u8; 8];
                    a[..c.len()].copy_from_slice(c);
                    out.push(u64::from_le_bytes(a));
                }
                *used += len / width;
            }
            Val::Len(at, len) => {
                let mut m = Msg::of(at, len);
                while m.pos < m.end {
                    if *used >= MAX_VALUES {
                        return Ok(false);
                    }
                    let item_at = m.pos;
                    let v = self.varint(&mut m, item_at)?;
                    out.push(v);
                    *used += 1;
                }
            }
            Val::Int(v) | Val::Fixed(v) => {
                if room == 0 {
                    return Ok(false);
                }
                out.push(v);
                *used += 1;
            }
            // Not a number (prost refuses a group where it expects one).
            Val::Group => {}
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------------
// ONNX messages

/// A QuantizeLinear or DequantizeLinear node.
#[derive(Debug, Clone, Default)]
struct QdqNode {
    quant: bool,
    name: String,
    x: String,
    scale: String,
    zp: String,
    out: String,
    axis: Option<i64>,
    block_size: i64,
    output_dtype: u64,
}

impl QdqNode {
    fn op(&self) -> &'static str {
        if self.quant {
            "QuantizeLinear"
        } else {
            "DequantizeLinear"
        }
    }
    fn label(&self) -> &str {
        if self.name.is_empty() {
            &self.out
        } else {
            &self.name
        }
    }
}

/// What is kept of a TensorProto: its type, shape, and where or what its values are.
#[derive(Debug, Clone, Default)]
struct Tensor {
    data_type: u64,
    dims: Vec<i64>,
    raw: Option<(u64, u64)>,
    /// float_data (4), int32_data (5), int64_data (7), double_data (10), uint64_data (11) as bits.
    f32s: Vec<u64>,
    i32s: Vec<u64>,
    i64s: Vec<u64>,
    f64s: Vec<u64>,
    u64s: Vec<u64>,
    /// data_location = EXTERNAL, and the external file's name when given.
    external: bool,
    location: String,
    too_big: bool,
}

impl Tensor {
    fn from_floats(v: &[f32]) -> Tensor {
        Tensor {
            data_type: 1,
            dims: if v.len() == 1 {
                Vec::new()
            } else {
                vec![v.len() as i64]
            },
            f32s: v.iter().map(|f| u64::from(f.to_bits())).collect(),
            ..Tensor::default()
        }
    }

    /// Bytes its kept values take.
    fn stored_bytes(&self) -> usize {
        8 * (self.dims.len()
            + self.f32s.len()
            + self.i32s.len()
            + self.i64s.len()
            + self.f64s.len()
            + self.u64s.len())
    }

    fn numel(&self) -> Result<u64, ParseError> {
        if self.too_big {
            return Err(ParseError::from(format!(
                "it holds more than {MAX_VALUES} values or {MAX_DIMS} dimensions"
            )));
        }
        let mut n = 1u64;
        for &d in &self.dims {
            let d = u64::try_from(d).map_err(|_| "it has a negative dimension".to_string())?;
            n = n
                .checked_mul(d)
                .filter(|&n| n <= MAX_VALUES)
                .ok_or_else(|| format!("it holds more than {MAX_VALUES} values"))?;
        }
        Ok(n)
    }
}

fn type_name(dt: u64) -> String {
    let s = match dt {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        17 => "float8e4m3fn",
        18 => "float8e4m3fnuz",
        19 => "float8e5m2",
        20 => "float8e5m2fnuz",
        21 => "uint4",
        22 => "int4",
        23 => "float4e2m1",
        _ => return format!("data type {dt}"),
    };
    s.to_string()
}

fn is_float8(dt: u64) -> bool {
    matches!(dt, 17..=20 | 23)
}

/// Attributes of a kept node that matter here.
#[derive(Debug, Default)]
struct Attrs {
    axis: Option<i64>,
    block_size: i64,
    output_dtype: u64,
    /// Constant: `value` (a TensorProto's position), `value_float`, `value_floats`.
    value: Option<(u64, u64)>,
    value_floats: Option<Vec<f32>>,
    /// Clip before opset 11: its bounds as attributes.
    min: Option<f32>,
    max: Option<f32>,
}

/// A `Clip` node (its input and its bounds: input names from opset 11, attributes before), or a
/// `Relu`, taken as a Clip with a minimum of 0 and no maximum.
#[derive(Debug)]
struct ClipNode {
    x: String,
    lo: String,
    hi: String,
    lo_attr: Option<f32>,
    hi_attr: Option<f32>,
}

/// An activation whose QuantizeLinear → DequantizeLinear outputs feed `Clip` nodes, the names
/// whose uses pass 2 counts to see whether those Clips are all that reads them.
#[derive(Debug)]
struct ClampCandidate {
    /// The activation, its QuantizeLinear's output, and its DequantizeLinear outputs with the
    /// number of Clips reading each.
    x: String,
    q_out: String,
    dq_outs: Vec<(String, usize)>,
    /// The first Clip's bounds; every Clip must have the same.
    clip: usize,
}

/// State of one pass over the graphs.
#[derive(Default)]
struct Walk {
    /// 1: collect Q/DQ nodes; 2: collect the tensors they name.
    pass: u8,
    nodes: usize,
    qdq: Vec<QdqNode>,
    qlinear: usize,
    /// Pass 2: names of scales and zero points, and of DequantizeLinear inputs.
    wanted: HashSet<String>,
    probe: HashSet<String>,
    tensors: HashMap<String, Tensor>,
    /// DequantizeLinear inputs that are initializers or Constant outputs, with their data type.
    constants: HashMap<String, u64>,
    /// Pass 1: the Clip nodes.
    clips: Vec<ClipNode>,
    /// Pass 2: how many node inputs and graph outputs name each of these.
    uses: HashMap<String, usize>,
}

impl<S: ByteSource + ?Sized> Wire<'_, S> {
    /// The graphs (ModelProto field 7) of the model.
    fn model(&mut self) -> Result<Vec<(u64, u64)>, ParseError> {
        let mut m = Msg {
            pos: 0,
            end: self.size,
            top: true,
        };
        let mut graphs = Vec::new();
        while let Some(f) = self.next(&mut m)? {
            if let (7, Val::Len(at, len)) = (f.num, f.val) {
                if graphs.len() < 16 {
                    graphs.push((at, len));
                }
            }
        }
        Ok(graphs)
    }

    fn graph(&mut self, w: &mut Walk, at: u64, len: u64, depth: usize) -> Result<(), ParseError> {
        if depth > MAX_GRAPH_DEPTH {
            return Err(ParseError::from(format!(
                "the ONNX model nests subgraphs (If/Loop/Scan bodies) more than {MAX_GRAPH_DEPTH} levels deep: not read (a broken or hostile file?)"
            )));
        }
        let mut m = Msg::of(at, len);
        while let Some(f) = self.next(&mut m)? {
            match (f.num, f.val) {
                (1, Val::Len(a, l)) => self.node(w, a, l, depth)?,
                (5, Val::Len(a, l)) if w.pass == 2 => self.initializer(w, a, l)?,
                // A graph output is a use of its value that no Clip cuts.
                (12, Val::Len(a, l)) if w.pass == 2 && !w.uses.is_empty() => {
                    let mut v = Msg::of(a, l);
                    while let Some(g) = self.next(&mut v)? {
                        if let (1, Val::Len(p, n)) = (g.num, g.val) {
                            let name = self.name(p, n)?;
                            if let Some(c) = w.uses.get_mut(&name) {
                                *c += 1;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn node(&mut self, w: &mut Walk, at: u64, len: u64, depth: usize) -> Result<(), ParseError> {
        w.nodes += 1;
        if w.nodes > MAX_NODES {
            return Err(ParseError::from(format!(
                "the ONNX model has more than {MAX_NODES} nodes: not read (a broken or hostile file?)"
            )));
        }
        // First look: the operator, and whether there are attributes (maybe subgraphs).
        let (mut op, mut domain, mut attrs) = (String::new(), String::new(), false);
        let mut m = Msg::of(at, len);
        while let Some(f) = self.next(&mut m)? {
            match (f.num, f.val) {
                (4, v) => op = self.short(v)?,
                (7, v) => domain = self.short(v)?,
                (5, _) => attrs = true,
                // Pass 2 counts the uses of the names a clamp candidate needs counted.
                (1, Val::Len(p, l)) if w.pass == 2 && !w.uses.is_empty() => {
                    let name = self.name(p, l)?;
                    if let Some(c) = w.uses.get_mut(&name) {
                        *c += 1;
                    }
                }
                _ => {}
            }
        }
        let onnx_domain = matches!(domain.as_str(), "" | "ai.onnx");
        let qdq = (onnx_domain || domain == "com.microsoft")
            && matches!(op.as_str(), "QuantizeLinear" | "DequantizeLinear");
        let clip = onnx_domain && matches!(op.as_str(), "Clip" | "Relu");
        if w.pass == 1 && op.starts_with("QLinear") {
            w.qlinear += 1;
        }
        let keep = match w.pass {
            1 => qdq || clip,
            _ => onnx_domain && op == "Constant",
        };
        if !keep && !attrs {
            return Ok(());
        }
        let mut inputs: Vec<String> = Vec::new();
        let (mut output, mut name) = (None::<String>, String::new());
        let mut a = Attrs::default();
        let mut m = Msg::of(at, len);
        while let Some(f) = self.next(&mut m)? {
            match (f.num, f.val) {
                (1, Val::Len(p, l)) if keep && inputs.len() < 3 => inputs.push(self.name(p, l)?),
                (2, Val::Len(p, l)) if keep && output.is_none() => output = Some(self.name(p, l)?),
                (3, Val::Len(p, l)) if keep => name = self.name(p, l)?,
                (5, Val::Len(p, l)) => self.attribute(w, p, l, depth, keep.then_some(&mut a))?,
                _ => {}
            }
        }
        if !keep {
            return Ok(());
        }
        let out = output.unwrap_or_default();
        if w.pass == 1 && clip {
            let mut it = inputs.into_iter();
            let c = if op == "Relu" {
                ClipNode {
                    x: it.next().unwrap_or_default(),
                    lo: String::new(),
                    hi: String::new(),
                    lo_attr: Some(0.0),
                    hi_attr: None,
                }
            } else {
                ClipNode {
                    x: it.next().unwrap_or_default(),
                    lo: it.next().unwrap_or_default(),
                    hi: it.next().unwrap_or_default(),
                    lo_attr: a.min,
                    hi_attr: a.max,
                }
            };
            self.charge(64 + c.x.len() + c.lo.len() + c.hi.len())?;
            w.clips.push(c);
            return Ok(());
        }
        if w.pass == 1 {
            let mut it = inputs.into_iter();
            let n = QdqNode {
                quant: op == "QuantizeLinear",
                name,
                x: it.next().unwrap_or_default(),
                scale: it.next().unwrap_or_default(),
                zp: it.next().unwrap_or_default(),
                out,
                axis: a.axis,
                block_size: a.block_size,
                output_dtype: a.output_dtype,
            };
            self.charge(128 + n.name.len() + n.x.len() + n.scale.len() + n.zp.len() + n.out.len())?;
            w.qdq.push(n);
            return Ok(());
        }
        // Pass 2, a Constant.
        if w.wanted.contains(&out) && !w.tensors.contains_key(&out) {
            let t = if let Some((p, l)) = a.value {
                Some(self.tensor(p, l)?)
            } else {
                a.value_floats.as_deref().map(Tensor::from_floats)
            };
            if let Some(t) = t {
                self.charge(256 + out.len() + t.stored_bytes())?;
                if w.probe.contains(&out) {
                    w.constants.insert(out.clone(), t.data_type);
                }
                w.tensors.insert(out, t);
                return Ok(());
            }
        }
        if w.probe.contains(&out) {
            let dt = match a.value {
                Some((p, l)) => self.tensor_type(p, l)?,
                None => 1,
            };
            w.constants.insert(out, dt);
        }
        Ok(())
    }

    /// An AttributeProto: subgraphs are walked; for a kept node, the attributes that matter.
    fn attribute(
        &mut self,
        w: &mut Walk,
        at: u64,
        len: u64,
        depth: usize,
        keep: Option<&mut Attrs>,
    ) -> Result<(), ParseError> {
        let mut name = String::new();
        let (mut f32v, mut int, mut t) = (None, None, None);
        let mut floats = Vec::new();
        let mut used = 0u64;
        let mut floats_ok = true;
        let want = keep.is_some();
        let mut m = Msg::of(at, len);
        while let Some(f) = self.next(&mut m)? {
            match (f.num, f.val) {
                (1, v) if want => name = self.short(v)?,
                (2, Val::Fixed(v)) => f32v = Some(f32::from_bits(v as u32)),
                (3, Val::Int(v)) => int = Some(v as i64),
                (5, Val::Len(p, l)) => t = Some((p, l)),
                (6, Val::Len(p, l)) | (11, Val::Len(p, l)) => self.graph(w, p, l, depth + 1)?,
                (7, v) if want && floats_ok => {
                    floats_ok = self.repeated(v, 4, &mut floats, &mut used)?
                }
                _ => {}
            }
        }
        let Some(a) = keep else {
            return Ok(());
        };
        match name.as_str() {
            "axis" => a.axis = int,
            "block_size" => a.block_size = int.unwrap_or(0),
            "output_dtype" => a.output_dtype = int.unwrap_or(0) as u64,
            "value" => a.value = t,
            "value_float" => a.value_floats = f32v.map(|v| vec![v]),
            "min" => a.min = f32v,
            "max" => a.max = f32v,
            "value_floats" if floats_ok => {
                a.value_floats = Some(floats.iter().map(|&b| f32::from_bits(b as u32)).collect())
            }
            _ => {}
        }
        Ok(())
    }

    fn initializer(&mut self, w: &mut Walk, at: u64, len: u64) -> Result<(), ParseError> {
        let mut m = Msg::of(at, len);
        let mut name = None;
        while let Some(f) = self.next(&mut m)? {
            if let (8, Val::Len(p, l)) = (f.num, f.val) {
                name = Some(self.name(p, l)?);
            }
        }
        let Some(name) = name else {
            return Ok(());
        };
        if w.wanted.contains(&name) && !w.tensors.contains_key(&name) {
            let t = self.tensor(at, len)?;
            self.charge(256 + name.len() + t.stored_bytes())?;
            if w.probe.contains(&name) {
                w.constants.insert(name.clone(), t.data_type);
            }
            w.tensors.insert(name, t);
        } else if w.probe.contains(&name) {
            let dt = self.tensor_type(at, len)?;
            w.constants.insert(name, dt);
        }
        Ok(())
    }

    /// A TensorProto's data type alone.
    fn tensor_type(&mut self, at: u64, len: u64) -> Result<u64, ParseError> {
        let mut m = Msg::of(at, len);
        let mut dt = 0;
        while let Some(f) = self.next(&mut m)? {
            if let (2, Val::Int(v)) = (f.num, f.val) {
                dt = v;
            }
        }
        Ok(dt)
    }

    /// A TensorProto: type, shape, and where its values are (small typed lists are read).
    fn tensor(&mut self, at: u64, len: u64) -> Result<Tensor, ParseError> {
        let mut t = Tensor::default();
        let mut used = 0u64;
        let mut dims = Vec::new();
        // Room for one dimension more than allowed: more is refused without a big allocation.
        let mut dims_used = MAX_VALUES - MAX_DIMS as u64 - 1;
        let mut m = Msg::of(at, len);
        while let Some(f) = self.next(&mut m)? {
            let fits = match (f.num, f.val) {
                (1, v) => self.repeated(v, 0, &mut dims, &mut dims_used)? && dims.len() <= MAX_DIMS,
                (2, Val::Int(v)) => {
                    t.data_type = v;
                    true
                }
                (4, v) => self.repeated(v, 4, &mut t.f32s, &mut used)?,
                (5, v) => self.repeated(v, 0, &mut t.i32s, &mut used)?,
                (7, v) => self.repeated(v, 0, &mut t.i64s, &mut used)?,
                (10, v) => self.repeated(v, 8, &mut t.f64s, &mut used)?,
                (11, v) => self.repeated(v, 0, &mut t.u64s, &mut used)?,
                (9, Val::Len(p, l)) => {
                    t.raw = Some((p, l));
                    true
                }
                (13, Val::Len(p, l)) => {
                    // StringStringEntryProto {key = 1, value = 2}.
                    let (mut key, mut value) = (String::new(), String::new());
                    let mut e = Msg::of(p, l);
                    while let Some(g) = self.next(&mut e)? {
                        match (g.num, g.val) {
                            (1, v) => key = self.short(v)?,
                            (2, Val::Len(q, n)) => value = self.name(q, n)?,
                            _ => {}
                        }
                    }
                    if key == "location" {
                        t.location = value;
                    }
                    true
                }
                (14, Val::Int(v)) => {
                    t.external = v == 1;
                    true
                }
                _ => true,
            };
            if !fits {
                t.too_big = true;
                break;
            }
        }
        if dims.len() > MAX_DIMS {
            t.too_big = true;
        }
        if !t.too_big {
            t.dims = dims.into_iter().map(|d| d as i64).collect();
        }
        Ok(t)
    }

    /// The raw bytes of `t` for `n` elements of `width` bytes (`half`: two 4-bit values a byte), or
    /// None when it has no raw data.
    fn raw(
        &mut self,
        t: &Tensor,
        n: u64,
        width: u64,
        half: bool,
    ) -> Result<Option<Vec<u8>>, ParseError> {
        let Some((at, len)) = t.raw else {
            return Ok(None);
        };
        let want = if half { n.div_ceil(2) } else { n * width };
        if len != want {
            return Err(format!("its raw data holds {len} bytes, its shape needs {want}").into());
        }
        self.bytes(at, len).map(Some)
    }

    /// A scale tensor's values.
    fn floats(&mut self, t: &Tensor) -> Result<Vec<f64>, ParseError> {
        let n = t.numel()?;
        let typed = |v: &[u64]| -> Result<(), ParseError> {
            if v.len() as u64 != n {
                return Err(ParseError::from(format!(
                    "it holds {} values, its shape needs {n}",
                    v.len()
                )));
            }
            Ok(())
        };
        let le2 = |c: &[u8]| u16::from_le_bytes([c[0], c[1]]);
        Ok(match t.data_type {
            1 => match self.raw(t, n, 4, false)? {
                Some(b) => b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
                    .collect(),
                None => {
                    typed(&t.f32s)?;
                    t.f32s
                        .iter()
                        .map(|&b| f32::from_bits(b as u32) as f64)
                        .collect()
                }
            },
            10 | 16 => {
                let conv = |h: u16| {
                    if t.data_type == 10 {
                        f16_to_f32(h) as f64
                    } else {
                        f32::from_bits(u32::from(h) << 16) as f64
                    }
                };
                match self.raw(t, n, 2, false)? {
                    Some(b) => b.chunks_exact(2).map(|c| conv(le2(c))).collect(),
                    None => {
                        typed(&t.i32s)?;
                        t.i32s.iter().map(|&v| conv(v as u16)).collect()
                    }
                }
            }
            11 => match self.raw(t, n, 8, false)? {
                Some(b) => b
                    .chunks_exact(8)
                    .map(|c| {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        f64::from_le_bytes(a)
                    })
                    .collect(),
                None => {
                    typed(&t.f64s)?;
                    t.f64s.iter().map(|&b| f64::from_bits(b)).collect()
                }
            },
            dt => {
                return Err(ParseError::from(format!(
                    "it holds {} values, not floats",
                    type_name(dt)
                )))
            }
        })
    }

    /// A zero-point tensor's values.
    fn ints(&mut self, t: &Tensor) -> Result<Vec<i64>, ParseError> {
        let n = t.numel()?;
        let check = |v: &[u64]| -> Result<(), ParseError> {
            if v.len() as u64 != n {
                return Err(ParseError::from(format!(
                    "it holds {} values, its shape needs {n}",
                    v.len()
                )));
            }
            Ok(())
        };
        let dt = t.data_type;
        let width = match dt {
            2 | 3 => 1,
            4 | 5 => 2,
            6 | 12 => 4,
            7 | 13 => 8,
            21 | 22 => 0,
            _ => {
                return Err(ParseError::from(format!(
                    "it holds {} values, not integers",
                    type_name(dt)
                )))
            }
        };
        if width == 0 {
            // 4-bit: two values a byte, low nibble first (int32_data holds the bytes).
            let bytes: Vec<u8> = match self.raw(t, n, 0, true)? {
                Some(b) => b,
                None => {
                    if t.i32s.len() as u64 != n.div_ceil(2) {
                        return Err(ParseError::from(format!(
                            "it holds {} bytes of 4-bit values, its shape needs {}",
                            t.i32s.len(),
                            n.div_ceil(2)
                        )));
                    }
                    t.i32s.iter().map(|&v| v as u8).collect()
                }
            };
            let signed = dt == 22;
            return Ok((0..n as usize)
                .map(|i| {
                    let b = bytes.get(i / 2).copied().unwrap_or(0);
                    let nib = if i % 2 == 0 { b & 0x0f } else { b >> 4 };
                    if signed && nib >= 8 {
                        nib as i64 - 16
                    } else {
                        nib as i64
                    }
                })
                .collect());
        }
        if let Some(b) = self.raw(t, n, width, false)? {
            return Ok(b
                .chunks_exact(width as usize)
                .map(|c| {
                    let mut a = [0u8; 8];
                    a[..c.len()].copy_from_slice(c);
                    let u = u64::from_le_bytes(a);
                    match dt {
                        3 => u as u8 as i8 as i64,
                        5 => u as u16 as i16 as i64,
                        6 => u as u32 as i32 as i64,
                        _ => u as i64,
                    }
                })
                .collect());
        }
        let v = match dt {
            7 => &t.i64s,
            12 | 13 => &t.u64s,
            _ => &t.i32s,
        };
        check(v)?;
        Ok(v.iter()
            .map(|&u| match dt {
                7 | 12 | 13 => u as i64,
                _ => u as u32 as i32 as i64,
            })
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// From Q/DQ nodes to entries

/// One node's resolved parameters.
#[derive(Debug, Clone, PartialEq)]
struct Params {
    scales: Vec<f64>,
    zps: Vec<i64>,
    /// ONNX data type of the quantized side (0: unknown).
    dtype: u64,
    axis: i64,
}

/// Why a node's parameters could not be read.
enum Skip {
    External(String),
    Other(String),
}

impl<S: ByteSource + ?Sized> Wire<'_, S> {
    fn resolve(&mut self, w: &Walk, n: &QdqNode, input_dtype: u64) -> Result<Params, Skip> {
        if n.scale.is_empty() {
            return Err(Skip::Other("it has no scale input".into()));
        }
        if n.block_size > 0 {
            return Err(Skip::Other(format!(
                "blocked quantization (block_size {}) is not read",
                n.block_size
            )));
        }
        let tensor = |name: &str, what: &str| -> Result<Tensor, Skip> {
            let t = w.tensors.get(name).ok_or_else(|| {
                Skip::Other(format!(
                    "its {what} `{name}` is not a constant of the model (an initializer or a Constant node)"
                ))
            })?;
            if t.external {
                let loc = if t.location.is_empty() {
                    "an external data file".to_string()
                } else {
                    format!("`{}`", t.location)
                };
                return Err(Skip::External(loc));
            }
            Ok(t.clone())
        };
        let st = tensor(&n.scale, "scale")?;
        let scales = self
            .floats(&st)
            .map_err(|e| Skip::Other(format!("its scale `{}`: {e}", n.scale)))?;
        if scales.is_empty() {
            return Err(Skip::Other(format!("its scale `{}` is empty", n.scale)));
        }
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(Skip::Other(format!(
                "its scale `{}` is {bad}, not a positive finite number",
                n.scale
            )));
        }
        let (zps, dtype) = if n.zp.is_empty() {
            let dt = if n.quant {
                if n.output_dtype != 0 {
                    n.output_dtype
                } else {
                    2
                }
            } else {
                input_dtype
            };
            (vec![0; scales.len()], dt)
        } else {
            let zt = tensor(&n.zp, "zero point")?;
            let zps = if is_float8(zt.data_type) {
                vec![0; scales.len()]
            } else {
                self.ints(&zt)
                    .map_err(|e| Skip::Other(format!("its zero point `{}`: {e}", n.zp)))?
            };
            let zps = if zps.len() == 1 && scales.len() > 1 {
                vec![zps[0]; scales.len()]
            } else {
                zps
            };
            if zps.len() != scales.len() {
                return Err(Skip::Other(format!(
                    "its zero point `{}` has {} values for {} scales",
                    n.zp,
                    zps.len(),
                    scales.len()
                )));
            }
            (zps, zt.data_type)
        };
        Ok(Params {
            scales,
            zps,
            dtype,
            axis: n.axis.unwrap_or(1),
        })
    }
}

fn qdtype(dt: u64) -> Option<QDType> {
    match dt {
        2 => Some(QDType::Uint8),
        3 => Some(QDType::Int8),
        4 => Some(QDType::Uint16),
        5 => Some(QDType::Int16),
        22 => Some(QDType::Int4),
        _ => None,
    }
}

/// The entry of `name` for parameters `p` (one scale: per tensor; more: per channel, the largest
/// channel scale as `scale`). `p` holds as many zero points as scales, at least one.
fn entry(name: &str, p: &Params, weight: bool) -> ScaleEntry {
    let mut top = 0;
    for (i, &s) in p.scales.iter().enumerate() {
        if p.scales.get(top).is_some_and(|&t| s > t) {
            top = i;
        }
    }
    let per_channel = p.scales.len() > 1;
    ScaleEntry {
        name: name.to_string(),
        scale: p.scales.get(top).copied().unwrap_or(f64::NAN),
        zero_point: p.zps.get(top).copied().unwrap_or(0),
        dtype: qdtype(p.dtype),
        channel_scales: if per_channel {
            p.scales.clone()
        } else {
            Vec::new()
        },
        channel_zero_points: if per_channel {
            p.zps.clone()
        } else {
            Vec::new()
        },
        axis: per_channel.then_some(p.axis),
        weight,
        clamp_after: None,
    }
}

/// Notes, the detailed ones capped.
#[derive(Default)]
struct Notes {
    list: Vec<String>,
    more: usize,
}

impl Notes {
    fn push(&mut self, s: String) {
        if self.list.len() < MAX_NOTES {
            self.list.push(s);
        } else {
            self.more += 1;
        }
    }
}

const NOT_ONNX: &str = "not an ONNX model: QuantLens reads scales from QDQ-quantized .onnx models and from scales.json files";

/// What [`read_onnx_scales`] says of a float model (no Q/DQ node): the session then takes it as a
/// model the runner can run, not as a broken scale source.
pub const NO_QDQ: &str =
    "the ONNX model has no QuantizeLinear or DequantizeLinear nodes: it is not a QDQ-quantized model";

/// Read the scales and zero points of a QDQ-quantized ONNX model.
pub fn read_onnx_scales<S: ByteSource + ?Sized>(src: &mut S) -> Result<ScaleSet, ParseError> {
    let size = src.size();
    if size == 0 {
        return Err("the file is empty".into());
    }
    let mut head = vec![0u8; size.min(64) as usize];
    src.read_at(0, &mut head)
        .map_err(|e| format!("cannot read the file: {e}"))?;
    let onnx_like = looks_like_onnx(&head);
    let mut wire = Wire::new(src);
    let graphs = match wire.model() {
        Ok(g) => g,
        Err(_) if !onnx_like => return Err(NOT_ONNX.into()),
        Err(e) => return Err(e),
    };
    if graphs.is_empty() {
        return Err(if onnx_like {
            "the ONNX model has no graph".into()
        } else {
            NOT_ONNX.into()
        });
    }
    let mut w = Walk {
        pass: 1,
        ..Walk::default()
    };
    for &(at, len) in &graphs {
        wire.graph(&mut w, at, len, 0)?;
    }
    if w.qdq.is_empty() {
        return Err(ParseError::from(if w.qlinear > 0 {
            format!(
                "the ONNX model is in QOperator format ({} QLinear… nodes) without QuantizeLinear/DequantizeLinear pairs: QuantLens reads the scales of QDQ models (quantize_static with quant_format=QuantFormat.QDQ)",
                w.qlinear
            )
        } else {
            NO_QDQ.into()
        }));
    }
    // Pass 2: the tensors the Q/DQ nodes name.
    for n in &w.qdq {
        for s in [&n.scale, &n.zp] {
            if !s.is_empty() {
                w.wanted.insert(s.clone());
            }
        }
        if !n.quant {
            w.probe.insert(n.x.clone());
        }
    }
    let cands = clamp_candidates(&mut w);
    w.pass = 2;
    w.nodes = 0;
    for &(at, len) in &graphs {
        wire.graph(&mut w, at, len, 0)?;
    }
    let clamps = clamps(&mut wire, &w, &cands);
    let qdq = std::mem::take(&mut w.qdq);
    let q_by_out: HashMap<&str, usize> = qdq
        .iter()
        .enumerate()
        .filter(|(_, n)| n.quant && !n.out.is_empty())
        .map(|(i, n)| (n.out.as_str(), i))
        .collect();
    // Quantize nodes first, so a DequantizeLinear fed by one knows its data type.
    let mut resolved: Vec<Option<Result<Params, Skip>>> = (0..qdq.len()).map(|_| None).collect();
    for (i, n) in qdq.iter().enumerate() {
        if n.quant {
            resolved[i] = Some(wire.resolve(&w, n, 0));
        }
    }
    for (i, n) in qdq.iter().enumerate() {
        if !n.quant {
            let dt = match q_by_out.get(n.x.as_str()) {
                Some(&j) => match &resolved[j] {
                    Some(Ok(p)) => p.dtype,
                    _ => 0,
                },
                None => w.constants.get(&n.x).copied().unwrap_or(0),
            };
            resolved[i] = Some(wire.resolve(&w, n, dt));
        }
    }

    let mut c = Collector::default();
    let mut external: Vec<String> = Vec::new();
    let (mut external_nodes, mut skipped) = (0usize, 0usize);
    let (mut acts, mut weights, mut per_channel) = (0usize, 0usize, 0usize);
    let mut odd_types: Vec<String> = Vec::new();
    for (i, n) in qdq.iter().enumerate() {
        let p = match &resolved[i] {
            Some(Ok(p)) => p,
            Some(Err(Skip::External(loc))) => {
                external_nodes += 1;
                if !external.contains(loc) {
                    external.push(loc.clone());
                }
                continue;
            }
            Some(Err(Skip::Other(why))) => {
                skipped += 1;
                c.notes
                    .push(format!("{} `{}`: {why}: skipped", n.op(), n.label()));
                continue;
            }
            None => continue,
        };
        let pc = usize::from(p.scales.len() > 1);
        if p.dtype == 21 || is_float8(p.dtype) {
            let t = type_name(p.dtype);
            if !odd_types.contains(&t) {
                odd_types.push(t);
            }
        }
        if n.quant {
            acts += 1;
            per_channel += pc;
            c.add(&n.x, p, false);
            c.add(&n.out, p, false);
            continue;
        }
        if let Some(&j) = q_by_out.get(n.x.as_str()) {
            c.add(&n.out, p, false);
            if let Some(Ok(q)) = &resolved[j] {
                if q.scales != p.scales || q.zps != p.zps {
                    c.notes.push(format!(
                        "DequantizeLinear `{}` does not use the scale and zero point of its QuantizeLinear `{}`",
                        n.label(),
                        qdq[j].label()
                    ));
                }
            }
            continue;
        }
        let weight = w.constants.contains_key(&n.x);
        if weight {
            weights += 1;
        } else {
            acts += 1;
        }
        per_channel += pc;
        c.add(&n.out, p, weight);
        c.add(&n.x, p, weight);
        if weight {
            if let Some(stem) = n.x.strip_suffix("_quantized") {
                c.add(stem, p, weight);
            }
        }
    }
    let nq = qdq.iter().filter(|n| n.quant).count();
    let mut notes = vec![format!(
        "{nq} QuantizeLinear and {} DequantizeLinear nodes: scales of {acts} activations and {weights} weights or biases ({per_channel} per-channel), under {} tensor names",
        qdq.len() - nq,
        c.entries.len()
    )];
    if !external.is_empty() {
        let msg = format!(
            "scales are stored outside the .onnx file, in external data ({}), which QuantLens does not read: re-save the model with small tensors inside it (onnx.save(model, path, save_as_external_data=True, size_threshold=1024) keeps scales and zero points in the .onnx file)",
            external.join(", ")
        );
        if c.entries.is_empty() {
            return Err(ParseError::from(format!("the model's {msg}")));
        }
        notes.push(format!("{external_nodes} Q/DQ nodes skipped: their {msg}"));
    }
    if c.entries.is_empty() {
        let why = c
            .notes
            .list
            .first()
            .cloned()
            .unwrap_or_else(|| "no node could be read".into());
        return Err(ParseError::from(format!(
            "no scale of the model could be read: {why}"
        )));
    }
    if !odd_types.is_empty() {
        notes.push(format!(
            "some tensors are quantized to {}, a grid QuantLens does not have: their dtype is left unset",
            odd_types.join(", ")
        ));
    }
    if skipped > 0 {
        notes.push(format!("{skipped} Q/DQ nodes skipped (below)"));
    }
    notes.extend(c.notes.list);
    if c.notes.more > 0 {
        notes.push(format!("… and {} more notes", c.notes.more));
    }
    let mut entries = c.entries;
    if !clamps.is_empty() {
        for e in entries.iter_mut().filter(|e| !e.weight) {
            e.clamp_after = clamps.get(&e.name).copied();
        }
        notes.push(format!(
            "{} activations feed only a Clip to constant bounds (hardswish's Add → Clip(0, 6)) or a Relu after their QuantizeLinear → DequantizeLinear: clipping those ops would do anyway is noted as harmless",
            cands
                .iter()
                .filter(|c| clamps.contains_key(&c.x))
                .count()
        ));
    }
    Ok(ScaleSet {
        source: "ONNX QDQ model".into(),
        entries,
        notes,
    })
}

/// After pass 1: the activations whose QuantizeLinear → DequantizeLinear outputs feed Clip nodes,
/// with the names pass 2 is to count the uses of and the Clip bounds it is to read.
fn clamp_candidates(w: &mut Walk) -> Vec<ClampCandidate> {
    let mut clips_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in w.clips.iter().enumerate() {
        clips_of.entry(c.x.as_str()).or_default().push(i);
    }
    let mut out = Vec::new();
    for q in w
        .qdq
        .iter()
        .filter(|n| n.quant && !n.x.is_empty() && !n.out.is_empty())
    {
        let dq_outs: Vec<(String, usize)> = w
            .qdq
            .iter()
            .filter(|d| !d.quant && d.x == q.out && !d.out.is_empty())
            .map(|d| {
                let n = clips_of.get(d.out.as_str()).map_or(0, Vec::len);
                (d.out.clone(), n)
            })
            .collect();
        if dq_outs.is_empty() || dq_outs.iter().any(|(_, n)| *n == 0) {
            continue;
        }
        let clip = clips_of[dq_outs[0].0.as_str()][0];
        out.push(ClampCandidate {
            x: q.x.clone(),
            q_out: q.out.clone(),
            dq_outs,
            clip,
        });
    }
    for c in &out {
        for n in [&c.x, &c.q_out]
            .into_iter()
            .chain(c.dq_outs.iter().map(|(n, _)| n))
        {
            w.uses.insert(n.clone(), 0);
        }
        let k = &w.clips[c.clip];
        for b in [&k.lo, &k.hi] {
            if !b.is_empty() {
                w.wanted.insert(b.clone());
            }
        }
    }
    out
}

/// After pass 2: each candidate's [lo, hi] when the Clips are all that reads its quantized
/// values (its QuantizeLinear the only reader of the activation, DequantizeLinears the only
/// readers of that, Clips the only readers of those), every Clip has the first one's bounds, and
/// both bounds are finite constants.
fn clamps<S: ByteSource + ?Sized>(
    wire: &mut Wire<'_, S>,
    w: &Walk,
    cands: &[ClampCandidate],
) -> HashMap<String, [f64; 2]> {
    let mut out = HashMap::new();
    let uses = |n: &str| w.uses.get(n).copied().unwrap_or(usize::MAX);
    // Clips by input, so each candidate looks only at its own (not every Clip of the model).
    let mut clips_of: HashMap<&str, Vec<&ClipNode>> = HashMap::new();
    for k in &w.clips {
        clips_of.entry(k.x.as_str()).or_default().push(k);
    }
    for c in cands {
        if uses(&c.x) != 1
            || uses(&c.q_out) != c.dq_outs.len()
            || c.dq_outs.iter().any(|(n, k)| uses(n) != *k)
        {
            continue;
        }
        let first = &w.clips[c.clip];
        let same = |k: &ClipNode| {
            k.lo == first.lo
                && k.hi == first.hi
                && k.lo_attr.map(f32::to_bits) == first.lo_attr.map(f32::to_bits)
                && k.hi_attr.map(f32::to_bits) == first.hi_attr.map(f32::to_bits)
        };
        if !c
            .dq_outs
            .iter()
            .flat_map(|(n, _)| clips_of.get(n.as_str()).into_iter().flatten())
            .all(|k| same(k))
        {
            continue;
        }
        // A bound not given is none (`NO_BOUND`): ONNX's Clip reads a missing min or max as
        // the float range's end (before opset 11, ±3.4e38 by default).
        let mut bound = |name: &str, attr: Option<f32>, none: f64| -> Option<f64> {
            if name.is_empty() {
                return Some(attr.map_or(none, f64::from));
            }
            let t = w.tensors.get(name).filter(|t| !t.external)?;
            match wire.floats(t).ok()?.as_slice() {
                [v] => Some(*v),
                _ => None,
            }
        };
        let (Some(lo), Some(hi)) = (
            bound(&first.lo, first.lo_attr, -NO_BOUND),
            bound(&first.hi, first.hi_attr, NO_BOUND),
        ) else {
            continue;
        };
        // A bound at or past the f32 range's end is none.
        let (lo, hi) = (
            if lo <= -(f32::MAX as f64) {
                -NO_BOUND
            } else {
                lo
            },
            if hi >= f32::MAX as f64 { NO_BOUND } else { hi },
        );
        if lo.is_finite() && hi.is_finite() && lo <= hi && (lo > -NO_BOUND || hi < NO_BOUND) {
            for n in [&c.x, &c.q_out]
                .into_iter()
                .chain(c.dq_outs.iter().map(|(n, _)| n))
            {
                out.insert(n.clone(), [lo, hi]);
            }
        }
    }
    out
}

/// Entries by name (the first parameters a name gets are kept) and notes.
#[derive(Default)]
struct Collector {
    entries: Vec<ScaleEntry>,
    index: HashMap<String, usize>,
    notes: Notes,
}

impl Collector {
    fn add(&mut self, name: &str, p: &Params, weight: bool) {
        if name.is_empty() {
            return;
        }
        let e = entry(name, p, weight);
        match self.index.get(name) {
            Some(&i) => {
                let old = &self.entries[i];
                if old.scale != e.scale
                    || old.zero_point != e.zero_point
                    || old.channel_scales != e.channel_scales
                {
                    let msg = format!(
                        "`{name}` has two sets of quantization parameters (scale {} and {}): the first is kept",
                        old.scale, e.scale
                    );
                    self.notes.push(msg);
                }
            }
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push(e);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// scales.json

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a true/false value",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn json_scale(name: &str, v: &Value) -> Result<f64, ParseError> {
    let s = match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        other => {
            return Err(ParseError::from(format!(
                "`{name}`: the scale must be a number, not {}",
                json_kind(other)
            )))
        }
    };
    if !(s.is_finite() && s > 0.0) {
        return Err(ParseError::from(format!(
            "`{name}`: the scale must be a positive finite number, not {s}"
        )));
    }
    Ok(s)
}

fn json_zp(name: &str, v: &Value, dtype: Option<QDType>) -> Result<i64, ParseError> {
    let z = match v {
        Value::Number(n) => match n.as_i64() {
            Some(z) => z,
            None => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => f as i64,
                _ => {
                    return Err(ParseError::from(format!(
                        "`{name}`: the zero point must be an integer, not {n}"
                    )))
                }
            },
        },
        other => {
            return Err(ParseError::from(format!(
                "`{name}`: the zero point must be an integer, not {}",
                json_kind(other)
            )))
        }
    };
    if let Some(dt) = dtype {
        let (lo, hi) = dt.range();
        if z < lo || z > hi {
            return Err(ParseError::from(format!(
                "`{name}`: the zero point {z} is outside {}'s range [{lo}, {hi}]",
                dt.name()
            )));
        }
    }
    Ok(z)
}

/// Read a scales.json: `{"name": 0.0123}`, `{"name": {"scale": 0.0123, "zero_point": 0, "dtype":
/// "int8"}}` (per-channel: `"scale": [...]`, `"zero_point": [...]` or one for all, `"axis"`, 0 when
/// absent), or either inside a top-level `{"scales": {...}}`. Scales must be positive and finite,
/// zero points integers inside the dtype's range; an error names the entry.
pub fn read_scales_json(text: &str) -> Result<ScaleSet, ParseError> {
    let v: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(top) = v else {
        return Err(ParseError::from(format!(
            "a scales file must be a JSON object mapping tensor names to scales, like {{\"conv1\": 0.0123}}; this one holds {}",
            json_kind(&v)
        )));
    };
    let obj = match top.get("scales") {
        Some(Value::Object(inner)) => inner,
        _ => &top,
    };
    if obj.is_empty() {
        return Err("the scales file holds no scales (an empty object)".into());
    }
    let mut entries = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for (name, val) in obj {
        let e = match val {
            Value::Number(_) => ScaleEntry {
                name: name.clone(),
                scale: json_scale(name, val)?,
                zero_point: 0,
                dtype: None,
                channel_scales: Vec::new(),
                channel_zero_points: Vec::new(),
                axis: None,
                weight: false,
                clamp_after: None,
            },
            Value::Object(o) => {
                for k in o.keys() {
                    if !matches!(k.as_str(), "scale" | "zero_point" | "dtype" | "axis")
                        && !unknown.contains(k)
                    {
                        unknown.push(k.clone());
                    }
                }
                let dtype = match o.get("dtype") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(QDType::parse(s).ok_or_else(|| {
                        format!("`{name}`: unknown dtype \"{s}\" (QuantLens knows int4, int8, int16, uint8 and uint16)")
                    })?),
                    Some(other) => {
                        return Err(ParseError::from(format!(
                            "`{name}`: the dtype must be a string like \"int8\", not {}",
                            json_kind(other)
                        )))
                    }
                };
                let axis = match o.get("axis") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
                    Some(other) => {
                        return Err(ParseError::from(format!(
                            "`{name}`: the axis must be an integer, not {}",
                            json_kind(other)
                        )))
                    }
                };
                match o.get("scale") {
                    None => {
                        return Err(ParseError::from(format!(
                            "`{name}`: an object without a \"scale\" (write {{\"scale\": 0.0123}})"
                        )))
                    }
                    Some(Value::Array(list)) => {
                        if list.is_empty() {
                            return Err(ParseError::from(format!("`{name}`: an empty list of scales")));
                        }
                        let mut scales = Vec::with_capacity(list.len());
                        for (i, s) in list.iter().enumerate() {
                            scales.push(json_scale(&format!("{name}[{i}]"), s)?);
                        }
                        let zps = match o.get("zero_point") {
                            None | Some(Value::Null) => vec![0; scales.len()],
                            Some(Value::Array(z)) => {
                                if z.len() != scales.len() {
                                    return Err(ParseError::from(format!(
                                        "`{name}`: {} zero points for {} scales",
                                        z.len(),
                                        scales.len()
                                    )));
                                }
                                let mut zps = Vec::with_capacity(z.len());
                                for (i, v) in z.iter().enumerate() {
                                    zps.push(json_zp(&format!("{name}[{i}]"), v, dtype)?);
                                }
                                zps
                            }
                            Some(v) => vec![json_zp(name, v, dtype)?; scales.len()],
                        };
                        let p = Params {
                            scales,
                            zps,
                            dtype: 0,
                            axis: axis.unwrap_or(0),
                        };
                        let mut e = entry(name, &p, false);
                        e.dtype = dtype;
                        e
                    }
                    Some(s) => ScaleEntry {
                        name: name.clone(),
                        scale: json_scale(name, s)?,
                        zero_point: match o.get("zero_point") {
                            None | Some(Value::Null) => 0,
                            Some(v) => json_zp(name, v, dtype)?,
                        },
                        dtype,
                        channel_scales: Vec::new(),
                        channel_zero_points: Vec::new(),
                        axis: None,
                        weight: false,
                        clamp_after: None,
                    },
                }
            }
            Value::Array(_) => {
                return Err(ParseError::from(format!(
                    "`{name}`: a list, not a scale (per-channel scales are written {{\"scale\": [...], \"axis\": 0}}; a [min, max] range is not a scale)"
                )))
            }
            other => {
                return Err(ParseError::from(format!(
                    "`{name}`: expected a scale (a number) or an object with a \"scale\", not {}",
                    json_kind(other)
                )))
            }
        };
        entries.push(e);
    }
    let mut notes = vec![format!("{} scales", entries.len())];
    if !unknown.is_empty() {
        notes.push(format!("keys ignored: {}", unknown.join(", ")));
    }
    Ok(ScaleSet {
        source: "scales.json".into(),
        entries,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs() {
        assert!(looks_like_onnx(b"\x08\x07\x12\x07pytorch\x1a\x032.0:"));
        assert!(!looks_like_onnx(b"\x08\x07"));
        assert!(!looks_like_onnx(b"\x93NUMPY\x01\x00"));
        assert!(!looks_like_onnx(b"PK\x03\x04"));
        assert!(!looks_like_onnx(b"{\"a\": 1}"));
        assert!(looks_like_scales_json(
            b"{\"a\": 0.5, \"b\": {\"scale\": 1}}"
        ));
        assert!(looks_like_scales_json(
            b" {\"scales\": {\"a\": {\"scale\": 0.5"
        ));
        assert!(looks_like_scales_json(b"{\"a\": 0.5, \"b\": 0."));
        assert!(!looks_like_scales_json(b"{\"a\": \"x\"}"));
        assert!(!looks_like_scales_json(b"[1, 2]"));
        assert!(!looks_like_scales_json(b"{}"));
    }

    #[test]
    fn lookups_with_ort_suffixes() {
        let s = read_scales_json(r#"{"conv1": 0.5, "fc_DequantizeLinear_Output": 0.25}"#)
            .expect("valid");
        assert_eq!(s.get("conv1").map(|e| e.scale), Some(0.5));
        assert_eq!(
            s.get("conv1_DequantizeLinear_Output").map(|e| e.scale),
            Some(0.5)
        );
        assert_eq!(s.get("fc").map(|e| e.scale), Some(0.25));
        assert_eq!(
            s.get("fc_QuantizeLinear_Output").map(|e| e.scale),
            Some(0.25)
        );
        assert!(s.get("other").is_none());
        assert_eq!(s.as_map().len(), 2);
    }

    #[test]
    fn varints_and_limits() {
        // A field whose length is a maximal varint: an error, no allocation.
        let mut b: Vec<u8> = vec![0x08, 0x07, 0x3a];
        b.extend([0xff; 9]);
        b.push(0x01);
        let e = read_onnx_scales(&mut b).expect_err("huge length");
        assert_eq!(
            e,
            "the ONNX file is truncated: the field at byte 2 is 18446744073709551615 bytes long, but the file ends at byte 13"
        );
        // An 11-byte varint.
        let mut b: Vec<u8> = vec![0x08];
        b.extend([0xff; 11]);
        let e = read_onnx_scales(&mut b).expect_err("malformed");
        assert_eq!(e, NOT_ONNX);
    }
}
