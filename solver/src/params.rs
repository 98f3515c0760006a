//! Cluster shape and solver settings, with msit's flag names and defaults.
//!
//! | msit flag | field | default |
//! | --- | --- | --- |
//! | `-nre` | `redundant` | 64 |
//! | `-nsed` | `shared_devices` | 0 |
//! | `-nd` | `nodes` | 8 |
//! | `-nn` | `devices` | 64 |
//! | `-al` | `algorithm` | 0 (C2LB) |
//! | `-dt` | `device_type` | a2 |

use serde::{Deserialize, Serialize};

use super::algo::catalogue;
use super::error::{Error, Param, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    #[default]
    A2,
    A3,
}

impl DeviceType {
    pub const ALL: [DeviceType; 2] = [DeviceType::A2, DeviceType::A3];
    pub fn parse(s: &str) -> Result<DeviceType> {
        match s.to_ascii_lowercase().as_str() {
            "a2" => Ok(DeviceType::A2),
            "a3" => Ok(DeviceType::A3),
            other => Err(Error::param(Param::DeviceType, format!("must be a2 or a3, got '{other}'"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DeviceType::A2 => "a2",
            DeviceType::A3 => "a3",
        }
    }
}

/// The cluster an expert-parallel deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// `-nn`: NPUs (devices) in total, including shared-expert devices.
    pub devices: usize,
    /// `-nd`: nodes (servers).
    pub nodes: usize,
    /// `-nre`: redundant expert slots in total.
    pub redundant: usize,
    /// `-nsed`: devices dedicated to the shared expert (the first K).
    pub shared_devices: usize,
    /// `-dt`.
    pub device_type: DeviceType,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster { devices: 64, nodes: 8, redundant: 64, shared_devices: 0, device_type: DeviceType::A2 }
    }
}

/// The largest cluster the engine takes: NPUs (and nodes, shared-expert NPUs).
pub const MAX_DEVICES: usize = 1 << 16;
/// The most redundant expert slots in total.
pub const MAX_REDUNDANT: usize = 1 << 20;
/// The largest model index of the first MoE layer (exports).
pub const MAX_FIRST_MOE_LAYER: usize = 4096;

impl Cluster {
    /// Every number within the engine's limits, checked before any
    /// arithmetic on them (so nothing wraps, loops for ever or allocates by
    /// a typed value): refused at once with the limit in the message.
    pub fn check_limits(&self) -> Result<()> {
        let over = |param: Param, v: usize, max: usize, what: &str| {
            Err(Error::param(param, format!("{v} is more {what} than the engine takes: at most {max}")))
        };
        if self.devices > MAX_DEVICES {
            return over(Param::Npus, self.devices, MAX_DEVICES, "NPUs");
        }
        if self.nodes > MAX_DEVICES {
            return over(Param::Nodes, self.nodes, MAX_DEVICES, "nodes");
        }
        if self.shared_devices > MAX_DEVICES {
            return over(Param::SharedDevices, self.shared_devices, MAX_DEVICES, "shared-expert NPUs");
        }
        if self.redundant > MAX_REDUNDANT {
            return over(Param::Redundant, self.redundant, MAX_REDUNDANT, "redundant experts");
        }
        Ok(())
    }

    /// Devices that hold routed experts (`devices - shared_devices`).
    pub fn routed_devices(&self) -> usize {
        self.devices.saturating_sub(self.shared_devices)
    }
}

/// The placement algorithms. `-al` numbers follow msit. Keys, names and
/// rules of each are in the one catalogue, [`crate::algo::catalogue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// `-al 0`: C2LB (A2 / A3 by device type).
    #[default]
    C2lb,
    /// `-al 1`: speculative-MoE level 1.
    SpecMoe1,
    /// `-al 2`: dynamic C2LB (node-local redundancy).
    DynamicC2lb,
    /// `-al 3`: speculative-MoE level 2 (our optimiser).
    SpecMoe2,
    /// `-al 4`: level 1 with the shared expert mixed in.
    SpecMoe1Mixed,
    /// `-al 5`: level 2 with the shared expert mixed in.
    SpecMoe2Mixed,
    /// DeepSeek EPLB, hierarchical (groups packed onto nodes).
    DeepseekHierarchical,
    /// DeepSeek EPLB, global (one group, one node).
    DeepseekGlobal,
    /// FlashLB (vLLM-Ascend / SGLang): mean + z·std replica counts, tree search.
    #[serde(rename = "flashlb")]
    FlashLb,
}

impl Algorithm {
    /// Every algorithm, in the order of the catalogue ([`crate::algo::catalogue`]).
    pub const ALL: [Algorithm; 9] = catalogue::ALL;

    /// Its row of the algorithm catalogue.
    pub const fn entry(self) -> &'static catalogue::Entry {
        catalogue::entry(self)
    }

    /// From msit's `-al` number.
    pub fn from_al(n: u32) -> Result<Algorithm> {
        catalogue::from_al(n)
    }

    /// msit's `-al` number, if the algorithm has one.
    pub fn al(self) -> Option<u32> {
        self.entry().al
    }

    /// Stable machine name (CLI `--algorithm`, share links).
    pub fn name(self) -> &'static str {
        self.entry().name
    }

    /// By `-al` number or machine name.
    pub fn parse(s: &str) -> Result<Algorithm> {
        catalogue::parse(s)
    }

    /// Short human label.
    pub fn label(self) -> &'static str {
        self.entry().label
    }

    /// One line for the UI's algorithm picker.
    pub fn explain(self) -> &'static str {
        self.entry().explain
    }

    /// Whether this is a mixed shared-expert variant (shared expert = id E).
    pub fn is_mixed(self) -> bool {
        self.entry().mixed
    }
}

/// Everything a solve needs besides the data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub cluster: Cluster,
    pub algorithm: Algorithm,
    /// Reproduce the reference tool's output exactly, even when it is invalid.
    pub msit_compat: bool,
    /// Seed of the randomised optimisers.
    pub seed: u64,
    /// Expert groups for DeepSeek EPLB hierarchical.
    pub groups: Option<usize>,
    /// Fit on even intervals only (held-out evaluation on odd ones).
    pub holdout: bool,
    /// Level 2: optimise the worst fitted stage rather than the mean
    /// (robust against drift). Honoured by the level-2 solver only.
    #[serde(default)]
    pub robust: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cluster: Cluster::default(),
            algorithm: Algorithm::C2lb,
            msit_compat: false,
            seed: 0,
            groups: None,
            holdout: false,
            robust: false,
        }
    }
}
