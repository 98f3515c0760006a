//! `elb`: the native command-line tool, with msit's flags and defaults.
//!
//! ```text
//! elb -icp <folder>[,<folder2>...] [-o <dir>] [-nre 64] [-nsed 0] [-nd 8] [-nn 64]
//!     [-al 0] [-dt a2|a3] [--algorithm <name>] [--groups G] [--seed N]
//!     [--msit-compat] [--holdout | --holdout-split 0.7] [--current <table>]
//!     [--robust] [--migration-aware [--target-within 0.02]] [--export-format msit|sglang|trtllm|all]
//!     [--threads N]
//! elb score -icp <folder> [--table <json>] [-nn 64] [-nd 8] [-nsed 0]
//! elb sweep -icp <folder> [cluster and algorithm flags] [--gb-per-expert 2.4] [--json]
//! elb sample --preset small|qwen3|dsv3|kimi --format summed|series [--seed N] -o <dir>
//! ```
//!
//! Every problem with the input or the flags is reported as
//! `elb: error: <what and where>` on stderr with exit code 2. The argument
//! parser is hand-written (no dependency) and nothing here unwraps data that
//! came from the user.

use elb::engine::error::Param;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use elb::engine::export::{render_all, score_json, ExportFormat, ExportOptions};
use elb::engine::metrics::{score, Score};
use elb::engine::before;
use elb::engine::migration;
use elb::engine::{holdout, sweep};
use elb::engine::table::{parse_table, DeploymentTable};
use elb::engine::validate::{is_mixed, placement_from_table, validate_table};
use elb::engine::{algo, ingest, Algorithm, Cluster, Dataset, DeviceType, Error, InputFile, Phase, PhaseData, Result, Settings};

const USAGE: &str = "\
elb: MoE expert hotspot dumps -> redundant expert deployment tables (msit elb compatible)

USAGE:
    elb -icp <folder>[,<folder2>...] [options]     compute the deployment table of every phase found
    elb score -icp <folder> [--table <json>] [-nn N] [-nd N] [-nsed K]
                                                  print the balance figures as JSON
    elb sweep -icp <folder> [cluster/algorithm options] [--gb-per-expert 2.4] [--json]
                                                  redundancy sweep: solve and score for every
                                                  redundant-slot count R from 0 to 2x NPUs
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
    -al <0..5>                          msit algorithm number [default: 0] (see ALGORITHMS)
    -dt, --device-type <a2|a3>          device type [default: a2]
    --algorithm <name|0..5>             algorithm by name or -al number (overrides -al; see ALGORITHMS)
    --groups <G>                        expert groups (DeepSeek EPLB hierarchical)
    --seed <N>                          seed of the randomised optimisers [default: 0]
    --msit-compat                       write msit's own table even where it puts an expert twice on one
                                        NPU (without it such layers are repaired by swaps; every other
                                        layer is msit's table either way). Reproduced exactly, ties
                                        included: -al 0 (-dt a2 and a3), -al 1, -al 2, -al 4. Except:
                                        -al 0 -dt a3 with -nn 256 -nre 256 (msit's pairing path; ours is
                                        the plain A3 table), and -al 0/2 on a dump that names a current
                                        placement (msit reads its slot columns as experts; we map them).
                                        -al 3/5 are our own seeded optimiser, not msit's (its solver is
                                        time-limited and randomised): the switch does not change them.
                                        DeepSeek EPLB: keeps a duplicate unrepaired. See docs/parity.md
    --holdout                           fit on the even intervals only (0-based) and print the
                                        time-resolved imbalance on the odd ones beside the in-sample one
    --holdout-split <F>                 fit on the first fraction F of the intervals (e.g. 0.7) and
                                        print the time-resolved imbalance on the rest (time series)
    --robust                            level 2 (-al 3 / -al 5) on time-series input: optimise the
                                        worst fitted interval's imbalance rather than the mean one
                                        (a table for drifting load); an error with other algorithms
    --current <file>                    the placement the server runs now: a deployment table JSON,
                                        a physical_to_logical_map JSON (SGLang/vLLM) or a TensorRT-LLM
                                        load-balancer YAML [default: the dump's eplb_expert_map_file];
                                        the slots that change are printed
    --migration-aware                   after solving, move as few slots of the current placement as
                                        possible to come within --target-within of the new table
    --target-within <T>                 tolerance of --migration-aware, per layer [default: 0.02]
    --export-format <list>              msit, sglang, trtllm or all (comma-separated) [default: msit]:
                                        <phase>_global_deployment.json, <phase>_physical_to_logical.json
                                        (SGLang --init-expert-location), <phase>_moe_load_balancer.yaml
    --first-moe-layer <N>               model index of the first MoE layer, for the sglang and trtllm
                                        exports (DeepSeek-V3: 3) [default: 0]
    --gb-per-expert <GB>                (sweep) memory of one redundant expert per card, all MoE layers
                                        [default: 2.4, MindIE's figure for DeepSeek-V3 w8a8]
    --json                              (sweep) print the sweep as JSON
    --threads <N>                       threads to solve on (layers and sweep points run in parallel;
                                        the table is the same for any N) [default: 0 = all cores]
    -v, --verbose                       list every per-layer warning (default: the first 3 and a count)
    --table <json>                      (score) the deployment table to score [default: the current
                                        placement named by the input, else the default layout]
    -h, --help                          print this help
    -V, --version                       print the version

ALGORITHMS (--algorithm <name>):
@ALGORITHMS@
Exit code 0 on success, 2 on bad input or flags (the message says what and where).
";

/// The help text, with the algorithm list of the catalogue.
fn usage() -> String {
    USAGE.replace("@ALGORITHMS@", &algo::catalogue::help_lines(4))
}

/// `println!` that ignores a closed stdout (`elb ... | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

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
    holdout_split: Option<f64>,
    current: Option<String>,
    migration_aware: bool,
    robust: bool,
    target_within: Option<f64>,
    export_formats: Vec<ExportFormat>,
    first_moe_layer: usize,
    gb_per_expert: f64,
    json: bool,
    verbose: bool,
    /// Whether `-nn` was given (else `elb score` lays the default layout over the dump's ranks).
    devices_given: bool,
    /// `--ignore-current`: solve / score without the current placement.
    ignore_current: bool,
    /// Whether `--seed` was given (only randomised algorithms read it).
    seed_given: bool,
    /// `--threads`: `None` = rayon's default (all cores, or `RAYON_NUM_THREADS`).
    threads: Option<usize>,
}

fn parse_f64(flag: &str, v: &str) -> Result<f64> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(Error::param(flag, format!("must be a number, got '{v}'"))),
    }
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
            holdout_split: None,
            current: None,
            migration_aware: false,
            robust: false,
            target_within: None,
            export_formats: vec![ExportFormat::Msit],
            first_moe_layer: 0,
            gb_per_expert: sweep::DEFAULT_GB_PER_REDUNDANT,
            json: false,
            verbose: false,
            devices_given: false,
            ignore_current: false,
            seed_given: false,
            threads: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Solve,
    Score,
    Sweep,
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
        const SWITCHES: [&str; 12] = [
            "-h", "--help", "-V", "--version", "--msit-compat", "--holdout", "--migration-aware", "--robust", "--json", "-v", "--verbose",
            "--ignore-current",
        ];
        const VALUED: [&str; 26] = [
            "-icp", "--info-csv-path", "-o", "--output-dir", "-nre", "--num-redundant-expert", "-nsed",
            "--num-share-expert-devices", "-nd", "--num-nodes", "-nn", "--num-npus", "-al", "--algorithm", "-dt",
            "--device-type", "--groups", "--seed", "--table", "--holdout-split", "--current", "--target-within",
            "--export-format", "--first-moe-layer", "--gb-per-expert", "--threads",
        ];
        let known = SWITCHES.contains(&flag) || VALUED.contains(&flag);
        if flag == "--table" && mode != Mode::Score {
            return Err(Error::param(flag, "is a flag of elb score (elb score -icp <folder> --table <json>)"));
        }
        const SOLVE_ONLY: [&str; 7] =
            ["--holdout", "--holdout-split", "--current", "--migration-aware", "--target-within", "--export-format", "--first-moe-layer"];
        if mode != Mode::Solve && SOLVE_ONLY.contains(&flag) && !(mode == Mode::Score && flag == "--current") {
            return Err(Error::param(flag, "is a flag of the solve command (elb -icp <folder> ...); see elb --help"));
        }
        if mode == Mode::Score && flag == "--robust" {
            return Err(Error::param(flag, "is a flag of the solve and sweep commands (it changes how level 2 solves); see elb --help"));
        }
        // Flags that say how to solve mean nothing to score, which solves nothing.
        const SOLVER: [&str; 10] =
            ["-nre", "--num-redundant-expert", "-al", "--algorithm", "-dt", "--device-type", "--seed", "--groups", "--msit-compat", "-o"];
        if mode == Mode::Score && (SOLVER.contains(&flag) || flag == "--output-dir") {
            return Err(Error::param(
                flag,
                "does not apply to elb score, which scores the current placement (or --table) and solves nothing; see elb --help",
            ));
        }
        if mode == Mode::Sweep && matches!(flag, "-nre" | "--num-redundant-expert" | "-o" | "--output-dir" | "--msit-compat") {
            return Err(Error::param(
                flag,
                if flag.starts_with("-o") || flag.starts_with("--output") {
                    "does not apply to elb sweep, which writes no table (use --json to keep the figures)"
                } else if flag == "--msit-compat" {
                    "does not apply to elb sweep, which scores repaired tables only"
                } else {
                    "does not apply to elb sweep, which tries every redundant-expert count itself (0 to twice the NPUs)"
                },
            ));
        }
        if mode == Mode::Sweep && flag == "--ignore-current" {
            return Err(Error::param(flag, "does not apply to elb sweep, which uses no current placement"));
        }
        if mode != Mode::Sweep && (flag == "--gb-per-expert" || flag == "--json") {
            return Err(Error::param(flag, "is a flag of elb sweep (elb sweep -icp <folder> ...); see elb --help"));
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
                say!("elb {}", env!("CARGO_PKG_VERSION"));
                std::process::exit(0);
            }
            "-icp" | "--info-csv-path" => o.inputs = Some(value),
            "-o" | "--output-dir" => o.output = value,
            "-nre" | "--num-redundant-expert" => o.cluster.redundant = parse_usize("-nre", &value)?,
            "-nsed" | "--num-share-expert-devices" => o.cluster.shared_devices = parse_usize("-nsed", &value)?,
            "-nd" | "--num-nodes" => o.cluster.nodes = parse_usize("-nd", &value)?,
            "-nn" | "--num-npus" => {
                o.cluster.devices = parse_usize("-nn", &value)?;
                o.devices_given = true;
            }
            "--ignore-current" => o.ignore_current = true,
            "-al" => {
                let n = value.trim().parse::<u32>().map_err(|_| Error::param(Param::Algorithm, format!("must be 0..5, got '{value}'")))?;
                o.algorithm = Algorithm::from_al(n)?;
            }
            "--algorithm" => o.algorithm = Algorithm::parse(value.trim())?,
            "-dt" | "--device-type" => o.cluster.device_type = DeviceType::parse(value.trim())?,
            "--groups" => o.groups = Some(parse_usize("--groups", &value)?),
            "--seed" => {
                o.seed = parse_u64("--seed", &value)?;
                o.seed_given = true;
            }
            "--msit-compat" => o.msit_compat = true,
            "-v" | "--verbose" => o.verbose = true,
            "--holdout" => o.holdout = true,
            "--table" if mode == Mode::Score => o.table = Some(value),
            "--holdout-split" => o.holdout_split = Some(parse_f64(flag, &value)?),
            "--current" => o.current = Some(value),
            "--migration-aware" => o.migration_aware = true,
            "--robust" => o.robust = true,
            "--target-within" => o.target_within = Some(parse_f64(flag, &value)?),
            "--export-format" => o.export_formats = ExportFormat::parse_list(&value)?,
            "--first-moe-layer" => {
                o.first_moe_layer = parse_usize(flag, &value)?;
                if o.first_moe_layer > elb::engine::params::MAX_FIRST_MOE_LAYER {
                    return Err(Error::param(
                        flag,
                        format!("{} is more layers than any model has: at most {}", o.first_moe_layer, elb::engine::params::MAX_FIRST_MOE_LAYER),
                    ));
                }
            }
            "--gb-per-expert" => {
                let g = parse_f64(flag, &value)?;
                if g < 0.0 {
                    return Err(Error::param(flag, format!("must be a non-negative number of GB, got {g}")));
                }
                o.gb_per_expert = g;
            }
            "--json" => o.json = true,
            "--threads" => o.threads = Some(parse_usize(flag, &value)?),
            other => {
                let hint = if other.starts_with('-') { "unknown flag" } else { "unexpected argument" };
                return Err(Error::param(other, format!("{hint}; see elb --help")));
            }
        }
    }
    if o.holdout && o.holdout_split.is_some() {
        return Err(Error::param("--holdout-split", "choose one of --holdout (even/odd intervals) and --holdout-split (chronological)"));
    }
    if let Some(f) = o.holdout_split {
        if !(f > 0.0 && f < 1.0) {
            return Err(Error::param("--holdout-split", format!("the fraction of intervals to fit must lie strictly between 0 and 1, got {f}")));
        }
    }
    if o.robust && !o.algorithm.entry().robust {
        return Err(Error::param(
            "--robust",
            format!(
                "only the level-2 optimiser (-al 3 or -al 5) has a robust mode; {} ignores it",
                o.algorithm.label()
            ),
        ));
    }
    if o.seed_given && !o.algorithm.entry().seeded {
        return Err(Error::param(
            Param::Seed,
            format!("only the randomised level-2 optimiser (-al 3 / -al 5) reads a seed; {} is deterministic and ignores it", o.algorithm.label()),
        ));
    }
    if o.groups.is_some() && !o.algorithm.entry().groups {
        return Err(Error::param(
            "--groups",
            format!("only DeepSeek EPLB hierarchical (--algorithm deepseek-hierarchical) uses expert groups; {} ignores them", o.algorithm.label()),
        ));
    }
    if o.ignore_current && (o.current.is_some() || o.migration_aware) {
        return Err(Error::param("--ignore-current", "contradicts --current and --migration-aware, which need the current placement"));
    }
    o.cluster.check_limits()?;
    if let Some(t) = o.target_within {
        if !o.migration_aware {
            return Err(Error::param("--target-within", "only has an effect with --migration-aware"));
        }
        if t < 0.0 {
            return Err(Error::param("--target-within", format!("must be a non-negative fraction (0.02 = within 2%), got {t}")));
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

fn settings_of(opts: &Opts) -> Settings {
    Settings {
        cluster: opts.cluster,
        algorithm: opts.algorithm,
        msit_compat: opts.msit_compat,
        seed: opts.seed,
        groups: opts.groups,
        holdout: opts.holdout,
        robust: opts.robust,
        ..Settings::default()
    }
}

/// The placement the user gave with `--current`, read in any format.
fn given_current(opts: &Opts, data_layers: usize) -> Result<Option<before::Given>> {
    let Some(path) = &opts.current else { return Ok(None) };
    let bytes = fs::read(path).map_err(|e| Error::file(path.as_str(), format!("cannot read the current placement (--current): {e}")))?;
    Ok(Some(before::read_placement(path, &bytes, opts.cluster.routed_devices(), data_layers)?))
}

/// The current placement of a phase, checked: `--current`, else a table in
/// the input folder, else the dump's `eplb_expert_map_file`
/// ([`before::current`]); none with `--ignore-current`.
fn current_of(opts: &Opts, ds: &Dataset, data: &PhaseData) -> Result<Option<before::Current>> {
    if opts.ignore_current {
        return Ok(None);
    }
    let given = given_current(opts, data.layers)?;
    before::current(ds, data, &opts.cluster, given.as_ref())
}

fn write_out(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text.as_bytes()).map_err(|e| Error::file(path.display().to_string(), format!("cannot write: {e}")))
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
    // Held-out runs split the data here and fit on the fit part with
    // `holdout` off: for level 2 this is the same fit as its own
    // `Settings::holdout` (even intervals), and every other algorithm gets
    // the same treatment (C2LB then reads the fit part's loads only).
    let split = opts.holdout || opts.holdout_split.is_some();
    let mut settings = settings_of(opts);
    if split {
        settings.holdout = false;
    }
    let out_dir = Path::new(&opts.output);
    fs::create_dir_all(out_dir).map_err(|e| Error::param("-o", format!("cannot create the output folder {}: {e}", out_dir.display())))?;
    // Files and lines of every phase; written and printed once every phase
    // is solved and every file checked, so a failure leaves no partial output.
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    for data in &ds.phases {
        let parts = if opts.holdout {
            Some(holdout::split_even_odd(data)?)
        } else if let Some(f) = opts.holdout_split {
            Some(holdout::split(data, f)?)
        } else {
            None
        };
        let fit_data = parts.as_ref().map_or(data, |(f, _)| f);
        let current = current_of(opts, &ds, data)?;
        let before = match &current {
            Some(c) => before::Before { placement: c.placement.clone(), label: format!("the current placement ({})", c.source), is_current: true },
            None => before::default_layout(data, &opts.cluster),
        };
        if opts.migration_aware && current.is_none() {
            return Err(Error::param(
                "--migration-aware",
                format!(
                    "needs the current placement of the {} phase: a time-series dump naming eplb_expert_map_file, a table dropped with the data, or --current <file>",
                    data.phase.name()
                ),
            ));
        }
        let t0 = Instant::now();
        let (mut placement, sol) = algo::solve_all(fit_data, &settings, &mut |_| true)?;
        let secs = t0.elapsed().as_secs_f64();
        print_warnings(data.phase.name(), &sol.warnings, opts.verbose);
        let mut migration_line = None;
        if opts.migration_aware {
            if let Some(before::Current { placement: cur, .. }) = &current {
                let tol = opts.target_within.unwrap_or(0.02);
                let unconstrained = migration::slots_changed(cur, &placement).0;
                let r = migration::Refiner::new(cur, &placement, &fit_data.summed, fit_data.series.as_ref(), tol)
                    .and_then(|rf| rf.run(&fit_data.summed, fit_data.series.as_ref()))
                    .map_err(|e| e.context("--migration-aware"))?;
                let reached = r.layers.iter().filter(|l| l.reached).count();
                migration_line = Some(format!(
                    "{}: migration-aware (within {:.1}%): {} slots moved instead of {} for the new table; {reached} of {} layers within the target",
                    data.phase.name(),
                    tol * 100.0,
                    r.slots_changed,
                    unconstrained,
                    r.layers.len()
                ));
                placement = r.placement;
            }
        }
        let stem = data.phase.name();
        // Every format rendered and checked before any file is written.
        let files = render_all(
            &opts.export_formats,
            &placement,
            data.experts,
            &opts.cluster,
            &ExportOptions { first_moe_layer: opts.first_moe_layer, msit_compat: opts.msit_compat },
        )?;
        let mut written: Vec<String> = Vec::new();
        for f in &files {
            for w in &f.warnings {
                eprintln!("elb: warning: {stem}: {w}");
            }
            let path = out_dir.join(f.format.file_name(data.phase));
            written.push(path.display().to_string());
            writes.push((path, f.text.clone()));
        }
        let b = score(data, &before.placement, &opts.cluster);
        let a = score(data, &placement, &opts.cluster);
        lines.push(format!(
            "{}: {}: step imbalance {:.4} -> {:.4}, lower bound {:.4}, {:.2} s -> {}",
            data.phase.name(),
            if opts.robust { format!("{}, robust (worst interval)", opts.algorithm.label()) } else { opts.algorithm.label().to_string() },
            b.step_imbalance,
            a.step_imbalance,
            a.lower_bound,
            secs,
            written.join(", ")
        ));
        if let Some(before::Current { placement: cur, source: src }) = &current {
            let (moved, per) = migration::slots_changed(cur, &placement);
            let per_dev: Vec<usize> = (0..placement.num_devices()).map(|d| per.iter().map(|l| l.get(d).copied().unwrap_or(0)).sum()).collect();
            let busiest = per_dev.iter().copied().max().unwrap_or(0);
            let total_slots: usize = placement.layers.iter().flatten().map(Vec::len).sum();
            lines.push(format!(
                "{}: slots moved vs current ({src}): {moved} of {total_slots} (most on one NPU: {busiest}; per NPU over all layers: {})",
                data.phase.name(),
                per_dev.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(" ")
            ));
        }
        if let Some(line) = migration_line {
            lines.push(line);
        }
        if let Some((fit, eval)) = &parts {
            let fs_ = score(fit, &placement, &opts.cluster);
            let es = score(eval, &placement, &opts.cluster);
            let (fi, ei) = (fs_.time_resolved_step_imbalance.unwrap_or(fs_.step_imbalance), es.time_resolved_step_imbalance.unwrap_or(es.step_imbalance));
            let how = if opts.holdout {
                format!("fit on the {} even intervals, held out: the {} odd ones", fit.intervals(), eval.intervals())
            } else {
                format!("fit on the first {} intervals, held out: the last {}", fit.intervals(), eval.intervals())
            };
            lines.push(format!(
                "{}: time-resolved step imbalance in-sample {fi:.4}, held-out {ei:.4} ({:+.2}%); {how}",
                data.phase.name(),
                (ei / fi - 1.0) * 100.0
            ));
        }
    }
    for (path, text) in &writes {
        write_out(path, text)?;
    }
    for line in &lines {
        say!("{line}");
    }
    Ok(())
}

fn run_sweep(opts: &Opts) -> Result<()> {
    let ds = load(opts)?;
    if ds.phases.is_empty() {
        let name = ds.dropped_table.as_ref().map_or("", |(n, _)| n.as_str());
        return Err(Error::file(name, "the input holds only a deployment table; a sweep needs hotspot data"));
    }
    let settings = settings_of(opts);
    let mut json = serde_json::Map::new();
    for data in &ds.phases {
        let t0 = Instant::now();
        let pts = sweep::run(data, &settings, opts.gb_per_expert, &mut |_| true)?;
        let secs = t0.elapsed().as_secs_f64();
        if opts.json {
            json.insert(
                data.phase.name().to_string(),
                serde_json::json!({
                    "algorithm": opts.algorithm.name(),
                    "devices": opts.cluster.routed_devices(),
                    "gb_per_redundant_per_card": opts.gb_per_expert,
                    "points": pts,
                }),
            );
            continue;
        }
        say!(
            "{}: redundancy sweep, {}, {} routed NPUs, {} GB per redundant expert per card ({} points, {:.2} s)",
            data.phase.name(),
            opts.algorithm.label(),
            opts.cluster.routed_devices(),
            opts.gb_per_expert,
            pts.len(),
            secs
        );
        say!("{:>6} {:>10} {:>14} {:>10} {:>14} {:>12}  knee", "R", "slots/NPU", "extra GB/card", "step imb.", "time-resolved", "lower bound");
        for p in &pts {
            let tr = p.time_resolved_step_imbalance.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
            say!(
                "{:>6} {:>10} {:>14.2} {:>10.4} {:>14} {:>12.4}  {}{}",
                p.redundant,
                p.slots_per_device,
                p.extra_gb_per_card,
                p.step_imbalance,
                tr,
                p.lower_bound,
                if p.knee { "<- knee" } else { "" },
                if p.valid { "" } else { " (invalid table)" }
            );
        }
    }
    if opts.json {
        say!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(json)).unwrap_or_default());
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
/// every rule it breaks (the balance figures need loads, so they are null).
fn score_table_only(g: &before::Given, cluster: &Cluster) -> String {
    let t = before::check_alone(g, cluster);
    let phase = table_phase(&g.name).unwrap_or(Phase::Decode);
    let v = serde_json::json!({
        "layers": t.layers,
        "experts": t.experts,
        "devices": t.devices,
        "slots_per_device": t.slots_per_device,
        "step_imbalance": null,
        "mean_layer_imbalance": null,
        "max_layer_imbalance": null,
        "time_resolved_step_imbalance": null,
        "lower_bound": null,
        "gap": null,
        "valid": t.violations.is_empty(),
        "violations": t.violations,
        "servers": null,
    });
    let mut m = serde_json::Map::new();
    m.insert(phase.name().to_string(), v);
    serde_json::to_string_pretty(&serde_json::Value::Object(m)).unwrap_or_default()
}

fn run_score(opts: &Opts) -> Result<()> {
    let ds = load(opts)?;
    if ds.phases.is_empty() && opts.table.is_none() {
        if let Some(g) = before::dropped(&ds) {
            say!("{}", score_table_only(&g, &opts.cluster));
            return Ok(());
        }
    }
    let mut scores: Vec<(Phase, Score)> = Vec::new();
    match &opts.table {
        None => {
            for data in &ds.phases {
                // No -nn: the default layout goes over the NPUs the dump
                // was collected from (its ranks), and says so.
                let mut cluster = opts.cluster;
                if !opts.devices_given {
                    if let Some(ranks) = before::dump_devices(data) {
                        cluster.devices = ranks + cluster.shared_devices;
                    }
                }
                let current = if opts.ignore_current { None } else { before::current(&ds, data, &cluster, given_current(opts, data.layers)?.as_ref())? };
                let b = match current {
                    Some(c) => c.placement,
                    None => {
                        before::check_default_layout(data, &cluster)?;
                        if !opts.devices_given && before::dump_devices(data).is_some() {
                            eprintln!(
                                "elb: note: {}: no -nn given: the default layout spreads the experts over the dump's {} ranks",
                                data.phase.name(),
                                cluster.routed_devices()
                            );
                        }
                        before::default_layout(data, &cluster).placement
                    }
                };
                scores.push((data.phase, score(data, &b, &cluster)));
            }
        }
        Some(path) => {
            let cluster = opts.cluster;
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
        Some("sweep") => (Some(Mode::Sweep), &args[1..]),
        Some("sample") => return run_sample(&args[1..]),
        Some("help") => (None, &args[1..]),
        _ => (Some(Mode::Solve), args),
    };
    let Some(mode) = mode else {
        print!("{}", usage());
        return Ok(());
    };
    if args.is_empty() {
        eprint!("{}", usage());
        return Err(Error::param("-icp", "the input folder is required"));
    }
    let Some(opts) = parse(rest, mode)? else {
        print!("{}", usage());
        return Ok(());
    };
    let go = || match mode {
        Mode::Solve => run_solve(&opts),
        Mode::Score => run_score(&opts),
        Mode::Sweep => run_sweep(&opts),
    };
    match opts.threads {
        Some(n) => elb::engine::par::with_threads(n, go)?,
        None => go(),
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

/// Per-layer warnings repeat one remark for many layers: show the first few
/// and count the rest, unless `--verbose` asks for all of them.
fn print_warnings(phase: &str, warnings: &[String], verbose: bool) {
    const SHOWN: usize = 3;
    let limit = if verbose { usize::MAX } else { SHOWN };
    for w in warnings.iter().take(limit) {
        eprintln!("elb: warning: {phase}: {w}");
    }
    if warnings.len() > limit {
        eprintln!("elb: warning: {phase}: ... and {} more warning(s) like these (-v / --verbose lists them all)", warnings.len() - limit);
    }
}
