//! FlashLB (`--algorithm flashlb`, engine::algo::flashlb): valid and
//! deterministic tables on random inputs, its stated properties against
//! brute force (replica counts minimise the largest mean + z·std per
//! replica; the matching to the current placement maximises the kept
//! experts and lowers the slots moved; layers past the threshold are kept),
//! and golden hashes of its tables on the fixtures.

mod support;

use elb::engine::algo::flashlb::{self, Knobs, LayerStats};
use elb::engine::algo::{self, repair};
use elb::engine::migration::slots_changed;
use elb::engine::{Algorithm, Cluster, DeviceType, LoadMatrix, Phase, PhaseData, Placement, Series, Settings, SourceFormat};
use proptest::prelude::*;

fn series(layers: usize, experts: usize, t: usize, data: Vec<f64>) -> PhaseData {
    let s = Series { layers, experts, intervals: t, data };
    let mut pd = PhaseData::from_summed(Phase::Decode, SourceFormat::TimeSeries, s.summed());
    pd.series = Some(s);
    pd
}

fn summed(layers: usize, experts: usize, data: Vec<f64>) -> PhaseData {
    PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, LoadMatrix { layers, experts, data })
}

fn settings(devices: usize, nodes: usize, redundant: usize) -> Settings {
    Settings {
        cluster: Cluster { devices, nodes, redundant, shared_devices: 0, device_type: DeviceType::A2 },
        algorithm: Algorithm::FlashLb,
        ..Settings::default()
    }
}

fn solve(data: &PhaseData, s: &Settings) -> algo::Solution {
    algo::solve(data, s, 0..data.layers, &mut |_| true).unwrap()
}

fn solve_with(data: &PhaseData, s: &Settings, k: &Knobs) -> algo::Solution {
    flashlb::solve_layers_with(data, s, 0..data.layers, &mut |_| true, k).unwrap()
}

fn assert_valid(layers: &[Vec<Vec<usize>>], experts: usize, devices: usize, slots: usize) {
    for (l, layer) in layers.iter().enumerate() {
        assert_eq!(layer.len(), devices, "layer {l}: devices");
        assert!(layer.iter().all(|d| d.len() == slots), "layer {l}: slots {layer:?}");
        assert!(repair::duplicates(layer).is_empty(), "layer {l}: duplicate {layer:?}");
        for e in 0..experts {
            assert!(layer.iter().any(|d| d.contains(&e)), "layer {l}: expert {e} missing");
        }
        assert!(layer.iter().flatten().all(|&e| e < experts), "layer {l}: unknown id");
    }
}

/// Every count vector with entries in `1..=cap` summing to `total`.
fn all_counts(n: usize, total: usize, cap: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if cur.len() == n {
        if total == 0 {
            out.push(cur.clone());
        }
        return;
    }
    let left = n - cur.len() - 1;
    for c in 1..=cap.min(total) {
        if total - c < left || total - c > left * cap {
            continue;
        }
        cur.push(c);
        all_counts(n, total - c, cap, cur, out);
        cur.pop();
    }
}

fn max_per_replica(w: &[f64], c: &[usize]) -> f64 {
    w.iter().zip(c).map(|(w, &c)| w / c as f64).fold(0.0, f64::max)
}

fn fnv(layers: &[Vec<Vec<usize>>]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in layers.iter().flatten().flatten().map(|&e| e as u64).chain([u64::MAX]) {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Valid tables on summed and time-series input, the same on a second
    /// solve and when the layers are solved in two ranges.
    #[test]
    fn tables_are_valid_and_deterministic(
        dev_pow in 0usize..4,
        epd in 1usize..5,
        red_per_dev in 0usize..3,
        t in 1usize..80,
        summed_input in any::<bool>(),
        loads in proptest::collection::vec(0u32..1000, 64),
        skew in 0u32..6,
    ) {
        let devices = 1usize << dev_pow;
        let experts = devices * epd;
        let redundant = devices * red_per_dev.min(epd);
        let layers = 3;
        let vals: Vec<f64> = (0..layers * experts * t)
            .map(|i| {
                let x = loads[(i * 7 + i / 13) % loads.len()] as f64;
                if (i / t) % 3 == 0 { x * (1 + skew) as f64 } else { x }
            })
            .collect();
        let data = if summed_input {
            summed(layers, experts, vals[..layers * experts].to_vec())
        } else {
            series(layers, experts, t, vals)
        };
        let s = settings(devices, 1, redundant);
        prop_assume!(algo::check(&data, &s).is_ok());
        let a = solve(&data, &s);
        assert_valid(&a.layers, experts, devices, (experts + redundant) / devices);
        let b = solve(&data, &s);
        prop_assert_eq!(&a, &b);
        let mut head = algo::solve(&data, &s, 0..1, &mut |_| true).unwrap().layers;
        head.extend(algo::solve(&data, &s, 1..layers, &mut |_| true).unwrap().layers);
        prop_assert_eq!(&head, &a.layers);
    }

    /// The replica counts minimise the largest (mean + z·std) per replica:
    /// brute force over every count vector with the same total.
    #[test]
    fn counts_minimise_the_largest_risk_per_replica(
        n in 1usize..6,
        cap in 1usize..5,
        extra_frac in 0.0f64..1.0,
        xs in proptest::collection::vec(0u32..500, 6 * 8),
        z in 0.0f64..2.0,
    ) {
        // Samples of n experts over 8 intervals; the weights mean + z·std.
        let x: Vec<f64> = (0..8 * n).map(|i| xs[i] as f64).collect();
        let st = LayerStats::new(n, x);
        let w = st.weights(z);
        let max_extra = n * (cap - 1);
        let extra = (extra_frac * max_extra as f64) as usize;
        let c = flashlb::min_max_counts(&w, extra, cap);
        prop_assert_eq!(c.iter().sum::<usize>(), n + extra);
        prop_assert!(c.iter().all(|&k| (1..=cap).contains(&k)));
        let mut all = Vec::new();
        all_counts(n, n + extra, cap, &mut Vec::new(), &mut all);
        let best = all.iter().map(|b| max_per_replica(&w, b)).fold(f64::INFINITY, f64::min);
        prop_assert!(max_per_replica(&w, &c) <= best * (1.0 + 1e-12), "{:?} gives {} > {}", c, max_per_replica(&w, &c), best);
    }

    /// The tree search never scores worse than plain water-filling (its
    /// first candidate at every level is the water-filling split).
    #[test]
    fn tree_search_is_no_worse_than_water_filling(
        dev_pow in 1usize..4,
        epd in 2usize..6,
        red_per_dev in 1usize..3,
        t in 2usize..40,
        xs in proptest::collection::vec(0u32..1000, 97),
    ) {
        let devices = 1usize << dev_pow;
        let experts = devices * epd;
        let slots = (experts + devices * red_per_dev) / devices;
        let x: Vec<f64> = (0..t * experts).map(|i| (xs[i % 97] as f64) * if i % experts < 3 { 4.0 } else { 1.0 }).collect();
        let st = LayerStats::new(experts, x);
        let k = Knobs::default();
        let (_, tree, s_tree) = flashlb::tree_search(&st, devices, slots, &k);
        let (_, flat, s_flat) = flashlb::tree_search(&st, devices, slots, &Knobs { depth: 1, ..k });
        assert_valid(&[tree], experts, devices, slots);
        assert_valid(&[flat], experts, devices, slots);
        prop_assert!(s_tree <= s_flat + 1e-12, "tree {} > flat {}", s_tree, s_flat);
    }

    /// The device assignment keeps as many experts in place as any
    /// permutation of the devices (brute force), leaves the devices' expert
    /// sets unchanged, and keeps a kept expert in its slot.
    #[test]
    fn matching_keeps_the_most_experts(
        d in 1usize..6,
        s in 1usize..4,
        a in proptest::collection::vec(0usize..1000, 40),
        b in proptest::collection::vec(0usize..1000, 40),
    ) {
        let experts = d * s + 2;
        let table = |r: &[usize]| -> Vec<Vec<usize>> {
            (0..d).map(|i| {
                let mut dev: Vec<usize> = Vec::new();
                let mut k = 0;
                while dev.len() < s {
                    let e = r[(i * s + k) % r.len()].wrapping_add(k * 31) % experts;
                    if !dev.contains(&e) { dev.push(e); }
                    k += 1;
                }
                dev
            }).collect()
        };
        let (cur, new) = (table(&a), table(&b));
        let m = flashlb::match_to_current(&new, &cur);
        let keep = |t: &[Vec<usize>]| -> usize { t.iter().zip(&cur).map(|(n, c)| n.iter().filter(|e| c.contains(e)).count()).sum() };
        // Same devices (as sets), each expert kept in its slot.
        let mut sets_new: Vec<Vec<usize>> = new.iter().map(|x| { let mut v = x.clone(); v.sort(); v }).collect();
        let mut sets_m: Vec<Vec<usize>> = m.iter().map(|x| { let mut v = x.clone(); v.sort(); v }).collect();
        sets_new.sort();
        sets_m.sort();
        prop_assert_eq!(sets_new, sets_m);
        for (nd, cd) in m.iter().zip(&cur) {
            for (k, e) in cd.iter().enumerate() {
                if nd.contains(e) {
                    prop_assert_eq!(nd[k], *e);
                }
            }
        }
        // Brute force over the permutations of the new devices.
        let mut perm: Vec<usize> = (0..d).collect();
        let mut best = 0;
        permute(&mut perm, 0, &mut |p| {
            let t: Vec<Vec<usize>> = p.iter().map(|&j| new[j].clone()).collect();
            best = best.max(keep(&t));
        });
        prop_assert_eq!(keep(&m), best);
    }
}

fn permute(p: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
    if k == p.len() {
        f(p);
        return;
    }
    for i in k..p.len() {
        p.swap(k, i);
        permute(p, k + 1, f);
        p.swap(k, i);
    }
}

/// A time series with a few hot experts that drift.
fn drifting(layers: usize, experts: usize, t: usize) -> PhaseData {
    let mut v = Vec::with_capacity(layers * experts * t);
    for l in 0..layers {
        for e in 0..experts {
            for k in 0..t {
                let base = 100.0 + ((e * 37 + l * 11) % 23) as f64 * 10.0;
                let hot = if (e + l) % 7 == 0 { 800.0 * (1.0 + ((k + e) % 5) as f64 / 4.0) } else { 0.0 };
                v.push(base + hot + ((k * 13 + e * 5) % 9) as f64 * 7.0);
            }
        }
    }
    series(layers, experts, t, v)
}

/// With a current placement on the same NPUs, the new table is matched to
/// it: no more slots move than without the matching (and usually fewer),
/// and the balance is the same.
#[test]
fn matching_reduces_moved_slots() {
    let (layers, experts, devices, red) = (4, 32, 8, 8);
    let mut data = drifting(layers, experts, 24);
    // Current: the default layout plus each device's first expert of the next device.
    let cur: Vec<Vec<usize>> = (0..devices).map(|d| {
        let mut v: Vec<usize> = (d * 4..d * 4 + 4).collect();
        v.push(((d + 1) % devices) * 4);
        v
    }).collect();
    data.current = Some(Placement { layers: vec![cur.clone(); layers] });
    let s = settings(devices, 2, red);
    // Threshold above any ratio's reach (never kept for the ratio); no-gain layers are still kept.
    let k = Knobs { threshold: 2.0, ..Knobs::default() };
    let matched = solve_with(&data, &s, &k);
    let unmatched = {
        let mut d2 = data.clone();
        d2.current = None;
        solve_with(&d2, &s, &k)
    };
    let before = Placement { layers: vec![cur; layers] };
    let (moved_m, _) = slots_changed(&before, &Placement { layers: matched.layers.clone() });
    let (moved_u, _) = slots_changed(&before, &Placement { layers: unmatched.layers.clone() });
    assert!(moved_m < moved_u, "matched {moved_m} vs unmatched {moved_u}");
    let sm = elb::engine::metrics::score(&data, &Placement { layers: matched.layers.clone() }, &s.cluster);
    let su = elb::engine::metrics::score(&data, &Placement { layers: unmatched.layers }, &s.cluster);
    assert_eq!(sm.time_resolved_step_imbalance, su.time_resolved_step_imbalance);
    assert_valid(&matched.layers, experts, devices, 5);
}

/// A layer whose current table is balanced past the threshold is kept as it
/// is; a badly balanced one is replaced; with a threshold of 1 only the
/// layers the new table does not improve are kept.
#[test]
fn layers_past_the_threshold_are_kept() {
    let (layers, experts, devices, red) = (3, 32, 8, 8);
    let mut data = drifting(layers, experts, 30);
    let s = settings(devices, 2, red);
    let fresh = solve(&data, &s);
    // Layer 0: FlashLB's own table (well balanced); layers 1, 2: the hot experts crowded together.
    let bad: Vec<Vec<usize>> = {
        let mut order: Vec<usize> = (0..experts).collect();
        let w = data.summed.layer(1).to_vec();
        order.sort_by(|&a, &b| w[b].total_cmp(&w[a]));
        let mut ids = order.clone();
        ids.extend(order[..red].iter().copied());
        // Device d gets ids[5d..5d+5]: the five hottest together on device 0, their copies on devices 6 and 7.
        ids.chunks(5).map(|c| c.to_vec()).collect()
    };
    assert_valid(std::slice::from_ref(&bad), experts, devices, 5);
    let mut cur = vec![fresh.layers[0].clone(), bad.clone(), bad.clone()];
    // Layer 0 reversed in device order: same balance, so it is kept (as the current, not re-ordered).
    cur[0].reverse();
    data.current = Some(Placement { layers: cur.clone() });
    let k = Knobs::default();
    let out = solve_with(&data, &s, &k);
    assert_eq!(out.layers[0], cur[0], "balanced layer kept");
    assert_ne!(out.layers[1], cur[1], "badly balanced layer replaced");
    assert!(out.warnings.iter().any(|w| w.contains("kept the current placement on 1 layer")), "{:?}", out.warnings);
    let st = LayerStats::of_layer(&data, 1, k.samples);
    let counts = |t: &[Vec<usize>]| {
        let mut c = vec![0usize; experts];
        t.iter().flatten().for_each(|&e| c[e] += 1);
        c
    };
    assert!(flashlb::score(&st, &counts(&out.layers[1]), &out.layers[1]) < flashlb::score(&st, &counts(&bad), &bad));
    // Threshold 0: kept only where there is no gain; FlashLB's own table is not improved on.
    let out0 = solve_with(&data, &s, &Knobs { threshold: 0.0, ..k });
    assert_eq!(out0.layers[0], cur[0]);
    // Without matching, the current placement is ignored.
    let free = solve_with(&data, &s, &Knobs { match_current: false, ..k });
    assert_eq!(free.layers, fresh.layers);
}

/// Summed input is one sample: no spread, the tables are risk-free LPT on
/// the water-filled counts, and the statistics say so.
#[test]
fn summed_input_has_no_spread() {
    let data = summed(1, 16, (0..16).map(|e| (e * e + 3) as f64).collect());
    let st = LayerStats::of_layer(&data, 0, 64);
    assert_eq!(st.n, 1);
    assert!(st.var.iter().all(|&v| v == 0.0) && st.cov.is_empty());
    assert_eq!(st.weights(flashlb::Z_UPPER_QUARTILE), st.mean);
    let sol = solve(&data, &settings(4, 1, 4));
    assert_valid(&sol.layers, 16, 4, 5);
}

/// The samples are per-interval averages of consecutive groups: 100
/// intervals into at most 64 samples = 50 groups of 2.
#[test]
fn samples_average_consecutive_intervals() {
    let t = 100;
    let data = series(1, 2, t, (0..2 * t).map(|i| i as f64).collect());
    let st = LayerStats::of_layer(&data, 0, 64);
    assert_eq!(st.n, 50);
    assert_eq!(st.x[0], 0.5);
    assert_eq!(st.x[1], 100.5);
    assert_eq!(st.mean[0], 49.5);
}

/// Golden hashes of FlashLB's tables on the fixtures (default knobs, the
/// fixtures' flags): any change to the algorithm's output shows here. The
/// same hashes come out of the wasm build (`scripts/bench-wasm.sh`, which
/// hashes the sample presets' tables the same way in both).
#[test]
fn golden_hashes_on_the_fixtures() {
    let cases: [(&str, u64); 5] = [
        ("small-summed", 0xf336a10d3f3acea6),
        ("small-series", 0x06e82aa36d8efdc4),
        ("small-series-nodes-map", 0x7fbb18bd59cfec9f),
        ("dsv3-summed", 0x5c6c1a7cd9c93d97),
        ("dsv3-series", 0xc68373be38268119),
    ];
    let mut got = Vec::new();
    for (name, want) in cases {
        let dir = support::fixture_dir(name);
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("params.json")).unwrap()).unwrap();
        let g = |k: &str| v[k].as_u64().unwrap() as usize;
        let data = support::decode_phase(&dir);
        let s = Settings {
            cluster: Cluster { devices: g("nn"), nodes: g("nd"), redundant: g("nre"), shared_devices: g("nsed"), device_type: DeviceType::A2 },
            algorithm: Algorithm::FlashLb,
            ..Settings::default()
        };
        let sol = solve(&data, &s);
        assert_valid(&sol.layers, data.experts, g("nn") - g("nsed"), (data.experts + g("nre")) / (g("nn") - g("nsed")));
        let h = fnv(&sol.layers);
        got.push(format!("(\"{name}\", {h:#018x})"));
        if want != 0 {
            assert_eq!(h, want, "{name}: FlashLB's table changed");
        }
    }
    assert!(cases.iter().all(|c| c.1 != 0), "record the hashes: {}", got.join(", "));
}

/// The CLI: `--algorithm flashlb` writes a valid table matched to the
/// dump's current placement (fewer slots move than with level 2), and the
/// help lists it (from the catalogue).
#[test]
fn cli_runs_flashlb() {
    let bin = env!("CARGO_BIN_EXE_elb");
    let help = std::process::Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    assert!(help.contains("flashlb") && help.contains("FlashLB (vLLM-Ascend / SGLang)"), "{help}");
    let dir = support::fixture_dir("small-series-nodes-map");
    let out = std::env::temp_dir().join(format!("elb-flashlb-cli-{}", std::process::id()));
    let run = std::process::Command::new(bin)
        .args(["-icp", dir.join("input").to_str().unwrap(), "-nn", "8", "-nd", "2", "-nre", "8", "--algorithm", "flashlb", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(run.status.success(), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("FlashLB") && stdout.contains("slots moved vs current"), "{stdout}");
    let table = support::placement_json(&out.join("decode_global_deployment.json"));
    assert_valid(&table.layers, 16, 8, 3);
    let _ = std::fs::remove_dir_all(&out);
}
