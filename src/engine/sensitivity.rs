//! Parser for QuantAnalysis `output_<out>_<metric>_sensitive_ops.txt`: a simple table with 4, 5 or 6
//! columns (`op_name, sensitive_type, op_type, <metric>[, quant_dtype][, flops]`), `g`-formatted metric
//! values, flops as `N(P%)`; one file per model output and metric.

use super::cells::{class_path, parse_flops, parse_num, DType};
use super::doc::{DocTable, Note};
use super::table::{Feed, SimpleReader};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensRow {
    pub line: usize,
    pub op_name: String,
    /// `activation`, `weight` (or `both` in some templates).
    pub sensitive_type: String,
    pub op_type: String,
    #[serde(default, with = "crate::engine::num::opt")]
    pub value: Option<f64>,
    pub quant_dtype: Option<DType>,
    pub flops: Option<u64>,
    #[serde(default, with = "crate::engine::num::opt")]
    pub flops_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SensitivityTable {
    /// The model output the table is about (`pred_boxes` in `output_pred_boxes_L1_sensitive_ops.txt`).
    pub output: Option<String>,
    /// The metric (the 4th column's header): `L1`, `Cosine`, `MSE`, `KL`, `SQNR`, `ATOL`…
    pub metric: String,
    /// Number of columns written (4, 5 or 6).
    pub columns: usize,
    pub rows: Vec<SensRow>,
    pub doc: DocTable,
    pub notes: Vec<Note>,
}

impl SensitivityTable {
    /// True when a smaller metric value means a more sensitive op (Cosine, SQNR).
    pub fn ascending(&self) -> bool {
        metric_ascending(&self.metric)
    }

    /// Written by QuantLens's own model runner (`engine::model`, op types `<class 'onnx.…'>`):
    /// true sensitivity measured in this page rather than read from the toolchain's report.
    pub fn measured_by_quantlens(&self) -> bool {
        !self.rows.is_empty()
            && self
                .rows
                .iter()
                .all(|r| r.op_type.starts_with("onnx.") || r.op_type.starts_with("<class 'onnx."))
    }

    /// Display label: `pred_boxes · L1`.
    pub fn label(&self) -> String {
        match &self.output {
            Some(o) => format!("output {o} · {}", self.metric),
            None => self.metric.clone(),
        }
    }
}

pub fn metric_ascending(metric: &str) -> bool {
    matches!(metric.to_ascii_lowercase().as_str(), "cosine" | "sqnr")
}

/// `output_pred_boxes_L1_sensitive_ops.txt` → (`pred_boxes`, `L1`).
pub fn name_parts(file_name: &str) -> Option<(String, String)> {
    let base = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = base
        .strip_prefix("output_")?
        .strip_suffix("_sensitive_ops.txt")?;
    let (out, metric) = stem.rsplit_once('_')?;
    Some((out.to_string(), metric.to_string()))
}

pub fn looks_like_header(line: &str) -> bool {
    let t: Vec<&str> = line.split_whitespace().collect();
    t.len() >= 4 && t[0] == "op_name" && t[1] == "sensitive_type" && t[2] == "op_type"
}

/// This reader's errors: the engine's one typed parse error.
pub use super::error::ParseError as SensitivityError;

const NO_TABLE: &str = "no sensitivity table found (expected a header 'op_name  sensitive_type  op_type  <metric> …' and a dash rule)";
const NO_ROWS: &str =
    "the sensitivity table has a header but no rows (was the sensitivity run interrupted?)";

pub fn parse<R: BufRead>(mut r: R, file_name: &str) -> Result<SensitivityTable, SensitivityError> {
    let mut reader = SimpleReader::new(&[]);
    let mut started = false;
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        let k = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| SensitivityError::Io(e.to_string()))?;
        if k == 0 {
            break;
        }
        n += 1;
        let line = std::str::from_utf8(&buf).map_err(|_| SensitivityError::NotText)?;
        let line = line.trim_end_matches(['\r', '\n']);
        if !started {
            if !looks_like_header(line) {
                continue;
            }
            started = true;
        }
        if reader.feed(n, line) == Feed::EndedBefore {
            break;
        }
    }
    let (groups, _) = reader.finish();
    let mut t = groups
        .into_iter()
        .next()
        .ok_or(SensitivityError::NotFound(NO_TABLE))?;
    if t.headers.len() < 4 {
        return Err(SensitivityError::NotFound(NO_TABLE));
    }
    if t.rows.is_empty() {
        return Err(SensitivityError::NoRows(NO_ROWS));
    }
    let columns = t.headers.len();
    let metric = t.headers[3].clone();
    let mut notes = Vec::new();
    let rows: Vec<SensRow> = t
        .rows
        .iter()
        .map(|r| {
            let c = |i: usize| r.cells.get(i).map(String::as_str).unwrap_or("");
            let dtype_cell = match columns {
                4 => "",
                5 => c(4),
                _ => c(4),
            };
            let flops = if columns >= 6 {
                parse_flops(c(5))
            } else {
                None
            };
            SensRow {
                line: r.line,
                op_name: c(0).to_string(),
                sensitive_type: c(1).to_string(),
                op_type: class_path(c(2)).to_string(),
                value: parse_num(c(3)),
                quant_dtype: (!dtype_cell.is_empty() && dtype_cell != "None")
                    .then(|| DType::parse(dtype_cell)),
                flops: flops.map(|f| f.0),
                flops_pct: flops.map(|f| f.1),
            }
        })
        .collect();
    if !t.irregular_rows.is_empty() {
        notes.push(Note::at(
            t.irregular_rows[0],
            format!(
                "{} row(s) were not column-aligned and were split on whitespace instead.",
                t.irregular_rows.len()
            ),
        ));
    }
    let (output, name_metric) = match name_parts(file_name) {
        Some((o, m)) => (Some(o), Some(m)),
        None => (None, None),
    };
    if let Some(m) = &name_metric {
        if !m.eq_ignore_ascii_case(&metric) {
            notes.push(Note {
                line: None,
                text: format!("The file name says metric '{m}' but the table's column says '{metric}'; using '{metric}'."),
            });
        }
    }
    let title = file_name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(file_name)
        .to_string();
    t.first_line = t.first_line.max(1);
    Ok(SensitivityTable {
        output,
        metric,
        columns,
        rows,
        doc: DocTable::from_table("sensitivity", &title, t),
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_columns_with_g_numbers_and_flops() {
        let text = "op_name     sensitive_type    op_type                                                                              L1  quant_dtype    flops\n\
----------  ----------------  --------------------------------------------------------------------------  -----------  -------------  --------------\n\
add2        activation        <class 'horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional'>  0.00364654   qint8          0(0%)\n\
conv        activation        <class 'horizon_plugin_pytorch.nn.qat.conv2d.Conv2d'>                       0.00266579   qint8          36720(100.00%)\n\
quant_grid  activation        <class 'horizon_plugin_pytorch.nn.qat.stubs.QuantStub'>                     3.56923e-05  qint16         0(0%)\n";
        let t = parse(text.as_bytes(), "output_0_L1_sensitive_ops.txt").expect("table");
        assert_eq!(t.metric, "L1");
        assert_eq!(t.output.as_deref(), Some("0"));
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.rows[1].flops, Some(36720));
        assert_eq!(t.rows[1].flops_pct, Some(100.0));
        assert_eq!(t.rows[2].value, Some(3.56923e-05));
        assert_eq!(t.rows[2].quant_dtype, Some(DType::QInt16));
        assert_eq!(
            t.rows[0].op_type,
            "horizon_plugin_pytorch.nn.qat.functional_modules.FloatFunctional"
        );
    }

    #[test]
    fn file_name_parts() {
        assert_eq!(
            name_parts("dir/output_pred_boxes_L1_sensitive_ops.txt"),
            Some(("pred_boxes".into(), "L1".into()))
        );
        assert_eq!(name_parts("x.txt"), None);
    }
}
