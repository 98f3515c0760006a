//! The sample generator writes files exactly in formats 1 and 2, with the
//! right shapes, deterministically per seed.

use elb::engine::sample::{cluster_for, generate, Preset, SampleFormat};
use elb::engine::InputFile;

fn find<'a>(files: &'a [InputFile], name: &str) -> &'a InputFile {
    files.iter().find(|f| f.path == name).unwrap_or_else(|| panic!("{name} missing"))
}

fn rows(f: &InputFile) -> Vec<Vec<u64>> {
    let text = std::str::from_utf8(&f.bytes).unwrap();
    assert!(text.ends_with('\n'), "{}: ends with a newline", f.path);
    text.lines()
        .map(|l| l.split(',').map(|x| x.parse::<u64>().unwrap_or_else(|_| panic!("{}: bad int '{x}'", f.path))).collect())
        .collect()
}

#[test]
fn summed_files_have_format_1_shape() {
    for preset in [Preset::Small, Preset::Qwen3, Preset::Dsv3] {
        let sh = preset.shape();
        let files = generate(preset, SampleFormat::Summed, 1);
        assert_eq!(files.len(), sh.devices, "{preset:?}");
        assert!(!files.iter().any(|f| f.path == "model_gen_config.json"));
        let mut layer_tot = vec![0u64; sh.layers];
        for r in 0..sh.devices {
            let m = rows(find(&files, &format!("decode_{r}.csv")));
            assert_eq!(m.len(), sh.layers);
            for (l, row) in m.iter().enumerate() {
                assert_eq!(row.len(), sh.experts / sh.devices);
                layer_tot[l] += row.iter().sum::<u64>();
            }
        }
        // Every layer saw about the same tokens * top-k.
        let (mn, mx) = (layer_tot.iter().min().unwrap(), layer_tot.iter().max().unwrap());
        assert!(*mn > 0 && (*mx as f64) < 1.2 * *mn as f64, "{preset:?}: {mn} {mx}");
    }
}

#[test]
fn series_files_have_format_2_shape() {
    let preset = Preset::Small;
    let sh = preset.shape();
    let files = generate(preset, SampleFormat::Series, 5);
    assert_eq!(files.len(), 1 + 2 * sh.devices);
    let cfg: serde_json::Value = serde_json::from_slice(&find(&files, "model_gen_config.json").bytes).unwrap();
    assert_eq!(cfg["num_moe_layers"], sh.layers);
    assert_eq!(cfg["num_of_experts"], sh.experts);
    assert_eq!(cfg["collection_Interval"], 8);
    assert_eq!(cfg["num_of_selected_experts"][0], sh.top_k);
    assert_eq!(cfg["num_dangling_shared_experts"], 0);
    let per = sh.experts / sh.devices;
    let mut all: Vec<Vec<u64>> = vec![Vec::new(); sh.dumps * sh.layers];
    for r in 0..sh.devices {
        let m = rows(find(&files, &format!("decode_{r}.csv")));
        assert_eq!(m.len(), sh.dumps * sh.layers);
        for (i, row) in m.iter().enumerate() {
            assert_eq!(row.len(), per);
            if i >= sh.layers {
                for (j, &v) in row.iter().enumerate() {
                    assert!(v >= m[i - sh.layers][j], "rank {r} row {i}: cumulative counts never decrease");
                }
            }
            all[i].extend_from_slice(row);
        }
        let tk = rows(find(&files, &format!("decode_topk_{r}.csv")));
        assert_eq!(tk.len(), sh.dumps * sh.layers);
        for row in &tk {
            assert_eq!(row.len(), sh.top_k);
            assert!(row.iter().all(|&e| (e as usize) < sh.experts));
            let mut s = row.clone();
            s.sort();
            s.dedup();
            assert_eq!(s.len(), sh.top_k, "top-k ids are distinct");
        }
    }
    // Idle-interval rule of formats.md: exactly two idle dumps (the first and the middle one).
    let thr = 2 * sh.devices * sh.top_k * 8 * sh.layers;
    let mut idle = Vec::new();
    for t in 0..sh.dumps {
        let mut tot = 0u64;
        for l in 0..sh.layers {
            let i = t * sh.layers + l;
            for (j, &v) in all[i].iter().enumerate() {
                tot += v - if t > 0 { all[i - sh.layers][j] } else { 0 };
            }
        }
        if tot as usize <= thr {
            idle.push(t);
        }
    }
    assert_eq!(idle, vec![0, sh.dumps / 2]);
}

#[test]
fn popularity_is_skewed_and_drifts() {
    let sh = Preset::Dsv3.shape();
    let files = generate(Preset::Dsv3, SampleFormat::Series, 3);
    let per = sh.experts / sh.devices;
    // Layer 0, per interval, logical expert order.
    let mats: Vec<Vec<Vec<u64>>> = (0..sh.devices).map(|r| rows(find(&files, &format!("decode_{r}.csv")))).collect();
    let at = |t: usize, e: usize| -> f64 {
        let row = t * sh.layers;
        let cur = mats[e / per][row][e % per];
        let prev = if t > 0 { mats[e / per][row - sh.layers][e % per] } else { 0 };
        (cur - prev) as f64
    };
    let hot = |t: usize| -> usize { (0..sh.experts).max_by(|&a, &b| at(t, a).total_cmp(&at(t, b))).unwrap() };
    let t1 = 5;
    let mean: f64 = (0..sh.experts).map(|e| at(t1, e)).sum::<f64>() / sh.experts as f64;
    let peak = at(t1, hot(t1));
    assert!(peak > 4.0 * mean, "skewed: peak {peak} mean {mean}");
    // Relative loads move over time: the per-expert correlation between an early and a late interval is not perfect.
    let ranks_moved = (0..sh.experts).filter(|&e| (at(5, e) - at(40, e)).abs() > 0.5 * (at(5, e) + at(40, e)) / 2.0).count();
    assert!(ranks_moved > sh.experts / 20, "drift: {ranks_moved} experts changed by >50%");
}

#[test]
fn deterministic_per_seed() {
    for format in [SampleFormat::Summed, SampleFormat::Series] {
        let a = generate(Preset::Qwen3, format, 9);
        let b = generate(Preset::Qwen3, format, 9);
        assert_eq!(a, b);
        let c = generate(Preset::Qwen3, format, 10);
        assert_ne!(a, c);
    }
}

#[test]
fn clusters_fit_the_presets() {
    for p in Preset::ALL {
        let sh = p.shape();
        let c = cluster_for(p);
        assert_eq!((c.devices, c.nodes), (sh.devices, sh.nodes));
        assert_eq!((sh.experts + c.redundant) % c.devices, 0, "{p:?}");
        assert_eq!(sh.experts % sh.devices, 0);
        assert_eq!(c.devices % c.nodes, 0);
        assert_eq!(Preset::parse(p.name()).unwrap(), p);
    }
    assert!(Preset::parse("gpt").unwrap_err().to_string().contains("--preset"));
    assert_eq!(Preset::names(), "small, qwen3, dsv3, kimi or xl");
    assert!(Preset::parse("gpt").unwrap_err().to_string().contains("small, qwen3, dsv3, kimi or xl"));
    assert!(SampleFormat::parse("xml").unwrap_err().to_string().contains("--format"));
}

#[test]
fn cli_writes_the_files() {
    let dir = std::env::temp_dir().join(format!("elb-sample-test-{}", std::process::id()));
    let args: Vec<String> =
        ["--preset", "small", "--format", "series", "--seed", "4", "-o", dir.to_str().unwrap()].iter().map(|s| s.to_string()).collect();
    elb::engine::sample::cli_main(&args).unwrap();
    let files = generate(Preset::Small, SampleFormat::Series, 4);
    for f in &files {
        assert_eq!(std::fs::read(dir.join(&f.path)).unwrap(), f.bytes);
    }
    std::fs::remove_dir_all(&dir).unwrap();
    let e = elb::engine::sample::cli_main(&["--preset".to_string(), "small".to_string()]).unwrap_err();
    assert!(e.to_string().contains("-o"), "{e}");
    let e = elb::engine::sample::cli_main(&["--seed".to_string(), "x".to_string()]).unwrap_err();
    assert!(e.to_string().contains("--seed"), "{e}");
}

#[test]
#[ignore]
fn bench_generate() {
    for p in Preset::ALL {
        for f in [SampleFormat::Summed, SampleFormat::Series] {
            let t0 = std::time::Instant::now();
            let files = generate(p, f, 0);
            let bytes: usize = files.iter().map(|f| f.bytes.len()).sum();
            println!("{:?} {:?}: {} files, {:.1} MB, {:.3}s", p, f, files.len(), bytes as f64 / 1e6, t0.elapsed().as_secs_f64());
        }
    }
}

/// `ELB_SAMPLE_OUT=dir ELB_SAMPLE_PRESET=dsv3 cargo test --test sample write_sample -- --ignored`
#[test]
#[ignore]
fn write_sample() {
    let out = std::env::var("ELB_SAMPLE_OUT").unwrap();
    let preset = std::env::var("ELB_SAMPLE_PRESET").unwrap_or_else(|_| "dsv3".into());
    let args: Vec<String> = ["--preset", &preset, "--format", "series", "-o", &out].iter().map(|s| s.to_string()).collect();
    elb::engine::sample::cli_main(&args).unwrap();
}

#[test]
fn ingest_reads_the_samples() {
    use elb::engine::{Phase, SourceFormat};
    for preset in [Preset::Small, Preset::Qwen3] {
        let sh = preset.shape();
        let ds = elb::engine::ingest::read_files(&generate(preset, SampleFormat::Summed, 2)).unwrap();
        assert_eq!(ds.phases.len(), 1);
        let p = &ds.phases[0];
        assert_eq!((p.phase, p.format), (Phase::Decode, SourceFormat::Summed));
        assert_eq!((p.layers, p.experts), (sh.layers, sh.experts));
        assert!(p.series.is_none());

        let ds = elb::engine::ingest::read_files(&generate(preset, SampleFormat::Series, 2)).unwrap();
        let p = &ds.phases[0];
        assert_eq!((p.phase, p.format), (Phase::Decode, SourceFormat::TimeSeries));
        assert_eq!((p.layers, p.experts), (sh.layers, sh.experts));
        assert_eq!(p.top_k, Some(sh.top_k));
        assert_eq!(p.info.ranks, sh.devices);
        assert_eq!((p.info.dumps, p.info.intervals_kept, p.info.intervals_dropped), (sh.dumps, sh.dumps - 2, 2));
        assert_eq!(p.series.as_ref().unwrap().intervals, sh.dumps - 2);
        let tk = p.topk_traces.as_ref().expect("top-k traces read");
        assert_eq!((tk.k, tk.ranks.len()), (sh.top_k, sh.devices));
        assert!(p.summed.data.iter().all(|&x| x >= 0.0));
    }
}

/// A changed shape is either refused (naming the flag and the rule) before
/// anything is written, or read back by the reader: a time-series dump of
/// fewer dumps than the reader needs is refused, the fewest it accepts reads.
#[test]
fn shape_changes_give_readable_dumps_or_a_refusal_that_writes_nothing() {
    use elb::engine::ingest::series::MIN_SERIES_DUMPS;
    use elb::engine::sample::{write_dump, ShapeOverrides};
    let dir = std::env::temp_dir().join(format!("elb-sample-shape-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_str().unwrap();
    let too_few = ShapeOverrides { dumps: Some(MIN_SERIES_DUMPS - 1), ..ShapeOverrides::default() };
    let e = write_dump(Preset::Small, SampleFormat::Series, 0, out, &too_few).unwrap_err();
    assert!(e.to_string().contains("--dumps") && e.to_string().contains(&format!("at least {MIN_SERIES_DUMPS} dumps")), "{e}");
    assert!(!dir.exists(), "a refused sample wrote its folder");
    let uneven = ShapeOverrides { experts: Some(3), npus: Some(4), ..ShapeOverrides::default() };
    let e = write_dump(Preset::Small, SampleFormat::Series, 0, out, &uneven).unwrap_err();
    assert!(e.to_string().contains("--npus"), "{e}");
    assert!(!dir.exists(), "a refused sample wrote its folder");
    // One dump is a whole summed dump; the fewest series dumps read back.
    let one = ShapeOverrides { dumps: Some(1), ..ShapeOverrides::default() };
    assert!(write_dump(Preset::Small, SampleFormat::Summed, 0, out, &one).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
    let sh = elb::engine::sample::Shape { dumps: MIN_SERIES_DUMPS, ..Preset::Small.shape() };
    let files = elb::engine::sample::generate_custom(Preset::Small, &sh, SampleFormat::Series, 0).unwrap();
    let ds = elb::engine::ingest::read_files(&files).unwrap();
    assert!(ds.phases[0].series.is_some());
}
