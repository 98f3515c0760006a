//! What runs now, and so what "before" is: ONE rule, used by the CLI, the
//! page's results, the held-out check, slots moved and the migration-aware
//! refinement (docs/metrics.md, "Before").
//!
//! The current placement of a phase is, in this order:
//! 1. the placement the user gave: `elb --current <file>`, or a deployment
//!    table dropped with the data (page and `-icp` folder);
//! 2. the placement the dump names (`eplb_expert_map_file` of a time-series
//!    dump);
//! 3. none: "before" is then the default layout (experts in id order over the
//!    routed NPUs, no copies).
//!
//! A current placement is never used unchecked: [`current`] validates it like
//! a table that is written (every rule of [`super::validate`]: the file's own
//! bookkeeping, ids in range, no expert twice on a device, every expert
//! placed, equal slots), against the data (layers, experts) and against the
//! cluster (routed NPUs, the `-nsed` shared-expert devices of a msit table).
//! A broken one is an [`Error`] naming the file and the rule.

use super::ecosystem::{physical_map, trtllm_config};
use super::error::{Error, Param, Result};
use super::model::{Dataset, PhaseData, Placement};
use super::params::Cluster;
use super::table::parse_table;
use super::validate;

/// The file formats a placement is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PlacementFormat {
    /// msit / MindIE deployment table JSON: the `-nsed` shared-expert devices
    /// come first in every layer.
    Msit,
    /// SGLang / vLLM / DeepSeek EPLB `physical_to_logical_map`: routed slots only.
    PhysicalMap,
    /// TensorRT-LLM load-balancer YAML: routed slots only.
    TrtllmYaml,
}

/// A placement the user gave, as read from its file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Given {
    /// The file's name (as dropped or as given on the command line).
    pub name: String,
    pub format: PlacementFormat,
    /// Every device as written (a msit table's shared-expert devices included).
    pub placement: Placement,
    /// Rule breaks of the file's own bookkeeping ([`validate::table_bookkeeping`]).
    pub problems: Vec<String>,
}

/// Read a placement file in any format it can be in: a msit / MindIE
/// deployment table JSON, a physical-to-logical map JSON (SGLang, vLLM,
/// DeepSeek EPLB) or a TensorRT-LLM load-balancer YAML. `routed_devices`
/// splits the flat slot lists of the last two into devices; `data_layers`
/// keeps the last rows of an SGLang map, which has one row per decoder layer.
pub fn read_placement(name: &str, bytes: &[u8], routed_devices: usize, data_layers: usize) -> Result<Given> {
    let lower = name.to_ascii_lowercase();
    let routed = routed_devices.max(1);
    let text = || std::str::from_utf8(bytes).map_err(|e| Error::file(name, format!("not UTF-8 text: {e}")));
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        let (placement, _) = trtllm_config::import(name, text()?, routed)?;
        return Ok(Given { name: name.to_string(), format: PlacementFormat::TrtllmYaml, placement, problems: Vec::new() });
    }
    let t = text()?;
    if t.contains("physical_to_logical_map") || t.trim_start().starts_with("[[") {
        let mut placement = physical_map::import(name, t, routed, 0)?;
        let n = placement.layers.len();
        if n > data_layers && data_layers > 0 {
            placement.layers.drain(..n - data_layers);
        }
        return Ok(Given { name: name.to_string(), format: PlacementFormat::PhysicalMap, placement, problems: Vec::new() });
    }
    let table = parse_table(name, bytes)?;
    let problems = validate::table_bookkeeping(&table);
    Ok(Given { name: name.to_string(), format: PlacementFormat::Msit, placement: table.to_placement(0), problems })
}

/// The current placement of a phase, checked, and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    /// Routed devices only.
    pub placement: Placement,
    /// The file it was read from.
    pub source: String,
}

/// The "before" placement of a phase and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Before {
    /// Routed devices only.
    pub placement: Placement,
    /// For the user: "the current placement (running.json)", "the default
    /// layout (experts in order over 64 NPUs, no copies)".
    pub label: String,
    /// Whether it is a current placement (not the default layout).
    pub is_current: bool,
}

/// The placement the user gave: `given` (the CLI's `--current`), else the
/// table dropped with the data.
fn given_of(ds: &Dataset, given: Option<&Given>) -> Option<Given> {
    if let Some(g) = given {
        return Some(g.clone());
    }
    ds.dropped_table.as_ref().map(|(name, p)| Given {
        name: name.clone(),
        format: PlacementFormat::Msit,
        placement: p.clone(),
        problems: ds.dropped_table_problems.clone(),
    })
}

/// The routed part of a given placement: a msit table's first `-nsed K`
/// devices must each hold exactly the shared expert `[0]` and are left out.
fn routed_part(g: &Given, cluster: &Cluster) -> Result<Placement> {
    let k = cluster.shared_devices;
    if g.format != PlacementFormat::Msit || k == 0 {
        return Ok(g.placement.clone());
    }
    let mut layers = Vec::with_capacity(g.placement.layers.len());
    for (l, layer) in g.placement.layers.iter().enumerate() {
        if layer.len() <= k || layer[..k].iter().any(|d| d.as_slice() != [0]) {
            return Err(Error::file(
                g.name.clone(),
                format!(
                    "layer {l}: the first {k} devices must each hold exactly [0], the shared expert (-nsed {k} shared-expert NPUs come first in a msit table)"
                ),
            ));
        }
        layers.push(layer[k..].to_vec());
    }
    Ok(Placement { layers })
}

/// "The current placement is invalid", with the first rule it breaks and
/// how many more.
fn invalid(name: &str, broken: &[String]) -> Error {
    let first = broken.first().map_or("", String::as_str);
    let more = if broken.len() > 1 { format!(" (and {} more problem(s))", broken.len() - 1) } else { String::new() };
    Error::file(name, format!("the current placement is invalid: {first}{more}"))
}

/// The rules of a current placement that need no cluster: the file's own
/// bookkeeping and the data's layer count.
fn check_file_and_layers(name: &str, placement: &Placement, problems: &[String], data: &PhaseData) -> Result<()> {
    if !problems.is_empty() {
        return Err(invalid(name, problems));
    }
    if placement.num_layers() != data.layers {
        return Err(Error::file(
            name,
            format!(
                "the current placement has {} layer(s) but the {} data has {} MoE layers: it is not this model's placement",
                placement.num_layers(),
                data.phase.name(),
                data.layers
            ),
        ));
    }
    Ok(())
}

/// Check a current placement (routed devices) against every rule of a table,
/// the data and the cluster.
pub fn check_current(name: &str, placement: &Placement, problems: &[String], data: &PhaseData, cluster: &Cluster) -> Result<()> {
    check_file_and_layers(name, placement, problems, data)?;
    let d = cluster.routed_devices();
    if placement.num_devices() != d {
        return Err(Error::file(
            name,
            format!(
                "the current placement has {} routed NPUs but the cluster has {d} ({} NPUs (-nn) less {} shared-expert NPUs (-nsed)): set the cluster the placement runs on",
                placement.num_devices(),
                cluster.devices,
                cluster.shared_devices
            ),
        ));
    }
    let mixed = validate::is_mixed(placement, data.experts);
    let v = validate::validate_placement(placement, data.experts, mixed);
    if !v.is_empty() {
        return Err(invalid(name, &v));
    }
    Ok(())
}

/// The current placement of `data`, checked ([`check_current`]), or `None`
/// when neither the user nor the dump names one.
pub fn current(ds: &Dataset, data: &PhaseData, cluster: &Cluster, given: Option<&Given>) -> Result<Option<Current>> {
    if let Some(g) = given_of(ds, given) {
        let placement = routed_part(&g, cluster)?;
        check_current(&g.name, &placement, &g.problems, data, cluster)?;
        return Ok(Some(Current { placement, source: g.name }));
    }
    if let Some(p) = &data.current {
        let source = data.current_source.clone().unwrap_or_else(|| "the dump's current placement".to_string());
        check_current(&source, p, &data.current_problems, data, cluster)?;
        return Ok(Some(Current { placement: p.clone(), source }));
    }
    Ok(None)
}

/// The default layout needs a cluster that fits the data: at least one
/// routed NPU and no more routed NPUs than experts.
pub fn check_default_layout(data: &PhaseData, cluster: &Cluster) -> Result<()> {
    if cluster.devices == 0 {
        return Err(Error::param(Param::Npus, "must be at least 1"));
    }
    if cluster.shared_devices >= cluster.devices {
        return Err(Error::param(
            Param::SharedDevices,
            format!("{} of {} NPUs dedicated to the shared expert leaves none for the routed experts", cluster.shared_devices, cluster.devices),
        ));
    }
    let d = cluster.routed_devices();
    if d > data.experts {
        return Err(Error::param(
            Param::Npus,
            format!(
                "the default layout spreads the {} experts of the {} data over the routed NPUs: {d} routed NPUs would leave NPUs empty; give the cluster's NPUs (-nn) and shared-expert NPUs (-nsed)",
                data.experts,
                data.phase.name()
            ),
        ));
    }
    Ok(())
}

/// The default layout of `data` on the cluster's routed NPUs (at least
/// one; with more NPUs than experts the last NPUs stay empty: see
/// [`check_default_layout`] where that must be refused).
pub fn default_layout(data: &PhaseData, cluster: &Cluster) -> Before {
    let d = cluster.routed_devices().max(1);
    // Say so when the cluster is not the one the dump was collected from.
    let ranks = match dump_devices(data) {
        Some(r) if r != d => format!("; the dump was collected from {r} ranks"),
        _ => String::new(),
    };
    Before {
        placement: Placement::default_layout(data.layers, data.experts, d),
        label: format!("the default layout (experts in id order over {d} NPUs, no copies{ranks})"),
        is_current: false,
    }
}

/// "Before" of a phase: its current placement ([`current`]), else the
/// default layout. A broken current placement is an error, never replaced.
pub fn before(ds: &Dataset, data: &PhaseData, cluster: &Cluster, given: Option<&Given>) -> Result<Before> {
    Ok(of_current(current(ds, data, cluster, given)?.as_ref(), data, cluster))
}

/// "Before" once the current placement is known ([`current`]): it, else the default layout.
pub fn of_current(current: Option<&Current>, data: &PhaseData, cluster: &Cluster) -> Before {
    match current {
        Some(c) => Before { label: format!("the current placement ({})", c.source), placement: c.placement.clone(), is_current: true },
        None => default_layout(data, cluster),
    }
}

/// The routed NPUs of a dump: the ranks it was collected from, for the
/// default layout when the user gave no cluster (`elb score` without `-nn`).
pub fn dump_devices(data: &PhaseData) -> Option<usize> {
    (data.info.ranks > 0).then_some(data.info.ranks)
}

/// What can be said of a deployment table read alone (no loads): its shape
/// and every rule it breaks. The expert count is inferred: the largest id
/// plus one, but never more than the slots of a layer (a table with fewer
/// slots than that cannot place every expert, and an id beyond them is
/// out of range).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableAlone {
    pub layers: usize,
    pub experts: usize,
    /// Routed NPUs (the `-nsed` shared-expert devices left out).
    pub devices: usize,
    pub slots_per_device: usize,
    pub violations: Vec<String>,
}

/// Check a table read alone ([`TableAlone`]) with the cluster's `-nsed`.
pub fn check_alone(g: &Given, cluster: &Cluster) -> TableAlone {
    let mut violations = g.problems.clone();
    let routed = match routed_part(g, cluster) {
        Ok(p) => p,
        Err(e) => {
            violations.push(e.message);
            g.placement.clone()
        }
    };
    let max_slots = routed.layers.iter().map(|l| l.iter().map(Vec::len).sum::<usize>()).max().unwrap_or(0);
    let max_id = routed.layers.iter().flatten().flatten().copied().filter(|&x| x as u64 <= super::table::MAX_ID as u64).max();
    let experts = max_id.map_or(0, |m| (m + 1).min(max_slots));
    for v in validate::validate_placement(&routed, experts, false) {
        if !violations.contains(&v) {
            violations.push(v);
        }
    }
    TableAlone {
        layers: routed.num_layers(),
        experts,
        devices: routed.num_devices(),
        slots_per_device: routed.slots_per_device(),
        violations,
    }
}

/// `table` scored on `data` (`elb score --table`): the balance figures and
/// every rule the table breaks, the table's own (validate.md) first.
pub fn score_table(data: &PhaseData, table: &super::table::DeploymentTable, cluster: &Cluster) -> super::metrics::Score {
    let placement = validate::placement_from_table(table, cluster.shared_devices);
    let mixed = validate::is_mixed(&placement, data.experts);
    let mut s = super::metrics::score(data, &placement, cluster);
    let mut violations = validate::validate_table(table, data.experts, cluster.shared_devices, mixed);
    for v in std::mem::take(&mut s.violations) {
        if !violations.contains(&v) {
            violations.push(v);
        }
    }
    s.valid = violations.is_empty();
    s.violations = violations;
    s
}

/// The dropped table of a dataset as a [`Given`] placement.
pub fn dropped(ds: &Dataset) -> Option<Given> {
    given_of(ds, None)
}

/// The rules a current placement can be checked against before the cluster
/// is known (the page's summary, right after a drop): the file's own
/// bookkeeping, the data's layers and experts. The cluster's rules come with
/// [`current`].
pub fn check_without_cluster(ds: &Dataset, data: &PhaseData) -> Result<()> {
    if let Some(g) = given_of(ds, None) {
        return check_file_and_layers(&g.name, &g.placement, &g.problems, data);
    }
    if let Some(p) = &data.current {
        let source = data.current_source.clone().unwrap_or_else(|| "the dump's current placement".to_string());
        let own = Cluster { devices: p.num_devices(), shared_devices: 0, ..Cluster::default() };
        check_current(&source, p, &data.current_problems, data, &own)?;
    }
    Ok(())
}
