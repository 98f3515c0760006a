//! Level 2 (`-al 3` / `-al 5`): written on the `level2` branch; this stub
//! only keeps the dispatch compiling until that file replaces it.

use std::ops::Range;

use super::{Progress, Solution};
use crate::engine::error::{Error, Result};
use crate::engine::model::PhaseData;
use crate::engine::params::Settings;

pub fn solve_layers(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    let _ = (data, layers, progress);
    Err(Error::param("algorithm", format!("{} is not implemented on this branch", settings.algorithm.label())))
}
