//! What ingest recognised, shown before anything runs.

use leptos::prelude::*;

use super::state::use_state;
use crate::engine::{Dataset, PhaseData};

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn phase_rows(ds: &Dataset, p: &PhaseData) -> Vec<(String, String)> {
    let i = &p.info;
    let mut rows = vec![
        ("Layers".to_string(), p.layers.to_string()),
        ("Experts".to_string(), p.experts.to_string()),
        (
            "Ranks".to_string(),
            if i.skipped_ranks > 0 {
                format!("{} ({} dangling shared-expert ranks skipped)", i.ranks, i.skipped_ranks)
            } else if i.ranks == 0 {
                "not recorded".to_string()
            } else {
                i.ranks.to_string()
            },
        ),
    ];
    if p.series.is_some() {
        rows.push(("Dumps".into(), i.dumps.to_string()));
        rows.push((
            "Intervals".into(),
            format!("{} kept, {} dropped as idle", i.intervals_kept, i.intervals_dropped),
        ));
    }
    rows.push((
        "Top-k".into(),
        match (p.top_k, &p.topk_traces) {
            (Some(k), Some(_)) => format!("{k}, with routing traces"),
            (Some(k), None) => format!("{k}, no routing traces"),
            (None, Some(t)) => format!("{}, routing traces", t.k),
            (None, None) => "not given".into(),
        },
    ));
    let problem = crate::engine::before::check_without_cluster(ds, p).err();
    rows.push((
        "Current placement".into(),
        match (&p.current, &p.current_source, problem) {
            (_, _, Some(e)) => format!("not usable: {e}"),
            (Some(_), Some(src), None) => format!("yes ({src})"),
            (Some(_), None, None) => "yes".into(),
            _ => "no".into(),
        },
    ));
    if !i.backups_used.is_empty() {
        rows.push(("Backup files used".into(), i.backups_used.join(", ")));
    }
    rows
}

fn summary_view(ds: &Dataset) -> impl IntoView + use<> {
    let phases = ds.phases.iter().map(|p| p.phase.name()).collect::<Vec<_>>().join(", ");
    let format = if ds.format_label.is_empty() { "unknown".to_string() } else { ds.format_label.clone() };
    let per_phase = ds
        .phases
        .iter()
        .map(|p| {
            let rows = phase_rows(ds, p)
                .into_iter()
                .map(|(k, v)| view! { <div><dt>{k}</dt><dd>{v}</dd></div> })
                .collect_view();
            view! {
                <div class="phase-summary">
                    <h3>{p.phase.name()}</h3>
                    <dl>{rows}</dl>
                </div>
            }
        })
        .collect_view();
    let table = ds.dropped_table.as_ref().map(|(name, p)| {
        view! {
            <p>{format!("Deployment table {name}: {} layers x {} NPUs, used as the \"before\".", p.num_layers(), p.num_devices())}</p>
        }
    });
    let missing = ds.missing_map.as_ref().map(|m| {
        view! {
            <p class="notice missing-map">
                {format!("The dump names {m} as the current placement; add it (drop it together with the folder) to compare against the table the server ran with.")}
            </p>
        }
    });
    let ignored = (!ds.ignored.is_empty()).then(|| {
        view! { <p><strong>"Ignored files: "</strong>{ds.ignored.join(", ")}</p> }
    });
    let warnings = (!ds.warnings.is_empty()).then(|| {
        let items = ds.warnings.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view();
        view! {
            <div class="warnings">
                <strong>"Warnings"</strong>
                <ul>{items}</ul>
            </div>
        }
    });
    view! {
        <dl class="overview">
            <div><dt>"Format"</dt><dd>{format}</dd></div>
            <div><dt>"Phases"</dt><dd>{phases}</dd></div>
            <div><dt>"Deployment table given"</dt><dd>{yes_no(ds.dropped_table.is_some())}</dd></div>
        </dl>
        <div class="phase-summaries">{per_phase}</div>
        {table}
        {missing}
        {ignored}
        {warnings}
    }
}

#[component]
pub fn Summary() -> impl IntoView {
    let state = use_state();
    view! {
        <section class="card summary" aria-labelledby="summary-h">
            <h2 id="summary-h">"Data"</h2>
            {move || state.origin.get().map(|o| view! { <p class="origin">{o.describe()}</p> })}
            {move || match state.dataset.get() {
                Some(ds) => summary_view(&ds).into_any(),
                None => view! { <p class="empty">"No data loaded yet: drop a folder above or load the sample data."</p> }.into_any(),
            }}
        </section>
    }
}
