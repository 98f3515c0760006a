//! `elb`: the native command-line tool, with msit's flags and defaults.
//!
//! ```text
//! elb -icp <folder>[,<folder2>...] [-o <dir>] [-nre 64] [-nsed 0] [-nd 8] [-nn 64] [-al 0] [-dt a2|a3] ...
//! elb score -icp <folder> [--table <json>] [-nn 64] [-nd 8] [-nsed 0]
//! elb sweep -icp <folder> [cluster and algorithm flags] [--gb-per-expert 2.4] [--json]
//! elb sample --preset small|qwen3|dsv3|kimi|xl --format summed|series [--seed N] -o <dir>
//! ```
//!
//! The flags are parsed by clap (derive). msit spells some short flags with
//! several letters (`-nre`), which clap does not know: [`msit_argv`] turns
//! them into their long forms before clap sees them and [`msit_help`] shows
//! them in the help. Every problem with the input or the flags is reported as
//! `elb: error: <what and where>` on stderr with exit code 2 ([`parse`] puts
//! clap's refusals in the same words); `--help` and `--version` exit 0.
//! This file holds argument handling (which flags go together) and printing
//! only: reading, solving, checking and exporting are the engine's.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
use clap::{Args, Parser, Subcommand};

use elb::engine::error::Param;
use elb::engine::json::{self, Value};
use elb::engine::export::{check_options, render_all, score_json, table_alone_json, ExportFormat, ExportOptions, ScoreSummary};
use elb::engine::metrics::{score, Score};
use elb::engine::model_preset;
use elb::engine::params::MAX_FIRST_MOE_LAYER;
use elb::engine::sample::{Preset, SampleFormat};
use elb::engine::table::{parse_table, phase_of_table_name};
use elb::engine::{algo, before, holdout, ingest, migration, sweep};
use elb::engine::{Algorithm, Cluster, Dataset, DeviceType, Error, Phase, PhaseData, Placement, Result, Settings};

/// `println!` that ignores a closed stdout (`elb ... | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

// ---------------------------------------------------------------------------
// The argv shim: msit's multi-letter short flags.

/// msit's short flags and the long flags clap knows them by. `-nn 8`,
/// `-nn=8` and `--num-npus 8` are the same flag.
const MSIT_SHORT: [(&str, &str); 7] = [
    ("-icp", "--info-csv-path"),
    ("-nre", "--num-redundant-expert"),
    ("-nsed", "--num-share-expert-devices"),
    ("-nd", "--num-nodes"),
    ("-nn", "--num-npus"),
    ("-al", "--algorithm"),
    ("-dt", "--device-type"),
];

/// The arguments with msit's short flags in their long spelling.
fn msit_argv(args: &[String]) -> Vec<String> {
    let long = |a: &str| {
        let (flag, value) = a.split_once('=').map_or((a, None), |(f, v)| (f, Some(v)));
        let (_, l) = MSIT_SHORT.iter().find(|(s, _)| *s == flag)?;
        Some(value.map_or_else(|| l.to_string(), |v| format!("{l}={v}")))
    };
    args.iter().map(|a| long(a).unwrap_or_else(|| a.clone())).collect()
}

/// A flag as the user knows it: msit's short spelling where it has one.
fn msit_flag(flag: &str) -> &str {
    MSIT_SHORT.iter().find(|(_, l)| *l == flag).map_or(flag, |(s, _)| *s)
}

/// clap's help with msit's short flags in the flag column, which is made
/// wide enough for `-nsed, ` on every option line (so the text stays aligned).
fn msit_help(help: &str) -> String {
    let mut out = String::new();
    let mut options = false;
    for line in help.lines() {
        if !line.starts_with(' ') {
            options = line.ends_with(':') && line != "Commands:"; // a heading opens a section
            out.push_str(&line.replace("--info-csv-path", "-icp")); // in `Usage:`
        } else if let Some(spec) = line.get(6..).filter(|s| options && s.starts_with("--")) {
            // An option: `  -o, --output-dir <DIR>  ...` or `      --num-npus <D>  ...`.
            let long = spec.split([' ', '=']).next().unwrap_or_default();
            let short = if line.as_bytes()[2] == b'-' { &line[2..4] } else { msit_flag(long) };
            let short = if short == long { String::new() } else { format!("{short},") };
            out.push_str(&format!("  {short:<7}{spec}"));
        } else {
            out.push_str(if options { "   " } else { "" }); // help text continued
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// The command line (clap derive). Value parsers give the engine's own
// messages ([`Param`]: `parameter redundant experts (-nre): ...`).

/// A non-negative integer.
fn int<T: std::str::FromStr + Clone + Send + Sync + 'static>(p: Param) -> impl Fn(&str) -> Result<T> + Clone + Send + Sync + 'static {
    move |v: &str| v.trim().parse::<T>().map_err(|_| Error::param(p.clone(), format!("must be a non-negative integer, got '{v}'")))
}

/// A non-negative integer up to `max` (`{n} is more <what>: at most {max}`).
fn at_most(p: Param, max: usize, what: &'static str) -> impl Fn(&str) -> Result<usize> + Clone + Send + Sync + 'static {
    move |v: &str| match int::<usize>(p.clone())(v)? {
        n if n > max => Err(Error::param(p.clone(), format!("{n} is more {what}: at most {max}"))),
        n => Ok(n),
    }
}

/// A finite number that `ok` accepts (else `<rule>, got {x}`).
fn number(p: Param, ok: fn(f64) -> bool, rule: &'static str) -> impl Fn(&str) -> Result<f64> + Clone + Send + Sync + 'static {
    move |v: &str| match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && ok(x) => Ok(x),
        Ok(x) if x.is_finite() => Err(Error::param(p.clone(), format!("{rule}, got {x}"))),
        _ => Err(Error::param(p.clone(), format!("must be a number, got '{v}'"))),
    }
}

/// `--model`: a preset key or alias, or `other` ([`model_preset::parse_key`]).
fn model_key(v: &str) -> Result<String> {
    model_preset::parse_key(v).map(str::to_string)
}

/// `--export-format`'s list (a type alias, so clap takes it as one value).
type Formats = Vec<ExportFormat>;

const USAGE: &str = "\
elb -icp <folder>[,<folder2>...] [options]     compute the deployment table of every phase found
       elb score -icp <folder> [--table <json>] [-nn N] [-nd N] [-nsed K]
       elb sweep -icp <folder> [cluster/algorithm options] [--gb-per-expert 2.4] [--json]
       elb sample --preset small|qwen3|dsv3|kimi|xl --format summed|series [--seed N] -o <dir>";

/// MoE expert hotspot dumps -> redundant expert deployment tables (msit elb compatible)
#[derive(Parser, Debug)]
#[command(name = "elb", version, override_usage = USAGE, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(args_override_self = true, allow_negative_numbers = true)]
#[command(after_help = "Exit code 0 on success, 2 on bad input or flags (the message says what and where).")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: solve.
    #[command(flatten)]
    solve: SolveArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the balance figures of the current placement (or --table) as JSON
    #[command(args_override_self = true, allow_negative_numbers = true)]
    Score(ScoreArgs),
    /// Redundancy sweep: solve and score for every redundant-slot count R from 0 to 2x NPUs
    #[command(args_override_self = true, allow_negative_numbers = true)]
    Sweep(SweepArgs),
    /// Write a built-in synthetic hotspot dump
    #[command(args_override_self = true)]
    Sample(SampleArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        /// the shell
        shell: clap_complete::Shell,
    },
}

/// The input, in every command.
#[derive(Args, Debug)]
#[command(next_help_heading = "Input (msit elb flags and defaults)")]
struct InputArgs {
    /// input folder(s), comma-separated (required)
    #[arg(long = "info-csv-path", value_name = "FOLDERS", required = true)]
    inputs: Option<String>,
    /// list every per-layer warning (default: the first 3 and a count)
    #[arg(short, long)]
    verbose: bool,
    /// print nothing but errors and the requested output (no warnings,
    /// notes, progress or result lines)
    #[arg(short = 'q', long, conflicts_with = "verbose")]
    quiet: bool,
}

/// The cluster, in every command (`-nre` is the solve command's alone:
/// sweep tries every count, score solves nothing).
#[derive(Args, Debug)]
#[command(next_help_heading = "Cluster (msit elb flags and defaults)")]
struct ClusterArgs {
    /// NPUs in total [default: 64; elb score without -nn: the NPUs of the dump's ranks]
    #[arg(long = "num-npus", value_name = "D", value_parser = int::<usize>(Param::Npus))]
    npus: Option<usize>,
    /// nodes (servers)
    #[arg(long = "num-nodes", value_name = "N", default_value_t = Cluster::default().nodes, value_parser = int::<usize>(Param::Nodes))]
    nodes: usize,
    /// devices dedicated to the shared expert
    #[arg(long = "num-share-expert-devices", value_name = "K", default_value_t = Cluster::default().shared_devices)]
    #[arg(value_parser = int::<usize>(Param::SharedDevices))]
    shared_devices: usize,
}

/// How to solve, in the solve and sweep commands.
#[derive(Args, Debug)]
#[command(next_help_heading = "Algorithm (msit elb flags and defaults)")]
struct SolverArgs {
    /// msit's algorithm number (0..5) or a name; every algorithm, its
    /// number and its name are listed under ALGORITHMS at the end
    #[arg(long = "algorithm", value_name = "0..5|NAME", default_value = "0", value_parser = Algorithm::parse, verbatim_doc_comment)]
    algorithm: Algorithm,
    /// device type
    #[arg(long = "device-type", value_name = "a2|a3", default_value = "a2", value_parser = DeviceType::parse)]
    device_type: DeviceType,
    /// expert groups (DeepSeek EPLB hierarchical)
    #[arg(long, value_name = "G", value_parser = int::<usize>(Param::Groups))]
    groups: Option<usize>,
    /// seed of the randomised optimisers (level 2) [default: 0]
    #[arg(long, value_name = "N", value_parser = int::<u64>(Param::Seed))]
    seed: Option<u64>,
    /// level 2 (-al 3 / -al 5) on time-series input: optimise the
    /// worst fitted interval's imbalance rather than the mean one
    /// (a table for drifting load); an error with other algorithms
    #[arg(long, verbatim_doc_comment)]
    robust: bool,
    /// threads for solving; default all cores
    #[arg(long, value_name = "N", value_parser = at_most(Param::Threads, 1024, "threads than the engine takes (0 = all cores)"))]
    threads: Option<usize>,
}

/// The current placement, in the solve and score commands.
#[derive(Args, Debug)]
#[command(next_help_heading = "Current placement")]
struct CurrentArgs {
    /// the placement the server runs now: a deployment table JSON,
    /// a physical_to_logical_map JSON (SGLang/vLLM) or a TensorRT-LLM
    /// load-balancer YAML [default: the dump's eplb_expert_map_file];
    /// the slots that change are printed
    #[arg(long, value_name = "FILE", verbatim_doc_comment)]
    current: Option<String>,
    /// solve / score without the current placement
    #[arg(long)]
    ignore_current: bool,
}

/// `elb -icp <folder> ...`: the deployment table of every phase.
#[derive(Args, Debug)]
struct SolveArgs {
    #[command(flatten)]
    input: InputArgs,
    /// where <phase>_global_deployment.json is written
    #[arg(short = 'o', long = "output-dir", value_name = "DIR", default_value = "./", help_heading = "Input (msit elb flags and defaults)")]
    output: String,
    /// redundant expert slots in total
    #[arg(long = "num-redundant-expert", value_name = "R", default_value_t = Cluster::default().redundant, value_parser = int::<usize>(Param::Redundant))]
    #[arg(help_heading = "Cluster (msit elb flags and defaults)")]
    redundant: usize,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    solver: SolverArgs,
    /// write msit's own table even where it puts an expert twice on one
    /// NPU (without it such layers are repaired by swaps; every other
    /// layer is msit's table either way). Reproduced exactly, ties
    /// included: -al 0 (-dt a2 and a3), -al 1, -al 2, -al 4. Except:
    /// -al 0 -dt a3 with -nn 256 -nre 256 (msit's pairing path; ours is
    /// the plain A3 table), and -al 0/2 on a dump that names a current
    /// placement (msit reads its slot columns as experts; we map them).
    /// -al 3/5 are our own seeded optimiser, not msit's (its solver is
    /// time-limited and randomised): the switch does not change them.
    /// DeepSeek EPLB: keeps a duplicate unrepaired. See docs/parity.md
    #[arg(long, verbatim_doc_comment, help_heading = "Algorithm (msit elb flags and defaults)")]
    msit_compat: bool,
    #[command(flatten)]
    current: CurrentArgs,
    #[command(flatten)]
    after: SolveExtras,
}

/// What the solve command does besides solving.
#[derive(Args, Debug)]
#[command(next_help_heading = "Held-out check, migration, export")]
struct SolveExtras {
    /// fit on the even intervals only (0-based) and print the
    /// time-resolved imbalance on the odd ones beside the in-sample one
    #[arg(long, verbatim_doc_comment)]
    holdout: bool,
    /// fit on the first fraction F of the intervals (e.g. 0.7) and
    /// print the time-resolved imbalance on the rest (time series)
    #[arg(long, value_name = "F", verbatim_doc_comment)]
    #[arg(value_parser = number(Param::HoldoutSplit, |f| f > 0.0 && f < 1.0, "the fraction of intervals to fit must lie strictly between 0 and 1"))]
    holdout_split: Option<f64>,
    /// re-fit every H intervals on the last W (time series): print the
    /// time-resolved imbalance of every interval after the first W,
    /// each scored with the table that would have served it; the
    /// table written is fitted on the last W intervals
    #[arg(long, value_name = "W,H", verbatim_doc_comment)]
    #[arg(value_parser = holdout::parse_rolling)]
    holdout_rolling: Option<(usize, usize)>,
    /// after solving, move as few slots of the current placement as
    /// possible to come within --target-within of the new table
    #[arg(long, verbatim_doc_comment)]
    migration_aware: bool,
    /// tolerance of --migration-aware, per layer [default: 0.02]
    #[arg(long, value_name = "T", value_parser = number(Param::TargetWithin, |t| t >= 0.0, "must be a non-negative fraction (0.02 = within 2%)"))]
    target_within: Option<f64>,
    /// msit, sglang, trtllm or all (comma-separated):
    /// <phase>_global_deployment.json (MindIE, vLLM-Ascend expert_map_path),
    /// <phase>_physical_to_logical.json (SGLang --init-expert-location),
    /// <phase>_moe_load_balancer.yaml (TensorRT-LLM); the last two need --model
    #[arg(long, value_name = "LIST", default_value = "msit", value_parser = ExportFormat::parse_list, verbatim_doc_comment)]
    export_format: Formats,
    /// the model the SGLang and TensorRT-LLM files are written for (their
    /// rows / keys are its decoder layers): deepseek-v3 (also R1),
    /// kimi-k2, qwen3-235b-a22b, qwen3-30b-a3b, or other with
    /// --first-moe-layer [--hidden-layers]; see docs/exports.md
    #[arg(long, value_name = "MODEL", verbatim_doc_comment, value_parser = model_key)]
    model: Option<String>,
    /// model 'other': decoder layer index of the first MoE layer
    /// (DeepSeek-V3: 3)
    #[arg(long, value_name = "N", verbatim_doc_comment)]
    #[arg(value_parser = at_most(Param::FirstMoeLayer, MAX_FIRST_MOE_LAYER, "layers than any model has"))]
    first_moe_layer: Option<usize>,
    /// model 'other': decoder layers, dense ones included
    /// [default: first MoE layer + the data's MoE layers]
    #[arg(long, value_name = "H", verbatim_doc_comment)]
    #[arg(value_parser = at_most(Param::HiddenLayers, MAX_FIRST_MOE_LAYER, "layers than any model has"))]
    hidden_layers: Option<usize>,
    /// add the MTP layer's entry (key = hidden layers, TensorRT-LLM's
    /// default table) to the TensorRT-LLM YAML
    #[arg(long, verbatim_doc_comment)]
    mtp: bool,
    /// print the results as one JSON document on stdout (figures before
    /// and after, files written, slots moved, held-out) instead of lines
    #[arg(long, verbatim_doc_comment, help_heading = "Output")]
    json: bool,
}

#[derive(Args, Debug)]
struct ScoreArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// the deployment table to score [default: the current
    /// placement named by the input, else the default layout]
    #[arg(long, value_name = "JSON", verbatim_doc_comment, help_heading = "Current placement")]
    table: Option<String>,
    #[command(flatten)]
    current: CurrentArgs,
}

#[derive(Args, Debug)]
struct SweepArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    solver: SolverArgs,
    /// memory of one redundant expert per card, all MoE layers
    /// [MindIE's figure for DeepSeek-V3 w8a8]
    #[arg(long, value_name = "GB", default_value_t = sweep::DEFAULT_GB_PER_REDUNDANT, verbatim_doc_comment, help_heading = "Sweep")]
    #[arg(value_parser = number(Param::GbPerExpert, |g| g >= 0.0, "must be a non-negative number of GB"))]
    gb_per_expert: f64,
    /// print the sweep as JSON
    #[arg(long, help_heading = "Sweep")]
    json: bool,
}

#[derive(Args, Debug)]
struct SampleArgs {
    /// the model the dump imitates
    #[arg(short, long, value_name = "small|qwen3|dsv3|kimi|xl", value_parser = Preset::parse)]
    preset: Preset,
    /// one summed file per rank, or a time series
    #[arg(short, long, value_name = "summed|series", default_value = "series", value_parser = SampleFormat::parse)]
    format: SampleFormat,
    /// seed of the generator
    #[arg(short, long, value_name = "N", default_value_t = 0, value_parser = int::<u64>(Param::Seed))]
    seed: u64,
    /// the folder to write the dump into (required)
    #[arg(short = 'o', long = "output-dir", visible_alias = "out", alias = "output", value_name = "DIR")]
    output: String,
    /// change the preset's MoE layers
    #[arg(long, value_name = "L", value_parser = int::<usize>(Param::Other("--layers".into())))]
    layers: Option<usize>,
    /// change the preset's routed experts
    #[arg(long, value_name = "E", value_parser = int::<usize>(Param::Other("--experts".into())))]
    experts: Option<usize>,
    /// change the preset's NPUs (one rank file each)
    #[arg(long, value_name = "D", value_parser = int::<usize>(Param::Other("--npus".into())))]
    npus: Option<usize>,
    /// change the preset's nodes
    #[arg(long, value_name = "N", value_parser = int::<usize>(Param::Other("--nodes".into())))]
    nodes: Option<usize>,
    /// change the preset's dumps (series format)
    #[arg(long, value_name = "T", value_parser = int::<usize>(Param::Other("--dumps".into())))]
    dumps: Option<usize>,
}

// ---------------------------------------------------------------------------
// clap's refusals in our words.

/// The subcommands, which come first ([`Cli`]); none is the solve command.
const SUBCOMMANDS: [&str; 3] = ["score", "sweep", "sample"];

/// Why a flag of another command is refused by `command` ("" = solve).
fn not_here(command: &str, flag: &str) -> Option<&'static str> {
    const SOLVE_ONLY: [&str; 11] =
        ["--holdout", "--holdout-split", "--holdout-rolling", "--migration-aware", "--target-within", "--export-format", "--first-moe-layer", "--current", "--model", "--hidden-layers", "--mtp"];
    const SOLVER: [&str; 9] = ["-nre", "-al", "-dt", "--seed", "--groups", "--msit-compat", "-o", "--output-dir", "--threads"];
    Some(match (command, flag) {
        ("" | "sweep", "--table") => "is a flag of elb score (elb score -icp <folder> --table <json>)",
        ("" | "score", "--gb-per-expert") | ("score", "--json") => "is a flag of elb sweep (elb sweep -icp <folder> ...); see elb --help",
        ("score", "--robust") => "is a flag of the solve and sweep commands (it changes how level 2 solves); see elb --help",
        ("score", f) if SOLVER.contains(&f) => {
            "does not apply to elb score, which scores the current placement (or --table) and solves nothing; see elb --help"
        }
        ("sweep", "-nre") => "does not apply to elb sweep, which tries every redundant-expert count itself (0 to twice the NPUs)",
        ("sweep", "-o" | "--output-dir") => "does not apply to elb sweep, which writes no table (use --json to keep the figures)",
        ("sweep", "--msit-compat") => "does not apply to elb sweep, which scores repaired tables only",
        ("sweep", "--ignore-current") => "does not apply to elb sweep, which uses no current placement",
        ("score" | "sweep", f) if SOLVE_ONLY.contains(&f) => "is a flag of the solve command (elb -icp <folder> ...); see elb --help",
        _ => return None,
    })
}

/// The parsed command line, or the help / version printed (`None`), or the
/// refusal as our [`Error`].
fn parse(args: &[String]) -> Result<Option<Cli>> {
    let argv = std::iter::once("elb".to_string()).chain(msit_argv(args));
    // The help ends with the algorithm catalogue.
    let command = <Cli as clap::CommandFactory>::command()
        .after_help(format!("ALGORITHMS (-al / --algorithm):\n{}\nExit code 0 on success, 2 on bad input or flags (the message says what and where).", algo::catalogue::help_lines(4)));
    let parsed = command.try_get_matches_from(argv).and_then(|mut m| <Cli as clap::FromArgMatches>::from_arg_matches_mut(&mut m));
    let e = match parsed {
        Ok(cli) => return Ok(Some(cli)),
        Err(e) => e,
    };
    if matches!(e.kind(), ClapKind::DisplayHelp | ClapKind::DisplayVersion) {
        let text = e.to_string();
        say!("{}", if e.kind() == ClapKind::DisplayHelp { msit_help(&text) } else { text }.trim_end());
        return Ok(None);
    }
    // A value parser's refusal is already ours.
    if let Some(ours) = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<Error>()) {
        return Err(ours.clone());
    }
    let arg = match e.get(ContextKind::InvalidArg).or_else(|| e.get(ContextKind::InvalidSubcommand)) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    let flag = msit_flag(arg.split([' ', '=']).next().unwrap_or_default());
    // clap reads `-nr` as `-n`: name the argument as typed.
    let flag = match args.iter().find(|a| flag.len() == 2 && a.starts_with(flag) && !a.starts_with("--")) {
        Some(typed) => typed.split('=').next().unwrap_or(flag),
        None => flag,
    };
    let command = args.first().map_or("", String::as_str);
    let command = if SUBCOMMANDS.contains(&command) { command } else { "" };
    let rule = match e.kind() {
        ClapKind::UnknownArgument | ClapKind::InvalidSubcommand => match not_here(command, flag) {
            Some(why) => why.to_string(),
            None if flag.starts_with('-') => "unknown flag; see elb --help".to_string(),
            None => "unexpected argument; see elb --help".to_string(),
        },
        // `elb -icp x stray`: clap took `stray` for a subcommand after the flags.
        ClapKind::ArgumentConflict if e.get(ContextKind::InvalidSubcommand).is_some() => match SUBCOMMANDS.contains(&flag) {
            true => format!("the subcommand comes first: elb {flag} -icp <folder> ...; see elb --help"),
            false => "unexpected argument; see elb --help".to_string(),
        },
        // A value outside a fixed list (`completions tcsh`) names the list;
        // an empty one needs a value.
        ClapKind::InvalidValue => match (e.get(ContextKind::InvalidValue), e.get(ContextKind::ValidValue)) {
            (Some(ContextValue::String(v)), Some(ContextValue::Strings(ok))) if !v.is_empty() => {
                format!("must be one of {}, got '{v}'", ok.join(", "))
            }
            _ => "needs a value".to_string(),
        },
        ClapKind::TooManyValues | ClapKind::NoEquals => "takes no value".to_string(),
        ClapKind::MissingRequiredArgument => match Param::from(flag) {
            Param::Input => "the input folder is required (elb -icp <folder>; see elb --help)".to_string(),
            Param::Preset => format!("is required ({})", Preset::names()),
            Param::Output => "is required: the folder to write the sample into".to_string(),
            _ => "is required; see elb --help".to_string(),
        },
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
            return Err(Error::msg(format!("{first}; see elb --help")));
        }
    };
    Err(Error::param(flag, rule))
}

// ---------------------------------------------------------------------------
// From the command line to the engine's settings (the cross-flag rules).

impl ClusterArgs {
    fn cluster(&self, redundant: usize, device_type: DeviceType) -> Cluster {
        let devices = self.npus.unwrap_or(Cluster::default().devices);
        Cluster { devices, nodes: self.nodes, redundant, shared_devices: self.shared_devices, device_type }
    }
}

impl SolverArgs {
    /// The settings, every flag checked against the others.
    fn settings(&self, cluster: Cluster) -> Result<Settings> {
        let a = self.algorithm;
        if self.robust && !a.entry().robust {
            return Err(Error::param(Param::Robust, format!("only the level-2 optimiser (-al 3 or -al 5) has a robust mode; {} ignores it", a.label())));
        }
        if self.seed.is_some() && !a.entry().seeded {
            return Err(Error::param(
                Param::Seed,
                format!("only the randomised level-2 optimiser (-al 3 / -al 5) reads a seed; {} is deterministic and ignores it", a.label()),
            ));
        }
        if self.groups.is_some() && !a.entry().groups {
            return Err(Error::param(
                Param::Groups,
                format!("only DeepSeek EPLB hierarchical (--algorithm deepseek-hierarchical) uses expert groups; {} ignores them", a.label()),
            ));
        }
        cluster.check_limits()?;
        Ok(Settings { cluster, algorithm: a, seed: self.seed.unwrap_or(0), groups: self.groups, robust: self.robust, ..Settings::default() })
    }
}

impl CurrentArgs {
    fn check(&self, migration_aware: bool) -> Result<()> {
        if self.ignore_current && (self.current.is_some() || migration_aware) {
            return Err(Error::param("--ignore-current", "contradicts --current and --migration-aware, which need the current placement"));
        }
        Ok(())
    }
}

impl SolveArgs {
    fn settings(&self) -> Result<Settings> {
        let x = &self.after;
        if [x.holdout, x.holdout_split.is_some(), x.holdout_rolling.is_some()].iter().filter(|&&b| b).count() > 1 {
            let p = if x.holdout_rolling.is_some() { Param::HoldoutRolling } else { Param::HoldoutSplit };
            return Err(Error::param(p, "choose one of --holdout (even/odd intervals), --holdout-split (chronological) and --holdout-rolling (re-fitted every H intervals)"));
        }
        let mut s = self.solver.settings(self.cluster.cluster(self.redundant, self.solver.device_type))?;
        self.current.check(x.migration_aware)?;
        if x.target_within.is_some() && !x.migration_aware {
            return Err(Error::param(Param::TargetWithin, "only has an effect with --migration-aware"));
        }
        // `Settings::holdout` stays off: run_solve splits the data itself.
        s.msit_compat = self.msit_compat;
        Ok(s)
    }
}

// ---------------------------------------------------------------------------
// Reading the input.

fn load(input: &InputArgs) -> Result<Dataset> {
    // clap requires -icp; an empty one is refused by the reader.
    let ds = ingest::folders::read_folders(input.inputs.as_deref().unwrap_or_default())?;
    if !input.quiet {
        for w in &ds.warnings {
            eprintln!("elb: warning: {w}");
        }
        if let Some(m) = &ds.missing_map {
            eprintln!("elb: warning: the config names {m} as the current placement, but it is not among the input files; add it to score the current placement");
        }
    }
    if ds.phases.is_empty() && ds.dropped_table.is_none() {
        return Err(Error::msg("no decode_<rank>.csv / prefill_<rank>.csv data found in the input"));
    }
    Ok(ds)
}

/// The current placement of a phase, checked: `--current` (read in any
/// format), else a table in the input folder, else the dump's
/// `eplb_expert_map_file` ([`before::current`]); none with `--ignore-current`.
fn current_of(c: &CurrentArgs, cluster: &Cluster, ds: &Dataset, data: &PhaseData) -> Result<Option<before::Current>> {
    if c.ignore_current {
        return Ok(None);
    }
    let given = match &c.current {
        Some(path) => {
            let bytes = fs::read(path).map_err(|e| Error::file(path.as_str(), format!("cannot read the current placement (--current): {e}")))?;
            Some(before::read_placement(path, &bytes, cluster.routed_devices(), data.layers)?)
        }
        None => None,
    };
    before::current(ds, data, cluster, given.as_ref())
}

fn run_solve(a: &SolveArgs) -> Result<()> {
    let settings = a.settings()?;
    let x = &a.after;
    let ds = load(&a.input)?;
    if ds.phases.is_empty() {
        let name = ds.dropped_table.as_ref().map_or("", |(n, _)| n.as_str());
        return Err(Error::file(
            name,
            "the input holds only a deployment table; a new table needs hotspot data (decode_<rank>.csv / prefill_<rank>.csv). Use elb score -icp <folder> to check this table",
        ));
    }
    let out_dir = Path::new(&a.output);
    fs::create_dir_all(out_dir).map_err(|e| Error::param("-o", format!("cannot create the output folder {}: {e}", out_dir.display())))?;
    let algorithm = match settings.robust {
        true => format!("{}, robust (worst interval)", settings.algorithm.label()),
        false => settings.algorithm.label().to_string(),
    };
    // Files and lines of every phase; written and printed once every phase
    // is solved and every file checked, so a failure leaves no partial output.
    let mut writes: Vec<(PathBuf, String)> = Vec::new();
    let mut lines: Vec<String> = Vec::new();
    // The same results as one JSON document (`--json`).
    let mut doc: BTreeMap<String, Value> = BTreeMap::new();
    for data in &ds.phases {
        let pj = solve_phase(a, &settings, &algorithm, &ds, data, out_dir, &mut writes, &mut lines)?;
        doc.insert(data.phase.name().to_string(), object(pj));
    }
    for (path, text) in &writes {
        fs::write(path, text.as_bytes()).map_err(|e| Error::file(path.display().to_string(), format!("cannot write: {e}")))?;
    }
    if x.json {
        say!("{}", json::to_string_pretty(&object(doc)));
    } else if !a.input.quiet {
        for line in &lines {
            say!("{line}");
        }
    }
    Ok(())
}

/// Solve one phase: split for held-out, check the model and exports, solve,
/// refine for migration, render every file (into `writes`) and report
/// (`lines`, and the phase's `--json` object returned).
#[allow(clippy::too_many_arguments)]
fn solve_phase(
    a: &SolveArgs,
    settings: &Settings,
    algorithm: &str,
    ds: &Dataset,
    data: &PhaseData,
    out_dir: &Path,
    writes: &mut Vec<(PathBuf, String)>,
    lines: &mut Vec<String>,
) -> Result<BTreeMap<String, Value>> {
    let (x, cluster) = (&a.after, settings.cluster);
    let phase = data.phase.name();
    let mut pj = BTreeMap::new();
    // Held-out runs split the data here and fit on the fit part with
    // `Settings::holdout` off: for level 2 this is the same fit as its
    // own hold-out (even intervals), and every other algorithm gets the
    // same treatment (C2LB then reads the fit part's loads only).
    let parts = match (x.holdout, x.holdout_split) {
        (true, _) => Some(holdout::split_even_odd(data)?),
        (false, Some(f)) => Some(holdout::split(data, f)?),
        (false, None) => None,
    };
    // A rolling origin: its parts checked before the solve; the table
    // written is the policy's next one, fitted on the last W intervals.
    let rolling = match x.holdout_rolling {
        Some((w, h)) => Some((holdout::plan(data, holdout::HoldOut::Rolling(w, h))?, holdout::latest(data, w)?, (w, h))),
        None => None,
    };
    let fit_data = match (&parts, &rolling) {
        (Some((f, _)), _) => f,
        (None, Some((_, latest, _))) => latest,
        (None, None) => data,
    };
    // The model and the export options checked before the solve.
    let model = model_preset::resolve(x.model.as_deref(), x.first_moe_layer, x.hidden_layers, data.layers, data.experts)?;
    let options = ExportOptions { model, mtp: x.mtp, msit_compat: a.msit_compat };
    check_options(&x.export_format, &options)?;
    let current = current_of(&a.current, &cluster, &ds, data)?;
    if x.migration_aware && current.is_none() {
        return Err(Error::param(
            Param::MigrationAware,
            format!("needs the current placement of the {phase} phase: a time-series dump naming eplb_expert_map_file, a table dropped with the data, or --current <file>"),
        ));
    }
    let t0 = Instant::now();
    let mut bar = Progress::new(phase, fit_data.layers, !a.input.quiet);
    let (mut placement, sol) = algo::solve_all(fit_data, &settings, &mut |n| bar.update(n))?;
    bar.done();
    let secs = t0.elapsed().as_secs_f64();
    if !a.input.quiet {
        print_warnings(phase, &sol.warnings, a.input.verbose);
    }
    pj.insert("algorithm".into(), settings.algorithm.name().into());
    pj.insert("robust".into(), settings.robust.into());
    pj.insert("seconds".into(), secs.into());
    pj.insert("warnings".into(), sol.warnings.clone().into());
    let mut migration_line = None;
    if let (true, Some(cur)) = (x.migration_aware, &current) {
        let (refined, line) = migrate(phase, x, &cur.placement, &placement, fit_data, &mut pj)?;
        placement = refined;
        migration_line = Some(line);
    }
    // Every format rendered and checked before any file is written.
    let files = render_all(&x.export_format, &placement, data.experts, &cluster, &options)?;
    let mut written: Vec<String> = Vec::new();
    let mut settings_lines: Vec<(ExportFormat, String)> = Vec::new();
    for f in &files {
        for w in f.warnings.iter().filter(|_| !a.input.quiet) {
            eprintln!("elb: warning: {phase}: {w}");
        }
        let path = out_dir.join(f.format.file_name(data.phase));
        settings_lines.push((f.format, format!("{phase}: {} needs {}", path.display(), f.format.server_settings(&placement, data.experts, &cluster, &options))));
        written.push(path.display().to_string());
        writes.push((path, f.text.clone()));
    }
    let before = before::of_current(current.as_ref(), data, &cluster);
    let (b, after) = (score(data, &before.placement, &cluster), score(data, &placement, &cluster));
    let before_label = before.label;
    pj.insert("files".into(), written.clone().into());
    pj.insert("server_settings".into(), settings_lines.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>().into());
    pj.insert("before_is".into(), before_label.into());
    pj.insert("before".into(), Value::of(&ScoreSummary::from(&b)));
    pj.insert("after".into(), Value::of(&ScoreSummary::from(&after)));
    lines.push(format!(
        "{phase}: {algorithm}: step imbalance {:.4} -> {:.4}, lower bound {:.4}, {secs:.2} s -> {}",
        b.step_imbalance,
        after.step_imbalance,
        after.lower_bound,
        written.join(", ")
    ));
    // The msit JSON's settings go into --json only (the plain output stays
    // what scripts of msit's flags expect); other formats' are printed.
    lines.extend(settings_lines.into_iter().filter(|(f, _)| *f != ExportFormat::Msit).map(|(_, l)| l));
    if let Some(cur) = &current {
        lines.push(slots_moved(phase, cur, &placement, &mut pj));
    }
    lines.extend(migration_line);
    if let Some((fit, eval)) = &parts {
        lines.push(held_out(phase, x.holdout, fit, eval, &placement, &cluster, &mut pj));
    }
    if let Some((origins, _, wh)) = &rolling {
        lines.push(rolling_held_out(phase, data, origins, wh, &settings, &cluster, !a.input.quiet, &mut pj)?);
    }
    Ok(pj)
}

/// `--migration-aware`: the current placement refined towards the new
/// table until within `--target-within` (the engine's stepper, run to the end).
fn migrate(
    phase: &str,
    x: &SolveExtras,
    cur: &Placement,
    placement: &Placement,
    fit_data: &PhaseData,
    pj: &mut BTreeMap<String, Value>,
) -> Result<(Placement, String)> {
    let tol = x.target_within.unwrap_or(0.02);
    let unconstrained = migration::slots_changed(cur, placement).0;
    let r = migration::Refiner::new(cur, placement, &fit_data.summed, fit_data.series.as_ref(), tol)
        .and_then(|rf| rf.run(&fit_data.summed, fit_data.series.as_ref()))
        .map_err(|e| e.context("--migration-aware"))?;
    let reached = r.layers.iter().filter(|l| l.reached).count();
    let line = format!(
        "{phase}: migration-aware (within {:.1}%): {} slots moved instead of {unconstrained} for the new table; {reached} of {} layers within the target",
        tol * 100.0,
        r.slots_changed,
        r.layers.len()
    );
    pj.insert(
        "migration_aware".into(),
        object([
            ("target_within", Value::from(tol)),
            ("slots_moved", r.slots_changed.into()),
            ("slots_moved_by_the_new_table", unconstrained.into()),
            ("layers_within_target", reached.into()),
            ("layers", r.layers.len().into()),
        ]),
    );
    Ok((r.placement, line))
}

/// Slots the new table moves against the current placement: the line, and `slots_moved` in `pj`.
fn slots_moved(phase: &str, current: &before::Current, placement: &Placement, pj: &mut BTreeMap<String, Value>) -> String {
    let (cur, src) = (&current.placement, &current.source);
    let (moved, per) = migration::slots_changed(cur, placement);
    let per_dev = migration::per_device_totals(&per);
    let busiest = per_dev.iter().copied().max().unwrap_or(0);
    let total_slots: usize = placement.layers.iter().flatten().map(Vec::len).sum();
    pj.insert(
        "slots_moved".into(),
        object([("current", Value::from(src.as_str())), ("total", moved.into()), ("of", total_slots.into()), ("per_npu", per_dev.clone().into())]),
    );
    let per_dev: Vec<String> = per_dev.iter().map(|x| x.to_string()).collect();
    format!(
        "{phase}: slots moved vs current ({src}): {moved} of {total_slots} (most on one NPU: {busiest}; per NPU over all layers: {})",
        per_dev.join(" ")
    )
}

/// In-sample and held-out figures of the table: the line, and `holdout` in `pj`.
fn held_out(
    phase: &str,
    even_odd: bool,
    fit: &PhaseData,
    eval: &PhaseData,
    placement: &Placement,
    cluster: &Cluster,
    pj: &mut BTreeMap<String, Value>,
) -> String {
    let h = holdout::evaluate(fit, eval, placement, cluster);
    let (fi, ei) = (h.fit_time_resolved.unwrap_or(h.fit_step), h.held_out_time_resolved.unwrap_or(h.held_out_step));
    let (nf, ne) = (h.fit_intervals, h.held_out_intervals);
    let how = match even_odd {
        true => format!("fit on the {nf} even intervals, held out: the {ne} odd ones"),
        false => format!("fit on the first {nf} intervals, held out: the last {ne}"),
    };
    let change = (ei / fi - 1.0) * 100.0;
    pj.insert(
        "holdout".into(),
        object([
            ("split", Value::from(if even_odd { "even/odd".to_string() } else { format!("first {} intervals", nf) })),
            ("fit_intervals", nf.into()),
            ("held_out_intervals", ne.into()),
            ("in_sample", fi.into()),
            ("held_out", ei.into()),
        ]),
    );
    format!("{phase}: time-resolved step imbalance in-sample {fi:.4}, held-out {ei:.4} ({change:+.2}%); {how}")
}

/// `--holdout-rolling W,H`: every origin's table fitted on its window and
/// scored on its horizon, pooled (`holdout::Pooled`; one origin's parts in
/// memory at a time): the line, and `holdout` in `pj`.
#[allow(clippy::too_many_arguments)]
fn rolling_held_out(
    phase: &str,
    data: &PhaseData,
    origins: &[(std::ops::Range<usize>, std::ops::Range<usize>)],
    &(w, h): &(usize, usize),
    settings: &Settings,
    cluster: &Cluster,
    show: bool,
    pj: &mut BTreeMap<String, Value>,
) -> Result<String> {
    let mut pooled = holdout::Pooled::default();
    for (i, (fit, held)) in origins.iter().enumerate() {
        let fit = holdout::part(data, fit.clone())?;
        let label = format!("{phase} origin {}/{}", i + 1, origins.len());
        let mut bar = Progress::new(&label, fit.layers, show);
        let table = algo::solve_all(&fit, settings, &mut |n| bar.update(n))?.0;
        bar.done();
        pooled.add(&fit, &holdout::part(data, held.clone())?, &table, cluster);
    }
    let f = pooled.figures()?;
    let (fi, ei) = (f.fit_time_resolved.unwrap_or(f.fit_step), f.held_out_time_resolved.unwrap_or(f.held_out_step));
    let change = (ei / fi - 1.0) * 100.0;
    pj.insert(
        "holdout".into(),
        object([
            ("split", Value::from(format!("rolling {w}/{h}"))),
            ("window", w.into()),
            ("horizon", h.into()),
            ("origins", origins.len().into()),
            ("fit_intervals", f.fit_intervals.into()),
            ("held_out_intervals", f.held_out_intervals.into()),
            ("in_sample", fi.into()),
            ("held_out", ei.into()),
        ]),
    );
    Ok(format!(
        "{phase}: re-fitted every {h} intervals on the last {w} ({} origins): time-resolved step imbalance in-sample {fi:.4}, held-out {ei:.4} ({change:+.2}%) over the {} intervals after the first {w}; the table written is fitted on the last {w} intervals",
        origins.len(),
        f.held_out_intervals
    ))
}

/// A JSON object of `pairs`, its keys sorted (as the CLI's `--json` has
/// always printed them).
fn object<K: Into<String>>(pairs: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::sorted_object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

fn run_sweep(a: &SweepArgs) -> Result<()> {
    let settings = a.solver.settings(a.cluster.cluster(Cluster::default().redundant, a.solver.device_type))?;
    let ds = load(&a.input)?;
    if ds.phases.is_empty() {
        let name = ds.dropped_table.as_ref().map_or("", |(n, _)| n.as_str());
        return Err(Error::file(name, "the input holds only a deployment table; a sweep needs hotspot data"));
    }
    let mut json: BTreeMap<String, Value> = BTreeMap::new();
    for data in &ds.phases {
        let t0 = Instant::now();
        let pts = sweep::run(data, &settings, a.gb_per_expert, &mut |_| true)?;
        let secs = t0.elapsed().as_secs_f64();
        if a.json {
            json.insert(
                data.phase.name().to_string(),
                object([
                    ("algorithm", Value::from(settings.algorithm.name())),
                    ("devices", settings.cluster.routed_devices().into()),
                    ("gb_per_redundant_per_card", a.gb_per_expert.into()),
                    ("points", Value::of(&pts)),
                ]),
            );
            continue;
        }
        say!(
            "{}: redundancy sweep, {}, {} routed NPUs, {} GB per redundant expert per card ({} points, {:.2} s)",
            data.phase.name(),
            settings.algorithm.label(),
            settings.cluster.routed_devices(),
            a.gb_per_expert,
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
    if a.json {
        say!("{}", json::to_string_pretty(&object(json)));
    }
    Ok(())
}

fn run_score(a: &ScoreArgs) -> Result<()> {
    let cluster = a.cluster.cluster(Cluster::default().redundant, DeviceType::default());
    cluster.check_limits()?;
    a.current.check(false)?;
    let given_nn = a.cluster.npus.is_some();
    let ds = load(&a.input)?;
    if ds.phases.is_empty() && a.table.is_none() {
        if let Some(g) = before::dropped(&ds) {
            let phase = phase_of_table_name(&g.name).unwrap_or(Phase::Decode);
            say!("{}", table_alone_json(phase, &before::check_alone(&g, &cluster)));
            return Ok(());
        }
    }
    let mut scores: Vec<(Phase, Score)> = Vec::new();
    match &a.table {
        None => {
            for data in &ds.phases {
                // No -nn: the default layout goes over the NPUs the dump
                // was collected from (its ranks), and says so.
                let mut cluster = cluster;
                let ranks = before::dump_devices(data).filter(|_| !given_nn);
                if let Some(r) = ranks {
                    cluster.devices = r + cluster.shared_devices;
                }
                let current = current_of(&a.current, &cluster, &ds, data)?;
                let b = match current {
                    Some(c) => c.placement,
                    None => {
                        before::check_default_layout(data, &cluster)?;
                        if ranks.is_some() && !a.input.quiet {
                            let (phase, d) = (data.phase.name(), cluster.routed_devices());
                            eprintln!("elb: note: {phase}: no -nn given: the default layout spreads the experts over the dump's {d} ranks");
                        }
                        before::default_layout(data, &cluster).placement
                    }
                };
                scores.push((data.phase, score(data, &b, &cluster)));
            }
        }
        Some(path) => {
            let bytes = fs::read(path).map_err(|e| Error::file(path.as_str(), format!("cannot read the table (--table): {e}")))?;
            let table = parse_table(path, &bytes)?; // errors name the line and column
            let phase = phase_of_table_name(path);
            for data in ds.phases.iter().filter(|d| phase.is_none_or(|p| d.phase == p)) {
                scores.push((data.phase, before::score_table(data, &table, &cluster)));
            }
            if let (Some(p), true) = (phase, scores.is_empty()) {
                let p = p.name();
                return Err(Error::file(path.as_str(), format!("the table is for the {p} phase, but the input has no {p} data")));
            }
        }
    }
    let refs: Vec<(Phase, &Score)> = scores.iter().map(|(p, s)| (*p, s)).collect();
    say!("{}", score_json(&refs));
    Ok(())
}

fn run_sample(a: &SampleArgs) -> Result<()> {
    let ov = elb::engine::sample::ShapeOverrides { layers: a.layers, experts: a.experts, npus: a.npus, nodes: a.nodes, dumps: a.dumps };
    eprintln!("{}", elb::engine::sample::write_dump(a.preset, a.format, a.seed, &a.output, &ov)?);
    Ok(())
}

fn run(args: &[String]) -> Result<()> {
    let Some(cli) = parse(args)? else { return Ok(()) };
    let threads = match &cli.command {
        None => cli.solve.solver.threads,
        Some(Command::Sweep(a)) => a.solver.threads,
        _ => None,
    };
    let go = || match &cli.command {
        None => run_solve(&cli.solve),
        Some(Command::Score(a)) => run_score(a),
        Some(Command::Sweep(a)) => run_sweep(a),
        Some(Command::Sample(a)) => run_sample(a),
        Some(Command::Completions { shell }) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "elb", &mut std::io::stdout());
            Ok(())
        }
    };
    // Layers and sweep points on `--threads` threads (all cores by default);
    // the tables are the same for any count.
    match threads {
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

/// A progress line on stderr while layers are solved: shown only when stderr
/// is a terminal and the solve has taken more than a second.
struct Progress<'p> {
    phase: &'p str,
    total: usize,
    start: Instant,
    on: bool,
    shown: bool,
}

impl<'p> Progress<'p> {
    fn new(phase: &'p str, total: usize, allowed: bool) -> Progress<'p> {
        use std::io::IsTerminal as _;
        Progress { phase, total, start: Instant::now(), on: allowed && std::io::stderr().is_terminal(), shown: false }
    }
    /// `done` layers solved; never cancels.
    fn update(&mut self, done: usize) -> bool {
        if self.on && self.start.elapsed().as_secs_f64() > 1.0 {
            let width = 30;
            let filled = (done * width).checked_div(self.total).unwrap_or(width);
            let bar: String = "#".repeat(filled) + &"-".repeat(width - filled.min(width));
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r{}: [{bar}] {done}/{} layers, {:.0} s", self.phase, self.total, self.start.elapsed().as_secs_f64());
            let _ = e.flush();
            self.shown = true;
        }
        true
    }
    fn done(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}
