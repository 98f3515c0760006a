//! ELB Studio's solver: the hot searches (`algo`: level 2, FlashLB, the
//! inter-node pass) and the types every algorithm works on (`model`,
//! `params`, `error`), with `par`, `rng`, `order`, `bulk` and `sorted_map`.
//!
//! A crate of its own only so that the page's worker can build it for speed
//! while the rest of the worker (readers, share links, exports, and msit's
//! and DeepSeek's algorithms, which take milliseconds) is built for size
//! (`[profile.release-worker]` in the root Cargo.toml). The `elb` crate
//! re-exports every module as `elb::engine::{error, model, par, params, rng,
//! ...}`, and `elb::engine::algo` holds the entry point `solve`, the checks
//! and the other algorithms beside this crate's; use it through those paths.

pub mod algo;
pub mod bulk;
pub mod error;
pub mod model;
pub mod order;
pub mod par;
pub mod params;
pub mod rng;
pub mod sorted_map;

pub use error::{Error, Result};
pub use model::*;
pub use params::*;
