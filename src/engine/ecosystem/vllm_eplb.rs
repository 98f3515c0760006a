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
//! The file is read as a stream (no JSON tree is built): the first window
//! gives the shape, then the per-interval array is allocated once, sized by
//! the number of `"logical_expert_load"` keys in the text and never more
//! values than the file has bytes, and every later window is written in
//! place. The phase is decode unless the path names `prefill`.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{dir_of, phase_of_path};
use crate::engine::error::{Error, Result};
use crate::engine::ingest::series::MAX_SERIES_CELLS;
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
                let i = (self.layer * s.experts + e) * s.intervals + self.t;
                s.data[i] = v;
            }
        }
        Ok(())
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
        Ok(())
    }
}

struct Top<'s>(&'s mut State);
struct History<'s>(&'s mut State);
struct Window<'s>(&'s mut State);
struct Load<'s>(&'s mut State);
struct Row<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}
impl<'de> Visitor<'de> for Top<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a \"load_history\" list")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<bool, A::Error> {
        let mut found = false;
        while let Some(k) = m.next_key::<String>()? {
            if k == "load_history" && !found {
                m.next_value_seed(History(&mut *self.0))?;
                found = true;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

impl<'de> DeserializeSeed<'de> for History<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}
impl<'de> Visitor<'de> for History<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"load_history\" as a list of windows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<(), A::Error> {
        while s.next_element_seed(Window(&mut *self.0))?.is_some() {
            let st = &mut *self.0;
            if !st.had_load {
                return Err(de::Error::custom(format!("window {} has no \"logical_expert_load\"", st.t)));
            }
            if st.series.is_none() {
                st.start().map_err(de::Error::custom)?;
            } else if st.layer != st.layers {
                return Err(de::Error::custom(format!("window {} has {} layers, window 0 has {}", st.t, st.layer, st.layers)));
            }
            st.t += 1;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Window<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_map(self)
    }
}
impl<'de> Visitor<'de> for Window<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "window {} as an object with \"logical_expert_load\"", self.0.t)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<(), A::Error> {
        self.0.had_load = false;
        while let Some(k) = m.next_key::<String>()? {
            if k == "logical_expert_load" && !self.0.had_load {
                self.0.layer = 0;
                m.next_value_seed(Load(&mut *self.0))?;
                self.0.had_load = true;
            } else {
                m.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Load<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}
impl<'de> Visitor<'de> for Load<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "window {}: \"logical_expert_load\" as a list of layers, each a list of expert loads", self.0.t)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<(), A::Error> {
        loop {
            let st = &mut *self.0;
            if st.series.is_some() && st.layer >= st.layers {
                // One layer too many: read it to report the count.
                if s.next_element::<IgnoredAny>()?.is_some() {
                    return Err(de::Error::custom(format!("window {} has more than the {} layers of window 0", st.t, st.layers)));
                }
                return Ok(());
            }
            let before = if st.series.is_none() { st.first.len() } else { 0 };
            if s.next_element_seed(Row(&mut *self.0))?.is_none() {
                break;
            }
            let st = &mut *self.0;
            if st.series.is_none() {
                let n = st.first.len() - before;
                if st.layer == 0 {
                    st.experts = n;
                } else if n != st.experts {
                    return Err(de::Error::custom(format!("window 0, layer {}: {n} experts, layer 0 has {}", st.layer, st.experts)));
                }
                st.layers = st.layer + 1;
            }
            st.layer += 1;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Row<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}
impl<'de> Visitor<'de> for Row<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "window {}, layer {}: a list of expert loads (numbers)", self.0.t, self.0.layer)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> std::result::Result<(), A::Error> {
        let mut e = 0usize;
        while let Some(v) = s.next_element::<f64>()? {
            self.0.put(e, v).map_err(de::Error::custom)?;
            e += 1;
        }
        let st = &*self.0;
        if st.series.is_some() && e != st.experts {
            return Err(de::Error::custom(format!("window {}, layer {}: {e} experts, window 0 has {}", st.t, st.layer, st.experts)));
        }
        Ok(())
    }
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
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let found = Top(&mut st).deserialize(&mut de).map_err(|e| Error::file(file, format!("not a vLLM EPLB load history: {e}")))?;
    de.end().map_err(|e| Error::file(file, format!("not a vLLM EPLB load history: {e}")))?;
    if !found {
        return Err(Error::file(file, "no \"load_history\" key at the top level"));
    }
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
