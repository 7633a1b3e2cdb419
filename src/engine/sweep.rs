//! The model runner's simulated mixed-precision sweep (`simulated_mixed_precision.json`): the whole quantized model's output error at each int16 ratio of the sensitivity setter, written by the runner and read back for the Pareto view.
//!
//! Each point is what Horizon's sensitivity setter would switch at that ratio (the top
//! `ceil(len · ratio)` rows of the ranking table, its activation rows to int16), simulated as a
//! whole: one quantized run per sample, the model's outputs against the float ones. So the curve
//! is measured, not a sum of single-op scores.

use super::doc::{DocTable, Note};
use super::table::Row;
use serde::{Deserialize, Serialize};

/// The value of the file's `format` field.
pub const SIGNATURE: &str = "quantlens.simulated_mixed_precision";
/// The file name the runner writes.
pub const FILE_NAME: &str = "simulated_mixed_precision.json";

/// One output's error at one point of the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputError {
    pub name: String,
    #[serde(with = "crate::engine::num")]
    pub l1: f64,
    #[serde(with = "crate::engine::num")]
    pub cosine: f64,
    #[serde(with = "crate::engine::num")]
    pub sqnr_db: f64,
}

/// One ratio of the setter, simulated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Rows of the ranking table taken (`ceil(len · ratio)`).
    pub topk: usize,
    #[serde(with = "crate::engine::num")]
    pub ratio: f64,
    /// The activations switched to int16 (ONNX tensor names), most sensitive first.
    pub int16: Vec<String>,
    /// Each model output against the float model's.
    pub outputs: Vec<OutputError>,
}

/// The whole sweep of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSet {
    pub format: String,
    pub version: u32,
    /// The model file the runner ran.
    pub model: String,
    /// The sensitivity table whose ranking the setter follows (its file name).
    pub table: String,
    /// Rows in that table (activation and weight rows).
    pub table_rows: usize,
    /// What the rest of the model is quantized to (`qint8`).
    pub base_dtype: String,
    /// Weights: `int8 per channel` or `float`.
    pub weights: String,
    pub samples: usize,
    pub points: Vec<SweepPoint>,
}

impl SweepSet {
    /// The error the Pareto view plots for a point: output 0's L1, as a share of the all-int8
    /// point's (the first), so 100% is "nothing switched".
    pub fn relative_l1(&self, p: &SweepPoint) -> Option<f64> {
        let base = self.points.first()?.outputs.first()?.l1;
        let v = p.outputs.first()?.l1;
        (base > 0.0 && v.is_finite()).then(|| v / base)
    }

    /// The sweep as a table, for the file view.
    pub fn doc_table(&self) -> DocTable {
        let mut headers = vec!["topk".to_string(), "ratio".into(), "int16 ops".into()];
        if let Some(p) = self.points.first() {
            for o in &p.outputs {
                for m in ["L1", "Cosine", "SQNR"] {
                    headers.push(format!("{} {m}", o.name));
                }
            }
        }
        let rows = self
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut cells = vec![
                    p.topk.to_string(),
                    format!("{}", p.ratio),
                    p.int16.len().to_string(),
                ];
                for o in &p.outputs {
                    cells.push(format!("{:.6e}", o.l1));
                    cells.push(format!("{:.6}", o.cosine));
                    cells.push(format!("{:.3}", o.sqnr_db));
                }
                Row { line: i + 1, cells }
            })
            .collect();
        DocTable {
            id: "sweep".into(),
            title: format!("Simulated mixed precision (ranked by {})", self.table),
            headers,
            rows,
            elided_runs: 0,
            first_line: 1,
        }
    }
}

/// Whether a file's head is a sweep (its `format` field names it).
pub fn looks_like_sweep(head: &[u8]) -> bool {
    let t = String::from_utf8_lossy(&head[..head.len().min(512)]);
    t.trim_start().starts_with('{') && t.contains(SIGNATURE)
}

/// Read a sweep; notes for what was odd in it.
pub fn parse(text: &str) -> Result<(SweepSet, Vec<Note>), String> {
    let set: SweepSet = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if set.format != SIGNATURE {
        return Err(format!("its format is {:?}, not {SIGNATURE:?}", set.format));
    }
    if set.version != 1 {
        return Err(format!(
            "version {} (this QuantLens reads version 1): open it with a newer QuantLens",
            set.version
        ));
    }
    let mut notes = Vec::new();
    if set.points.is_empty() {
        notes.push(Note {
            line: None,
            text: "the sweep has no point".into(),
        });
    }
    if !set.points.windows(2).all(|w| w[0].topk < w[1].topk) {
        return Err("its points are not in increasing topk order".into());
    }
    Ok((set, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> SweepSet {
        let pt = |topk: usize, l1: f64| SweepPoint {
            topk,
            ratio: topk as f64 / 10.0,
            int16: (0..topk).map(|i| format!("t{i}")).collect(),
            outputs: vec![OutputError {
                name: "out".into(),
                l1,
                cosine: 1.0 - l1,
                sqnr_db: f64::INFINITY,
            }],
        };
        SweepSet {
            format: SIGNATURE.into(),
            version: 1,
            model: "m.onnx".into(),
            table: "output_out_L1_sensitive_ops.txt".into(),
            table_rows: 10,
            base_dtype: "qint8".into(),
            weights: "int8 per channel".into(),
            samples: 2,
            points: vec![pt(0, 0.2), pt(3, 0.05), pt(10, 0.01)],
        }
    }

    #[test]
    fn round_trips_and_is_recognised_by_content() {
        let text = serde_json::to_string_pretty(&set()).unwrap();
        assert!(looks_like_sweep(text.as_bytes()));
        assert!(!looks_like_sweep(b"{\"scales\": {}}"));
        let (back, notes) = parse(&text).unwrap();
        assert_eq!(back, set());
        assert!(notes.is_empty());
        assert_eq!(back.relative_l1(&back.points[1]), Some(0.25));
        let t = back.doc_table();
        assert_eq!(t.rows.len(), 3);
        assert_eq!(t.headers[3], "out L1");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let mut s = set();
        s.version = 2;
        let e = parse(&serde_json::to_string(&s).unwrap()).unwrap_err();
        assert!(e.contains("version 2"), "{e}");
        let mut s = set();
        s.points.swap(0, 1);
        let e = parse(&serde_json::to_string(&s).unwrap()).unwrap_err();
        assert!(e.contains("increasing"), "{e}");
        assert!(parse("{\"format\": 3").is_err());
    }
}
