//! The phase's numeric arrays on the wire (`engine::bulk`): as bytes, every
//! bit kept, through bincode (the page's workers) and JSON.

use serde::{Deserialize, Serialize};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Both {
    #[serde(with = "elb::engine::bulk::f64s")]
    a: Vec<f64>,
    #[serde(with = "elb::engine::bulk::u32s_2d")]
    b: Vec<Vec<Vec<u32>>>,
}

#[test]
fn bincode_and_json_round_trip_every_bit() {
    let v = Both {
        a: vec![0.0, -0.0, 1.5, f64::MAX, f64::MIN_POSITIVE, 1e-310, f64::INFINITY, 12345.678],
        b: vec![vec![vec![1, 2, u32::MAX], vec![]], vec![], vec![vec![0]]],
    };
    let bin = bincode::serialize(&v).unwrap();
    let back: Both = bincode::deserialize(&bin).unwrap();
    assert_eq!(back.a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), v.a.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    assert_eq!(back.b, v.b);
    // One length and the bytes: 8 per number, not more.
    assert!(bin.len() < 8 * 8 + 4 * 5 + 8 * 8, "{} bytes", bin.len());
    let json = serde_json::to_string(&v).unwrap();
    let back: Both = serde_json::from_str(&json).unwrap();
    assert_eq!(back.b, v.b);
    assert_eq!(back.a.len(), v.a.len());
}

#[test]
fn a_torn_array_is_an_error() {
    #[derive(Debug, Deserialize)]
    struct A {
        #[serde(with = "elb::engine::bulk::f64s")]
        #[allow(dead_code)]
        a: Vec<f64>,
    }
    let e = serde_json::from_str::<A>(r#"{"a": [1, 2, 3]}"#).unwrap_err();
    assert!(e.to_string().contains("not a whole number of 8-byte values"), "{e}");
}
