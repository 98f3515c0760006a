//! Built-in sample data: realistic synthetic hotspot dumps (skewed, drifting,
//! bursty expert popularity), the same generator behind `elb sample` and the
//! page's "Load sample data" button.
//!
//! The files are exactly what MindIE writes (docs/formats.md):
//! format 1 (`decode_<rank>.csv`, headerless `[layers x E/D]` summed token
//! counts) or format 2 (`model_gen_config.json`, cumulative
//! `decode_<rank>.csv` blocks of L rows per dump, `decode_topk_<rank>.csv`
//! with one sampled token's top-k expert ids per layer and dump; the first
//! dump and one in the middle are idle).
//!
//! Popularity model, per layer: a log-normal base popularity (heavy-tailed,
//! Zipf-like: the hottest expert of a layer carries several times the mean),
//! a slow AR(1) drift of every expert's log-popularity, and short bursts
//! (an expert several times hotter for one to four intervals). Token counts
//! per interval vary too. Deterministic per seed, on every platform: only a
//! self-written splitmix64 and `+ - * / sqrt` (a self-written `exp`).

use super::rng::SplitMix64 as Rng;
use std::fmt::Write as _;

use super::error::{Error, Result};
use super::model::InputFile;
use super::params::Cluster;

/// The model / cluster shapes samples come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Preset {
    /// 4 layers x 16 experts on 8 devices / 2 nodes, top-2.
    Small,
    /// Qwen3-MoE shape: 48 x 128 on 16 devices / 2 nodes, top-8.
    Qwen3,
    /// DeepSeek-V3 shape: 58 x 256 on 64 devices / 8 nodes, top-8.
    Dsv3,
    /// Kimi-K2 shape: 60 x 384 on 128 devices / 16 nodes, top-8.
    Kimi,
    /// A large-cluster shape: 61 x 512 on 256 devices / 32 nodes, top-8
    /// (the scale check of docs/benchmarks.md: the page must solve it
    /// within a tab's memory).
    Xl,
}

/// Which of the two dump formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SampleFormat {
    /// Format 1: summed per-rank CSVs.
    Summed,
    /// Format 2: cumulative MindIE time-series dump with top-k traces.
    Series,
}

/// The shape of a preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub layers: usize,
    pub experts: usize,
    pub devices: usize,
    pub nodes: usize,
    pub top_k: usize,
    /// Dumps written in the time-series format (two of them idle).
    pub dumps: usize,
}

impl Preset {
    /// Every preset: the CLI's `--preset` and the page's picker.
    pub const ALL: [Preset; 5] = [Preset::Small, Preset::Qwen3, Preset::Dsv3, Preset::Kimi, Preset::Xl];
    /// The model-shaped presets the benchmarks and the tests sweep (not the
    /// large-cluster [`Preset::Xl`], measured on its own).
    pub const STANDARD: [Preset; 4] = [Preset::Small, Preset::Qwen3, Preset::Dsv3, Preset::Kimi];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Small => "small",
            Preset::Qwen3 => "qwen3",
            Preset::Dsv3 => "dsv3",
            Preset::Kimi => "kimi",
            Preset::Xl => "xl",
        }
    }

    pub fn parse(s: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s.to_ascii_lowercase())
            .ok_or_else(|| Error::param("--preset", format!("unknown preset '{s}'; expected {}", Preset::names())))
    }

    /// Every preset's name, for messages: "small, qwen3, …, kimi or xl".
    pub fn names() -> String {
        let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.concat(),
        }
    }

    /// One line for the UI.
    pub fn describe(self) -> String {
        let s = self.shape();
        format!(
            "{}: {} layers x {} experts on {} NPUs / {} nodes, top-{}",
            self.name(),
            s.layers,
            s.experts,
            s.devices,
            s.nodes,
            s.top_k
        )
    }

    pub fn shape(self) -> Shape {
        match self {
            Preset::Small => Shape { layers: 4, experts: 16, devices: 8, nodes: 2, top_k: 2, dumps: 24 },
            Preset::Qwen3 => Shape { layers: 48, experts: 128, devices: 16, nodes: 2, top_k: 8, dumps: 48 },
            Preset::Dsv3 => Shape { layers: 58, experts: 256, devices: 64, nodes: 8, top_k: 8, dumps: 48 },
            Preset::Kimi => Shape { layers: 60, experts: 384, devices: 128, nodes: 16, top_k: 8, dumps: 48 },
            Preset::Xl => Shape { layers: 61, experts: 512, devices: 256, nodes: 32, top_k: 8, dumps: 48 },
        }
    }
}

impl SampleFormat {
    pub fn parse(s: &str) -> Result<SampleFormat> {
        match s.to_ascii_lowercase().as_str() {
            "summed" => Ok(SampleFormat::Summed),
            "series" | "time-series" | "timeseries" => Ok(SampleFormat::Series),
            _ => Err(Error::param("--format", format!("unknown format '{s}'; expected summed or series"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SampleFormat::Summed => "summed",
            SampleFormat::Series => "series",
        }
    }
}

/// The preset's cluster, with one redundant slot per device (R = D).
pub fn cluster_for(preset: Preset) -> Cluster {
    let s = preset.shape();
    Cluster { devices: s.devices, nodes: s.nodes, redundant: s.devices, ..Cluster::default() }
}


/// `e^x` with `+ - * /` only (identical on every platform).
fn det_exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = (x * std::f64::consts::LOG2_E + 0.5).floor();
    let r = x - k * std::f64::consts::LN_2;
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=14 {
        term *= r / i as f64;
        sum += term;
    }
    sum * f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Per-interval token counts `[t][l][e]` (interval 0 and the middle one idle)
/// and, for every interval and layer, the popularity CDF used for traces.
struct Loads {
    counts: Vec<u64>,
    /// `[t][l][e]` cumulative popularity (for top-k sampling).
    cdf: Vec<f64>,
}

fn simulate(sh: &Shape, t_n: usize, rng: &mut Rng) -> Loads {
    let (l_n, e_n) = (sh.layers, sh.experts);
    let mut counts = vec![0u64; t_n * l_n * e_n];
    let mut cdf = vec![0.0f64; t_n * l_n * e_n];
    // Tokens per interval: ~300 per rank, varying smoothly; two idle dumps.
    let mut volume = vec![0.0f64; t_n];
    let mut v = 1.0;
    for (t, vol) in volume.iter_mut().enumerate() {
        v = (0.7 * v + 0.3 * (1.0 + 0.35 * rng.gauss())).clamp(0.5, 1.6);
        let idle = t == 0 || (t_n >= 4 && t == t_n / 2);
        *vol = if idle { 0.05 * sh.devices as f64 * rng.unit() } else { 300.0 * sh.devices as f64 * v };
    }
    let mut logp = vec![0.0f64; e_n];
    let mut drift = vec![0.0f64; e_n];
    let mut burst = vec![(0usize, 0.0f64); e_n];
    let mut p = vec![0.0f64; e_n];
    for l in 0..l_n {
        let sigma = 0.9 + 0.4 * rng.unit();
        for e in 0..e_n {
            logp[e] = sigma * rng.gauss();
            drift[e] = 0.17 * rng.gauss();
            burst[e] = (0, 0.0);
        }
        // A few experts per layer are "hot spots" (the Zipf head).
        for _ in 0..(e_n / 64).max(1) {
            let e = (rng.next() % e_n as u64) as usize;
            logp[e] += 0.5 + 0.7 * rng.unit();
        }
        let rho = 0.85;
        let innov = 0.17 * (1.0f64 - rho * rho).sqrt();
        for (t, &vol) in volume.iter().enumerate() {
            let mut tot = 0.0;
            for e in 0..e_n {
                drift[e] = rho * drift[e] + innov * rng.gauss();
                p[e] = det_exp(logp[e] + drift[e]);
                tot += p[e];
            }
            // Bursts: a topic shift makes an expert hot for one to four
            // intervals (it gains 1.5x to 4x the layer's mean popularity).
            let mean_p = tot / e_n as f64;
            for e in 0..e_n {
                if burst[e].0 > 0 {
                    burst[e].0 -= 1;
                } else if rng.unit() < 0.002 {
                    burst[e] = (1 + (rng.next() % 4) as usize, 1.5 + 2.5 * rng.unit());
                } else {
                    burst[e].1 = 0.0;
                }
                if burst[e].1 > 0.0 {
                    p[e] += burst[e].1 * mean_p;
                    tot += burst[e].1 * mean_p;
                }
            }
            let assignments = vol * sh.top_k as f64;
            let base = (t * l_n + l) * e_n;
            let mut acc = 0.0;
            for e in 0..e_n {
                let mu = assignments * p[e] / tot;
                let n = (mu + mu.sqrt() * rng.gauss()).round();
                counts[base + e] = if n > 0.0 { n as u64 } else { 0 };
                acc += p[e];
                cdf[base + e] = acc;
            }
        }
    }
    Loads { counts, cdf }
}

/// `k` distinct experts drawn by popularity from one CDF.
fn sample_topk(cdf: &[f64], k: usize, rng: &mut Rng, out: &mut Vec<usize>) {
    out.clear();
    let total = cdf.last().copied().unwrap_or(0.0);
    let k = k.min(cdf.len());
    let mut tries = 0;
    while out.len() < k {
        let e = if tries < 64 * k && total > 0.0 {
            let u = rng.unit() * total;
            cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
        } else {
            // Fallback (extremely skewed popularity): the lowest unused id.
            (0..cdf.len()).find(|e| !out.contains(e)).unwrap_or(0)
        };
        tries += 1;
        if !out.contains(&e) {
            out.push(e);
        }
    }
}

fn join_row(s: &mut String, vals: impl Iterator<Item = u64>) {
    let mut first = true;
    for v in vals {
        if !first {
            s.push(',');
        }
        first = false;
        let _ = write!(s, "{v}");
    }
    s.push('\n');
}

/// Generate a sample dump for `preset` in `format`. Deterministic per seed.
pub fn generate(preset: Preset, format: SampleFormat, seed: u64) -> Vec<InputFile> {
    generate_shape(preset, &preset.shape(), format, seed)
}

/// [`generate`] with the preset's shape changed (layers, experts, devices,
/// dumps: the cost-growth benchmark of docs/benchmarks.md). The generator's
/// stream depends on the preset and the seed, so the preset's own shape gives
/// exactly [`generate`]'s files. Errors unless the experts split evenly over
/// the devices and the nodes divide the devices.
pub fn generate_custom(preset: Preset, sh: &Shape, format: SampleFormat, seed: u64) -> Result<Vec<InputFile>> {
    if sh.layers == 0 || sh.experts == 0 || sh.devices == 0 || sh.nodes == 0 || sh.dumps == 0 || sh.top_k == 0 {
        return Err(Error::param("sample shape", "layers, experts, NPUs, nodes, dumps and top-k must be at least 1"));
    }
    if sh.experts % sh.devices != 0 {
        return Err(Error::param("--npus", format!("the {} experts must split evenly over the {} NPUs (ranks)", sh.experts, sh.devices)));
    }
    if sh.devices % sh.nodes != 0 {
        return Err(Error::param("--nodes", format!("{} nodes must divide the {} NPUs", sh.nodes, sh.devices)));
    }
    let min_dumps = crate::engine::ingest::series::MIN_SERIES_DUMPS;
    if format == SampleFormat::Series && sh.dumps < min_dumps {
        return Err(Error::param("--dumps", format!("{} dump(s): a time-series dump needs at least {min_dumps} dumps to give intervals", sh.dumps)));
    }
    if sh.top_k > sh.experts {
        return Err(Error::param("sample shape", format!("top-k {} is more than the {} experts", sh.top_k, sh.experts)));
    }
    Ok(generate_shape(preset, sh, format, seed))
}

fn generate_shape(preset: Preset, sh: &Shape, format: SampleFormat, seed: u64) -> Vec<InputFile> {
    let sh = *sh;
    let (l_n, e_n, d_n) = (sh.layers, sh.experts, sh.devices);
    let per = e_n / d_n;
    let t_n = sh.dumps;
    let mut rng = Rng(seed ^ 0xE1B5_7D10_0000_0000 ^ (preset as u64) << 8);
    rng.next();
    let loads = simulate(&sh, t_n, &mut rng);
    let mut files = Vec::new();
    match format {
        SampleFormat::Summed => {
            // Totals over the whole run (the idle dumps add almost nothing).
            let mut sum = vec![0u64; l_n * e_n];
            for block in loads.counts.chunks(l_n * e_n) {
                for (acc, &c) in sum.iter_mut().zip(block) {
                    *acc += c;
                }
            }
            for r in 0..d_n {
                let mut s = String::with_capacity(l_n * per * 8);
                for l in 0..l_n {
                    join_row(&mut s, (r * per..(r + 1) * per).map(|e| sum[l * e_n + e]));
                }
                files.push(InputFile::new(format!("decode_{r}.csv"), s.into_bytes()));
            }
        }
        SampleFormat::Series => {
            let config = format!(
                "{{\n  \"num_moe_layers\": {l_n},\n  \"num_of_experts\": {e_n},\n  \"collection_Interval\": 8,\n  \
                 \"num_of_selected_experts\": [\n    {}\n  ],\n  \"num_dangling_shared_experts\": 0\n}}\n",
                sh.top_k
            );
            files.push(InputFile::new("model_gen_config.json", config.into_bytes()));
            // Cumulative counts, dump after dump.
            let mut cum = vec![0u64; t_n * l_n * e_n];
            let mut run = vec![0u64; l_n * e_n];
            for t in 0..t_n {
                for i in 0..l_n * e_n {
                    run[i] += loads.counts[t * l_n * e_n + i];
                    cum[t * l_n * e_n + i] = run[i];
                }
            }
            let mut pick = Vec::with_capacity(sh.top_k);
            for r in 0..d_n {
                let mut s = String::with_capacity(t_n * l_n * per * 8);
                let mut tk = String::with_capacity(t_n * l_n * sh.top_k * 4);
                for t in 0..t_n {
                    for l in 0..l_n {
                        let base = (t * l_n + l) * e_n;
                        join_row(&mut s, (r * per..(r + 1) * per).map(|e| cum[base + e]));
                        sample_topk(&loads.cdf[base..base + e_n], sh.top_k, &mut rng, &mut pick);
                        join_row(&mut tk, pick.iter().map(|&e| e as u64));
                    }
                }
                files.push(InputFile::new(format!("decode_{r}.csv"), s.into_bytes()));
                files.push(InputFile::new(format!("decode_topk_{r}.csv"), tk.into_bytes()));
            }
        }
    }
    files
}

/// `elb sample --preset small|qwen3|dsv3|kimi|xl --format summed|series [--seed N] -o <dir>`.
#[cfg(not(target_arch = "wasm32"))]
pub fn cli_main(args: &[String]) -> Result<(), Error> {
    let mut preset = None;
    let mut format = SampleFormat::Series;
    let mut seed = 0u64;
    let mut out: Option<String> = None;
    // Shape overrides: --layers, --experts, --npus, --nodes, --dumps.
    let mut shape_flags: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    let value = |i: usize, flag: &str| -> Result<String> {
        args.get(i + 1).cloned().ok_or_else(|| Error::param(flag, "needs a value"))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "--preset" | "-p" => {
                preset = Some(Preset::parse(&value(i, "--preset")?)?);
                i += 2;
            }
            "--format" | "-f" => {
                format = SampleFormat::parse(&value(i, "--format")?)?;
                i += 2;
            }
            "--seed" | "-s" => {
                let v = value(i, "--seed")?;
                seed = v.parse().map_err(|_| Error::param("--seed", format!("must be a non-negative integer, got '{v}'")))?;
                i += 2;
            }
            "-o" | "--out" | "--output" => {
                out = Some(value(i, "-o")?);
                i += 2;
            }
            "--layers" | "--experts" | "--npus" | "--nodes" | "--dumps" => {
                let v = value(i, a)?;
                let n = v.parse().map_err(|_| Error::param(a, format!("must be a positive integer, got '{v}'")))?;
                shape_flags.push((a.to_string(), n));
                i += 2;
            }
            "-h" | "--help" => {
                println!(
                    "elb sample --preset small|qwen3|dsv3|kimi|xl --format summed|series [--seed N] -o <dir>\n\
                     \x20          [--layers L] [--experts E] [--npus D] [--nodes N] [--dumps T]\n\
                     Writes a synthetic hotspot dump (format 1 or 2) into <dir>; the shape flags change\n\
                     the preset's shape (one rank file per NPU; T dumps in the series format)."
                );
                return Ok(());
            }
            other => {
                return Err(Error::param(
                    "sample",
                    format!("unknown argument '{other}'; usage: elb sample --preset P --format summed|series [--seed N] -o DIR"),
                ))
            }
        }
    }
    let preset = preset.ok_or_else(|| Error::param("--preset", format!("is required ({})", Preset::names())))?;
    let out = out.ok_or_else(|| Error::param("-o", "is required: the folder to write the sample into"))?;
    let mut ov = ShapeOverrides::default();
    for (flag, n) in shape_flags {
        let slot = match flag.as_str() {
            "--layers" => &mut ov.layers,
            "--experts" => &mut ov.experts,
            "--npus" => &mut ov.npus,
            "--nodes" => &mut ov.nodes,
            _ => &mut ov.dumps,
        };
        *slot = Some(n);
    }
    eprintln!("{}", write_dump(preset, format, seed, &out, &ov)?);
    Ok(())
}

/// Changes to a preset's shape (`elb sample --layers --experts --npus
/// --nodes --dumps`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShapeOverrides {
    pub layers: Option<usize>,
    pub experts: Option<usize>,
    pub npus: Option<usize>,
    pub nodes: Option<usize>,
    pub dumps: Option<usize>,
}

impl ShapeOverrides {
    pub fn is_empty(&self) -> bool {
        *self == ShapeOverrides::default()
    }
}

/// Write the sample dump into the folder `out` (created if need be); the
/// one-line summary to show, with the suggested cluster flags.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_dump(preset: Preset, format: SampleFormat, seed: u64, out: &str, ov: &ShapeOverrides) -> Result<String, Error> {
    let mut sh = preset.shape();
    sh.layers = ov.layers.unwrap_or(sh.layers);
    sh.experts = ov.experts.unwrap_or(sh.experts);
    sh.devices = ov.npus.unwrap_or(sh.devices);
    sh.nodes = ov.nodes.unwrap_or(sh.nodes);
    sh.dumps = ov.dumps.unwrap_or(sh.dumps);
    // The shape is checked before anything is written: a refused sample
    // leaves no folder behind.
    let files = generate_custom(preset, &sh, format, seed)?;
    let dir = std::path::Path::new(out);
    std::fs::create_dir_all(dir).map_err(|e| Error::file(out, format!("cannot create folder: {e}")))?;
    for f in &files {
        let p = dir.join(&f.path);
        std::fs::write(&p, &f.bytes).map_err(|e| Error::file(p.display().to_string(), format!("cannot write: {e}")))?;
    }
    let c = Cluster { devices: sh.devices, nodes: sh.nodes, redundant: sh.devices, ..Cluster::default() };
    let what = if ov.is_empty() {
        preset.describe()
    } else {
        format!("{} shape changed: {} layers x {} experts on {} NPUs / {} nodes, {} dumps", preset.name(), sh.layers, sh.experts, sh.devices, sh.nodes, sh.dumps)
    };
    Ok(format!(
        "wrote {} files ({}, {} format, seed {seed}) to {out}; suggested cluster: -nn {} -nd {} -nre {}",
        files.len(),
        what,
        format.name(),
        c.devices,
        c.nodes,
        c.redundant
    ))
}
