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
    /// A binary file whose structure is broken or not supported (where, and what), as a sentence.
    Invalid(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("the file is empty"),
            ParseError::NotText => f.write_str("the file is not UTF-8 text (binary data?)"),
            ParseError::Io(e) => write!(f, "read error: {e}"),
            ParseError::NotFound(what) | ParseError::NoRows(what) => f.write_str(what),
            ParseError::Invalid(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<String> for ParseError {
    fn from(s: String) -> ParseError {
        ParseError::Invalid(s)
    }
}

impl From<&str> for ParseError {
    fn from(s: &str) -> ParseError {
        ParseError::Invalid(s.to_string())
    }
}

impl From<std::io::Error> for ParseError {
    fn from(e: std::io::Error) -> ParseError {
        ParseError::Io(e.to_string())
    }
}

impl PartialEq<&str> for ParseError {
    fn eq(&self, other: &&str) -> bool {
        self.to_string().as_str() == *other
    }
}

impl ParseError {
    /// Whether the sentence the user reads mentions `needle`.
    pub fn contains(&self, needle: &str) -> bool {
        self.to_string().contains(needle)
    }
}

impl From<ParseError> for String {
    fn from(e: ParseError) -> String {
        e.to_string()
    }
}
