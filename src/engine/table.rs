//! The deployment table of shared/spec/formats.md §3: its JSON shape, reading
//! it (as the current placement or a dropped table) and the validity rules.

use serde::{Deserialize, Serialize};

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
