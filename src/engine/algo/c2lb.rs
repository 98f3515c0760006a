//! C2LB, msit's `-al 0`: replica counts by repeated halving, then greedy
//! least-loaded placement. A2 places the redundant copies first (one per
//! device), A3 places all instances together. Both reproduce msit exactly,
//! including the tables where an expert lands twice on one device (the
//! caller repairs those unless msit-compat is asked for).

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
    let mut list = h.list.clone();
    sort_desc(&mut list, ties);
    for (e, v) in list {
        let d = if balance { bins.min_accepting() } else { bins.first_accepting() }.ok_or_else(no_room)?;
        bins.put(d, ids[e], v);
    }
    Ok(bins.items)
}

/// C2LB A2 for one layer (msit `-al 0 -dt a2`): requires `r <= devices`.
pub fn a2_layer(w: &[f64], devices: usize, r: usize) -> Result<Vec<Vec<usize>>> {
    let ids: Vec<usize> = (0..w.len()).collect();
    a2_core(w, &ids, devices, r, Ties::LaterFirst, true)
}

/// C2LB A3 for one layer (msit `-al 0 -dt a3`, without the optional
/// D = R = 256 pairing strategy): all E+R instances (the halving list,
/// then each expert's extra replicas in id order) sorted "desc, ties
/// later-first", each on the accepting device with the smallest total.
pub fn a3_layer(w: &[f64], devices: usize, r: usize) -> Result<Vec<Vec<usize>>> {
    let h = halving(w, r, Ties::LaterFirst);
    let per = h.per_replica();
    let mut all = h.list.clone();
    for (e, &c) in h.counts.iter().enumerate() {
        for _ in 1..c {
            all.push((e, per[e]));
        }
    }
    sort_desc(&mut all, Ties::LaterFirst);
    let mut bins = Bins::new(w.len() + r, devices);
    for (e, v) in all {
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
