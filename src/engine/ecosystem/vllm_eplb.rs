//! vLLM EPLB load recordings, the JSON the public EPLB benchmarks use:
//!
//! ```json
//! {"load_history": [{"logical_expert_load": [[12, 0, 7, ...], ...]}, ...]}
//! ```
//!
//! Each entry of `load_history` is one window (one recorded step of vLLM's
//! EPLB load window) and becomes one interval of a [`Series`];
//! `logical_expert_load` is `[layers][logical experts]` token counts. Other
//! keys (in the entries or at the top level) are ignored. Every window must
//! have the shape of the first.
//!
//! The file is read as a stream ([`json::Reader`], no JSON tree is built): the first window
//! gives the shape, then the per-interval array is allocated once, sized by
//! the number of `"logical_expert_load"` keys in the text and never more
//! values than the file has bytes, and every later window is written in
//! place. The phase is decode unless the path names `prefill`.

use super::{dir_of, phase_of_path};
use crate::engine::error::{Error, Result};
use crate::engine::ingest::series::MAX_SERIES_CELLS;
use crate::engine::json::{self, Reader};
use crate::engine::model::{InputFile, PhaseData, PhaseInfo, Series, SourceFormat};

const KEY: &[u8] = b"\"load_history\"";
const LOAD_KEY: &[u8] = b"\"logical_expert_load\"";

fn count(hay: &[u8], needle: &[u8]) -> usize {
    if needle.is_empty() || hay.len() < needle.len() {
        return 0;
    }
    let mut n = 0;
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..].iter().position(|&b| b == needle[0]) {
            None => break,
            Some(p) => {
                i += p;
                if hay[i..].starts_with(needle) {
                    n += 1;
                    i += needle.len();
                } else {
                    i += 1;
                }
            }
        }
    }
    n
}

/// A JSON file holding a `"load_history"` key.
pub fn is_load_history(f: &InputFile) -> bool {
    f.file_name().to_ascii_lowercase().ends_with(".json") && count(&f.bytes, KEY) > 0
}

pub fn present(files: &[InputFile]) -> bool {
    files.iter().any(is_load_history)
}

/// What the stream reader fills.
struct State {
    file_len: usize,
    /// `"logical_expert_load"` keys in the text: an upper bound of the windows.
    keys: usize,
    /// Window being read.
    t: usize,
    layers: usize,
    experts: usize,
    /// Window 0 as read (`[l][e]`), before the shape is known.
    first: Vec<f64>,
    series: Option<Series>,
    /// Layer being read in the current window.
    layer: usize,
    /// Whether the current window had its load.
    had_load: bool,
    /// Windows `base..` as read (`[window][l][e]`, up to `block_windows`),
    /// written into the series a block at a time: the series is
    /// `[l][e][window]`, so one window alone would touch a cache line per value.
    block: Vec<f64>,
    base: usize,
    block_windows: usize,
}

impl State {
    fn put(&mut self, e: usize, v: f64) -> std::result::Result<(), String> {
        if !v.is_finite() || v < 0.0 {
            return Err(format!("window {}, layer {}, expert {e}: the load {v} is not a non-negative number", self.t, self.layer));
        }
        match &mut self.series {
            None => self.first.push(v),
            Some(s) => {
                if e >= s.experts {
                    return Err(format!("window {}, layer {}: more than {} experts (window 0 has {})", self.t, self.layer, s.experts, s.experts));
                }
                if self.t >= s.intervals {
                    // The windows were counted by their key's plain text: a key
                    // written with escapes is read but was not counted.
                    return Err(format!("window {}: more windows than \"logical_expert_load\" keys written plainly", self.t));
                }
                let per = s.layers * s.experts;
                self.block[(self.t - self.base) * per + self.layer * s.experts + e] = v;
            }
        }
        Ok(())
    }

    /// A window is complete: write the block into the series when it is
    /// full (`all`: whatever it holds).
    fn flush(&mut self, all: bool) {
        let Some(s) = &mut self.series else { return };
        let n = self.t - self.base;
        if n == 0 || (n < self.block_windows && !all) {
            return;
        }
        let per = s.layers * s.experts;
        for le in 0..per {
            let dst = &mut s.data[le * s.intervals + self.base..le * s.intervals + self.t];
            for (k, d) in dst.iter_mut().enumerate() {
                *d = self.block[k * per + le];
            }
        }
        self.base = self.t;
    }

    /// Window 0 is complete: allocate the series.
    fn start(&mut self) -> std::result::Result<(), String> {
        let (l, e) = (self.layers, self.experts);
        if l == 0 || e == 0 {
            return Err("window 0 has an empty logical_expert_load (no layers or no experts)".into());
        }
        let per = l * e;
        // Every value takes at least one byte of text, so no file holds more
        // than file_len / per windows: never allocate beyond that.
        let cap = self.keys.min(self.file_len / per).max(1);
        if (cap as u128) * (per as u128) > MAX_SERIES_CELLS {
            return Err(format!(
                "{l} layers x {e} experts x {cap} windows is too large to hold in memory (more than {MAX_SERIES_CELLS} values)"
            ));
        }
        let mut s = Series::new(l, e, cap);
        for (i, &v) in self.first.iter().enumerate() {
            s.data[i * cap] = v;
        }
        self.first = Vec::new();
        self.series = Some(s);
        // Blocks of up to 8 windows, at most 1 Mi values.
        self.block_windows = (1 << 20) / per;
        self.block_windows = self.block_windows.clamp(1, 8);
        self.block = vec![0.0; self.block_windows * per];
        self.base = 1;
        Ok(())
    }
}

/// What the errors of the walk below say a value should be.
const TOP: &str = "an object with a \"load_history\" list";
const HISTORY: &str = "\"load_history\" as a list of windows";

/// `{"load_history": [...], ...}`: whether the key was there.
fn top(r: &mut Reader<'_>, st: &mut State) -> json::Result<bool> {
    let mut found = false;
    r.object(TOP, |r, k| {
        if k == "load_history" && !found {
            found = true;
            history(r, st)
        } else {
            r.skip()
        }
    })?;
    Ok(found)
}

fn history(r: &mut Reader<'_>, st: &mut State) -> json::Result<()> {
    r.array(HISTORY, |r| {
        window(r, st)?;
        if !st.had_load {
            return Err(r.error(format!("window {} has no \"logical_expert_load\"", st.t)));
        }
        if st.series.is_none() {
            st.start().map_err(|m| r.error(m))?;
        } else if st.layer != st.layers {
            return Err(r.error(format!("window {} has {} layers, window 0 has {}", st.t, st.layer, st.layers)));
        }
        st.t += 1;
        st.flush(false);
        Ok(())
    })
}

fn window(r: &mut Reader<'_>, st: &mut State) -> json::Result<()> {
    st.had_load = false;
    let t = st.t;
    r.object(format_args!("window {t} as an object with \"logical_expert_load\""), |r, k| {
        if k == "logical_expert_load" && !st.had_load {
            st.layer = 0;
            load(r, st)?;
            st.had_load = true;
            Ok(())
        } else {
            r.skip()
        }
    })
}

/// `[[loads of layer 0], [layer 1], ...]`.
fn load(r: &mut Reader<'_>, st: &mut State) -> json::Result<()> {
    let t = st.t;
    r.array(format_args!("window {t}: \"logical_expert_load\" as a list of layers, each a list of expert loads"), |r| {
        if st.series.is_some() && st.layer >= st.layers {
            // One layer too many: read it, then report the count.
            r.skip()?;
            return Err(r.error(format!("window {} has more than the {} layers of window 0", st.t, st.layers)));
        }
        let before = if st.series.is_none() { st.first.len() } else { 0 };
        row(r, st)?;
        if st.series.is_none() {
            let n = st.first.len() - before;
            if st.layer == 0 {
                st.experts = n;
            } else if n != st.experts {
                return Err(r.error(format!("window 0, layer {}: {n} experts, layer 0 has {}", st.layer, st.experts)));
            }
            st.layers = st.layer + 1;
        }
        st.layer += 1;
        Ok(())
    })
}

/// One layer's loads, straight into the series.
fn row(r: &mut Reader<'_>, st: &mut State) -> json::Result<()> {
    let mut e = 0usize;
    let (t, layer) = (st.t, st.layer);
    r.array(format_args!("window {t}, layer {layer}: a list of expert loads (numbers)"), |r| {
        let v = r.f64()?;
        st.put(e, v).map_err(|m| r.error(m))?;
        e += 1;
        Ok(())
    })?;
    if st.series.is_some() && e != st.experts {
        return Err(r.error(format!("window {}, layer {}: {e} experts, window 0 has {}", st.t, st.layer, st.experts)));
    }
    Ok(())
}

/// Read one load-history file into a series `[layers][experts][windows]`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<Series> {
    let mut st = State {
        file_len: bytes.len(),
        keys: count(bytes, LOAD_KEY),
        t: 0,
        layers: 0,
        experts: 0,
        first: Vec::new(),
        series: None,
        layer: 0,
        had_load: false,
        block: Vec::new(),
        base: 0,
        block_windows: 1,
    };
    let mut r = Reader::new(bytes);
    let found = top(&mut r, &mut st).and_then(|found| r.finish().map(|_| found));
    let found = found.map_err(|e| Error::file(file, format!("not a vLLM EPLB load history: {e}")))?;
    if !found {
        return Err(Error::file(file, "no \"load_history\" key at the top level"));
    }
    st.flush(true);
    let Some(s) = st.series else {
        return Err(Error::file(file, "\"load_history\" is empty: no window to read"));
    };
    if st.t == s.intervals {
        return Ok(s);
    }
    // Fewer windows than keys counted: compact.
    let mut out = Series::new(s.layers, s.experts, st.t);
    for le in 0..s.layers * s.experts {
        out.data[le * st.t..(le + 1) * st.t].copy_from_slice(&s.data[le * s.intervals..le * s.intervals + st.t]);
    }
    Ok(out)
}

/// Read every load-history JSON in `files` (one phase per file; the phase
/// from the path).
pub fn read(files: &[InputFile]) -> Result<Vec<PhaseData>> {
    let mut out = Vec::new();
    let mut sorted: Vec<&InputFile> = files.iter().filter(|f| is_load_history(f)).collect();
    crate::engine::order::sort_by(&mut sorted, |a, b| a.path.cmp(&b.path));
    for f in sorted {
        let s = parse(&f.path, &f.bytes)?;
        let t_n = s.intervals;
        let phase = phase_of_path(dir_of(&f.path), &["prefill"]);
        let mut pd = PhaseData::from_summed(phase, if t_n > 1 { SourceFormat::TimeSeries } else { SourceFormat::Matrix }, s.summed());
        pd.series = (t_n > 1).then_some(s);
        pd.info = PhaseInfo { ranks: 0, dumps: t_n, intervals_kept: t_n, files: vec![f.path.clone()], ..PhaseInfo::default() };
        super::trtllm_stats::push_phase(&mut out, pd, &format!("{} (vLLM load history)", f.path))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_windows_as_intervals() {
        let j = br#"{"meta": {"x": [1]}, "load_history": [
            {"step": 0, "logical_expert_load": [[1, 2, 3], [4, 5, 6]]},
            {"logical_expert_load": [[7, 8, 9], [10, 11, 12.5]], "other": null}
        ]}"#;
        let s = parse("h.json", j).unwrap();
        assert_eq!((s.layers, s.experts, s.intervals), (2, 3, 2));
        assert_eq!(s.get(0, 0, 0), 1.0);
        assert_eq!(s.get(0, 2, 1), 9.0);
        assert_eq!(s.get(1, 2, 1), 12.5);
        assert_eq!(s.get(1, 0, 0), 4.0);
    }

    #[test]
    fn compacts_when_the_key_appears_in_strings() {
        let j = br#"{"note": "\"logical_expert_load\" \"logical_expert_load\"", "load_history": [{"logical_expert_load": [[1, 2]]}]}"#;
        let s = parse("h.json", j).unwrap();
        assert_eq!((s.layers, s.experts, s.intervals), (1, 2, 1));
        assert_eq!(s.data, vec![1.0, 2.0]);
    }

    /// Windows are written into the series in blocks: every value lands
    /// at its window, with more windows than a block, with a last block
    /// part full, and compacted when fewer windows than keys were read.
    #[test]
    fn many_windows_land_where_they_belong() {
        for (windows, extra_keys) in [(1, 0), (8, 0), (9, 0), (19, 0), (19, 3), (40, 1)] {
            let v = |t: usize, l: usize, e: usize| (t * 100 + l * 10 + e) as f64;
            let mut j = String::from("{\"note\": \"");
            j.push_str(&"\\\"logical_expert_load\\\" ".repeat(extra_keys));
            j.push_str("\", \"load_history\": [");
            for t in 0..windows {
                let rows: Vec<String> = (0..2).map(|l| format!("[{}]", (0..3).map(|e| v(t, l, e).to_string()).collect::<Vec<_>>().join(", "))).collect();
                j.push_str(&format!("{}{{\"logical_expert_load\": [{}]}}", if t > 0 { ", " } else { "" }, rows.join(", ")));
            }
            j.push_str("]}");
            let s = parse("h.json", j.as_bytes()).unwrap();
            assert_eq!((s.layers, s.experts, s.intervals), (2, 3, windows));
            for t in 0..windows {
                for l in 0..2 {
                    for e in 0..3 {
                        assert_eq!(s.get(l, e, t), v(t, l, e), "{windows} windows: t {t} l {l} e {e}");
                    }
                }
            }
        }
    }

    /// A key written with escapes is read (as serde_json read it) but was
    /// not counted: a clear error, not a write past the series.
    #[test]
    fn an_escaped_key_is_an_error_not_a_panic() {
        let j = br#"{"load_history": [{"logical_expert_load": [[1, 2]]}, {"logical_expert_lo\u0061d": [[3, 4]]}]}"#;
        let e = parse("h.json", j).unwrap_err();
        assert!(e.to_string().contains("more windows than"), "{e}");
    }

    #[test]
    fn errors_say_which_window_and_layer() {
        let e = parse("h.json", br#"{"load_history": [{"logical_expert_load": [[1, 2]]}, {"logical_expert_load": [[1]]}]}"#).unwrap_err();
        assert!(e.to_string().contains("window 1, layer 0: 1 experts, window 0 has 2"), "{e}");
        let e = parse("h.json", br#"{"load_history": [{"logical_expert_load": [[1, 2]]}, {"logical_expert_load": [[1, 2], [3, 4]]}]}"#).unwrap_err();
        assert!(e.to_string().contains("more than the 1 layers"), "{e}");
        let e = parse("h.json", br#"{"load_history": [{"logical_expert_load": [[1, -2]]}]}"#).unwrap_err();
        assert!(e.to_string().contains("not a non-negative number"), "{e}");
        let e = parse("h.json", br#"{"load_history": []}"#).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        let e = parse("h.json", br#"{"load_history": [{"x": 1}]}"#).unwrap_err();
        assert!(e.to_string().contains("window 0 has no"), "{e}");
        let e = parse("h.json", br#"{"load_history": [{"logical_expert_load": [[1, 2], [3]]}]}"#).unwrap_err();
        assert!(e.to_string().contains("window 0, layer 1: 1 experts"), "{e}");
    }
}
