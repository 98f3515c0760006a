//! Share links and share files: what a teammate needs to see exactly what
//! the sender saw, packed into the URL fragment (`#run=...`, which browsers
//! do not send to a server). Target-independent, so it is tested natively
//! (tests/share_link.rs: byte-identical tables after a round trip, the
//! version-1 fixture, tampered, truncated and random links). docs/share.md
//! describes the format.
//!
//! Version 2 (written now), `#run=2.<base64url>`: deflated bytes and their
//! CRC-32; inflated, a CRC-32 of the rest, then a JSON header (settings and seed, how the data
//! was described, every phase's shape, current placement, what ingest
//! recognised, the solution's remarks) and binary sections: per phase the
//! summed loads, the C2LB loads when they differ, the per-interval loads of
//! a time-series dump, the top-k traces, and the computed table (slot lists
//! delta- and varint-coded). The receiver recomputes every figure from
//! these with the same engine functions as the sender.
//!
//! Version 1 (read only), `#run=<base64url>`: deflated JSON of the settings
//! and the loads summed over time; it carries no table, so opening one runs.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::algo::Solution;
use super::json::{self, FromJson, Reader};
use super::{Dataset, Error, LoadMatrix, Phase, PhaseData, PhaseInfo, Placement, Series, Settings, SourceFormat, TopK};

/// What every share link's fragment starts with.
pub const PREFIX: &str = "#run=";
/// The format version this build writes.
pub const VERSION: u32 = 2;
/// Largest inflated payload accepted.
pub const MAX_INFLATED: usize = 256 << 20;

/// Everything a share link carries (serde: the page hands it to a web
/// worker to encode, `jobs::protocol::Request::EncodeShare`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shared {
    /// The format version it was read from (written: [`VERSION`]).
    pub version: u32,
    /// The settings of the run shown (seed included).
    pub settings: Settings,
    /// The data, every phase as ingest made it (version 1: summed loads only).
    pub dataset: Dataset,
    /// How the sender's page described the data ("Built-in sample data: ...");
    /// empty when unknown.
    pub origin: String,
    /// The computed table of every phase, in `dataset.phases` order, when
    /// the sender had run; `None` otherwise (and for version 1).
    pub solutions: Option<Vec<Solution>>,
    /// View options that are not settings of the solve.
    pub view: View,
}

/// View options carried with the link (the receiver's page recomputes
/// what they show).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The migration-aware refinement was on, with this tolerance as typed.
    #[serde(default)]
    pub migration_aware: Option<String>,
}

json::json_struct!(View { opt migration_aware });

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

fn bad(why: impl std::fmt::Display) -> Error {
    Error::msg(format!("this share link cannot be read ({why}); ask the sender for a fresh link or the share file"))
}

// ---------------------------------------------------------------- version 2

struct Header {
    settings: Settings,
    origin: String,
    view: View,
    format_label: String,
    missing_map: Option<String>,
    ignored: Vec<String>,
    warnings: Vec<String>,
    dropped_table: Option<(String, Placement)>,
    dropped_table_problems: Vec<String>,
    phases: Vec<PhaseHead>,
}

struct PhaseHead {
    phase: Phase,
    format: SourceFormat,
    layers: usize,
    experts: usize,
    top_k: Option<usize>,
    current: Option<Placement>,
    current_source: Option<String>,
    current_problems: Vec<String>,
    info: PhaseInfo,
    /// The C2LB loads differ from the summed ones (a section follows).
    c2lb: bool,
    /// Kept intervals of a time-series dump (a section follows).
    intervals: Option<usize>,
    /// Top-k traces: k and the number of ids of every `[rank][layer]`.
    topk: Option<(usize, Vec<Vec<usize>>)>,
    /// The solution's remarks, when a table follows.
    solution: Option<(Vec<String>, Vec<usize>)>,
}

// The header's JSON: its fields in order, every one required but the
// optional ones (`null` or left out), unknown ones skipped.
json::json_struct!(Header { req settings, req origin, req view, req format_label, opt missing_map, req ignored, req warnings, opt dropped_table, req dropped_table_problems, req phases });

json::json_struct!(PhaseHead { req phase, req format, req layers, req experts, opt top_k, opt current, opt current_source, req current_problems, req info, req c2lb, opt intervals, opt topk, opt solution });

/// Section writer: LEB128 varints, zigzag deltas, raw f64 when needed.
struct W(Vec<u8>);

impl W {
    fn uv(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn zz(&mut self, v: i64) {
        self.uv(((v << 1) ^ (v >> 63)) as u64);
    }
    /// Loads: whole non-negative numbers as varints (plain or as deltas of
    /// the previous value, whichever is shorter), anything else as f64 bits.
    fn numbers(&mut self, d: &[f64]) {
        let whole = d.iter().all(|v| v.is_finite() && v.fract() == 0.0 && v.to_bits() >> 63 == 0 && *v < 9.0e15);
        if !whole {
            self.0.push(1);
            for v in d {
                self.0.extend_from_slice(&v.to_bits().to_le_bytes());
            }
            return;
        }
        let len = |v: u64| (64 - v.leading_zeros()).max(1).div_ceil(7) as usize;
        let zz = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        let plain: usize = d.iter().map(|&v| len(v as u64)).sum();
        let mut prev = 0i64;
        let delta: usize = d
            .iter()
            .map(|&v| {
                let x = v as i64;
                let n = len(zz(x - prev));
                prev = x;
                n
            })
            .sum();
        if plain <= delta {
            self.0.push(0);
            d.iter().for_each(|&v| self.uv(v as u64));
        } else {
            self.0.push(2);
            let mut prev = 0i64;
            for &v in d {
                self.zz(v as i64 - prev);
                prev = v as i64;
            }
        }
    }
    /// Slot lists: per layer the devices, per device its length and its
    /// ids as deltas of the previous id.
    fn placement(&mut self, layers: &[Vec<Vec<usize>>]) {
        self.uv(layers.len() as u64);
        for layer in layers {
            self.uv(layer.len() as u64);
            for dev in layer {
                self.uv(dev.len() as u64);
                let mut prev = 0i64;
                for &e in dev {
                    self.zz(e as i64 - prev);
                    prev = e as i64;
                }
            }
        }
    }
}

/// Section reader: every count is checked against the bytes left before
/// anything is allocated.
struct R<'a> {
    b: &'a [u8],
    i: usize,
}

impl R<'_> {
    fn left(&self) -> usize {
        self.b.len() - self.i
    }
    fn byte(&mut self) -> Result<u8, String> {
        let v = *self.b.get(self.i).ok_or("the data ends early")?;
        self.i += 1;
        Ok(v)
    }
    fn uv(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number is too long".into())
    }
    fn zz(&mut self) -> Result<i64, String> {
        let v = self.uv()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }
    /// A count of items of at least `min` bytes each.
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.uv()?;
        if n > (self.left() / min.max(1)) as u64 {
            return Err("a count is larger than the data".into());
        }
        Ok(n as usize)
    }
    fn numbers(&mut self, n: usize) -> Result<Vec<f64>, String> {
        let tag = self.byte()?;
        let min = if tag == 1 { 8 } else { 1 };
        if n > self.left() / min {
            return Err("the data ends early".into());
        }
        let mut out = Vec::with_capacity(n);
        match tag {
            0 => {
                for _ in 0..n {
                    out.push(self.uv()? as f64);
                }
            }
            2 => {
                let mut prev = 0i64;
                for _ in 0..n {
                    prev = prev.wrapping_add(self.zz()?);
                    out.push(prev as f64);
                }
            }
            1 => {
                for _ in 0..n {
                    let s = self.b.get(self.i..self.i + 8).ok_or("the data ends early")?;
                    self.i += 8;
                    out.push(f64::from_bits(u64::from_le_bytes(s.try_into().map_err(|_| "short number")?)));
                }
            }
            t => return Err(format!("unknown number coding {t}")),
        }
        if out.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err("a load is negative or not a number".into());
        }
        Ok(out)
    }
    fn placement(&mut self) -> Result<Vec<Vec<Vec<usize>>>, String> {
        let layers = self.count(1)?;
        let mut out = Vec::with_capacity(layers);
        for _ in 0..layers {
            let devices = self.count(1)?;
            let mut layer = Vec::with_capacity(devices);
            for _ in 0..devices {
                let slots = self.count(1)?;
                let mut dev = Vec::with_capacity(slots);
                let mut prev = 0i64;
                for _ in 0..slots {
                    prev = prev.checked_add(self.zz()?).ok_or("an expert id is out of range")?;
                    dev.push(usize::try_from(prev).map_err(|_| "an expert id is negative")?);
                }
                layer.push(dev);
            }
            out.push(layer);
        }
        Ok(out)
    }
}

/// The fragment (with `#run=`) carrying `shared` (its `version` is ignored:
/// the link is written in [`VERSION`]).
pub fn encode(shared: &Shared) -> Result<String, Error> {
    let ds = &shared.dataset;
    if let Some(s) = &shared.solutions {
        if s.len() != ds.phases.len() {
            return Err(Error::internal(format!("{} tables for {} phases in a share link", s.len(), ds.phases.len())));
        }
    }
    let mut w = W(Vec::new());
    let mut phases = Vec::with_capacity(ds.phases.len());
    for (i, p) in ds.phases.iter().enumerate() {
        let c2lb = p.c2lb_loads != p.summed;
        w.numbers(&p.summed.data);
        if c2lb {
            w.numbers(&p.c2lb_loads.data);
        }
        if let Some(s) = &p.series {
            w.numbers(&s.data);
        }
        let topk = p.topk_traces.as_ref().map(|t| {
            for ids in t.ranks.iter().flatten() {
                ids.iter().for_each(|&id| w.uv(u64::from(id)));
            }
            (t.k, t.ranks.iter().map(|r| r.iter().map(Vec::len).collect()).collect())
        });
        let solution = shared.solutions.as_ref().map(|s| {
            w.placement(&s[i].layers);
            (s[i].warnings.clone(), s[i].reference_invalid_layers.clone())
        });
        phases.push(PhaseHead {
            phase: p.phase,
            format: p.format,
            layers: p.layers,
            experts: p.experts,
            top_k: p.top_k,
            current: p.current.clone(),
            current_source: p.current_source.clone(),
            current_problems: p.current_problems.clone(),
            info: p.info.clone(),
            c2lb,
            intervals: p.series.as_ref().map(|s| s.intervals),
            topk,
            solution,
        });
    }
    let header = Header {
        settings: shared.settings.clone(),
        origin: shared.origin.clone(),
        view: shared.view.clone(),
        format_label: ds.format_label.clone(),
        missing_map: ds.missing_map.clone(),
        ignored: ds.ignored.clone(),
        warnings: ds.warnings.clone(),
        dropped_table: ds.dropped_table.clone(),
        dropped_table_problems: ds.dropped_table_problems.clone(),
        phases,
    };
    let json = json::to_string(&header).into_bytes();
    let mut body = W(Vec::with_capacity(json.len() + w.0.len() + 16));
    body.uv(json.len() as u64);
    body.0.extend_from_slice(&json);
    body.0.extend_from_slice(&w.0);
    let mut bytes = super::zip::crc32(&body.0).to_le_bytes().to_vec();
    bytes.extend_from_slice(&body.0);
    let mut packed = miniz_oxide::deflate::compress_to_vec(&bytes, 9);
    // DEFLATE ignores bytes after its last block: a checksum of the packed
    // bytes after them makes anything added to (or cut from) a link an error.
    packed.extend_from_slice(&super::zip::crc32(&packed).to_le_bytes());
    Ok(format!("{PREFIX}{VERSION}.{}", b64().encode(packed)))
}

/// The name of a share file (offered when the link would be too long).
pub const SHARE_FILE: &str = "elb-share.json";
/// The key that marks a share file.
const SHARE_KEY: &str = "elb_share";

struct ShareFile {
    /// Format version of the file (1).
    elb_share: u32,
    /// What opening it does: the same `#run=...` fragment a link carries.
    fragment: String,
}

json::json_struct!(ShareFile { req elb_share, req fragment });

/// The share file's text for a fragment.
pub fn share_file_text(fragment: &str) -> String {
    json::to_string(&ShareFile { elb_share: 1, fragment: fragment.to_string() })
}

/// Whether `text` looks like a share file (a JSON object with the share
/// file's key near its start); anything else is data to ingest.
pub fn is_share_file(text: &str) -> bool {
    let head: String = text.trim_start().chars().take(64).collect();
    head.starts_with('{') && head.contains(&format!("\"{SHARE_KEY}\""))
}

/// The fragment of a share file; `None` when `text` is not one (then it is
/// ingested as data), `Some(Err)` when it is one but cannot be read.
pub fn fragment_from_share_file(text: &str) -> Option<Result<String, Error>> {
    if !is_share_file(text) {
        return None;
    }
    let bad = |why: String| Error::msg(format!("this share file cannot be read ({why}); ask for a fresh one"));
    Some(match json::from_slice::<ShareFile>(text.as_bytes()) {
        Ok(f) if f.elb_share == 1 && f.fragment.starts_with(PREFIX) => Ok(f.fragment),
        Ok(f) if f.elb_share != 1 => Err(bad(format!("version {} is not known to this build", f.elb_share))),
        Ok(_) => Err(bad("it holds no #run= data".into())),
        Err(e) => Err(bad(format!("bad contents: {e}"))),
    })
}

/// Open a link's fragment (`file` false) or a share file's text (`file`
/// true): what the page's worker does for `jobs::protocol::Request::OpenShare`.
pub fn open(text: &str, file: bool) -> Result<Shared, Error> {
    if !file {
        return decode(text);
    }
    match fragment_from_share_file(text) {
        Some(fragment) => decode(&fragment?),
        None => Err(Error::msg("this file is not a share file")),
    }
}

/// Read a `#run=...` fragment (any version this build knows) back.
pub fn decode(fragment: &str) -> Result<Shared, Error> {
    let data = fragment.trim().strip_prefix(PREFIX).ok_or_else(|| bad("it does not start with #run="))?;
    // Version 1 links have no version mark ('.' is not a base64url letter).
    let Some((v, rest)) = data.split_once('.') else { return decode_v1(data) };
    let version: u32 = v.parse().map_err(|_| bad(format!("'{}' is not a format version", v.chars().take(12).collect::<String>())))?;
    match version {
        2 => decode_v2(rest),
        1 => decode_v1(rest),
        n => Err(Error::msg(format!(
            "this share link is format version {n}, newer than this page reads (versions 1 to {VERSION}): open it with the newer ELB Studio that made it, or ask for a link from this version"
        ))),
    }
}

fn unbase64(data: &str) -> Result<Vec<u8>, Error> {
    b64().decode(data.trim()).map_err(|e| bad(format!("bad base64: {e}")))
}

fn inflate(packed: &[u8]) -> Result<Vec<u8>, Error> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(packed, MAX_INFLATED).map_err(|e| bad(format!("bad compressed data: {:?}", e.status)))
}

fn decode_v2(data: &str) -> Result<Shared, Error> {
    let packed = unbase64(data)?;
    let (packed, crc) = packed.split_at_checked(packed.len().saturating_sub(4)).ok_or_else(|| bad("it is cut short"))?;
    if crc.len() != 4 || super::zip::crc32(packed).to_le_bytes() != crc {
        return Err(bad("its checksum does not match: it was changed, cut or added to"));
    }
    let bytes = inflate(packed)?;
    let (crc, body) = bytes.split_at_checked(4).ok_or_else(|| bad("it is cut short"))?;
    if super::zip::crc32(body).to_le_bytes() != crc {
        return Err(bad("its contents do not match their checksum"));
    }
    read_v2(body).map_err(bad)
}

fn read_v2(body: &[u8]) -> Result<Shared, String> {
    let mut r = R { b: body, i: 0 };
    let n = r.count(1)?;
    let header: Header = json::from_slice(&body[r.i..r.i + n]).map_err(|e| format!("bad contents: {e}"))?;
    r.i += n;
    let settings = header.settings;
    let mut phases = Vec::with_capacity(header.phases.len());
    let mut solutions = Vec::new();
    for h in header.phases {
        let name = h.phase.name();
        let cells = h.layers.checked_mul(h.experts).filter(|&c| c <= r.left()).ok_or(format!("{name}: too many loads"))?;
        let load = |r: &mut R, cells| r.numbers(cells).map(|data| LoadMatrix { layers: h.layers, experts: h.experts, data });
        let summed = load(&mut r, cells)?;
        let c2lb_loads = if h.c2lb { load(&mut r, cells)? } else { summed.clone() };
        let series = match h.intervals {
            Some(t) => {
                let n = cells.checked_mul(t).filter(|&c| c <= r.left()).ok_or(format!("{name}: too many interval loads"))?;
                Some(Series { layers: h.layers, experts: h.experts, intervals: t, data: r.numbers(n)? })
            }
            None => None,
        };
        let topk_traces = match h.topk {
            Some((k, lens)) => {
                let mut ranks = Vec::with_capacity(lens.len());
                for rank in lens {
                    let mut layers = Vec::with_capacity(rank.len());
                    for n in rank {
                        if n > r.left() {
                            return Err(format!("{name}: the top-k traces end early"));
                        }
                        let ids = (0..n)
                            .map(|_| r.uv().and_then(|v| u32::try_from(v).map_err(|_| "a top-k id is out of range".into())))
                            .collect::<Result<Vec<u32>, String>>()?;
                        if ids.iter().any(|&id| id as usize > h.experts) {
                            return Err(format!("{name}: a top-k id is out of range"));
                        }
                        layers.push(ids);
                    }
                    ranks.push(layers);
                }
                Some(TopK { k, ranks })
            }
            None => None,
        };
        if let Some((warnings, reference_invalid_layers)) = h.solution {
            let layers = r.placement()?;
            let routed = settings.cluster.routed_devices();
            if layers.len() != h.layers
                || layers.iter().any(|l| l.len() != routed || l.iter().flatten().any(|&e| e > h.experts))
            {
                return Err(format!("{name}: the table does not fit {} layers x {} experts on {routed} NPUs", h.layers, h.experts));
            }
            solutions.push(Solution { layers, warnings, reference_invalid_layers });
        }
        let p = PhaseData {
            phase: h.phase,
            format: h.format,
            layers: h.layers,
            experts: h.experts,
            summed,
            c2lb_loads,
            series,
            top_k: h.top_k,
            topk_traces: topk_traces.map(std::sync::Arc::new),
            current: h.current,
            current_source: h.current_source,
            current_problems: h.current_problems,
            info: h.info,
        };
        // The tables were made with these settings: they must fit the data.
        if solutions.len() == phases.len() + 1 {
            super::algo::check(&p, &settings).map_err(|e| format!("{name}: the settings do not fit the data: {e}"))?;
        }
        phases.push(p);
    }
    if r.left() != 0 {
        return Err(format!("{} bytes too many", r.left()));
    }
    let solutions = match solutions.len() {
        0 => None,
        n if n == phases.len() => Some(solutions),
        _ => return Err("some phases have a table and some do not".into()),
    };
    let dataset = Dataset {
        phases,
        dropped_table: header.dropped_table,
        dropped_table_problems: header.dropped_table_problems,
        missing_map: header.missing_map,
        ignored: header.ignored,
        warnings: header.warnings,
        format_label: header.format_label,
    };
    Ok(Shared { version: 2, settings, dataset, origin: header.origin, solutions, view: header.view })
}

// ---------------------------------------------------------------- version 1

struct PayloadV1 {
    v: u32,
    settings: Settings,
    phases: Vec<SharedPhaseV1>,
    table: Option<(String, Placement)>,
    table_problems: Vec<String>,
}

struct SharedPhaseV1 {
    phase: Phase,
    layers: usize,
    experts: usize,
    top_k: Option<usize>,
    loads: LoadsV1,
    c2lb: Option<LoadsV1>,
    current: Option<(String, Placement)>,
    current_problems: Vec<String>,
}

enum LoadsV1 {
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

// Version 1's JSON as serde's derive read it: `table`, `table_problems`,
// `c2lb`, `current` and `current_problems` may be left out; the loads are
// `{"Ints": [...]}` or `{"Floats": [...]}`.
json::json_struct!(read PayloadV1 { req v, req settings, req phases, opt table, def table_problems });

json::json_struct!(read SharedPhaseV1 { req phase, req layers, req experts, opt top_k, req loads, opt c2lb, opt current, def current_problems });

impl FromJson for LoadsV1 {
    fn read_json(r: &mut Reader<'_>) -> json::Result<LoadsV1> {
        let mut out = None;
        r.object("enum LoadsV1", |r, k| {
            if out.is_some() {
                return Err(r.error("expected `}`: enum LoadsV1 holds one variant"));
            }
            out = Some(match k {
                "Ints" => LoadsV1::Ints(FromJson::read_json(r)?),
                "Floats" => LoadsV1::Floats(FromJson::read_json(r)?),
                other => return Err(r.error(format!("unknown variant `{other}`, expected `Ints` or `Floats`"))),
            });
            Ok(())
        })?;
        out.ok_or_else(|| r.error("invalid type: map without a variant, expected enum LoadsV1"))
    }
}

impl LoadsV1 {
    fn unpack(self) -> Vec<f64> {
        match self {
            LoadsV1::Ints(v) => v.into_iter().map(|x| x as f64).collect(),
            LoadsV1::Floats(v) => v,
        }
    }
}

fn decode_v1(data: &str) -> Result<Shared, Error> {
    let json = inflate(&unbase64(data)?)?;
    let payload: PayloadV1 = json::from_slice(&json).map_err(|e| bad(format!("bad contents: {e}")))?;
    if payload.v != 1 {
        return Err(bad(format!("it says version {} where version 1 was expected", payload.v)));
    }
    let mut phases = Vec::new();
    for sp in payload.phases {
        let data = sp.loads.unpack();
        let c2lb = sp.c2lb.map(LoadsV1::unpack);
        if sp.layers.checked_mul(sp.experts) != Some(data.len()) || c2lb.as_ref().is_some_and(|c| c.len() != data.len()) {
            return Err(bad(format!("{}: {} loads for {} layers x {} experts", sp.phase.name(), data.len(), sp.layers, sp.experts)));
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
    let dataset = Dataset {
        phases,
        dropped_table: payload.table,
        dropped_table_problems: payload.table_problems,
        format_label: "share link, version 1 (loads summed over time)".into(),
        ..Dataset::default()
    };
    Ok(Shared { version: 1, settings: payload.settings, dataset, origin: String::new(), solutions: None, view: View::default() })
}
