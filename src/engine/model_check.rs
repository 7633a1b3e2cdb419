//! Parser for `model_check_result.txt` (and the older `qconfig_info.txt`) as `horizon_plugin_pytorch` writes them.
//!
//! The file is a run of sections, each a known header line followed by a `tabulate` table (psql grids
//! for dtype statistics and qconfig tables, simple tables for fusion groups, call counts and the fx
//! graph). Sections are optional and their order and columns vary between tool versions, so the
//! parser is a line-driven state machine keyed on the header lines; unknown sections are skipped
//! with a note, and annotations or prose around the tables are counted, never fatal.

use super::doc::{DocTable, Note};
use super::table::{is_simple_rule, Feed, PsqlReader, SimpleReader, Table};
use serde::{Deserialize, Serialize};
use std::io::BufRead;

pub use super::doc::{CallStatus, FusionStatus};

/// A parsed model-check file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    pub fusion: FusionStatus,
    pub calls: CallStatus,
    /// Tables in file order. Ids: `fusable`, `unused`, `shared`, `called_times`,
    /// `input_dtype_stats`, `output_dtype_stats`, `layers`, `weights`, `unusual`, `graph`.
    pub tables: Vec<DocTable>,
    /// Section headers recognised, in file order.
    pub sections: Vec<String>,
    pub notes: Vec<Note>,
    pub line_count: usize,
}

impl ModelCheck {
    pub fn table(&self, id: &str) -> Option<&DocTable> {
        self.tables.iter().find(|t| t.id == id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Section {
    Fusable,
    Unused,
    Shared,
    CalledTimes,
    InputStats,
    OutputStats,
    Layers,
    Weights,
    Unusual,
    Graph,
}

impl Section {
    fn id(self) -> &'static str {
        match self {
            Section::Fusable => "fusable",
            Section::Unused => "unused",
            Section::Shared => "shared",
            Section::CalledTimes => "called_times",
            Section::InputStats => "input_dtype_stats",
            Section::OutputStats => "output_dtype_stats",
            Section::Layers => "layers",
            Section::Weights => "weights",
            Section::Unusual => "unusual",
            Section::Graph => "graph",
        }
    }
}

/// Classify a trimmed line as a known section header.
enum Header {
    Start(Section),
    AllFused,
    AllOnce,
}

fn header_of(t: &str) -> Option<Header> {
    Some(match t {
        "All fusable modules are fused in model!" | "Do not find any fusable modules" => {
            Header::AllFused
        }
        "All modules in the model run exactly once." => Header::AllOnce,
        "Modules below are not used:" => Header::Start(Section::Unused),
        "Modules below are used multi times:" => Header::Start(Section::Shared),
        "Each module called times:" => Header::Start(Section::CalledTimes),
        "input dtype statistics:" => Header::Start(Section::InputStats),
        "output dtype statistics:" => Header::Start(Section::OutputStats),
        "Each layer out qconfig:" => Header::Start(Section::Layers),
        "Weight qconfig:" => Header::Start(Section::Weights),
        "Graph:" => Header::Start(Section::Graph),
        _ if t.starts_with("Fusable modules are listed below") => Header::Start(Section::Fusable),
        _ if t.starts_with("Please check if these OPs qconfigs are expected") => {
            Header::Start(Section::Unusual)
        }
        _ => return None,
    })
}

/// Header lines that tell a model-check file apart from other text (used by format detection).
pub const SIGNATURE_LINES: &[&str] = &[
    "All fusable modules are fused in model!",
    "Fusable modules are listed below:",
    "All modules in the model run exactly once.",
    "Modules below are used multi times:",
    "Modules below are not used:",
    "Each module called times:",
    "input dtype statistics:",
    "output dtype statistics:",
    "Each layer out qconfig:",
    "Weight qconfig:",
    "Please check if these OPs qconfigs are expected..",
];

fn name_type_row(cells: &[String]) -> bool {
    let is_name = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    cells.len() == 2
        && is_name(&cells[0])
        && (cells[1].starts_with("<class '") || (is_name(&cells[1]) && cells[1].contains('.')))
}

fn called_times_row(cells: &[String]) -> bool {
    cells.len() == 2 && !cells[0].is_empty() && cells[1].trim().parse::<u64>().is_ok()
}

fn graph_row(cells: &[String]) -> bool {
    matches!(
        cells.first().map(String::as_str),
        Some(
            "placeholder" | "call_module" | "call_function" | "call_method" | "get_attr" | "output"
        )
    )
}

enum Reader {
    Psql(PsqlReader),
    Simple(SimpleReader, fn(&[String]) -> bool),
}

struct Open {
    section: Section,
    title: String,
    reader: Reader,
}

/// Streaming parser: feed lines in order, then `finish`.
pub struct ModelCheckParser {
    out: ModelCheck,
    open: Option<Open>,
    unknown: Option<(usize, String, usize)>,
    stray: Vec<usize>,
    annotations: usize,
    line_no: usize,
}

impl Default for ModelCheckParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ModelCheckParser {
    pub fn new() -> Self {
        ModelCheckParser {
            out: ModelCheck {
                fusion: FusionStatus::NotReported,
                calls: CallStatus::NotReported,
                tables: Vec::new(),
                sections: Vec::new(),
                notes: Vec::new(),
                line_count: 0,
            },
            open: None,
            unknown: None,
            stray: Vec::new(),
            annotations: 0,
            line_no: 0,
        }
    }

    pub fn push_line(&mut self, line: &str) {
        self.line_no += 1;
        let n = self.line_no;
        let line = line.trim_end_matches(['\r', '\n']);
        let t = line.trim();

        if let Some(h) = header_of(t) {
            self.close_open();
            self.close_unknown();
            self.out.sections.push(t.to_string());
            match h {
                Header::AllFused => self.out.fusion = FusionStatus::AllFused,
                Header::AllOnce => self.out.calls = CallStatus::AllOnce,
                Header::Start(section) => self.start(section, t),
            }
            return;
        }

        if let Some(open) = self.open.as_mut() {
            let feed = match &mut open.reader {
                Reader::Psql(r) => r.feed(n, line),
                Reader::Simple(r, _) => {
                    // A grid inside a simple-table section means the section is over.
                    if r.started() && (t.starts_with("+-") || t.starts_with("|")) {
                        Feed::EndedBefore
                    } else {
                        r.feed(n, line)
                    }
                }
            };
            match feed {
                Feed::Consumed => return,
                Feed::EndedWith => {
                    self.close_open();
                    return;
                }
                Feed::EndedBefore => self.close_open(),
            }
        }

        if let Some((_, _, count)) = self.unknown.as_mut() {
            *count += 1;
            return;
        }
        if t.is_empty() {
            return;
        }
        if t.starts_with('#') {
            // Author annotations in documentation samples (`# 检查fuse问题`): not written by the tool.
            self.annotations += 1;
            return;
        }
        if t.ends_with(':') || t.starts_with("+-") || (t.starts_with('|') && t.ends_with('|')) {
            // An unknown section (a newer tool version, or a table we do not know): skip it whole.
            let title = if t.ends_with(':') {
                t.to_string()
            } else {
                "(a table with no title line)".to_string()
            };
            self.unknown = Some((n, title, 1));
            return;
        }
        self.stray.push(n);
    }

    fn start(&mut self, section: Section, title: &str) {
        let reader = match section {
            Section::Fusable => Reader::Simple(SimpleReader::new(&["name", "type"]), name_type_row),
            Section::Unused | Section::Shared | Section::CalledTimes => Reader::Simple(
                SimpleReader::new(&["name", "called times"]),
                called_times_row,
            ),
            Section::Graph => Reader::Simple(
                SimpleReader::new(&["opcode", "name", "target", "args", "kwargs"]),
                graph_row,
            ),
            _ => Reader::Psql(PsqlReader::new()),
        };
        self.open = Some(Open {
            section,
            title: title.to_string(),
            reader,
        });
    }

    fn close_unknown(&mut self) {
        if let Some((line, title, count)) = self.unknown.take() {
            self.out.notes.push(Note::at(
                line,
                format!("Skipped a section QuantLens does not know: '{title}' ({count} lines)."),
            ));
        }
    }

    fn close_open(&mut self) {
        let Some(open) = self.open.take() else {
            return;
        };
        let id = open.section.id();
        match open.reader {
            Reader::Psql(r) => {
                let started = r.started();
                let t = r.finish();
                if !started || t.headers.is_empty() {
                    self.out.notes.push(Note {
                        line: None,
                        text: format!("Section '{}' has no table.", open.title),
                    });
                    return;
                }
                self.note_irregular(&open.title, &t);
                self.out
                    .tables
                    .push(DocTable::from_table(id, &open.title, t));
            }
            Reader::Simple(r, accept) => {
                let (groups, stray) = r.finish();
                self.stray.extend(stray);
                if groups.is_empty() {
                    self.out.notes.push(Note {
                        line: None,
                        text: format!("Section '{}' has no table.", open.title),
                    });
                    return;
                }
                let merged = self.merge_groups(open.section, groups, accept);
                self.note_irregular(&open.title, &merged);
                match open.section {
                    Section::Fusable => self.out.fusion = FusionStatus::Unfused,
                    Section::Unused | Section::Shared | Section::CalledTimes => {
                        self.out.calls = CallStatus::Listed
                    }
                    _ => {}
                }
                self.out
                    .tables
                    .push(DocTable::from_table(id, &open.title, merged));
            }
        }
    }

    /// Flatten the simple tables of a section into one, dropping rows that fail the section's row
    /// check (prose that followed a table in an excerpt). Fusable groups get a `group` column.
    fn merge_groups(
        &mut self,
        section: Section,
        groups: Vec<Table>,
        accept: fn(&[String]) -> bool,
    ) -> Table {
        let grouped = section == Section::Fusable;
        let mut out = Table {
            first_line: groups.first().map(|g| g.first_line).unwrap_or(0),
            ..Default::default()
        };
        let mut group_no = 0usize;
        for g in groups {
            if out.headers.is_empty() {
                out.headers = if grouped {
                    std::iter::once("group".to_string())
                        .chain(g.headers.iter().cloned())
                        .collect()
                } else {
                    g.headers.clone()
                };
            }
            out.elided_runs += g.elided_runs;
            out.irregular_rows.extend(g.irregular_rows.iter().copied());
            let mut any = false;
            for mut row in g.rows {
                if row.cells.iter().all(|c| c.is_empty()) {
                    continue;
                }
                if !accept(&row.cells) {
                    self.stray.push(row.line);
                    continue;
                }
                if grouped {
                    row.cells.insert(0, (group_no + 1).to_string());
                }
                any = true;
                out.rows.push(row);
            }
            if any {
                group_no += 1;
            }
        }
        out.irregular_rows
            .retain(|l| out.rows.iter().any(|r| r.line == *l));
        out
    }

    fn note_irregular(&mut self, title: &str, t: &Table) {
        if let Some(&first) = t.irregular_rows.first() {
            // Collapsed spacing is expected in pasted excerpts; say so once per table.
            self.out.notes.push(Note::at(
                first,
                format!(
                    "'{title}': {} row(s) were not column-aligned and were split on separators instead.",
                    t.irregular_rows.len()
                ),
            ));
        }
        if t.elided_runs > 0 {
            self.out.notes.push(Note::at(
                t.first_line,
                format!(
                    "'{title}' is an excerpt: {} '...' line(s) mark rows left out, so counts from it are partial.",
                    t.elided_runs
                ),
            ));
        }
    }

    pub fn finish(mut self) -> ModelCheck {
        self.close_open();
        self.close_unknown();
        self.out.line_count = self.line_no;
        if self.annotations > 0 {
            self.out.notes.push(Note {
                line: None,
                text: format!(
                    "Ignored {} comment line(s) starting with '#' (annotations, not tool output).",
                    self.annotations
                ),
            });
        }
        if let Some(&first) = self.stray.iter().min() {
            self.out.notes.push(Note::at(
                first,
                format!(
                    "Ignored {} line(s) of text outside the known sections (first at line {first}).",
                    self.stray.len()
                ),
            ));
        }
        self.out
    }
}

/// Why a text is not a model-check file.
/// This reader's errors: the engine's one typed parse error.
pub use super::error::ParseError as ModelCheckError;

const NO_SECTIONS: &str = "no model-check section found (expected headers such as 'Each layer out qconfig:', 'input dtype statistics:' or 'Fusable modules are listed below:')";

/// Parse from any buffered reader, line by line (the file is never held whole).
pub fn parse_reader<R: BufRead>(mut r: R) -> Result<ModelCheck, ModelCheckError> {
    let mut p = ModelCheckParser::new();
    let mut buf = Vec::new();
    let mut any = false;
    loop {
        buf.clear();
        let n = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| ModelCheckError::Io(e.to_string()))?;
        if n == 0 {
            break;
        }
        any = true;
        let line = std::str::from_utf8(&buf).map_err(|_| ModelCheckError::NotText)?;
        if line.contains('\0') {
            return Err(ModelCheckError::NotText);
        }
        p.push_line(line);
    }
    if !any {
        return Err(ModelCheckError::Empty);
    }
    let mc = p.finish();
    if mc.sections.is_empty() {
        return Err(ModelCheckError::NotFound(NO_SECTIONS));
    }
    Ok(mc)
}

pub fn parse_str(text: &str) -> Result<ModelCheck, ModelCheckError> {
    parse_reader(text.as_bytes())
}

/// True if `line` (trimmed) is one of the section headers: used by content sniffing.
pub fn is_signature_line(line: &str) -> bool {
    let t = line.trim();
    header_of(t).is_some() && !is_simple_rule(t)
}
