//! Vocabulary: the one typed error of the readers, whose text is what the user reads.

use std::fmt;

/// Why a file could not be read as the format it was detected as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Nothing in the file.
    Empty,
    /// Bytes that are not UTF-8 text.
    NotText,
    /// The reader failed (the browser or the OS), with its message.
    Io(String),
    /// What was looked for and not found, as a sentence.
    NotFound(&'static str),
    /// A table header with no rows under it, as a sentence.
    NoRows(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("the file is empty"),
            ParseError::NotText => f.write_str("the file is not UTF-8 text (binary data?)"),
            ParseError::Io(e) => write!(f, "read error: {e}"),
            ParseError::NotFound(what) | ParseError::NoRows(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ParseError {}
