//! The share-link codec (engine::share_link), natively: a version-2 link
//! gives back the same data (time-resolved loads, traces, placements), the
//! same settings and the same tables (byte-identical exports) for every
//! algorithm; solving the carried data again gives the carried tables; the
//! version-1 fixture still opens; a newer version is named; tampered,
//! truncated and random links are clear errors, never panics.

use elb::engine::algo::{self, catalogue, Solution};
use elb::engine::export;
use elb::engine::ingest::read_files;
use elb::engine::sample::{cluster_for, generate, Preset, SampleFormat};
use elb::engine::share_link::{decode, encode, Shared, View, PREFIX, VERSION};
use elb::engine::{metrics, Algorithm, Dataset, Settings};
use proptest::prelude::*;

fn settings(preset: Preset, algorithm: Algorithm) -> Settings {
    let mut cluster = cluster_for(preset);
    if algorithm.entry().mixed {
        // The mixed shared-expert variants need a shared slot per layer.
        cluster.redundant += 1;
    }
    Settings { cluster, algorithm, seed: 11, groups: algorithm.entry().groups.then_some(2), ..Settings::default() }
}

fn solve(ds: &Dataset, s: &Settings) -> Vec<Solution> {
    ds.phases.iter().map(|p| algo::solve_all(p, s, &mut |_| true).unwrap().1).collect()
}

fn shared(ds: Dataset, s: Settings, solutions: Option<Vec<Solution>>) -> Shared {
    Shared {
        version: VERSION,
        settings: s,
        dataset: ds,
        origin: "Built-in sample data: small".into(),
        solutions,
        view: View { migration_aware: Some("2".into()) },
    }
}

fn small(format: SampleFormat) -> Dataset {
    read_files(&generate(Preset::Small, format, 0)).unwrap()
}

/// A level-2 link of the small time-series sample (made once).
fn sample_link() -> &'static (String, Shared) {
    static LINK: std::sync::OnceLock<(String, Shared)> = std::sync::OnceLock::new();
    LINK.get_or_init(|| {
        let ds = small(SampleFormat::Series);
        let s = settings(Preset::Small, Algorithm::parse("3").unwrap());
        let sh = shared(ds.clone(), s.clone(), Some(solve(&ds, &s)));
        (encode(&sh).unwrap(), sh)
    })
}

/// The tables a phase's solution exports to (what the page offers).
fn tables(ds: &Dataset, s: &Settings, sols: &[Solution]) -> Vec<String> {
    ds.phases
        .iter()
        .zip(sols)
        .map(|(p, sol)| {
            let placement = elb::engine::Placement { layers: sol.layers.clone() };
            if s.msit_compat {
                export::export_compat(&placement, &s.cluster, p.experts).0
            } else {
                export::export_checked(&placement, &s.cluster, p.experts).unwrap()
            }
        })
        .collect()
}

#[test]
fn every_algorithm_round_trips_tables_data_and_figures() {
    for format in [SampleFormat::Summed, SampleFormat::Series] {
        let ds = small(format);
        let mut tested = Vec::new();
        for entry in catalogue::CATALOGUE.iter() {
            let s = settings(Preset::Small, entry.algorithm);
            if ds.phases.iter().any(|p| algo::check(p, &s).is_err()) {
                continue;
            }
            tested.push(entry.name);
            let sols = solve(&ds, &s);
            let link = encode(&shared(ds.clone(), s.clone(), Some(sols.clone()))).unwrap();
            assert!(link.starts_with(&format!("{PREFIX}{VERSION}.")), "the link names its version");
            let back = decode(&link).unwrap();
            let what = format!("{} {}", entry.name, format.name());
            assert_eq!(back.version, VERSION);
            assert_eq!(back.settings, s, "{what}: settings and seed");
            assert_eq!(back.dataset, ds, "{what}: the data, time-resolved loads included");
            assert_eq!(back.origin, "Built-in sample data: small");
            assert_eq!(back.view.migration_aware.as_deref(), Some("2"));
            let carried = back.solutions.unwrap();
            assert_eq!(carried, sols, "{what}: the tables and their remarks");
            assert_eq!(tables(&back.dataset, &s, &carried), tables(&ds, &s, &sols), "{what}: byte-identical downloads");
            for ((p, q), sol) in ds.phases.iter().zip(&back.dataset.phases).zip(&sols) {
                let placement = elb::engine::Placement { layers: sol.layers.clone() };
                assert_eq!(metrics::score(p, &placement, &s.cluster), metrics::score(q, &placement, &s.cluster), "{what}: figures");
                if p.series.is_some() {
                    assert_eq!(
                        metrics::interval_step_imbalance(p, &placement),
                        metrics::interval_step_imbalance(q, &placement),
                        "{what}: the interval chart"
                    );
                }
            }
            assert_eq!(solve(&back.dataset, &s), sols, "{what}: Run again on the carried data gives the same tables");
        }
        for family in ["c2lb", "spec-moe-1", "spec-moe-2", "deepseek-global", "flashlb"] {
            assert!(tested.contains(&family), "{family} is covered on {} data (tested: {tested:?})", format.name());
        }
    }
}

#[test]
fn a_link_without_results_carries_data_and_settings_only() {
    let ds = small(SampleFormat::Series);
    let s = settings(Preset::Small, Algorithm::parse("1").unwrap());
    let back = decode(&encode(&shared(ds.clone(), s.clone(), None)).unwrap()).unwrap();
    assert_eq!(back.solutions, None);
    assert_eq!(back.dataset, ds);
    assert_eq!(back.settings, s);
}

/// The small summed sample with a dropped table named `dropped` and a
/// current placement breaking `problem`, each with its rule breaks.
fn with_broken_tables(dropped: &str, problem: &str) -> Dataset {
    let mut ds = small(SampleFormat::Summed);
    ds.dropped_table = Some((dropped.into(), elb::engine::Placement { layers: vec![vec![vec![0, 1], vec![2, 3]]] }));
    ds.dropped_table_problems = vec!["moe_layer_count is 9 but layer_list has 1 entries".into()];
    ds.phases[0].current = Some(elb::engine::Placement { layers: vec![vec![vec![5, 4]]] });
    ds.phases[0].current_source = Some("expert_map.json".into());
    ds.phases[0].current_problems = vec![problem.into()];
    ds
}

#[test]
fn placements_and_their_rule_breaks_survive_a_link() {
    let ds = with_broken_tables("running.json", "a rule break");
    let back = decode(&encode(&shared(ds.clone(), Settings::default(), None)).unwrap()).unwrap();
    assert_eq!(back.dataset, ds, "a broken table stays broken across a link");
}

#[test]
fn fractional_loads_are_kept_exactly() {
    let mut ds = small(SampleFormat::Summed);
    for (i, v) in ds.phases[0].summed.data.iter_mut().enumerate() {
        *v = *v / 3.0 + i as f64 * 1e-9;
    }
    let back = decode(&encode(&shared(ds.clone(), Settings::default(), None)).unwrap()).unwrap();
    let bits = |d: &Dataset| d.phases[0].summed.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&back.dataset), bits(&ds));
}

#[test]
fn the_version_1_fixture_still_opens() {
    let link = std::fs::read_to_string("tests/fixtures/share/v1-small-series-al3.link").unwrap();
    let back = decode(link.trim()).unwrap();
    assert_eq!(back.version, 1);
    assert_eq!(back.solutions, None, "a version-1 link carries no table: the page runs it");
    assert_eq!(back.settings.algorithm, Algorithm::parse("3").unwrap());
    assert_eq!(back.settings.seed, 7);
    assert_eq!(back.settings.cluster, cluster_for(Preset::Small));
    let ds = small(SampleFormat::Series);
    assert_eq!(back.dataset.phases.len(), ds.phases.len());
    for (a, b) in ds.phases.iter().zip(&back.dataset.phases) {
        assert_eq!(a.summed, b.summed, "version 1 carried the summed loads");
        assert_eq!(a.c2lb_loads, b.c2lb_loads);
        assert!(b.series.is_none(), "and not the intervals");
    }
}

/// The version-2 fixture: the small time-series sample, level 2, seed 11,
/// with its tables. Made once by `write_v2_fixture` when version 2 was
/// current; later versions must keep opening it to the same view.
const V2_FIXTURE: &str = "tests/fixtures/share/v2-small-series-al3.link";

#[test]
fn the_version_2_fixture_opens_with_its_tables() {
    let link = std::fs::read_to_string(V2_FIXTURE).unwrap();
    let back = decode(link.trim()).unwrap();
    let (_, sh) = sample_link();
    assert_eq!(back.version, 2);
    // The data, settings and seed are the sample's; the tables are the ones
    // the sender's build computed (level 2 may have changed since): the link
    // shows those, valid, whatever today's solver would give.
    let without_tables = |s: &elb::engine::share_link::Shared| elb::engine::share_link::Shared { solutions: None, ..s.clone() };
    assert_eq!(without_tables(&back), without_tables(sh), "the data, settings and seed of the sample's level-2 run");
    let tables = back.solutions.as_ref().expect("a version-2 link carries its tables");
    assert_eq!(tables.len(), back.dataset.phases.len());
    for (sol, data) in tables.iter().zip(&back.dataset.phases) {
        let p = elb::engine::Placement { layers: sol.layers.clone() };
        let score = elb::engine::metrics::score(data, &p, &back.settings.cluster);
        assert!(score.valid, "the carried table is valid: {:?}", score.violations);
        assert_eq!(p.num_layers(), data.layers);
    }
}

/// `cargo test --test share_link -- --ignored write_v2_fixture` (once).
#[test]
#[ignore]
fn write_v2_fixture() {
    let (link, _) = sample_link();
    std::fs::write(V2_FIXTURE, format!("{link}\n")).unwrap();
}

#[test]
fn a_newer_version_is_named_and_garbage_is_refused() {
    let e = decode("#run=3.AAAA").unwrap_err().to_string();
    assert!(e.contains("version 3") && e.contains("newer"), "{e}");
    let e = decode("#run=x9.AAAA").unwrap_err().to_string();
    assert!(e.contains("not a format version"), "{e}");
}

#[test]
fn tampered_and_truncated_links_are_clear_errors() {
    let (link, _) = sample_link();
    let body = PREFIX.len() + 2;
    for cut in (body..link.len() - 1).step_by(((link.len() - body) / 40).max(1)) {
        let e = decode(&link[..cut]).unwrap_err();
        assert!(e.to_string().contains("share link"), "cut at {cut}: {e}");
    }
    for bad in [
        format!("{link}!!"),
        format!("{link}AAAA"),
        link.replacen("#run=2.", "#run=2.A", 1),
        link.replacen("#run=2.", "#run=", 1),
        "#nothing".to_string(),
        String::new(),
    ] {
        let e = decode(&bad).unwrap_err();
        assert!(e.to_string().contains("share link"), "{e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_fragments_never_panic(s in "#run=(2\\.)?[A-Za-z0-9_-]{0,400}") {
        let _ = decode(&s);
    }

    /// A changed character is refused (base64, deflate or the checksum),
    /// unless it only touched bits that carry nothing: never another view.
    #[test]
    fn flipped_characters_never_give_another_view(at in any::<prop::sample::Index>(), c in "[A-Za-z0-9_-]") {
        let (link, sh) = sample_link();
        let start = PREFIX.len() + 2;
        let i = start + at.index(link.len() - start);
        let mut t = link.clone();
        t.replace_range(i..i + 1, &c);
        if let Ok(back) = decode(&t) {
            prop_assert_eq!(&back, sh);
        }
    }
}

/// The link size of every sample preset (summed and time series, level 2
/// on the preset's cluster) and of the largest fixture: the figures in
/// docs/share.md. `cargo test --release --test share_link -- --ignored --nocapture`
#[test]
#[ignore]
fn link_sizes() {
    let al3 = Algorithm::parse("3").unwrap();
    let mut rows = Vec::new();
    for preset in Preset::STANDARD {
        for format in [SampleFormat::Summed, SampleFormat::Series] {
            let ds = read_files(&generate(preset, format, 0)).unwrap();
            let s = Settings { cluster: cluster_for(preset), algorithm: al3, ..Settings::default() };
            let sols = solve(&ds, &s);
            let link = encode(&shared(ds, s, Some(sols))).unwrap();
            rows.push((format!("sample {} {}", preset.name(), format.name()), link.len()));
        }
    }
    for (name, cluster) in [
        ("dsv3-series", elb::engine::Cluster { devices: 64, nodes: 8, redundant: 64, ..Default::default() }),
        ("dsv3-summed", elb::engine::Cluster { devices: 64, nodes: 8, redundant: 64, ..Default::default() }),
    ] {
        let ds = elb::engine::ingest::folders::read_folders(&format!("tests/fixtures/{name}")).unwrap();
        let s = Settings { cluster, algorithm: al3, ..Settings::default() };
        let sols = solve(&ds, &s);
        let link = encode(&shared(ds, s, Some(sols))).unwrap();
        rows.push((format!("fixture {name}"), link.len()));
    }
    // What a time-series link is made of (dsv3, no table): without the
    // top-k traces, then without the per-interval loads as well.
    let mut ds = read_files(&generate(Preset::Dsv3, SampleFormat::Series, 0)).unwrap();
    let s = Settings { cluster: cluster_for(Preset::Dsv3), algorithm: al3, ..Settings::default() };
    rows.push(("dsv3 series, data only".into(), encode(&shared(ds.clone(), s.clone(), None)).unwrap().len()));
    ds.phases.iter_mut().for_each(|p| p.topk_traces = None);
    rows.push(("dsv3 series, data without top-k traces".into(), encode(&shared(ds.clone(), s.clone(), None)).unwrap().len()));
    ds.phases.iter_mut().for_each(|p| p.series = None);
    rows.push(("dsv3 series, data without traces and intervals".into(), encode(&shared(ds, s, None)).unwrap().len()));
    for (name, n) in rows {
        println!("| {name} | {n} | {} |", if n > 1_000_000 { "share file" } else { "link" });
    }
}

#[test]
fn a_share_file_opens_like_its_link_and_other_json_is_data() {
    use elb::engine::share_link::{fragment_from_share_file, is_share_file, open, share_file_text};
    let (link, sh) = sample_link();
    let file = share_file_text(link);
    assert!(is_share_file(&file));
    assert_eq!(fragment_from_share_file(&file).unwrap().unwrap(), *link);
    assert_eq!(&open(&file, true).unwrap(), sh);
    assert_eq!(&open(link, false).unwrap(), sh);
    // Other JSON (a deployment table, a dump) is not a share file: it is ingested.
    let table = "{\n    \"moe_layer_count\": 1,\n    \"layer_list\": []\n}";
    assert!(!is_share_file(table) && fragment_from_share_file(table).is_none());
    assert!(open(table, true).unwrap_err().to_string().contains("not a share file"));
    // A share file that cannot be read says why.
    let newer = "{\"elb_share\": 2, \"fragment\": \"#run=9.AAAA\"}";
    assert!(open(newer, true).unwrap_err().to_string().contains("version 2 is not known"), "{:?}", open(newer, true));
    let empty = "{\"elb_share\": 1, \"fragment\": \"nothing\"}";
    assert!(open(empty, true).unwrap_err().to_string().contains("no #run= data"));
    let broken = "{\"elb_share\": 1, \"fragment\": ";
    assert!(open(broken, true).unwrap_err().to_string().contains("bad contents"));
}

/// Links of several shapes (tables or not, a dropped table and a current
/// placement with rule breaks, a time series with traces, every setting
/// off its default), as the build that wrote the header with serde_json
/// made them: the header writer must keep them byte for byte. (Link 0
/// carries a level-2 table of the small preset: it was written again when
/// level 2's table there changed — FlashLB's table as one more run — the
/// others are still the serde_json build's.)
const GOLDEN_LINKS: &str = "tests/fixtures/share/v2-golden-links.txt";

fn golden_links() -> Vec<String> {
    let (link, _) = sample_link();
    let mut out = vec![link.clone()];
    let mut ds = with_broken_tables("running \"x\"\n.json", "a rule break \u{1f} é");
    ds.warnings = vec!["w\t1".into()];
    ds.ignored = vec!["notes.txt".into()];
    ds.missing_map = Some("map.json".into());
    let mut s = Settings::default();
    s.cluster.device_type = elb::engine::DeviceType::A3;
    s.msit_compat = true;
    s.seed = u64::MAX;
    s.groups = Some(3);
    s.holdout = true;
    s.robust = true;
    let mut sh = shared(ds, s, None);
    sh.view = View { migration_aware: None };
    sh.origin = String::new();
    out.push(encode(&sh).unwrap());
    for (fmt, al) in [(SampleFormat::Series, "1"), (SampleFormat::Summed, "0"), (SampleFormat::Series, "flashlb")] {
        let ds = small(fmt);
        let s = settings(Preset::Small, Algorithm::parse(al).unwrap());
        out.push(encode(&shared(ds.clone(), s.clone(), Some(solve(&ds, &s)))).unwrap());
    }
    out
}

#[test]
fn links_are_written_byte_for_byte_as_before() {
    let want = std::fs::read_to_string(GOLDEN_LINKS).unwrap();
    let want: Vec<&str> = want.lines().collect();
    let got = golden_links();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "link {i}");
    }
}

/// `cargo test --test share_link -- --ignored write_golden_links` (once,
/// with the serde_json build).
#[test]
#[ignore]
fn write_golden_links() {
    std::fs::write(GOLDEN_LINKS, golden_links().join("\n") + "\n").unwrap();
}
