//! The deployment table of docs/formats.md §3: its JSON shape and
//! reading it (as the current placement or a dropped table).
//!
//! Reading is lenient: JSON syntax and type errors are hard errors (naming the
//! file, line and column), but rule breaks (duplicates, missing experts,
//! uneven devices, wrong counts, negative ids) are left for
//! [`crate::engine::validate`] to list.

use super::error::Result;
use super::ingest::config::json_error;
use super::ingest::csv_text::decode_text;
use super::json;
use super::model::{Phase, Placement};

/// Largest expert id counted as representable by [`DeploymentTable::bad_ids`].
pub const MAX_ID: i64 = (1 << 30) - 1;

#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentTable {
    pub moe_layer_count: i64,
    pub layer_list: Vec<TableLayer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableLayer {
    pub layer_id: i64,
    pub device_count: i64,
    pub device_list: Vec<TableDevice>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableDevice {
    pub device_id: i64,
    pub device_expert: Vec<i64>,
}

/// Parse a deployment table JSON (UTF-8 with or without BOM, or UTF-16 with BOM).
pub fn parse_table(file: &str, bytes: &[u8]) -> Result<DeploymentTable> {
    let text = decode_text(file, bytes)?;
    json::from_slice::<DeploymentTable>(&text).map_err(|e| json_error(file, &e, "not a valid deployment table"))
}

// Read as serde's derive read them: unknown keys skipped, every field
// required, once.
json::json_struct!(read DeploymentTable { req moe_layer_count, req layer_list });

json::json_struct!(read TableLayer { req layer_id, req device_count, req device_list });

json::json_struct!(read TableDevice { req device_id, req device_expert });

impl DeploymentTable {
    /// The placement this table describes: layers in `layer_id` order,
    /// devices in file order with the first `skip_devices` devices of every
    /// layer left out (devices dedicated to the shared expert). Lenient, like
    /// [`crate::engine::validate::placement_from_table`] (which it uses): ids
    /// are kept as written, a negative id becomes `usize::MAX` (out of range
    /// for every check) — [`DeploymentTable::bad_ids`] counts those so the
    /// caller can warn, and the validator lists them.
    pub fn to_placement(&self, skip_devices: usize) -> Placement {
        crate::engine::validate::placement_from_table(self, skip_devices)
    }

    /// Expert ids no placement can hold as written (negative, or beyond
    /// [`MAX_ID`]).
    pub fn bad_ids(&self) -> usize {
        self.layer_list
            .iter()
            .flat_map(|l| l.device_list.iter())
            .flat_map(|d| d.device_expert.iter())
            .filter(|&&x| !(0..=MAX_ID).contains(&x))
            .count()
    }
}

/// Read a deployment table file into a [`Placement`] (all devices kept).
pub fn read_placement(file: &str, bytes: &[u8]) -> Result<Placement> {
    Ok(parse_table(file, bytes)?.to_placement(0))
}

/// The phase a table file is for, from its name (`decode_global_deployment.json`
/// -> decode); `None` when the name says neither.
pub fn phase_of_table_name(name: &str) -> Option<Phase> {
    let n = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    let p = n.contains("prefill");
    let d = n.contains("decode");
    match (p, d) {
        (true, false) => Some(Phase::Prefill),
        (false, true) => Some(Phase::Decode),
        _ => None,
    }
}
