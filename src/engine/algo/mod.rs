//! Placement algorithms: one file per family, one shared entry point.
//!
//! Every algorithm works layer by layer (layers are independent), so
//! [`solve`] takes a range of layers: the browser spreads ranges over web
//! workers, the CLI solves them all in one call (on all cores, [`par`](crate::engine::par):
//! each layer's table depends on nothing but the layer). Whatever global quantity an
//! algorithm needs (level 1's stage weights run over ALL layers) is computed
//! from the whole [`PhaseData`] inside each call, so any split gives the same
//! table.
//!
//! msit-compatible mode (`Settings::msit_compat`) returns the reference
//! tool's table exactly, even where it puts an expert twice on one device;
//! the default output repairs those layers ([`repair`]) and says so in
//! [`Solution::warnings`] / [`Solution::reference_invalid_layers`].

use crate::engine::error::Param;
use std::ops::Range;

use crate::engine::error::{Error, Result};
use crate::engine::model::{PhaseData, Placement};
use crate::engine::par;
use crate::engine::params::{Algorithm, DeviceType, Settings};

// The hot searches and the shared types live in the solver crate (built for
// speed in the page's worker); the rest of the algorithms here (built for size).
pub use elb_solver::algo::{catalogue, flashlb, fmath, holdout_fit, internode, level2, replicas, spec_moe1, Progress, Solution};

pub mod c2lb;
pub mod deepseek;
pub mod dynamic_c2lb;
pub mod repair;

const P_NPUS: Param = Param::Npus;
const P_NODES: Param = Param::Nodes;
const P_RED: Param = Param::Redundant;
const P_SHARED: Param = Param::SharedDevices;
const P_GROUPS: Param = Param::Groups;

/// Whether the mixed shared-expert variant really mixes (time-series input);
/// on summed input msit writes the plain table.
fn mixes(data: &PhaseData, settings: &Settings) -> bool {
    settings.algorithm.is_mixed() && data.series.is_some()
}

fn check_matrix(name: &str, layers: usize, experts: usize, len: usize, data: &PhaseData) -> Result<()> {
    if layers != data.layers || experts != data.experts || len != layers * experts {
        return Err(Error::internal(format!("{name} is {layers} x {experts} ({len} values) but the phase has {} layers x {} experts",
            data.layers, data.experts
        )));
    }
    Ok(())
}

/// Check the parameters against the data before solving: every combination
/// the reference rejects, and those it accepts that make no sense, give an
/// [`Error`] naming the parameter and the rule in words.
pub fn check(data: &PhaseData, settings: &Settings) -> Result<()> {
    check_cluster(&settings.cluster)?;
    check_data(data)?;
    let slots = check_slots(data, settings)?;
    check_algorithm(data, settings, slots)
}

/// The cluster alone: limits, NPUs and nodes, shared-expert NPUs.
fn check_cluster(c: &crate::engine::Cluster) -> Result<()> {
    c.check_limits()?;
    if c.devices == 0 {
        return Err(Error::param(P_NPUS, "must be at least 1"));
    }
    if c.nodes == 0 {
        return Err(Error::param(P_NODES, "must be at least 1"));
    }
    if c.nodes > c.devices {
        return Err(Error::param(P_NODES, format!("{} nodes for {} NPUs: every node needs at least one NPU", c.nodes, c.devices)));
    }
    if c.devices % c.nodes != 0 {
        return Err(Error::param(
            P_NODES,
            format!("nodes must divide the NPUs evenly: {} NPUs cannot be split over {} nodes", c.devices, c.nodes),
        ));
    }
    if c.shared_devices >= c.devices {
        return Err(Error::param(
            P_SHARED,
            format!("{} of {} NPUs dedicated to the shared expert leaves none for the routed experts", c.shared_devices, c.devices),
        ));
    }
    Ok(())
}

/// The phase's own shape: something to place, matrices of its shape.
fn check_data(data: &PhaseData) -> Result<()> {
    if data.layers == 0 || data.experts == 0 {
        return Err(Error::msg(format!("the input has {} layers and {} experts: nothing to place", data.layers, data.experts)));
    }
    check_matrix("the summed load matrix", data.summed.layers, data.summed.experts, data.summed.data.len(), data)?;
    check_matrix("the C2LB load matrix", data.c2lb_loads.layers, data.c2lb_loads.experts, data.c2lb_loads.data.len(), data)?;
    if let Some(s) = &data.series {
        if s.layers != data.layers || s.experts != data.experts || s.data.len() != s.layers * s.experts * s.intervals {
            return Err(Error::internal("the time series does not match the phase's layers x experts"));
        }
        if s.intervals == 0 {
            return Err(Error::msg("the time series has no kept interval"));
        }
    }
    Ok(())
}

/// Experts, redundant and shared slots over the routed NPUs: the slots per
/// NPU, when they divide evenly and no NPU must hold an expert twice.
fn check_slots(data: &PhaseData, settings: &Settings) -> Result<usize> {
    let c = &settings.cluster;
    let alg = settings.algorithm;
    let d = c.routed_devices();
    let e = data.experts;
    let r = c.redundant;
    if alg.is_mixed() && c.shared_devices != 0 {
        return Err(Error::param(
            P_SHARED,
            format!(
                "{} places the shared expert among the routed experts on every NPU: it needs -nsed 0, got {}",
                alg.label(),
                c.shared_devices
            ),
        ));
    }
    let mixed = mixes(data, settings);
    if mixed && data.top_k.is_none_or(|k| k == 0) {
        return Err(Error::msg(format!(
            "{} needs top-k (num_of_selected_experts in model_gen_config.json) to model the shared expert's load as layer total / top-k",
            alg.label()
        )));
    }
    let shared = if mixed { d } else { 0 };
    let total = e + r + shared;
    if total < d {
        return Err(Error::param(
            P_NPUS,
            format!("more NPUs than slots: {e} experts + {r} redundant + {shared} shared = {total} slots cannot give each of the {d} routed NPUs one"),
        ));
    }
    if total % d != 0 {
        // With shared-expert NPUs the divisor is the routed NPUs: say so.
        let routed = match c.shared_devices {
            0 => String::new(),
            k => format!(" routed NPUs ({} NPUs less {k} shared-expert NPU{})", c.devices, if k == 1 { "" } else { "s" }),
        };
        return Err(Error::param(
            P_RED,
            format!("(experts + redundant + shared) must be a multiple of NPUs: {e} + {r} + {shared} = {total} is not a multiple of {d}{routed}"),
        ));
    }
    let slots = total / d;
    let ids = e + usize::from(mixed);
    if slots > ids {
        return Err(Error::param(
            P_RED,
            format!(
                "{r} redundant slots give {slots} slots per NPU but there are only {ids} experts: some NPU would hold an expert twice (at most {} redundant slots on {d} NPUs)",
                ids * d - e - shared
            ),
        ));
    }
    Ok(slots)
}

/// The rules of the chosen algorithm (C2LB on A2/A3, dynamic C2LB, DeepSeek hierarchical).
fn check_algorithm(data: &PhaseData, settings: &Settings, slots: usize) -> Result<()> {
    let c = &settings.cluster;
    let (d, e, r) = (c.routed_devices(), data.experts, c.redundant);
    let alg = settings.algorithm;
    match alg {
        Algorithm::C2lb => match c.device_type {
            DeviceType::A2 => {
                if r > d {
                    return Err(Error::param(
                        P_RED,
                        format!("C2LB on A2 puts at most one redundant copy on each NPU: redundant ({r}) must be <= NPUs ({d})"),
                    ));
                }
            }
            DeviceType::A3 => {
                if c.shared_devices != 0 {
                    return Err(Error::param(P_SHARED, "C2LB on A3 does not support shared-expert NPUs (msit rejects -nsed with -dt a3): use -nsed 0"));
                }
            }
        },
        Algorithm::DynamicC2lb => {
            let n = c.nodes;
            if r > d {
                return Err(Error::param(P_RED, format!("dynamic C2LB needs redundant <= NPUs: {r} > {d}")));
            }
            if r % d != 0 {
                return Err(Error::param(
                    P_RED,
                    format!("dynamic C2LB needs redundant to be a multiple of NPUs (so 0 or {d}): {r} mod {d} = {}", r % d),
                ));
            }
            if d % n != 0 {
                return Err(Error::param(P_NODES, format!("dynamic C2LB needs NPUs to be a multiple of nodes: {d} mod {n} = {}", d % n)));
            }
            if r % n != 0 {
                return Err(Error::param(P_RED, format!("dynamic C2LB needs redundant to be a multiple of nodes: {r} mod {n} = {}", r % n)));
            }
            if (e + r) % n != 0 {
                return Err(Error::param(
                    P_NODES,
                    format!("dynamic C2LB needs (experts + redundant) to be a multiple of nodes: {e} + {r} = {} is not a multiple of {n}", e + r),
                ));
            }
            if slots > e / n {
                return Err(Error::param(
                    P_RED,
                    format!("dynamic C2LB keeps copies inside a node: {slots} slots per NPU but only {} experts per node, so some NPU would hold an expert twice", e / n),
                ));
            }
        }
        Algorithm::DeepseekHierarchical => {
            let n = c.nodes;
            let Some(g) = settings.groups else {
                return Err(Error::param(P_GROUPS, "DeepSeek EPLB hierarchical needs the number of expert groups (DeepSeek-V3: 8); without groups use DeepSeek EPLB global"));
            };
            if g == 0 {
                return Err(Error::param(P_GROUPS, "must be at least 1"));
            }
            if e % g != 0 {
                return Err(Error::param(P_GROUPS, format!("experts must split evenly into groups: {e} mod {g} = {}", e % g)));
            }
            if g % n != 0 {
                return Err(Error::param(
                    P_GROUPS,
                    format!("hierarchical EPLB packs whole groups onto nodes: groups ({g}) must be a multiple of nodes ({n}); use DeepSeek EPLB global"),
                ));
            }
            if d % n != 0 {
                return Err(Error::param(P_NODES, format!("routed NPUs ({d}) must be a multiple of nodes ({n})")));
            }
            if slots > e / n {
                return Err(Error::param(
                    P_RED,
                    format!("hierarchical EPLB keeps copies inside a node: {slots} slots per NPU but only {} experts per node, so some NPU would hold an expert twice", e / n),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

enum Kind {
    A2,
    A3,
    Dynamic,
    Level1(spec_moe1::Level1, usize),
    DeepSeek { groups: usize, nodes: usize },
}

/// Solve the layers `layers` of `data`.
pub fn solve(data: &PhaseData, settings: &Settings, layers: Range<usize>, progress: Progress<'_>) -> Result<Solution> {
    check(data, settings)?;
    if layers.start > layers.end || layers.end > data.layers {
        return Err(Error::param(
            "layers",
            format!("range {}..{} is outside the input's {} layers", layers.start, layers.end, data.layers),
        ));
    }
    if matches!(settings.algorithm, Algorithm::SpecMoe2 | Algorithm::SpecMoe2Mixed) {
        return level2::solve_layers(data, settings, layers, progress);
    }
    if settings.algorithm == Algorithm::FlashLb {
        return flashlb::solve_layers(data, settings, layers, progress);
    }
    let c = &settings.cluster;
    let d = c.routed_devices();
    let r = c.redundant;
    let mut sol = Solution { layers: Vec::with_capacity(layers.len()), warnings: Vec::new(), reference_invalid_layers: Vec::new() };
    let data = holdout_fit(data, settings, &mut sol.warnings);
    let data = data.as_ref();
    let kind = match settings.algorithm {
        Algorithm::C2lb => match c.device_type {
            DeviceType::A2 => Kind::A2,
            DeviceType::A3 => Kind::A3,
        },
        Algorithm::DynamicC2lb => Kind::Dynamic,
        Algorithm::SpecMoe1 | Algorithm::SpecMoe1Mixed => {
            if mixes(data, settings) {
                let top_k = data.top_k.unwrap_or(0);
                let l1 = spec_moe1::Level1::new(data, Some(spec_moe1::Mixed { top_k }))?;
                Kind::Level1(l1, r + d - 1)
            } else {
                if settings.algorithm.is_mixed() {
                    sol.warnings.push(
                        "mixing the shared expert needs time-series input: on summed input this is the plain level-1 table (as msit writes it)"
                            .to_string(),
                    );
                }
                Kind::Level1(spec_moe1::Level1::new(data, None)?, r)
            }
        }
        Algorithm::DeepseekHierarchical => Kind::DeepSeek { groups: settings.groups.unwrap_or(1), nodes: c.nodes },
        Algorithm::DeepseekGlobal => Kind::DeepSeek { groups: 1, nodes: 1 },
        Algorithm::SpecMoe2 | Algorithm::SpecMoe2Mixed | Algorithm::FlashLb => unreachable_level2()?,
    };
    let reference = settings.algorithm.entry().reference;
    let node_groups: Vec<Range<usize>> = {
        let n = match kind {
            Kind::Dynamic => c.nodes,
            Kind::DeepSeek { nodes, .. } => nodes,
            _ => 1,
        }
        .max(1);
        let per = d / n;
        (0..n).map(|k| k * per..(k + 1) * per).collect()
    };
    // Said once per phase: by the range that starts the layers (the page
    // splits the layers over workers).
    if matches!(kind, Kind::A3) && d == 256 && r == 256 && layers.start == 0 {
        sol.warnings.push(
            "C2LB A3 with 256 NPUs and 256 redundant experts: msit switches to a pairing strategy here, which is not reproduced; this is the plain A3 C2LB table, not msit's (docs/parity.md)"
                .to_string(),
        );
    }
    // One layer: its table, the remark about it and whether the reference's
    // table of it is invalid. Layers are independent: on all cores natively.
    let one = |l: usize| -> Result<(Vec<Vec<usize>>, Option<String>, bool)> {
        let mut table = match &kind {
            Kind::A2 => c2lb::a2_layer(data.c2lb_loads.layer(l), d, r)?,
            Kind::A3 => c2lb::a3_layer(data.c2lb_loads.layer(l), d, r)?,
            Kind::Dynamic => dynamic_c2lb::layer(data.c2lb_loads.layer(l), d, c.nodes, r)?,
            Kind::Level1(l1, rr) => l1.layer(data, l, d, *rr)?,
            Kind::DeepSeek { groups, nodes } => {
                let phys = deepseek::layer_hierarchical(data.summed.layer(l), data.experts + r, *groups, *nodes, d);
                deepseek::to_devices(&phys, d)
            }
        };
        let dups = repair::duplicates(&table);
        if dups.is_empty() {
            return Ok((table, None, false));
        }
        let what: Vec<String> = dups.iter().take(4).map(|(dev, e)| format!("expert {e} twice on device {dev}")).collect();
        let more = if dups.len() > 4 { format!(" and {} more", dups.len() - 4) } else { String::new() };
        let warning = if settings.msit_compat {
            format!("layer {l}: {reference} puts {}{more}: this reference-identical table is invalid", what.join(", "))
        } else {
            let mut loads = data.summed.layer(l).to_vec();
            if mixes(data, settings) {
                let k = data.top_k.unwrap_or(1).max(1) as f64;
                loads.push(loads.iter().sum::<f64>() / k);
            }
            let loads = &loads[..];
            let before = repair::max_load(&table, loads);
            if repair::repair_layer(&mut table, loads, &node_groups) {
                let after = repair::max_load(&table, loads);
                if after <= before {
                    format!("layer {l}: {reference} would put {}{more}; repaired (no duplicate, busiest device no heavier)", what.join(", "))
                } else {
                    format!(
                        "layer {l}: {reference} would put {}{more}; repaired, but the busiest device is {:.2}% heavier than in the invalid reference table (its duplicate leaves a slot effectively empty)",
                        what.join(", "),
                        (after / before - 1.0) * 100.0
                    )
                }
            } else {
                format!("layer {l}: {reference} puts {}{more} and no swap can remove it: the table keeps a duplicate", what.join(", "))
            }
        };
        Ok((table, Some(warning), true))
    };
    for (i, (table, warning, invalid)) in par::map_layers(layers.clone(), progress, one)?.into_iter().enumerate() {
        if invalid {
            sol.reference_invalid_layers.push(layers.start + i);
        }
        sol.warnings.extend(warning);
        sol.layers.push(table);
    }
    Ok(sol)
}

fn unreachable_level2() -> Result<Kind> {
    Err(Error::internal("level 2 and FlashLB are dispatched before this point"))
}

/// Solve every layer (natively on all cores of the current rayon pool, see
/// [`par`]; the table is the same for any thread count).
pub fn solve_all(data: &PhaseData, settings: &Settings, progress: Progress<'_>) -> Result<(Placement, Solution)> {
    let sol = solve(data, settings, 0..data.layers, progress)?;
    Ok((Placement { layers: sol.layers.clone() }, sol))
}
