//! Ingest: every input format, all read from a list of (relative path, bytes)
//! so the same code serves a dropped folder and the CLI's directory walk.
//!
//! Recognised (docs/formats.md):
//! - format 1, a summed folder of `decode_<rank>.csv` / `prefill_<rank>.csv`;
//! - format 2, a time-series dump marked by `model_gen_config.json` in the
//!   folder or in each node subfolder;
//! - a dump root holding `prefill/` and `decode/` subfolders of either format;
//! - a deployment table JSON (alone or with data): [`Dataset::dropped_table`];
//! - a plain load matrix, CSV `[layers x experts]` or JSON `[[...]]`;
//! - other serving stacks' load files ([`ecosystem::detect_and_read`]):
//!   TensorRT-LLM expert statistics, OmniPlacement activation counts, a vLLM
//!   EPLB load history (docs/inputs-servers.md), SGLang recorder `.pt` files.
//!
//! One file per concern: [`csv_text`] (decoding and the fast integer
//! scanner), [`config`], [`ranks`] (rank files, backups, node folders),
//! [`summed`], [`series`], [`topk`], [`matrix`], [`synth`] (a synthetic
//! dump for the parse benchmark) and, natively, `folders` (the CLI's files
//! and folders on disk).

pub mod config;
pub mod csv_text;
#[cfg(not(target_arch = "wasm32"))]
pub mod folders;
pub mod matrix;
pub mod ranks;
pub mod series;
pub mod summed;
pub mod synth;
pub mod topk;

use crate::engine::sorted_map::{SortedMap, SortedSet};

use self::config::{base_name, parse_json, read_config, GenConfig};
use self::ranks::{classify, Bytes, FileKind, FileRef, PhaseFiles};
pub use self::ranks::FileSource;
use self::series::CurrentMap;
pub use self::series::PreparedSeries;
use super::ecosystem;
use super::error::{Error, Result};
use super::model::{Dataset, InputFile, Phase, PhaseData, SourceFormat};
use super::table::{parse_table, DeploymentTable};

/// Recognise and read a dropped folder (the browser's file list, paths
/// relative to the dropped folder or starting with its name).
pub fn read_files(files: &[InputFile]) -> Result<Dataset> {
    if let Some(rec) = ecosystem::detect_and_read(files) {
        return Ok(ecosystem_dataset(files, rec?));
    }
    let roots = vec![(String::new(), files.iter().map(Input::of).collect::<Vec<_>>())];
    read_impl(&roots, false).map(|d| d.dataset)
}

/// What [`read_source`] read: the dataset, where the per-interval loads
/// ([`crate::engine::Series::data`]) and summed loads of each time-series
/// phase listed in `series` are not written yet. [`Deferred::finish`] writes
/// them (giving exactly [`read_files`]'s dataset); the browser's ingest
/// worker writes them a few layers at a time with [`PreparedSeries::fill`].
#[derive(Debug)]
pub struct Deferred {
    pub dataset: Dataset,
    /// `(index in dataset.phases, what writes its series)`.
    pub series: Vec<(usize, PreparedSeries)>,
}

impl Deferred {
    /// The complete dataset.
    pub fn finish(self) -> Dataset {
        let mut ds = self.dataset;
        for (i, prep) in self.series {
            if let Some(pd) = ds.phases.get_mut(i) {
                prep.finish(pd);
            }
        }
        ds
    }
}

/// Like [`read_files`], reading each file from `src` only when it is needed
/// and dropping its bytes once parsed (rank files are parsed one at a time;
/// dangling shared-expert ranks and unrelated files are never read), so the
/// raw text of the dump is never held all at once. `read_source(src).finish()`
/// equals `read_files` of the same files.
pub fn read_source(src: &dyn FileSource) -> Result<Deferred> {
    let n = src.count();
    let paths: Vec<String> = (0..n).map(|i| src.path(i)).collect();
    // Other serving stacks' formats are recognised from their contents:
    // read everything, as read_files does.
    let mut foreign = paths.iter().any(|p| {
        let name = p.rsplit('/').next().unwrap_or(p);
        ecosystem::trtllm_stats::rank_file(name).is_some()
            || ecosystem::omniplacement::parse_name(name).is_some()
            || name == "meta_info.json"
            || ecosystem::sglang_recorder::is_pt(name)
    });
    // A vLLM load history is known by its contents: look into the JSON files
    // (their bytes are kept, so no file is read twice).
    let mut read_already: SortedMap<usize, Vec<u8>> = SortedMap::new();
    if !foreign {
        for (i, p) in paths.iter().enumerate() {
            let name = p.rsplit('/').next().unwrap_or(p);
            if name.to_ascii_lowercase().ends_with(".json") && name != "model_gen_config.json" {
                let f = InputFile::new(p.clone(), src.read(i).map_err(|why| Error::file(p.clone(), format!("the file could not be read: {why}")))?);
                foreign |= ecosystem::vllm_eplb::is_load_history(&f);
                read_already.insert(i, f.bytes);
                if foreign {
                    break;
                }
            }
        }
    }
    if foreign {
        let mut files = Vec::with_capacity(n);
        for (i, p) in paths.into_iter().enumerate() {
            let bytes = match read_already.remove(&i) {
                Some(b) => b,
                None => src.read(i).map_err(|why| Error::file(p.clone(), format!("the file could not be read: {why}")))?,
            };
            files.push(InputFile::new(p, bytes));
        }
        return read_files(&files).map(|dataset| Deferred { dataset, series: Vec::new() });
    }
    let inputs: Vec<Input<'_>> = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| match read_already.get(&i) {
            Some(b) => Input { path, src: Bytes::Here(b) },
            None => Input { path, src: Bytes::Source(src, i) },
        })
        .collect();
    read_impl(&[(String::new(), inputs)], true)
}

/// One input file before path normalisation.
struct Input<'a> {
    path: String,
    src: Bytes<'a>,
}

impl<'a> Input<'a> {
    fn of(f: &'a InputFile) -> Self {
        Input { path: f.path.clone(), src: Bytes::Here(&f.bytes) }
    }
}

/// Read several folders at once (the CLI's comma-separated inputs). Each
/// root is read like a node subfolder: rank files of the same phase are
/// pooled over the roots by rank number, and the same rank in several roots
/// is summed. `root_label` prefixes the paths in messages.
pub fn read_roots(roots: &[(String, Vec<InputFile>)]) -> Result<Dataset> {
    if roots.iter().any(|(_, f)| ecosystem::any_present(f)) {
        let flat: Vec<InputFile> = roots
            .iter()
            .flat_map(|(l, f)| f.iter().map(move |x| InputFile::new(if l.is_empty() { x.path.clone() } else { format!("{l}/{}", x.path) }, x.bytes.clone())))
            .collect();
        return read_files(&flat);
    }
    let refs: Vec<(String, Vec<Input<'_>>)> = roots.iter().map(|(l, f)| (l.clone(), f.iter().map(Input::of).collect())).collect();
    read_impl(&refs, false).map(|d| d.dataset)
}

/// The dataset of a folder in another serving stack's statistics format
/// (TensorRT-LLM expert statistics, OmniPlacement activation counts, a vLLM
/// EPLB load history, SGLang recorder files; see [`ecosystem::detect_and_read`]).
/// Files no phase was read from are listed as ignored.
fn ecosystem_dataset(files: &[InputFile], rec: ecosystem::Recognised) -> Dataset {
    let phases = rec.phases;
    let read: SortedSet<&str> = phases.iter().flat_map(|p| p.info.files.iter().map(String::as_str)).collect();
    let ignored: Vec<String> = files.iter().filter(|f| !read.contains(f.path.as_str())).map(|f| f.path.clone()).collect();
    let intervals = phases.iter().map(PhaseData::intervals).max().unwrap_or(0);
    let format_label = format!("{} ({intervals} interval{})", rec.what, if intervals == 1 { "" } else { "s" });
    Dataset { phases, dropped_table: None, dropped_table_problems: Vec::new(), missing_map: None, ignored, warnings: rec.warnings, format_label }
}

/// Normalise a path: forward slashes, no leading `./` or `/`, no empty or `.` parts.
fn normalise(path: &str) -> Vec<String> {
    path.replace('\\', "/").split('/').filter(|c| !c.is_empty() && *c != ".").map(|c| c.to_string()).collect()
}

/// Strip the directory components every file shares (the dropped folder's name).
fn strip_common_prefix(paths: &mut [Vec<String>]) {
    loop {
        let first = match paths.first() {
            Some(p) if p.len() >= 2 => p[0].clone(),
            _ => return,
        };
        if paths.iter().all(|p| p.len() >= 2 && p[0] == first) {
            for p in paths.iter_mut() {
                p.remove(0);
            }
        } else {
            return;
        }
    }
}

fn parent(dir: &str) -> Option<&str> {
    if dir.is_empty() {
        None
    } else {
        Some(match dir.rfind('/') {
            Some(p) => &dir[..p],
            None => "",
        })
    }
}

fn last_component(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

fn is_phase_dir(dir: &str) -> bool {
    let n = last_component(dir);
    n.eq_ignore_ascii_case("prefill") || n.eq_ignore_ascii_case("decode")
}

/// One file after path normalisation.
struct Entry<'a> {
    root: usize,
    /// Path inside its root, common prefix stripped.
    rel: String,
    /// Directory part of `rel` ("" for the root).
    rel_dir: String,
    kind: FileKind,
    hidden: bool,
    file: FileRef<'a>,
}

/// The rank files of one phase from one unit (a folder, or a folder of node folders).
struct PhaseSource {
    phase: Phase,
    root: usize,
    unit: String,
    config: Option<usize>,
    files: Vec<usize>,
    node_dirs: SortedSet<String>,
}

fn display_unit(label: &str, unit: &str) -> String {
    match (label.is_empty(), unit.is_empty()) {
        (true, true) => "the dropped folder".to_string(),
        (true, false) => format!("'{unit}/'"),
        (false, true) => format!("'{label}/'"),
        (false, false) => format!("'{label}/{unit}/'"),
    }
}

/// What the reading of a drop has found so far: every file (paths
/// normalised, roots' common prefixes stripped, sorted), which are used, and
/// the remarks and ignored files to report. [`read_impl`] runs its steps in
/// order, each a method.
struct Scan<'a> {
    /// Unique, normalised root labels (prefixes of the paths shown).
    labels: Vec<String>,
    entries: Vec<Entry<'a>>,
    used: Vec<bool>,
    warnings: Vec<String>,
    ignored: Vec<String>,
}

/// The phases read from rank files (and matrices), their series to write
/// later (deferred reads), and each phase's format label.
struct ReadPhases {
    phases: Vec<PhaseData>,
    deferred: Vec<(usize, PreparedSeries)>,
    labels: Vec<String>,
}

/// Current placements named by `eplb_expert_map_file`: file name -> (entry, table).
type CurrentMaps = SortedMap<String, (usize, DeploymentTable)>;

impl<'a> Scan<'a> {
    /// Step 1: normalise paths and strip each root's common prefix.
    fn new(roots: &'a [(String, Vec<Input<'a>>)]) -> Scan<'a> {
        // Labels: unique, normalised.
        let mut labels: Vec<String> = Vec::new();
        for (i, (l, _)) in roots.iter().enumerate() {
            let mut l = normalise(l).join("/");
            if roots.len() > 1 && (l.is_empty() || labels.contains(&l)) {
                l = if l.is_empty() { format!("input{}", i + 1) } else { format!("{l}#{}", i + 1) };
            }
            labels.push(l);
        }
        let mut entries: Vec<Entry<'_>> = Vec::new();
        for (ri, (_, files)) in roots.iter().enumerate() {
            let mut paths: Vec<Vec<String>> = files.iter().map(|f| normalise(&f.path)).collect();
            strip_common_prefix(&mut paths);
            for (f, p) in files.iter().zip(paths) {
                let rel = p.join("/");
                let rel_dir = if p.len() > 1 { p[..p.len() - 1].join("/") } else { String::new() };
                let name = p.last().cloned().unwrap_or_default();
                let hidden = p.iter().any(|c| c.starts_with('.')) || name.is_empty();
                let path = if labels[ri].is_empty() { rel.clone() } else { format!("{}/{rel}", labels[ri]) };
                entries.push(Entry { root: ri, kind: classify(&name), hidden, rel, rel_dir, file: FileRef { path, src: f.src } });
            }
        }
        // Deterministic order: by root, then path.
        crate::engine::order::sort_by(&mut entries, |a, b| (a.root, &a.rel).cmp(&(b.root, &b.rel)));

        let used = vec![false; entries.len()];
        Scan { labels, entries, used, warnings: Vec::new(), ignored: Vec::new() }
    }

    /// Step 2: the units (folders) where each phase's rank files live, with
    /// their config; a phase found in two units is an error.
    fn rank_sources(&mut self, n_roots: usize) -> Result<Vec<PhaseSource>> {
        let mut sources: Vec<PhaseSource> = Vec::new();
        for ri in 0..n_roots {
            let mut configs: SortedMap<String, usize> = SortedMap::new();
            let mut units: SortedMap<String, Vec<usize>> = SortedMap::new();
            for (i, e) in self.entries.iter().enumerate() {
                if e.root != ri || e.hidden {
                    continue;
                }
                match e.kind {
                    FileKind::Config => {
                        configs.get_or_insert_with(e.rel_dir.clone(), || i);
                    }
                    FileKind::Rank { .. } => {
                        let unit = if e.rel_dir.is_empty() || is_phase_dir(&e.rel_dir) {
                            e.rel_dir.clone()
                        } else {
                            parent(&e.rel_dir).unwrap_or("").to_string()
                        };
                        units.or_default(unit).push(i);
                    }
                    _ => {}
                }
            }
            let mut seen: SortedMap<Phase, String> = SortedMap::new();
            for (unit, idxs) in &units {
                // the unit's config: in the unit, else in one of its immediate
                // subfolders (the first found), else in an enclosing folder.
                let mut cfg = configs.get(unit).copied();
                if cfg.is_none() {
                    // only node folders that hold rank files count
                    let holds_ranks = |d: &str| idxs.iter().any(|&i| self.entries[i].rel_dir == d);
                    cfg = configs
                        .iter()
                        .find(|(d, _)| !d.is_empty() && parent(d) == Some(unit.as_str()) && holds_ranks(d))
                        .map(|(_, &i)| i);
                }
                if cfg.is_none() {
                    let mut d = parent(unit);
                    while let Some(p) = d {
                        if let Some(&i) = configs.get(p) {
                            cfg = Some(i);
                            break;
                        }
                        d = parent(p);
                    }
                }
                for phase in Phase::ALL {
                    let files: Vec<usize> = idxs
                        .iter()
                        .copied()
                        .filter(|&i| matches!(self.entries[i].kind, FileKind::Rank { phase: p, .. } if p == phase))
                        .collect();
                    if files.is_empty() {
                        continue;
                    }
                    let has_main = files.iter().any(|&i| matches!(self.entries[i].kind, FileKind::Rank { topk: false, .. }));
                    if !has_main {
                        for &i in &files {
                            self.ignored.push(self.entries[i].file.path.clone());
                            self.used[i] = true;
                        }
                        self.warnings.push(format!(
                            "{}: {} top-k trace files found but no {}_<rank>.csv hotspot files; ignored",
                            display_unit(&self.labels[ri], unit),
                            phase.name(),
                            phase.name()
                        ));
                        continue;
                    }
                    let shown = display_unit(&self.labels[ri], unit);
                    if let Some(prev) = seen.get(&phase) {
                        return Err(Error::msg(format!(
                            "{} rank files were found in two folders, {prev} and {shown}: drop one dump at a time (or one dump root holding prefill/ and decode/)",
                            phase.name()
                        )));
                    }
                    seen.insert(phase, shown);
                    let node_dirs: SortedSet<String> = files.iter().map(|&i| self.entries[i].rel_dir.clone()).collect();
                    for &i in &files {
                        self.used[i] = true;
                    }
                    if let Some(c) = cfg {
                        self.used[c] = true;
                    }
                    sources.push(PhaseSource { phase, root: ri, unit: unit.clone(), config: cfg, files, node_dirs });
                }
            }
        }

        Ok(sources)
    }

    /// Step 3: parse the configs the sources use (once each).
    fn parse_configs(&self, sources: &[PhaseSource]) -> Result<SortedMap<usize, GenConfig>> {
        let mut configs: SortedMap<usize, GenConfig> = SortedMap::new();
        for s in sources {
            if let Some(c) = s.config {
                if !configs.contains_key(&c) {
                    let e = &self.entries[c];
                    configs.insert(c, read_config(&e.file.path, &e.file.bytes()?)?);
                }
            }
        }

        Ok(configs)
    }

    /// Step 4: the current placements named by `eplb_expert_map_file`,
    /// resolved by file name among the dropped files; the first name not
    /// found.
    fn current_maps(&mut self, configs: &SortedMap<usize, GenConfig>) -> Result<(CurrentMaps, Option<String>)> {
        let mut map_names: Vec<String> = Vec::new();
        for c in configs.values() {
            if let Some(m) = &c.map_file {
                let b = base_name(m).to_string();
                if !b.is_empty() && !map_names.contains(&b) {
                    map_names.push(b);
                }
            }
        }
        let mut maps: CurrentMaps = SortedMap::new();
        let mut missing_map: Option<String> = None;
        for name in &map_names {
            let mut cands: Vec<usize> =
                (0..self.entries.len()).filter(|&i| !self.entries[i].hidden && self.entries[i].file.file_name() == name.as_str()).collect();
            if cands.is_empty() {
                cands = (0..self.entries.len())
                    .filter(|&i| !self.entries[i].hidden && self.entries[i].file.file_name().eq_ignore_ascii_case(name))
                    .collect();
            }
            match cands.first() {
                Some(&i) => {
                    if cands.len() > 1 {
                        self.warnings.push(format!(
                            "several files are named {name}; the current placement was read from {}",
                            self.entries[i].file.path
                        ));
                    }
                    let t = parse_table(&self.entries[i].file.path, &self.entries[i].file.bytes()?)?;
                    self.used[i] = true;
                    maps.insert(name.clone(), (i, t));
                }
                None => {
                    self.warnings.push(format!(
                        "model_gen_config.json names the current placement '{name}' (eplb_expert_map_file) but no dropped file has that name: add it to see the real 'before'; slots were read as logical experts 0, 1, 2, ... meanwhile"
                    ));
                    if missing_map.is_none() {
                        missing_map = Some(name.clone());
                    }
                }
            }
        }

        Ok((maps, missing_map))
    }

    /// Step 5: the other JSON and CSV files: deployment tables, and load
    /// matrices when there is no rank data.
    #[allow(clippy::type_complexity)]
    fn tables_and_matrices(&mut self, has_rank_data: bool) -> Result<(Vec<(usize, DeploymentTable)>, Vec<(usize, Option<crate::engine::json::Value>)>)> {
        let mut tables: Vec<(usize, DeploymentTable)> = Vec::new();
        let mut matrix_cands: Vec<(usize, Option<crate::engine::json::Value>)> = Vec::new();
        for i in 0..self.entries.len() {
            if self.used[i] {
                continue;
            }
            let e = &self.entries[i];
            if e.hidden {
                self.ignored.push(e.file.path.clone());
                continue;
            }
            match e.kind {
                FileKind::Json => {
                    let name_lc = e.file.file_name().to_ascii_lowercase();
                    let important = name_lc.contains("deployment") || name_lc.contains("expert_map");
                    let read = e.file.bytes().and_then(|b| parse_json(&e.file.path, &b, "not valid JSON").map(|v| (v, b)));
                    match read {
                        Err(err) => {
                            if important || !has_rank_data {
                                return Err(err);
                            }
                            self.warnings.push(format!("{err}; the file was ignored"));
                            self.ignored.push(e.file.path.clone());
                        }
                        Ok((v, bytes)) => {
                            if name_lc.contains("deployment") || v.get("layer_list").is_some() {
                                tables.push((i, parse_table(&e.file.path, &bytes)?));
                            } else if !has_rank_data && matrix::looks_like_matrix(&v) {
                                matrix_cands.push((i, Some(v)));
                            } else {
                                self.ignored.push(e.file.path.clone());
                            }
                        }
                    }
                }
                FileKind::Csv if !has_rank_data => matrix_cands.push((i, None)),
                FileKind::Config => {
                    if !has_rank_data {
                        self.warnings.push(format!(
                            "{} was found but no decode_<rank>.csv / prefill_<rank>.csv files beside it or in its node subfolders",
                            e.file.path
                        ));
                    }
                    self.ignored.push(e.file.path.clone());
                }
                _ => self.ignored.push(e.file.path.clone()),
            }
        }

        Ok((tables, matrix_cands))
    }

    /// Step 6: read each phase's rank files (summed, or a time series with
    /// its config and current map).
    fn read_phases(&mut self, sources: &[PhaseSource], configs: &SortedMap<usize, GenConfig>, maps: &CurrentMaps, defer: bool) -> Result<ReadPhases> {
        let mut phases: Vec<PhaseData> = Vec::new();
        let mut deferred: Vec<(usize, PreparedSeries)> = Vec::new();
        let mut labels_by_phase: Vec<String> = Vec::new();
        for phase in Phase::ALL {
            let srcs: Vec<&PhaseSource> = sources.iter().filter(|s| s.phase == phase).collect();
            if srcs.is_empty() {
                continue;
            }
            let with_cfg = srcs.iter().filter(|s| s.config.is_some()).count();
            if with_cfg != 0 && with_cfg != srcs.len() {
                let a = srcs.iter().find(|s| s.config.is_some()).map(|s| display_unit(&self.labels[s.root], &s.unit)).unwrap_or_default();
                let b = srcs.iter().find(|s| s.config.is_none()).map(|s| display_unit(&self.labels[s.root], &s.unit)).unwrap_or_default();
                return Err(Error::msg(format!(
                    "{}: {a} is a time-series dump (it has model_gen_config.json) but {b} is a summed folder (no model_gen_config.json); they cannot be combined",
                    phase.name()
                )));
            }
            let files: Vec<&FileRef<'_>> = srcs.iter().flat_map(|s| s.files.iter().map(|&i| &self.entries[i].file)).collect();
            let pf = PhaseFiles::collect(phase, &files)?;
            let n_nodes: usize = srcs.iter().map(|s| s.node_dirs.len()).sum();
            let pd = match srcs[0].config {
                None => {
                    let pd = summed::read_summed(&pf, &mut self.warnings)?;
                    if !pf.topk.is_empty() {
                        self.warnings.push(format!(
                            "{}: top-k trace files are only used with a time-series dump (model_gen_config.json); they were not read",
                            phase.name()
                        ));
                    }
                    labels_by_phase.push("summed (format 1)".to_string());
                    pd
                }
                Some(ci) => {
                    let cfg = match configs.get(&ci) {
                        Some(c) => c,
                        None => return Err(Error::internal("configuration not read")),
                    };
                    let map = cfg.map_file.as_ref().and_then(|m| maps.get(base_name(m))).map(|(i, t)| CurrentMap { path: self.entries[*i].file.path.clone(), table: t });
                    let (mut pd, prep) = series::prepare_series(&pf, cfg, &self.entries[ci].file.path, map.as_ref(), &mut self.warnings)?;
                    if defer {
                        deferred.push((phases.len(), prep));
                    } else {
                        prep.finish(&mut pd);
                    }
                    pd.info.files.insert(0, self.entries[ci].file.path.clone());
                    if let Some(m) = &map {
                        pd.info.files.insert(1, m.path.clone());
                    }
                    let mut label = "time series (format 2)".to_string();
                    if n_nodes > 1 {
                        label.push_str(&format!(", {n_nodes} node folders"));
                    }
                    labels_by_phase.push(label);
                    pd
                }
            };
            phases.push(pd);
        }

        Ok(ReadPhases { phases, deferred, labels: labels_by_phase })
    }

    /// Step 7: plain load matrices (only when there is no rank data).
    fn read_matrices(&self, matrix_cands: &[(usize, Option<crate::engine::json::Value>)], read: &mut ReadPhases) -> Result<()> {
        {
            let mut by_phase: SortedMap<Phase, String> = SortedMap::new();
            let mut mats: Vec<PhaseData> = Vec::new();
            for (i, v) in matrix_cands {
                let e = &self.entries[*i];
                let m = match v {
                    Some(v) => matrix::read_matrix_json(&e.file.path, v)?,
                    None => matrix::read_matrix_csv(&e.file.path, &e.file.bytes()?)?,
                };
                let phase = if e.file.file_name().to_ascii_lowercase().contains("prefill") { Phase::Prefill } else { Phase::Decode };
                if let Some(prev) = by_phase.get(&phase) {
                    return Err(Error::file(
                        e.file.path.clone(),
                        format!(
                            "two load matrices for the {} phase: '{prev}' and this one; drop one (a file whose name contains 'prefill' is read as the prefill phase)",
                            phase.name()
                        ),
                    ));
                }
                by_phase.insert(phase, e.file.path.clone());
                let mut pd = PhaseData::from_summed(phase, SourceFormat::Matrix, m);
                pd.info.files.push(e.file.path.clone());
                pd.info.dumps = 1;
                pd.info.intervals_kept = 1;
                mats.push(pd);
            }
            crate::engine::order::sort_by(&mut mats, |a, b| a.phase.cmp(&b.phase));
            for _ in &mats {
                read.labels.push("load matrix".to_string());
            }
            read.phases.extend(mats);
        }

        Ok(())
    }

    /// Step 8: the first deployment table dropped with (or without) the
    /// data, and the rule breaks of its own bookkeeping.
    fn dropped_table(&mut self, tables: Vec<(usize, DeploymentTable)>) -> (Option<(String, crate::engine::Placement)>, Vec<String>) {
        let mut dropped_table = None;
        let mut dropped_table_problems = Vec::new();
        for (k, (i, t)) in tables.into_iter().enumerate() {
            let e = &self.entries[i];
            if k == 0 {
                let bad = t.bad_ids();
                if bad > 0 {
                    self.warnings.push(format!(
                        "{}: {bad} expert id(s) are negative or too large: the table is invalid",
                        e.file.path
                    ));
                }
                dropped_table_problems = crate::engine::validate::table_bookkeeping(&t);
                dropped_table = Some((e.file.path.clone(), t.to_placement(0)));
            } else {
                self.warnings.push(format!(
                    "{} is a second deployment table; only {} is used as the dropped table",
                    e.file.path,
                    dropped_table.as_ref().map(|d: &(String, _)| d.0.clone()).unwrap_or_default()
                ));
                self.ignored.push(e.file.path.clone());
            }
        }

        (dropped_table, dropped_table_problems)
    }
}

/// Read the roots; with `defer`, time-series phases are returned with their
/// series not written (see [`Deferred`]).
fn read_impl(roots: &[(String, Vec<Input<'_>>)], defer: bool) -> Result<Deferred> {
    if roots.iter().all(|(_, f)| f.is_empty()) {
        return Err(Error::msg(
            "the folder is empty: drop a folder holding decode_<rank>.csv / prefill_<rank>.csv files, a load matrix or a deployment table",
        ));
    }
    let mut scan = Scan::new(roots);
    let sources = scan.rank_sources(roots.len())?;
    let configs = scan.parse_configs(&sources)?;
    let (maps, missing_map) = scan.current_maps(&configs)?;
    let has_rank_data = !sources.is_empty();
    let (tables, matrix_cands) = scan.tables_and_matrices(has_rank_data)?;
    let mut read = scan.read_phases(&sources, &configs, &maps, defer)?;
    if !has_rank_data && !matrix_cands.is_empty() {
        scan.read_matrices(&matrix_cands, &mut read)?;
    }
    let (dropped_table, dropped_table_problems) = scan.dropped_table(tables);
    let ReadPhases { phases, deferred, labels: labels_by_phase } = read;
    let Scan { mut ignored, warnings, .. } = scan;
    if phases.is_empty() && dropped_table.is_none() {
        let shown: Vec<String> = ignored.iter().take(8).cloned().collect();
        return Err(Error::msg(format!(
            "no hotspot data found: expected decode_<rank>.csv / prefill_<rank>.csv files (with model_gen_config.json for a time-series dump), a load matrix (.csv or .json [[...]]) or a deployment table (.json); found {}{}",
            if shown.is_empty() { "nothing usable".to_string() } else { shown.join(", ") },
            if ignored.len() > shown.len() { format!(" and {} more", ignored.len() - shown.len()) } else { String::new() }
        )));
    }

    let mut format_label = if phases.is_empty() {
        "deployment table only".to_string()
    } else {
        let first = labels_by_phase.first().cloned().unwrap_or_default();
        if labels_by_phase.iter().all(|l| *l == first) {
            first
        } else {
            phases.iter().zip(&labels_by_phase).map(|(p, l)| format!("{}: {l}", p.phase.name())).collect::<Vec<_>>().join("; ")
        }
    };
    if !phases.is_empty() && dropped_table.is_some() {
        format_label.push_str(" + deployment table");
    }
    crate::engine::order::sort_by(&mut ignored, |a, b| a.cmp(b));
    ignored.dedup();
    Ok(Deferred { dataset: Dataset { phases, dropped_table, dropped_table_problems, missing_map, ignored, warnings, format_label }, series: deferred })
}
