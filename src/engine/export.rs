//! Exports of what a view shows: one table (these rows, these columns, in this order) written as CSV
//! or JSON. The views build an [`ExportTable`] from the rows as filtered and sorted; this module only
//! writes it, the same way for every table.
//!
//! - CSV (RFC 4180): a field with a comma, a quote or a line break is quoted, quotes doubled. A text
//!   cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or carriage return
//!   first) gets a leading `'` — but numbers never do: `-3.5` stays `-3.5`.
//! - JSON: an array of objects keyed by column name, in column order; numbers are JSON numbers,
//!   an empty cell is `null`.
//! - Non-finite numbers as everywhere in the app (`num`): `inf`, `-inf`, `nan` — bare in CSV (numpy and
//!   pandas read them), strings in JSON (which has no literal for them).

use super::num::non_finite_text;

/// One cell of an exported table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing (an empty CSV field, JSON `null`).
    Empty,
    /// Text, written as text.
    Text(String),
    /// A computed number.
    Num(f64),
    /// A number as the report printed it (`0.9999990`): written as printed in CSV, as the number in
    /// JSON.
    Printed(String, f64),
}

impl Cell {
    /// A cell from text: empty, a number (as printed), or text.
    pub fn text(s: &str) -> Cell {
        if s.is_empty() {
            Cell::Empty
        } else if let Some(v) = number_text(s) {
            Cell::Printed(s.to_string(), v)
        } else {
            Cell::Text(s.to_string())
        }
    }

    /// An optional number (`None` is an empty cell).
    pub fn opt(v: Option<f64>) -> Cell {
        v.map(Cell::Num).unwrap_or(Cell::Empty)
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::text(s)
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::text(&s)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Cell {
        Cell::Num(v)
    }
}

impl From<usize> for Cell {
    fn from(v: usize) -> Cell {
        Cell::Num(v as f64)
    }
}

/// A table to export: column names and rows of cells (each row as long as `columns`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// The number a text is, when it is one as a report or numpy prints it: an optional sign, digits
/// with an optional point, an optional exponent; or `inf`, `-inf`, `nan`.
pub fn number_text(s: &str) -> Option<f64> {
    match s {
        "inf" => return Some(f64::INFINITY),
        "-inf" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let mut n = digits(&mut i);
    if i < b.len() && b[i] == b'.' {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return None;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'-' | b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    s.parse().ok()
}

/// A number in CSV: shortest round-trip text, non-finite as `inf`, `-inf`, `nan`.
pub fn csv_number(v: f64) -> String {
    match non_finite_text(v) {
        Some(t) => t.to_string(),
        None => format!("{v}"),
    }
}

/// A text field in CSV: neutralised when a spreadsheet would read it as a formula, then quoted when
/// it holds a comma, a quote or a line break.
pub fn csv_text(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']) && number_text(s).is_none();
    let s = if risky {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn json_number(v: f64) -> String {
    match non_finite_text(v) {
        Some(t) => format!("\"{t}\""),
        // Whole numbers as integers (`12`, not `12.0`), as JavaScript writes them.
        None if v.fract() == 0.0 && v.abs() < 1e15 => format!("{}", v as i64),
        None => serde_json::to_string(&v).unwrap_or_else(|_| "null".into()),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl ExportTable {
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> ExportTable {
        ExportTable {
            columns: columns.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// The table as CSV: a header line, then one line per row.
    pub fn csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| csv_text(c)).collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = (0..self.columns.len())
                .map(|j| match row.get(j).unwrap_or(&Cell::Empty) {
                    Cell::Empty => String::new(),
                    Cell::Text(s) => csv_text(s),
                    Cell::Num(v) => csv_number(*v),
                    Cell::Printed(s, _) => s.clone(),
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// Column names as JSON keys: a name met again gets ` (2)`, ` (3)`… so no value is lost.
    fn keys(&self) -> Vec<String> {
        let mut seen: Vec<&str> = Vec::new();
        self.columns
            .iter()
            .map(|c| {
                let n = seen.iter().filter(|s| **s == c.as_str()).count();
                seen.push(c);
                if n == 0 {
                    c.clone()
                } else {
                    format!("{c} ({})", n + 1)
                }
            })
            .collect()
    }

    /// The table as JSON: an array of objects keyed by column name (in column order), one per line.
    pub fn json(&self) -> String {
        let keys: Vec<String> = self.keys().iter().map(|k| json_string(k)).collect();
        let mut out = String::from("[");
        for (i, row) in self.rows.iter().enumerate() {
            out.push_str(if i == 0 { "\n  {" } else { ",\n  {" });
            for (j, key) in keys.iter().enumerate() {
                if j > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push_str(": ");
                match row.get(j).unwrap_or(&Cell::Empty) {
                    Cell::Empty => out.push_str("null"),
                    Cell::Text(s) => out.push_str(&json_string(s)),
                    Cell::Num(v) | Cell::Printed(_, v) => out.push_str(&json_number(*v)),
                }
            }
            out.push('}');
        }
        out.push_str(if self.rows.is_empty() { "]\n" } else { "\n]\n" });
        out
    }
}

/// A file name from a title: letters, digits, `.`, `_` and `-` kept, anything else `_` (runs of
/// them once), at most 80 characters; never empty.
pub fn file_stem(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    let out: String = out.trim_matches(['_', '.']).chars().take(80).collect();
    if out.is_empty() {
        "quantlens".into()
    } else {
        out
    }
}

/// A meaningful file name for an export of `source` (a file name or a view's title): its last path
/// component without the extension, then the part exported (`int16`, `range_picture.row_12`), then
/// `filtered` when rows are left out, then the extension — `compare_per_layer_out.filtered.csv`.
pub fn export_name(source: &str, part: Option<&str>, filtered: bool, ext: &str) -> String {
    format!("{}.{ext}", export_stem(source, part, filtered))
}

/// [`export_name`] without the extension (a figure is saved as `.svg` and as `.png`).
pub fn export_stem(source: &str, part: Option<&str>, filtered: bool) -> String {
    let base = source.rsplit(['/', '\\']).next().unwrap_or(source);
    let base = match base.rsplit_once('.') {
        Some((stem, e)) if !stem.is_empty() && e.len() <= 12 && !e.contains(' ') => stem,
        _ => base,
    };
    let mut name = file_stem(base);
    if let Some(p) = part.filter(|p| !p.is_empty()) {
        name.push('.');
        name.push_str(&file_stem(p));
    }
    if filtered {
        name.push_str(".filtered");
    }
    name
}
