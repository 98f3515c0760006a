//! A synthetic time-series dump (formats.md §2) of any size, for the parse
//! benchmark and tests. Deterministic for a given seed.

use crate::engine::model::InputFile;
use crate::engine::rng::SplitMix64;

/// `model_gen_config.json` plus `decode_<rank>.csv` for `ranks` ranks holding
/// `experts / ranks` slots each, `dumps` cumulative blocks of `layers` rows.
/// Per-interval loads are skewed (a few hot experts) so no interval is idle.
pub fn synth_series_dump(layers: usize, experts: usize, ranks: usize, dumps: usize, top_k: usize, seed: u64) -> Vec<InputFile> {
    let ranks = ranks.max(1);
    let per = experts.div_ceil(ranks).max(1);
    let mut files = Vec::with_capacity(ranks + 1);
    files.push(InputFile::new(
        "dump/model_gen_config.json",
        format!(
            "{{\n  \"num_moe_layers\": {layers},\n  \"num_of_experts\": {},\n  \"collection_Interval\": 8,\n  \"num_of_selected_experts\": [{top_k}],\n  \"num_dangling_shared_experts\": 0\n}}\n",
            per * ranks
        ),
    ));
    let mut state = SplitMix64(seed);
    for r in 0..ranks {
        let mut cum = vec![0u64; layers * per];
        let hot: Vec<u64> = (0..layers * per).map(|_| 1 + state.next() % 64).collect();
        let mut text = String::with_capacity(dumps * layers * per * 7);
        for _t in 0..dumps {
            for l in 0..layers {
                for c in 0..per {
                    let i = l * per + c;
                    cum[i] += hot[i] * (8 + state.next() % 16);
                    if c > 0 {
                        text.push(',');
                    }
                    push_u64(&mut text, cum[i]);
                }
                text.push('\n');
            }
        }
        files.push(InputFile::new(format!("dump/decode_{r}.csv"), text.into_bytes()));
    }
    files
}

fn push_u64(s: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(b as char);
    }
}
