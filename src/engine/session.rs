//! The analysis session: detect each file, parse it while streaming, then diagnose all documents
//! together (reports are joined: sensitivity ⇄ comparison rows, advisor ⇄ computed rules).
//!
//! Both front ends (the web worker and the CLI) go through [`analyze_source`] and [`Analysis`]; they
//! differ only in how bytes arrive (Blob slices vs. `std::fs::File`).

use super::compare::{self, CompareTable};
use super::detect::{detect, Detection, Format, SNIFF_BYTES};
use super::doc::{DocTable, Note};
use super::findings::{Finding, Severity};
use super::model_check::{self, ModelCheck};
use super::sensitivity::{self, SensitivityTable};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Read};

/// What the user says this run is meant to be (the seed: "all-int16 first, then all-int8, then mixed").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Not stated: no dtype expectation is checked.
    #[default]
    Unstated,
    AllInt8,
    AllInt16,
    Mixed,
}

impl Intent {
    pub fn parse(s: &str) -> Option<Intent> {
        match s.to_ascii_lowercase().as_str() {
            "int8" | "all-int8" | "all_int8" => Some(Intent::AllInt8),
            "int16" | "all-int16" | "all_int16" => Some(Intent::AllInt16),
            "mixed" => Some(Intent::Mixed),
            "" | "unstated" | "none" => Some(Intent::Unstated),
            _ => None,
        }
    }
}

/// A parsed document of a supported format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Document {
    ModelCheck(ModelCheck),
    Compare(CompareTable),
    Sensitivity(SensitivityTable),
    /// Advisor, statistic, badcase and similarity files: their tables, shown as written.
    Tables {
        tables: Vec<DocTable>,
    },
    /// A tensor dump (.npy, .npz, .safetensors): its tensors, and which side of the comparison it is on.
    Tensors {
        entries: Vec<super::tensor::TensorEntry>,
        side: Option<super::pairs::Side>,
    },
}

/// One input file and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileReport {
    pub name: String,
    pub size_bytes: u64,
    pub format: Option<Format>,
    pub format_label: Option<String>,
    /// Why the file could not be read, in plain words (None when it was read).
    pub error: Option<String>,
    pub document: Option<Document>,
    pub notes: Vec<Note>,
}

impl FileReport {
    /// The parsed tables of this file, in file order (empty when the file was not read).
    pub fn tables(&self) -> Vec<&DocTable> {
        match &self.document {
            Some(Document::ModelCheck(mc)) => mc.tables.iter().collect(),
            Some(Document::Compare(c)) => vec![&c.doc],
            Some(Document::Sensitivity(s)) => vec![&s.doc],
            Some(Document::Tables { tables }) => tables.iter().collect(),
            Some(Document::Tensors { .. }) | None => Vec::new(),
        }
    }

    /// Rows read from the file (all tables).
    pub fn row_count(&self) -> usize {
        match &self.document {
            Some(Document::Compare(c)) => c.rows.len(),
            _ => self.tables().iter().map(|t| t.rows.len()).sum(),
        }
    }

    pub fn compare(&self) -> Option<&CompareTable> {
        match &self.document {
            Some(Document::Compare(c)) => Some(c),
            _ => None,
        }
    }

    pub fn sensitivity(&self) -> Option<&SensitivityTable> {
        match &self.document {
            Some(Document::Sensitivity(s)) => Some(s),
            _ => None,
        }
    }
}

/// A finding together with the file it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileFinding {
    pub file: usize,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Everything the UI and CLI show.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    pub files: Vec<FileReport>,
    /// All findings, most severe and most important first.
    pub findings: Vec<FileFinding>,
    pub intent: Intent,
    /// Float vs quantized tensor pairs compared from dumps.
    #[serde(default)]
    pub tensors: super::pairs::TensorComparison,
}

impl Analysis {
    pub fn count(&self, s: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.severity == s)
            .count()
    }

    /// Add a file; call [`Analysis::recompute`] once all files of a batch are in.
    pub fn add_file(&mut self, report: FileReport) {
        self.files.push(report);
    }

    /// Diagnose every document again (after files were added or the intent changed).
    pub fn recompute(&mut self) {
        let mut out = Vec::new();
        for (i, f) in self.files.iter().enumerate() {
            if let Some(Document::ModelCheck(mc)) = &f.document {
                out.extend(
                    super::diagnose_check::diagnose(mc)
                        .into_iter()
                        .map(|finding| FileFinding { file: i, finding }),
                );
            }
        }
        out.extend(super::diagnose_report::diagnose(&self.files, self.intent));
        for (row, p) in self.tensors.pairs.iter().enumerate() {
            if let Some(m) = &p.metrics {
                out.extend(
                    super::pairs::pair_findings(&p.name, row, m)
                        .into_iter()
                        .map(|finding| FileFinding {
                            file: p.quant_file,
                            finding,
                        }),
                );
            }
        }
        out.sort_by(|a, b| {
            a.finding
                .severity
                .cmp(&b.finding.severity)
                .then(b.finding.score.total_cmp(&a.finding.score))
        });
        self.findings = out;
    }

    pub fn set_intent(&mut self, intent: Intent) {
        self.intent = intent;
        self.recompute();
    }

    /// The `n` findings that matter most across all files (errors first, then by importance;
    /// summaries of whole tables such as `sensitive_ops` are left to their own view).
    pub fn top(&self, n: usize) -> Vec<usize> {
        (0..self.findings.len())
            .filter(|&i| self.findings[i].finding.kind != super::findings::kind::SENSITIVE_OPS)
            .take(n)
            .collect()
    }

    /// Where an op stands in every loaded sensitivity table: (file, table label, rank from 1, value).
    pub fn sensitivity_of(&self, op_name: &str) -> Vec<(usize, String, usize, Option<f64>)> {
        let mut out = Vec::new();
        for (fi, f) in self.files.iter().enumerate() {
            if let Some(t) = f.sensitivity() {
                for (rank, r) in t.rows.iter().enumerate() {
                    if r.op_name == op_name {
                        out.push((fi, t.label(), rank + 1, r.value));
                    }
                }
            }
        }
        out
    }

    /// Scales known from loaded comparison reports, by layer name (the first call's qscale): they
    /// enable the error split for tensor pairs of the same name without typing anything.
    pub fn report_scales(&self) -> std::collections::HashMap<String, f64> {
        let mut out = std::collections::HashMap::new();
        for f in &self.files {
            if let Some(t) = f.compare() {
                for r in &t.rows {
                    if let Some(s) = r.qscale.filter(|s| *s > 0.0 && s.is_finite()) {
                        if !r.mod_name.is_empty()
                            && r.quant_dtype.as_ref().is_some_and(|d| d.qrange().is_some())
                        {
                            out.entry(r.mod_name.clone()).or_insert(s);
                        }
                    }
                }
            }
        }
        out
    }

    /// The first comparison file and the rows of `op_name` in it.
    pub fn compare_rows_of(&self, op_name: &str) -> Option<(usize, Vec<usize>)> {
        self.files.iter().enumerate().find_map(|(fi, f)| {
            let t = f.compare()?;
            let rows: Vec<usize> = (0..t.rows.len())
                .filter(|&i| t.rows[i].mod_name == op_name)
                .collect();
            (!rows.is_empty()).then_some((fi, rows))
        })
    }
}

/// Read up to `n` bytes (fewer only at end of input).
fn read_head<R: Read>(r: &mut R, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n.min(1 << 20));
    r.by_ref().take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Detect and parse one file read from `source` (any `Read`, consumed in buffered slices).
pub fn read_source<R: Read>(name: &str, size_bytes: u64, mut source: R) -> FileReport {
    let mut report = FileReport {
        name: name.to_string(),
        size_bytes,
        format: None,
        format_label: None,
        error: None,
        document: None,
        notes: Vec::new(),
    };
    let head = match read_head(&mut source, SNIFF_BYTES) {
        Ok(h) => h,
        Err(e) => {
            report.error = Some(format!("could not read the file: {e}"));
            return report;
        }
    };
    let format = match detect(name, &head, size_bytes.max(head.len() as u64)) {
        Detection::Supported(f) => f,
        Detection::Rejected(why) => {
            report.error = Some(why);
            return report;
        }
    };
    report.format = Some(format);
    report.format_label = Some(format.label().to_string());
    let reader = BufReader::with_capacity(256 * 1024, std::io::Cursor::new(head).chain(source));
    let parsed: Result<(Document, Vec<Note>), String> = match format {
        Format::ModelCheck => model_check::parse_reader(reader)
            .map(|mc| {
                let notes = mc.notes.clone();
                (Document::ModelCheck(mc), notes)
            })
            .map_err(|e| format!("not a readable model-check file: {e}")),
        Format::CompareTxt => compare::parse_txt(reader)
            .map(|c| {
                let notes = c.notes.clone();
                (Document::Compare(c), notes)
            })
            .map_err(|e| format!("not a readable compare table: {e}")),
        Format::CompareCsv => compare::parse_csv(reader)
            .map(|c| {
                let notes = c.notes.clone();
                (Document::Compare(c), notes)
            })
            .map_err(|e| format!("not a readable compare csv: {e}")),
        Format::Sensitivity => sensitivity::parse(reader, name)
            .map(|s| {
                let notes = s.notes.clone();
                (Document::Sensitivity(s), notes)
            })
            .map_err(|e| format!("not a readable sensitivity table: {e}")),
        Format::Tensors => {
            Err("tensor dumps are read with random access (read_tensor_source)".into())
        }
        Format::Advisor | Format::Statistic | Format::Badcase | Format::Similarity => {
            super::tabdoc::parse_tables(reader).map(|(mut tables, notes)| {
                let prefix = match format {
                    Format::Advisor => "advisor",
                    Format::Statistic => "statistic",
                    Format::Badcase => "badcase",
                    _ => "similarity",
                };
                let n = tables.len();
                for (i, t) in tables.iter_mut().enumerate() {
                    t.id = if n == 1 {
                        prefix.to_string()
                    } else {
                        format!("{prefix}_{}", i + 1)
                    };
                }
                (Document::Tables { tables }, notes)
            })
        }
    };
    match parsed {
        Ok((doc, notes)) => {
            report.document = Some(doc);
            report.notes = notes;
        }
        Err(e) => report.error = Some(e),
    }
    report
}

/// True when the first bytes are a tensor container QuantLens reads (npy, zip/npz, safetensors).
pub fn is_tensor_file(head: &[u8], size: u64) -> bool {
    head.starts_with(b"\x93NUMPY")
        || head.starts_with(b"PK\x03\x04")
        || (head.first() == Some(&0x80) && head.get(1).is_some_and(|v| (2..=5).contains(v)))
        || super::tensor::safetensors::looks_like(head, size)
}

/// List the tensors of a tensor dump read through random access (a Blob, a file).
pub fn read_tensor_source(name: &str, src: &mut dyn super::tensor::ByteSource) -> FileReport {
    let mut report = FileReport {
        name: name.to_string(),
        size_bytes: src.size(),
        format: None,
        format_label: None,
        error: None,
        document: None,
        notes: Vec::new(),
    };
    match super::tensor::list_tensors_with_notes(name, src) {
        Ok((entries, skipped)) => {
            report.notes.extend(skipped.into_iter().map(|text| Note {
                line: None,
                text: format!("Not read: {text}"),
            }));
            report.format = Some(Format::Tensors);
            report.format_label = Some(Format::Tensors.label().to_string());
            let side = super::pairs::guess_side(name);
            if side.is_none() {
                report.notes.push(Note {
                    line: None,
                    text: "Side not known from the path (no float/fp32/baseline or quant/qdq/int8/calib in it): choose it in the Tensors view.".into(),
                });
            }
            report.document = Some(Document::Tensors { entries, side });
        }
        Err(e) => report.error = Some(e),
    }
    report
}

/// Detect, parse and diagnose one file on its own (the CLI's `check`, tests).
pub fn analyze_source<R: Read>(
    name: &str,
    size_bytes: u64,
    source: R,
) -> (FileReport, Vec<Finding>) {
    let mut a = Analysis::default();
    a.add_file(read_source(name, size_bytes, source));
    a.recompute();
    let findings = a.findings.into_iter().map(|f| f.finding).collect();
    let report = a.files.pop().unwrap_or_else(|| FileReport {
        name: name.to_string(),
        size_bytes,
        format: None,
        format_label: None,
        error: Some("internal: no report".into()),
        document: None,
        notes: Vec::new(),
    });
    (report, findings)
}

/// Convenience for in-memory text (tests, examples).
pub fn analyze_text(name: &str, text: &str) -> (FileReport, Vec<Finding>) {
    analyze_source(name, text.len() as u64, text.as_bytes())
}

/// Key of a table row across the analysis: (file index, table id, row index).
pub type RowKey = (usize, String, usize);

impl Analysis {
    /// For every cited row, the indices (into `findings`) of the findings that cite it: lets a view
    /// go from a row to its findings as easily as from a finding to its rows.
    pub fn evidence_index(&self) -> std::collections::HashMap<RowKey, Vec<usize>> {
        let mut idx: std::collections::HashMap<RowKey, Vec<usize>> = Default::default();
        for (fi, f) in self.findings.iter().enumerate() {
            for e in &f.finding.evidence {
                let file = e.file.unwrap_or(f.file);
                let v = idx.entry((file, e.table.clone(), e.row)).or_default();
                if v.last() != Some(&fi) {
                    v.push(fi);
                }
            }
        }
        idx
    }

    /// Add the files of `other` and diagnose again. A file dropped again (same name and size)
    /// replaces the earlier copy, so re-dropping updates instead of duplicating.
    pub fn merge(&mut self, other: Analysis) {
        for report in other.files {
            if let Some(old) = self
                .files
                .iter()
                .position(|f| f.name == report.name && f.size_bytes == report.size_bytes)
            {
                self.files.remove(old);
            }
            self.files.push(report);
        }
        // A batch that compared tensors brings the comparison of the whole tensor set.
        if !other.tensors.pairs.is_empty()
            || !other.tensors.unpaired_float.is_empty()
            || !other.tensors.unpaired_quant.is_empty()
        {
            self.tensors = other.tensors;
        }
        self.recompute();
    }
}
