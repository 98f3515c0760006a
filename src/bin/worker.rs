//! Web-worker entry: runs solves off the main thread (wasm only).

#[cfg(target_arch = "wasm32")]
fn main() {
    if elb::ui::ingest_worker::is_ingest_worker() {
        elb::ui::ingest_worker::register_worker();
    } else {
        elb::ui::worker::register();
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {}
