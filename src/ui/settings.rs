//! The settings form: msit's flags with msit's defaults, checked as you type
//! against the loaded data (`algo::check`); each field shows its rule and,
//! when broken, what is wrong.

use leptos::prelude::*;

use super::state::{use_state, Field, Form, FormError};
use super::text_field::TextField;
use crate::engine::{algo, Algorithm, Dataset, Settings};

/// Parse the form and check it against every phase of the data.
pub fn validate(form: &Form, dataset: Option<&Dataset>) -> Result<Settings, FormError> {
    form.values().validate(dataset)
}

/// One numeric field with its rule and its error.
#[component]
fn NumberField(
    field: Field,
    label: &'static str,
    value: RwSignal<String>,
    check: Memo<Result<Settings, FormError>>,
    /// Why the field does not apply to the settings as they are (then it is
    /// disabled and says so).
    #[prop(optional, into)]
    off: Option<Signal<Option<&'static str>>>,
) -> impl IntoView {
    let error = Signal::derive(move || match check.get() {
        Err(FormError { field: Some(f), message }) if f == field => Some(message),
        _ => None,
    });
    let off = Signal::derive(move || off.and_then(|o| o.get()));
    view! { <TextField id=field.id() label=label rule=field.rule() value=value error=error off=off /> }
}

#[component]
pub fn SettingsForm() -> impl IntoView {
    let state = use_state();
    let form = state.form;
    let check = Memo::new(move |_| {
        let ds = state.dataset.get();
        validate(&form, ds.as_deref())
    });
    let general_error = move || match check.get() {
        Err(FormError { field: None, message }) => Some(message),
        _ => None,
    };
    let algo_error = move || match check.get() {
        Err(FormError { field: Some(Field::Algorithm), message }) => Some(message),
        _ => None,
    };
    let dt_error = move || match check.get() {
        Err(FormError { field: Some(Field::DeviceType), message }) => Some(message),
        _ => None,
    };
    let explain = move || Algorithm::parse(&form.algorithm.get()).map(|a| a.explain()).unwrap_or("");
    view! {
        <section class="card settings" aria-labelledby="settings-h">
            <h2 id="settings-h">"Settings"</h2>
            <div class="grid">
                <div class="field" class:invalid=move || dt_error().is_some()>
                    <label for="f-device-type">"Device type"</label>
                    <select
                        id="f-device-type"
                        aria-describedby="f-device-type-hint"
                        prop:value=move || form.device_type.get()
                        on:change=move |ev| form.device_type.set(event_target_value(&ev))
                    >
                        <option value="a2">"A2"</option>
                        <option value="a3">"A3"</option>
                    </select>
                    <p class="hint" id="f-device-type-hint">
                        <span class="rule">{Field::DeviceType.rule()}</span>
                        {move || dt_error().map(|m| view! { <span class="field-error">{m}</span> })}
                    </p>
                </div>
                <NumberField field=Field::Nodes label="Nodes" value=form.nodes check=check />
                <NumberField field=Field::Npus label="NPUs" value=form.npus check=check />
                <NumberField field=Field::Redundant label="Redundant experts" value=form.redundant check=check />
                <NumberField field=Field::Shared label="Shared-expert devices" value=form.shared check=check />
                <NumberField
                    field=Field::Seed
                    label="Seed"
                    value=form.seed
                    check=check
                    off=Signal::derive(move || {
                        (!Algorithm::parse(&form.algorithm.get()).is_ok_and(|a| a.entry().seeded))
                            .then_some("Not used by this algorithm: it is deterministic (only level 2 is randomised).")
                    })
                />
                <NumberField
                    field=Field::Groups
                    label="Expert groups"
                    value=form.groups
                    check=check
                    off=Signal::derive(move || {
                        (!Algorithm::parse(&form.algorithm.get()).is_ok_and(|a| a.entry().groups))
                            .then_some("Not used by this algorithm: only DeepSeek EPLB hierarchical groups experts.")
                    })
                />
                <div class="field wide" class:invalid=move || algo_error().is_some()>
                    <label for="f-algorithm">"Algorithm"</label>
                    <select
                        id="f-algorithm"
                        aria-describedby="f-algorithm-hint"
                        prop:value=move || form.algorithm.get()
                        on:change=move |ev| form.algorithm.set(event_target_value(&ev))
                    >
                        {algo::catalogue::CATALOGUE
                            .iter()
                            .map(|e| view! { <option value=e.name>{e.label}</option> })
                            .collect_view()}
                    </select>
                    <p class="hint" id="f-algorithm-hint">
                        <span class="rule">{explain}</span>
                        {move || algo_error().map(|m| view! { <span class="field-error">{m}</span> })}
                    </p>
                </div>
                {move || {
                    let level2 = Algorithm::parse(&form.algorithm.get()).is_ok_and(Form::has_robust);
                    level2.then(|| view! {
                        <div class="field wide check">
                            <input
                                id="f-robust"
                                type="checkbox"
                                aria-describedby="f-robust-hint"
                                prop:checked=move || form.robust.get()
                                on:change=move |ev| form.robust.set(event_target_checked(&ev))
                            />
                            <label for="f-robust">"Robust (optimise the worst interval)"</label>
                            <p class="hint" id="f-robust-hint">
                                "Level 2 only, time-series input: the local search lowers the imbalance of the worst fitted interval (a power mean of the per-interval imbalances) instead of the mean, for load that drifts. Slower; summed input gives the plain table."
                            </p>
                        </div>
                    })
                }}
                <div class="field wide check">
                    <input
                        id="f-msit"
                        type="checkbox"
                        aria-describedby="f-msit-hint"
                        prop:checked=move || form.msit_compat.get()
                        on:change=move |ev| form.msit_compat.set(event_target_checked(&ev))
                    />
                    <label for="f-msit">"msit-compatible output"</label>
                    <p class="hint" id="f-msit-hint">
                        "Write msit's own table, even where it puts an expert twice on one NPU (otherwise those layers are repaired; all other layers are msit's table either way). Reproduced exactly, ties included: C2LB (al 0, A2 and A3), level 1 (al 1), dynamic C2LB (al 2), level 1 mixed (al 4) — except C2LB A3 with 256 NPUs and 256 redundant experts (msit switches to a pairing strategy we do not reproduce) and C2LB / dynamic C2LB on a dump that names a current placement (msit misreads its slots as experts). Level 2 (al 3, al 5) is our own optimiser, not msit's time-limited, randomised solver: this switch does not change it. DeepSeek EPLB: a duplicate is kept unrepaired."
                    </p>
                </div>
            </div>
            {move || general_error().map(|m| view! { <p class="field-error general">{m}</p> })}
        </section>
    }
}
