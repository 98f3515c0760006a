//! The share-link payload (engine::share_link), natively: round trips keep
//! the data and the rule breaks found when a placement was read; tampered,
//! truncated and random links are clear errors, never panics.

use elb::engine::ingest::read_files;
use elb::engine::sample::{generate, Preset, SampleFormat};
use elb::engine::share_link::{decode, encode, PREFIX};
use elb::engine::Settings;
use proptest::prelude::*;

fn sample_link() -> (String, elb::engine::Dataset, Settings) {
    let ds = read_files(&generate(Preset::Small, SampleFormat::Series, 0)).unwrap();
    let settings = Settings::default();
    (encode(&settings, &ds).unwrap(), ds, settings)
}

#[test]
fn round_trip_keeps_loads_and_placement_problems() {
    let (_, mut ds, settings) = sample_link();
    ds.dropped_table = Some(("running.json".into(), elb::engine::Placement { layers: vec![vec![vec![0, 1], vec![2, 3]]] }));
    ds.dropped_table_problems = vec!["moe_layer_count is 9 but layer_list has 1 entries".into()];
    let link = encode(&settings, &ds).unwrap();
    assert!(link.starts_with(PREFIX));
    let (s2, back) = decode(&link).unwrap();
    assert_eq!(s2, settings);
    assert_eq!(back.dropped_table, ds.dropped_table);
    assert_eq!(back.dropped_table_problems, ds.dropped_table_problems, "a broken table stays broken across a link");
    for (a, b) in ds.phases.iter().zip(&back.phases) {
        assert_eq!(a.summed, b.summed);
        assert_eq!(a.c2lb_loads, b.c2lb_loads);
    }
}

#[test]
fn tampered_and_truncated_links_are_clear_errors() {
    let (link, _, _) = sample_link();
    for bad in [
        link[..link.len() / 2].to_string(),
        format!("{link}!!"),
        link.replacen("#run=", "#run=A", 1),
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
    fn random_fragments_never_panic(s in "#run=[A-Za-z0-9_-]{0,400}") {
        let _ = decode(&s);
    }

    #[test]
    fn flipped_characters_never_panic(at in any::<prop::sample::Index>(), c in "[A-Za-z0-9_-]") {
        let (link, _, _) = sample_link();
        let i = PREFIX.len() + at.index(link.len() - PREFIX.len());
        let mut t = link.clone();
        t.replace_range(i..i + 1, &c);
        let _ = decode(&t);
    }
}
