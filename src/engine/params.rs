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

use super::error::{Error, Param, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    #[default]
    A2,
    A3,
}

impl DeviceType {
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

/// The placement algorithms. `-al` numbers follow msit.
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
}

impl Algorithm {
    pub const ALL: [Algorithm; 8] = [
        Algorithm::C2lb,
        Algorithm::SpecMoe1,
        Algorithm::DynamicC2lb,
        Algorithm::SpecMoe2,
        Algorithm::SpecMoe1Mixed,
        Algorithm::SpecMoe2Mixed,
        Algorithm::DeepseekHierarchical,
        Algorithm::DeepseekGlobal,
    ];

    /// From msit's `-al` number.
    pub fn from_al(n: u32) -> Result<Algorithm> {
        Ok(match n {
            0 => Algorithm::C2lb,
            1 => Algorithm::SpecMoe1,
            2 => Algorithm::DynamicC2lb,
            3 => Algorithm::SpecMoe2,
            4 => Algorithm::SpecMoe1Mixed,
            5 => Algorithm::SpecMoe2Mixed,
            _ => return Err(Error::param(Param::Algorithm, format!("must be 0..5, got {n}"))),
        })
    }

    /// msit's `-al` number, if the algorithm has one.
    pub fn al(self) -> Option<u32> {
        Some(match self {
            Algorithm::C2lb => 0,
            Algorithm::SpecMoe1 => 1,
            Algorithm::DynamicC2lb => 2,
            Algorithm::SpecMoe2 => 3,
            Algorithm::SpecMoe1Mixed => 4,
            Algorithm::SpecMoe2Mixed => 5,
            _ => return None,
        })
    }

    /// Stable machine name (CLI `--algorithm`, share links).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::C2lb => "c2lb",
            Algorithm::SpecMoe1 => "spec-moe-1",
            Algorithm::DynamicC2lb => "dynamic-c2lb",
            Algorithm::SpecMoe2 => "spec-moe-2",
            Algorithm::SpecMoe1Mixed => "spec-moe-1-mixed",
            Algorithm::SpecMoe2Mixed => "spec-moe-2-mixed",
            Algorithm::DeepseekHierarchical => "deepseek-hierarchical",
            Algorithm::DeepseekGlobal => "deepseek-global",
        }
    }

    pub fn parse(s: &str) -> Result<Algorithm> {
        if let Ok(n) = s.parse::<u32>() {
            return Algorithm::from_al(n);
        }
        Algorithm::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.name()).collect();
            Error::param(Param::Algorithm, format!("unknown algorithm '{s}'; expected 0..5 or one of {}", names.join(", ")))
        })
    }

    /// Short human label.
    pub fn label(self) -> &'static str {
        match self {
            Algorithm::C2lb => "C2LB (al 0)",
            Algorithm::SpecMoe1 => "Speculative-MoE level 1 (al 1)",
            Algorithm::DynamicC2lb => "Dynamic C2LB (al 2)",
            Algorithm::SpecMoe2 => "Level 2 optimiser (al 3)",
            Algorithm::SpecMoe1Mixed => "Level 1, shared expert mixed (al 4)",
            Algorithm::SpecMoe2Mixed => "Level 2, shared expert mixed (al 5)",
            Algorithm::DeepseekHierarchical => "DeepSeek EPLB hierarchical",
            Algorithm::DeepseekGlobal => "DeepSeek EPLB global",
        }
    }

    /// One line for the UI's algorithm picker.
    pub fn explain(self) -> &'static str {
        match self {
            Algorithm::C2lb => "msit's default: copies for the hottest experts by repeated halving, then greedy least-loaded placement. Fast, static loads only.",
            Algorithm::SpecMoe1 => "Time-aware greedy: replica counts and placement judged over 8 stages of the dump, so drifting load is balanced too.",
            Algorithm::DynamicC2lb => "C2LB with node-local redundancy (each node keeps its own experts and copies); seeds MindIE's dynamic balancing.",
            Algorithm::SpecMoe2 => "Our optimiser: peak-aware replica counts and slot-swap local search on the time-resolved imbalance. Best balance, seconds per model.",
            Algorithm::SpecMoe1Mixed => "Level 1 with the shared expert placed among the routed ones (time-series input).",
            Algorithm::SpecMoe2Mixed => "Level 2 with the shared expert placed among the routed ones (time-series input).",
            Algorithm::DeepseekHierarchical => "DeepSeek's open-source EPLB: expert groups packed onto nodes, then replicas within nodes. Needs groups divisible by nodes.",
            Algorithm::DeepseekGlobal => "DeepSeek's open-source EPLB with one group: global replication and packing.",
        }
    }

    /// Whether this is a mixed shared-expert variant (shared expert = id E).
    pub fn is_mixed(self) -> bool {
        matches!(self, Algorithm::SpecMoe1Mixed | Algorithm::SpecMoe2Mixed)
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
