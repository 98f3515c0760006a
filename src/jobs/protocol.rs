//! The one message protocol of the page's web workers.
//!
//! Every worker of the page runs the same wasm binary (`worker/src/main.rs`)
//! and understands every [`Request`]: solving or refining (migration-aware)
//! ranges of layers of a phase (the worker pool, `ui::pool`) and reading + parsing dropped files or a
//! built-in sample (the ingest worker, `ui::ingest_worker`). It answers with
//! [`Reply`]s; its first message is always [`Reply::Ready`] (its wasm is
//! loaded: the page keeps what it wants to send until then).
//!
//! **On the wire** (plain `postMessage`, no gloo-worker envelope): a JS array
//! whose first element is a `Uint8Array` holding the bincode ([`encode`]) of
//! the message, transferred, optionally followed by one *attachment* that
//! cannot or should not go through serde:
//! - [`Request::ParseFiles`]: the dropped `File` objects, an array in the
//!   order of its `paths` (structured-cloned: no bytes copied);
//! - [`Reply::SeriesPart`]: a `Float64Array` of series values (transferred).
//!
//! Every other message has no attachment. Bincode is a private format
//! between two builds of the same source (the page and its workers are
//! always built together), so no versioning is needed. This module is
//! compiled natively too, and its encode / decode round trips are tested
//! natively (`tests/jobs.rs`); the browser glue that moves the bytes lives in
//! `ui::wire`.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::engine::algo::Solution;
use crate::engine::export::{self, ExportFormat, ExportOptions, PhaseReport};
use crate::engine::migration::Refined;
use crate::engine::sample::{Preset, SampleFormat};
use crate::engine::share_link::Shared;
use crate::engine::{Cluster, Dataset, Error, PhaseData, Placement, Settings};

/// Identifies a job of the scheduler (see [`super::scheduler`]).
pub type JobId = u64;

/// What a job does to each layer of its phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Work {
    /// Solve with these settings (`engine::algo::solve`).
    Solve(Settings),
    /// The migration-aware refinement: refine `current` until each layer
    /// is within its target (`engine::migration::refine_layer_range`, no
    /// move limit; the targets from `engine::migration::targets`).
    Refine { current: Placement, targets: Vec<f64> },
}

impl Work {
    /// Whether a layer takes long (the scheduler then hands out single
    /// layers, so a cancel stops the workers within one layer).
    pub fn slow(&self) -> bool {
        match self {
            Work::Solve(s) => s.algorithm.entry().slow,
            Work::Refine { .. } => true,
        }
    }
}

/// A range's (and a job's) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Output {
    Solved(Solution),
    /// Made with [`Output::refined`] (no moves).
    Refined(Refined),
}

impl Output {
    /// A refinement as it is sent: without its list of moves (the page shows
    /// counts and tables, not moves; and `migration::Move` is an internally
    /// tagged enum, for the CLI's JSON, which bincode cannot decode).
    pub fn refined(mut r: Refined) -> Output {
        r.moves.clear();
        Output::Refined(r)
    }

    /// Layers it holds.
    pub fn layers(&self) -> usize {
        match self {
            Output::Solved(s) => s.layers.len(),
            Output::Refined(r) => r.placement.layers.len(),
        }
    }
}

/// Messages from the page to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Request {
    /// The ranges of job `job` follow: do `work` on `data` (`None`: on the
    /// data this worker already holds). Shared, not copied, until encoded;
    /// every worker of a job gets the same message, which the page encodes
    /// once (`ui::pool`).
    Load { job: JobId, data: Option<Arc<PhaseData>>, work: Work },
    /// Do layers `start..end` of job `job` (the last one loaded).
    Run { job: JobId, start: usize, end: usize },
    /// Read and parse the dropped files attached to this message (a `File`
    /// array, in the order of `paths`).
    ParseFiles { paths: Vec<String> },
    /// Generate a built-in sample and parse it.
    ParseSample { preset: Preset, format: SampleFormat },
    /// Encode a share link's fragment (`engine::share_link::encode`): a
    /// large dump's link takes longer than a main-thread task should.
    EncodeShare(Box<Shared>),
    /// The share file's text (`engine::share_link::share_file_text`) of
    /// [`Request::EncodeShare`]'s fragment, answered with [`Reply::Encoded`].
    EncodeShareFile(Box<Shared>),
    /// Read a share link's fragment (`file` false) or a share file's text
    /// (`engine::share_link::open`): decoding is the worker's work, so the
    /// page's bundle carries no share-link decoder.
    OpenShare { text: String, file: bool },
    /// Make a file the page offers for download ([`FileJob::make`]),
    /// answered with [`Reply::File`].
    MakeFile(Box<FileJob>),
}

/// One table of a [`FileJob`]: its placement and what its msit JSON needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableJob {
    pub placement: Placement,
    pub cluster: Cluster,
    pub experts: usize,
    /// The reference tool's table as it is (`--msit-compat`).
    pub msit_compat: bool,
}

impl TableJob {
    /// The msit JSON (`engine::export::msit_table`: checked as it is written).
    pub fn json(&self) -> Result<String, Error> {
        export::msit_table(&self.placement, &self.cluster, self.experts, self.msit_compat).map(|(json, _)| json)
    }
}

/// A file the page offers for download, made by a web worker (writing and
/// checking the files is the engine's export code, which the page's bundle
/// does not carry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FileJob {
    /// One msit deployment table.
    Table(TableJob),
    /// A table in an ecosystem format (`engine::export::render`).
    Export { format: ExportFormat, table: TableJob, opts: ExportOptions },
    /// "Download all" (`engine::export::bundle_zip`): every `(file name,
    /// table)` and the report.
    Bundle { tables: Vec<(String, TableJob)>, reports: Vec<PhaseReport> },
}

impl FileJob {
    /// The file's bytes, or why it cannot be made.
    pub fn make(&self) -> Result<Vec<u8>, Error> {
        match self {
            FileJob::Table(t) => t.json().map(String::into_bytes),
            FileJob::Export { format: ExportFormat::Msit, table, .. } => table.json().map(String::into_bytes),
            FileJob::Export { format, table, opts } => {
                export::render(*format, &table.placement, table.experts, &table.cluster, opts).map(|f| f.text.into_bytes())
            }
            FileJob::Bundle { tables, reports } => {
                let mut files = Vec::with_capacity(tables.len());
                for (name, t) in tables {
                    files.push((name.clone(), t.json()?));
                }
                export::bundle_zip(&files, reports)
            }
        }
    }
}

/// Messages from a worker to the page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    /// The worker's wasm is loaded: it takes requests from now on.
    Ready,
    /// Running a job: layers of the range starting at `start` done so far.
    Progress { job: JobId, start: usize, done: usize },
    /// Running a job: the range's result.
    Done { job: JobId, start: usize, result: Result<Output, Error> },
    /// Parsing: `files` files (`bytes` bytes) read so far.
    FileRead { files: usize, bytes: f64 },
    /// Parsing: phase `phase`'s per-interval series follows, `len` values
    /// in [`Reply::SeriesPart`]s.
    SeriesStart { phase: usize, len: usize },
    /// Parsing: the next values of the current series (attached as a
    /// `Float64Array`).
    SeriesPart,
    /// Parsing: the dataset, whose series values came as parts before.
    Parsed(Box<Result<Dataset, Error>>),
    /// The share link's fragment, or why it cannot be made.
    Encoded(Result<String, Error>),
    /// What a share link or file carries, or why it cannot be read.
    Opened(Box<Result<Shared, Error>>),
    /// The bytes of a [`Request::MakeFile`], or why it cannot be made.
    File(Result<Vec<u8>, Error>),
    /// The worker failed outside a solve (a panic while parsing, a
    /// malformed request): the text for the user.
    Failed(String),
}

/// The bytes of `msg` on the wire.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, Error> {
    // Written in one pass (`serialize` sizes the message first: a second
    // pass over a phase's arrays, `engine::bulk`).
    let mut out = Vec::new();
    bincode::serialize_into(&mut out, msg).map_err(|e| Error::internal(format!("could not encode a worker message: {e}")))?;
    Ok(out)
}

/// A message from its bytes (an error for bytes that are not one).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    bincode::deserialize(bytes).map_err(|e| Error::internal(format!("malformed worker message: {e}")))
}
