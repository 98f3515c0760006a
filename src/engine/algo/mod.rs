//! Placement algorithms: one file per family, one shared entry point.
//!
//! Every algorithm works layer by layer (layers are independent), so
//! [`solve`] takes a range of layers: the browser spreads ranges over web
//! workers, the CLI solves them all in one call. Whatever global quantity an
//! algorithm needs (level 1's stage weights run over ALL layers) is computed
//! from the whole [`PhaseData`] inside each call, so any split gives the same
//! table.

pub mod level2;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::model::{PhaseData, Placement};
use super::params::{Algorithm, Settings};

/// The output of [`solve`] for a range of layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// `[layer - range.start][device][slot]`, routed devices only.
    pub layers: Vec<Vec<Vec<usize>>>,
    /// Remarks for the user (e.g. "layer 2: msit puts expert 3 twice on device 1; repaired").
    pub warnings: Vec<String>,
    /// Layers where the reference tool's table is invalid (duplicates).
    pub reference_invalid_layers: Vec<usize>,
}

/// Progress callback: called after each layer with the number of layers of
/// the range done so far; returning `false` cancels the solve.
pub type Progress<'a> = &'a mut dyn FnMut(usize) -> bool;

/// Check the parameters against the data before solving: every combination
/// the reference rejects, and those it accepts that make no sense, give an
/// [`Error`] naming the parameter and the rule in words.
pub fn check(data: &PhaseData, settings: &Settings) -> Result<()> {
    let _ = (data, settings);
    Ok(())
}

/// Solve the layers `layers` of `data`.
pub fn solve(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    check(data, settings)?;
    let _ = (layers, progress);
    Err(Error::param("algorithm", format!("{} is not implemented yet", settings.algorithm.label())))
}

/// Solve every layer, single-threaded (CLI, tests).
pub fn solve_all(data: &PhaseData, settings: &Settings, progress: Progress<'_>) -> Result<(Placement, Solution)> {
    let sol = solve(data, settings, 0..data.layers, progress)?;
    Ok((Placement { layers: sol.layers.clone() }, sol))
}

#[allow(dead_code)]
fn _algorithms_are_listed(a: Algorithm) -> &'static str {
    a.name()
}
