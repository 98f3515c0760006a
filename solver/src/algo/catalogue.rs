//! The one table of algorithms: for each, its keys (the machine name of
//! `--algorithm` and share links, msit's `-al` number, the benchmark key),
//! its display name and one-line description, and the rules that apply to
//! it. Every front end reads this table: the CLI's parsing and help, the
//! page's algorithm select, Compare's list, the sweep's picker, the held-out
//! panel, elb-bench and wasm-bench. [`Algorithm`]'s `name` / `label` /
//! `explain` / `al` / `parse` / `ALL` are read from here too.
//!
//! Adding an algorithm: a variant of [`Algorithm`] (in the same position as
//! its row here: `CATALOGUE[a as usize].algorithm == a`, checked by a test),
//! one row below, and its dispatch in `elb::engine::algo::solve` (src/engine/algo/mod.rs).

use crate::error::{Error, Param, Result};
use crate::params::Algorithm;

/// One algorithm and the rules that apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub algorithm: Algorithm,
    /// Stable machine name: `--algorithm <name>`, share links, the page's select values.
    pub name: &'static str,
    /// msit's `-al` number (also accepted by `--algorithm`), if msit has it.
    pub al: Option<u32>,
    /// Key in elb-bench / wasm-bench tables (C2LB gets `-a2` / `-a3` appended there).
    pub bench: &'static str,
    /// Display name (the page's select, Compare's rows, reports).
    pub label: &'static str,
    /// One line for the page's algorithm picker.
    pub explain: &'static str,
    /// Fits on the kept intervals of time-series input (so held-out fitting
    /// applies); otherwise it reads totals only.
    pub time_aware: bool,
    /// Reproduces the reference tool's table exactly (goldens).
    pub msit_reproduced: bool,
    /// Reads the robust option (`--robust`, the page's "Robust" box).
    pub robust: bool,
    /// Reads the expert groups (`--groups`, the page's "Expert groups").
    pub groups: bool,
    /// Randomised: reads the seed (`--seed`, the page's "Seed").
    pub seeded: bool,
    /// Places the shared expert among the routed ones (needs time series and top-k).
    pub mixed: bool,
    /// Its table is C2LB's, whose spread depends on the device type (`-dt`).
    pub device_type: bool,
    /// Listed in the page's Compare panel and in elb-bench's held-out table.
    pub compare: bool,
    /// Takes seconds per model (level 2): the page warns and spreads it finer.
    pub slow: bool,
    /// Whose table it reproduces or follows (for remarks: "msit puts ...").
    pub reference: &'static str,
}

const fn row(algorithm: Algorithm, name: &'static str, al: Option<u32>, bench: &'static str, label: &'static str, explain: &'static str) -> Entry {
    Entry {
        algorithm,
        name,
        al,
        bench,
        label,
        explain,
        time_aware: false,
        msit_reproduced: false,
        robust: false,
        groups: false,
        seeded: false,
        mixed: false,
        device_type: false,
        compare: false,
        slow: false,
        reference: "msit",
    }
}

/// Every algorithm, in the order of [`Algorithm`]'s variants (the page's
/// select and the CLI help list them in this order).
pub const CATALOGUE: [Entry; 9] = [
    Entry {
        msit_reproduced: true,
        device_type: true,
        compare: true,
        ..row(
            Algorithm::C2lb,
            "c2lb",
            Some(0),
            "al0",
            "C2LB (al 0)",
            "msit's default: copies for the hottest experts by repeated halving, then greedy least-loaded placement. Fast, static loads only.",
        )
    },
    Entry {
        time_aware: true,
        msit_reproduced: true,
        compare: true,
        ..row(
            Algorithm::SpecMoe1,
            "spec-moe-1",
            Some(1),
            "al1",
            "Speculative-MoE level 1 (al 1)",
            "Time-aware greedy: replica counts and placement judged over 8 stages of the dump, so drifting load is balanced too.",
        )
    },
    Entry {
        msit_reproduced: true,
        compare: true,
        ..row(
            Algorithm::DynamicC2lb,
            "dynamic-c2lb",
            Some(2),
            "al2",
            "Dynamic C2LB (al 2)",
            "C2LB with node-local redundancy (each node keeps its own experts and copies); seeds MindIE's dynamic balancing.",
        )
    },
    Entry {
        time_aware: true,
        robust: true,
        seeded: true,
        compare: true,
        slow: true,
        ..row(
            Algorithm::SpecMoe2,
            "spec-moe-2",
            Some(3),
            "al3",
            "Level 2 optimiser (al 3)",
            "Our optimiser: peak-aware replica counts and slot-swap local search on the time-resolved imbalance. Best balance, seconds per model.",
        )
    },
    Entry {
        time_aware: true,
        msit_reproduced: true,
        mixed: true,
        ..row(
            Algorithm::SpecMoe1Mixed,
            "spec-moe-1-mixed",
            Some(4),
            "al4",
            "Level 1, shared expert mixed (al 4)",
            "Level 1 with the shared expert placed among the routed ones (time-series input).",
        )
    },
    Entry {
        time_aware: true,
        robust: true,
        seeded: true,
        mixed: true,
        slow: true,
        ..row(
            Algorithm::SpecMoe2Mixed,
            "spec-moe-2-mixed",
            Some(5),
            "al5",
            "Level 2, shared expert mixed (al 5)",
            "Level 2 with the shared expert placed among the routed ones (time-series input).",
        )
    },
    Entry {
        time_aware: true,
        groups: true,
        reference: "DeepSeek EPLB",
        ..row(
            Algorithm::DeepseekHierarchical,
            "deepseek-hierarchical",
            None,
            "deepseek-hier",
            "DeepSeek EPLB hierarchical",
            "DeepSeek's open-source EPLB: expert groups packed onto nodes, then replicas within nodes. Needs groups divisible by nodes.",
        )
    },
    Entry {
        time_aware: true,
        compare: true,
        reference: "DeepSeek EPLB",
        ..row(
            Algorithm::DeepseekGlobal,
            "deepseek-global",
            None,
            "deepseek-global",
            "DeepSeek EPLB global",
            "DeepSeek's open-source EPLB with one group: global replication and packing.",
        )
    },
    Entry {
        time_aware: true,
        compare: true,
        reference: "FlashLB",
        ..row(
            Algorithm::FlashLb,
            "flashlb",
            None,
            "flashlb",
            "FlashLB (vLLM-Ascend / SGLang)",
            "The policy vLLM-Ascend and SGLang ship: replicas for mean + z·std of each expert's load, a tree search over their split, risk-aware placement; keeps the current table where it is balanced enough.",
        )
    },
];

/// The row of `a`.
pub const fn entry(a: Algorithm) -> &'static Entry {
    &CATALOGUE[a as usize]
}

/// Every algorithm, in catalogue order.
pub const ALL: [Algorithm; CATALOGUE.len()] = {
    let mut out = [Algorithm::C2lb; CATALOGUE.len()];
    let mut i = 0;
    while i < CATALOGUE.len() {
        out[i] = CATALOGUE[i].algorithm;
        i += 1;
    }
    out
};

/// The algorithm of msit's `-al` number.
pub fn from_al(n: u32) -> Result<Algorithm> {
    CATALOGUE.iter().find(|e| e.al == Some(n)).map(|e| e.algorithm).ok_or_else(|| {
        Error::param(Param::Algorithm, format!("must be {}, got {n}", al_range()))
    })
}

/// "0..5": the `-al` numbers msit has.
pub fn al_range() -> String {
    let nums: Vec<u32> = CATALOGUE.iter().filter_map(|e| e.al).collect();
    match (nums.iter().min(), nums.iter().max()) {
        (Some(a), Some(b)) => format!("{a}..{b}"),
        _ => String::new(),
    }
}

/// An algorithm by its `-al` number or machine name.
pub fn parse(s: &str) -> Result<Algorithm> {
    if let Ok(n) = s.parse::<u32>() {
        return from_al(n);
    }
    CATALOGUE.iter().find(|e| e.name == s).map(|e| e.algorithm).ok_or_else(|| {
        Error::param(Param::Algorithm, format!("unknown algorithm '{s}'; expected {} or one of {}", al_range(), names().join(", ")))
    })
}

/// Every machine name, in catalogue order.
pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|e| e.name).collect()
}

/// The algorithms of the page's Compare panel (and elb-bench's held-out table).
pub fn compared() -> impl Iterator<Item = &'static Entry> {
    CATALOGUE.iter().filter(|e| e.compare)
}

/// The CLI help's list of algorithms: one line per algorithm, `name` padded
/// to `width`, `-al` number and label.
pub fn help_lines(indent: usize) -> String {
    let w = CATALOGUE.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for e in &CATALOGUE {
        let al = e.al.map_or(String::new(), |n| format!(" (-al {n})"));
        out.push_str(&format!("{:indent$}{:w$}  {}{al}\n", "", e.name, e.label.split(" (al ").next().unwrap_or(e.label)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_variants() {
        for (i, e) in CATALOGUE.iter().enumerate() {
            assert_eq!(e.algorithm as usize, i, "{} is row {i}", e.name);
            assert_eq!(entry(e.algorithm), e);
        }
    }

    #[test]
    fn keys_are_unique() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            for b in &CATALOGUE[..i] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.bench, b.bench);
                assert_ne!(a.label, b.label);
                assert!(a.al.is_none() || a.al != b.al);
            }
        }
    }

    #[test]
    fn parse_every_key() {
        for e in &CATALOGUE {
            assert_eq!(parse(e.name).ok(), Some(e.algorithm));
            if let Some(n) = e.al {
                assert_eq!(parse(&n.to_string()).ok(), Some(e.algorithm));
                assert_eq!(from_al(n).ok(), Some(e.algorithm));
            }
        }
        assert!(parse("6").is_err());
        assert!(parse("nope").is_err());
        assert_eq!(al_range(), "0..5");
    }
}
