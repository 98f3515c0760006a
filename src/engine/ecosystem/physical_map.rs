//! The physical-to-logical expert map of DeepSeek EPLB, vLLM and SGLang.
//!
//! Physical expert (slot) `p = device * S + slot`: devices in order, each
//! device's slots in order ("device-major"), exactly as SGLang computes a
//! physical expert's GPU (`p div num_local_physical_experts`) and as vLLM
//! and DeepSeek EPLB lay out `phy2log`.
//!
//! Two JSON shapes are written:
//!
//! * [`export_sglang`]: `{"physical_to_logical_map": [[...], ...]}` and
//!   NOTHING else: SGLang's `--init-expert-location <file.json>` passes every
//!   key of the object as a keyword argument to its map constructor (a
//!   `logical_count` key instead selects its EPLB-from-token-counts path,
//!   where `logical_count` means token counts, not replica counts), so an
//!   extra key breaks it. SGLang's map has one row per *hidden layer* of the
//!   model (`num_hidden_layers`, dense layers included), each of
//!   `E + ep_num_redundant_experts` entries; rows of layers before the
//!   first MoE layer are filled with the trivial map `p mod E` (what SGLang
//!   itself uses for "trivial").
//! * [`export_vllm`]: vLLM's `EplbState` tensors, MoE layers only:
//!   `physical_to_logical_map` `[L][D*S]`, `logical_to_physical_map`
//!   `[L][E][R+1]` (each expert's physical ids ascending, padded with -1;
//!   `R = D*S - E`), `logical_replica_count` `[L][E]`.
//!
//! * [`export_sglang_logical_count`]: `{"logical_count": [[...], ...]}`,
//!   token counts `[hidden layers][E]` (dense layers all zero): the other
//!   form `--init-expert-location` accepts, where SGLang runs its own EPLB
//!   on the counts at start-up.
//!
//! [`import`] reads either map back (it only uses `physical_to_logical_map`;
//! a bare `[[...]]` array is accepted too) and skips leading dense rows.

use crate::engine::json::{self, Value};

use super::placement_shape;
use crate::engine::error::{Error, Result};
use crate::engine::model::{LoadMatrix, Placement};

/// `[layer][p]` with `p = device * S + slot`.
pub fn physical_to_logical(p: &Placement) -> Vec<Vec<usize>> {
    p.layers.iter().map(|l| l.iter().flat_map(|d| d.iter().copied()).collect()).collect()
}

fn check_exportable(p: &Placement, experts: usize) -> Result<(usize, usize, usize)> {
    let (l, d, s) = placement_shape(p)?;
    if experts == 0 {
        return Err(Error::param("experts", "the number of logical experts must be at least 1"));
    }
    for (li, layer) in p.layers.iter().enumerate() {
        let mut seen = vec![false; experts];
        for (di, dev) in layer.iter().enumerate() {
            for &e in dev {
                if e >= experts {
                    return Err(Error::msg(format!(
                        "layer {li}, device {di}: expert id {e} is not a routed logical expert (0..{experts}); a mixed shared-expert table cannot be written as a physical-to-logical map"
                    )));
                }
                seen[e] = true;
            }
        }
        if let Some(e) = seen.iter().position(|&x| !x) {
            return Err(Error::msg(format!("layer {li}: logical expert {e} has no slot; every expert needs at least one")));
        }
    }
    Ok((l, d, s))
}

fn write_rows(out: &mut String, rows: &[Vec<usize>]) {
    out.push('[');
    for (i, r) in rows.iter().enumerate() {
        out.push_str(if i == 0 { "\n    [" } else { ",\n    [" });
        for (j, v) in r.iter().enumerate() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push_str(&v.to_string());
        }
        out.push(']');
    }
    out.push_str("\n  ]");
}

/// SGLang `--init-expert-location` JSON. `first_moe_layer` dense layers
/// (e.g. 3 for DeepSeek-V3/R1) get the trivial rows `p mod E` so that the
/// map has `first_moe_layer + L` rows, one per hidden layer.
pub fn export_sglang(p: &Placement, experts: usize, first_moe_layer: usize) -> Result<String> {
    let (_, d, s) = check_exportable(p, experts)?;
    let n = d * s;
    let mut rows: Vec<Vec<usize>> = (0..first_moe_layer).map(|_| (0..n).map(|x| x % experts).collect()).collect();
    rows.extend(physical_to_logical(p));
    let mut out = String::from("{\n  \"physical_to_logical_map\": ");
    write_rows(&mut out, &rows);
    out.push_str("\n}\n");
    Ok(out)
}

/// vLLM `EplbState`-shaped JSON (MoE layers only), see the module docs.
pub fn export_vllm(p: &Placement, experts: usize) -> Result<String> {
    let (_, d, s) = check_exportable(p, experts)?;
    let n = d * s;
    let width = n.saturating_sub(experts) + 1;
    let p2l = physical_to_logical(p);
    let mut l2p: Vec<Vec<Vec<i64>>> = Vec::with_capacity(p2l.len());
    let mut cnt: Vec<Vec<usize>> = Vec::with_capacity(p2l.len());
    for row in &p2l {
        let mut m = vec![Vec::new(); experts];
        for (phys, &e) in row.iter().enumerate() {
            m[e].push(phys as i64);
        }
        cnt.push(m.iter().map(Vec::len).collect());
        l2p.push(
            m.into_iter()
                .map(|mut v| {
                    v.resize(width, -1);
                    v
                })
                .collect(),
        );
    }
    let mut out = String::from("{\n  \"physical_to_logical_map\": ");
    write_rows(&mut out, &p2l);
    out.push_str(",\n  \"logical_to_physical_map\": ");
    out.push_str(&json::to_string(&l2p));
    out.push_str(",\n  \"logical_replica_count\": ");
    write_rows(&mut out, &cnt);
    out.push_str("\n}\n");
    Ok(out)
}

/// Read a physical-to-logical map (SGLang, vLLM or a bare `[[...]]` array)
/// into a placement of `devices` devices, dropping the first `skip_layers`
/// rows (the dense layers of an SGLang map).
pub fn import(file: &str, text: &str, devices: usize, skip_layers: usize) -> Result<Placement> {
    if devices == 0 {
        return Err(Error::param("devices", "must be at least 1"));
    }
    let v: Value = json::parse(text.as_bytes()).map_err(|e| Error::row(file, e.line().max(1), format!("not valid JSON: {e}")))?;
    let rows = match &v {
        Value::Object(o) => v.get("physical_to_logical_map").ok_or_else(|| {
            let keys: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
            Error::file(file, format!("no 'physical_to_logical_map' key (keys found: {keys:?})"))
        })?,
        Value::Array(_) => &v,
        _ => return Err(Error::file(file, "expected a JSON object with 'physical_to_logical_map' or a [[...]] array")),
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| Error::file(file, "physical_to_logical_map must be an array of layers"))?;
    if rows.len() <= skip_layers {
        return Err(Error::file(
            file,
            format!("physical_to_logical_map has {} layers, not more than the {skip_layers} dense layers to skip", rows.len()),
        ));
    }
    let mut width = None;
    let mut layers = Vec::with_capacity(rows.len() - skip_layers);
    for (li, row) in rows.iter().enumerate().skip(skip_layers) {
        let row = row
            .as_array()
            .ok_or_else(|| Error::file(file, format!("physical_to_logical_map[{li}] must be an array of expert ids")))?;
        match width {
            None => {
                if row.is_empty() || row.len() % devices != 0 {
                    return Err(Error::file(
                        file,
                        format!("physical_to_logical_map[{li}] has {} physical slots, not a positive multiple of {devices} devices", row.len()),
                    ));
                }
                width = Some(row.len());
            }
            Some(w) if w != row.len() => {
                return Err(Error::file(
                    file,
                    format!("physical_to_logical_map[{li}] has {} physical slots but earlier layers have {w}", row.len()),
                ))
            }
            _ => {}
        }
        let mut ids = Vec::with_capacity(row.len());
        for (j, x) in row.iter().enumerate() {
            let id = x.as_u64().and_then(|u| usize::try_from(u).ok()).ok_or_else(|| {
                Error::file(file, format!("physical_to_logical_map[{li}][{j}] must be a non-negative integer expert id, got {x}"))
            })?;
            ids.push(id);
        }
        let s = ids.len() / devices;
        layers.push(ids.chunks(s).map(<[usize]>::to_vec).collect());
    }
    Ok(Placement { layers })
}

/// SGLang `--init-expert-location` JSON with token counts instead of a
/// map: `{"logical_count": [[...], ...]}`, one row per hidden layer
/// (`first_moe_layer` leading dense rows of zeros), `E` counts per row.
pub fn export_sglang_logical_count(loads: &LoadMatrix, first_moe_layer: usize) -> Result<String> {
    if loads.layers == 0 || loads.experts == 0 || loads.data.len() != loads.layers * loads.experts {
        return Err(Error::msg("the load matrix is empty or does not match its shape"));
    }
    if let Some(v) = loads.data.iter().find(|v| !v.is_finite() || **v < 0.0) {
        return Err(Error::msg(format!("load {v} is not a non-negative number")));
    }
    let fmt = |v: f64| if v.fract() == 0.0 && v.abs() < 9.0e15 { format!("{}", v as i64) } else { format!("{v}") };
    let mut out = String::from("{\n  \"logical_count\": [");
    let zero = vec![0.0; loads.experts];
    let rows = (0..first_moe_layer).map(|_| zero.as_slice()).chain((0..loads.layers).map(|l| loads.layer(l)));
    for (i, r) in rows.enumerate() {
        out.push_str(if i == 0 { "\n    [" } else { ",\n    [" });
        out.push_str(&r.iter().map(|&v| fmt(v)).collect::<Vec<_>>().join(", "));
        out.push(']');
    }
    out.push_str("\n  ]\n}\n");
    Ok(out)
}
