//! Web-worker entry: solves and parses off the main thread (wasm only;
//! one binary for every worker of the page, see `elb::ui::worker`).

#[cfg(target_arch = "wasm32")]
fn main() {
    elb::ui::worker::register();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
