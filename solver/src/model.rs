//! The domain model shared by every stage of the engine.
//!
//! Data flows one way: files -> `elb::engine::ingest` -> [`Dataset`] (one
//! [`PhaseData`] per phase) -> [`crate::algo`] -> [`Placement`] ->
//! `elb::engine::metrics` and `elb::engine::export`.
//!
//! Vocabulary (see docs/formats.md): L layers, E logical experts,
//! D devices (NPUs), N nodes, R redundant slots in total, S = (E+R)/D slots
//! per device, T kept intervals of a time-series dump.

use serde::{Deserialize, Serialize};

/// `prefill` or `decode`: each phase gets its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Prefill,
    Decode,
}

impl Phase {
    pub const ALL: [Phase; 2] = [Phase::Prefill, Phase::Decode];
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "prefill" => Some(Phase::Prefill),
            "decode" => Some(Phase::Decode),
            _ => None,
        }
    }
    /// File name of this phase's deployment table.
    pub fn table_file_name(self) -> String {
        format!("{}_global_deployment.json", self.name())
    }
}

/// Which input format a phase was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// Format 1: summed per-rank CSVs.
    Summed,
    /// Format 2: cumulative time-series MindIE dump with model_gen_config.json.
    TimeSeries,
    /// A plain `[layers x experts]` load matrix (CSV or JSON).
    Matrix,
    /// Only a deployment table was given (no loads).
    TableOnly,
}

/// Hotness `H[l][e][t]` of one layer-major block, stored flat:
/// index `(l * experts + e) * intervals + t`. Each layer's `E*T` values are
/// contiguous, so a worker can be handed a range of layers cheaply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub layers: usize,
    pub experts: usize,
    pub intervals: usize,
    #[serde(with = "crate::bulk::f64s")]
    pub data: Vec<f64>,
}

impl Series {
    pub fn new(layers: usize, experts: usize, intervals: usize) -> Self {
        Series { layers, experts, intervals, data: vec![0.0; layers * experts * intervals] }
    }
    #[inline]
    pub fn get(&self, l: usize, e: usize, t: usize) -> f64 {
        self.data[(l * self.experts + e) * self.intervals + t]
    }
    /// The `E*T` block of layer `l` (expert-major: `[e * T + t]`).
    pub fn layer(&self, l: usize) -> &[f64] {
        let n = self.experts * self.intervals;
        &self.data[l * n..(l + 1) * n]
    }
    /// Sum over intervals: `[l][e]` as a [`LoadMatrix`].
    pub fn summed(&self) -> LoadMatrix {
        let mut m = LoadMatrix::new(self.layers, self.experts);
        for l in 0..self.layers {
            for e in 0..self.experts {
                let b = (l * self.experts + e) * self.intervals;
                m.data[l * self.experts + e] = self.data[b..b + self.intervals].iter().sum();
            }
        }
        m
    }
}

/// Loads summed over time, `[l][e]`, stored flat: index `l * experts + e`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadMatrix {
    pub layers: usize,
    pub experts: usize,
    #[serde(with = "crate::bulk::f64s")]
    pub data: Vec<f64>,
}

impl LoadMatrix {
    pub fn new(layers: usize, experts: usize) -> Self {
        LoadMatrix { layers, experts, data: vec![0.0; layers * experts] }
    }
    #[inline]
    pub fn get(&self, l: usize, e: usize) -> f64 {
        self.data[l * self.experts + e]
    }
    pub fn layer(&self, l: usize) -> &[f64] {
        &self.data[l * self.experts..(l + 1) * self.experts]
    }
}

/// Top-k routing traces of one phase: for each kept rank (index among the
/// kept ranks, in rank order), for each layer, the sampled tokens' chosen
/// logical experts, flattened `token * k + j`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    pub k: usize,
    /// `[rank][layer] -> flat token*k ids`.
    #[serde(with = "crate::bulk::u32s_2d")]
    pub ranks: Vec<Vec<Vec<u32>>>,
}

/// A placement: for every layer, the routed devices' slot lists of logical
/// expert ids (`[layer][device][slot]`). Devices dedicated to the shared
/// expert (`-nsed K`) are NOT in here; export adds them. In the mixed
/// shared-expert variants the shared expert is logical id `E` and appears
/// inside the lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub layers: Vec<Vec<Vec<usize>>>,
}

impl Placement {
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
    pub fn num_devices(&self) -> usize {
        self.layers.first().map_or(0, |l| l.len())
    }
    pub fn slots_per_device(&self) -> usize {
        self.layers.first().and_then(|l| l.first()).map_or(0, |d| d.len())
    }
    /// The default layout: experts in id order filling devices in order,
    /// `ceil(E/D)` per device at most, no redundancy (the "before" when the
    /// input names no current placement). Requires `devices >= 1`.
    pub fn default_layout(layers: usize, experts: usize, devices: usize) -> Placement {
        let devices = devices.max(1);
        let per = experts.div_ceil(devices);
        let layer: Vec<Vec<usize>> = (0..devices)
            .map(|d| (d * per..((d + 1) * per).min(experts)).collect())
            .collect();
        Placement { layers: vec![layer; layers] }
    }
    /// Number of replicas of each expert id `0..n_ids` in layer `l`.
    pub fn replica_counts(&self, l: usize, n_ids: usize) -> Vec<usize> {
        let mut c = vec![0usize; n_ids];
        for dev in &self.layers[l] {
            for &e in dev {
                if e < n_ids {
                    c[e] += 1;
                }
            }
        }
        c
    }
}

/// Everything known about one phase of the input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseData {
    pub phase: Phase,
    pub format: SourceFormat,
    /// L.
    pub layers: usize,
    /// E: routed logical experts.
    pub experts: usize,
    /// Loads summed over time `[l][e]`: for summed input the file contents;
    /// for time-series input the sum of the KEPT intervals (what metrics use).
    pub summed: LoadMatrix,
    /// Loads C2LB / dynamic C2LB use: for time-series input the LAST
    /// cumulative block (totals since collection started, no idle filter),
    /// mapped to logical experts; otherwise equal to `summed`.
    pub c2lb_loads: LoadMatrix,
    /// Per-interval loads over the kept intervals (time-series input only).
    pub series: Option<Series>,
    /// Top-k from the config (`num_of_selected_experts[0]`), when known.
    pub top_k: Option<usize>,
    /// Top-k traces, when every kept rank has its file.
    /// Shared (`Arc`): the held-out parts and the page's copies of a phase
    /// keep the same traces without copying them.
    pub topk_traces: Option<std::sync::Arc<TopK>>,
    /// The current placement (the table the server ran with), when known.
    pub current: Option<Placement>,
    /// Where `current` came from (file name).
    pub current_source: Option<String>,
    /// Rule breaks of the current placement file's own bookkeeping
    /// (`validate::table_bookkeeping`); `before::current` refuses to use a
    /// current placement that has any.
    #[serde(default)]
    pub current_problems: Vec<String>,
    /// What ingest recognised, for the UI's summary.
    pub info: PhaseInfo,
}

impl PhaseData {
    /// Wrap a summed `[l][e]` matrix as a phase (used by tests, samples, matrices).
    pub fn from_summed(phase: Phase, format: SourceFormat, m: LoadMatrix) -> PhaseData {
        PhaseData {
            phase,
            format,
            layers: m.layers,
            experts: m.experts,
            c2lb_loads: m.clone(),
            summed: m,
            series: None,
            top_k: None,
            topk_traces: None,
            current: None,
            current_source: None,
            current_problems: Vec::new(),
            info: PhaseInfo::default(),
        }
    }
    /// Number of kept intervals (1 for summed input).
    pub fn intervals(&self) -> usize {
        self.series.as_ref().map_or(1, |s| s.intervals)
    }
}

/// What ingest recognised about one phase (shown before anything runs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseInfo {
    /// Kept rank files (after skipping dangling shared-expert ranks).
    pub ranks: usize,
    /// Ranks skipped as dangling shared-expert ranks.
    pub skipped_ranks: usize,
    /// Dumps (cumulative blocks) found.
    pub dumps: usize,
    pub intervals_kept: usize,
    pub intervals_dropped: usize,
    /// Files read for this phase (relative paths).
    pub files: Vec<String>,
    /// Backup files used instead of their broken main file.
    pub backups_used: Vec<String>,
}

/// The result of ingesting a dropped folder (or a CLI directory walk).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// One entry per phase found, prefill before decode.
    pub phases: Vec<PhaseData>,
    /// A deployment table dropped with (or without) the data: the placement
    /// the user says runs now (see `engine::before`). (file name, every
    /// device as written).
    pub dropped_table: Option<(String, Placement)>,
    /// Rule breaks of the dropped table's own bookkeeping
    /// (`validate::table_bookkeeping`).
    #[serde(default)]
    pub dropped_table_problems: Vec<String>,
    /// `eplb_expert_map_file` named by the config but not among the dropped
    /// files: the user should add it.
    pub missing_map: Option<String>,
    /// Files that were not recognised and were ignored.
    pub ignored: Vec<String>,
    /// Non-fatal remarks for the user (e.g. "rows cut to the shortest file").
    pub warnings: Vec<String>,
    /// Human-readable format label ("summed (format 1)", ...).
    pub format_label: String,
}

/// One input file: its path relative to the dropped folder (forward
/// slashes) and its bytes. The same list serves dropped files and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

impl InputFile {
    pub fn new(path: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Self {
        InputFile { path: path.into(), bytes: bytes.into() }
    }
    /// The last path component.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}
