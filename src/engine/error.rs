//! Errors are values. Every problem with the user's input or parameters is an
//! [`Error`] that says *where* (file, row, column — or the parameter) and
//! *which rule* was broken, so the message alone tells the user what to fix.
//! Rows and columns are 1-based, as a spreadsheet shows them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Error {
    /// Relative path of the file at fault, as dropped (e.g. `node_0/decode_3.csv`).
    pub file: Option<String>,
    /// 1-based row (line) in that file.
    pub row: Option<usize>,
    /// 1-based column (field) in that row.
    pub column: Option<usize>,
    /// The parameter at fault (CLI flag / UI field name, e.g. `redundant experts (-nre)`).
    pub param: Option<String>,
    /// The rule that was broken, in words.
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with no location (a rule about the input as a whole).
    pub fn msg(message: impl Into<String>) -> Self {
        Error { file: None, row: None, column: None, param: None, message: message.into() }
    }
    /// An error about one file as a whole.
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error { file: Some(file.into()), ..Error::msg(message) }
    }
    /// An error at a cell of a file (1-based row and column).
    pub fn cell(file: impl Into<String>, row: usize, column: usize, message: impl Into<String>) -> Self {
        Error { file: Some(file.into()), row: Some(row), column: Some(column), ..Error::msg(message) }
    }
    /// An error at a row of a file (1-based).
    pub fn row(file: impl Into<String>, row: usize, message: impl Into<String>) -> Self {
        Error { file: Some(file.into()), row: Some(row), ..Error::msg(message) }
    }
    /// An error about a parameter.
    pub fn param(param: impl Into<String>, message: impl Into<String>) -> Self {
        Error { param: Some(param.into()), ..Error::msg(message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            write!(f, "{file}")?;
            wrote = true;
            if let Some(r) = self.row {
                write!(f, ", row {r}")?;
            }
            if let Some(c) = self.column {
                write!(f, ", column {c}")?;
            }
        }
        if let Some(p) = &self.param {
            if wrote {
                write!(f, ", ")?;
            }
            write!(f, "parameter {p}")?;
            wrote = true;
        }
        if wrote {
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Error {}
