//! ELB Studio's benchmarks — a tool beside the product, never timed tests:
//! parse throughput, solve time and balance figures of every algorithm on
//! every fixture and sample preset, held-out figures, thread scaling, cost
//! growth, and the synthetic dump the browser benchmark drops. Every figure
//! of docs/benchmarks.md comes from here (`cargo run --release -p elb-bench
//! -- <command>`); `elb-bench help <command>` lists each command's options.
//!
//! `parse`: ingest throughput of a synthetic time-series dump (default:
//! DeepSeek-V3 size, 58 x 256, 64 ranks, 2000 dumps, about 200 MB).
//! `solve`: for every fixture of `tests/fixtures` and every sample preset
//! (summed and series), each algorithm's wall time and the figures of
//! docs/metrics.md, with the reference tool's figures (fixtures'
//! `expected/<algo>.score.json`, wall times from `params.json`) beside them.
//! `holdout`: every algorithm of the page's Compare list fitted on the first
//! 70% of the kept intervals and on the even ones, scored in-sample and on
//! the held-out rest (`--data-seeds N`: the sample presets in N draws, with
//! a summary over the draws; `--rolling W,H`: also re-fitted every H intervals
//! on the last W, pooled). `threads` / `growth`: see threads.rs.

mod cases;
mod clock;
mod holdout;
mod page_steps;
mod parse;
mod solve;
mod threads;

use std::time::Instant;

use clap::{Args as ClapArgs, Parser, Subcommand};

/// Text to stdout, or to stderr when stdout carries JSON.
macro_rules! say {
    ($json:expr, $($t:tt)*) => {
        if $json { eprintln!($($t)*) } else { println!($($t)*) }
    };
}
pub(crate) use say;

#[derive(Parser)]
#[command(name = "elb-bench", about = "Benchmarks of ELB Studio's engine (figures of docs/benchmarks.md)")]
struct Cli {
    /// Solve on a pool of N threads (default: all cores, or RAYON_NUM_THREADS).
    #[arg(long, global = true, value_name = "N")]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

/// The synthetic dump's size: layers, experts, ranks, dump files.
#[derive(ClapArgs, Clone, Copy)]
pub struct Dims {
    #[arg(default_value_t = 58)]
    pub layers: usize,
    #[arg(default_value_t = 256)]
    pub experts: usize,
    #[arg(default_value_t = 64)]
    pub ranks: usize,
    #[arg(default_value_t = 2000)]
    pub dumps: usize,
}

/// Which inputs and algorithms.
#[derive(ClapArgs, Clone, Default)]
pub struct Select {
    /// Inputs: comma-separated; `=NAME` matches exactly, anything else as a substring.
    #[arg(long, value_name = "SUBSTR[,=EXACT]")]
    pub case: Option<String>,
    /// Algorithm keys (al0-a2, al0-a3, al1, ..., al3-robust for `holdout`).
    #[arg(long, value_name = "KEY[,KEY]", value_delimiter = ',')]
    pub algo: Option<Vec<String>>,
    /// The fixtures folder (default: this repository's tests/fixtures).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<String>,
}

impl Select {
    /// Whether the input `name` is selected (`default` when `--case` is absent).
    pub fn case_hit(&self, name: &str, default: Option<&str>) -> bool {
        match self.case.as_deref().or(default) {
            None => true,
            Some(f) => f.split(',').any(|p| match p.strip_prefix('=') {
                Some(exact) => name == exact,
                None => name.contains(p),
            }),
        }
    }
    pub fn algo_hit(&self, key: &str) -> bool {
        self.algo.as_ref().is_none_or(|a| a.iter().any(|x| x == key))
    }
}

/// Options of `solve` and `all`.
#[derive(ClapArgs, Clone, Default)]
pub struct SolveArgs {
    /// JSON on stdout instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Also level 2 on the kimi preset (slow).
    #[arg(long)]
    pub kimi: bool,
    /// Also the table fitted on the even intervals, scored on the odd ones.
    #[arg(long)]
    pub holdout: bool,
    /// Solve in ranges of N layers, as the page's workers do.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk: Option<u64>,
    /// The browser's wall times (scripts/bench-browser.sh), as a column.
    #[arg(long, value_name = "FILE")]
    pub wasm: Option<String>,
    #[command(flatten)]
    pub select: Select,
}

#[derive(Subcommand)]
enum Command {
    /// Ingest throughput of a synthetic time-series dump.
    Parse {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dims: Dims,
    },
    /// Read throughput of a synthetic vLLM EPLB load_history JSON (the streaming reader).
    ParseVllm {
        /// Size of the generated file in MiB.
        #[arg(long, default_value_t = 100)]
        mb: usize,
    },
    /// Write the synthetic dump `parse` reads (the browser benchmark drops it).
    SynthDump {
        #[arg(short, long, value_name = "DIR")]
        out: String,
        #[command(flatten)]
        dims: Dims,
    },
    /// Every algorithm on every fixture and sample preset: time and figures.
    Solve(SolveArgs),
    /// `parse` with the default size, then `solve`.
    All(SolveArgs),
    /// Fitted on part of the intervals, scored on the rest (70% and even/odd).
    Holdout {
        #[arg(long)]
        json: bool,
        /// Also the sample presets drawn with data seeds 1..N-1 (named `sample <preset> @<seed>`),
        /// and a summary over the N draws: one draw is one hotspot history, and a held-out
        /// comparison on one draw is partly luck.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
        data_seeds: u64,
        /// The algorithms' seed (`Settings::seed`, level 2's generator).
        #[arg(long, value_name = "S", default_value_t = 0)]
        seed: u64,
        /// Also a rolling origin (`holdout::rolling`): re-fitted every H intervals on the last W,
        /// every held-out interval scored with the table that would have served it, pooled.
        #[arg(long, value_name = "W,H", value_parser = |v: &str| elb::engine::holdout::parse_rolling(v).map_err(|e| e.to_string()))]
        rolling: Option<(usize, usize)>,
        #[command(flatten)]
        select: Select,
    },
    /// The same solve on 1, 2, ... threads, side by side.
    Threads {
        /// Thread counts (default: 1, 2 and all cores).
        #[arg(long, value_name = "N[,N]", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
        threads_list: Option<Vec<u64>>,
        /// Rounds per thread count.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        #[command(flatten)]
        select: Select,
    },
    /// The engine work the page does on its main thread, step by step (default input: dsv3-series).
    PageSteps {
        /// Calls per step (the fastest is shown).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        runs: u64,
        #[command(flatten)]
        select: Select,
    },
    /// How level 2's cost grows with layers x experts x NPUs x intervals.
    Growth {
        /// The algorithm key.
        #[arg(long, default_value = "al3")]
        algo: String,
        /// Thread counts (default: 1, 2).
        #[arg(long, value_name = "N[,N]", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
        threads_list: Option<Vec<u64>>,
        /// Only the one-dimension-at-a-time shapes, not the presets.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    let cli = Cli::parse();
    let run = || run(cli.command);
    match cli.threads {
        Some(n) => {
            if let Err(e) = elb::engine::par::with_threads(n, run) {
                eprintln!("elb-bench: {e}");
                std::process::exit(2);
            }
        }
        None => run(),
    }
}

fn list(v: Option<Vec<u64>>) -> Option<Vec<usize>> {
    v.map(|v| v.into_iter().map(|n| n as usize).collect())
}

fn run(command: Command) {
    match command {
        Command::Parse { json, dims } => {
            let f = parse::bench_parse(dims, json);
            if json {
                println!("{}", serde_json::to_string_pretty(&f).unwrap_or_default());
            }
        }
        Command::ParseVllm { mb } => parse::bench_parse_vllm(mb),
        Command::SynthDump { out, dims } => parse::synth_dump(&out, dims),
        Command::Solve(a) => {
            solve::bench_solve(&a, false);
        }
        Command::All(a) => {
            let t = Instant::now();
            if !a.json {
                println!("## Parse throughput\n\n```");
            }
            let dims = Dims { layers: 58, experts: 256, ranks: 64, dumps: 2000 };
            let parse = parse::bench_parse(dims, a.json);
            if !a.json {
                println!("```\n\n## Solve\n");
            }
            let solve = solve::bench_solve(&SolveArgs { json: false, ..a.clone() }, a.json);
            if a.json {
                let v = serde_json::json!({ "parse": parse, "solve": solve });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
            eprintln!("elb-bench all: {:.1} s", t.elapsed().as_secs_f64());
        }
        Command::Holdout { json, data_seeds, seed, rolling, select } => holdout::holdout_report(&select, json, data_seeds, seed, rolling),
        Command::Threads { threads_list, runs, select } => threads::threads_report(&select, list(threads_list), runs as usize),
        Command::PageSteps { runs, select } => page_steps::page_steps_report(&select, runs as usize),
        Command::Growth { algo, threads_list, json } => threads::growth_report(&algo, list(threads_list), json),
    }
}

