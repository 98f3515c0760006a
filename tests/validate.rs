//! Table validation (formats.md §3), one broken table per rule, and the
//! table export (byte-identical to msit's `json.dump(indent=4)`).

#[path = "common_metrics/mod.rs"]
mod common;
mod support;

use elb::engine::export::{export_checked, export_compat, table_json};
use elb::engine::metrics::{replicas_added, score, slots_moved};
use elb::engine::table::{DeploymentTable, TableDevice};
use elb::engine::validate::{is_mixed, placement_from_table, validate_placement, validate_table};
use elb::engine::{Cluster, LoadMatrix, Phase, PhaseData, Placement, SourceFormat};

/// A valid table: 2 layers, 4 experts, 2 devices x 3 slots.
fn good() -> Placement {
    Placement { layers: vec![vec![vec![0, 1, 3], vec![2, 3, 0]], vec![vec![3, 2, 1], vec![0, 1, 2]]] }
}

fn table(p: &Placement, nsed: usize) -> DeploymentTable {
    let json = table_json(p, &Cluster { shared_devices: nsed, ..Cluster::default() });
    elb::engine::table::parse_table("table.json", json.as_bytes()).unwrap()
}

fn one(v: Vec<String>) -> String {
    assert_eq!(v.len(), 1, "expected one violation, got {v:?}");
    v.into_iter().next().unwrap()
}

#[test]
fn valid_tables_have_no_violations() {
    assert!(validate_placement(&good(), 4, false).is_empty());
    assert!(validate_table(&table(&good(), 0), 4, 0, false).is_empty());
    assert!(validate_table(&table(&good(), 2), 4, 2, false).is_empty());
}

#[test]
fn duplicate_on_a_device_reports_the_fixture_message() {
    let mut p = good();
    p.layers[1][1] = vec![0, 3, 3];
    p.layers[1][0] = vec![3, 2, 1];
    let v = validate_placement(&p, 4, false);
    assert_eq!(v, vec!["layer 1 device 1: holds expert(s) [3] more than once".to_string()]);
    assert_eq!(validate_table(&table(&p, 0), 4, 0, false), v);
    // Several duplicates on one device: one message, ids ascending.
    p.layers[0][0] = vec![3, 1, 3, 1, 0];
    p.layers[0][1] = vec![2, 0, 1, 3, 2];
    let v = validate_placement(&p, 4, false);
    assert_eq!(v[0], "layer 0 device 0: holds expert(s) [1, 3] more than once");
    assert_eq!(v[1], "layer 0 device 1: holds expert(s) [2] more than once");
}

#[test]
fn every_expert_at_least_once_per_layer() {
    let mut p = good();
    p.layers[0] = vec![vec![0, 1, 2], vec![2, 1, 0]];
    let v = one(validate_placement(&p, 4, false));
    assert!(v.starts_with("layer 0: expert(s) [3] not placed"), "{v}");
}

#[test]
fn same_slot_count_on_every_device() {
    let mut p = good();
    p.layers[1][1] = vec![0, 1, 2, 3];
    let v = validate_placement(&p, 4, false);
    assert!(v[0].starts_with("layer 1 device 1: has 4 slot(s) but device 0 has 3"), "{v:?}");
}

#[test]
fn ids_in_range_and_non_negative() {
    let mut p = good();
    p.layers[0][1] = vec![2, 3, 7];
    let v = validate_placement(&p, 4, false);
    assert!(v.iter().any(|m| m.starts_with("layer 0 device 1: expert id(s) [7] out of range (allowed ids are 0..3)")), "{v:?}");
    let mut t = table(&good(), 0);
    t.layer_list[0].device_list[0].device_expert = vec![0, 1, -3];
    let v = validate_table(&t, 4, 0, false);
    assert!(v.iter().any(|m| m.starts_with("layer 0 device 0: negative expert id(s) [-3]")), "{v:?}");
}

#[test]
fn moe_layer_count_matches_layer_list() {
    let mut t = table(&good(), 0);
    t.moe_layer_count = 3;
    assert_eq!(one(validate_table(&t, 4, 0, false)), "moe_layer_count is 3 but layer_list has 2 entries");
    t.moe_layer_count = -1;
    assert!(one(validate_table(&t, 4, 0, false)).starts_with("moe_layer_count is -1"));
    let empty = DeploymentTable { moe_layer_count: 0, layer_list: vec![] };
    assert!(validate_table(&empty, 4, 0, false).iter().any(|m| m.contains("no layers")));
}

#[test]
fn layer_ids_distinct() {
    let mut t = table(&good(), 0);
    t.layer_list[1].layer_id = 0;
    assert!(one(validate_table(&t, 4, 0, false)).starts_with("layer_list entry 1: layer_id 0 appears more than once"));
    t.layer_list[1].layer_id = -2;
    assert!(one(validate_table(&t, 4, 0, false)).starts_with("layer_list entry 1: layer_id -2 is negative"));
}

#[test]
fn device_count_matches_device_list() {
    let mut t = table(&good(), 0);
    t.layer_list[0].device_count = 3;
    assert_eq!(one(validate_table(&t, 4, 0, false)), "layer 0: device_count is 3 but device_list has 2 device(s)");
    // A layer with a different number of devices than the others.
    let mut t = table(&good(), 0);
    t.layer_list[1].device_list.push(TableDevice { device_id: 2, device_expert: vec![0, 1, 2] });
    t.layer_list[1].device_count = 3;
    assert!(one(validate_table(&t, 4, 0, false)).starts_with("layer 1: has 3 device(s) but the first layer has 2"));
    let mut p = good();
    p.layers[1].push(vec![0, 1, 2]);
    assert!(one(validate_placement(&p, 4, false)).starts_with("layer 1: has 3 device(s) but layer 0 has 2"));
}

#[test]
fn device_ids_distinct() {
    let mut t = table(&good(), 0);
    t.layer_list[0].device_list[1].device_id = 0;
    assert_eq!(one(validate_table(&t, 4, 0, false)), "layer 0: device_id 0 appears more than once");
}

#[test]
fn shared_expert_devices_hold_zero() {
    // msit's -nsed K layout: K devices with [0], routed devices shifted by K.
    let t = table(&good(), 2);
    assert_eq!(t.layer_list[0].device_count, 4);
    assert_eq!(t.layer_list[0].device_list[0].device_expert, vec![0]);
    assert_eq!(t.layer_list[0].device_list[1].device_expert, vec![0]);
    assert_eq!(t.layer_list[0].device_list[2].device_id, 2);
    assert_eq!(t.layer_list[0].device_list[2].device_expert, vec![0, 1, 3]);
    assert_eq!(placement_from_table(&t, 2), good());
    let mut bad = t.clone();
    bad.layer_list[1].device_list[1].device_expert = vec![1];
    let v = one(validate_table(&bad, 4, 2, false));
    assert!(v.starts_with("layer 1 device 1: a shared-expert device (the first 2, -nsed) must hold exactly [0], holds [1]"), "{v}");
    // Read without -nsed, the shared devices break the slot-count rule.
    assert!(!validate_table(&t, 4, 0, false).is_empty());
    // Routed devices are numbered as in the table.
    let mut p = good();
    p.layers[0][1] = vec![2, 2, 0];
    let mut t = table(&p, 2);
    t.layer_list[1].device_list[3].device_expert = vec![0, 1, 2];
    let v = validate_table(&t, 4, 2, false);
    assert_eq!(v[0], "layer 0 device 3: holds expert(s) [2] more than once");
}

#[test]
fn mixed_tables_allow_and_require_the_shared_id() {
    let mut p = good();
    p.layers[0] = vec![vec![0, 1, 4], vec![2, 3, 4]];
    p.layers[1] = vec![vec![3, 4, 1], vec![0, 4, 2]];
    assert!(is_mixed(&p, 4));
    assert!(validate_placement(&p, 4, true).is_empty());
    assert!(validate_placement(&p, 4, false).iter().all(|m| m.contains("out of range")));
    let v = validate_placement(&good(), 4, true);
    assert_eq!(v.len(), 2);
    assert!(v[0].starts_with("layer 0: expert(s) [4] not placed on any device (id 4 is the shared expert)"), "{v:?}");
    assert!(validate_table(&table(&p, 0), 4, 0, true).is_empty());
}

#[test]
fn export_is_byte_identical_to_msit_goldens() {
    let fx = common::fixtures();
    for f in ["small-summed", "small-series", "dsv3-summed", "dsv3-series"] {
        for algo in ["al0-a2", "al1", "al4"] {
            let path = fx.join(f).join("expected").join(format!("{algo}.json"));
            let golden = std::fs::read_to_string(&path).unwrap();
            let t: DeploymentTable = elb::engine::table::parse_table(&path.display().to_string(), golden.as_bytes()).unwrap();
            let p = placement_from_table(&t, 0);
            assert_eq!(table_json(&p, &Cluster::default()), golden, "{}", path.display());
        }
    }
}

#[test]
fn export_empty_and_nsed_shapes() {
    let empty = Placement { layers: vec![] };
    assert_eq!(table_json(&empty, &Cluster::default()), "{\n    \"moe_layer_count\": 0,\n    \"layer_list\": []\n}");
    let p = Placement { layers: vec![vec![vec![1, 0]]] };
    let want = "{\n    \"moe_layer_count\": 1,\n    \"layer_list\": [\n        {\n            \"layer_id\": 0,\n            \"device_count\": 2,\n            \"device_list\": [\n                {\n                    \"device_id\": 0,\n                    \"device_expert\": [\n                        0\n                    ]\n                },\n                {\n                    \"device_id\": 1,\n                    \"device_expert\": [\n                        1,\n                        0\n                    ]\n                }\n            ]\n        }\n    ]\n}";
    assert_eq!(table_json(&p, &Cluster { shared_devices: 1, ..Cluster::default() }), want);
}

#[test]
fn export_checked_refuses_invalid_tables() {
    let c = Cluster::default();
    assert_eq!(export_checked(&good(), &c, 4).unwrap(), table_json(&good(), &c));
    let mut p = good();
    p.layers[1][1] = vec![0, 3, 3];
    p.layers[1][0] = vec![3, 2, 1];
    let e = export_checked(&p, &c, 4).unwrap_err();
    assert_eq!(e.to_string(), "the table is invalid (1 violation(s)): layer 1 device 1: holds expert(s) [3] more than once");
    let (json, v) = export_compat(&p, &c, 4);
    assert_eq!(json, table_json(&p, &c));
    assert_eq!(v.len(), 1);
    // A reference table with 41 duplicates: the message is bounded.
    let t = common::read_table(&common::fixtures().join("dsv3-summed/expected/al0-a2.json"));
    let e = export_checked(&placement_from_table(&t, 0), &c, 256).unwrap_err().to_string();
    assert!(e.starts_with("the table is invalid (41 violation(s)): layer 3 device 26"), "{e}");
    assert!(e.ends_with("; and 36 more"), "{e}");
}

#[test]
fn slots_moved_and_replicas_added() {
    let before = Placement::default_layout(2, 4, 2);
    assert_eq!(slots_moved(&before, &before), 0);
    // Reordering a device's slots moves nothing; a new slot counts once.
    let after = Placement { layers: vec![vec![vec![1, 0, 3], vec![2, 3, 0]], vec![vec![0, 1, 2], vec![3, 2, 0]]] };
    assert_eq!(slots_moved(&before, &after), 4);
    assert_eq!(replicas_added(&before, &after), 4);
    assert_eq!(replicas_added(&after, &before), -4);
}

#[test]
fn score_of_a_broken_table_does_not_panic() {
    let m = LoadMatrix { layers: 2, experts: 4, data: vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0] };
    let data = PhaseData::from_summed(Phase::Decode, SourceFormat::Summed, m);
    let c = Cluster { devices: 2, nodes: 1, redundant: 2, ..Cluster::default() };
    for p in [
        Placement { layers: vec![] },
        Placement { layers: vec![vec![]] },
        Placement { layers: vec![vec![vec![]], vec![vec![99, 0]]] },
        Placement { layers: vec![vec![vec![0, 1], vec![2, 3]], vec![vec![0, 1, 2, 3, 3]], vec![vec![0]]] },
    ] {
        let s = score(&data, &p, &c);
        assert!(!s.valid);
        assert!(s.step_imbalance.is_finite() && s.lower_bound.is_finite() && s.gap.is_finite(), "{s:?}");
    }
    // An all-zero layer is perfectly balanced.
    let p = Placement::default_layout(2, 4, 2);
    let s = score(&data, &p, &c);
    assert!(s.valid);
    assert_eq!(s.per_layer[1].imbalance, 1.0);
    assert_eq!(s.per_layer[1].lower_bound, 1.0);
}

#[test]
fn reports_list_the_figures_before_and_after() {
    use elb::engine::export::{report_json, report_markdown, score_json, PhaseReport};
    use elb::engine::Settings;
    let fx = common::fixtures().join("small-summed");
    let files = common::input_files(&fx.join("input"));
    let ds = elb::engine::ingest::read_files(&files).unwrap();
    let data = &ds.phases[0];
    let c = Cluster { devices: 8, nodes: 2, redundant: 8, ..Cluster::default() };
    let before = Placement::default_layout(data.layers, data.experts, 8);
    let after = placement_from_table(&common::read_table(&fx.join("expected/al0-a2.json")), 0);
    let (b, a) = (score(data, &before, &c), score(data, &after, &c));
    let rep = PhaseReport {
        phase: Phase::Decode,
        settings: Some(Settings { cluster: c, msit_compat: true, ..Settings::default() }),
        before_source: "default layout".into(),
        before: b.clone(),
        after: Some(a.clone()),
        slots_moved: Some(slots_moved(&before, &after)),
        replicas_added: Some(replicas_added(&before, &after)),
        seconds: Some(0.25),
        warnings: vec!["layer 2: msit puts expert 3 twice on device 1".into()],
    };
    let md = report_markdown(std::slice::from_ref(&rep));
    assert!(md.starts_with("# ELB Studio report\n\n## decode\n"), "{md}");
    assert!(md.contains("- algorithm: C2LB (al 0)"), "{md}");
    assert!(md.contains("| step imbalance | 1.9671 | 1.0865 |"), "{md}");
    assert!(md.contains("| lower bound | 1.4664 | 1.0000 |"), "{md}");
    assert!(md.contains("| valid | yes | no (1 violations) |"), "{md}");
    assert!(md.contains("- layer 2 device 1: holds expert(s) [3] more than once"), "{md}");
    assert!(md.contains("- replicas added (all layers): 32"), "{md}");
    assert!(md.contains("| 3 | 1.5900 | 1.0561 |"), "{md}");
    let js: serde_json::Value = serde_json::from_str(&report_json(&[rep])).unwrap();
    assert_eq!(js["phases"][0]["phase"], "decode");
    assert_eq!(js["phases"][0]["after"]["violations"][0], "layer 2 device 1: holds expert(s) [3] more than once");
    assert_eq!(js["phases"][0]["before"]["per_layer"].as_array().unwrap().len(), 4);
    // score_json: one object keyed by phase, null for a missing time series.
    let sj: serde_json::Value = serde_json::from_str(&score_json(&[(Phase::Prefill, &b), (Phase::Decode, &a)])).unwrap();
    assert!(sj["prefill"]["time_resolved_step_imbalance"].is_null());
    assert!(sj["decode"].get("internode_nodes_per_token").is_none());
    assert_eq!(sj["decode"]["slots_per_device"], 3);
    assert_eq!(score_json(&[]), "{}");
}
