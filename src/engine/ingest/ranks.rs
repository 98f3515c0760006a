//! Rank files: recognising `decode_<rank>.csv` / `prefill_<rank>.csv` (and
//! their `_topk_` and `_bak` variants), grouping them by rank over node
//! folders, and loading one rank (backup fallback, node folders summed).

use std::borrow::Cow;
use crate::engine::sorted_map::SortedMap;

use super::csv_text::{parse_counts, IntMatrix};
use crate::engine::error::{Error, Result};
use crate::engine::model::{Phase, PhaseInfo};

/// Files read one at a time, when ingest needs them (the browser's ingest
/// worker reads each dropped `File` on demand, so the raw text of a file is
/// dropped once it is parsed instead of every file being held at once).
pub trait FileSource {
    /// How many files.
    fn count(&self) -> usize;
    /// The path of file `i` (relative, as dropped).
    fn path(&self, i: usize) -> String;
    /// The bytes of file `i`; `Err` says why it could not be read.
    fn read(&self, i: usize) -> std::result::Result<Vec<u8>, String>;
}

/// Where a [`FileRef`]'s bytes come from.
#[derive(Clone, Copy)]
pub enum Bytes<'a> {
    /// Already in memory.
    Here(&'a [u8]),
    /// File `i` of a [`FileSource`], read when needed.
    Source(&'a dyn FileSource, usize),
}

/// A file as ingest sees it: its display path (relative, forward slashes,
/// prefixed by the root label when several roots are read) and its bytes.
#[derive(Clone)]
pub struct FileRef<'a> {
    pub path: String,
    pub src: Bytes<'a>,
}

impl std::fmt::Debug for FileRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRef").field("path", &self.path).finish()
    }
}

impl<'a> FileRef<'a> {
    pub fn new(path: String, bytes: &'a [u8]) -> Self {
        FileRef { path, src: Bytes::Here(bytes) }
    }
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
    /// The file's bytes (read now from a [`FileSource`]; borrowed otherwise).
    pub fn bytes(&self) -> Result<Cow<'a, [u8]>> {
        match self.src {
            Bytes::Here(b) => Ok(Cow::Borrowed(b)),
            Bytes::Source(s, i) => s.read(i).map(Cow::Owned).map_err(|why| Error::file(self.path.clone(), format!("the file could not be read: {why}"))),
        }
    }
}

/// Read and parse a rank file (the bytes are dropped once parsed).
fn parse_rank_file(f: &FileRef<'_>) -> Result<IntMatrix> {
    let bytes = f.bytes()?;
    parse_counts(&f.path, &bytes)
}

/// What a file name says about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// `<phase>_[topk_]<rank>[_bak].csv`
    Rank { phase: Phase, rank: u64, topk: bool, bak: bool },
    /// `model_gen_config.json`
    Config,
    /// any other `.json`
    Json,
    /// any other `.csv` / `.tsv`
    Csv,
    /// anything else
    Other,
}

fn strip_suffix_ci<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    if s.len() >= suffix.len() && s.is_char_boundary(s.len() - suffix.len()) && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix) {
        Some(&s[..s.len() - suffix.len()])
    } else {
        None
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    if s.len() >= prefix.len() && s.is_char_boundary(prefix.len()) && s[..prefix.len()].eq_ignore_ascii_case(prefix) {
        Some(&s[prefix.len()..])
    } else {
        None
    }
}

/// Classify a file by its name (the last path component).
pub fn classify(name: &str) -> FileKind {
    if name.eq_ignore_ascii_case("model_gen_config.json") {
        return FileKind::Config;
    }
    if let Some(stem) = strip_suffix_ci(name, ".csv") {
        let (stem, bak) = match strip_suffix_ci(stem, "_bak") {
            Some(s) => (s, true),
            None => (stem, false),
        };
        for phase in Phase::ALL {
            if let Some(rest) = strip_prefix_ci(stem, phase.name()).and_then(|r| r.strip_prefix('_')) {
                let (rest, topk) = match strip_prefix_ci(rest, "topk_") {
                    Some(r) => (r, true),
                    None => (rest, false),
                };
                if !rest.is_empty() && rest.len() <= 9 && rest.bytes().all(|b| b.is_ascii_digit()) {
                    if let Ok(rank) = rest.parse::<u64>() {
                        return FileKind::Rank { phase, rank, topk, bak };
                    }
                }
            }
        }
        return FileKind::Csv;
    }
    if strip_suffix_ci(name, ".json").is_some() {
        return FileKind::Json;
    }
    if strip_suffix_ci(name, ".tsv").is_some() {
        return FileKind::Csv;
    }
    FileKind::Other
}

/// One rank's file in one folder, with its backup.
#[derive(Debug, Clone, Default)]
pub struct RankEntry<'a> {
    pub dir: String,
    pub main: Option<&'a FileRef<'a>>,
    pub bak: Option<&'a FileRef<'a>>,
}

/// Every rank file of one phase, grouped by rank (in rank order), each rank
/// with one entry per folder holding it.
#[derive(Debug, Clone)]
pub struct PhaseFiles<'a> {
    pub phase: Phase,
    pub ranks: SortedMap<u64, Vec<RankEntry<'a>>>,
    pub topk: SortedMap<u64, Vec<RankEntry<'a>>>,
}

fn dir_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(p) => &path[..p],
        None => "",
    }
}

impl<'a> PhaseFiles<'a> {
    /// Group the rank files of `phase` among `files`. Two files of one folder
    /// naming the same rank (`decode_1.csv` and `decode_01.csv`) are an error.
    pub fn collect(phase: Phase, files: &[&'a FileRef<'a>]) -> Result<PhaseFiles<'a>> {
        let mut ranks: SortedMap<u64, Vec<RankEntry<'a>>> = SortedMap::new();
        let mut topk: SortedMap<u64, Vec<RankEntry<'a>>> = SortedMap::new();
        for &f in files {
            if let FileKind::Rank { phase: p, rank, topk: is_topk, bak } = classify(f.file_name()) {
                if p != phase {
                    continue;
                }
                let map = if is_topk { &mut topk } else { &mut ranks };
                let dir = dir_of(&f.path);
                let list = map.or_default(rank);
                let idx = match list.iter().position(|e| e.dir == dir) {
                    Some(i) => i,
                    None => {
                        list.push(RankEntry { dir: dir.to_string(), main: None, bak: None });
                        list.len() - 1
                    }
                };
                let slot = if bak { &mut list[idx].bak } else { &mut list[idx].main };
                if let Some(prev) = slot {
                    return Err(Error::file(
                        f.path.clone(),
                        format!(
                            "two files name {} rank {rank}: '{}' and '{}'; keep only one file per rank",
                            phase.name(),
                            prev.path,
                            f.path
                        ),
                    ));
                }
                *slot = Some(f);
            }
        }
        for list in ranks.values_mut().chain(topk.values_mut()) {
            crate::engine::order::sort_by(list, |a, b| a.dir.cmp(&b.dir));
        }
        Ok(PhaseFiles { phase, ranks, topk })
    }

    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }

    /// Ranks must be numbered 0..n-1 without gaps.
    pub fn check_gaps(&self) -> Result<()> {
        let n = self.ranks.len() as u64;
        let max = match self.ranks.keys().next_back() {
            Some(&m) => m,
            None => return Err(Error::msg(format!("no {}_<rank>.csv files found", self.phase.name()))),
        };
        if max + 1 == n {
            return Ok(());
        }
        // walk the sorted ranks and list the gaps (without visiting every missing number)
        let mut missing = Vec::new();
        let mut count = 0u64;
        let mut expect = 0u64;
        for &r in self.ranks.keys() {
            if r > expect {
                count += r - expect;
                let mut m = expect;
                while m < r && missing.len() < 12 {
                    missing.push(m.to_string());
                    m += 1;
                }
            }
            expect = r + 1;
        }
        let more = if count > missing.len() as u64 { format!(" and {} more", count - missing.len() as u64) } else { String::new() };
        Err(Error::msg(format!(
            "missing {} rank file(s): rank {}{more} (found ranks 0..{max} except these); ranks must be numbered 0, 1, 2, ... without gaps",
            self.phase.name(),
            missing.join(", ")
        )))
    }
}

/// A loaded rank: the matrix and the path named in messages.
pub struct LoadedRank {
    pub m: IntMatrix,
    pub path: String,
}

/// Read one folder's file of a rank, falling back to `<name>_bak.csv` when
/// the main file is missing or cannot be parsed.
pub fn load_entry(e: &RankEntry<'_>, info: &mut PhaseInfo, warnings: &mut Vec<String>) -> Result<LoadedRank> {
    match (e.main, e.bak) {
        (Some(m), bak) => match parse_rank_file(m) {
            Ok(x) => {
                info.files.push(m.path.clone());
                Ok(LoadedRank { m: x, path: m.path.clone() })
            }
            Err(err) => match bak {
                Some(b) => match parse_rank_file(b) {
                    Ok(x) => {
                        warnings.push(format!("{} could not be read ({err}); its backup {} was used instead", m.path, b.path));
                        info.files.push(b.path.clone());
                        info.backups_used.push(b.path.clone());
                        Ok(LoadedRank { m: x, path: b.path.clone() })
                    }
                    Err(_) => Err(err),
                },
                None => Err(err),
            },
        },
        (None, Some(b)) => {
            let x = parse_rank_file(b)?;
            warnings.push(format!("{} has no main file; its backup {} was used", b.path.replace("_bak.csv", ".csv"), b.path));
            info.files.push(b.path.clone());
            info.backups_used.push(b.path.clone());
            Ok(LoadedRank { m: x, path: b.path.clone() })
        }
        (None, None) => Err(Error::internal("empty rank entry")),
    }
}

/// Load a rank: its files in every node folder, summed element-wise after
/// cutting to the shortest (formats.md §2).
pub fn load_rank(rank: u64, entries: &[RankEntry<'_>], info: &mut PhaseInfo, warnings: &mut Vec<String>) -> Result<LoadedRank> {
    let mut acc: Option<LoadedRank> = None;
    for e in entries {
        let x = load_entry(e, info, warnings)?;
        acc = Some(match acc {
            None => x,
            Some(mut a) => {
                if a.m.cols != x.m.cols {
                    return Err(Error::file(
                        x.path.clone(),
                        format!(
                            "rank {rank} has {} columns here but {} columns in {}: files of the same rank in several node folders are summed and must have the same columns",
                            x.m.cols, a.m.cols, a.path
                        ),
                    ));
                }
                if a.m.rows != x.m.rows {
                    warnings.push(format!(
                        "rank {rank}: {} has {} rows and {} has {}; cut to the shortest before summing",
                        a.path, a.m.rows, x.path, x.m.rows
                    ));
                }
                let rows = a.m.rows.min(x.m.rows);
                a.m.truncate_rows(rows);
                for (d, s) in a.m.data.iter_mut().zip(x.m.data.iter()) {
                    *d = d.saturating_add(*s);
                }
                a
            }
        });
    }
    acc.ok_or_else(|| Error::msg(format!("rank {rank} has no file")))
}
