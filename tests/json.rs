//! engine::json against serde_json (a dev-dependency only, the library the
//! engine used before): the same text written for random floats, strings,
//! trees and the engine's types, compact and pretty; the same documents
//! accepted (and the same trees read, the same error lines) on random
//! trees, random bytes and random mutations of valid documents; typed
//! readers accept what serde's derive accepted; nothing panics.

use elb::engine::json::{self, FromJson, Number, Value};
use elb::engine::metrics::{self, LayerScore, Score};
use elb::engine::{Algorithm, DeviceType, Settings};
use proptest::prelude::*;
use serde_json as sj;

fn to_ours(v: &sj::Value) -> Value {
    match v {
        sj::Value::Null => Value::Null,
        sj::Value::Bool(b) => Value::Bool(*b),
        sj::Value::Number(n) => Value::Number(if let Some(u) = n.as_u64() {
            Number::PosInt(u)
        } else if let Some(i) = n.as_i64() {
            Number::NegInt(i)
        } else {
            Number::Float(n.as_f64().unwrap())
        }),
        sj::Value::String(s) => Value::String(s.clone()),
        sj::Value::Array(a) => Value::Array(a.iter().map(to_ours).collect()),
        sj::Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), to_ours(v))).collect()),
    }
}

/// Equal trees, floats within serde_json's own rounding (it does not read
/// every float correctly rounded; engine::json does).
fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(Number::Float(x)), Value::Number(Number::Float(y))) => x == y || ((x - y) / x).abs() < 1e-15,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && close(a, b)),
        _ => a == b,
    }
}

/// Both parsers on `bytes`: the same verdict, the same tree, or the same
/// error line.
fn same_verdict(bytes: &[u8]) -> std::result::Result<(), String> {
    let ours = json::parse(bytes);
    let theirs = sj::from_slice::<sj::Value>(bytes);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) if close(a, &to_ours(b)) => Ok(()),
        (Err(a), Err(b)) if a.line() == b.line() => Ok(()),
        _ => Err(format!("{:?}: ours {ours:?}, serde_json {theirs:?}", String::from_utf8_lossy(bytes))),
    }
}

#[test]
fn floats_are_written_as_serde_json_writes_them() {
    let fixed = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        0.1,
        1e-7,
        1e-5,
        1.5e-5,
        0.0001,
        123456.789,
        1.2345678901234568e17,
        1e15,
        1e16,
        1e17,
        9007199254740993.0,
        123456789012345680.0,
        1e21,
        1e22,
        1e23,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        f64::EPSILON,
        std::f64::consts::PI,
        2.4,
        1.0 / 3.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    for f in fixed {
        assert_eq!(json::to_string(&f), sj::to_string(&f).unwrap(), "{f:e}");
        assert_eq!(json::to_string(&Value::from(f)), sj::to_string(&sj::json!(f)).unwrap(), "{f:e}");
    }
}

#[test]
fn deep_nesting_stops_where_serde_json_stops() {
    for depth in [1, 2, 126, 127, 128, 129, 1000] {
        let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        same_verdict(text.as_bytes()).unwrap();
        let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        same_verdict(text.as_bytes()).unwrap();
        let text = "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
        same_verdict(text.as_bytes()).unwrap();
    }
    // A skipped value may nest deeper (serde_json's IgnoredAny did too).
    let deep = format!("{{\"load_history\": [{{\"logical_expert_load\": [[1, 2]], \"x\": {}{}}}]}}", "[".repeat(5000), "]".repeat(5000));
    assert!(elb::engine::ecosystem::vllm_eplb::parse("h.json", deep.as_bytes()).is_ok());
}

#[test]
fn chosen_documents_get_the_same_verdict() {
    let docs: &[&str] = &[
        "", " ", "null", "nul", "nulx", "true", "tru", "false", "falsey", "1", "-", "-0", "-0.0", "01", "1.", "1.e5", "1e", "1e+", "1e+5", "1E-5",
        "0.5e-400", "1e400", "-1e400", "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
        "123456789012345678901234567890", "\"", "\"a", "\"\\", "\"\\u12", "\"\\u12G4\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\\ud83d\\ude00\"", "\"\\x\"", "\"a\tb\"", "\"\u{7f}\"", "[", "[1", "[1,", "[1,]", "[,1]", "[1 2]", "{", "{\"a\"", "{\"a\":",
        "{\"a\":1", "{\"a\":1,}", "{\"a\" 1}", "{1:2}", "{\"a\":1 \"b\":2}", "{\"a\":1,\"a\":2}", "[] []", "[]x", " [ ] \n", "\u{feff}[]",
        "[1,\n2,\n3\n", "{\n\"a\": [\n1,\n2 3]}", "\"\\/\\b\\f\\n\\r\\t\"", "[-]", "[--1]", "[+1]", "[.5]", "[1.5.5]", "[Infinity]", "[NaN]",
    ];
    for d in docs {
        same_verdict(d.as_bytes()).unwrap();
    }
    for bytes in [&b"\"\xff\""[..], b"[\"\xc3\x28\"]", b"\xff", b"[1]\xff", b"{\"\xe2\x82\":1}"] {
        same_verdict(bytes).unwrap();
    }
    // Duplicate keys: the last wins; keys come out sorted.
    let v = json::parse(br#"{"b": 1, "a": 2, "b": 3}"#).unwrap();
    assert_eq!(v.to_string(), r#"{"a":2,"b":3}"#);
}

fn leaf() -> impl Strategy<Value = sj::Value> {
    prop_oneof![
        Just(sj::Value::Null),
        any::<bool>().prop_map(sj::Value::Bool),
        any::<u64>().prop_map(|u| sj::json!(u)),
        any::<i64>().prop_map(|i| sj::json!(i)),
        (0u64..1000).prop_map(|u| sj::json!(u)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| sj::json!(f)),
        (-1_000_000i64..1_000_000, -30i32..30).prop_map(|(m, e)| sj::json!(m as f64 * 10f64.powi(e))),
        prop::collection::vec(any::<char>(), 0..8).prop_map(|c| sj::Value::String(c.into_iter().collect())),
        "[a-z\"\\\\\n\t\u{1f}é€😀]{0,6}".prop_map(sj::Value::String),
    ]
}

fn tree() -> impl Strategy<Value = sj::Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(sj::Value::Array),
            prop::collection::vec(("[a-d\"\\\\é]{0,3}", inner), 0..6).prop_map(|kv| sj::Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Bytes a mutation puts in: JSON's own punctuation mostly.
fn json_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(b"{}[],:\"\\ \n\t0123456789-+.eEtrufalsn/u".to_vec()),
        any::<u8>(),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(prop::sample::Index),
    Insert(prop::sample::Index, u8),
    Replace(prop::sample::Index, u8),
    Cut(prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Edit::Delete),
        (any::<prop::sample::Index>(), json_byte()).prop_map(|(i, b)| Edit::Insert(i, b)),
        (any::<prop::sample::Index>(), json_byte()).prop_map(|(i, b)| Edit::Replace(i, b)),
        any::<prop::sample::Index>().prop_map(Edit::Cut),
    ]
}

fn apply(mut b: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = b.len();
        match e {
            Edit::Delete(i) if n > 0 => {
                b.remove(i.index(n));
            }
            Edit::Insert(i, c) => b.insert(i.index(n + 1), *c),
            Edit::Replace(i, c) if n > 0 => b[i.index(n)] = *c,
            Edit::Cut(i) => b.truncate(i.index(n + 1)),
            _ => {}
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_float_is_written_as_serde_json_writes_it(bits in any::<u64>()) {
        let f = f64::from_bits(bits);
        prop_assert_eq!(json::to_string(&f), sj::to_string(&f).unwrap());
    }

    #[test]
    fn round_and_small_floats_too(m in -100_000_000i64..100_000_000, e in -330i32..310) {
        let f = format!("{m}e{e}").parse::<f64>().unwrap();
        prop_assert_eq!(json::to_string(&f), sj::to_string(&f).unwrap());
        let g = m as f64;
        prop_assert_eq!(json::to_string(&g), sj::to_string(&g).unwrap());
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them(c in prop::collection::vec(any::<char>(), 0..40)) {
        let s: String = c.into_iter().collect();
        prop_assert_eq!(json::to_string(&s), sj::to_string(&s).unwrap());
        // and read back
        prop_assert_eq!(json::from_slice::<String>(json::to_string(&s).as_bytes()).unwrap(), s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn trees_are_written_and_read_as_serde_json_does(v in tree()) {
        let ours = to_ours(&v);
        let compact = sj::to_string(&v).unwrap();
        let pretty = sj::to_string_pretty(&v).unwrap();
        prop_assert_eq!(json::to_string(&ours), compact.clone());
        prop_assert_eq!(json::to_string_pretty(&ours), pretty.clone());
        prop_assert_eq!(ours.to_string(), v.to_string());
        // Read back exactly (the shortest float text reads back to the float).
        prop_assert_eq!(json::parse(compact.as_bytes()).unwrap(), ours.clone());
        prop_assert_eq!(json::parse(pretty.as_bytes()).unwrap(), ours);
    }

    #[test]
    fn mutated_documents_get_the_same_verdict(v in tree(), pretty in any::<bool>(), edits in prop::collection::vec(edit(), 1..4)) {
        let text = if pretty { sj::to_string_pretty(&v).unwrap() } else { sj::to_string(&v).unwrap() };
        let b = apply(text.into_bytes(), &edits);
        if let Err(e) = same_verdict(&b) {
            return Err(TestCaseError::fail(e));
        }
        // Skipping checks what reading checks (but UTF-8 and surrogates in
        // strings, nor depth: as serde_json's IgnoredAny).
        let mut r = json::Reader::new(&b);
        let skipped = r.skip().and_then(|_| r.finish());
        if json::parse(&b).is_ok() {
            prop_assert!(skipped.is_ok());
        }
    }

    #[test]
    fn random_bytes_get_the_same_verdict(b in prop::collection::vec(json_byte(), 0..40)) {
        if let Err(e) = same_verdict(&b) {
            return Err(TestCaseError::fail(e));
        }
    }
}

// ------------------------------------------------- the engine's types

fn score_of(seed: u64) -> Score {
    use elb::engine::sample::{cluster_for, generate, Preset, SampleFormat};
    let ds = elb::engine::ingest::read_files(&generate(Preset::Small, SampleFormat::Series, seed)).unwrap();
    let p = &ds.phases[0];
    let placement = elb::engine::before::default_layout(p, &cluster_for(Preset::Small)).placement;
    metrics::score(p, &placement, &cluster_for(Preset::Small))
}

fn odd_float() -> impl Strategy<Value = f64> {
    prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0), Just(1.0), (0u32..1000).prop_map(|x| f64::from(x) / 7.0)]
}

prop_compose! {
    fn score()(base in 0u64..2, f in prop::collection::vec(odd_float(), 8), o in prop::collection::vec(any::<bool>(), 4), layers in 0usize..3, v in prop::collection::vec("[a-z \"\n]{0,8}", 0..3)) -> Score {
        let mut s = score_of(base);
        s.step_imbalance = f[0];
        s.gap = f[1];
        s.time_resolved_step_imbalance = o[0].then_some(f[2]);
        s.internode_nodes_per_token = o[1].then_some(f[3]);
        s.servers.vllm_balancedness = f[4];
        s.valid = o[2];
        s.violations = v;
        s.per_layer = (0..layers).map(|l| LayerScore { layer: l, imbalance: f[5], lower_bound: f[6], time_resolved_imbalance: o[3].then_some(f[7]) }).collect();
        s
    }
}

prop_compose! {
    fn settings()(a in 0usize..9, dt in any::<bool>(), n in prop::collection::vec(0usize..1_000_000, 4), seed in any::<u64>(), g in prop::option::of(0usize..9), b in prop::collection::vec(any::<bool>(), 3)) -> Settings {
        let mut s = Settings { algorithm: Algorithm::ALL[a], seed, groups: g, msit_compat: b[0], holdout: b[1], robust: b[2], ..Settings::default() };
        s.cluster.device_type = if dt { DeviceType::A3 } else { DeviceType::A2 };
        (s.cluster.devices, s.cluster.nodes, s.cluster.redundant, s.cluster.shared_devices) = (n[0], n[1], n[2], n[3]);
        s
    }
}

/// The report's JSON as the serde build wrote it.
#[derive(serde::Serialize)]
struct Report<'a> {
    tool: &'static str,
    version: &'static str,
    phases: &'a [elb::engine::export::PhaseReport],
}

/// `ScoreSummary` as the serde build derived it.
#[derive(serde::Serialize)]
struct SummaryAsBefore {
    layers: usize,
    experts: usize,
    devices: usize,
    slots_per_device: usize,
    step_imbalance: f64,
    mean_layer_imbalance: f64,
    max_layer_imbalance: f64,
    time_resolved_step_imbalance: Option<f64>,
    lower_bound: f64,
    gap: f64,
    valid: bool,
    violations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    internode_nodes_per_token: Option<f64>,
    servers: elb::engine::metrics::servers::ServerFigures,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn settings_are_written_and_read_as_serde_did(s in settings(), edits in prop::collection::vec(edit(), 0..3)) {
        prop_assert_eq!(json::to_string(&s), sj::to_string(&s).unwrap());
        prop_assert_eq!(json::to_string_pretty(&s), sj::to_string_pretty(&s).unwrap());
        let text = sj::to_string(&s).unwrap();
        prop_assert_eq!(json::from_slice::<Settings>(text.as_bytes()).unwrap(), s);
        // Mutated: the same documents accepted, as the same settings.
        let b = apply(text.into_bytes(), &edits);
        let ours = json::from_slice::<Settings>(&b);
        let theirs = sj::from_slice::<Settings>(&b);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} / {:?}", String::from_utf8_lossy(&b), ours, theirs);
        if let (Ok(a), Ok(b)) = (ours, theirs) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn scores_and_reports_are_written_as_serde_wrote_them(a in score(), b in score(), s in settings(), secs in prop::option::of(odd_float())) {
        use elb::engine::export::{report_json, score_json, PhaseReport, ScoreSummary};
        use elb::engine::Phase;
        prop_assert_eq!(json::to_string_pretty(&a), sj::to_string_pretty(&a).unwrap());
        let sum = ScoreSummary::from(&a);
        let before = SummaryAsBefore {
            layers: a.layers, experts: a.experts, devices: a.devices, slots_per_device: a.slots_per_device,
            step_imbalance: a.step_imbalance, mean_layer_imbalance: a.mean_layer_imbalance, max_layer_imbalance: a.max_layer_imbalance,
            time_resolved_step_imbalance: a.time_resolved_step_imbalance, lower_bound: a.lower_bound, gap: a.gap, valid: a.valid,
            violations: a.violations.clone(), internode_nodes_per_token: a.internode_nodes_per_token, servers: a.servers.clone(),
        };
        prop_assert_eq!(json::to_string_pretty(&sum), sj::to_string_pretty(&before).unwrap());
        // The CLI's `to_value` form: keys sorted at every level.
        prop_assert_eq!(json::to_string_pretty(&Value::of(&sum)), sj::to_string_pretty(&sj::to_value(&before).unwrap()).unwrap());
        let want = format!("{{\n  \"decode\": {}\n}}", sj::to_string_pretty(&before).unwrap().replace('\n', "\n  "));
        prop_assert_eq!(score_json(&[(Phase::Decode, &a)]), want);
        let reports = vec![
            PhaseReport { phase: Phase::Prefill, settings: Some(s), before_source: "default layout".into(), before: a, after: Some(b.clone()), slots_moved: Some(3), replicas_added: Some(-2), seconds: secs, warnings: vec!["w".into()] },
            PhaseReport { phase: Phase::Decode, settings: None, before_source: "x\"y".into(), before: b, after: None, slots_moved: None, replicas_added: None, seconds: None, warnings: vec![] },
        ];
        let want = sj::to_string_pretty(&Report { tool: "ELB Studio", version: env!("CARGO_PKG_VERSION"), phases: &reports }).unwrap();
        prop_assert_eq!(report_json(&reports), want);
    }
}

/// The deployment table as serde's derive read it.
#[derive(serde::Deserialize, Debug, PartialEq)]
struct TableAsBefore {
    moe_layer_count: i64,
    layer_list: Vec<LayerAsBefore>,
}
#[derive(serde::Deserialize, Debug, PartialEq)]
struct LayerAsBefore {
    layer_id: i64,
    device_count: i64,
    device_list: Vec<DeviceAsBefore>,
}
#[derive(serde::Deserialize, Debug, PartialEq)]
struct DeviceAsBefore {
    device_id: i64,
    device_expert: Vec<i64>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn deployment_tables_are_read_as_serde_read_them(edits in prop::collection::vec(edit(), 1..4), extra in any::<bool>()) {
        let mut text = String::from(r#"{"moe_layer_count": 2, "layer_list": [{"layer_id": 0, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [0, 1]}, {"device_id": 1, "device_expert": [2, -3]}]}, {"layer_id": 1, "device_count": 1, "device_list": [{"device_id": 0, "device_expert": [9223372036854775807]}]}]"#);
        text.push_str(if extra { r#", "note": {"x": [1.5, "s", null]}}"# } else { "}" });
        let b = apply(text.into_bytes(), &edits);
        let ours = json::from_slice::<elb::engine::table::DeploymentTable>(&b);
        let theirs = sj::from_slice::<TableAsBefore>(&b);
        prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{:?}: {:?} / {:?}", String::from_utf8_lossy(&b), ours, theirs);
        if let (Ok(a), Ok(t)) = (&ours, &theirs) {
            prop_assert_eq!(a.moe_layer_count, t.moe_layer_count);
            prop_assert_eq!(a.layer_list.len(), t.layer_list.len());
            for (x, y) in a.layer_list.iter().zip(&t.layer_list) {
                prop_assert_eq!((x.layer_id, x.device_count, x.device_list.len()), (y.layer_id, y.device_count, y.device_list.len()));
                for (d, e) in x.device_list.iter().zip(&y.device_list) {
                    prop_assert_eq!((d.device_id, &d.device_expert), (e.device_id, &e.device_expert));
                }
            }
        }
        if let (Err(a), Err(t)) = (&ours, &theirs) {
            prop_assert_eq!(a.line(), t.line(), "{:?}: {} / {}", String::from_utf8_lossy(&b), a, t);
        }
    }

    #[test]
    fn load_histories_read_the_numbers_serde_json_read(rows in prop::collection::vec(prop::collection::vec(leaf_number(), 3), 1..4), ws in prop::sample::select(vec!["", " ", "\n  "])) {
        // Two windows of the same rows.
        let row_text: Vec<String> = rows.iter().map(|r| format!("[{}]", r.join(&format!(",{ws}")))).collect();
        let load = format!("[{}]", row_text.join(","));
        let text = format!("{{\"load_history\":{ws}[{{\"logical_expert_load\": {load}}}, {{\"x\": 1, \"logical_expert_load\":{ws}{load}}}]}}");
        let s = elb::engine::ecosystem::vllm_eplb::parse("h.json", text.as_bytes());
        let v: sj::Value = sj::from_str(&text).unwrap();
        let want: Vec<f64> = v["load_history"][0]["logical_expert_load"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect();
        if want.iter().any(|x| *x < 0.0) {
            prop_assert!(s.is_err());
        } else {
            let s = s.unwrap();
            prop_assert_eq!((s.layers, s.experts, s.intervals), (rows.len(), 3, 2));
            for l in 0..s.layers {
                for e in 0..3 {
                    let (got, w) = (s.get(l, e, 1), want[l * 3 + e]);
                    prop_assert!(got == w || ((got - w) / w).abs() < 1e-15, "{} vs {}", got, w);
                }
            }
        }
    }
}

fn leaf_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100_000).prop_map(|u| u.to_string()),
        any::<u64>().prop_map(|u| u.to_string()),
        "[1-9][0-9]{14,25}",
        (0u32..100_000, 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        (1u32..100, -20i32..20).prop_map(|(a, e)| format!("{a}e{e}")),
        Just("0".to_string()),
        Just("-0".to_string()),
        Just("-1".to_string()),
        Just("0.0".to_string()),
    ]
}

#[test]
fn typed_reads_say_what_and_where() {
    use elb::engine::table::DeploymentTable;
    let e = json::from_slice::<DeploymentTable>(b"{\n\"moe_layer_count\": 1}").unwrap_err();
    assert!(e.to_string().contains("missing field `layer_list`"), "{e}");
    let e = json::from_slice::<DeploymentTable>(b"{\"moe_layer_count\": 1, \"moe_layer_count\": 2, \"layer_list\": []}").unwrap_err();
    assert!(e.to_string().contains("duplicate field `moe_layer_count`"), "{e}");
    let e = json::from_slice::<DeploymentTable>(b"{\"moe_layer_count\": 1.5,\n \"layer_list\": []}").unwrap_err();
    assert_eq!((e.line(), e.message()), (1, "invalid type: floating point `1.5`, expected i64"));
    let e = json::from_slice::<DeploymentTable>(b"{\"moe_layer_count\": 1,\n \"layer_list\": [\n{\"layer_id\": \"x\"}]}").unwrap_err();
    assert_eq!((e.line(), e.message()), (3, "invalid type: string \"x\", expected i64"));
    let e = json::from_slice::<Settings>(br#"{"algorithm": "al9"}"#).unwrap_err();
    assert!(e.message().starts_with("unknown variant `al9`, expected one of `c2lb`"), "{e}");
    let e = json::from_slice::<usize>(b"-1").unwrap_err();
    assert_eq!(e.message(), "invalid value: integer `-1`, expected usize");
    assert!(json::from_slice::<Option<u32>>(b"null").unwrap().is_none());
    assert_eq!(json::from_slice::<(u32, String)>(b"[1, \"a\"]").unwrap(), (1, "a".to_string()));
    assert!(json::from_slice::<(u32, String)>(b"[1]").is_err());
    assert!(json::from_slice::<(u32, String)>(b"[1, \"a\", 2]").is_err());
    // The error's position: line 3, at the offending byte.
    let e = json::parse(b"[1,\n2,\n3 4]").unwrap_err();
    assert_eq!((e.line(), e.column(), e.message()), (3, 3, "expected `,` or `]`"));
    assert_eq!(e.to_string(), "expected `,` or `]` at line 3 column 3");
    let e = json::parse(b"[1,\n2").unwrap_err();
    assert_eq!((e.line(), e.message()), (2, "EOF while parsing a list"));
    let _ = Value::from(1.5).as_f64();
    assert!(<Value as FromJson>::read_json(&mut json::Reader::new(b"{}")).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// The streaming reader on broken load histories: never a panic; what
    /// it reads is valid JSON (but for bad UTF-8 in a skipped string, which
    /// serde_json's `IgnoredAny` let through too).
    #[test]
    fn mutated_load_histories_never_panic(edits in prop::collection::vec(edit(), 1..5), windows in 1usize..12) {
        let w = r#"{"step": 1, "logical_expert_load": [[1, 2.5, 3], [4, 5, 6e2]], "x": {"y": ["\u00e9\n", null, true]}}"#;
        let text = format!("{{\"note\": \"\\\"logical_expert_load\\\"\", \"load_history\": [{}]}}", vec![w; windows].join(", "));
        let b = apply(text.into_bytes(), &edits);
        if elb::engine::ecosystem::vllm_eplb::parse("h.json", &b).is_ok() {
            prop_assert!(sj::from_slice::<sj::Value>(&b).is_ok() || std::str::from_utf8(&b).is_err(), "{:?}", String::from_utf8_lossy(&b));
        }
        let _ = elb::engine::table::parse_table("t.json", &b);
        let _ = json::from_slice::<Settings>(&b);
    }
}
