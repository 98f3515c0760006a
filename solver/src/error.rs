//! Errors are values. Every problem with the user's input or parameters is an
//! [`Error`] that says *where* (file, row, column — or the parameter) and
//! *which rule* was broken, so the message alone tells the user what to fix.
//! Rows and columns are 1-based, as a spreadsheet shows them.
//!
//! An error also has a [`ErrorKind`] and, for parameter errors, a typed
//! [`Param`], so a front end can act on it without reading its text: the page
//! marks the form field of [`Error::param`], the worker pool recognises a
//! cancelled job by its kind.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of problem an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// The input (a file, a row, a cell, or the input as a whole) breaks a rule.
    #[default]
    Input,
    /// A parameter (CLI flag / page field) breaks a rule.
    Param,
    /// The user stopped the work.
    Cancelled,
    /// A bug: a rule of the engine's own was broken.
    Internal,
}

/// A parameter the user sets: its page label and its CLI flag. `Display`
/// gives both (`NPUs (-nn)`), so one message serves the page and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Param {
    Npus,
    Nodes,
    Redundant,
    SharedDevices,
    DeviceType,
    Algorithm,
    Seed,
    Groups,
    Robust,
    Input,
    Output,
    Holdout,
    HoldoutSplit,
    HoldoutRolling,
    Current,
    MigrationAware,
    TargetWithin,
    ExportFormat,
    FirstMoeLayer,
    Model,
    HiddenLayers,
    Mtp,
    GbPerExpert,
    Threads,
    Table,
    Preset,
    Format,
    /// Anything else, named as given (a flag the CLI does not know, ...).
    Other(String),
}

impl Param {
    /// The name the page shows for the field.
    pub fn label(&self) -> &str {
        match self {
            Param::Npus => "NPUs",
            Param::Nodes => "nodes",
            Param::Redundant => "redundant experts",
            Param::SharedDevices => "shared-expert NPUs",
            Param::DeviceType => "device type",
            Param::Algorithm => "algorithm",
            Param::Seed => "seed",
            Param::Groups => "expert groups",
            Param::Robust => "robust",
            Param::Input => "input folder",
            Param::Output => "output folder",
            Param::Holdout => "held-out (even/odd)",
            Param::HoldoutSplit => "hold-out split",
            Param::HoldoutRolling => "rolling hold-out",
            Param::Current => "current placement",
            Param::MigrationAware => "migration-aware",
            Param::TargetWithin => "target within",
            Param::ExportFormat => "export format",
            Param::FirstMoeLayer => "first MoE layer",
            Param::Model => "model",
            Param::HiddenLayers => "hidden layers",
            Param::Mtp => "MTP layer",
            Param::GbPerExpert => "GB per redundant expert",
            Param::Threads => "threads",
            Param::Table => "table",
            Param::Preset => "preset",
            Param::Format => "format",
            Param::Other(s) => s,
        }
    }
    /// The CLI flag (msit's spelling where msit has one).
    pub fn flag(&self) -> &str {
        match self {
            Param::Npus => "-nn",
            Param::Nodes => "-nd",
            Param::Redundant => "-nre",
            Param::SharedDevices => "-nsed",
            Param::DeviceType => "-dt",
            Param::Algorithm => "-al",
            Param::Seed => "--seed",
            Param::Groups => "--groups",
            Param::Robust => "--robust",
            Param::Input => "-icp",
            Param::Output => "-o",
            Param::Holdout => "--holdout",
            Param::HoldoutSplit => "--holdout-split",
            Param::HoldoutRolling => "--holdout-rolling",
            Param::Current => "--current",
            Param::MigrationAware => "--migration-aware",
            Param::TargetWithin => "--target-within",
            Param::ExportFormat => "--export-format",
            Param::FirstMoeLayer => "--first-moe-layer",
            Param::Model => "--model",
            Param::HiddenLayers => "--hidden-layers",
            Param::Mtp => "--mtp",
            Param::GbPerExpert => "--gb-per-expert",
            Param::Threads => "--threads",
            Param::Table => "--table",
            Param::Preset => "--preset",
            Param::Format => "--format",
            Param::Other(s) => s,
        }
    }
    const NAMED: [Param; 27] = [
        Param::Npus,
        Param::Nodes,
        Param::Redundant,
        Param::SharedDevices,
        Param::DeviceType,
        Param::Algorithm,
        Param::Seed,
        Param::Groups,
        Param::Robust,
        Param::Input,
        Param::Output,
        Param::Holdout,
        Param::HoldoutSplit,
        Param::HoldoutRolling,
        Param::Current,
        Param::MigrationAware,
        Param::TargetWithin,
        Param::ExportFormat,
        Param::FirstMoeLayer,
        Param::Model,
        Param::HiddenLayers,
        Param::Mtp,
        Param::GbPerExpert,
        Param::Threads,
        Param::Table,
        Param::Preset,
        Param::Format,
    ];
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Other(s) => write!(f, "{s}"),
            p => write!(f, "{} ({})", p.label(), p.flag()),
        }
    }
}

/// A flag as typed (`-nre`, `--holdout-split`) names its parameter.
impl From<&str> for Param {
    fn from(s: &str) -> Param {
        let long_alias = match s {
            "--info-csv-path" => "-icp",
            "--output-dir" => "-o",
            "--num-redundant-expert" => "-nre",
            "--num-share-expert-devices" => "-nsed",
            "--num-nodes" => "-nd",
            "--num-npus" => "-nn",
            "--device-type" => "-dt",
            "--algorithm" => "-al",
            other => other,
        };
        Param::NAMED.into_iter().find(|p| p.flag() == long_alias).unwrap_or_else(|| Param::Other(s.to_string()))
    }
}

impl From<String> for Param {
    fn from(s: String) -> Param {
        Param::from(s.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    #[serde(default)]
    pub kind: ErrorKind,
    /// Relative path of the file at fault, as dropped (e.g. `node_0/decode_3.csv`).
    pub file: Option<String>,
    /// 1-based row (line) in that file.
    pub row: Option<usize>,
    /// 1-based column (field) in that row.
    pub column: Option<usize>,
    /// The parameter at fault.
    pub param: Option<Param>,
    /// The rule that was broken, in words.
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with no location (a rule about the input as a whole).
    pub fn msg(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Input, file: None, row: None, column: None, param: None, message: message.into() }
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
    pub fn param(param: impl Into<Param>, message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Param, param: Some(param.into()), ..Error::msg(message) }
    }
    /// The work was stopped by the user.
    pub fn cancelled() -> Self {
        Error { kind: ErrorKind::Cancelled, ..Error::msg("cancelled") }
    }
    /// A rule of the engine's own was broken (a bug, not the user's input).
    pub fn internal(message: impl Into<String>) -> Self {
        Error { kind: ErrorKind::Internal, ..Error::msg(format!("internal: {}", message.into())) }
    }
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }
    /// The same error with `prefix: ` before its message.
    pub fn context(self, prefix: impl fmt::Display) -> Self {
        Error { message: format!("{prefix}: {}", self.message), ..self }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_display_label_and_flag() {
        assert_eq!(Param::Redundant.to_string(), "redundant experts (-nre)");
        assert_eq!(Param::from("-nn"), Param::Npus);
        assert_eq!(Param::from("--num-npus"), Param::Npus);
        assert_eq!(Param::from("--frobnicate"), Param::Other("--frobnicate".into()));
        let e = Error::param(Param::Npus, "must be at least 1");
        assert_eq!(e.kind, ErrorKind::Param);
        assert_eq!(e.to_string(), "parameter NPUs (-nn): must be at least 1");
        assert!(Error::cancelled().is_cancelled());
    }
}
