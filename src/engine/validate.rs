//! The validity rules of a deployment table (docs/formats.md §3).
//!
//! Two levels:
//! - [`validate_table`] checks the raw JSON table as written to / read from
//!   disk ([`DeploymentTable`]), including its bookkeeping fields
//!   (`moe_layer_count`, `layer_id`, `device_count`, `device_id`) and the
//!   devices dedicated to the shared expert (`-nsed K`);
//! - [`validate_placement`] checks a [`Placement`] (routed devices only), the
//!   form the algorithms produce and the metrics score.
//!
//! Both return every violation found, as one line of text each, in layer
//! order then device order. An empty list means the table is valid. The
//! message shape follows the reference scores in tests/fixtures, e.g.
//! `layer 2 device 1: holds expert(s) [3] more than once`.
//!
//! What `-nsed K` means in a table (as msit writes it): every layer starts with
//! K devices whose `device_expert` is exactly `[0]` (the shared expert), with
//! `device_id` 0..K-1; the routed devices follow with `device_id` shifted by K
//! (K..K+D-1) and their routed expert ids unchanged; `device_count` counts all
//! K+D devices. The slot-count and coverage rules apply to the routed devices
//! only (a shared device has a single slot).

use crate::engine::sorted_map::SortedSet;

use super::model::Placement;
use super::table::DeploymentTable;

/// Render a list of ids the way Python prints a list: `[3, 5]`.
pub(crate) fn id_list<T: std::fmt::Display>(ids: &[T]) -> String {
    let parts: Vec<String> = ids.iter().map(|x| x.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Ids held more than once in `slots`, ascending, each listed once.
fn duplicates<T: Ord + Copy>(slots: &[T]) -> Vec<T> {
    let mut sorted: Vec<T> = slots.to_vec();
    super::order::sort_by(&mut sorted, |a, b| a.cmp(b));
    let mut out: Vec<T> = Vec::new();
    for w in sorted.windows(2) {
        if w[0] == w[1] && out.last() != Some(&w[0]) {
            out.push(w[0]);
        }
    }
    out
}

/// Upper bound (exclusive) of the allowed expert ids: `E`, or `E+1` when
/// the shared expert is mixed in as id `E`.
fn id_limit(experts: usize, mixed: bool) -> usize {
    experts + usize::from(mixed)
}

fn range_text(experts: usize, mixed: bool) -> String {
    let limit = id_limit(experts, mixed);
    if limit == 0 {
        "no expert ids are allowed (0 experts)".to_string()
    } else if mixed {
        format!("allowed ids are 0..{} (routed 0..{}, shared {})", limit - 1, experts.saturating_sub(1), experts)
    } else {
        format!("allowed ids are 0..{}", limit - 1)
    }
}

/// Check the routed part of one layer: every device has `slots` slots, ids
/// in range, no duplicates on a device, every expert placed at least once.
/// `label(d)` names routed device `d` in messages.
fn check_routed_layer(
    out: &mut Vec<String>,
    layer_label: &str,
    devices: &[Vec<i64>],
    device_label: &dyn Fn(usize) -> String,
    experts: usize,
    mixed: bool,
) {
    let limit = id_limit(experts, mixed);
    if devices.is_empty() {
        out.push(format!("{layer_label}: has no routed devices"));
        return;
    }
    let slots0 = devices[0].len();
    let mut seen = vec![false; limit];
    for (d, dev) in devices.iter().enumerate() {
        let dl = device_label(d);
        if dev.len() != slots0 {
            out.push(format!(
                "{layer_label} {dl}: has {} slot(s) but {} has {slots0} (every device of a layer must have the same number of slots)",
                dev.len(),
                device_label(0)
            ));
        }
        if dev.is_empty() {
            out.push(format!("{layer_label} {dl}: holds no expert"));
        }
        // Negative ids and ids beyond MAX_ID are the table's own bookkeeping
        // ([`table_bookkeeping`]): a placement read from a file carries them.
        let too_big: Vec<i64> =
            dev.iter().copied().filter(|&x| x >= 0 && x <= super::table::MAX_ID && (x as u64) >= limit as u64).collect();
        if !too_big.is_empty() {
            out.push(format!("{layer_label} {dl}: expert id(s) {} out of range ({})", id_list(&too_big), range_text(experts, mixed)));
        }
        for &x in dev {
            if x >= 0 && (x as u64) < limit as u64 {
                seen[x as usize] = true;
            }
        }
        let dups = duplicates(dev);
        if !dups.is_empty() {
            out.push(format!("{layer_label} {dl}: holds expert(s) {} more than once", id_list(&dups)));
        }
    }
    let missing: Vec<usize> = (0..limit).filter(|&e| !seen[e]).collect();
    if !missing.is_empty() {
        let what = if mixed && missing.last() == Some(&experts) { format!(" (id {experts} is the shared expert)") } else { String::new() };
        out.push(format!("{layer_label}: expert(s) {} not placed on any device{what} (every expert must appear at least once per layer)", id_list(&missing)));
    }
}

/// Validate a placement (routed devices only, as the algorithms produce it):
/// every layer has the same number of devices, every device of a layer the
/// same number of slots, every expert `0..E-1` (and the shared expert `E` when
/// `mixed`) appears at least once per layer, ids are in range and no device
/// holds an expert twice. Devices are numbered from 0 in messages.
pub fn validate_placement(placement: &Placement, experts: usize, mixed: bool) -> Vec<String> {
    validate_placement_offset(placement, experts, mixed, 0)
}

/// [`validate_placement`] numbering routed device `d` as `d + device_offset`
/// in messages (`-nsed K`: the table's routed devices start at K).
pub fn validate_placement_offset(placement: &Placement, experts: usize, mixed: bool, device_offset: usize) -> Vec<String> {
    let mut out = Vec::new();
    if placement.layers.is_empty() {
        out.push("the table has no layers".to_string());
        return out;
    }
    let d0 = placement.layers[0].len();
    let label = |d: usize| format!("device {}", d + device_offset);
    for (l, layer) in placement.layers.iter().enumerate() {
        if layer.len() != d0 {
            out.push(format!("layer {l}: has {} device(s) but layer 0 has {d0} (every layer needs the same devices)", layer.len()));
        }
        let devs: Vec<Vec<i64>> = layer.iter().map(|d| d.iter().map(|&x| i64::try_from(x).unwrap_or(i64::MAX)).collect()).collect();
        check_routed_layer(&mut out, &format!("layer {l}"), &devs, &label, experts, mixed);
    }
    out
}

/// The rules of a table's own bookkeeping, which need neither the data nor
/// the cluster: `moe_layer_count` equals the entries of `layer_list`,
/// `layer_id`s are distinct and non-negative, every layer's `device_count`
/// equals its `device_list`, `device_id`s are distinct and non-negative, every
/// layer has as many devices as the first, and no expert id is negative or
/// beyond [`super::table::MAX_ID`]. A table read from a file (a current
/// placement, a dropped table, `--current`) is checked with these when it is
/// read; [`validate_table`] checks them too.
pub fn table_bookkeeping(table: &DeploymentTable) -> Vec<String> {
    let mut out = Vec::new();
    if table.moe_layer_count < 0 {
        out.push(format!("moe_layer_count is {} (must be a non-negative integer)", table.moe_layer_count));
    } else if table.moe_layer_count as u64 != table.layer_list.len() as u64 {
        out.push(format!(
            "moe_layer_count is {} but layer_list has {} entries",
            table.moe_layer_count,
            table.layer_list.len()
        ));
    }
    if table.layer_list.is_empty() {
        out.push("the table has no layers (layer_list is empty)".to_string());
        return out;
    }
    let mut ids_seen: SortedSet<i64> = SortedSet::new();
    let first_count = table.layer_list[0].device_list.len();
    for (i, layer) in table.layer_list.iter().enumerate() {
        let ll = format!("layer {}", layer.layer_id);
        if layer.layer_id < 0 {
            out.push(format!("layer_list entry {i}: layer_id {} is negative (ids are non-negative integers)", layer.layer_id));
        } else if !ids_seen.insert(layer.layer_id) {
            out.push(format!("layer_list entry {i}: layer_id {} appears more than once (layer ids must be distinct)", layer.layer_id));
        }
        let n = layer.device_list.len();
        if layer.device_count < 0 || layer.device_count as u64 != n as u64 {
            out.push(format!("{ll}: device_count is {} but device_list has {n} device(s)", layer.device_count));
        }
        if n != first_count {
            out.push(format!("{ll}: has {n} device(s) but the first layer has {first_count} (every layer needs the same devices)"));
        }
        let mut dev_ids: SortedSet<i64> = SortedSet::new();
        for dev in &layer.device_list {
            if dev.device_id < 0 {
                out.push(format!("{ll}: device_id {} is negative (ids are non-negative integers)", dev.device_id));
            } else if !dev_ids.insert(dev.device_id) {
                out.push(format!("{ll}: device_id {} appears more than once", dev.device_id));
            }
            let negative: Vec<i64> = dev.device_expert.iter().copied().filter(|&x| x < 0).collect();
            if !negative.is_empty() {
                out.push(format!("{ll} device {}: negative expert id(s) {} (ids are non-negative integers)", dev.device_id, id_list(&negative)));
            }
            let huge: Vec<i64> = dev.device_expert.iter().copied().filter(|&x| x > super::table::MAX_ID).collect();
            if !huge.is_empty() {
                out.push(format!(
                    "{ll} device {}: expert id(s) {} are beyond any model (ids go up to {} at most)",
                    dev.device_id,
                    id_list(&huge),
                    super::table::MAX_ID
                ));
            }
        }
    }
    out
}

/// Validate a deployment table as read from JSON, with `shared_devices`
/// (`-nsed K`) leading devices dedicated to the shared expert and, when
/// `mixed`, the shared expert as id `E` among the routed devices.
///
/// Rules (formats.md §3): `layer_list` has `moe_layer_count` entries with
/// distinct, non-negative `layer_id`s; each layer has `device_count` devices
/// (the same count in every layer); the first K devices hold exactly `[0]`;
/// every routed device of a layer has the same number of slots; every expert
/// `0..E-1` appears at least once per layer; no device holds an expert twice;
/// ids are non-negative integers.
pub fn validate_table(table: &DeploymentTable, experts: usize, shared_devices: usize, mixed: bool) -> Vec<String> {
    let mut out = table_bookkeeping(table);
    if table.layer_list.is_empty() {
        return out;
    }
    for layer in &table.layer_list {
        let ll = format!("layer {}", layer.layer_id);
        let n = layer.device_list.len();
        let k = shared_devices.min(n);
        if shared_devices > n {
            out.push(format!("{ll}: has {n} device(s), fewer than the {shared_devices} shared-expert devices (-nsed)"));
        }
        for dev in &layer.device_list[..k] {
            if dev.device_expert != [0] {
                out.push(format!(
                    "{ll} device {}: a shared-expert device (the first {shared_devices}, -nsed) must hold exactly [0], holds {}",
                    dev.device_id,
                    id_list(&dev.device_expert)
                ));
            }
        }
        let routed: Vec<Vec<i64>> = layer.device_list[k..].iter().map(|d| d.device_expert.clone()).collect();
        let labels: Vec<i64> = layer.device_list[k..].iter().map(|d| d.device_id).collect();
        let label = |d: usize| format!("device {}", labels.get(d).copied().unwrap_or(d as i64));
        check_routed_layer(&mut out, &ll, &routed, &label, experts, mixed);
    }
    out
}

/// The placement of a table: layers ordered by `layer_id` (as the reference
/// tool reads a table), the first `shared_devices` devices of each layer left
/// out. Negative ids cannot be represented and are mapped to `usize::MAX`
/// (out of range for every check and ignored by the metrics); validate the
/// table first to report them.
pub fn placement_from_table(table: &DeploymentTable, shared_devices: usize) -> Placement {
    let mut layers: Vec<(i64, usize)> = table.layer_list.iter().enumerate().map(|(i, l)| (l.layer_id, i)).collect();
    super::order::sort_by(&mut layers, |a, b| a.cmp(b));
    Placement {
        layers: layers
            .into_iter()
            .map(|(_, i)| {
                let devs = &table.layer_list[i].device_list;
                let k = shared_devices.min(devs.len());
                devs[k..]
                    .iter()
                    .map(|d| d.device_expert.iter().map(|&x| usize::try_from(x).unwrap_or(usize::MAX)).collect())
                    .collect()
            })
            .collect(),
    }
}

/// Whether a placement holds the shared expert as id `experts` (the mixed
/// shared-expert variants).
pub fn is_mixed(placement: &Placement, experts: usize) -> bool {
    placement.layers.iter().any(|l| l.iter().any(|d| d.contains(&experts)))
}
