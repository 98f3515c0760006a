//! The deployment table of shared/spec/formats.md §3: its JSON shape and
//! reading it (as the current placement or a dropped table).
//!
//! Reading is lenient: JSON syntax and type errors are hard errors (naming the
//! file, line and column), but rule breaks (duplicates, missing experts,
//! uneven devices, wrong counts) are left for the validator to list.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::ingest::config::serde_error;
use super::ingest::csv_text::decode_text;
use super::model::Placement;

/// Largest expert id a table may hold (fits every platform's `usize`).
pub const MAX_ID: i64 = (1 << 30) - 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentTable {
    pub moe_layer_count: i64,
    pub layer_list: Vec<TableLayer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableLayer {
    pub layer_id: i64,
    pub device_count: i64,
    pub device_list: Vec<TableDevice>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDevice {
    pub device_id: i64,
    pub device_expert: Vec<i64>,
}

/// Parse a deployment table JSON (UTF-8 with or without BOM, or UTF-16 with BOM).
pub fn parse_table(file: &str, bytes: &[u8]) -> Result<DeploymentTable> {
    let text = decode_text(file, bytes)?;
    serde_json::from_slice::<DeploymentTable>(&text).map_err(|e| serde_error(file, &e, "not a valid deployment table"))
}

impl DeploymentTable {
    /// The placement this table describes: layers in `layer_id` order (a
    /// stable sort, so repeated ids keep file order), devices in file order
    /// with the first `skip_devices` devices of every layer left out (devices
    /// dedicated to the shared expert). Expert ids are kept as written; only a
    /// negative id (which no placement can hold) is an error.
    pub fn to_placement(&self, file: &str, skip_devices: usize) -> Result<Placement> {
        let mut order: Vec<usize> = (0..self.layer_list.len()).collect();
        order.sort_by_key(|&i| self.layer_list[i].layer_id);
        let mut layers = Vec::with_capacity(order.len());
        for &li in &order {
            let layer = &self.layer_list[li];
            let mut devs = Vec::with_capacity(layer.device_list.len());
            for dev in layer.device_list.iter().skip(skip_devices) {
                let mut slots = Vec::with_capacity(dev.device_expert.len());
                for &id in &dev.device_expert {
                    if id < 0 {
                        return Err(Error::file(
                            file,
                            format!(
                                "layer_id {}, device_id {}: expert id {id} is negative; expert ids must be non-negative integers",
                                layer.layer_id, dev.device_id
                            ),
                        ));
                    }
                    if id > MAX_ID {
                        return Err(Error::file(
                            file,
                            format!(
                                "layer_id {}, device_id {}: expert id {id} is too large (at most {MAX_ID})",
                                layer.layer_id, dev.device_id
                            ),
                        ));
                    }
                    slots.push(id as usize);
                }
                devs.push(slots);
            }
            layers.push(devs);
        }
        Ok(Placement { layers })
    }
}

/// Read a deployment table file into a [`Placement`] (all devices kept).
pub fn read_placement(file: &str, bytes: &[u8]) -> Result<Placement> {
    parse_table(file, bytes)?.to_placement(file, 0)
}
