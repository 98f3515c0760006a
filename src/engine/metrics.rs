//! The balance figures of shared/spec/metrics.md, one definition used by the
//! charts, `elb score`, the tests and the benchmarks.

use serde::{Deserialize, Serialize};

use super::model::{PhaseData, Placement};
use super::params::Cluster;

/// Figures of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerScore {
    pub layer: usize,
    /// `max_d load / mean` on summed loads.
    pub imbalance: f64,
    pub lower_bound: f64,
    /// Mean over kept intervals of `max_d load(t) / mean(t)` (time series only).
    pub time_resolved_imbalance: Option<f64>,
}

/// The figures of one table on one phase's data. Key names are the public
/// interface of `elb score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub layers: usize,
    pub experts: usize,
    pub devices: usize,
    pub slots_per_device: usize,
    pub step_imbalance: f64,
    pub mean_layer_imbalance: f64,
    pub max_layer_imbalance: f64,
    pub time_resolved_step_imbalance: Option<f64>,
    pub lower_bound: f64,
    pub gap: f64,
    pub internode_nodes_per_token: Option<f64>,
    pub valid: bool,
    pub violations: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub per_layer: Vec<LayerScore>,
}

/// Score `placement` on `data` (validating it first).
pub fn score(data: &PhaseData, placement: &Placement, cluster: &Cluster) -> Score {
    let _ = (data, placement, cluster);
    unimplemented_score()
}

fn unimplemented_score() -> Score {
    Score {
        layers: 0,
        experts: 0,
        devices: 0,
        slots_per_device: 0,
        step_imbalance: f64::NAN,
        mean_layer_imbalance: f64::NAN,
        max_layer_imbalance: f64::NAN,
        time_resolved_step_imbalance: None,
        lower_bound: f64::NAN,
        gap: f64::NAN,
        internode_nodes_per_token: None,
        valid: false,
        violations: vec!["metrics not implemented yet".into()],
        per_layer: vec![],
    }
}
