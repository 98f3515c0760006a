//! The pure engine: ingest -> loads -> algorithms -> metrics -> export.
//! No browser types; compiled for native and wasm, tested natively.

pub mod algo;
pub mod before;
pub mod ecosystem;
pub mod error;
pub mod export;
pub mod holdout;
pub mod ingest;
pub mod metrics;
pub mod migration;
pub mod model;
pub mod model_preset;
pub mod par;
pub mod params;
pub mod rng;
pub mod sample;
pub mod share_link;
pub mod sweep;
pub mod table;
pub mod validate;
pub mod zip;

pub use error::{Error, Result};
pub use model::*;
pub use params::*;
