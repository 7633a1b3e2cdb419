//! Parsed-document building blocks shared by every report parser: titled tables and reader notes.

use super::table::{Row, Table};
use serde::{Deserialize, Serialize};

/// A table of a parsed document, with a stable id that findings point at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocTable {
    /// Stable id within the document, e.g. `layers`, `input_dtype_stats`, `fusable`.
    pub id: String,
    /// The section title as the file writes it.
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Row>,
    /// `...` runs met: the table is an excerpt with rows left out.
    pub elided_runs: usize,
    pub first_line: usize,
}

impl DocTable {
    pub fn from_table(id: &str, title: &str, t: Table) -> DocTable {
        DocTable {
            id: id.to_string(),
            title: title.to_string(),
            headers: t.headers,
            rows: t.rows,
            elided_runs: t.elided_runs,
            first_line: t.first_line,
        }
    }

    /// Column index by header name, case-insensitive.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    }

    /// Cell text, or `""` when the row is short or the column is missing.
    pub fn cell(&self, row: usize, col: Option<usize>) -> &str {
        match (self.rows.get(row), col) {
            (Some(r), Some(c)) => r.cells.get(c).map(String::as_str).unwrap_or(""),
            _ => "",
        }
    }
}

/// Something the reader wants the user to know: a skipped section, ignored lines, an odd row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub line: Option<usize>,
    pub text: String,
}

impl Note {
    pub fn at(line: usize, text: impl Into<String>) -> Note {
        Note {
            line: Some(line),
            text: text.into(),
        }
    }
}

/// What the file says about operator fusion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FusionStatus {
    NotReported,
    AllFused,
    /// Groups are in the `fusable` table (column `group`).
    Unfused,
}

/// What the file says about module call counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CallStatus {
    NotReported,
    AllOnce,
    /// Counts are in the `unused`, `shared` and/or `called_times` tables.
    Listed,
}
