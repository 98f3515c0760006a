//! `threads`: the same solve on 1, 2, ... threads side by side; `growth`: how level 2's
//! cost grows with layers x experts x NPUs x intervals.

use std::time::Instant;

use elb::engine::algo::solve_all;
use elb::engine::ingest::read_files;
use elb::engine::sample::{Preset, SampleFormat};
use elb::engine::{Algorithm, Cluster, Settings};

use crate::cases::{all_cases, groups_for};
use crate::clock::{cpu_seconds, load_average, median, task_cpu_ns};
use crate::Select;

/// The thread counts to compare: `--threads-list`, else 1, 2 and all cores.
fn thread_list(given: Option<Vec<usize>>) -> Vec<usize> {
    if let Some(l) = given {
        return l;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut v = vec![1, 2];
    if cores > 2 {
        v.push(cores);
    }
    v
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
pub fn threads_report(a: &Select, threads_list: Option<Vec<usize>>, runs: usize) {
    let threads = thread_list(threads_list);
    let pools = threads.clone();

    let algos = a.algo.clone().unwrap_or_else(|| vec!["al3".to_string()]);
    let cases = all_cases(a.fixtures.as_deref());
    println!(
        "| input | algorithm | threads | wall (median of {runs}) | wall / 1 thread | CPU, all threads | CPU / 1 thread | busiest thread's CPU | busiest / 1 thread | same table | load (1 min) before / after |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for case in &cases {
        let hit = a.case_hit(&case.name, Some("=dsv3-series,=sample-kimi-series"));
        let Some(data) = case.dataset.phases.first() else { continue };
        if !hit {
            continue;
        }
        let catalogue = crate::cases::algos();
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
pub fn growth_report(algo: &str, threads_list: Option<Vec<usize>>, json: bool) {
    use elb::engine::sample::{cluster_for, generate_custom, Shape};
    let threads = threads_list.unwrap_or_else(|| vec![1, 2]);
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
    if !json {
        for p in [Preset::Qwen3, Preset::Dsv3, Preset::Kimi] {
            shapes.push((p, p.shape()));
        }
    }
    let catalogue = crate::cases::algos();
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

