//! Ingest: every input format, all read from a list of (relative path, bytes)
//! so the same code serves a dropped folder and the CLI's directory walk.

use super::error::{Error, Result};
use super::model::{Dataset, InputFile};

/// Recognise and read a dropped folder (or several).
pub fn read_files(files: &[InputFile]) -> Result<Dataset> {
    if files.is_empty() {
        return Err(Error::msg("the folder is empty: drop a folder holding decode_<rank>.csv / prefill_<rank>.csv files"));
    }
    Err(Error::msg("ingest not implemented yet"))
}
