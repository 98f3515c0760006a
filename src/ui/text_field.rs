//! One labelled text input with its rule, the reason it does not apply and
//! its error, checked as you type: the settings' number fields and the
//! held-out, sweep and migration fields all use this one markup.

use leptos::prelude::*;

/// A text field: `<label>`, `<input>` and a hint `<p>` (id `{id}-hint`)
/// holding `rule`, the `off` reason (then the input is disabled) and the
/// current `error` (then the field is marked invalid).
#[component]
pub fn TextField(
    #[prop(into)] id: String,
    label: &'static str,
    rule: &'static str,
    value: RwSignal<String>,
    #[prop(into)] error: Signal<Option<String>>,
    /// The on-screen keyboard: "numeric" (whole numbers) or "decimal".
    #[prop(default = "numeric")]
    inputmode: &'static str,
    /// Why the field does not apply to the settings as they are.
    #[prop(optional, into)]
    off: Option<Signal<Option<&'static str>>>,
) -> impl IntoView {
    let off = move || off.and_then(|o| o.get());
    let hint_id = format!("{id}-hint");
    view! {
        <div class="field" class:invalid=move || error.with(Option::is_some)>
            <label for=id.clone()>{label}</label>
            <input
                id=id
                type="text"
                inputmode=inputmode
                autocomplete="off"
                spellcheck="false"
                aria-describedby=hint_id.clone()
                aria-invalid=move || if error.with(Option::is_some) { "true" } else { "false" }
                disabled=move || off().is_some()
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
            <p class="hint" id=hint_id>
                <span class="rule">{rule}</span>
                {move || off().map(|why| view! { <span class="off-reason">{" "}{why}</span> })}
                {move || error.get().map(|m| view! { <span class="field-error">{m}</span> })}
            </p>
        </div>
    }
}
