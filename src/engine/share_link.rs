//! The share-link payload: the settings and the loads summed over time
//! (plus the current placement and a dropped table, with the rule breaks
//! found when they were read), deflated and base64url-encoded into the URL
//! fragment (`#run=...`). Target-independent, so it is tested natively
//! (tests/share_link.rs: round trips, tampered and truncated links, fuzzing).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{Dataset, Error, LoadMatrix, Phase, PhaseData, Placement, Settings, SourceFormat};

/// What every share link starts with.
pub const PREFIX: &str = "#run=";
/// Largest inflated payload accepted (a DeepSeek-V3 dump is well below).
pub const MAX_INFLATED: usize = 64 << 20;

#[derive(Serialize, Deserialize)]
struct Payload {
    v: u32,
    settings: Settings,
    phases: Vec<SharedPhase>,
    /// A deployment table dropped with the data (the "before").
    #[serde(default)]
    table: Option<(String, Placement)>,
    /// The rule breaks of that table's own bookkeeping, as found when read.
    #[serde(default)]
    table_problems: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct SharedPhase {
    phase: Phase,
    layers: usize,
    experts: usize,
    top_k: Option<usize>,
    loads: Loads,
    /// The loads C2LB uses, when they differ from `loads` (time-series input:
    /// the last cumulative block).
    #[serde(default)]
    c2lb: Option<Loads>,
    /// The current placement the dump named (the "before"), and its file.
    #[serde(default)]
    current: Option<(String, Placement)>,
    /// The rule breaks of that placement file's own bookkeeping.
    #[serde(default)]
    current_problems: Vec<String>,
}

/// Token counts are integers: keep them short in the link.
#[derive(Serialize, Deserialize)]
enum Loads {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn pack(d: &[f64]) -> Loads {
    if d.iter().all(|v| v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15) {
        Loads::Ints(d.iter().map(|&v| v as i64).collect())
    } else {
        Loads::Floats(d.to_vec())
    }
}

fn unpack(l: Loads) -> Vec<f64> {
    match l {
        Loads::Ints(v) => v.into_iter().map(|x| x as f64).collect(),
        Loads::Floats(v) => v,
    }
}

/// The fragment (with `#run=`) for `settings` and the summed loads of `ds`.
pub fn encode(settings: &Settings, ds: &Dataset) -> Result<String, Error> {
    let phases = ds
        .phases
        .iter()
        .map(|p| SharedPhase {
            phase: p.phase,
            layers: p.summed.layers,
            experts: p.summed.experts,
            top_k: p.top_k,
            loads: pack(&p.summed.data),
            c2lb: (p.c2lb_loads != p.summed).then(|| pack(&p.c2lb_loads.data)),
            current: p.current.clone().map(|c| (p.current_source.clone().unwrap_or_default(), c)),
            current_problems: p.current_problems.clone(),
        })
        .collect();
    let payload = Payload {
        v: 1,
        settings: settings.clone(),
        phases,
        table: ds.dropped_table.clone(),
        table_problems: ds.dropped_table_problems.clone(),
    };
    let json = serde_json::to_vec(&payload).map_err(|e| Error::msg(format!("could not make the share link: {e}")))?;
    let packed = miniz_oxide::deflate::compress_to_vec(&json, 9);
    Ok(format!("{PREFIX}{}", b64().encode(packed)))
}

/// Read a `#run=...` fragment back into settings and a dataset.
pub fn decode(fragment: &str) -> Result<(Settings, Dataset), Error> {
    let bad = |why: String| Error::msg(format!("this share link cannot be read ({why}); ask for a fresh one"));
    let data = fragment.strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with #run=".into()))?;
    let packed = b64().decode(data.trim()).map_err(|e| bad(format!("bad base64: {e}")))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_INFLATED)
        .map_err(|e| bad(format!("bad compressed data: {e:?}")))?;
    let payload: Payload = serde_json::from_slice(&json).map_err(|e| bad(format!("bad contents: {e}")))?;
    if payload.v != 1 {
        return Err(bad(format!("version {} is not known to this build", payload.v)));
    }
    let mut phases = Vec::new();
    for sp in payload.phases {
        let data = unpack(sp.loads);
        let c2lb = sp.c2lb.map(unpack);
        if sp.layers.checked_mul(sp.experts) != Some(data.len())
            || c2lb.as_ref().is_some_and(|c| c.len() != data.len())
        {
            return Err(bad(format!(
                "{}: {} loads for {} layers x {} experts",
                sp.phase.name(),
                data.len(),
                sp.layers,
                sp.experts
            )));
        }
        if data.iter().chain(c2lb.iter().flatten()).any(|v| !v.is_finite() || *v < 0.0) {
            return Err(bad(format!("{}: a load is negative or not a number", sp.phase.name())));
        }
        let m = LoadMatrix { layers: sp.layers, experts: sp.experts, data };
        let mut p = PhaseData::from_summed(sp.phase, SourceFormat::Matrix, m);
        p.top_k = sp.top_k;
        if let Some(c) = c2lb {
            p.c2lb_loads = LoadMatrix { layers: sp.layers, experts: sp.experts, data: c };
        }
        if let Some((source, placement)) = sp.current {
            p.current_source = (!source.is_empty()).then_some(source);
            p.current = Some(placement);
            p.current_problems = sp.current_problems;
        }
        phases.push(p);
    }
    let ds = Dataset {
        phases,
        dropped_table: payload.table,
        dropped_table_problems: payload.table_problems,
        format_label: "share link (loads summed over time)".into(),
        ..Dataset::default()
    };
    Ok((payload.settings, ds))
}
