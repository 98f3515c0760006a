//! The browser app's entry: mounts the UI (wasm only).

#[cfg(target_arch = "wasm32")]
fn main() {
    elb::ui::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("elb-studio is the browser app: build it with `make dist` / `make serve`. The native tool is `elb`.");
}
