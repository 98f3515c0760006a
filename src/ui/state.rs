//! The page's state: signals only, shared through Leptos context.

use std::sync::Arc;

use leptos::prelude::*;

use crate::engine::algo::Solution;
use crate::engine::error::Param;
use crate::engine::metrics::Score;
use crate::engine::{
    Algorithm, Cluster, Dataset, DeviceType, Error, Phase, PhaseData, Placement, Settings,
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

/// A form field (for attaching an error to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    DeviceType,
    Nodes,
    Npus,
    Redundant,
    Shared,
    Algorithm,
    Seed,
    Groups,
}

impl Field {
    /// The form field of an engine parameter.
    pub fn from_param(param: &Param) -> Option<Field> {
        Some(match param {
            Param::Redundant => Field::Redundant,
            Param::SharedDevices => Field::Shared,
            Param::Npus => Field::Npus,
            Param::Nodes => Field::Nodes,
            Param::DeviceType => Field::DeviceType,
            Param::Groups => Field::Groups,
            Param::Algorithm | Param::Robust => Field::Algorithm,
            Param::Seed => Field::Seed,
            _ => return None,
        })
    }
}

/// A problem with the typed settings, attached to a field when known.
#[derive(Clone, Debug, PartialEq)]
pub struct FormError {
    pub field: Option<Field>,
    pub message: String,
}

impl Form {
    pub fn new() -> Form {
        let d = Settings::default();
        Form {
            device_type: RwSignal::new(d.cluster.device_type.name().to_string()),
            nodes: RwSignal::new(d.cluster.nodes.to_string()),
            npus: RwSignal::new(d.cluster.devices.to_string()),
            redundant: RwSignal::new(d.cluster.redundant.to_string()),
            shared: RwSignal::new(d.cluster.shared_devices.to_string()),
            algorithm: RwSignal::new(d.algorithm.name().to_string()),
            seed: RwSignal::new(d.seed.to_string()),
            groups: RwSignal::new(d.groups.map(|g| g.to_string()).unwrap_or_default()),
            msit_compat: RwSignal::new(d.msit_compat),
            robust: RwSignal::new(d.robust),
            migration_aware: RwSignal::new(false),
            target_within: RwSignal::new("2".to_string()),
        }
    }

    /// Parse the typed values (tracked: re-runs as the user types).
    pub fn settings(&self) -> Result<Settings, FormError> {
        fn num(s: &str, field: Field, name: &str, min: usize) -> Result<usize, FormError> {
            let t = s.trim();
            match t.parse::<usize>() {
                Ok(v) if v >= min => Ok(v),
                Ok(_) => Err(FormError { field: Some(field), message: format!("{name} must be at least {min}") }),
                Err(_) => Err(FormError {
                    field: Some(field),
                    message: format!("{name} must be a whole number, got '{t}'"),
                }),
            }
        }
        let device_type = DeviceType::parse(&self.device_type.get())
            .map_err(|e| FormError { field: Some(Field::DeviceType), message: e.message })?;
        let nodes = num(&self.nodes.get(), Field::Nodes, "Nodes", 1)?;
        let devices = num(&self.npus.get(), Field::Npus, "NPUs", 1)?;
        let redundant = num(&self.redundant.get(), Field::Redundant, "Redundant experts", 0)?;
        let shared_devices = num(&self.shared.get(), Field::Shared, "Shared-expert devices", 0)?;
        let algorithm = Algorithm::parse(&self.algorithm.get())
            .map_err(|e| FormError { field: Some(Field::Algorithm), message: e.message })?;
        let seed_text = self.seed.get();
        // Deterministic algorithms do not read the seed (the field is disabled).
        let seed = if algorithm.entry().seeded {
            seed_text.trim().parse::<u64>().map_err(|_| FormError {
                field: Some(Field::Seed),
                message: format!("Seed must be a whole number from 0 to {}, got '{}'", u64::MAX, seed_text.trim()),
            })?
        } else {
            seed_text.trim().parse::<u64>().unwrap_or(0)
        };
        let groups_text = self.groups.get();
        // The field is disabled for other algorithms: its text does not count.
        let groups = if groups_text.trim().is_empty() || !algorithm.entry().groups {
            None
        } else {
            Some(num(&groups_text, Field::Groups, "Expert groups", 1)?)
        };
        // The robust box is shown for level 2 only; a hidden tick does not count.
        let robust = self.robust.get() && Form::has_robust(algorithm);
        Ok(Settings {
            cluster: Cluster { devices, nodes, redundant, shared_devices, device_type },
            algorithm,
            msit_compat: self.msit_compat.get(),
            seed,
            groups,
            robust,
            ..Settings::default()
        })
    }

    /// Fill the form from settings (share links).
    pub fn set(&self, s: &Settings) {
        self.device_type.set(s.cluster.device_type.name().to_string());
        self.nodes.set(s.cluster.nodes.to_string());
        self.npus.set(s.cluster.devices.to_string());
        self.redundant.set(s.cluster.redundant.to_string());
        self.shared.set(s.cluster.shared_devices.to_string());
        self.algorithm.set(s.algorithm.name().to_string());
        self.seed.set(s.seed.to_string());
        self.groups.set(s.groups.map(|g| g.to_string()).unwrap_or_default());
        self.msit_compat.set(s.msit_compat);
        self.robust.set(s.robust);
    }

    /// Whether `algorithm` reads the robust option (level 2, al 3 / al 5).
    pub fn has_robust(algorithm: Algorithm) -> bool {
        algorithm.entry().robust
    }

    /// The migration-aware tolerance as a fraction (`2` typed = 0.02).
    pub fn target_fraction(&self) -> Result<f64, String> {
        let t = self.target_within.get();
        match t.trim().trim_end_matches('%').trim().parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v / 100.0),
            _ => Err(format!("Target within must be a percentage from 0 to 100, got '{}'", t.trim())),
        }
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

/// Everything shown for one phase after a run.
#[derive(Debug)]
pub struct PhaseResult {
    pub data: Arc<PhaseData>,
    pub settings: Settings,
    /// The identity of the data it was computed from (`AppState::data_id`).
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
    /// The table JSON (with the rules it breaks in msit-compatible mode),
    /// or why it cannot be offered.
    pub table: Result<(String, Vec<String>), Error>,
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
    pub data_id: RwSignal<u64>,
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
            data_id: RwSignal::new(0),
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
        self.data_id.update(|n| *n += 1);
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
        let id = self.data_id.get();
        self.results.with(|rs| rs.iter().filter(|r| r.data_id == id).cloned().collect())
    }

    /// [`AppState::current_results`] without tracking.
    pub fn current_results_untracked(&self) -> Vec<Arc<PhaseResult>> {
        untrack(|| self.current_results())
    }

    /// Why Run cannot start now, if it cannot (shown beside the button).
    pub fn run_blocked(&self) -> Option<&'static str> {
        if self.loading.get() {
            Some("Reading the data: Run is available once it is loaded.")
        } else if self.dataset.with(|d| d.is_none()) {
            Some(if self.error.with(|e| e.is_some()) {
                "No data: the last load failed (see the message above). Drop a hotspot folder or load the sample data."
            } else {
                "No data yet: drop a hotspot folder or load the sample data."
            })
        } else {
            None
        }
    }

    /// Replace the data: clears results and errors.
    pub fn set_dataset(&self, origin: Origin, ds: Dataset) {
        self.clear_results();
        self.error.set(None);
        // The data has arrived: the load is over (a share file opened from a
        // drop runs at once).
        self.loading.set(false);
        self.origin.set(Some(origin));
        self.dataset.set(Some(Arc::new(ds)));
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
