//! ELB Studio: MoE expert hotspot dumps -> redundant expert deployment tables.
//!
//! - [`engine`]: pure Rust, no browser types (ingest, algorithms, metrics, export);
//! - [`jobs`]: the web workers' message protocol and the job scheduler's
//!   pure logic (native and wasm, tested natively);
//! - [`page`]: the page's own logic (form, chart scales, result bookkeeping), target-independent;
//! - `ui` (wasm only): Leptos components that only call the engine;
//! - `src/bin/elb.rs`: the native CLI with msit-compatible flags;
//! - `worker/src/main.rs`: the web-worker entry that runs solves off the main thread.

pub mod engine;
pub mod jobs;
pub mod page;

#[cfg(target_arch = "wasm32")]
pub mod ui;
