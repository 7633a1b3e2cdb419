//! The analysis session: detect each file, parse it while streaming, then diagnose all documents
//! together (reports are joined: sensitivity ⇄ comparison rows, advisor ⇄ computed rules).
//!
//! Both front ends (the web worker and the CLI) go through [`Session`], [`read_source`] and
//! [`Analysis`]; they differ only in how bytes arrive (Blob slices vs. `std::fs::File`).

use super::compare;
use super::detect::{detect, Detection, Format, SNIFF_BYTES};
use super::doc::Note;
pub use super::document::{Document, FileFinding, FileReport};
use super::findings::{Finding, Severity};
pub use super::intent::Intent;
use super::model_check;
use super::sensitivity;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Read};

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
        // A run with its table as .txt and .csv: the txt (the one diagnosed) takes the csv's exact
        // qscales, so int16 ranges are not off by the txt's rounding.
        let pairs = super::document::compare_twins(&self.files);
        for (i, j) in pairs {
            // Two distinct files borrowed at once: the txt to refine, the csv to read.
            let (txt, csv) = if i < j {
                let (l, r) = self.files.split_at_mut(j);
                (&mut l[i], &r[0])
            } else {
                let (l, r) = self.files.split_at_mut(i);
                (&mut r[0], &l[j])
            };
            if let (Some(Document::Compare(t)), Some(c)) = (txt.document.as_mut(), csv.compare()) {
                super::diagnose_report::refine_qscales(t, c);
            }
        }
        for f in &mut self.files {
            if let Some(Document::Compare(t)) = f.document.as_mut() {
                super::diagnose_report::diagnose_compare(t);
            }
        }
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
        out.extend(
            super::pairs::all_pair_findings_in(
                &self.tensors.pairs,
                graph_order(&self.files).as_ref(),
            )
            .into_iter()
            .chain(super::pairs::nonfinite_findings(&self.tensors.pairs))
            .chain(super::pairs::uncompared_findings(&self.tensors.pairs))
            .map(|(file, finding)| FileFinding { file, finding }),
        );
        mark_harmless_pair_clips(&mut out, &self.files, &self.tensors.pairs);
        super::triage::triage(&mut out, &self.files);
        self.findings = out;
    }

    pub fn set_intent(&mut self, intent: Intent) {
        self.intent = intent;
        self.recompute();
    }

    /// The `n` findings that matter most across all files, in the triage's order (measured impact:
    /// a loaded sensitivity table's top ops first; harmless clips last).
    pub fn top(&self, n: usize) -> Vec<usize> {
        (0..self.findings.len().min(n)).collect()
    }

    /// A name for each file that tells it apart from the others: the file name, with as many of its
    /// folders as it takes (`run_a/model_check_result.txt` beside `run_b/model_check_result.txt`).
    pub fn display_names(&self) -> Vec<String> {
        let parts: Vec<Vec<&str>> = self
            .files
            .iter()
            .map(|f| {
                f.name
                    .split(['/', '\\'])
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .collect();
        let tail = |p: &Vec<&str>, k: usize| p[p.len().saturating_sub(k)..].join("/");
        // For each file, the fewest trailing components no other file ends with (as many as it
        // has at most): one count of every file's tail per length, not every pair compared.
        let mut k_of = vec![1usize; parts.len()];
        let mut open: Vec<usize> = (0..parts.len()).collect();
        let mut k = 1;
        while !open.is_empty() {
            let mut count: std::collections::HashMap<String, usize> = Default::default();
            for q in &parts {
                *count.entry(tail(q, k)).or_default() += 1;
            }
            open.retain(|&i| {
                let p = &parts[i];
                if k < p.len() && count.get(&tail(p, k)).copied().unwrap_or(0) > 1 {
                    true
                } else {
                    k_of[i] = k;
                    false
                }
            });
            k += 1;
        }
        let mut names: Vec<String> = parts
            .iter()
            .zip(&k_of)
            .map(|(p, &k)| {
                // Keep the distinguishing folder, drop the ones in between: `run_a/…/compare.txt`.
                if k > 2 {
                    format!("{}/…/{}", p[p.len() - k], p[p.len() - 1])
                } else {
                    tail(p, k)
                }
            })
            .collect();
        // Same full name twice (two files picked from different folders): number them.
        let mut same: std::collections::HashMap<String, Vec<usize>> = Default::default();
        for (i, n) in names.iter().enumerate() {
            same.entry(n.clone()).or_default().push(i);
        }
        for idx in same.into_values().filter(|v| v.len() > 1) {
            for (n, &j) in idx.iter().enumerate() {
                names[j] = format!("{} ({})", names[j], n + 1);
            }
        }
        names
    }

    /// How many of the quantized side's unpaired tensors a loaded ONNX QDQ model dequantizes as
    /// weights or biases (`conv1.weight_DequantizeLinear_Output`): a float dump of activations
    /// has nothing to compare them with.
    pub fn unpaired_weights(&self) -> usize {
        let weights: std::collections::HashSet<String> = self
            .files
            .iter()
            .filter_map(|f| match &f.document {
                Some(Document::Scales(set)) if set.source.starts_with("ONNX") => Some(set),
                _ => None,
            })
            .flat_map(|set| set.entries.iter().filter(|e| e.weight))
            .map(|e| super::pairs::normalize(&e.name))
            .collect();
        self.tensors
            .unpaired_quant
            .iter()
            .filter(|n| weights.contains(&super::pairs::normalize(n)))
            .count()
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

    /// Scales known from loaded files, by tensor / layer name: scale sources (`scales.json`, an ONNX
    /// QDQ model) first, then comparison reports (the first call's qscale, with its dtype). They
    /// enable the error split for tensor pairs of the same name without typing anything.
    pub fn known_scales(&self) -> super::pairs::KnownScales {
        use super::pairs::ScaleChoice;
        use super::quant::QDType;
        let runs = super::document::run_keys(&self.files);
        let mut reports: std::collections::HashMap<(String, String), (ScaleChoice, f64)> =
            std::collections::HashMap::new();
        let mut out = super::pairs::KnownScales::default();
        for (fi, f) in self.files.iter().enumerate() {
            if let Some(Document::Scales(set)) = &f.document {
                out.add_set(&runs[fi], &f.name, set);
            }
        }
        for (fi, f) in self.files.iter().enumerate() {
            if let Some(t) = f.compare() {
                let short = f.name.rsplit(['/', '\\']).next().unwrap_or(&f.name);
                for r in &t.rows {
                    let Some(s) = r.qscale.filter(|s| *s > 0.0 && s.is_finite()) else {
                        continue;
                    };
                    let dtype = r
                        .quant_dtype
                        .as_ref()
                        .and_then(|d| QDType::parse(&d.to_string()));
                    if !r.mod_name.is_empty() && dtype.is_some() {
                        // The first call's qscale; the .csv prints it in full where the .txt keeps
                        // seven decimals, so the more precise one wins.
                        let e = reports
                            .entry((runs[fi].clone(), r.mod_name.clone()))
                            .or_insert((
                                ScaleChoice {
                                    scale: s,
                                    dtype,
                                    zero_point: 0,
                                    source: short.to_string(),
                                },
                                r.qscale_abs_err,
                            ));
                        if r.qscale_abs_err < e.1 && e.0.source != short {
                            *e = (
                                ScaleChoice {
                                    scale: s,
                                    dtype,
                                    zero_point: 0,
                                    source: short.to_string(),
                                },
                                r.qscale_abs_err,
                            );
                        }
                    }
                }
            }
        }
        // In a fixed order: which of two loosely alike names wins must not depend on hashing.
        let mut reports: Vec<_> = reports.into_iter().collect();
        reports.sort_by(|a, b| a.0.cmp(&b.0));
        for ((run, name), (c, _)) in reports {
            out.insert(&run, &name, c);
        }
        out
    }

    /// The first comparison file and the rows of `op_name` in it.
    pub fn compare_rows_of(&self, op_name: &str) -> Option<(usize, Vec<usize>)> {
        // A run's .csv twin is shown as its .txt: the rows are the txt's.
        let twins = super::document::compare_twins(&self.files);
        self.files.iter().enumerate().find_map(|(fi, f)| {
            if twins.iter().any(|&(_, csv)| csv == fi) {
                return None;
            }
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
    let raw_head = match read_head(&mut source, SNIFF_BYTES) {
        Ok(h) => h,
        Err(e) => {
            report.error = Some(format!("could not read the file: {e}"));
            return report;
        }
    };
    // UTF-16 (PowerShell's `>`) and byte-order marks are decoded here: parsers see UTF-8 only.
    let (encoding, head) = super::textenc::decode_head(&raw_head);
    let format = match detect(name, &head, size_bytes.max(head.len() as u64)) {
        Detection::Supported(f) => f,
        Detection::Rejected(why) => {
            report.error = Some(why);
            return report;
        }
    };
    report.format = Some(format);
    report.format_label = Some(format.label().to_string());
    if encoding != super::textenc::Encoding::Utf8 {
        report.notes.push(Note {
            line: None,
            text: format!("Read as {} text.", encoding.label()),
        });
    }
    let reader = BufReader::with_capacity(
        256 * 1024,
        super::textenc::Utf8Reader::new(std::io::Cursor::new(raw_head).chain(source), encoding),
    );
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
        Format::Tensors => Err("a tensor dump (.npy / .npz / .pt / .safetensors), not a text report: compare dumps with `quantlens compare FLOAT QUANT`, give them to `quantlens report` with the rest, or drop them in the app".into()),
        Format::OnnxScales | Format::OnnxModel => Err("an ONNX model: its QDQ scales are read by `quantlens report` and the app, beside the dumps they belong to; a float model is run by the model runner (`quantlens sensitivity`, or the app)".into()),
        Format::SimulatedSweep => {
            let mut text = String::new();
            match reader.take(64 << 20).read_to_string(&mut text) {
                Ok(_) => super::sweep::parse(&text)
                    .map(|(sweep, notes)| {
                        let doc = sweep.doc_table();
                        (Document::Sweep { sweep, doc }, notes)
                    })
                    .map_err(|e| format!("not a readable simulated_mixed_precision.json: {e}")),
                Err(e) => Err(format!("could not read the file: {e}")),
            }
        }
        Format::Journal => {
            let mut text = String::new();
            match reader.take(256 << 20).read_to_string(&mut text) {
                Ok(_) => super::journal::parse(&text)
                    .map(|(journal, notes)| (Document::Journal { journal }, notes))
                    .map_err(|e| format!("not a readable QuantLens journal: {e}")),
                Err(e) => Err(format!("could not read the file: {e}")),
            }
        }
        Format::ScalesJson => {
            let mut text = String::new();
            match reader.take(64 << 20).read_to_string(&mut text) {
                Ok(_) => super::scales::read_scales_json(&text)
                    .map(|set| {
                        let notes = set.notes.iter().map(|n| Note { line: None, text: n.clone() }).collect();
                        (Document::Scales(set), notes)
                    })
                    .map_err(|e| format!("not a readable scales.json: {e}")),
                Err(e) => Err(format!("could not read the file: {e}")),
            }
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
            report.notes.extend(notes);
        }
        Err(e) => report.error = Some(e.to_string()),
    }
    report
}

/// True when the first bytes are a tensor container QuantLens reads (npy, zip/npz, safetensors).
/// Most bytes a zip of files is unpacked to (in memory).
pub const ARCHIVE_CAP_BYTES: u64 = 1 << 30;

/// The file members of a zip that is an archive of files rather than an `.npz` (all `.npy`) or a
/// `torch.save` archive (a `data.pkl`); `None` for those or an unreadable zip (the tensor reader
/// then says why). Folders and macOS metadata are left out.
fn archive_members(
    src: &mut dyn super::tensor::ByteSource,
) -> Option<Vec<super::tensor::npz::Member>> {
    let members = super::tensor::npz::central_directory(src).ok()?;
    let is_tensor_zip = members
        .iter()
        .any(|m| m.name.ends_with(".npy") || m.name == "data.pkl" || m.name.ends_with("/data.pkl"));
    if is_tensor_zip || members.is_empty() {
        return None;
    }
    Some(
        members
            .into_iter()
            .filter(|m| {
                !m.name.ends_with('/')
                    && !m.name.starts_with("__MACOSX/")
                    && !m.name.rsplit('/').next().unwrap_or("").starts_with("._")
                    && !m.name.ends_with(".DS_Store")
            })
            .collect(),
    )
}

pub fn is_tensor_file(head: &[u8], size: u64) -> bool {
    super::detect::container(head, size).is_some_and(|c| c.random_access())
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
        Ok((entries, notes)) => {
            report
                .notes
                .extend(notes.into_iter().map(|text| Note { line: None, text }));
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
        Err(e) => report.error = Some(e.to_string()),
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

// --- The live session: documents plus the byte sources of tensor files -----------------------------

/// A `Read` over a [`ByteSource`] from its start, for text reports given as random-access sources.
pub struct SourceReader<'a> {
    src: &'a mut dyn super::tensor::ByteSource,
    pos: u64,
}

impl<'a> SourceReader<'a> {
    pub fn new(src: &'a mut dyn super::tensor::ByteSource) -> SourceReader<'a> {
        SourceReader { src, pos: 0 }
    }
}

impl Read for SourceReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let left = self.src.size().saturating_sub(self.pos);
        let n = (out.len() as u64).min(left).min(1 << 22) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.src.read_at(self.pos, &mut out[..n])?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// What the user set for the tensor comparison: sides chosen, scales typed, pairs made by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TensorSettings {
    /// File name → side chosen (None: back to the guess); a folder's key (`pairs::folder_key`,
    /// `run_a/`, `./`) chooses for every file in it that has no choice of its own.
    pub sides: std::collections::HashMap<String, super::pairs::Side>,
    /// Pair or tensor name (`*` for all) → scale, with an optional dtype.
    pub scales: std::collections::HashMap<String, (f64, Option<super::quant::QDType>)>,
    pub manual: Vec<(String, String)>,
}

/// The session a front end keeps: the analysis (files, findings, pairs), the byte sources of tensor
/// files (to compare again and to answer what-ifs), the user's settings and the comparisons already
/// computed. The web worker owns one; the CLI makes one per command.
#[derive(Default)]
pub struct Session {
    pub analysis: Analysis,
    sources: Vec<Option<Box<dyn super::tensor::ByteSource>>>,
    pub settings: TensorSettings,
    cache: super::pairs::CompareCache,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// Remove an earlier copy of a file (same name and size): dropping it again replaces it.
    fn replace(&mut self, name: &str, size_bytes: u64) {
        if let Some(old) = self
            .analysis
            .files
            .iter()
            .position(|f| f.name == name && f.size_bytes == size_bytes)
        {
            self.analysis.files.remove(old);
            self.sources.remove(old);
        }
    }

    /// Open one file of any supported kind from a random-access source: tensor dumps are listed
    /// (their bytes stay in the source), reports are parsed while streaming. Call [`Session::update`]
    /// once a batch is in.
    pub fn open(&mut self, name: &str, src: Box<dyn super::tensor::ByteSource>) {
        self.open_at_depth(name, src, 0);
    }

    fn open_at_depth(
        &mut self,
        name: &str,
        mut src: Box<dyn super::tensor::ByteSource>,
        depth: u8,
    ) {
        let size = src.size();
        self.replace(name, size);
        let mut head = vec![0u8; size.min(16) as usize];
        let is_tensor = src.read_at(0, &mut head).is_ok() && is_tensor_file(&head, size);
        let is_zip = super::detect::container(&head, size) == Some(super::detect::Container::Zip);
        if is_zip {
            if let Some(members) = archive_members(src.as_mut()) {
                self.open_archive(name, src.as_mut(), members, depth);
                return;
            }
        }
        if is_tensor
            && super::detect::container(&head, size) == Some(super::detect::Container::Onnx)
        {
            let mut report = FileReport {
                name: name.to_string(),
                size_bytes: size,
                format: Some(Format::OnnxScales),
                format_label: Some(Format::OnnxScales.label().to_string()),
                error: None,
                document: None,
                notes: Vec::new(),
            };
            match super::scales::read_onnx_scales(src.as_mut()) {
                Ok(set) => {
                    report.notes = set
                        .notes
                        .iter()
                        .map(|n| Note {
                            line: None,
                            text: n.clone(),
                        })
                        .collect();
                    report.document = Some(Document::Scales(set));
                }
                Err(e) if e == super::scales::NO_QDQ => {
                    // A float model: no scales, but a model the runner can run.
                    report.format = Some(Format::OnnxModel);
                    report.format_label = Some(Format::OnnxModel.label().to_string());
                    report.notes = vec![Note {
                        line: None,
                        text: "a float model (no QuantizeLinear/DequantizeLinear node): the model runner calibrates it, simulates int8 or int16 and measures each op's true sensitivity on the sample inputs dropped with it".into(),
                    }];
                }
                Err(e) => {
                    report.format = None;
                    report.format_label = None;
                    report.error = Some(format!("not a readable ONNX QDQ model: {e}"));
                }
            }
            self.analysis.files.push(report);
            self.sources.push(None);
        } else if is_tensor {
            let report = read_tensor_source(name, src.as_mut());
            let keep = report.error.is_none();
            self.analysis.files.push(report);
            self.sources.push(keep.then_some(src));
        } else {
            let report = read_source(name, size, SourceReader::new(src.as_mut()));
            self.analysis.files.push(report);
            self.sources.push(None);
        }
    }

    /// A zip of files (a report folder zipped, a run with its dumps): each member is opened as if the
    /// folder had been dropped, named `run42/…` (the zip's own top folder, else its name without
    /// `.zip`). Members are read into memory, within [`ARCHIVE_CAP_BYTES`] in all; a zip inside it
    /// is not opened again (extract it).
    fn open_archive(
        &mut self,
        name: &str,
        src: &mut dyn super::tensor::ByteSource,
        members: Vec<super::tensor::npz::Member>,
        depth: u8,
    ) {
        let zip_bytes = src.size();
        let fail = |why: String| FileReport {
            name: name.to_string(),
            size_bytes: zip_bytes,
            format: None,
            format_label: None,
            error: Some(why),
            document: None,
            notes: Vec::new(),
        };
        if members.is_empty() {
            let r = fail("a zip with no files in it".into());
            self.analysis.files.push(r);
            self.sources.push(None);
            return;
        }
        if depth > 0 {
            let r = fail("a zip inside a zip: extract the outer one and drop the folder".into());
            self.analysis.files.push(r);
            self.sources.push(None);
            return;
        }
        let total: u64 = members.iter().map(|m| m.raw_len).sum();
        if total > ARCHIVE_CAP_BYTES || members.len() > 10_000 {
            let r = fail(format!(
                "a zip of {} files holding {} MiB uncompressed: more than QuantLens opens from a zip ({} MiB, 10,000 files); extract it and drop the folder",
                members.len(),
                total >> 20,
                ARCHIVE_CAP_BYTES >> 20
            ));
            self.analysis.files.push(r);
            self.sources.push(None);
            return;
        }
        let dir = name
            .rsplit_once('/')
            .map(|(d, _)| format!("{d}/"))
            .unwrap_or_default();
        let top = |m: &str| m.split_once('/').map(|(t, _)| t.to_string());
        let first = members.first().and_then(|m| top(&m.name));
        let shared_top = first.is_some() && members.iter().all(|m| top(&m.name) == first);
        let stem = name
            .rsplit('/')
            .next()
            .unwrap_or(name)
            .trim_end_matches(".zip")
            .trim_end_matches(".ZIP");
        for m in &members {
            let inner = if shared_top {
                format!("{dir}{}", m.name)
            } else {
                format!("{dir}{stem}/{}", m.name)
            };
            match super::tensor::npz::read_member(src, m, ARCHIVE_CAP_BYTES) {
                Ok(bytes) => self.open_at_depth(&inner, Box::new(bytes), depth + 1),
                Err(e) => {
                    let mut r = fail(format!("in the zip {name}: {e}"));
                    r.name = inner;
                    r.size_bytes = m.raw_len;
                    self.analysis.files.push(r);
                    self.sources.push(None);
                }
            }
        }
    }

    /// Add a report already read (a stream the caller parsed with [`read_source`]).
    pub fn add_report(&mut self, report: FileReport) {
        self.replace(&report.name.clone(), report.size_bytes);
        self.analysis.files.push(report);
        self.sources.push(None);
    }

    pub fn set_intent(&mut self, intent: Intent) {
        self.analysis.intent = intent;
        self.analysis.recompute();
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        *self = Session::default();
    }

    /// The scale of a pair: typed (for this run's pair, then by name) > the pair's name in a scale source or comparison report > `*`.
    fn scale_for(
        settings: &TensorSettings,
        known: &super::pairs::KnownScales,
        pair: &str,
        quant_tensor: &str,
        run: &str,
    ) -> Option<super::pairs::ScaleChoice> {
        use super::pairs::ScaleChoice;
        let typed = |n: &str| {
            settings.scales.get(n).map(|(s, d)| ScaleChoice {
                scale: *s,
                dtype: *d,
                zero_point: 0,
                source: "typed".into(),
            })
        };
        // Only the quantized file's own run: another run's scales belong to another model.
        let from_files = |n: &str| known.get(run, n);
        // A scale typed before a folder was added beside its run (`int8 run` became
        // `exp1/int8 run`) still belongs to it.
        let typed_in_run = || {
            std::iter::once(run)
                .chain(run.match_indices('/').map(|(i, _)| &run[i + 1..]))
                .find_map(|r| typed(&super::pairs::run_scale_key(r, pair)))
        };
        // A dump's file name may spell the tensor's name loosely (`/` and `:` written as `_`).
        let files = from_files(pair)
            .or_else(|| from_files(quant_tensor))
            .or_else(|| from_files(&super::pairs::normalize(quant_tensor)))
            .or_else(|| known.get_loose(run, pair))
            .or_else(|| known.get_loose(run, quant_tensor));
        // A scale typed without a dtype keeps the pair's own (from its files): `0.5` typed for an
        // int16 pair is an int16 scale, not a guess from the values; a uint8 one keeps its zero
        // point.
        let own_dtype = |mut c: ScaleChoice| {
            if c.dtype.is_none() {
                c.dtype = files.as_ref().and_then(|f| f.dtype);
                c.zero_point = files.as_ref().map_or(0, |f| f.zero_point);
            }
            c
        };
        typed_in_run()
            .or_else(|| typed(pair))
            .or_else(|| typed(quant_tensor))
            .map(own_dtype)
            .or_else(|| files.clone())
            .or_else(|| typed("*").map(own_dtype))
    }

    /// Assign sides, pair and compare the tensor files (only pairs not computed before), then
    /// diagnose everything again. `progress(done_bytes, total_bytes, pair)` while comparing.
    pub fn update(&mut self, progress: super::pairs::CompareProgress) {
        self.compare(progress, None);
    }

    /// The pairs still to compare of at least `min_bytes` that can be compared in parts
    /// (`pairs::part_setup`), for a caller that compares them elsewhere (the browser spreads them
    /// over several workers) and gives the results to [`Session::insert_compared`]; their file
    /// indexes are the session's (`analysis.files`). Nothing is compared here.
    pub fn deferred_pairs(&mut self, min_bytes: u64) -> Vec<super::pairs::DeferredPair> {
        let mut list = Vec::new();
        let tensor_files = self.compare(&mut |_, _, _| {}, Some((min_bytes, &mut list)));
        for d in &mut list {
            d.float_file = tensor_files[d.float_file];
            d.quant_file = tensor_files[d.quant_file];
        }
        list
    }

    /// A result computed elsewhere for a pair of [`Session::deferred_pairs`] (by its key): the
    /// next [`Session::update`] takes it as if it had compared the pair.
    pub fn insert_compared(
        &mut self,
        key: String,
        result: Result<super::metrics::PairMetrics, String>,
    ) {
        self.cache.insert(key, result);
    }

    /// Pair and compare (or, with `defer`, only list the big pairs: see `deferred_pairs`, and
    /// leave the analysis as it was); returns the indexes of the tensor files.
    fn compare(
        &mut self,
        progress: super::pairs::CompareProgress,
        defer: Option<(u64, &mut Vec<super::pairs::DeferredPair>)>,
    ) -> Vec<usize> {
        use super::pairs::{assign_sides, compare_files_with, CompareInput, SideInput};
        let planning = defer.is_some();
        let tensor_files: Vec<usize> = (0..self.analysis.files.len())
            .filter(|&i| {
                self.sources[i].is_some()
                    && matches!(
                        self.analysis.files[i].document,
                        Some(Document::Tensors { .. })
                    )
            })
            .collect();
        if tensor_files.is_empty() {
            if !planning {
                self.analysis.tensors = Default::default();
                self.analysis.recompute();
            }
            return tensor_files;
        }
        let assignment = {
            let inputs: Vec<SideInput> = tensor_files
                .iter()
                .map(|&i| {
                    let f = &self.analysis.files[i];
                    let names = match &f.document {
                        Some(Document::Tensors { entries, .. }) => {
                            entries.iter().map(|e| e.name.as_str()).collect()
                        }
                        _ => Vec::new(),
                    };
                    SideInput {
                        path: &f.name,
                        names,
                        chosen: super::pairs::chosen_side(&self.settings.sides, &f.name),
                    }
                })
                .collect();
            assign_sides(&inputs)
        };
        for (k, &i) in tensor_files.iter().enumerate() {
            if let Some(Document::Tensors { side, .. }) = self.analysis.files[i].document.as_mut() {
                *side = assignment.sides[k].map(|(s, _)| s);
            }
        }
        let runs = super::document::run_keys(&self.analysis.files);
        let inputs: Vec<CompareInput> = tensor_files
            .iter()
            .map(|&i| {
                let f = &self.analysis.files[i];
                let (entries, side) = match &f.document {
                    Some(Document::Tensors { entries, side }) => (entries.clone(), *side),
                    _ => (Vec::new(), None),
                };
                CompareInput {
                    key: format!("{}\u{1f}{}", f.name, f.size_bytes),
                    run: runs[i].clone(),
                    entries,
                    side,
                }
            })
            .collect();
        // Borrow the sources of the tensor files, in the same order, for the comparison.
        let mut taken: Vec<Box<dyn super::tensor::ByteSource>> = tensor_files
            .iter()
            .filter_map(|&i| self.sources[i].take())
            .collect();
        let known = self.analysis.known_scales();
        let settings = self.settings.clone();
        let scale_of =
            move |p: &str, q: &str, run: &str| Session::scale_for(&settings, &known, p, q, run);
        let settings_manual = self.settings.manual.clone();
        let mut cache = std::mem::take(&mut self.cache);
        let mut cmp = compare_files_with(
            &inputs,
            &mut taken,
            &scale_of,
            &settings_manual,
            &mut cache,
            progress,
            defer,
        );
        self.cache = cache;
        for (&i, src) in tensor_files.iter().zip(taken) {
            self.sources[i] = Some(src);
        }
        if planning {
            return tensor_files;
        }
        for p in &mut cmp.pairs {
            p.float_file = tensor_files[p.float_file];
            p.quant_file = tensor_files[p.quant_file];
        }
        cmp.sides = tensor_files
            .iter()
            .zip(&assignment.sides)
            .map(|(&i, s)| (i, *s))
            .collect();
        cmp.message = assignment.message;
        self.analysis.tensors = cmp;
        self.analysis.recompute();
        tensor_files
    }

    /// The what-if of pair `index`'s float tensor (observers' scales, `typed` scales, groups and
    /// channels for small tensors), computed now, for this pair only.
    pub fn whatif(
        &mut self,
        index: usize,
        typed: &[(super::quant::QDType, f64)],
    ) -> Result<super::whatif::PairWhatIf, String> {
        let p = self
            .analysis
            .tensors
            .pairs
            .get(index)
            .ok_or("no such pair")?;
        let entry = match &self.analysis.files[p.float_file].document {
            Some(Document::Tensors { entries, .. }) => entries
                .iter()
                .find(|e| e.name == p.float_tensor)
                .cloned()
                .ok_or("the float tensor is gone")?,
            _ => return Err("the float file is gone".into()),
        };
        let src = self.sources[p.float_file]
            .as_mut()
            .ok_or("the float file cannot be read again (drop it again)")?;
        super::whatif::pair_whatif(src.as_mut(), &entry, typed)
    }
}

/// The activations' order in the first loaded ONNX QDQ model (its QuantizeLinear nodes'
/// order), for the findings to say where an error starts, and the Clips that alone read some.
fn graph_order(files: &[FileReport]) -> Option<super::pairs::GraphOrder> {
    files.iter().find_map(|f| match &f.document {
        Some(Document::Scales(set)) if set.source.starts_with("ONNX") => {
            super::pairs::GraphOrder::of_scales(&f.name, set)
        }
        _ => None,
    })
}

/// A dumped pair's clipping that its run's comparison table shows harmless (the next op clamps to
/// a range inside the representable one: hardswish's `Add → Clip(0, 6)`) is harmless in the dumps
/// too: the pair's truncation finding says so, with the table's reason, and goes to the bottom.
/// The pair is the table's row by name, or (an ONNX dump names tensors, the table their producing
/// nodes) by content: the same shape and the same float range to the table's printed precision.
fn mark_harmless_pair_clips(
    findings: &mut [FileFinding],
    files: &[FileReport],
    pairs: &[super::pairs::PairResult],
) {
    use super::findings::kind::TRUNCATION;
    struct Row<'a> {
        run: &'a str,
        name: &'a str,
        shape: Option<&'a [u64]>,
        range: Option<(f64, f64)>,
        why: &'a str,
        table: &'a str,
    }
    let runs = super::document::run_keys(files);
    let mut rows: Vec<Row> = Vec::new();
    for ff in findings.iter() {
        let f = &ff.finding;
        let (Some(why), Some(t)) = (
            f.rank_reason.strip_prefix("harmless: "),
            files.get(ff.file).and_then(|x| x.compare()),
        ) else {
            continue;
        };
        if f.kind != TRUNCATION || f.layers.len() != 1 {
            continue;
        }
        let row = f
            .evidence
            .iter()
            .find(|e| e.table == "compare" && e.file.is_none_or(|x| x == ff.file))
            .and_then(|e| t.rows.get(e.row));
        rows.push(Row {
            run: &runs[ff.file],
            name: &f.layers[0],
            shape: row.and_then(|r| r.shape.as_deref()),
            range: row.and_then(|r| Some((r.base_min?, r.base_max?))),
            why,
            table: files[ff.file]
                .name
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or_default(),
        });
    }
    if rows.is_empty() {
        return;
    }
    // Seven decimals printed: equal to within their rounding (and f32's).
    let close = |a: f64, b: f64| (a - b).abs() <= 2e-7 + 1e-6 * b.abs();
    let mut marks: Vec<(usize, String, String)> = Vec::new();
    for (k, ff) in findings.iter().enumerate() {
        let f = &ff.finding;
        let Some(e) = f.evidence.first().filter(|e| e.table == "pairs") else {
            continue;
        };
        let (Some(p), true) = (pairs.get(e.row), f.kind == TRUNCATION) else {
            continue;
        };
        let Some(m) = &p.metrics else { continue };
        let found = rows.iter().find(|r| {
            r.run == p.run.as_str()
                && (r.name == p.name
                    || (r.shape.is_some_and(|s| s == p.shape.as_slice())
                        && r.range.is_some_and(|(lo, hi)| {
                            close(m.base_min, lo) && close(m.base_max, hi)
                        })))
        });
        if let Some(r) = found {
            let at = if r.name == p.name {
                String::new()
            } else {
                format!(", its row `{}`", r.name)
            };
            marks.push((
                k,
                format!(" Harmless here ({}{at} shows it): {}.", r.table, r.why),
                r.why.to_string(),
            ));
        }
    }
    for (k, said, why) in marks {
        let f = &mut findings[k].finding;
        f.severity = Severity::Info;
        f.message.push_str(&said);
        f.fix = "Nothing to do for accuracy: the next op clips these values anyway. (A scale that covered only what the next op keeps would even give a finer step.)".into();
        f.score = 1.0;
        f.rank_reason = format!("harmless: {why}");
    }
}

#[cfg(test)]
mod display_name_tests {
    use super::Analysis;
    use crate::engine::document::FileReport;

    /// The previous, quadratic rule: each file against every other, tail length by tail length.
    fn reference(names: &[&str]) -> Vec<String> {
        let parts: Vec<Vec<&str>> = names
            .iter()
            .map(|n| n.split(['/', '\\']).filter(|p| !p.is_empty()).collect())
            .collect();
        let tail = |p: &Vec<&str>, k: usize| p[p.len().saturating_sub(k)..].join("/");
        let mut out: Vec<String> = parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut k = 1;
                while k < p.len()
                    && parts
                        .iter()
                        .enumerate()
                        .any(|(j, q)| j != i && tail(q, k) == tail(p, k))
                {
                    k += 1;
                }
                if k > 2 {
                    format!("{}/…/{}", p[p.len() - k], p[p.len() - 1])
                } else {
                    tail(p, k)
                }
            })
            .collect();
        for i in 0..out.len() {
            let same: Vec<usize> = (0..out.len()).filter(|&j| out[j] == out[i]).collect();
            if same.len() > 1 {
                for (n, &j) in same.iter().enumerate() {
                    out[j] = format!("{} ({})", out[j], n + 1);
                }
            }
        }
        out
    }

    #[test]
    fn a_typed_scale_stays_with_its_run_when_a_folder_is_added_beside_it() {
        let mut settings = super::TensorSettings::default();
        settings
            .scales
            .insert("[int8 run] conv1".into(), (0.5, None));
        let known = crate::engine::pairs::KnownScales::default();
        let scale = |run: &str| super::Session::scale_for(&settings, &known, "conv1", "conv1", run);
        assert_eq!(scale("int8 run").map(|s| s.scale), Some(0.5));
        // `exp1/` dropped beside another folder: the run is `exp1/int8 run` now.
        assert_eq!(scale("exp1/int8 run").map(|s| s.scale), Some(0.5));
        assert_eq!(scale("exp1/int16 run"), None);
        assert_eq!(scale("int8 runs"), None);
        assert_eq!(scale(""), None);
        // Typed without a dtype, the scale keeps the pair's own from its files.
        let mut known = crate::engine::pairs::KnownScales::default();
        known.insert(
            "int8 run",
            "conv1",
            crate::engine::pairs::ScaleChoice {
                scale: 0.0002,
                dtype: Some(crate::engine::quant::QDType::Int16),
                zero_point: 0,
                source: "scales.json".into(),
            },
        );
        let s = super::Session::scale_for(&settings, &known, "conv1", "conv1", "int8 run")
            .expect("typed");
        assert_eq!(
            (s.scale, s.dtype),
            (0.5, Some(crate::engine::quant::QDType::Int16))
        );
        assert_eq!(s.source, "typed");
    }

    #[test]
    fn display_names_are_the_quadratic_rules_in_one_pass_per_length() {
        let sets: Vec<Vec<&str>> = vec![
            vec![
                "run_a/model_check_result.txt",
                "run_b/model_check_result.txt",
            ],
            vec!["a/x/y/c.txt", "b/x/y/c.txt", "c.txt", "d/c.txt"],
            vec![
                "float/x.npy",
                "quant/x.npy",
                "float/y.npy",
                "quant/y.npy",
                "z.npz",
            ],
            vec!["x.npy", "x.npy", "a/x.npy"],
            vec!["r1/deep/er/f.txt", "r2/deep/er/f.txt", "r2/f.txt", "f.txt"],
            vec!["only.txt"],
            vec![],
        ];
        let mut big: Vec<String> = Vec::new();
        for side in ["float", "quant"] {
            for i in 0..300 {
                big.push(format!("ppocr/{side}/layer_{i}.npy"));
            }
        }
        let big_ref: Vec<&str> = big.iter().map(|s| s.as_str()).collect();
        for set in sets.iter().chain(std::iter::once(&big_ref)) {
            let a = Analysis {
                files: set
                    .iter()
                    .map(|n| FileReport {
                        name: n.to_string(),
                        size_bytes: 0,
                        format: None,
                        format_label: None,
                        error: None,
                        document: None,
                        notes: Vec::new(),
                    })
                    .collect(),
                ..Default::default()
            };
            assert_eq!(a.display_names(), reference(set), "{set:?}");
        }
    }
}
