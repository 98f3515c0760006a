//! The UI's calls into the engine, in one place (no domain logic here).

use crate::engine::{InputFile, PhaseData, Placement};

/// A built-in sample of the given preset and format, with its label.
pub fn sample_files_for(
    preset: crate::engine::sample::Preset,
    format: crate::engine::sample::SampleFormat,
) -> Option<(String, Vec<InputFile>)> {
    Some((sample_label(preset, format), crate::engine::sample::generate(preset, format, 0)))
}

/// How a built-in sample is named on the page.
pub fn sample_label(preset: crate::engine::sample::Preset, format: crate::engine::sample::SampleFormat) -> String {
    use crate::engine::sample::SampleFormat;
    let kind = match format {
        SampleFormat::Series => "synthetic time-series dump",
        SampleFormat::Summed => "synthetic summed dump",
    };
    format!("{} ({kind})", preset.describe())
}

/// The cluster a sample preset is shaped for.
pub fn sample_cluster(preset: crate::engine::sample::Preset) -> crate::engine::Cluster {
    crate::engine::sample::cluster_for(preset)
}

/// Per-device load of one layer (routed devices, in device order).
pub fn device_loads(data: &PhaseData, placement: &Placement, layer: usize) -> Vec<f64> {
    if layer >= placement.num_layers() || layer >= data.layers {
        return Vec::new();
    }
    crate::engine::metrics::device_loads(data, placement, layer)
}
