//! The UI's calls into the engine, in one place.
//!
//! Some engine entry points were still being written when the UI was: each
//! function below marked `TEMPORARY SHIM` stands in for the named engine
//! function and should be replaced by a direct call once that lands. Shims
//! hold no domain logic beyond what the spec states in one line.

use crate::engine::{Dataset, Error, InputFile, PhaseData, Placement, Settings};

/// The built-in sample dataset shown when nothing was dropped: a label and
/// its files. TEMPORARY SHIM for `engine::sample::generate` (branch level2):
/// returns `None` until the generator exists.
pub fn sample_files() -> Option<(String, Vec<InputFile>)> {
    None
}

/// Ingest dropped files.
pub fn read_files(files: &[InputFile]) -> Result<Dataset, Error> {
    crate::engine::ingest::read_files(files)
}

/// Per-device load of one layer (routed devices, in device order).
pub fn device_loads(data: &PhaseData, placement: &Placement, layer: usize) -> Vec<f64> {
    if layer >= placement.num_layers() || layer >= data.layers {
        return Vec::new();
    }
    crate::engine::metrics::device_loads(data, placement, layer)
}

/// The deployment table JSON of one phase: validated, or in msit-compatible
/// mode exactly what the reference writes (its violations become warnings).
pub fn export_table(data: &PhaseData, placement: &Placement, settings: &Settings) -> Result<(String, Vec<String>), Error> {
    use crate::engine::export;
    if settings.msit_compat {
        Ok(export::export_compat(placement, &settings.cluster, data.experts))
    } else {
        export::export_checked(placement, &settings.cluster, data.experts).map(|t| (t, Vec::new()))
    }
}
