//! TensorRT-LLM's MoE load-balancer YAML (`MoeLoadBalancerConfig`, given to
//! the LLM API as `moe_load_balancer: <file>` or `moe_config.load_balancer`):
//!
//! ```yaml
//! num_slots: 288
//! initial_global_assignments:
//!   3: [138, 81, 60, ..., 69]
//!   4: [24, 243, 72, ..., 52]
//! layer_updates_per_iter: 0
//! ```
//!
//! * `num_slots`: TOTAL expert slots over all EP ranks (`D * S`); TRT-LLM
//!   requires `num_slots >= num_experts` and `num_slots mod ep_size == 0`,
//!   rank r owns slots `r*S .. (r+1)*S`.
//! * `initial_global_assignments`: model layer index -> the `num_slots`
//!   expert ids of all slots in rank order (rank-major, like the
//!   physical-to-logical map). Keys are the model's layer indices (for
//!   DeepSeek-V3/R1 the MoE layers are 3..=60), hence `first_layer`.
//! * `layer_updates_per_iter`: 0 = static placement (no online updates).
//!
//! The writer emits exactly this shape; the reader is a small hand parser
//! for it (block mapping at the top, the assignments as `key: [flow list]`
//! possibly wrapped over several lines, or as a block sequence `- id`),
//! with errors naming the line.

use super::placement_shape;
use crate::engine::error::{Error, Result};
use crate::engine::model::Placement;

/// The load-balancer config as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbConfig {
    pub num_slots: Option<usize>,
    pub layer_updates_per_iter: usize,
    /// `(model layer index, slot expert ids)`, sorted by layer index.
    pub assignments: Vec<(usize, Vec<usize>)>,
}

/// Write the YAML for `p` (layer `l` of the placement is model layer
/// `first_layer + l`).
pub fn export(p: &Placement, first_layer: usize, layer_updates_per_iter: usize) -> Result<String> {
    let (_, d, s) = placement_shape(p)?;
    let mut out = String::new();
    out.push_str("# TensorRT-LLM MoE load balancer config (MoeLoadBalancerConfig), written by ELB Studio\n");
    out.push_str(&format!("# {d} EP ranks x {s} slots per rank\n"));
    out.push_str(&format!("num_slots: {}\n", d * s));
    out.push_str("initial_global_assignments:\n");
    for (l, layer) in p.layers.iter().enumerate() {
        out.push_str(&format!("  {}: [", first_layer + l));
        let mut first = true;
        for e in layer.iter().flatten() {
            if !first {
                out.push_str(", ");
            }
            first = false;
            out.push_str(&e.to_string());
        }
        out.push_str("]\n");
    }
    out.push_str(&format!("layer_updates_per_iter: {layer_updates_per_iter}\n"));
    Ok(out)
}

/// The table TensorRT-LLM gives a layer it has no assignment for (its
/// default: rank `r`'s slot `j` holds expert `(r * E / D + j) mod E`), for
/// `devices` EP ranks of `slots` slots and `experts` routed experts: what
/// the MTP layer's entry holds, as no dump has loads for that layer.
pub fn default_layer(experts: usize, devices: usize, slots: usize) -> Vec<Vec<usize>> {
    (0..devices).map(|r| (0..slots).map(|j| (r * experts / devices.max(1) + j) % experts.max(1)).collect()).collect()
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        Some(i) => &line[..i],
        None => line,
    }
}

fn parse_uint(file: &str, row: usize, col: usize, s: &str, what: &str) -> Result<usize> {
    let t = s.trim();
    t.parse::<usize>().map_err(|_| {
        Error::cell(file, row, col, format!("{what} must be a non-negative integer, got '{t}'"))
    })
}

/// Parse the YAML text of `file`.
pub fn parse(file: &str, text: &str) -> Result<LbConfig> {
    let lines: Vec<&str> = text.lines().collect();
    let mut cfg = LbConfig { num_slots: None, layer_updates_per_iter: 0, assignments: Vec::new() };
    let mut seen_assign = false;
    let mut i = 0;
    while i < lines.len() {
        let row = i + 1;
        let raw = strip_comment(lines[i]);
        i += 1;
        if raw.trim().is_empty() || raw.trim() == "---" {
            continue;
        }
        if raw.starts_with(' ') || raw.starts_with('\t') {
            return Err(Error::row(file, row, "unexpected indented line (expected a top-level key: num_slots, initial_global_assignments or layer_updates_per_iter)"));
        }
        let (key, val) = raw
            .split_once(':')
            .ok_or_else(|| Error::row(file, row, format!("expected 'key: value', got '{}'", raw.trim())))?;
        let key = key.trim();
        let vcol = key.len() + 2;
        match key {
            "num_slots" => cfg.num_slots = Some(parse_uint(file, row, vcol, val, "num_slots")?),
            "layer_updates_per_iter" => {
                cfg.layer_updates_per_iter = parse_uint(file, row, vcol, val, "layer_updates_per_iter")?
            }
            "initial_global_assignments" => {
                if seen_assign {
                    return Err(Error::row(file, row, "initial_global_assignments appears twice"));
                }
                seen_assign = true;
                if !val.trim().is_empty() && val.trim() != "null" && val.trim() != "~" {
                    return Err(Error::cell(file, row, vcol, "initial_global_assignments must be a block mapping 'layer: [ids]' on the following indented lines"));
                }
                // The indented block.
                while i < lines.len() {
                    let lrow = i + 1;
                    let l = strip_comment(lines[i]);
                    if l.trim().is_empty() {
                        i += 1;
                        continue;
                    }
                    if !(l.starts_with(' ') || l.starts_with('\t')) {
                        break;
                    }
                    i += 1;
                    let (k, v) = l.split_once(':').ok_or_else(|| {
                        Error::row(file, lrow, format!("expected '<layer index>: [expert ids]', got '{}'", l.trim()))
                    })?;
                    let indent = l.len() - l.trim_start().len();
                    let layer = parse_uint(file, lrow, indent + 1, k, "layer index")?;
                    if cfg.assignments.iter().any(|(x, _)| *x == layer) {
                        return Err(Error::row(file, lrow, format!("layer {layer} is listed twice")));
                    }
                    let v = v.trim();
                    let mut ids = Vec::new();
                    if let Some(rest) = v.strip_prefix('[') {
                        // Flow list, possibly wrapped.
                        let mut buf = rest.to_string();
                        let mut brow = lrow;
                        while !buf.contains(']') {
                            if i >= lines.len() {
                                return Err(Error::row(file, lrow, format!("layer {layer}: the list opened with '[' is never closed")));
                            }
                            buf.push(' ');
                            buf.push_str(strip_comment(lines[i]));
                            brow = i + 1;
                            i += 1;
                        }
                        let close = buf.find(']').unwrap_or(buf.len());
                        if !buf[close + 1..].trim().is_empty() {
                            return Err(Error::row(file, brow, format!("layer {layer}: unexpected text after ']'")));
                        }
                        for (j, tok) in buf[..close].split(',').enumerate() {
                            if tok.trim().is_empty() && j == 0 && buf[..close].trim().is_empty() {
                                break;
                            }
                            let id = tok.trim().parse::<usize>().map_err(|_| {
                                Error::row(file, brow, format!("layer {layer}, slot {}: expert id must be a non-negative integer, got '{}'", j, tok.trim()))
                            })?;
                            ids.push(id);
                        }
                    } else if v.is_empty() {
                        // Block sequence: lines "- id", indented at least as deep as the key.
                        while i < lines.len() {
                            let srow = i + 1;
                            let sl = strip_comment(lines[i]);
                            let t = sl.trim();
                            if t.is_empty() {
                                i += 1;
                                continue;
                            }
                            let Some(item) = t.strip_prefix('-') else { break };
                            let sindent = sl.len() - sl.trim_start().len();
                            if sindent < indent {
                                break;
                            }
                            i += 1;
                            let id = item.trim().parse::<usize>().map_err(|_| {
                                Error::row(file, srow, format!("layer {layer}, slot {}: expert id must be a non-negative integer, got '{}'", ids.len(), item.trim()))
                            })?;
                            ids.push(id);
                        }
                    } else {
                        return Err(Error::row(file, lrow, format!("layer {layer}: expected a list [ids], got '{v}'")));
                    }
                    if ids.is_empty() {
                        return Err(Error::row(file, lrow, format!("layer {layer}: the slot list is empty")));
                    }
                    cfg.assignments.push((layer, ids));
                }
            }
            other => {
                return Err(Error::row(
                    file,
                    row,
                    format!("unknown key '{other}' (a load-balancer config has num_slots, initial_global_assignments, layer_updates_per_iter)"),
                ))
            }
        }
    }
    if !seen_assign || cfg.assignments.is_empty() {
        return Err(Error::file(file, "no initial_global_assignments: nothing to read as a placement"));
    }
    crate::engine::order::sort_by(&mut cfg.assignments, |a, b| a.0.cmp(&b.0));
    let n = cfg.assignments[0].1.len();
    for (l, ids) in &cfg.assignments {
        if ids.len() != n {
            return Err(Error::file(file, format!("layer {l} has {} slots but layer {} has {n}", ids.len(), cfg.assignments[0].0)));
        }
    }
    if let Some(ns) = cfg.num_slots {
        if ns != n {
            return Err(Error::file(file, format!("num_slots is {ns} but each layer lists {n} slots")));
        }
    }
    Ok(cfg)
}

impl LbConfig {
    /// The placement on `devices` EP ranks and the model layer index of
    /// each of its layers.
    pub fn to_placement(&self, file: &str, devices: usize) -> Result<(Placement, Vec<usize>)> {
        if devices == 0 {
            return Err(Error::param("devices", "must be at least 1"));
        }
        let n = self.assignments.first().map_or(0, |(_, v)| v.len());
        if n == 0 || n % devices != 0 {
            return Err(Error::param(
                "devices",
                format!("{file}: {n} slots per layer cannot be split evenly over {devices} EP ranks (TensorRT-LLM needs num_slots mod ep_size = 0)"),
            ));
        }
        let s = n / devices;
        let layers = self.assignments.iter().map(|(_, ids)| ids.chunks(s).map(<[usize]>::to_vec).collect()).collect();
        Ok((Placement { layers }, self.assignments.iter().map(|(l, _)| *l).collect()))
    }
}

/// Parse and convert in one go.
pub fn import(file: &str, text: &str, devices: usize) -> Result<(Placement, Vec<usize>)> {
    parse(file, text)?.to_placement(file, devices)
}
