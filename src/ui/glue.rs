//! The UI's calls into the engine, in one place (no domain logic here).

use crate::engine::{Dataset, Error, InputFile, PhaseData, Placement, Settings};

/// The built-in sample dataset shown when nothing was dropped: a synthetic
/// DeepSeek-V3-shaped MindIE time-series dump (58 x 256 on 64 NPUs / 8
/// nodes, the msit defaults), with its label.
pub fn sample_files() -> Option<(String, Vec<InputFile>)> {
    use crate::engine::sample::{generate, Preset, SampleFormat};
    let preset = Preset::Dsv3;
    let label = format!("{} (synthetic time-series dump)", preset.describe());
    Some((label, generate(preset, SampleFormat::Series, 0)))
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
