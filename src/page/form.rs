//! The settings form as typed: its values are strings (a half-typed number
//! is kept), parsed into engine [`Settings`] with a message on the field
//! that is wrong; engine errors are mapped to fields by their typed
//! [`Param`], never by their text.

use crate::engine::error::Param;
use crate::engine::{algo, Algorithm, Cluster, Dataset, DeviceType, Settings};

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
    pub const ALL: [Field; 8] =
        [Field::DeviceType, Field::Nodes, Field::Npus, Field::Redundant, Field::Shared, Field::Algorithm, Field::Seed, Field::Groups];

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

    /// The rule shown under the field.
    pub fn rule(self) -> &'static str {
        match self {
            Field::DeviceType => "a2 or a3 (-dt): how C2LB spreads the copies.",
            Field::Nodes => "At least 1 (-nd); the NPUs split evenly over the nodes.",
            Field::Npus => "At least 1 (-nn), shared-expert devices included; experts + redundant experts divide evenly over the routed NPUs.",
            Field::Redundant => "0 or more (-nre); C2LB takes at most one per routed NPU.",
            Field::Shared => "Fewer than the NPUs (-nsed); the first K NPUs hold only the shared expert.",
            Field::Algorithm => "",
            Field::Seed => "A whole number: the same seed gives the same table.",
            Field::Groups => "Expert groups of the model, for DeepSeek EPLB hierarchical (DeepSeek-V3: 8); a multiple of the nodes. Empty otherwise.",
        }
    }

    /// The element id of the field's input.
    pub fn id(self) -> &'static str {
        match self {
            Field::DeviceType => "f-device-type",
            Field::Nodes => "f-nodes",
            Field::Npus => "f-npus",
            Field::Redundant => "f-redundant",
            Field::Shared => "f-shared",
            Field::Algorithm => "f-algorithm",
            Field::Seed => "f-seed",
            Field::Groups => "f-groups",
        }
    }
}

/// A problem with the typed settings, attached to a field when known.
#[derive(Clone, Debug, PartialEq)]
pub struct FormError {
    pub field: Option<Field>,
    pub message: String,
}

/// The form's values as typed.
#[derive(Clone, Debug, PartialEq)]
pub struct FormValues {
    pub device_type: String,
    pub nodes: String,
    pub npus: String,
    pub redundant: String,
    pub shared: String,
    pub algorithm: String,
    pub seed: String,
    /// Expert groups (DeepSeek EPLB hierarchical); empty = none.
    pub groups: String,
    pub msit_compat: bool,
    /// Level 2 only: optimise the worst interval (`Settings::robust`).
    pub robust: bool,
}

impl FormValues {
    /// The form showing `s` (the defaults, a share link's settings).
    pub fn of(s: &Settings) -> FormValues {
        FormValues {
            device_type: s.cluster.device_type.name().to_string(),
            nodes: s.cluster.nodes.to_string(),
            npus: s.cluster.devices.to_string(),
            redundant: s.cluster.redundant.to_string(),
            shared: s.cluster.shared_devices.to_string(),
            algorithm: s.algorithm.name().to_string(),
            seed: s.seed.to_string(),
            groups: s.groups.map(|g| g.to_string()).unwrap_or_default(),
            msit_compat: s.msit_compat,
            robust: s.robust,
        }
    }

    /// Parse the typed values into settings (not yet checked against data).
    pub fn settings(&self) -> Result<Settings, FormError> {
        fn num(s: &str, field: Field, name: &str, min: usize) -> Result<usize, FormError> {
            let t = s.trim();
            match t.parse::<usize>() {
                Ok(v) if v >= min => Ok(v),
                Ok(_) => Err(FormError { field: Some(field), message: format!("{name} must be at least {min}") }),
                Err(_) => Err(FormError { field: Some(field), message: format!("{name} must be a whole number, got '{t}'") }),
            }
        }
        let device_type = DeviceType::parse(&self.device_type).map_err(|e| FormError { field: Some(Field::DeviceType), message: e.message })?;
        let nodes = num(&self.nodes, Field::Nodes, "Nodes", 1)?;
        let devices = num(&self.npus, Field::Npus, "NPUs", 1)?;
        let redundant = num(&self.redundant, Field::Redundant, "Redundant experts", 0)?;
        let shared_devices = num(&self.shared, Field::Shared, "Shared-expert devices", 0)?;
        let algorithm = Algorithm::parse(&self.algorithm).map_err(|e| FormError { field: Some(Field::Algorithm), message: e.message })?;
        let entry = algorithm.entry();
        // Deterministic algorithms do not read the seed (the field is disabled).
        let seed = if entry.seeded {
            self.seed.trim().parse::<u64>().map_err(|_| FormError {
                field: Some(Field::Seed),
                message: format!("Seed must be a whole number from 0 to {}, got '{}'", u64::MAX, self.seed.trim()),
            })?
        } else {
            self.seed.trim().parse::<u64>().unwrap_or(0)
        };
        // The field is disabled for other algorithms: its text does not count.
        let groups = if self.groups.trim().is_empty() || !entry.groups {
            None
        } else {
            Some(num(&self.groups, Field::Groups, "Expert groups", 1)?)
        };
        // The robust box is shown for the algorithms that read it; a hidden tick does not count.
        let robust = self.robust && entry.robust;
        Ok(Settings {
            cluster: Cluster { devices, nodes, redundant, shared_devices, device_type },
            algorithm,
            msit_compat: self.msit_compat,
            seed,
            groups,
            robust,
            ..Settings::default()
        })
    }

    /// Parse, then check against every phase of the data (`algo::check`): the
    /// error lands on the field of the parameter that breaks the rule.
    pub fn validate(&self, dataset: Option<&Dataset>) -> Result<Settings, FormError> {
        let settings = self.settings()?;
        if let Some(ds) = dataset {
            for p in &ds.phases {
                algo::check(p, &settings).map_err(|e| FormError {
                    field: e.param.as_ref().and_then(Field::from_param),
                    message: format!("{} ({})", e, p.phase.name()),
                })?;
            }
        }
        Ok(settings)
    }
}

impl Default for FormValues {
    fn default() -> Self {
        FormValues::of(&Settings::default())
    }
}

/// The migration-aware tolerance as typed (`2` or `2 %`) as a fraction (0.02).
pub fn target_fraction(typed: &str) -> Result<f64, String> {
    match typed.trim().trim_end_matches('%').trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=100.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!("Target within must be a percentage from 0 to 100, got '{}'", typed.trim())),
    }
}
