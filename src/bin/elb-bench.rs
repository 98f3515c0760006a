//! Benchmarks (never timed tests): parse throughput, solve time and balance
//! figures of every algorithm on every fixture and sample preset, and the
//! synthetic dump the browser benchmark drops. See docs/benchmarks.md.
//!
//! ```text
//! elb-bench parse [layers experts ranks dumps]
//! elb-bench solve [--json] [--kimi] [--holdout] [--chunk N] [--case SUBSTR[,=EXACT]] [--algo KEY[,KEY]] [--fixtures DIR] [--wasm FILE]
//! elb-bench synth-dump -o <dir> [layers experts ranks dumps]
//! elb-bench all [--json] [--kimi] [--holdout] [--fixtures DIR] [--wasm FILE]
//! elb-bench holdout [--json] [--case SUBSTR] [--algo KEY[,KEY]] [--fixtures DIR]
//! ```
//!
//! `holdout`: for every time-series fixture and every sample preset (series),
//! each algorithm of the page's Compare list (`algo::catalogue`: al0, al1,
//! al2, al3 and al3 robust, DeepSeek global, FlashLB) fitted on the
//! first 70% of the kept intervals and on the even ones, scored in-sample and
//! on the held-out rest: time-resolved step imbalance and the worst
//! interval's step imbalance (docs/beyond.md).
//!
//! `parse`: ingest throughput of a synthetic time-series dump (default:
//! DeepSeek-V3 size, 58 x 256, 64 ranks, 2000 dumps, about 200 MB).
//! `solve`: for every fixture of `tests/fixtures` and every sample preset
//! (summed and series), each algorithm's wall time and the figures of
//! metrics.md, with the reference tool's figures (fixtures'
//! `expected/<algo>.score.json`, wall times from `params.json`) beside them.
//! `--wasm FILE` adds the browser's wall times (written by
//! `scripts/bench-browser.sh`: `{"<case>|<algo>": ms}`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use elb::engine::ingest::{read_files, synth::synth_series_dump};

/// CPU time of this process in seconds (Linux `/proc/self/stat`, utime +
/// stime at 100 ticks/s), so a busy shared machine does not distort the
/// one-core figure; `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// CPU time of the calling thread in seconds, nanosecond resolution
/// (Linux `/proc/thread-self/schedstat`: time spent running); falls back to
/// [`cpu_seconds`]. The solves are single-threaded, so this is their CPU
/// time, unaffected by other processes on a busy machine.
fn thread_cpu_seconds() -> Option<f64> {
    // The kernel brings a running thread's total up to date only when it is
    // scheduled: yield first, or runs shorter than a tick would read 0.
    std::thread::yield_now();
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat") {
        if let Some(ns) = s
            .split_whitespace()
            .next()
            .and_then(|x| x.parse::<u64>().ok())
        {
            return Some(ns as f64 * 1e-9);
        }
    }
    cpu_seconds()
}

/// Parse-throughput figures (the best of 3 runs).
#[derive(Debug, Clone, Serialize)]
struct ParseFigures {
    layers: usize,
    experts: usize,
    ranks: usize,
    dumps: usize,
    bytes: usize,
    scanner_mb_s: f64,
    best_wall_s: f64,
    best_wall_mb_s: f64,
    best_cpu_s: f64,
    best_cpu_mb_s: f64,
}

/// Text to stdout, or to stderr when stdout carries JSON.
macro_rules! say {
    ($json:expr, $($t:tt)*) => {
        if $json { eprintln!($($t)*) } else { println!($($t)*) }
    };
}

fn bench_parse(args: &[String], json: bool) -> ParseFigures {
    let num = |i: usize, d: usize| {
        args.get(i)
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(d)
    };
    let (layers, experts, ranks, dumps) = (num(0, 58), num(1, 256), num(2, 64), num(3, 2000));
    let t0 = Instant::now();
    let files = synth_series_dump(layers, experts, ranks, dumps, 8, 42);
    let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
    eprintln!(
        "generated {layers} layers x {experts} experts, {ranks} ranks, {dumps} dumps: {:.1} MB in {:.2} s",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let mut cells = 0usize;
    for f in &files[1..] {
        if let Ok(m) = elb::engine::ingest::csv_text::parse_counts(&f.path, &f.bytes) {
            cells += m.data.len();
        }
    }
    let s = t.elapsed().as_secs_f64();
    let scanner_mb_s = bytes as f64 / 1e6 / s;
    say!(
        json,
        "scanner alone: {:.3} s, {:.1} MB/s ({cells} values)",
        s,
        bytes as f64 / 1e6 / s
    );
    let mut best = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for run in 0..3 {
        let t = Instant::now();
        let c0 = cpu_seconds();
        let ds = match read_files(&files) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        let s = t.elapsed().as_secs_f64();
        let cpu = match (c0, cpu_seconds()) {
            (Some(a), Some(b)) if b > a => b - a,
            _ => s,
        };
        best = best.min(s);
        best_cpu = best_cpu.min(cpu);
        let pd = &ds.phases[0];
        say!(json,
            "run {run}: wall {:.3} s = {:.1} MB/s, cpu {:.2} s = {:.1} MB/s ({} intervals kept, {} layers x {} experts)",
            s,
            bytes as f64 / 1e6 / s,
            cpu,
            bytes as f64 / 1e6 / cpu,
            pd.intervals(),
            pd.layers,
            pd.experts
        );
    }
    say!(
        json,
        "parse: {:.1} MB, best wall {:.3} s = {:.1} MB/s, best cpu {:.2} s = {:.1} MB/s (one core)",
        bytes as f64 / 1e6,
        best,
        bytes as f64 / 1e6 / best,
        best_cpu,
        bytes as f64 / 1e6 / best_cpu
    );
    ParseFigures {
        layers,
        experts,
        ranks,
        dumps,
        bytes,
        scanner_mb_s,
        best_wall_s: best,
        best_wall_mb_s: bytes as f64 / 1e6 / best,
        best_cpu_s: best_cpu,
        best_cpu_mb_s: bytes as f64 / 1e6 / best_cpu,
    }
}

// ------------------------------------------------------------------ solve

use elb::engine::algo::solve_all;
use elb::engine::metrics::score;
use elb::engine::sample::{self, Preset, SampleFormat};
use elb::engine::{Algorithm, Cluster, Dataset, DeviceType, Settings};
use serde::Serialize;

/// One algorithm as the benchmark names it (msit's reference file names).
#[derive(Clone)]
struct Algo {
    key: String,
    algorithm: Algorithm,
    device_type: DeviceType,
    /// Level 2 (skipped on kimi unless `--kimi`).
    level2: bool,
}

/// Every algorithm of the catalogue; C2LB twice (`al0-a2`, `al0-a3`).
fn algos() -> Vec<Algo> {
    let mut out = Vec::new();
    for e in &elb::engine::algo::catalogue::CATALOGUE {
        let dts: &[DeviceType] = if e.device_type { &[DeviceType::A2, DeviceType::A3] } else { &[DeviceType::A2] };
        for &dt in dts {
            let key = if e.device_type { format!("{}-{}", e.bench, dt.name()) } else { e.bench.to_string() };
            out.push(Algo { key, algorithm: e.algorithm, device_type: dt, level2: e.slow });
        }
    }
    out
}

/// Figures of one table (ours or the reference tool's).
#[derive(Debug, Clone, Default, Serialize)]
struct Figures {
    /// Wall time in seconds.
    wall_s: Option<f64>,
    step_imbalance: Option<f64>,
    time_resolved_step_imbalance: Option<f64>,
    lower_bound: Option<f64>,
    internode_nodes_per_token: Option<f64>,
    valid: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    case: String,
    algorithm: String,
    /// Why there is no result (parameters rejected, skipped).
    note: Option<String>,
    ours: Figures,
    /// Timed runs (the wall time is the fastest).
    runs: usize,
    /// CPU seconds of the fastest-by-CPU run (the solving thread).
    cpu_s: Option<f64>,
    /// Browser (wasm) wall time, from `--wasm`.
    wasm_s: Option<f64>,
    /// `--holdout` (time-series input): the table fitted on the even-numbered
    /// kept intervals, its time-resolved step imbalance on the odd ones.
    holdout_time_resolved: Option<f64>,
    reference: Option<Figures>,
}

/// One input to solve on.
struct Case {
    name: String,
    /// "58 x 256, 64 NPUs / 8 nodes, top-8, 46 intervals"
    shape: String,
    dataset: Dataset,
    cluster: Cluster,
    /// Fixture folder (reference figures), if any.
    fixture: Option<PathBuf>,
    kimi: bool,
}

fn fixtures_dir(given: Option<&str>) -> PathBuf {
    if let Some(g) = given {
        return PathBuf::from(g);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    root.join("tests/fixtures")
}

fn read_json(path: &Path) -> Option<serde_json::Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

fn shape_of(ds: &Dataset, cluster: &Cluster) -> String {
    let Some(p) = ds.phases.first() else {
        return "no phase".to_string();
    };
    let mut s = format!(
        "{} layers x {} experts, {} NPUs / {} nodes, {} redundant",
        p.layers, p.experts, cluster.devices, cluster.nodes, cluster.redundant
    );
    if let Some(k) = p.top_k {
        s += &format!(", top-{k}");
    }
    if p.series.is_some() {
        s += &format!(", {} intervals kept", p.intervals());
    } else {
        s += ", summed";
    }
    if p.topk_traces.is_some() {
        s += ", top-k traces";
    }
    if p.current.is_some() {
        s += ", current placement";
    }
    s
}

fn fixture_cases(dir: &Path) -> Vec<Case> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        eprintln!(
            "elb-bench: no fixtures at {} (--fixtures DIR)",
            dir.display()
        );
        return out;
    };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("params.json").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let fdir = dir.join(&name);
        let Some(params) = read_json(&fdir.join("params.json")) else {
            continue;
        };
        let num = |k: &str, d: usize| {
            params
                .get(k)
                .and_then(|v| v.as_u64())
                .map_or(d, |v| v as usize)
        };
        let cluster = Cluster {
            devices: num("nn", 64),
            nodes: num("nd", 8),
            redundant: num("nre", 64),
            shared_devices: num("nsed", 0),
            device_type: DeviceType::A2,
        };
        let dataset = match elb::engine::ingest::folders::read_folders(&fdir.join("input").to_string_lossy()) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("elb-bench: {name}: {e}");
                continue;
            }
        };
        let shape = shape_of(&dataset, &cluster);
        out.push(Case {
            name,
            shape,
            dataset,
            cluster,
            fixture: Some(fdir),
            kimi: false,
        });
    }
    out
}

fn preset_cases() -> Vec<Case> {
    let mut out = Vec::new();
    for preset in Preset::ALL {
        for format in [SampleFormat::Summed, SampleFormat::Series] {
            let files = sample::generate(preset, format, 0);
            let dataset = match read_files(&files) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("elb-bench: sample {} {}: {e}", preset.name(), format.name());
                    continue;
                }
            };
            let cluster = sample::cluster_for(preset);
            let shape = shape_of(&dataset, &cluster);
            out.push(Case {
                name: format!("sample-{}-{}", preset.name(), format.name()),
                shape,
                dataset,
                cluster,
                fixture: None,
                kimi: preset == Preset::Kimi,
            });
        }
    }
    out
}

/// The reference tool's figures for `key` (`al0-a2`, ..., `before`).
fn reference(fixture: &Path, key: &str, has_current: bool) -> Option<Figures> {
    let file = if key == "before" {
        if has_current {
            "before-current"
        } else {
            "before-default"
        }
    } else {
        key
    };
    let s = read_json(&fixture.join("expected").join(format!("{file}.score.json")))?;
    let m = s.get("metrics")?;
    let f = |k: &str| m.get(k).and_then(|v| v.as_f64());
    let params = read_json(&fixture.join("params.json"));
    let wall = params.as_ref().and_then(|p| {
        p.get("reference_runs")?
            .get(if key == "before" {
                "before-default"
            } else {
                key
            })?
            .get("wall_s_reference_tool")?
            .as_f64()
    });
    Some(Figures {
        wall_s: wall,
        step_imbalance: f("static_step_ratio"),
        time_resolved_step_imbalance: f("ts_total_step_ratio"),
        lower_bound: f("lb_static_step_ratio"),
        internode_nodes_per_token: f("internode_mean_nodes_per_token"),
        valid: s.get("valid").and_then(|v| v.as_bool()),
    })
}

/// Expert groups for DeepSeek EPLB hierarchical: 8 (DeepSeek-V3) when the
/// shape allows, else one group per node.
fn groups_for(experts: usize, nodes: usize) -> usize {
    if experts % 8 == 0 && nodes > 0 && 8 % nodes == 0 {
        8
    } else {
        nodes.max(1)
    }
}

struct SolveOpts {
    /// Solve in ranges of this many layers (as the page's workers do).
    chunk: Option<usize>,
    holdout: bool,
    kimi: bool,
    case_filter: Option<String>,
    algo_filter: Option<Vec<String>>,
    wasm: BTreeMap<String, f64>,
}

fn bench_case(case: &Case, opts: &SolveOpts, rows: &mut Vec<Row>) {
    let Some(data) = case.dataset.phases.first() else {
        return;
    };
    let has_current = data.current.is_some();
    let reference_of = |key: &str| {
        case.fixture
            .as_deref()
            .and_then(|f| reference(f, key, has_current))
    };
    // The "before" placement.
    if opts
        .algo_filter
        .as_ref()
        .is_none_or(|a| a.iter().any(|x| x == "before"))
    {
        let (before, source) = match elb::engine::before::before(&case.dataset, data, &case.cluster, None) {
            Ok(b) => (b.placement, b.label),
            Err(e) => (elb::engine::before::default_layout(data, &case.cluster).placement, format!("default layout (current placement not used: {e})")),
        };
        let s = score(data, &before, &case.cluster);
        rows.push(Row {
            case: case.name.clone(),
            algorithm: "before".to_string(),
            note: Some(source),
            ours: Figures {
                wall_s: None,
                step_imbalance: Some(s.step_imbalance),
                time_resolved_step_imbalance: s.time_resolved_step_imbalance,
                lower_bound: Some(s.lower_bound),
                internode_nodes_per_token: s.internode_nodes_per_token,
                valid: Some(s.valid),
            },
            runs: 0,
            cpu_s: None,
            wasm_s: None,
            holdout_time_resolved: None,
            reference: reference_of("before"),
        });
    }
    for a in algos() {
        if let Some(f) = &opts.algo_filter {
            if !f.contains(&a.key) {
                continue;
            }
        }
        let mut row = Row {
            case: case.name.clone(),
            algorithm: a.key.to_string(),
            note: None,
            ours: Figures::default(),
            runs: 0,
            cpu_s: None,
            wasm_s: opts
                .wasm
                .get(&format!("{}|{}", case.name, a.key))
                .map(|ms| ms / 1000.0),
            holdout_time_resolved: None,
            reference: reference_of(&a.key),
        };
        if case.kimi && a.level2 && !opts.kimi {
            row.note = Some("skipped (level 2 on kimi: pass --kimi)".to_string());
            rows.push(row);
            continue;
        }
        let mut cluster = case.cluster;
        cluster.device_type = a.device_type;
        let settings = Settings {
            cluster,
            algorithm: a.algorithm,
            msit_compat: false,
            seed: 0,
            groups: a.algorithm.entry().groups
                .then(|| groups_for(data.experts, cluster.nodes)),
            holdout: false,
            ..Settings::default()
        };
        // Fastest of up to 5 runs while the runs so far took under 1 s.
        let mut best = f64::INFINITY;
        let mut best_cpu = f64::INFINITY;
        let mut result = None;
        let mut spent = 0.0;
        while row.runs < 5 && (row.runs == 0 || spent < 1.0) {
            // One thread: the solving thread's CPU (ns resolution); more:
            // the process's (all threads, 10 ms ticks).
            let parallel = elb::engine::par::threads() > 1;
            let c0 = if parallel { cpu_seconds() } else { thread_cpu_seconds() };
            let t = Instant::now();
            let r = match opts.chunk {
                None => solve_all(data, &settings, &mut |_| true),
                Some(n) => solve_chunked(data, &settings, n),
            };
            let s = t.elapsed().as_secs_f64();
            let cpu = match (c0, if parallel { cpu_seconds() } else { thread_cpu_seconds() }) {
                (Some(a), Some(b)) => b - a,
                _ => s,
            };
            row.runs += 1;
            spent += s;
            best = best.min(s);
            best_cpu = best_cpu.min(cpu);
            match r {
                Ok((p, sol)) => result = Some((p, sol)),
                Err(e) => {
                    row.note = Some(e.to_string());
                    result = None;
                    break;
                }
            }
        }
        if let Some((placement, sol)) = result {
            let s = score(data, &placement, &cluster);
            row.ours = Figures {
                wall_s: Some(best),
                step_imbalance: Some(s.step_imbalance),
                time_resolved_step_imbalance: s.time_resolved_step_imbalance,
                lower_bound: Some(s.lower_bound),
                internode_nodes_per_token: s.internode_nodes_per_token,
                valid: Some(s.valid),
            };
            row.cpu_s = Some(best_cpu);
            if opts.holdout {
                if let Some((fit, eval)) = split_even_odd(data) {
                    match solve_all(&fit, &settings, &mut |_| true) {
                        Ok((p, _)) => {
                            row.holdout_time_resolved =
                                score(&eval, &p, &cluster).time_resolved_step_imbalance
                        }
                        Err(e) => {
                            eprintln!("  {} {}: hold-out solve failed: {e}", case.name, a.key)
                        }
                    }
                }
            }
            if a.algorithm.entry().groups {
                row.note = settings.groups.map(|g| format!("{g} groups"));
            }
            if !sol.reference_invalid_layers.is_empty() {
                let n = sol.reference_invalid_layers.len();
                let m = format!("reference-identical table invalid on {n} layer(s), repaired");
                row.note = Some(match row.note.take() {
                    Some(x) => format!("{x}; {m}"),
                    None => m,
                });
            }
        } else {
            row.runs = 0;
        }
        eprintln!(
            "  {:<28} {:<16} {}",
            case.name,
            a.key,
            match (&row.ours.wall_s, &row.note) {
                (Some(w), _) => format!(
                    "{w:.3} s, step {:.4}",
                    row.ours.step_imbalance.unwrap_or(f64::NAN)
                ),
                (None, Some(n)) => n.clone(),
                _ => String::new(),
            }
        );
        rows.push(row);
    }
}

/// Solve in ranges of `n` layers, one `algo::solve` call each (what the
/// page's workers do), and put the table together.
fn solve_chunked(
    data: &elb::engine::PhaseData,
    settings: &Settings,
    n: usize,
) -> elb::engine::Result<(elb::engine::Placement, elb::engine::algo::Solution)> {
    let mut all = elb::engine::algo::Solution { layers: Vec::new(), warnings: Vec::new(), reference_invalid_layers: Vec::new() };
    let mut s = 0;
    while s < data.layers {
        let e = (s + n).min(data.layers);
        let part = elb::engine::algo::solve(data, settings, s..e, &mut |_| true)?;
        all.layers.extend(part.layers);
        all.warnings.extend(part.warnings);
        all.reference_invalid_layers.extend(part.reference_invalid_layers);
        s = e;
    }
    Ok((elb::engine::Placement { layers: all.layers.clone() }, all))
}

/// The phase restricted to the even-numbered kept intervals (to fit on) and
/// to the odd-numbered ones (to evaluate on); `None` for summed input or
/// fewer than 2 intervals. Every algorithm sees only the even intervals
/// (C2LB's loads become their sum too), so the comparison is fair.
fn split_even_odd(
    data: &elb::engine::PhaseData,
) -> Option<(elb::engine::PhaseData, elb::engine::PhaseData)> {
    use elb::engine::Series;
    let s = data.series.as_ref()?;
    if s.intervals < 2 {
        return None;
    }
    let part = |parity: usize| {
        let ts: Vec<usize> = (0..s.intervals).filter(|t| t % 2 == parity).collect();
        let mut out = Series::new(s.layers, s.experts, ts.len());
        for l in 0..s.layers {
            for e in 0..s.experts {
                for (j, &t) in ts.iter().enumerate() {
                    out.data[(l * s.experts + e) * ts.len() + j] = s.get(l, e, t);
                }
            }
        }
        let mut d = data.clone();
        d.summed = out.summed();
        d.c2lb_loads = d.summed.clone();
        d.series = Some(out);
        d
    };
    Some((part(0), part(1)))
}

fn fmt_ratio(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.4}"))
}

fn fmt_nodes(v: Option<f64>) -> String {
    v.map_or("–".to_string(), |x| format!("{x:.3}"))
}

fn fmt_secs(v: Option<f64>) -> String {
    match v {
        None => "–".to_string(),
        Some(s) if s < 0.001 => format!("{:.0} µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1} ms", s * 1e3),
        Some(s) => format!("{s:.2} s"),
    }
}

fn fmt_valid(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "**no**",
        None => "–",
    }
}

fn markdown(
    cases: &[(String, String)],
    rows: &[Row],
    with_wasm: bool,
    with_holdout: bool,
) -> String {
    let mut out = String::new();
    for (name, shape) in cases {
        let rs: Vec<&Row> = rows.iter().filter(|r| &r.case == name).collect();
        if rs.is_empty() {
            continue;
        }
        let has_ref = rs.iter().any(|r| r.reference.is_some());
        let with_wasm = with_wasm && rs.iter().any(|r| r.wasm_s.is_some());
        out += &format!("\n#### {name}\n\n{shape}\n\n");
        let mut head = vec!["algorithm", "CPU (native)", "wall (native)"];
        if with_wasm {
            head.push("wall (wasm)");
        }
        head.extend(["step imb.", "time-resolved"]);
        let holdout = with_holdout && rs.iter().any(|r| r.holdout_time_resolved.is_some());
        if holdout {
            head.push("held-out TR");
        }
        head.extend(["lower bound", "inter-node", "valid"]);
        if has_ref {
            head.extend([
                "ref wall",
                "ref step",
                "ref time-res.",
                "ref LB",
                "ref inter-node",
                "ref valid",
            ]);
        }
        head.push("note");
        out += &format!(
            "| {} |\n|{}\n",
            head.join(" | "),
            " --- |".repeat(head.len())
        );
        for r in rs {
            let mut c = vec![
                r.algorithm.clone(),
                fmt_secs(r.cpu_s),
                fmt_secs(r.ours.wall_s),
            ];
            if with_wasm {
                c.push(fmt_secs(r.wasm_s));
            }
            c.extend([
                fmt_ratio(r.ours.step_imbalance),
                fmt_ratio(r.ours.time_resolved_step_imbalance),
            ]);
            if holdout {
                c.push(fmt_ratio(r.holdout_time_resolved));
            }
            c.extend([
                fmt_ratio(r.ours.lower_bound),
                fmt_nodes(r.ours.internode_nodes_per_token),
                fmt_valid(r.ours.valid).to_string(),
            ]);
            if has_ref {
                match &r.reference {
                    Some(f) => c.extend([
                        f.wall_s.map_or("–".to_string(), |w| format!("{w:.2} s")),
                        fmt_ratio(f.step_imbalance),
                        fmt_ratio(f.time_resolved_step_imbalance),
                        fmt_ratio(f.lower_bound),
                        fmt_nodes(f.internode_nodes_per_token),
                        fmt_valid(f.valid).to_string(),
                    ]),
                    None => c.extend(std::iter::repeat_n("–".to_string(), 6)),
                }
            }
            c.push(r.note.clone().unwrap_or_default().replace('|', "/"));
            out += &format!("| {} |\n", c.join(" | "));
        }
    }
    out
}

#[derive(Clone)]
struct Args {
    chunk: Option<usize>,
    json: bool,
    holdout: bool,
    kimi: bool,
    case: Option<String>,
    algo: Option<Vec<String>>,
    fixtures: Option<String>,
    wasm: Option<String>,
    out: Option<String>,
    /// `--threads N`: run on a pool of N threads (0 = all cores).
    threads: Option<usize>,
    /// `threads` / `growth`: `--threads-list 1,2,4`.
    threads_list: Option<Vec<usize>>,
    /// `threads`: rounds per thread count.
    runs: Option<usize>,
    rest: Vec<String>,
}

fn parse_args(args: &[String]) -> Args {
    let mut a = Args {
        chunk: None,
        json: false,
        holdout: false,
        kimi: false,
        case: None,
        algo: None,
        fixtures: None,
        wasm: None,
        out: None,
        threads: None,
        threads_list: None,
        runs: None,
        rest: Vec::new(),
    };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned();
        match args[i].as_str() {
            "--json" => a.json = true,
            "--kimi" => a.kimi = true,
            "--holdout" => a.holdout = true,
            "--case" => {
                a.case = v;
                i += 1;
            }
            "--algo" => {
                a.algo = v.map(|s| s.split(',').map(str::to_string).collect());
                i += 1;
            }
            "--chunk" => {
                a.chunk = v.and_then(|x| x.parse().ok()).filter(|&n: &usize| n > 0);
                i += 1;
            }
            "--fixtures" => {
                a.fixtures = v;
                i += 1;
            }
            "--wasm" => {
                a.wasm = v;
                i += 1;
            }
            "-o" | "--out" => {
                a.out = v;
                i += 1;
            }
            "--threads" => {
                a.threads = v.and_then(|x| x.parse().ok());
                i += 1;
            }
            "--threads-list" => {
                a.threads_list = v.map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).filter(|&n: &usize| n > 0).collect());
                i += 1;
            }
            "--runs" => {
                a.runs = v.and_then(|x| x.parse().ok());
                i += 1;
            }
            other => a.rest.push(other.to_string()),
        }
        i += 1;
    }
    a
}

/// Run the solve benchmark; prints Markdown (or JSON with `--json`) unless
/// `quiet` (then the caller prints).
fn bench_solve(a: &Args, quiet: bool) -> Vec<Row> {
    let mut wasm = BTreeMap::new();
    if let Some(w) = &a.wasm {
        match read_json(Path::new(w)) {
            Some(serde_json::Value::Object(mut m)) => {
                // bench-browser.sh writes {"measured_at", ..., "results": {...}}.
                if let Some(serde_json::Value::Object(r)) = m.remove("results") {
                    m = r;
                }
                for (k, v) in m {
                    if let Some(ms) = v.as_f64() {
                        wasm.insert(k, ms);
                    }
                }
            }
            _ => eprintln!(
                "elb-bench: cannot read {w} (expected {{\"<case>|<algo>\": ms}}); no wasm column"
            ),
        }
    }
    let opts = SolveOpts {
        chunk: a.chunk,
        holdout: a.holdout,
        kimi: a.kimi,
        case_filter: a.case.clone(),
        algo_filter: a.algo.clone(),
        wasm,
    };
    let t0 = Instant::now();
    let mut cases = fixture_cases(&fixtures_dir(a.fixtures.as_deref()));
    cases.extend(preset_cases());
    eprintln!(
        "loaded {} cases in {:.1} s",
        cases.len(),
        t0.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for case in &cases {
        if let Some(f) = &opts.case_filter {
            // Comma-separated; `=name` matches exactly, anything else as a substring.
            let hit = f.split(',').any(|p| match p.strip_prefix('=') {
                Some(exact) => case.name == exact,
                None => case.name.contains(p),
            });
            if !hit {
                continue;
            }
        }
        names.push((case.name.clone(), case.shape.clone()));
        bench_case(case, &opts, &mut rows);
    }
    eprintln!(
        "solve benchmark: {:.1} s in all",
        t0.elapsed().as_secs_f64()
    );
    if quiet {
        return rows;
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        println!(
            "CPU and wall times: fastest of up to 5 runs of the solve on {} thread(s) (CPU = time the solving threads ran, \
             unaffected by other load on the machine; wall includes waiting for a core). Figures of docs/metrics.md; \
             \"ref\" = the reference tool (msit elb) on the fixture, from expected/<algo>.score.json and params.json.",
            elb::engine::par::threads()
        );
        if opts.holdout {
            println!(
                "\"held-out TR\": the table fitted on the even-numbered kept intervals, its time-resolved step imbalance on the odd ones."
            );
        }
        print!(
            "{}",
            markdown(&names, &rows, !opts.wasm.is_empty(), opts.holdout)
        );
    }
    rows
}

/// `synth-dump -o <dir> [layers experts ranks dumps]`: write the synthetic
/// time-series dump the parse benchmark reads, for the browser benchmark.
fn synth_dump(a: &Args) {
    let Some(out) = &a.out else {
        eprintln!("usage: elb-bench synth-dump -o <dir> [layers experts ranks dumps]");
        std::process::exit(2);
    };
    let num = |i: usize, d: usize| {
        a.rest
            .get(i)
            .and_then(|s| s.parse::<usize>().ok())
            .unwrap_or(d)
    };
    let (layers, experts, ranks, dumps) = (num(0, 58), num(1, 256), num(2, 64), num(3, 2000));
    let files = synth_series_dump(layers, experts, ranks, dumps, 8, 42);
    let dir = Path::new(out);
    let mut bytes = 0usize;
    for f in &files {
        let rel = f.path.strip_prefix("dump/").unwrap_or(&f.path);
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            if let Err(e) = std::fs::create_dir_all(parent) {
                eprintln!("elb-bench: cannot create {}: {e}", parent.display());
                std::process::exit(1);
            }
        }
        if let Err(e) = std::fs::write(&p, &f.bytes) {
            eprintln!("elb-bench: cannot write {}: {e}", p.display());
            std::process::exit(1);
        }
        bytes += f.bytes.len();
    }
    println!(
        "{} files, {bytes} bytes ({:.1} MB) in {}",
        files.len(),
        bytes as f64 / 1e6,
        dir.display()
    );
}

const USAGE: &str = "usage: elb-bench parse [layers experts ranks dumps]
       elb-bench solve [--json] [--kimi] [--holdout] [--chunk N] [--case SUBSTR[,=EXACT]] [--algo KEY[,KEY]] [--fixtures DIR] [--wasm FILE]
       elb-bench synth-dump -o <dir> [layers experts ranks dumps]
       elb-bench all [--json] [--kimi] [--holdout] [--fixtures DIR] [--wasm FILE]
       elb-bench holdout [--json] [--case SUBSTR] [--algo al0,al1,al3,al3-robust,deepseek-global] [--fixtures DIR]
       elb-bench threads [--case SUBSTR[,=EXACT]] [--algo KEY[,KEY]] [--threads-list 1,2] [--runs 3]
       elb-bench growth [--algo KEY] [--threads-list 1,2]
every command: [--threads N] solves on N threads (default: all cores, or RAYON_NUM_THREADS)
algorithm keys: before, al0-a2, al0-a3, al1, al2, al3, al4, al5, deepseek-global, deepseek-hier";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let a = parse_args(args.get(2..).unwrap_or(&[]));
    match a.threads {
        Some(n) => {
            if let Err(e) = elb::engine::par::with_threads(n, || run(&args, &a)) {
                eprintln!("elb-bench: {e}");
                std::process::exit(2);
            }
        }
        None => run(&args, &a),
    }
}

fn run(args: &[String], a: &Args) {
    let a = a.clone();
    match args.get(1).map(|s| s.as_str()) {
        Some("threads") => threads_report(&a),
        Some("growth") => growth_report(&a),
        Some("parse") => {
            let f = bench_parse(&a.rest, a.json);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
            }
        }
        Some("solve") => {
            bench_solve(&a, false);
        }
        Some("synth-dump") => synth_dump(&a),
        Some("holdout") => holdout_report(&a),
        Some("all") => {
            let t = Instant::now();
            if !a.json {
                println!("## Parse throughput\n\n```");
            }
            let parse = bench_parse(&[], a.json);
            if !a.json {
                println!("```\n\n## Solve\n");
            }
            let solve = bench_solve(
                &Args {
                    json: false,
                    ..a.clone()
                },
                a.json,
            );
            if a.json {
                let v = serde_json::json!({ "parse": parse, "solve": solve });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("elb-bench all: {:.1} s", t.elapsed().as_secs_f64());
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// One line of the held-out report.
#[derive(Debug, Clone, Serialize)]
struct HoldoutRow {
    case: String,
    algo: String,
    /// "70%" (chronological) or "even/odd".
    split: String,
    fit_intervals: usize,
    eval_intervals: usize,
    in_sample: f64,
    held_out: f64,
    /// `held_out / in_sample - 1`.
    diff: f64,
    /// Largest per-interval step imbalance, in-sample and held-out.
    worst_in_sample: f64,
    worst_held_out: f64,
    /// Mean over layers of each layer's worst interval, in-sample and held-out.
    layer_worst_in_sample: f64,
    layer_worst_held_out: f64,
    valid: bool,
    seconds: f64,
}

/// `elb-bench holdout`: see the module docs.
fn holdout_report(a: &Args) {
    use elb::engine::holdout;
    let mut cases: Vec<(String, Dataset, Cluster)> = Vec::new();
    for c in fixture_cases(&fixtures_dir(a.fixtures.as_deref())) {
        if c.dataset.phases.first().is_some_and(|p| p.series.is_some()) {
            cases.push((c.name, c.dataset, c.cluster));
        }
    }
    for preset in Preset::ALL {
        let files = sample::generate(preset, SampleFormat::Series, 0);
        match read_files(&files) {
            Ok(d) => cases.push((format!("sample {}", preset.name()), d, sample::cluster_for(preset))),
            Err(e) => eprintln!("elb-bench: sample {}: {e}", preset.name()),
        }
    }
    // The algorithms of the page's Compare panel, and the robust variant of those that have one.
    let mut algos: Vec<(String, Algorithm, bool)> = Vec::new();
    for e in elb::engine::algo::catalogue::compared() {
        algos.push((e.bench.to_string(), e.algorithm, false));
        if e.robust {
            algos.push((format!("{}-robust", e.bench), e.algorithm, true));
        }
    }
    let mut rows = Vec::new();
    for (name, ds, cluster) in &cases {
        if a.case.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let Some(data) = ds.phases.first() else { continue };
        let splits = [("70%", holdout::split(data, holdout::DEFAULT_FIT_FRACTION)), ("even/odd", holdout::split_even_odd(data))];
        for (key, algorithm, robust) in algos.iter().cloned() {
            if a.algo.as_ref().is_some_and(|f| !f.contains(&key)) {
                continue;
            }
            let settings = Settings { cluster: *cluster, algorithm, robust, ..Settings::default() };
            for (split, parts) in &splits {
                let (fit, eval) = match parts {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("elb-bench: {name}: {e}");
                        continue;
                    }
                };
                let t0 = Instant::now();
                // ELB_ROBUST_SQ / ELB_ROBUST_THR: explore the robust knobs.
                let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
                let solved = if robust && (env("ELB_ROBUST_SQ").is_some() || env("ELB_ROBUST_THR").is_some()) {
                    let d = elb::engine::algo::level2::Knobs::default();
                    let knobs = elb::engine::algo::level2::Knobs {
                        robust_squarings: env("ELB_ROBUST_SQ").map_or(d.robust_squarings, |v| v as u32),
                        robust_threshold: env("ELB_ROBUST_THR").unwrap_or(d.robust_threshold),
                        ..d
                    };
                    elb::engine::algo::level2::solve_layers_with(fit, &settings, 0..fit.layers, &mut |_| true, &knobs)
                        .map(|s| (elb::engine::Placement { layers: s.layers }, ()))
                } else {
                    solve_all(fit, &settings, &mut |_| true).map(|(p, _)| (p, ()))
                };
                let placement = match solved {
                    Ok((p, _)) => p,
                    Err(e) => {
                        eprintln!("elb-bench: {name} {key} {split}: {e}");
                        continue;
                    }
                };
                let seconds = t0.elapsed().as_secs_f64();
                let fs = score(fit, &placement, cluster);
                let es = score(eval, &placement, cluster);
                let wf = holdout::worst_interval(fit, &placement);
                let we = holdout::worst_interval(eval, &placement);
                let in_sample = fs.time_resolved_step_imbalance.unwrap_or(fs.step_imbalance);
                let held_out = es.time_resolved_step_imbalance.unwrap_or(es.step_imbalance);
                let row = HoldoutRow {
                    case: name.clone(),
                    algo: key.to_string(),
                    split: split.to_string(),
                    fit_intervals: fit.intervals(),
                    eval_intervals: eval.intervals(),
                    in_sample,
                    held_out,
                    diff: held_out / in_sample - 1.0,
                    worst_in_sample: wf.model,
                    worst_held_out: we.model,
                    layer_worst_in_sample: wf.mean_layer,
                    layer_worst_held_out: we.mean_layer,
                    valid: fs.valid,
                    seconds,
                };
                eprintln!(
                    "{} | {} | {} | {:.4} | {:.4} | {:+.1}% | worst {:.4} / {:.4} | layer worst {:.4} / {:.4} | {:.1} s",
                    row.case,
                    row.algo,
                    row.split,
                    row.in_sample,
                    row.held_out,
                    row.diff * 100.0,
                    row.worst_in_sample,
                    row.worst_held_out,
                    row.layer_worst_in_sample,
                    row.layer_worst_held_out,
                    row.seconds
                );
                rows.push(row);
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
        return;
    }
    println!("| input | algorithm | split (fit / held-out intervals) | in-sample | held-out | diff | worst interval in-sample | held-out | layers' worst interval in-sample | held-out | valid | fit s |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {} | {} ({} / {}) | {:.4} | {:.4} | {:+.1}% | {:.4} | {:.4} | {:.4} | {:.4} | {} | {:.1} |",
            r.case,
            r.algo,
            r.split,
            r.fit_intervals,
            r.eval_intervals,
            r.in_sample,
            r.held_out,
            r.diff * 100.0,
            r.worst_in_sample,
            r.worst_held_out,
            r.layer_worst_in_sample,
            r.layer_worst_held_out,
            if r.valid { "yes" } else { "no" },
            r.seconds
        );
    }
}

// ------------------------------------------------------------------ threads

/// The 1-minute load average (`/proc/loadavg`), for beside absolute times.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".to_string())
}

/// The thread counts to compare: `--threads-list`, else 1, 2 and all cores.
fn thread_list(a: &Args) -> Vec<usize> {
    if let Some(l) = &a.threads_list {
        return l.clone();
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v = vec![1, 2];
    if cores > 2 {
        v.push(cores);
    }
    v
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 }
}

/// Run time so far of every thread of this process, ns (Linux
/// `/proc/self/task/*/schedstat`; empty elsewhere).
fn task_cpu_ns() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else { return out };
    for e in rd.flatten() {
        let tid = e.file_name().to_string_lossy().into_owned();
        if let Ok(s) = std::fs::read_to_string(e.path().join("schedstat")) {
            if let Some(ns) = s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()) {
                out.insert(tid, ns);
            }
        }
    }
    out
}

/// One timed solve.
struct Timed {
    wall: f64,
    /// CPU of the whole process (all threads).
    cpu: f64,
    /// CPU of the busiest thread: what the solve takes on an idle machine
    /// with a core per thread (the other threads run beside it), whatever
    /// the load of a shared machine does to the wall time.
    busiest: f64,
    table: Option<elb::engine::Placement>,
}

/// One solve of `data` on a pool of `threads` threads (its threads are
/// started before the clock starts).
fn timed_solve(threads: usize, data: &elb::engine::PhaseData, settings: &Settings) -> Timed {
    let r = elb::engine::par::with_threads(threads, || {
        std::thread::yield_now();
        let t0 = task_cpu_ns();
        let c0 = cpu_seconds();
        let t = Instant::now();
        let r = solve_all(data, settings, &mut |_| true);
        let wall = t.elapsed().as_secs_f64();
        let cpu = match (c0, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => f64::NAN,
        };
        std::thread::yield_now();
        let t1 = task_cpu_ns();
        let busiest = t1.iter().map(|(tid, &ns)| ns.saturating_sub(t0.get(tid).copied().unwrap_or(0))).max().map_or(f64::NAN, |ns| ns as f64 * 1e-9);
        Timed { wall, cpu, busiest, table: r.ok().map(|(p, _)| p) }
    });
    r.unwrap_or(Timed { wall: f64::NAN, cpu: f64::NAN, busiest: f64::NAN, table: None })
}

/// Per (case, algorithm): every thread count of `thread_list` in turn,
/// `--runs` rounds (1, 2, ... threads, then again), so the ratios come from
/// one run under the same load. Prints medians and the ratio to 1 thread,
/// and checks that every table equals the 1-thread one.
fn threads_report(a: &Args) {
    let threads = thread_list(a);
    let runs = a.runs.unwrap_or(3).max(1);
    let pools = threads.clone();
    let case_filter = a.case.clone().unwrap_or_else(|| "=dsv3-series,=sample-kimi-series".to_string());
    let algos = a.algo.clone().unwrap_or_else(|| vec!["al3".to_string()]);
    let mut cases = fixture_cases(&fixtures_dir(a.fixtures.as_deref()));
    cases.extend(preset_cases());
    println!(
        "| input | algorithm | threads | wall (median of {runs}) | wall / 1 thread | CPU, all threads | CPU / 1 thread | busiest thread's CPU | busiest / 1 thread | same table | load (1 min) before / after |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for case in &cases {
        let hit = case_filter.split(',').any(|p| match p.strip_prefix('=') {
            Some(exact) => case.name == exact,
            None => case.name.contains(p),
        });
        let Some(data) = case.dataset.phases.first() else { continue };
        if !hit {
            continue;
        }
        let catalogue = self::algos();
        for key in &algos {
            let Some(al) = catalogue.iter().find(|x| &x.key == key) else {
                eprintln!("elb-bench: unknown algorithm key {key}");
                continue;
            };
            let mut cluster = case.cluster;
            cluster.device_type = al.device_type;
            let settings = Settings {
                cluster,
                algorithm: al.algorithm,
                groups: (al.algorithm == Algorithm::DeepseekHierarchical).then(|| groups_for(data.experts, cluster.nodes)),
                ..Settings::default()
            };
            let load0 = load_average();
            let mut walls = vec![Vec::new(); threads.len()];
            let mut cpus = vec![Vec::new(); threads.len()];
            let mut busy = vec![Vec::new(); threads.len()];
            // The table of the first solve (the first thread count, first round).
            let mut reference: Option<elb::engine::Placement> = None;
            let mut same = vec![true; threads.len()];
            for _ in 0..runs {
                for (i, pool) in pools.iter().enumerate() {
                    let Timed { wall: w, cpu: c, busiest: b, table: p } = timed_solve(*pool, data, &settings);
                    eprintln!("  {} {} {} threads: {w:.2} s wall, {c:.2} s CPU, busiest thread {b:.2} s (load {})", case.name, key, threads[i], load_average());
                    walls[i].push(w);
                    cpus[i].push(c);
                    busy[i].push(b);
                    match (&reference, p) {
                        (None, Some(p)) => reference = Some(p),
                        (Some(r), Some(p)) => same[i] &= *r == p,
                        (_, None) => same[i] = false,
                    }
                }
            }
            let load1 = load_average();
            let w1 = median(&mut walls[0].clone());
            let c1 = median(&mut cpus[0].clone());
            let b1 = median(&mut busy[0].clone());
            for i in 0..threads.len() {
                let w = median(&mut walls[i]);
                let c = median(&mut cpus[i]);
                let b = median(&mut busy[i]);
                println!(
                    "| {} | {} | {} | {w:.2} s | {:.2}x | {c:.2} s | {:.2}x | {b:.2} s | {:.2}x | {} | {load0} / {load1} |",
                    case.name,
                    key,
                    threads[i],
                    w / w1,
                    c / c1,
                    b / b1,
                    if same[i] { "yes" } else { "**no**" }
                );
            }
        }
    }
}

/// `growth`: level 2's cost over layers x experts x NPUs x intervals, on
/// `elb sample` shapes (the dsv3 preset with one dimension changed at a
/// time, then the presets themselves), on 1 and 2 threads.
fn growth_report(a: &Args) {
    use elb::engine::sample::{cluster_for, generate_custom, Shape};
    let threads = a.threads_list.clone().unwrap_or_else(|| vec![1, 2]);
    let pools = threads.clone();
    let base = Shape { layers: 16, ..Preset::Dsv3.shape() };
    let mut shapes: Vec<(Preset, Shape)> = Vec::new();
    for layers in [8, 16, 32] {
        shapes.push((Preset::Dsv3, Shape { layers, ..base }));
    }
    for experts in [128, 512] {
        shapes.push((Preset::Dsv3, Shape { experts, ..base }));
    }
    for devices in [32, 128] {
        shapes.push((Preset::Dsv3, Shape { devices, nodes: devices / 8, ..base }));
    }
    for dumps in [24, 96] {
        shapes.push((Preset::Dsv3, Shape { dumps, ..base }));
    }
    if !a.json {
        for p in [Preset::Qwen3, Preset::Dsv3, Preset::Kimi] {
            shapes.push((p, p.shape()));
        }
    }
    let algo = a.algo.as_ref().and_then(|v| v.first().cloned()).unwrap_or_else(|| "al3".to_string());
    let catalogue = algos();
    let Some(al) = catalogue.iter().find(|x| x.key == algo) else {
        eprintln!("elb-bench: unknown algorithm key {algo}");
        return;
    };
    let mut head = "| preset | layers | experts | NPUs | intervals | moves / layer x runs | CPU, 1 thread | CPU / layer".to_string();
    for t in &threads[1..] {
        head += &format!(" | busiest thread's CPU, {t} threads");
    }
    for t in &threads {
        head += &format!(" | wall, {t} thr.");
    }
    head += " | load before / after |";
    println!("{head}");
    println!("{}", vec!["---"; 9 + 2 * threads.len() - 1].iter().fold(String::from("|"), |s, x| s + " " + x + " |"));
    for (preset, sh) in shapes {
        let files = match generate_custom(preset, &sh, SampleFormat::Series, 0) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("elb-bench: {e}");
                continue;
            }
        };
        let ds = match read_files(&files) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("elb-bench: {e}");
                continue;
            }
        };
        drop(files);
        let Some(data) = ds.phases.first() else { continue };
        let mut cluster = Cluster { devices: sh.devices, nodes: sh.nodes, redundant: sh.devices, ..cluster_for(preset) };
        cluster.device_type = al.device_type;
        let settings = Settings { cluster, algorithm: al.algorithm, ..Settings::default() };
        // Level 2's move budget (level2::Knobs::default, see solve_layer).
        let k = elb::engine::algo::level2::Knobs::default();
        let t_n = data.intervals().max(1) as f64;
        let slots = (sh.experts + sh.devices) as f64;
        let mut moves = (k.moves_per_slot * slots).max(k.min_moves);
        if moves * t_n > k.max_work {
            moves = k.max_work / t_n;
        }
        let runs = ((k.max_work / (moves * t_n)) as usize).clamp(1, k.max_runs);
        let load0 = load_average();
        let mut row = format!(
            "| {} | {} | {} | {} | {} | {:.0}k x {runs} |",
            preset.name(),
            sh.layers,
            sh.experts,
            sh.devices,
            data.intervals(),
            moves / 1000.0
        );
        let mut c1 = f64::NAN;
        let mut busy = String::new();
        let mut walls = String::new();
        for (i, pool) in pools.iter().enumerate() {
            let Timed { wall: w, cpu: c, busiest: b, .. } = timed_solve(*pool, data, &settings);
            eprintln!("  {} {}x{} D{} T{} {} threads: {w:.2} s wall, {c:.2} s CPU, busiest thread {b:.2} s", preset.name(), sh.layers, sh.experts, sh.devices, data.intervals(), threads[i]);
            if i == 0 {
                c1 = b;
                row += &format!(" {b:.2} s | {:.0} ms |", b * 1000.0 / sh.layers as f64);
            } else {
                busy += &format!(" {b:.2} s ({:.2}x) |", b / c1);
            }
            walls += &format!(" {w:.2} s |");
        }
        println!("{row}{busy}{walls} {load0} / {} |", load_average());
    }
}
