//! Dynamic C2LB, msit's `-al 2`: node-local redundancy. Node n owns the
//! experts `[n*E/N, (n+1)*E/N)` and the devices `[n*D/N, (n+1)*D/N)`; the A2
//! steps run inside each node with `R/N` redundant slots and the "ties kept"
//! rule everywhere. One difference from A2, established from msit's golden
//! tables: after the redundant copies, msit's dynamic C2LB does not look at
//! device loads — each expert (in the descending order) goes to the FIRST
//! device of the node that still has room, so devices fill up in order.
//! (msit's loop means to pick the least-loaded device, but it tests
//! `box_flag is True` where `box_flag` is numpy's comparison result, never
//! the Python `True`; only "no pick yet" passes, so the first device with
//! room wins.) The parameter rules (R mod D = 0, R <= D, D mod N = 0,
//! R mod N = 0, (E+R) mod N = 0) are checked by `algo::check`.
//!
//! Keys and tie rules (docs/parity.md): replica counts by halving with
//! msit's chained per-replica load, "desc, ties kept" (Python's stable
//! `sorted(key=-load)`, from the list's previous order; the first round in
//! expert id order); the placement order is the same key, "desc, ties
//! kept"; the device is the first of the node with room (no comparison).

use crate::engine::error::Param;
use super::c2lb::a2_core;
use super::replicas::Ties;
use crate::engine::error::{Error, Result};

/// One layer: `w` the loads of the E experts, `devices` D, `nodes` N,
/// `r` R redundant slots in total.
pub fn layer(w: &[f64], devices: usize, nodes: usize, r: usize) -> Result<Vec<Vec<usize>>> {
    let e_n = w.len();
    if nodes == 0 || devices == 0 || devices % nodes != 0 || e_n % nodes != 0 || r % nodes != 0 {
        return Err(Error::param(
            Param::Nodes,
            format!("dynamic C2LB needs NPUs ({devices}), experts ({e_n}) and redundant slots ({r}) to divide evenly over {nodes} nodes"),
        ));
    }
    let (epn, dpn, rpn) = (e_n / nodes, devices / nodes, r / nodes);
    let slots = (e_n + r) / devices;
    let mut out = Vec::with_capacity(devices);
    for n in 0..nodes {
        let ids: Vec<usize> = (n * epn..(n + 1) * epn).collect();
        let local = &w[n * epn..(n + 1) * epn];
        let table = a2_core(local, &ids, dpn, rpn, Ties::Kept, false)?;
        for (k, dev) in table.iter().enumerate() {
            let d = n * dpn + k;
            if dev.len() != slots {
                return Err(Error::msg(format!(
                    "dynamic C2LB: device {d} of node {n} ends with {} experts instead of {slots}",
                    dev.len()
                )));
            }
            if let Some(&x) = dev.iter().find(|&&x| !ids.contains(&x)) {
                return Err(Error::msg(format!("dynamic C2LB: device {d} of node {n} got expert {x} of another node")));
            }
        }
        out.extend(table);
    }
    Ok(out)
}
