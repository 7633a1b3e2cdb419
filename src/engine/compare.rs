//! Parser for QuantAnalysis `compare_per_layer_out.txt` (psql grid) and `.csv` (`", "`-joined, `None`
//! literals, `torch.Size([1* 3])` shapes, ragged rows). Header-driven: the 17- and 24-column sets and
//! any newer columns are read by name, metric names case-insensitively; unknown columns are kept.

use super::cells::{parse_num, parse_torch_size, DType};
use super::doc::{DocTable, Note};
use super::table::{is_elision, psql_cell_slices, psql_cells, Feed, PsqlReader, Row, Table};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

/// One row: one call of one op (a module called twice has two rows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    /// The table's own row index (tabulate `showindex`), when written.
    pub index: Option<u64>,
    pub line: usize,
    pub mod_name: String,
    pub base_op_type: String,
    pub analy_op_type: String,
    /// Parsed shape; None for blank (fused rows) or `mismatch shape`.
    pub shape: Option<Vec<u64>>,
    /// The shape cell as written (`mismatch shape` is meaningful).
    pub shape_text: String,
    pub quant_dtype: Option<DType>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub qscale: Option<f64>,
    /// How precisely the qscale cell was written: half a unit of its last printed digit
    /// (`.7f` → 5e-8, a large share of an int16 scale), 0 when unknown.
    #[serde(default, with = "crate::engine::num")]
    pub qscale_abs_err: f64,
    #[serde(default, with = "crate::engine::num::opt")]
    pub cosine: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub mse: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub l1: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub kl: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub sqnr: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub atol: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub rtol: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub base_min: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub analy_min: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub base_max: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub analy_max: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub base_mean: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub analy_mean: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub base_var: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub analy_var: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub max_atol_diff: Option<f64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub max_qscale_diff: Option<f64>,
    /// Cells of the columns QuantLens does not interpret, in `CompareTable::extra_columns` order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

impl CompareRow {
    /// Short op type: `horizon_plugin_pytorch.nn.qat.stubs.QuantStub` → `QuantStub`.
    pub fn op_short(&self) -> &str {
        let t = if self.analy_op_type.is_empty() {
            &self.base_op_type
        } else {
            &self.analy_op_type
        };
        let t = t.split('[').next().unwrap_or(t);
        t.rsplit('.').next().unwrap_or(t)
    }

    pub fn is_quant_stub(&self) -> bool {
        // Horizon's QuantStub, and ONNX Runtime's QuantizeLinear of a model input.
        matches!(self.op_short(), "QuantStub" | "Quantize" | "QuantizeLinear")
    }

    /// Largest magnitude seen on either side (the advisor's `dmax`).
    pub fn dmax(&self) -> Option<f64> {
        [self.base_min, self.base_max, self.analy_min, self.analy_max]
            .iter()
            .flatten()
            .map(|v| v.abs())
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    }
}

/// A parsed compare table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareTable {
    /// `txt` or `csv`.
    pub source: String,
    pub rows: Vec<CompareRow>,
    /// The table's header and position as written. Its cells live in `rows` (typed) and in each
    /// row's `extra` (columns not interpreted), so `doc.rows` is empty: 10,000 rows are kept once.
    pub doc: DocTable,
    /// Columns QuantLens does not interpret, kept as text (newer tool versions, `same_in_*`).
    #[serde(default)]
    pub extra_columns: Vec<String>,
    pub notes: Vec<Note>,
    /// Each row's diagnosis (cause, representable range, clipping), in row order: empty as parsed,
    /// filled by the analysis.
    pub diag: Vec<super::cause::RowDiagnosis>,
    /// The row where the error jumps most (see `diagnose_report::collapse_point`).
    pub collapse_row: Option<usize>,
}

/// Half a unit in the last printed digit of a decimal number (`0.0003581` → 5e-8); 0 for exponent forms
/// or integers, whose precision the text does not bound.
fn printed_precision(cell: &str) -> f64 {
    let t = cell.trim();
    if t.contains(['e', 'E']) {
        return 0.0;
    }
    match t.split_once('.') {
        Some((_, frac)) if !frac.is_empty() => 0.5 * 10f64.powi(-(frac.len() as i32)),
        _ => 0.0,
    }
}

/// Known column → setter. Names compared lowercase.
fn assign(row: &mut CompareRow, col: &str, cell: &str) -> bool {
    let n = || parse_num(cell);
    match col {
        "mod_name" => row.mod_name = cell.trim().to_string(),
        "base_op_type" => row.base_op_type = cell.trim().to_string(),
        "analy_op_type" => row.analy_op_type = cell.trim().to_string(),
        "shape" => {
            row.shape_text = cell.trim().to_string();
            row.shape = parse_torch_size(cell);
        }
        "quant_dtype" => {
            let t = cell.trim();
            row.quant_dtype = (!t.is_empty() && t != "None").then(|| DType::parse(t));
        }
        "qscale" => {
            row.qscale = n();
            row.qscale_abs_err = printed_precision(cell);
        }
        "cosine" => row.cosine = n(),
        "mse" => row.mse = n(),
        "l1" => row.l1 = n(),
        "kl" => row.kl = n(),
        "sqnr" => row.sqnr = n(),
        "atol" => row.atol = n(),
        "rtol" => row.rtol = n(),
        "base_model_min" => row.base_min = n(),
        "analy_model_min" => row.analy_min = n(),
        "base_model_max" => row.base_max = n(),
        "analy_model_max" => row.analy_max = n(),
        "base_model_mean" => row.base_mean = n(),
        "analy_model_mean" => row.analy_mean = n(),
        "base_model_var" => row.base_var = n(),
        "analy_model_var" => row.analy_var = n(),
        "max_atol_diff" => row.max_atol_diff = n(),
        "max_qscale_diff" => row.max_qscale_diff = n(),
        _ => return false,
    }
    true
}

/// Header cells that make a table a compare table.
pub fn looks_like_header(cells: &[String]) -> bool {
    let has = |n: &str| cells.iter().any(|c| c.trim().eq_ignore_ascii_case(n));
    has("mod_name") && (has("base_op_type") || has("analy_op_type"))
}

/// Columns QuantLens does not know, for a note (they are kept in the displayed table).
fn unknown_columns(headers: &[String]) -> Vec<String> {
    let mut probe = CompareRow::default();
    headers
        .iter()
        .filter(|h| !h.trim().is_empty())
        .filter(|h| !assign(&mut probe, &h.trim().to_ascii_lowercase(), ""))
        .cloned()
        .collect()
}

/// This reader's errors: the engine's one typed parse error.
pub use super::error::ParseError as CompareError;

const NO_TABLE: &str =
    "no compare table found (expected a header with mod_name, base_op_type, analy_op_type …)";
const NO_ROWS: &str = "the compare table has a header but no rows";

fn lines<R: BufRead>(mut r: R, mut f: impl FnMut(usize, &str) -> bool) -> Result<(), CompareError> {
    let mut buf = Vec::new();
    let mut n = 0;
    loop {
        buf.clear();
        let k = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| CompareError::Io(e.to_string()))?;
        if k == 0 {
            return Ok(());
        }
        n += 1;
        let line = std::str::from_utf8(&buf).map_err(|_| CompareError::NotText)?;
        if !f(n, line.trim_end_matches(['\r', '\n'])) {
            return Ok(());
        }
    }
}

/// Column plan of a header: lowercase names, which ones are interpreted, and the others' names.
struct Columns {
    names: Vec<String>,
    known: Vec<bool>,
    extra: Vec<String>,
}

impl Columns {
    fn new(headers: &[String]) -> Columns {
        let names: Vec<String> = headers
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let known: Vec<bool> = names
            .iter()
            .map(|c| !c.is_empty() && assign(&mut CompareRow::default(), c, ""))
            .collect();
        let extra = names
            .iter()
            .enumerate()
            .filter(|(i, c)| !c.is_empty() && !known[*i])
            .map(|(i, _)| headers[i].trim().to_string())
            .collect();
        Columns {
            names,
            known,
            extra,
        }
    }

    fn row<'a>(&self, line: usize, cells: impl Iterator<Item = &'a str>) -> CompareRow {
        let mut row = CompareRow {
            line,
            ..Default::default()
        };
        for (i, cell) in cells.enumerate() {
            match self.names.get(i).map(String::as_str) {
                Some("") => row.index = cell.trim().parse().ok(),
                Some(c) if self.known[i] => {
                    assign(&mut row, c, cell);
                }
                Some(_) => row.extra.push(cell.trim().to_string()),
                None => {}
            }
        }
        row
    }
}

/// Parse the psql `.txt` form (the first compare table in the text). The header is read by the
/// generic psql reader; body rows are cut into `&str` slices and typed directly.
pub fn parse_txt<R: BufRead>(r: R) -> Result<CompareTable, CompareError> {
    let mut reader: Option<PsqlReader> = None;
    let mut header: Option<(Table, Columns, Vec<usize>)> = None;
    let mut rows: Vec<CompareRow> = Vec::new();
    let mut irregular: Vec<usize> = Vec::new();
    let mut elided = 0usize;
    let mut pending_border: Option<(usize, String)> = None;
    lines(r, |n, line| {
        let t = line.trim();
        if let Some((h, cols, joints)) = header.as_ref() {
            if t.starts_with('|') && !t.starts_with("|-") {
                match psql_cell_slices(line, joints) {
                    Some(cells) => rows.push(cols.row(n, cells)),
                    None => {
                        let cells = psql_cells(line, joints);
                        if cells.len() != h.headers.len() {
                            irregular.push(n);
                        }
                        rows.push(cols.row(n, cells.iter().map(String::as_str)));
                    }
                }
                return true;
            }
            if is_elision(t) {
                elided += 1;
                return true;
            }
            return t.starts_with("|-");
        }
        if let Some(rd) = reader.as_mut() {
            match rd.feed(n, line) {
                Feed::Consumed => {
                    if let Some((headers, joints)) = rd.body_layout() {
                        let cols = Columns::new(headers);
                        let joints = joints.to_vec();
                        if let Some(rd) = reader.take() {
                            header = Some((rd.into_header_table(), cols, joints));
                        }
                    }
                    return true;
                }
                Feed::EndedWith | Feed::EndedBefore => return false,
            }
        }
        if t.starts_with("+-") {
            pending_border = Some((n, line.to_string()));
        } else if t.starts_with('|') {
            let cells: Vec<String> = t
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            if looks_like_header(&cells) {
                let mut rd = PsqlReader::new();
                if let Some((bn, b)) = pending_border.take() {
                    rd.feed(bn, &b);
                }
                rd.feed(n, line);
                reader = Some(rd);
            }
        } else {
            pending_border = None;
        }
        true
    })?;
    let (mut t, cols, _) = match header {
        Some(h) => h,
        None => match reader.map(PsqlReader::into_header_table) {
            Some(t) if !t.headers.is_empty() => {
                return Err(if looks_like_header(&t.headers) {
                    CompareError::NoRows(NO_ROWS)
                } else {
                    CompareError::NotFound(NO_TABLE)
                })
            }
            _ => return Err(CompareError::NotFound(NO_TABLE)),
        },
    };
    if rows.is_empty() {
        return Err(CompareError::NoRows(NO_ROWS));
    }
    t.elided_runs += elided;
    t.irregular_rows = irregular;
    Ok(build("txt", t, rows, cols.extra))
}

fn build(
    source: &str,
    t: Table,
    rows: Vec<CompareRow>,
    extra_columns: Vec<String>,
) -> CompareTable {
    let mut notes = Vec::new();
    let unknown = unknown_columns(&t.headers);
    if !unknown.is_empty() {
        notes.push(Note::at(
            t.first_line,
            format!(
                "Columns QuantLens does not interpret (shown as written): {}.",
                unknown.join(", ")
            ),
        ));
    }
    if t.elided_runs > 0 {
        notes.push(Note::at(
            t.first_line,
            format!(
                "The table is an excerpt: {} '...' line(s) mark rows left out.",
                t.elided_runs
            ),
        ));
    }
    if !t.irregular_rows.is_empty() {
        notes.push(Note::at(
            t.irregular_rows[0],
            format!(
                "{} row(s) had a different number of cells than the header.",
                t.irregular_rows.len()
            ),
        ));
    }
    let title = if source == "csv" {
        "compare_per_layer_out.csv"
    } else {
        "compare_per_layer_out.txt"
    };
    let mut doc = DocTable::from_table("compare", title, t);
    doc.rows = Vec::new();
    CompareTable {
        source: source.to_string(),
        rows,
        doc,
        extra_columns,
        notes,
        // Filled by the analysis (`diagnose_report::diagnose_compare`): parsers never diagnose.
        diag: Vec::new(),
        collapse_row: None,
    }
}

/// Parse the `.csv` form: `", "` separators, no quoting, `None` literals, ragged rows.
pub fn parse_csv<R: BufRead>(r: R) -> Result<CompareTable, CompareError> {
    let mut t = Table::default();
    let mut ragged = 0usize;
    lines(r, |n, line| {
        if line.trim().is_empty() {
            return true;
        }
        let cells: Vec<String> = line.split(", ").map(|c| c.to_string()).collect();
        if t.headers.is_empty() {
            t.headers = cells.iter().map(|c| c.trim().to_string()).collect();
            t.first_line = n;
            return true;
        }
        let mut cells: Vec<String> = cells
            .into_iter()
            .map(|c| {
                let c = c.trim().to_string();
                if c == "None" {
                    String::new()
                } else {
                    c
                }
            })
            .collect();
        if cells.len() > t.headers.len() {
            // Rows with `same_in_*` keys carry more fields than the header (taken from row 0).
            ragged += 1;
            let base = t.headers.len();
            for (k, _) in cells.iter().enumerate().skip(base) {
                let name = match k - base {
                    0 => "same_in_qatbc_qdiff".to_string(),
                    1 => "same_in_intbc_qdiff".to_string(),
                    j => format!("extra_{j}"),
                };
                t.headers.push(name);
            }
        }
        while cells.len() < t.headers.len() {
            cells.push(String::new());
        }
        t.rows.push(Row { line: n, cells });
        true
    })?;
    if !looks_like_header(&t.headers) {
        return Err(CompareError::NotFound(NO_TABLE));
    }
    if t.rows.is_empty() {
        return Err(CompareError::NoRows(NO_ROWS));
    }
    // Shapes are written `torch.Size([1* 3])`; show them as torch prints them.
    if let Some(c) = t
        .headers
        .iter()
        .position(|h| h.eq_ignore_ascii_case("shape"))
    {
        for r in &mut t.rows {
            if let Some(cell) = r.cells.get_mut(c) {
                *cell = cell.replace("* ", ", ").replace('*', ", ");
            }
        }
    }
    // The csv has no index column: add the call order so rows line up with the txt.
    t.headers.insert(0, String::new());
    for (i, r) in t.rows.iter_mut().enumerate() {
        r.cells.insert(0, i.to_string());
    }
    let cols = Columns::new(&t.headers);
    let rows: Vec<CompareRow> = t
        .rows
        .iter()
        .map(|r| cols.row(r.line, r.cells.iter().map(String::as_str)))
        .collect();
    let mut out = build("csv", t, rows, cols.extra);
    if ragged > 0 {
        out.notes.push(Note {
            line: None,
            text: format!(
                "{ragged} row(s) carry extra same_in_* fields beyond the header (HBIR rows)."
            ),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_none_shape_and_ragged() {
        let text = "mod_name, base_op_type, analy_op_type, shape, quant_dtype, qscale, Cosine, L1, Atol, max_qscale_diff\n\
                    quant, a.QuantStub, b.QuantStub, torch.Size([18* 3* 17* 7]), qint8, 0.0078425, 0.9999925494194031, 0.0019, 0.0039, 0.49\n\
                    , torch.Tensor.topk, torch.Tensor.topk, mismatch shape, qint8, None, None, None, None, None, 1.0, 2.0\n";
        let t = parse_csv(text.as_bytes()).expect("csv");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0].shape, Some(vec![18, 3, 17, 7]));
        assert_eq!(t.rows[0].cosine, Some(0.9999925494194031));
        assert_eq!(t.rows[1].mod_name, "");
        assert_eq!(t.rows[1].shape_text, "mismatch shape");
        assert_eq!(t.rows[1].qscale, None);
        assert!(t.doc.headers.iter().any(|h| h == "same_in_intbc_qdiff"));
        assert_eq!(
            t.extra_columns,
            vec!["same_in_qatbc_qdiff", "same_in_intbc_qdiff"]
        );
        assert_eq!(t.rows[1].extra, vec!["1.0", "2.0"]);
        assert_eq!(t.rows[0].shape_text, "torch.Size([18, 3, 17, 7])");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num("inf"), Some(f64::INFINITY));
        assert!(parse_num("nan").is_some_and(f64::is_nan));
        assert_eq!(
            parse_num("340282346638528859811704183484516925440.0000000"),
            Some(3.4028234663852886e38)
        );
        assert_eq!(parse_num(""), None);
    }
}
