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

/// Per-device load of one layer (routed devices, in device order): the sum
/// over a device's slots of `load(expert) / replicas(expert)` (metrics.md).
/// The shared expert (id `E`, mixed variants) carries `layer total / top_k`.
/// TEMPORARY SHIM for the chart helper `engine::metrics::device_loads`.
pub fn device_loads(data: &PhaseData, placement: &Placement, layer: usize) -> Vec<f64> {
    let Some(devices) = placement.layers.get(layer) else { return Vec::new() };
    if layer >= data.summed.layers {
        return vec![0.0; devices.len()];
    }
    let e_count = data.experts;
    let loads = data.summed.layer(layer);
    let total: f64 = loads.iter().sum();
    let shared = match data.top_k {
        Some(k) if k > 0 => total / k as f64,
        _ => 0.0,
    };
    let mut replicas = vec![0usize; e_count + 1];
    for dev in devices {
        for &e in dev {
            if e <= e_count {
                replicas[e] += 1;
            }
        }
    }
    devices
        .iter()
        .map(|dev| {
            dev.iter()
                .map(|&e| {
                    let load = if e < e_count {
                        loads[e]
                    } else if e == e_count {
                        shared
                    } else {
                        0.0
                    };
                    let r = replicas.get(e).copied().unwrap_or(0).max(1);
                    load / r as f64
                })
                .sum()
        })
        .collect()
}

/// The deployment table JSON of one phase (msit's `json.dump(indent=4)`
/// layout), validated. TEMPORARY SHIM for `engine::export::export_checked`
/// (branch metrics): builds the table shape of formats.md §3 without the
/// full validation.
pub fn export_table(data: &PhaseData, placement: &Placement, settings: &Settings) -> Result<String, Error> {
    use crate::engine::table::{DeploymentTable, TableDevice, TableLayer};
    use serde::Serialize;
    let _ = data;
    let k = settings.cluster.shared_devices;
    let mut layers = Vec::with_capacity(placement.layers.len());
    for (l, devs) in placement.layers.iter().enumerate() {
        let mut list = Vec::with_capacity(devs.len() + k);
        for d in 0..k {
            list.push(TableDevice { device_id: d as i64, device_expert: vec![0] });
        }
        for (i, dev) in devs.iter().enumerate() {
            list.push(TableDevice {
                device_id: (k + i) as i64,
                device_expert: dev.iter().map(|&e| (e + k) as i64).collect(),
            });
        }
        layers.push(TableLayer { layer_id: l as i64, device_count: list.len() as i64, device_list: list });
    }
    let table = DeploymentTable { moe_layer_count: layers.len() as i64, layer_list: layers };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    table.serialize(&mut ser).map_err(|e| Error::msg(format!("could not write the table: {e}")))?;
    String::from_utf8(out).map_err(|e| Error::msg(format!("could not write the table: {e}")))
}
