//! `elb`: the native command-line tool, with msit's flags and defaults.
//!
//! ```text
//! elb -icp <folder>[,<folder2>...] [-o <dir>] [-nre 64] [-nsed 0] [-nd 8] [-nn 64]
//!     [-al 0] [-dt a2|a3] [--algorithm <name>] [--groups G] [--seed N]
//!     [--msit-compat] [--holdout]
//! elb score -icp <folder> [--table <json>] [-nn 64] [-nd 8] [-nsed 0]
//! elb sample --preset small|qwen3|dsv3|kimi --format summed|series [--seed N] -o <dir>
//! ```
//!
//! Every problem with the input or the flags is reported as
//! `elb: error: <what and where>` on stderr with exit code 2. The argument
//! parser is hand-written (no dependency) and nothing here unwraps data that
//! came from the user.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use elb::engine::export::{export_checked, export_compat, score_json};
use elb::engine::metrics::{before_placement, score, Score};
use elb::engine::table::{parse_table, DeploymentTable};
use elb::engine::validate::{is_mixed, placement_from_table, validate_placement_offset, validate_table};
use elb::engine::{algo, ingest, Algorithm, Cluster, Dataset, DeviceType, Error, InputFile, Phase, PhaseData, Placement, Result, Settings};

const USAGE: &str = "\
elb: MoE expert hotspot dumps -> redundant expert deployment tables (msit elb compatible)

USAGE:
    elb -icp <folder>[,<folder2>...] [options]     compute the deployment table of every phase found
    elb score -icp <folder> [--table <json>] [-nn N] [-nd N] [-nsed K]
                                                  print the balance figures as JSON
    elb sample --preset small|qwen3|dsv3|kimi --format summed|series [--seed N] -o <dir>
                                                  write a built-in synthetic hotspot dump

OPTIONS (msit elb flags and defaults):
    -icp, --info-csv-path <folders>     input folder(s), comma-separated (required)
    -o, --output-dir <dir>              where <phase>_global_deployment.json is written [default: ./]
    -nre, --num-redundant-expert <R>    redundant expert slots in total [default: 64]
    -nsed, --num-share-expert-devices <K>
                                        devices dedicated to the shared expert [default: 0]
    -nd, --num-nodes <N>                nodes (servers) [default: 8]
    -nn, --num-npus <D>                 NPUs in total [default: 64]
    -al <0..5>                          msit algorithm number [default: 0]
                                        0 C2LB, 1 speculative-MoE level 1, 2 dynamic C2LB,
                                        3 level 2 optimiser, 4/5 level 1/2 with the shared expert mixed in
    -dt, --device-type <a2|a3>          device type [default: a2]
    --algorithm <name|0..5>             algorithm by name: c2lb, spec-moe-1, dynamic-c2lb, spec-moe-2,
                                        spec-moe-1-mixed, spec-moe-2-mixed, deepseek-hierarchical,
                                        deepseek-global (overrides -al)
    --groups <G>                        expert groups (DeepSeek EPLB hierarchical)
    --seed <N>                          seed of the randomised optimisers [default: 0]
    --msit-compat                       reproduce the reference tool's tables exactly, even invalid ones
    --holdout                           fit on even intervals only (evaluate on the odd ones)
    --table <json>                      (score) the deployment table to score [default: the current
                                        placement named by the input, else the default layout]
    -h, --help                          print this help
    -V, --version                       print the version

Exit code 0 on success, 2 on bad input or flags (the message says what and where).
";

/// Everything the command line says.
#[derive(Debug)]
struct Opts {
    inputs: Option<String>,
    output: String,
    cluster: Cluster,
    algorithm: Algorithm,
    groups: Option<usize>,
    seed: u64,
    msit_compat: bool,
    holdout: bool,
    table: Option<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            inputs: None,
            output: "./".to_string(),
            cluster: Cluster::default(),
            algorithm: Algorithm::C2lb,
            groups: None,
            seed: 0,
            msit_compat: false,
            holdout: false,
            table: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Solve,
    Score,
}

fn parse_usize(flag: &str, v: &str) -> Result<usize> {
    v.trim().parse::<usize>().map_err(|_| Error::param(flag, format!("must be a non-negative integer, got '{v}'")))
}

fn parse_u64(flag: &str, v: &str) -> Result<u64> {
    v.trim().parse::<u64>().map_err(|_| Error::param(flag, format!("must be a non-negative integer, got '{v}'")))
}

/// Parse the flags after the subcommand (if any).
fn parse(args: &[String], mode: Mode) -> Result<Option<Opts>> {
    let mut o = Opts::default();
    let mut i = 0;
    while i < args.len() {
        let raw = args[i].as_str();
        i += 1;
        // `--flag=value` is accepted too.
        let (flag, inline) = match raw.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_string())),
            _ => (raw, None),
        };
        const SWITCHES: [&str; 6] = ["-h", "--help", "-V", "--version", "--msit-compat", "--holdout"];
        const VALUED: [&str; 19] = [
            "-icp", "--info-csv-path", "-o", "--output-dir", "-nre", "--num-redundant-expert", "-nsed",
            "--num-share-expert-devices", "-nd", "--num-nodes", "-nn", "--num-npus", "-al", "--algorithm", "-dt",
            "--device-type", "--groups", "--seed", "--table",
        ];
        let known = SWITCHES.contains(&flag) || (VALUED.contains(&flag) && (flag != "--table" || mode == Mode::Score));
        if flag == "--table" && mode != Mode::Score {
            return Err(Error::param(flag, "is a flag of elb score (elb score -icp <folder> --table <json>)"));
        }
        if !known {
            let hint = if flag.starts_with('-') { "unknown flag" } else { "unexpected argument" };
            return Err(Error::param(flag, format!("{hint}; see elb --help")));
        }
        let takes_value = !SWITCHES.contains(&flag);
        let value = if takes_value {
            match inline {
                Some(v) => v,
                None => {
                    let Some(v) = args.get(i) else {
                        return Err(Error::param(flag, "needs a value"));
                    };
                    i += 1;
                    v.clone()
                }
            }
        } else {
            if inline.is_some() {
                return Err(Error::param(flag, "takes no value"));
            }
            String::new()
        };
        match flag {
            "-h" | "--help" => return Ok(None),
            "-V" | "--version" => {
                println!("elb {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "-icp" | "--info-csv-path" => o.inputs = Some(value),
            "-o" | "--output-dir" => o.output = value,
            "-nre" | "--num-redundant-expert" => o.cluster.redundant = parse_usize("-nre", &value)?,
            "-nsed" | "--num-share-expert-devices" => o.cluster.shared_devices = parse_usize("-nsed", &value)?,
            "-nd" | "--num-nodes" => o.cluster.nodes = parse_usize("-nd", &value)?,
            "-nn" | "--num-npus" => o.cluster.devices = parse_usize("-nn", &value)?,
            "-al" => {
                let n = value.trim().parse::<u32>().map_err(|_| Error::param("algorithm (-al)", format!("must be 0..5, got '{value}'")))?;
                o.algorithm = Algorithm::from_al(n)?;
            }
            "--algorithm" => o.algorithm = Algorithm::parse(value.trim())?,
            "-dt" | "--device-type" => o.cluster.device_type = DeviceType::parse(value.trim())?,
            "--groups" => o.groups = Some(parse_usize("--groups", &value)?),
            "--seed" => o.seed = parse_u64("--seed", &value)?,
            "--msit-compat" => o.msit_compat = true,
            "--holdout" => o.holdout = true,
            "--table" if mode == Mode::Score => o.table = Some(value),
            other => {
                let hint = if other.starts_with('-') { "unknown flag" } else { "unexpected argument" };
                return Err(Error::param(other, format!("{hint}; see elb --help")));
            }
        }
    }
    Ok(Some(o))
}

/// Every file under `root` (recursively, sorted), with paths relative to it
/// using forward slashes, each prefixed with `prefix`.
fn walk(root: &Path, prefix: &str, out: &mut Vec<InputFile>) -> Result<()> {
    fn rec(dir: &Path, rel: &str, depth: usize, out: &mut Vec<InputFile>) -> Result<()> {
        if depth > 16 {
            return Err(Error::file(dir.display().to_string(), "folders nested more than 16 levels deep (a link loop?)"));
        }
        let rd = fs::read_dir(dir).map_err(|e| Error::file(dir.display().to_string(), format!("cannot read the folder: {e}")))?;
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::file(dir.display().to_string(), format!("cannot read the folder: {e}")))?;
            entries.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
        entries.sort();
        for (name, path) in entries {
            let rel_path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
            let meta = fs::metadata(&path).map_err(|e| Error::file(rel_path.clone(), format!("cannot read: {e}")))?;
            if meta.is_dir() {
                rec(&path, &rel_path, depth + 1, out)?;
            } else if meta.is_file() {
                let bytes = fs::read(&path).map_err(|e| Error::file(rel_path.clone(), format!("cannot read: {e}")))?;
                out.push(InputFile::new(rel_path, bytes));
            }
        }
        Ok(())
    }
    let meta = fs::metadata(root).map_err(|e| Error::file(root.display().to_string(), format!("cannot open the input folder (-icp): {e}")))?;
    if meta.is_file() {
        let name = root.file_name().map_or_else(|| "input".to_string(), |n| n.to_string_lossy().into_owned());
        let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
        let bytes = fs::read(root).map_err(|e| Error::file(rel.clone(), format!("cannot read: {e}")))?;
        out.push(InputFile::new(rel, bytes));
        return Ok(());
    }
    rec(root, prefix, 0, out)
}

/// The files of every comma-separated root, each with paths relative to its
/// root (forward slashes), labelled by the root as given.
fn read_inputs(spec: &str) -> Result<Vec<(String, Vec<InputFile>)>> {
    let roots: Vec<&str> = spec.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if roots.is_empty() {
        return Err(Error::param("-icp", "needs at least one input folder"));
    }
    let mut out = Vec::new();
    for root in &roots {
        let mut files = Vec::new();
        walk(Path::new(root), "", &mut files)?;
        if files.is_empty() {
            return Err(Error::param("-icp", format!("no files found under {root}")));
        }
        out.push((root.to_string(), files));
    }
    Ok(out)
}

fn load(opts: &Opts) -> Result<Dataset> {
    let Some(spec) = &opts.inputs else {
        return Err(Error::param("-icp", "the input folder is required (elb -icp <folder>; see elb --help)"));
    };
    let mut roots = read_inputs(spec)?;
    let ds = if roots.len() == 1 {
        let (_, files) = roots.remove(0);
        ingest::read_files(&files)?
    } else {
        ingest::read_roots(&roots)?
    };
    for w in &ds.warnings {
        eprintln!("elb: warning: {w}");
    }
    if let Some(m) = &ds.missing_map {
        eprintln!("elb: warning: the config names {m} as the current placement, but it is not among the input files; add it to score the current placement");
    }
    if ds.phases.is_empty() && ds.dropped_table.is_none() {
        return Err(Error::msg("no decode_<rank>.csv / prefill_<rank>.csv data found in the input"));
    }
    Ok(ds)
}

fn run_solve(opts: &Opts) -> Result<()> {
    let ds = load(opts)?;
    if ds.phases.is_empty() {
        let name = ds.dropped_table.as_ref().map_or("", |(n, _)| n.as_str());
        return Err(Error::file(
            name,
            "the input holds only a deployment table; a new table needs hotspot data (decode_<rank>.csv / prefill_<rank>.csv). Use elb score -icp <folder> to check this table",
        ));
    }
    let settings = Settings {
        cluster: opts.cluster,
        algorithm: opts.algorithm,
        msit_compat: opts.msit_compat,
        seed: opts.seed,
        groups: opts.groups,
        holdout: opts.holdout,
    };
    let out_dir = Path::new(&opts.output);
    fs::create_dir_all(out_dir).map_err(|e| Error::param("-o", format!("cannot create the output folder {}: {e}", out_dir.display())))?;
    for data in &ds.phases {
        let t0 = Instant::now();
        let (placement, sol) = algo::solve_all(data, &settings, &mut |_| true)?;
        let secs = t0.elapsed().as_secs_f64();
        let (before, _) = before_placement(&ds, data, &opts.cluster);
        for w in &sol.warnings {
            eprintln!("elb: warning: {}: {w}", data.phase.name());
        }
        let json = if opts.msit_compat {
            let (json, violations) = export_compat(&placement, &opts.cluster, data.experts);
            if !violations.is_empty() {
                eprintln!(
                    "elb: warning: {}: --msit-compat reproduces the reference tool's table, which is invalid ({} violation(s), first: {})",
                    data.phase.name(),
                    violations.len(),
                    violations[0]
                );
            }
            json
        } else {
            export_checked(&placement, &opts.cluster, data.experts)?
        };
        let path = out_dir.join(data.phase.table_file_name());
        fs::write(&path, json.as_bytes()).map_err(|e| Error::file(path.display().to_string(), format!("cannot write: {e}")))?;
        let b = score(data, &before, &opts.cluster);
        let a = score(data, &placement, &opts.cluster);
        println!(
            "{}: {}: step imbalance {:.4} -> {:.4}, lower bound {:.4}, {:.2} s -> {}",
            data.phase.name(),
            opts.algorithm.label(),
            b.step_imbalance,
            a.step_imbalance,
            a.lower_bound,
            secs,
            path.display()
        );
    }
    Ok(())
}

/// Read and parse a deployment table file (errors name the line and column).
fn read_table(path: &str) -> Result<DeploymentTable> {
    let bytes = fs::read(path).map_err(|e| Error::file(path, format!("cannot read the table (--table): {e}")))?;
    parse_table(path, &bytes)
}

/// The phase a table file is for, from its name (`decode_global_deployment.json`).
fn table_phase(path: &str) -> Option<Phase> {
    let name = Path::new(path).file_name()?.to_string_lossy().to_ascii_lowercase();
    Phase::ALL.into_iter().find(|p| name.starts_with(p.name()))
}

/// `elb score` on a folder holding only a deployment table: its shape and
/// validity (the balance figures need loads, so they are null). The expert
/// count is taken as the largest id + 1.
fn score_table_only(name: &str, p: &Placement, cluster: &Cluster) -> String {
    let experts = p.layers.iter().flatten().flatten().max().map_or(0, |&m| m.saturating_add(1));
    let violations = validate_placement_offset(p, experts, false, cluster.shared_devices);
    let phase = table_phase(name).unwrap_or(Phase::Decode);
    let v = serde_json::json!({
        "layers": p.num_layers(),
        "experts": experts,
        "devices": p.num_devices(),
        "slots_per_device": p.slots_per_device(),
        "step_imbalance": null,
        "mean_layer_imbalance": null,
        "max_layer_imbalance": null,
        "time_resolved_step_imbalance": null,
        "lower_bound": null,
        "gap": null,
        "valid": violations.is_empty(),
        "violations": violations,
    });
    let mut m = serde_json::Map::new();
    m.insert(phase.name().to_string(), v);
    serde_json::to_string_pretty(&serde_json::Value::Object(m)).unwrap_or_default()
}

/// The default layout (experts in id order, `E/D` per NPU) needs a cluster
/// that fits the data: at least one routed NPU and no more than experts.
fn check_default_layout(data: &PhaseData, cluster: &Cluster) -> Result<()> {
    if cluster.devices == 0 {
        return Err(Error::param("NPUs (-nn)", "must be at least 1"));
    }
    if cluster.shared_devices >= cluster.devices {
        return Err(Error::param(
            "shared-expert devices (-nsed)",
            format!("{} of {} NPUs dedicated to the shared expert leaves none for the routed experts", cluster.shared_devices, cluster.devices),
        ));
    }
    let d = cluster.routed_devices();
    if d > data.experts {
        return Err(Error::param(
            "NPUs (-nn)",
            format!(
                "the default layout spreads the {} experts of the {} data over the routed NPUs, E/D each: {d} routed NPUs would leave NPUs empty; give the cluster's -nn (and -nsed)",
                data.experts,
                data.phase.name()
            ),
        ));
    }
    Ok(())
}

fn run_score(opts: &Opts) -> Result<()> {
    let ds = load(opts)?;
    let cluster = opts.cluster;
    if ds.phases.is_empty() && opts.table.is_none() {
        if let Some((name, p)) = &ds.dropped_table {
            let skip = cluster.shared_devices;
            let routed = Placement { layers: p.layers.iter().map(|l| l.iter().skip(skip).cloned().collect()).collect() };
            println!("{}", score_table_only(name, &routed, &cluster));
            return Ok(());
        }
    }
    let mut scores: Vec<(Phase, Score)> = Vec::new();
    match &opts.table {
        None => {
            for data in &ds.phases {
                if data.current.is_none() && ds.dropped_table.is_none() {
                    check_default_layout(data, &cluster)?;
                }
                let (before, _) = before_placement(&ds, data, &cluster);
                scores.push((data.phase, score(data, &before, &cluster)));
            }
        }
        Some(path) => {
            let table = read_table(path)?;
            let phases: Vec<&PhaseData> = match table_phase(path) {
                Some(ph) => {
                    let v: Vec<&PhaseData> = ds.phases.iter().filter(|d| d.phase == ph).collect();
                    if v.is_empty() {
                        return Err(Error::file(path.as_str(), format!("the table is for the {} phase, but the input has no {} data", ph.name(), ph.name())));
                    }
                    v
                }
                None => ds.phases.iter().collect(),
            };
            let placement = placement_from_table(&table, cluster.shared_devices);
            for data in phases {
                let mixed = is_mixed(&placement, data.experts);
                let mut s = score(data, &placement, &cluster);
                let mut violations = validate_table(&table, data.experts, cluster.shared_devices, mixed);
                for v in std::mem::take(&mut s.violations) {
                    if !violations.contains(&v) {
                        violations.push(v);
                    }
                }
                s.valid = violations.is_empty();
                s.violations = violations;
                scores.push((data.phase, s));
            }
        }
    }
    let refs: Vec<(Phase, &Score)> = scores.iter().map(|(p, s)| (*p, s)).collect();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", score_json(&refs));
    Ok(())
}

fn run_sample(args: &[String]) -> Result<()> {
    elb::engine::sample::cli_main(args)
}

fn run(args: &[String]) -> Result<()> {
    let (mode, rest) = match args.first().map(String::as_str) {
        Some("score") => (Some(Mode::Score), &args[1..]),
        Some("sample") => return run_sample(&args[1..]),
        Some("help") => (None, &args[1..]),
        _ => (Some(Mode::Solve), args),
    };
    let Some(mode) = mode else {
        print!("{USAGE}");
        return Ok(());
    };
    if args.is_empty() {
        eprint!("{USAGE}");
        return Err(Error::param("-icp", "the input folder is required"));
    }
    let Some(opts) = parse(rest, mode)? else {
        print!("{USAGE}");
        return Ok(());
    };
    match mode {
        Mode::Solve => run_solve(&opts),
        Mode::Score => run_score(&opts),
    }
}

fn main() {
    // Nothing should panic; if something does, say so plainly and exit 2.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("elb: error: internal error (please report): {info}");
    }));
    let args: Vec<String> = std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
    let code = match std::panic::catch_unwind(|| run(&args)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("elb: error: {e}");
            2
        }
        Err(_) => 2,
    };
    std::process::exit(code);
}
