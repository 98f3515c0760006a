//! The UI's calls into the engine, in one place (no domain logic here).

use crate::engine::{Dataset, Error, InputFile, PhaseData, Placement, Settings};

/// The built-in sample dataset shown when nothing was dropped: a synthetic
/// DeepSeek-V3-shaped MindIE time-series dump (58 x 256 on 64 NPUs / 8
/// nodes, the msit defaults), with its label.
pub fn sample_files() -> Option<(String, Vec<InputFile>)> {
    use crate::engine::sample::{Preset, SampleFormat};
    sample_files_for(Preset::Dsv3, SampleFormat::Series)
}

/// A built-in sample of the given preset and format, with its label.
pub fn sample_files_for(
    preset: crate::engine::sample::Preset,
    format: crate::engine::sample::SampleFormat,
) -> Option<(String, Vec<InputFile>)> {
    use crate::engine::sample::{generate, SampleFormat};
    let kind = match format {
        SampleFormat::Series => "synthetic time-series dump",
        SampleFormat::Summed => "synthetic summed dump",
    };
    let label = format!("{} ({kind})", preset.describe());
    Some((label, generate(preset, format, 0)))
}

/// The cluster a sample preset is shaped for.
pub fn sample_cluster(preset: crate::engine::sample::Preset) -> crate::engine::Cluster {
    crate::engine::sample::cluster_for(preset)
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
