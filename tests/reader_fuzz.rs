//! Every reader of a file a user can drop or pass, fed random and mutated
//! bytes: never a panic, and never more memory than the bytes present
//! warrant. A counting allocator measures the peak each read allocates.
//!
//! Readers: safetensors (TensorRT-LLM statistics), TensorRT-LLM statistics
//! folders, TensorRT-LLM load-balancer YAML, OmniPlacement activation counts,
//! physical-to-logical maps, deployment tables (read as a current placement
//! and checked alone).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use elb::engine::before::{check_alone, read_placement};
use elb::engine::ecosystem::safetensors::{encode, Dtype, RawTensor, SafeTensors};
use elb::engine::ecosystem::{omniplacement, physical_map, trtllm_config, trtllm_stats};
use elb::engine::model::InputFile;
use elb::engine::Cluster;
use proptest::prelude::*;

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = NOW.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        NOW.fetch_sub(l.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Reads measured one at a time (the counters are process-wide).
static ONE: Mutex<()> = Mutex::new(());

/// Run `f` and check that it allocated at most `limit` bytes above what was
/// allocated before.
fn bounded<T>(what: &str, input_len: usize, f: impl FnOnce() -> T) -> T {
    let _g = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    // Generous: 64 KB of fixed cost plus 64 bytes per input byte.
    let limit = 64 * 1024 + 64 * input_len;
    assert!(peak <= limit, "{what}: allocated {peak} bytes for {input_len} bytes of input (limit {limit})");
    out
}

fn mutate(base: Vec<u8>, muts: Vec<(u8, prop::sample::Index, u8)>) -> Vec<u8> {
    let mut b = base;
    for (op, at, byte) in muts {
        let i = if b.is_empty() { 0 } else { at.index(b.len()) };
        match op % 4 {
            0 if !b.is_empty() => b[i] = byte,
            1 => b.insert(i, byte),
            2 if !b.is_empty() => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

fn muts() -> impl Strategy<Value = Vec<(u8, prop::sample::Index, u8)>> {
    let byte = prop_oneof![Just(b'9'), Just(b'0'), Just(b','), Just(b'"'), Just(b'['), Just(b'\n'), Just(b'\t'), Just(0xFFu8), any::<u8>()];
    proptest::collection::vec((any::<u8>(), any::<prop::sample::Index>(), byte), 0..8)
}

fn stats_file() -> Vec<u8> {
    let t = |name: &str, v: &[i64]| RawTensor::i64(name, v);
    encode(&[t("0_3", &[1, 2, 3, 4]), t("0_4", &[4, 3, 2, 1]), t("1_3", &[0, 5, 0, 5]), t("1_4", &[9, 9, 9, 9])])
}

const META: &str = r#"{"num_experts": 4, "num_experts_per_token": 2}"#;
const YAML: &str = "num_slots: 8\ninitial_global_assignments:\n  3: [0, 1, 2, 3, 0, 1, 2, 3]\n  4: [3, 2, 1, 0, 0, 1, 2, 3]\nlayer_updates_per_iter: 0\n";
const MAP: &str = r#"{"physical_to_logical_map": [[0, 1, 2, 3, 0, 1], [3, 2, 1, 0, 2, 3]]}"#;
const TABLE: &str = r#"{"moe_layer_count": 1, "layer_list": [{"layer_id": 0, "device_count": 2, "device_list": [{"device_id": 0, "device_expert": [0, 1, 2]}, {"device_id": 1, "device_expert": [3, 0, 1]}]}]}"#;
const OMNI: &str = "1\t2\t3\n4\t5\t6\n";

fn read_everything(name: &str, bytes: &[u8]) {
    let n = bytes.len();
    bounded("safetensors", n, || {
        if let Ok(st) = SafeTensors::parse(name, bytes) {
            for t in &st.tensors {
                let _ = st.read_f64(t);
            }
        }
    });
    bounded("trtllm stats", n, || {
        let _ = trtllm_stats::read(&[InputFile::new("meta_info.json", META.as_bytes().to_vec()), InputFile::new("rank0.safetensors", bytes.to_vec())]);
    });
    bounded("trtllm meta", n, || {
        let _ = trtllm_stats::read(&[InputFile::new("meta_info.json", bytes.to_vec()), InputFile::new("rank0.safetensors", stats_file())]);
    });
    if let Ok(text) = std::str::from_utf8(bytes) {
        bounded("trtllm yaml", n, || {
            let _ = trtllm_config::import("lb.yaml", text, 2);
        });
        bounded("physical map", n, || {
            let _ = physical_map::import("map.json", text, 2, 0);
        });
    }
    bounded("omniplacement", n, || {
        let _ = omniplacement::read(&[InputFile::new("activation_counts_recordstep_1_rank_0.txt", bytes.to_vec())]);
    });
    for file in ["t.json", "lb.yaml", "map.json"] {
        bounded("placement file", n, || {
            if let Ok(g) = read_placement(file, bytes, 2, 1) {
                let _ = check_alone(&g, &Cluster { devices: 2, nodes: 1, redundant: 2, shared_devices: 0, ..Cluster::default() });
            }
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        read_everything("x", &bytes);
    }

    #[test]
    fn mutated_safetensors(m in muts()) {
        read_everything("rank0.safetensors", &mutate(stats_file(), m));
    }

    #[test]
    fn mutated_text_files(which in 0usize..5, m in muts()) {
        let base = [META, YAML, MAP, TABLE, OMNI][which];
        read_everything("f", &mutate(base.as_bytes().to_vec(), m));
    }
}

/// A header that declares huge tensors over a few bytes, or many tensors
/// over the same bytes, is refused before anything is allocated for them.
#[test]
fn lying_safetensors_headers_are_refused() {
    let header = r#"{"0_3": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]}, "0_4": {"dtype": "I64", "shape": [4], "data_offsets": [0, 32]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(&[0u8; 32]);
    let e = SafeTensors::parse("rank0.safetensors", &b).err().expect("overlap refused");
    assert!(e.to_string().contains("overlap"), "{e}");
    let header = r#"{"0_3": {"dtype": "I64", "shape": [1000000000000], "data_offsets": [0, 32]}}"#;
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(&[0u8; 32]);
    assert!(SafeTensors::parse("rank0.safetensors", &b).is_err());
    let big_meta = r#"{"num_experts": 1000000000000}"#;
    let r = bounded("huge num_experts", 200, || {
        trtllm_stats::read(&[InputFile::new("meta_info.json", big_meta.as_bytes().to_vec()), InputFile::new("rank0.safetensors", stats_file())])
    });
    assert!(r.is_err());
    let _ = Dtype::I64;
}

#[test]
fn omniplacement_rank_ids_beyond_any_cluster_are_an_error() {
    let e = omniplacement::read(&[InputFile::new("activation_counts_recordstep_1_rank_18446744073709551615.txt", OMNI.as_bytes().to_vec())]).unwrap_err();
    assert!(e.to_string().contains("beyond any cluster"), "{e}");
}
