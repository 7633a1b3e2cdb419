//! Text encodings of reports as people save them: UTF-8 with or without a byte-order mark, and
//! UTF-16 (what Windows PowerShell's `>` writes) little- or big-endian, with its mark or without
//! (told from the NUL bytes of ASCII text). Everything is turned into UTF-8 while streaming, so the
//! parsers see one encoding.

use std::io::{self, Read};

/// The encoding a file's first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    /// UTF-16 LE without a byte-order mark (told from the zero high bytes of ASCII text).
    Utf16LeBare,
    /// UTF-16 BE without a byte-order mark (the zero high bytes come first).
    Utf16BeBare,
}

impl Encoding {
    pub fn sniff(head: &[u8]) -> Encoding {
        if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
            Encoding::Utf8Bom
        } else if head.starts_with(&[0xFF, 0xFE]) {
            Encoding::Utf16Le
        } else if head.starts_with(&[0xFE, 0xFF]) {
            Encoding::Utf16Be
        } else if looks_like_bomless_utf16(head, 1) {
            Encoding::Utf16LeBare
        } else if looks_like_bomless_utf16(head, 0) {
            Encoding::Utf16BeBare
        } else {
            Encoding::Utf8
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf8Bom => "UTF-8 with BOM",
            Encoding::Utf16Le => "UTF-16 LE",
            Encoding::Utf16Be => "UTF-16 BE",
            Encoding::Utf16LeBare => "UTF-16 LE (no byte-order mark)",
            Encoding::Utf16BeBare => "UTF-16 BE (no byte-order mark)",
        }
    }

    /// Bytes of the byte-order mark to skip.
    fn bom_len(self) -> usize {
        match self {
            Encoding::Utf8 | Encoding::Utf16LeBare | Encoding::Utf16BeBare => 0,
            Encoding::Utf8Bom => 3,
            Encoding::Utf16Le | Encoding::Utf16Be => 2,
        }
    }
}

/// Mostly-ASCII text saved as UTF-16 without a mark: in nine of ten code units of the head the
/// high byte (at `high`: 1 little-endian, 0 big-endian) is 0, and no code unit is 0.
fn looks_like_bomless_utf16(head: &[u8], high: usize) -> bool {
    let n = head.len().min(512) & !1;
    if n < 8 {
        return false;
    }
    let units = head[..n].chunks_exact(2);
    let k = units.len();
    let zero_high = units.clone().filter(|c| c[high] == 0).count();
    !units.clone().any(|c| c == [0, 0]) && zero_high * 10 >= k * 9
}

/// Decode a whole head (for detection): UTF-8 text of the head, whatever its encoding.
pub fn decode_head(head: &[u8]) -> (Encoding, Vec<u8>) {
    let enc = Encoding::sniff(head);
    let mut out = Vec::with_capacity(head.len());
    let mut r = Utf8Reader::new(head, enc);
    let _ = r.read_to_end(&mut out);
    (enc, out)
}

/// A `Read` that yields UTF-8 from a source in `enc` (the mark, if any, is skipped).
pub struct Utf8Reader<R: Read> {
    inner: R,
    enc: Encoding,
    skipped_bom: bool,
    /// A byte of a UTF-16 code unit split across reads, and a high surrogate waiting for its pair.
    odd: Option<u8>,
    high: Option<u16>,
    pending: Vec<u8>,
    pending_pos: usize,
    raw: Vec<u8>,
}

impl<R: Read> Utf8Reader<R> {
    pub fn new(inner: R, enc: Encoding) -> Utf8Reader<R> {
        Utf8Reader {
            inner,
            enc,
            skipped_bom: false,
            odd: None,
            high: None,
            pending: Vec::new(),
            pending_pos: 0,
            raw: vec![0; 64 * 1024],
        }
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.pending
            .extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    fn push_unit(&mut self, u: u16) {
        match (self.high.take(), u) {
            (None, 0xD800..=0xDBFF) => self.high = Some(u),
            (Some(h), 0xDC00..=0xDFFF) => {
                let cp = 0x10000 + (((h as u32) - 0xD800) << 10) + (u as u32 - 0xDC00);
                self.push_char(char::from_u32(cp).unwrap_or('\u{FFFD}'));
            }
            (Some(_), _) => {
                self.push_char('\u{FFFD}');
                self.push_unit(u);
            }
            (None, _) => self.push_char(char::from_u32(u as u32).unwrap_or('\u{FFFD}')),
        }
    }
}

impl<R: Read> Read for Utf8Reader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pending_pos < self.pending.len() {
                let n = out.len().min(self.pending.len() - self.pending_pos);
                out[..n].copy_from_slice(&self.pending[self.pending_pos..self.pending_pos + n]);
                self.pending_pos += n;
                return Ok(n);
            }
            self.pending.clear();
            self.pending_pos = 0;
            if !self.skipped_bom {
                self.skipped_bom = true;
                let mut bom = vec![0u8; self.enc.bom_len()];
                if !bom.is_empty() {
                    self.inner.read_exact(&mut bom)?;
                }
            }
            if matches!(self.enc, Encoding::Utf8 | Encoding::Utf8Bom) {
                return self.inner.read(out);
            }
            let k = self.inner.read(&mut self.raw)?;
            if k == 0 {
                if self.odd.take().is_some() || self.high.take().is_some() {
                    self.push_char('\u{FFFD}');
                    continue;
                }
                return Ok(0);
            }
            let mut bytes: Vec<u8> = Vec::with_capacity(k + 1);
            bytes.extend(self.odd.take());
            bytes.extend_from_slice(&self.raw[..k]);
            if bytes.len() % 2 == 1 {
                self.odd = bytes.pop();
            }
            for c in bytes.chunks_exact(2) {
                let u = match self.enc {
                    Encoding::Utf16Be | Encoding::Utf16BeBare => u16::from_be_bytes([c[0], c[1]]),
                    _ => u16::from_le_bytes([c[0], c[1]]),
                };
                self.push_unit(u);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16be(s: &str, bom: bool) -> Vec<u8> {
        let mut v = if bom { vec![0xFE, 0xFF] } else { vec![] };
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        v
    }

    fn utf16le(s: &str, bom: bool) -> Vec<u8> {
        // (A mark, or none: both are what Windows tools write.)
        let mut v = if bom { vec![0xFF, 0xFE] } else { vec![] };
        for u in s.encode_utf16() {
            v.extend_from_slice(&u.to_le_bytes());
        }
        v
    }

    #[test]
    fn utf16_and_boms_decode_to_utf8_across_read_boundaries() {
        let text = "name | qscale\r\nmodel.a | 0.5 ≈ 𝛼\n";
        for (bytes, want) in [
            (utf16le(text, true), Encoding::Utf16Le),
            (utf16le(text, false), Encoding::Utf16LeBare),
            (utf16be(text, true), Encoding::Utf16Be),
            (utf16be(text, false), Encoding::Utf16BeBare),
        ] {
            let enc = Encoding::sniff(&bytes);
            assert_eq!(enc, want);
            // Read one byte at a time through a reader that splits code units.
            struct Trickle<'a>(&'a [u8]);
            impl Read for Trickle<'_> {
                fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                    if self.0.is_empty() || b.is_empty() {
                        return Ok(0);
                    }
                    b[0] = self.0[0];
                    self.0 = &self.0[1..];
                    Ok(1)
                }
            }
            let mut out = String::new();
            Utf8Reader::new(Trickle(&bytes), enc)
                .read_to_string(&mut out)
                .expect("decode");
            assert_eq!(out, text);
        }
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(text.as_bytes());
        let (enc, head) = decode_head(&bom8);
        assert_eq!((enc, head.as_slice()), (Encoding::Utf8Bom, text.as_bytes()));
        assert_eq!(Encoding::sniff(b"plain text"), Encoding::Utf8);
    }

    #[test]
    fn bomless_utf16_needs_nul_high_bytes_and_no_nul_units() {
        // Binary data with NUL bytes in both places, or whole NUL code units, is not text.
        assert_eq!(Encoding::sniff(b"\0\0\0\0abcdefgh"), Encoding::Utf8);
        assert_eq!(Encoding::sniff(b"\x93NUMPY\x01\0v\0"), Encoding::Utf8);
        // Too short to tell.
        assert_eq!(Encoding::sniff(&utf16be("abc", false)), Encoding::Utf8);
        // Mostly ASCII with some non-Latin text still counts (nine in ten).
        let s = "layer | cosine | 层\n".repeat(4);
        assert_eq!(Encoding::sniff(&utf16be(&s, false)), Encoding::Utf16BeBare);
        let (_, out) = decode_head(&utf16be(&s, false));
        assert_eq!(out, s.as_bytes());
    }
}
