//! Wall times of every algorithm on the dsv3 fixtures. Not a timed
//! assertion: run by hand in release and read the output:
//! `cargo test --release --test algo_timing -- --ignored --nocapture`

mod common;
mod support;

use std::time::Instant;

use elb::engine::algo;
use elb::engine::{Algorithm, Cluster, DeviceType, Settings};

#[test]
#[ignore]
fn wall_times_on_dsv3() {
    for fx in ["dsv3-summed", "dsv3-series"] {
        let dir = common::fixtures_dir().join(fx);
        let data = common::load(&dir);
        let p = common::params(&dir);
        let runs = [
            ("al0-a2", Algorithm::C2lb, DeviceType::A2, None),
            ("al0-a3", Algorithm::C2lb, DeviceType::A3, None),
            ("al1", Algorithm::SpecMoe1, DeviceType::A2, None),
            ("al2", Algorithm::DynamicC2lb, DeviceType::A2, None),
            ("al4", Algorithm::SpecMoe1Mixed, DeviceType::A2, None),
            ("deepseek-hier", Algorithm::DeepseekHierarchical, DeviceType::A2, Some(8)),
            ("deepseek-global", Algorithm::DeepseekGlobal, DeviceType::A2, None),
        ];
        for (name, alg, dt, groups) in runs {
            for compat in [true, false] {
                let s = Settings {
                    cluster: Cluster { devices: p.nn, nodes: p.nd, redundant: p.nre, shared_devices: p.nsed, device_type: dt },
                    algorithm: alg,
                    msit_compat: compat,
                    groups,
                    ..Settings::default()
                };
                let t = Instant::now();
                let mut prog = |_: usize| true;
                let sol = algo::solve(&data, &s, 0..data.layers, &mut prog).unwrap();
                let dt = t.elapsed().as_secs_f64();
                eprintln!(
                    "{fx:12} {name:16} {:7} {:8.3} s  ({} layers, {} reference-invalid)",
                    if compat { "msit" } else { "default" },
                    dt,
                    sol.layers.len(),
                    sol.reference_invalid_layers.len()
                );
            }
        }
    }
}
