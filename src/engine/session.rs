//! The analysis session: detect each file, parse it while streaming, diagnose, and collect one result.
//!
//! Both front ends (the web worker and the CLI) go through [`analyze_source`]; they differ only in
//! how bytes arrive (Blob slices vs. `std::fs::File`).

use super::detect::{detect, Detection, Format, SNIFF_BYTES};
use super::doc::Note;
use super::findings::{Finding, Severity};
use super::model_check::{self, ModelCheck};
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Read};

/// A parsed document of a supported format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Document {
    ModelCheck(ModelCheck),
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
    /// All findings, most severe first.
    pub findings: Vec<FileFinding>,
}

impl Analysis {
    pub fn count(&self, s: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.finding.severity == s)
            .count()
    }

    pub fn add(&mut self, report: FileReport, findings: Vec<Finding>) {
        let file = self.files.len();
        self.files.push(report);
        self.findings.extend(
            findings
                .into_iter()
                .map(|finding| FileFinding { file, finding }),
        );
        self.findings.sort_by_key(|f| f.finding.severity);
    }
}

/// Read up to `n` bytes (fewer only at end of input).
fn read_head<R: Read>(r: &mut R, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n.min(1 << 20));
    r.by_ref().take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Detect, parse and diagnose one file read from `source` (any `Read`, consumed in buffered slices).
pub fn analyze_source<R: Read>(
    name: &str,
    size_bytes: u64,
    mut source: R,
) -> (FileReport, Vec<Finding>) {
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
            return (report, Vec::new());
        }
    };
    let format = match detect(name, &head, size_bytes.max(head.len() as u64)) {
        Detection::Supported(f) => f,
        Detection::Rejected(why) => {
            report.error = Some(why);
            return (report, Vec::new());
        }
    };
    report.format = Some(format);
    report.format_label = Some(format.label().to_string());
    let reader = BufReader::with_capacity(256 * 1024, std::io::Cursor::new(head).chain(source));
    match format {
        Format::ModelCheck => match model_check::parse_reader(reader) {
            Ok(mc) => {
                let findings = super::diagnose_check::diagnose(&mc);
                report.notes = mc.notes.clone();
                report.document = Some(Document::ModelCheck(mc));
                (report, findings)
            }
            Err(e) => {
                report.error = Some(format!("not a readable model-check file: {e}"));
                (report, Vec::new())
            }
        },
    }
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
                let v = idx.entry((f.file, e.table.clone(), e.row)).or_default();
                if v.last() != Some(&fi) {
                    v.push(fi);
                }
            }
        }
        idx
    }
}

impl FileReport {
    /// The parsed tables of this file, in file order (empty when the file was not read).
    pub fn tables(&self) -> &[super::doc::DocTable] {
        match &self.document {
            Some(Document::ModelCheck(mc)) => &mc.tables,
            None => &[],
        }
    }
}

impl Analysis {
    /// Add the files and findings of `other`. A file dropped again (same name and size) replaces
    /// the earlier copy, so re-dropping updates instead of duplicating.
    pub fn merge(&mut self, other: Analysis) {
        let Analysis { files, findings } = other;
        let mut incoming: Vec<(FileReport, Vec<Finding>)> =
            files.into_iter().map(|f| (f, Vec::new())).collect();
        for f in findings {
            if let Some(slot) = incoming.get_mut(f.file) {
                slot.1.push(f.finding);
            }
        }
        for (report, findings) in incoming {
            if let Some(old) = self
                .files
                .iter()
                .position(|f| f.name == report.name && f.size_bytes == report.size_bytes)
            {
                self.remove_file(old);
            }
            self.add(report, findings);
        }
    }

    fn remove_file(&mut self, index: usize) {
        self.files.remove(index);
        self.findings.retain(|f| f.file != index);
        for f in &mut self.findings {
            if f.file > index {
                f.file -= 1;
            }
        }
    }
}
