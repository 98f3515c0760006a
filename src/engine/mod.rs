//! The pure engine: ingest -> loads -> algorithms -> metrics -> export.
//! No browser types; compiled for native and wasm, tested natively.

pub mod before;
pub mod ecosystem;
pub mod export;
pub mod holdout;
pub mod ingest;
pub mod json;
pub mod metrics;
pub mod migration;
pub mod model_preset;
pub mod sample;
pub mod share_link;
pub mod sweep;
pub mod table;
pub mod validate;
pub mod zip;

// The solver and the types it works on are the `elb-solver` crate (solver/),
// built for speed in the page's worker while the rest is built for size
// (Cargo.toml, [profile.release-worker]); here under their usual paths.
pub mod algo;
pub use elb_solver::{bulk, error, model, order, par, params, rng, sorted_map};

pub use error::{Error, Result};
pub use model::*;
pub use params::*;
