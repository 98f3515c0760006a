//! The Leptos UI (wasm only). Components hold signals and call the engine;
//! they own no domain logic. One file per component:
//!
//! - [`drop_zone`]: folder drop / pickers / sample data -> ingest;
//! - [`summary`]: what ingest recognised;
//! - [`settings`]: msit's flags, checked as you type;
//! - [`pool`]: the solver's worker pool (any phase + settings);
//! - [`run`] + [`run_panel`]: the main run on the pool, progress, cancel;
//! - [`compare`]: every algorithm on the pool, side by side;
//! - [`sweep`] + [`sweep_chart`]: the redundancy sweep;
//! - [`holdout`]: the held-out check (time-series input);
//! - [`results`] + [`charts`] + [`popularity`]: figures, plotters charts, downloads;
//! - [`share`]: data, settings, seed and tables in the URL fragment (or a share file);
//! - [`task`]: one-shot requests to a web worker (share links, downloads);
//! - [`worker`]: the web workers' side (solving, parsing, share links, downloads);
//! - [`wire`]: the workers' messages ([`crate::jobs::protocol`]) on `postMessage`;
//! - [`glue`]: the engine calls the components make.

pub mod chart_card;
pub mod charts;
pub mod compare;
pub mod download_all;
pub mod drop_zone;
pub mod exports;
pub mod glue;
pub mod holdout;
pub mod ingest_worker;
pub mod migration_view;
pub mod pool;
pub mod phase_charts;
pub mod popularity;
pub mod results;
pub mod run;
pub mod run_panel;
pub mod sample_picker;
pub mod settings;
pub mod share;
pub mod state;
pub mod summary;
pub mod sweep;
pub mod sweep_chart;
pub mod task;
pub mod text_field;
pub mod wire;
pub mod worker;

use leptos::prelude::*;

use state::AppState;

#[component]
fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    // A share link wins; else the built-in sample data, run at once so the
    // page opens on results.
    if !share::open_from_location(state) {
        // After the first paint: generating and reading the sample takes a moment.
        leptos::task::spawn_local(async move {
            let idle = state.dataset.get_untracked().is_none()
                && state.error.get_untracked().is_none()
                && !state.loading.get_untracked();
            if idle {
                drop_zone::load_sample(state);
            }
        });
    }
    view! {
        <header class="top">
            <h1>"ELB Studio"</h1>
            <p class="tagline">
                "Expert hotspot dumps in, redundant-expert deployment tables out. Everything runs in this page; no data leaves your computer."
            </p>
        </header>
        <main>
            <div class="alert" role="alert">
                {move || state.error.get().map(|e| view! {
                    <p class="error">
                        <strong>"Problem: "</strong>
                        {e}
                    </p>
                })}
            </div>
            <drop_zone::DropZone />
            <div class="two-col">
                <summary::Summary />
                <settings::SettingsForm />
            </div>
            <run_panel::RunPanel />
            <results::Results />
            <compare::Compare />
            <sweep::Sweep />
            <holdout::Holdout />
        </main>
        <footer>
            <p>"Tables follow the msit elb format (decode_global_deployment.json / prefill_global_deployment.json)."</p>
        </footer>
    }
}

/// Mount the app (called by `main`).
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

/// Run `f`; when it takes 10 ms or more, record it as a User Timing measure
/// `elb:<name>`: the browser benchmarks list the measures inside each
/// main-thread long task, so a slow step of the page is named, not guessed
/// (shorter steps leave nothing behind, so the timeline does not grow).
pub(crate) fn timed<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let perf = web_sys::window().and_then(|w| w.performance());
    let start = format!("elb:{name}:start");
    let t0 = perf.as_ref().map(|p| {
        let _ = p.mark(&start);
        p.now()
    });
    let out = f();
    if let (Some(p), Some(t0)) = (&perf, t0) {
        if p.now() - t0 >= 10.0 {
            let _ = p.measure_with_start_mark(&format!("elb:{name}"), &start);
        }
        p.clear_marks_with_mark_name(&start);
    }
    out
}

/// Let the browser run other tasks first: resolves in a later main-thread
/// task (a zero-delay timeout; at once where there is no window).
pub(crate) async fn next_task() {
    let p = js_sys::Promise::new(&mut |resolve: js_sys::Function, _reject: js_sys::Function| {
        let started = web_sys::window()
            .and_then(|w| w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0).ok())
            .is_some();
        if !started {
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}
