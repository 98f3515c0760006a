//! Web-worker entry: runs solves off the main thread (wasm only).

#[cfg(target_arch = "wasm32")]
fn main() {
    elb::ui::worker::register();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
