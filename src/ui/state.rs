//! The page's state: signals only, shared through Leptos context.

use std::sync::Arc;

use leptos::prelude::*;

use crate::engine::{
    Algorithm, Dataset, Phase, Settings,
};

/// The settings form, as typed (strings), so a half-typed value is kept.
#[derive(Clone, Copy)]
pub struct Form {
    pub device_type: RwSignal<String>,
    pub nodes: RwSignal<String>,
    pub npus: RwSignal<String>,
    pub redundant: RwSignal<String>,
    pub shared: RwSignal<String>,
    pub algorithm: RwSignal<String>,
    pub seed: RwSignal<String>,
    /// Expert groups (DeepSeek EPLB hierarchical); empty = none.
    pub groups: RwSignal<String>,
    pub msit_compat: RwSignal<bool>,
    /// Level 2 only: optimise the worst interval (`Settings::robust`).
    pub robust: RwSignal<bool>,
    /// After the solve, refine the current placement instead (migration view).
    pub migration_aware: RwSignal<bool>,
    /// Tolerance of the migration-aware refinement, in percent as typed.
    pub target_within: RwSignal<String>,
}

pub use crate::page::form::{Field, FormError, FormValues};
pub use crate::page::story::PhaseResult;
use crate::page::story::{self, DataIds};

impl Form {
    pub fn new() -> Form {
        let v = FormValues::default();
        Form {
            device_type: RwSignal::new(v.device_type),
            nodes: RwSignal::new(v.nodes),
            npus: RwSignal::new(v.npus),
            redundant: RwSignal::new(v.redundant),
            shared: RwSignal::new(v.shared),
            algorithm: RwSignal::new(v.algorithm),
            seed: RwSignal::new(v.seed),
            groups: RwSignal::new(v.groups),
            msit_compat: RwSignal::new(v.msit_compat),
            robust: RwSignal::new(v.robust),
            migration_aware: RwSignal::new(false),
            target_within: RwSignal::new("2".to_string()),
        }
    }

    /// The values as typed (tracked: re-runs as the user types).
    pub fn values(&self) -> FormValues {
        FormValues {
            device_type: self.device_type.get(),
            nodes: self.nodes.get(),
            npus: self.npus.get(),
            redundant: self.redundant.get(),
            shared: self.shared.get(),
            algorithm: self.algorithm.get(),
            seed: self.seed.get(),
            groups: self.groups.get(),
            msit_compat: self.msit_compat.get(),
            robust: self.robust.get(),
        }
    }

    /// Parse the typed values (tracked).
    pub fn settings(&self) -> Result<Settings, FormError> {
        self.values().settings()
    }

    /// Fill the form from settings (share links).
    pub fn set(&self, s: &Settings) {
        let v = FormValues::of(s);
        self.device_type.set(v.device_type);
        self.nodes.set(v.nodes);
        self.npus.set(v.npus);
        self.redundant.set(v.redundant);
        self.shared.set(v.shared);
        self.algorithm.set(v.algorithm);
        self.seed.set(v.seed);
        self.groups.set(v.groups);
        self.msit_compat.set(v.msit_compat);
        self.robust.set(v.robust);
    }

    /// Whether `algorithm` reads the robust option (level 2, al 3 / al 5).
    pub fn has_robust(algorithm: Algorithm) -> bool {
        algorithm.entry().robust
    }

    /// The migration-aware tolerance as a fraction (`2` typed = 0.02).
    pub fn target_fraction(&self) -> Result<f64, String> {
        crate::page::form::target_fraction(&self.target_within.get())
    }
}

/// Where the loaded data came from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    Sample(String),
    Dropped(String),
    /// A share link or file: how the sender's page described the data
    /// (empty for a version-1 link, which did not say).
    SharedLink(String),
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::Sample(label) => format!("Built-in sample data: {label}"),
            Origin::Dropped(label) => format!("Dropped: {label}"),
            Origin::SharedLink(sender) if sender.is_empty() => "From a share link (loads summed over time)".to_string(),
            Origin::SharedLink(sender) => format!("From a share link: {sender}"),
        }
    }
}

/// Progress of one phase during a run.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseProgress {
    pub phase: Phase,
    pub done: usize,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    Idle,
    Running,
    Done { millis: f64 },
    /// The tables of a share link, shown as the sender computed them.
    Shared,
    Cancelled,
    Failed,
}

#[derive(Clone, Copy)]
pub struct AppState {
    pub origin: RwSignal<Option<Origin>>,
    pub dataset: RwSignal<Option<Arc<Dataset>>>,
    pub form: Form,
    pub status: RwSignal<RunStatus>,
    pub progress: RwSignal<Vec<PhaseProgress>>,
    pub results: RwSignal<Vec<Arc<PhaseResult>>>,
    /// The alert region's text (errors).
    pub error: RwSignal<Option<String>>,
    /// Polite status messages ("Link copied").
    pub notice: RwSignal<Option<String>>,
    /// A drop or sample load is being read.
    pub loading: RwSignal<bool>,
    /// The share link of the last run, when made.
    pub share_link: RwSignal<Option<String>>,
    /// Identity of the data on the page: a new number for every load begun
    /// and every data set shown. Every result records the identity it was
    /// computed from and is shown only while that data is on the page.
    pub data_id: RwSignal<DataIds>,
}

impl AppState {
    pub fn new() -> AppState {
        AppState {
            origin: RwSignal::new(None),
            dataset: RwSignal::new(None),
            form: Form::new(),
            status: RwSignal::new(RunStatus::Idle),
            progress: RwSignal::new(Vec::new()),
            results: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            notice: RwSignal::new(None),
            loading: RwSignal::new(false),
            share_link: RwSignal::new(None),
            data_id: RwSignal::new(DataIds::default()),
        }
    }

    /// Forget every result of the data on the page (run, share link; the
    /// panels clear themselves when the dataset changes) and give the page's
    /// data a new identity.
    fn clear_results(&self) {
        crate::ui::run::cancel(self);
        self.results.set(Vec::new());
        self.progress.set(Vec::new());
        self.status.set(RunStatus::Idle);
        self.share_link.set(None);
        self.data_id.update(|ids| {
            ids.renew();
        });
    }

    /// A drop, pick or sample load begins: the old data and everything
    /// computed from it leave the page at once (nothing of it can be shown,
    /// run or downloaded while the new data is read), and Run waits for it.
    pub fn begin_load(&self) {
        self.clear_results();
        self.error.set(None);
        self.notice.set(None);
        self.dataset.set(None);
        self.loading.set(true);
    }

    /// The results of the data on the page (never those of older data).
    pub fn current_results(&self) -> Vec<Arc<PhaseResult>> {
        let ids = self.data_id.get();
        self.results.with(|rs| story::current(rs, ids))
    }

    /// [`AppState::current_results`] without tracking.
    pub fn current_results_untracked(&self) -> Vec<Arc<PhaseResult>> {
        untrack(|| self.current_results())
    }

    /// Why Run cannot start now, if it cannot (shown beside the button).
    pub fn run_blocked(&self) -> Option<&'static str> {
        story::run_blocked(self.loading.get(), self.dataset.with(|d| d.is_some()), self.error.with(|e| e.is_some()))
    }

    /// Replace the data: clears results and errors.
    pub fn set_dataset(&self, origin: Origin, ds: Dataset) {
        self.clear_results();
        self.error.set(None);
        // The data has arrived: the load is over (a share file opened from a
        // drop runs at once).
        self.loading.set(false);
        self.origin.set(Some(origin));
        let ds = Arc::new(ds);
        self.dataset.set(Some(ds.clone()));
        // The solver workers start and take the data now, in a task of its
        // own (not during the summary's drawing), unless newer data came in
        // meanwhile: Run then starts solving at once.
        let dataset = self.dataset;
        leptos::task::spawn_local(async move {
            super::next_task().await;
            if dataset.with_untracked(|d| d.as_ref().is_some_and(|d| Arc::ptr_eq(d, &ds))) {
                if let Some(phase) = super::pool::phases_of(&ds).into_iter().next() {
                    super::pool::prewarm(phase);
                }
            }
        });
    }

    /// Show an error in the alert region.
    pub fn fail(&self, e: impl std::fmt::Display) {
        self.error.set(Some(e.to_string()));
    }
}

pub fn use_state() -> AppState {
    expect_context::<AppState>()
}

impl Default for Form {
    fn default() -> Self {
        Form::new()
    }
}

impl Default for AppState {
    fn default() -> Self {
        AppState::new()
    }
}
