//! Property tests of the other-server readers (vLLM load history, SGLang
//! recorder `.pt` through the zip reader and the pickle machine): random and
//! mutated inputs never panic, and what a read allocates stays bounded by
//! the bytes given (a per-thread counting allocator measures the peak).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use elb::engine::ecosystem::{pickle, torch_pt::TorchFile, vllm_eplb};
use elb::engine::ingest::read_files;
use elb::engine::model::InputFile;
use elb::engine::zip;
use proptest::prelude::*;

// ---- peak heap of the current thread ------------------------------------------

struct Counting;

thread_local! {
    static CUR: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = CUR.try_with(|c| {
            let v = c.get() + l.size() as isize;
            c.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = CUR.try_with(|c| c.set(c.get() - l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// Peak bytes allocated (above what was live before) while `f` runs.
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = CUR.with(|c| c.get());
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(|p| p.get()) - base;
    (out, peak.max(0) as usize)
}

/// What a read of `n` input bytes may allocate: 64 values per byte as f64
/// (the tensor budget), a few copies of that, and a fixed allowance.
fn allowed(n: usize) -> usize {
    4 * 64 * 8 * n + (4 << 20)
}

fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/servers").join(rel)).unwrap()
}

const STAT: &str = "sglang-stat/expert_distribution_recorder_1700000000.25.pt";
const PASS0: &str = "sglang-per-pass/expert_distribution_recorder_1700000100.5_0.pt";
const PASS1: &str = "sglang-per-pass/expert_distribution_recorder_1700000100.5_1.pt";
const HISTORY: &str = "vllm-load-history/expert_load.json";

/// `bytes` with replacements, insertions, deletions or a cut.
fn mutate(bytes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let interesting = prop_oneof![
        Just(0u8),
        Just(0xFFu8),
        Just(b'('),
        Just(b'.'),
        Just(b'X'),
        Just(b'J'),
        Just(b'h'),
        Just(b'q'),
        Just(b'R'),
        Just(b'['),
        Just(b']'),
        Just(b','),
        Just(b'9'),
        Just(b'-'),
        any::<u8>()
    ];
    proptest::collection::vec((0usize..4, any::<prop::sample::Index>(), interesting), 0..6).prop_map(move |muts| {
        let mut b = bytes.clone();
        for (op, at, byte) in muts {
            let i = if b.is_empty() { 0 } else { at.index(b.len()) };
            match op {
                0 if !b.is_empty() => b[i] = byte,
                1 => b.insert(i, byte),
                2 if !b.is_empty() => {
                    b.remove(i);
                }
                _ => b.truncate(i),
            }
        }
        b
    })
}

/// The archive `pt` with its data.pkl replaced by `pkl` (valid zip and CRCs,
/// so the pickle and tensor paths are reached).
fn with_pickle(pt: &[u8], pkl: &[u8]) -> Vec<u8> {
    let entries = zip::entries(pt).unwrap();
    let owned: Vec<(String, Vec<u8>)> = entries
        .iter()
        .map(|e| (e.name.clone(), if e.name.ends_with("/data.pkl") { pkl.to_vec() } else { e.bytes().unwrap().into_owned() }))
        .collect();
    let refs: Vec<(&str, &[u8])> = owned.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    zip::store(&refs).unwrap()
}

fn pickle_of(pt: &[u8]) -> Vec<u8> {
    zip::entries(pt).unwrap().iter().find(|e| e.name.ends_with("/data.pkl")).unwrap().bytes().unwrap().into_owned()
}

fn read_pt(name: &str, bytes: Vec<u8>) -> usize {
    let n = bytes.len();
    let f = vec![InputFile::new(format!("d/{name}"), bytes)];
    let (_, peak) = peak_of(|| read_files(&f));
    assert!(peak <= allowed(n), "{name}: {peak} bytes allocated for {n} bytes of input");
    peak
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = pickle::load(&bytes);
        let _ = TorchFile::open("x.pt", &bytes);
        let _ = zip::entries(&bytes);
        let _ = vllm_eplb::parse("h.json", &bytes);
        read_pt("expert_distribution_recorder_1.pt", bytes.clone());
        let mut j = b"{\"load_history\": ".to_vec();
        j.extend_from_slice(&bytes);
        let _ = read_files(&[InputFile::new("h.json", j)]);
    }

    #[test]
    fn mutated_pickles_never_panic(pkl in mutate(pickle_of(&fixture(PASS0)))) {
        let _ = pickle::load(&pkl);
        read_pt("expert_distribution_recorder_1_0.pt", with_pickle(&fixture(PASS0), &pkl));
    }

    #[test]
    fn mutated_stat_pickles_never_panic(pkl in mutate(pickle_of(&fixture(STAT)))) {
        read_pt("expert_distribution_recorder_1.pt", with_pickle(&fixture(STAT), &pkl));
    }

    #[test]
    fn mutated_archives_never_panic(pt in mutate(fixture(STAT))) {
        read_pt("expert_distribution_recorder_1.pt", pt);
    }

    #[test]
    fn mutated_deflated_archives_never_panic(pt in mutate(fixture(PASS1))) {
        read_pt("expert_distribution_recorder_1_1.pt", pt);
    }

    /// Valid load histories of any shape read back exactly, window by window.
    #[test]
    fn load_history_roundtrip(l in 1usize..5, e in 1usize..6, t in 1usize..6, seed in any::<u64>(), pad in 0usize..3) {
        let mut x = seed;
        let mut next = move || { x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407); (x >> 40) % 1000 };
        let w: Vec<Vec<Vec<u64>>> = (0..t).map(|_| (0..l).map(|_| (0..e).map(|_| next()).collect()).collect()).collect();
        let entries: Vec<String> = w.iter().map(|win| {
            let rows: Vec<String> = win.iter().map(|r| format!("[{}]", r.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))).collect();
            format!("{{\"step\": 1, \"logical_expert_load\": [{}]}}", rows.join(","))
        }).collect();
        let text = format!("{{{}\"load_history\": [{}]}}", "\"x\": [1], ".repeat(pad), entries.join(",\n"));
        let ds = read_files(&[InputFile::new("h/load.json", text.into_bytes())]).unwrap();
        let pd = &ds.phases[0];
        prop_assert_eq!((pd.layers, pd.experts, pd.intervals()), (l, e, t));
        for (ti, win) in w.iter().enumerate() {
            for (li, row) in win.iter().enumerate() {
                for (ei, &v) in row.iter().enumerate() {
                    let got = match &pd.series { Some(s) => s.get(li, ei, ti), None => pd.summed.get(li, ei) };
                    prop_assert_eq!(got, v as f64);
                }
            }
        }
    }

    #[test]
    fn mutated_load_histories_never_panic(j in mutate(fixture(HISTORY))) {
        let n = j.len();
        let f = vec![InputFile::new("h/expert_load.json", j)];
        let (_, peak) = peak_of(|| read_files(&f));
        prop_assert!(peak <= allowed(n), "{} bytes allocated for {} bytes", peak, n);
    }
}

/// The fuzz seeds are valid, so mutations explore the deep paths.
#[test]
fn seeds_are_valid() {
    for (name, rel) in [("expert_distribution_recorder_1.pt", STAT), ("expert_distribution_recorder_1_0.pt", PASS0)] {
        let b = fixture(rel);
        assert!(read_files(&[InputFile::new(format!("d/{name}"), b.clone())]).is_ok(), "{rel}");
        let again = with_pickle(&b, &pickle_of(&b));
        assert!(read_files(&[InputFile::new(format!("d/{name}"), again)]).is_ok(), "{rel} re-zipped");
    }
    assert!(read_files(&[InputFile::new("h/expert_load.json", fixture(HISTORY))]).is_ok());
}

/// Lengths and counts that claim far more than the file holds allocate nothing big.
#[test]
fn lying_sizes_are_refused_cheaply() {
    // A tensor claiming 2^40 elements over a 16-byte storage.
    let pt = fixture(STAT);
    let pkl = pickle_of(&pt);
    // BININT1 5 (passes) -> BININT 2^30 in the size tuple: replace "K\x05K\x03K\x08\x87" (size 5,3,8).
    let at = pkl.windows(7).position(|w| w == b"K\x05K\x03K\x08\x87").expect("the size tuple");
    let mut bad = pkl[..at].to_vec();
    bad.extend_from_slice(b"J\x00\x00\x00\x40K\x03K\x08\x87");
    bad.extend_from_slice(&pkl[at + 7..]);
    let p = read_pt("expert_distribution_recorder_1.pt", with_pickle(&pt, &bad));
    assert!(p < 1 << 20, "{p}");
    let e = read_files(&[InputFile::new("d/expert_distribution_recorder_1.pt", with_pickle(&pt, &bad))]).unwrap_err();
    assert!(e.to_string().contains("is larger than this"), "{e}");
    // A memo entry fetched a million times is shared, not copied.
    let mut many = b"\x80\x02X\x00\x00\x01\x00".to_vec();
    many.extend(std::iter::repeat_n(b'a', 65536));
    many.extend_from_slice(b"q\x00(");
    for _ in 0..100_000 {
        many.extend_from_slice(b"h\x00");
    }
    many.extend_from_slice(b"l.");
    let n = many.len();
    let (r, peak) = peak_of(|| pickle::load(&many));
    assert!(r.is_ok());
    assert!(peak < 40 * n, "{peak} for {n}");
}
