//! "Download all": one stored ZIP (`elb_results.zip`) with every phase's
//! deployment table — the same bytes as the per-phase downloads, offered only
//! when every table passed the checks — and the report of the figures as
//! JSON and Markdown. The archive and the report come from the engine
//! (`export::bundle_zip`, `export::PhaseReport`).

use leptos::prelude::*;

use crate::engine::export::{self, PhaseReport};
use crate::engine::metrics;

use super::results::save_blob;
use super::state::{AppState, PhaseResult};

/// The report of one phase's run.
fn report(r: &PhaseResult) -> PhaseReport {
    let mut warnings = r.solution.warnings.clone();
    if let Ok((_, violations)) = &r.table {
        warnings.extend(violations.iter().map(|v| format!("msit-compatible table breaks a rule: {v}")));
    }
    PhaseReport {
        phase: r.data.phase,
        settings: Some(r.settings.clone()),
        before_source: r.before_label.clone(),
        before: r.score_before.clone(),
        after: Some(r.score_after.clone()),
        slots_moved: Some(metrics::slots_moved(&r.before, &r.after)),
        replicas_added: Some(metrics::replicas_added(&r.before, &r.after)),
        seconds: None,
        warnings,
    }
}

/// The archive's bytes for the current results, or why it cannot be offered.
pub fn bundle(results: &[std::sync::Arc<PhaseResult>]) -> Result<Vec<u8>, String> {
    if results.is_empty() {
        return Err("Nothing to download yet: run first.".into());
    }
    let mut tables = Vec::with_capacity(results.len());
    for r in results {
        match &r.table {
            Ok((json, _)) => tables.push((r.data.phase.table_file_name(), json.clone())),
            Err(e) => return Err(format!("The {} table cannot be offered: {e}", r.data.phase.name())),
        }
    }
    let reports: Vec<PhaseReport> = results.iter().map(|r| report(r)).collect();
    export::bundle_zip(&tables, &reports).map_err(|e| e.to_string())
}

/// Offer the archive of the current results for download.
pub fn download_all(state: AppState) {
    let results = state.current_results_untracked();
    let bytes = match bundle(&results) {
        Ok(b) => b,
        Err(e) => {
            state.fail(e);
            return;
        }
    };
    let fail = |e: wasm_bindgen::JsValue| format!("could not offer {} for download: {e:?}", export::BUNDLE_FILE);
    let arr = js_sys::Uint8Array::from(bytes.as_slice());
    let parts = js_sys::Array::of1(&arr);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("application/zip");
    let result = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts)
        .map_err(fail)
        .and_then(|blob| save_blob(export::BUNDLE_FILE, &blob));
    match result {
        Ok(()) => state.notice.set(Some(format!(
            "{} offered: {} table(s) and the report ({} and {}).",
            export::BUNDLE_FILE,
            results.len(),
            export::REPORT_JSON_FILE,
            export::REPORT_MD_FILE
        ))),
        Err(e) => state.fail(e),
    }
}
