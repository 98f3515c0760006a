//! C2LB, msit's `-al 0`: replica counts by repeated halving, then greedy
//! least-loaded placement. A2 places the redundant copies first (one per
//! device), A3 places all instances together. Both reproduce msit exactly,
//! including the tables where an expert lands twice on one device (the
//! caller repairs those unless msit-compat is asked for).
//!
//! Keys and tie rules (docs/parity.md), all msit's float64 values:
//! - replica counts: [`halving`], per-replica load `(old * old_count) /
//!   new_count`, "desc, ties later-first";
//! - A2 step 4 / A3 instance order: the per-replica load, "desc, ties
//!   later-first" (`np.argsort(kind='stable')[::-1]`), from the halving
//!   list's last order ([`placement_order`], [`a3_instance_order`]);
//! - device choice: smallest total among the devices with room, lowest id
//!   among equals ([`Bins::min_accepting`]).
//!
//! Not reproduced: msit's A3 path for exactly `-nn 256 -nre 256` (see
//! [`a3_layer`]).

use crate::engine::error::Param;
use super::replicas::{halving, sort_desc, Bins, Ties};
use crate::engine::error::{Error, Result};

fn no_room() -> Error {
    Error::internal("no device has a free slot left (the slot count does not match the experts)")
}

/// The A2 steps on local experts `0..w.len()` (their global ids are
/// `ids[local]`) over `devices` devices with `r` redundant slots, using
/// tie rule `ties` for both sorts. Returns device lists of global ids.
/// With `balance` each expert of step 4 goes to the accepting device with the
/// smallest total; without it to the first accepting device (what msit's
/// dynamic C2LB does: its goldens fill the devices in order).
pub fn a2_core(w: &[f64], ids: &[usize], devices: usize, r: usize, ties: Ties, balance: bool) -> Result<Vec<Vec<usize>>> {
    let h = halving(w, r, ties);
    let per = h.per_replica();
    let mut bins = Bins::new(w.len() + r, devices);
    // Redundant copies first, experts in id order, device 0, 1, 2, ...
    let mut d = 0usize;
    for (e, &c) in h.counts.iter().enumerate() {
        for _ in 1..c {
            if d >= bins.items.len() {
                return Err(Error::param(
                    Param::Redundant,
                    format!("C2LB places at most one redundant copy per NPU: {r} redundant slots on {devices} NPUs"),
                ));
            }
            bins.put(d, ids[e], per[e]);
            d += 1;
        }
    }
    // Then every logical expert once, in the list order re-sorted.
    for (e, v) in placement_order(&h, ties) {
        let d = if balance { bins.min_accepting() } else { bins.first_accepting() }.ok_or_else(no_room)?;
        bins.put(d, ids[e], v);
    }
    Ok(bins.items)
}

/// The order in which A2's step 4 (and dynamic C2LB) places the logical
/// experts: the halving list as it was last sorted, re-sorted descending by
/// per-replica load with tie rule `ties`. `(local id, per-replica load)`.
pub fn placement_order(h: &super::replicas::Halving, ties: Ties) -> Vec<(usize, f64)> {
    let mut list = h.list.clone();
    sort_desc(&mut list, ties);
    list
}

/// The order in which A3 places all E+R instances: the halving list (its
/// last order), then each expert's extra replicas in id order at its final
/// per-replica load, sorted "desc, ties later-first".
pub fn a3_instance_order(h: &super::replicas::Halving) -> Vec<(usize, f64)> {
    let per = h.per_replica();
    let mut all = h.list.clone();
    for (e, &c) in h.counts.iter().enumerate() {
        for _ in 1..c {
            all.push((e, per[e]));
        }
    }
    sort_desc(&mut all, Ties::LaterFirst);
    all
}

/// C2LB A2 for one layer (msit `-al 0 -dt a2`): requires `r <= devices`.
pub fn a2_layer(w: &[f64], devices: usize, r: usize) -> Result<Vec<Vec<usize>>> {
    let ids: Vec<usize> = (0..w.len()).collect();
    a2_core(w, &ids, devices, r, Ties::LaterFirst, true)
}

/// C2LB A3 for one layer (msit `-al 0 -dt a3`): all E+R instances
/// ([`a3_instance_order`]), each on the accepting device with the smallest
/// total.
///
/// The one case where this differs from msit: with exactly 256 NPUs and 256
/// redundant slots msit's A3 switches to another strategy (pairs each
/// replicated expert with the lightest experts while the pair stays within
/// 5% of the mean device load, packs the rest, then one swap between the
/// busiest device and another, chosen through an unstable numpy sort).
/// That path is not reproduced: its ties depend on numpy's unstable
/// `argsort`, and no reference table exists to check it against. For
/// `-nn 256 -nre 256 -dt a3` this function returns the plain A3 table.
pub fn a3_layer(w: &[f64], devices: usize, r: usize) -> Result<Vec<Vec<usize>>> {
    let h = halving(w, r, Ties::LaterFirst);
    let mut bins = Bins::new(w.len() + r, devices);
    for (e, v) in a3_instance_order(&h) {
        let d = bins.min_accepting().ok_or_else(no_room)?;
        bins.put(d, e, v);
    }
    Ok(bins.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a2_puts_redundant_first_and_fills_evenly() {
        let w = [10.0, 1.0, 1.0, 1.0];
        let t = a2_layer(&w, 2, 2).unwrap();
        // Expert 0 gets both extra replicas (10 -> 5 -> 3.33), placed on devices 0 and 1 first.
        assert_eq!(t[0][0], 0);
        assert_eq!(t[1][0], 0);
        assert!(t.iter().all(|d| d.len() == 3));
    }

    #[test]
    fn a3_places_every_instance() {
        let w = [8.0, 4.0, 2.0, 2.0];
        let t = a3_layer(&w, 2, 2).unwrap();
        let mut all: Vec<usize> = t.iter().flatten().copied().collect();
        all.sort();
        // 8 -> 4 + 4; then 4 (expert 0) ties 4 (expert 1): the later one wins.
        assert_eq!(all, vec![0, 0, 1, 1, 2, 3]);
    }
}
