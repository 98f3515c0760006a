//! Run / Cancel, the progress of every phase, and the whole-run actions
//! (Download all, Copy share link).

use leptos::prelude::*;

use super::share::ShareButton;
use super::state::{use_state, RunStatus};

#[component]
pub fn RunPanel() -> impl IntoView {
    let state = use_state();
    let running = move || state.status.get() == RunStatus::Running;
    let status_text = move || match state.status.get() {
        RunStatus::Idle => String::new(),
        RunStatus::Running => {
            let left = state.progress.with(|p| super::run::left_ms(p));
            format!("Solving… {}", super::pool::left_text(left))
        }
        RunStatus::Done { millis } => format!("Done in {:.0} ms.", millis.max(0.0)),
        RunStatus::Shared => "Tables from the share link (Run computes them again here).".into(),
        RunStatus::Cancelled => "Cancelled.".into(),
        RunStatus::Failed => "The run failed: see the message above.".into(),
    };
    let download_all = move |_| super::download_all::download_all(state);
    let progress = move || {
        state
            .progress
            .get()
            .into_iter()
            .map(|p| {
                let id = format!("progress-{}", p.phase.name());
                let label = format!("{}: layers solved", p.phase.name());
                view! {
                    <div class="progress-row">
                        <label for=id.clone()>{label}</label>
                        <progress id=id max=p.total.max(1) value=p.done></progress>
                        <span class="count">{format!("{} / {}", p.done, p.total)}</span>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <section class="card run" aria-labelledby="run-h">
            <h2 id="run-h">"Run"</h2>
            <div class="actions">
                <button
                    type="button"
                    class="primary"
                    disabled=move || running() || state.run_blocked().is_some()
                    aria-describedby="run-blocked"
                    on:click=move |_| super::run::start(state)
                >
                    "Run"
                </button>
                <button type="button" disabled=move || !running() on:click=move |_| super::run::cancel(&state)>
                    "Cancel"
                </button>
                <button
                    type="button"
                    disabled=move || state.current_results().is_empty()
                    on:click=download_all
                >
                    "Download all"
                </button>
                <ShareButton />
            </div>
            <p class="hint" id="run-blocked">{move || state.run_blocked()}</p>
            <div class="progress">{progress}</div>
            <p class="status" role="status" aria-live="polite">
                {status_text}
                " "
                {move || state.notice.get()}
            </p>
            {move || state.share_link.get().map(|link| view! {
                <div class="share-link">
                    <label for="share-link">"Share link"</label>
                    <input id="share-link" type="text" readonly prop:value=link />
                </div>
            })}
        </section>
    }
}
