//! The Leptos UI (wasm only). It holds signals and calls the engine; it owns
//! no domain logic.
pub mod worker;
pub fn start() {}
