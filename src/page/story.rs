//! The page's state as one story: every result records the identity of the
//! data it was computed from and is shown, shared and downloaded only while
//! that data is on the page; Run says why it cannot start. A phase's result
//! is computed here from its solution by the engine's rules ("before",
//! scores, the table), whoever produced the solution (a run, a share link).

use std::sync::Arc;

use crate::engine::algo::Solution;
use crate::engine::metrics::Score;
use crate::engine::{before, export, metrics, Dataset, Error, PhaseData, Placement, Settings};

/// Everything shown for one phase after a run.
#[derive(Debug)]
pub struct PhaseResult {
    pub data: Arc<PhaseData>,
    pub settings: Settings,
    /// The identity of the data it was computed from ([`DataIds`]).
    pub data_id: u64,
    pub before: Placement,
    pub before_label: String,
    /// Whether "before" is a current placement (not the default layout).
    pub before_is_current: bool,
    /// Why the current placement the data names is not used (it breaks a
    /// rule): shown as a problem on the card.
    pub before_problem: Option<String>,
    pub after: Placement,
    pub score_before: Score,
    pub score_after: Score,
    pub solution: Solution,
    /// Step imbalance per kept interval (time-series data only), before and after.
    pub intervals: Option<(Vec<f64>, Vec<f64>)>,
    /// The table's check (`export::msit_table_check`): the rules it breaks
    /// in msit-compatible mode, or why it cannot be offered. The file itself
    /// is made on demand ([`PhaseResult::table_job`], in a web worker).
    pub table: Result<Vec<String>, Error>,
}

impl PhaseResult {
    /// The result of `solution` for phase `data` of `dataset`, solved with
    /// `settings`, for the data on the page with identity `data_id`.
    pub fn compute(dataset: &Dataset, data: Arc<PhaseData>, settings: &Settings, solution: Solution, data_id: u64) -> Result<PhaseResult, Error> {
        let mut pending = PendingResult::new(dataset, data, settings, solution, data_id)?;
        while pending.step() {}
        Ok(pending.finish())
    }
}

/// Top-k ids the inter-node figure reads per step of a [`PendingResult`]
/// (~10 ms natively, well under 100 ms in the page's build).
const INTERNODE_IDS_PER_STEP: usize = 1 << 21;

/// [`PhaseResult::compute`] in steps, each a bounded piece of work: the page
/// runs one per main-thread task (on the largest presets the whole result
/// took ~300 ms of the page's size-optimised build in one task). The scores
/// are [`metrics::score`]'s: its balance figures ([`metrics::score_balance`])
/// and its inter-node figure ([`metrics::InternodeTally`]) a few layers at a
/// time.
pub struct PendingResult {
    result: PhaseResult,
    /// What is left: each step on the "before" or the "after" table.
    steps: std::collections::VecDeque<(Side, Step)>,
    tally: metrics::InternodeTally,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Before,
    After,
}

enum Step {
    /// The balance figures ([`metrics::score_balance`]).
    Balance,
    /// The inter-node figure's layers `range`.
    Internode(std::ops::Range<usize>),
    /// The inter-node figure from the layers added (then a fresh tally).
    InternodeDone,
}

impl PendingResult {
    /// Checks the solution and does the cheap parts ("before", the table's
    /// check, the per-interval figures); [`PendingResult::step`] does the rest.
    pub fn new(dataset: &Dataset, data: Arc<PhaseData>, settings: &Settings, solution: Solution, data_id: u64) -> Result<PendingResult, Error> {
        if solution.layers.len() != data.layers {
            return Err(Error::internal(format!(
                "the {} solve returned {} layers for {}",
                data.phase.name(),
                solution.layers.len(),
                data.layers
            )));
        }
        let after = Placement { layers: solution.layers.clone() };
        let cluster = settings.cluster;
        // The one "before" rule of the engine; a broken current placement is
        // shown as a problem and not used.
        let (before, before_problem) = match before::before(dataset, &data, &cluster, None) {
            Ok(b) => (b, None),
            Err(e) => (before::default_layout(&data, &cluster), Some(e.to_string())),
        };
        let table = export::msit_table_check(&after, &cluster, data.experts, settings.msit_compat);
        let intervals = data
            .series
            .as_ref()
            .map(|_| (metrics::interval_step_imbalance(&data, &before.placement), metrics::interval_step_imbalance(&data, &after)));
        let mut steps = std::collections::VecDeque::new();
        for (side, placement) in [(Side::Before, &before.placement), (Side::After, &after)] {
            steps.push_back((side, Step::Balance));
            let parts = metrics::InternodeTally::parts(&data, placement, INTERNODE_IDS_PER_STEP);
            if !parts.is_empty() {
                steps.extend(parts.into_iter().map(|r| (side, Step::Internode(r))));
                steps.push_back((side, Step::InternodeDone));
            }
        }
        let tally = metrics::InternodeTally::new(&data);
        // Filled in by the steps.
        let placeholder = metrics::Score::default();
        let result = PhaseResult {
            data,
            settings: settings.clone(),
            data_id,
            before_label: before.label,
            before_is_current: before.is_current,
            before: before.placement,
            before_problem,
            after,
            score_before: placeholder.clone(),
            score_after: placeholder,
            solution,
            intervals,
            table,
        };
        Ok(PendingResult { result, steps, tally })
    }

    /// Does the next step; `false` when none is left.
    pub fn step(&mut self) -> bool {
        let Some((side, step)) = self.steps.pop_front() else { return false };
        let r = &mut self.result;
        let cluster = r.settings.cluster;
        let (placement, score) = match side {
            Side::Before => (&r.before, &mut r.score_before),
            Side::After => (&r.after, &mut r.score_after),
        };
        match step {
            Step::Balance => *score = metrics::score_balance(&r.data, placement, &cluster),
            Step::Internode(layers) => self.tally.add_layers(&r.data, placement, &cluster, layers),
            Step::InternodeDone => {
                score.internode_nodes_per_token = self.tally.value();
                self.tally = metrics::InternodeTally::new(&r.data);
            }
        }
        !self.steps.is_empty()
    }

    /// The result (every step done: [`PendingResult::step`] returned `false`).
    pub fn finish(self) -> PhaseResult {
        self.result
    }
}

impl PhaseResult {
    /// The layer whose "before" is the most unbalanced (the one worth a look first).
    pub fn worst_layer(&self) -> usize {
        self.score_before
            .per_layer
            .iter()
            .filter(|l| l.imbalance.is_finite())
            .max_by(|a, b| a.imbalance.total_cmp(&b.imbalance))
            .map_or(0, |l| l.layer)
            .min(self.data.layers.saturating_sub(1))
    }

    /// Redundant replicas the new table adds over the before, summed over layers.
    pub fn replicas_added(&self) -> i64 {
        metrics::replicas_added(&self.before, &self.after)
    }

    /// What the table's file is made from (its msit JSON: `TableJob::json`).
    pub fn table_job(&self) -> crate::jobs::protocol::TableJob {
        crate::jobs::protocol::TableJob {
            placement: self.after.clone(),
            cluster: self.settings.cluster,
            experts: self.data.experts,
            msit_compat: self.settings.msit_compat,
        }
    }

    /// Slots whose expert changes from the current placement (none without one).
    pub fn slots_moved(&self) -> Option<usize> {
        self.before_is_current.then(|| metrics::slots_moved(&self.before, &self.after))
    }

    /// What the user should know about the table: the solver's warnings, a
    /// reference table repaired or kept, the rules an msit-compatible table
    /// breaks (else the table check's findings).
    pub fn notes(&self) -> Vec<String> {
        let mut notes = self.solution.warnings.clone();
        let invalid = &self.solution.reference_invalid_layers;
        if !invalid.is_empty() {
            let ls: Vec<String> = invalid.iter().map(|l| l.to_string()).collect();
            notes.insert(
                0,
                format!(
                    "The reference tool's table puts an expert twice on one NPU in layer(s) {}{}.",
                    ls.join(", "),
                    if self.settings.msit_compat { " (kept: msit-compatible output)" } else { "; repaired here" }
                ),
            );
        }
        let broken: &[String] = match &self.table {
            Ok(v) => v,
            Err(_) => &[],
        };
        if !broken.is_empty() {
            notes.push(format!(
                "This msit-compatible table breaks {} rule(s) of a valid table: {}",
                broken.len(),
                broken.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
            ));
        } else {
            notes.extend(self.score_after.violations.iter().map(|v| format!("Table check: {v}")));
        }
        notes
    }
}

/// The identities of the data on the page: a new one for every load begun
/// and every data set shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataIds(u64);

impl DataIds {
    /// The identity of the data on the page now.
    pub fn current(self) -> u64 {
        self.0
    }
    /// New data (or none, while it is read): everything of the old identity is stale.
    pub fn renew(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    /// Whether a result of data `id` may be shown now.
    pub fn owns(self, id: u64) -> bool {
        id == self.0
    }
}

/// The results of the data on the page, in order (never those of older data).
pub fn current(results: &[Arc<PhaseResult>], ids: DataIds) -> Vec<Arc<PhaseResult>> {
    results.iter().filter(|r| ids.owns(r.data_id)).cloned().collect()
}

/// Why Run cannot start now, if it cannot (shown beside the button).
pub fn run_blocked(loading: bool, has_data: bool, last_load_failed: bool) -> Option<&'static str> {
    if loading {
        Some("Reading the data: Run is available once it is loaded.")
    } else if !has_data {
        Some(if last_load_failed {
            "No data: the last load failed (see the message above). Drop a hotspot folder or load the sample data."
        } else {
            "No data yet: drop a hotspot folder or load the sample data."
        })
    } else {
        None
    }
}
