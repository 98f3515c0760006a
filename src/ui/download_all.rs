//! "Download all": one stored ZIP (`elb_results.zip`) with every phase's
//! deployment table — the same bytes as the per-phase downloads, offered only
//! when every table passed the checks — and the report of the figures as
//! JSON and Markdown. The archive and the report come from the engine
//! (`export::bundle_zip`, `export::PhaseReport`), made in a web worker
//! (`jobs::protocol::FileJob::Bundle`).

use crate::engine::export::{self, PhaseReport};
use crate::engine::metrics;

use crate::jobs::protocol::FileJob;
use super::state::{AppState, PhaseResult};

/// The report of one phase's run.
fn report(r: &PhaseResult) -> PhaseReport {
    let mut warnings = r.solution.warnings.clone();
    if let Ok(violations) = &r.table {
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

/// What the archive of the current results is made from (in a web worker),
/// or why it cannot be offered.
pub fn bundle(results: &[std::sync::Arc<PhaseResult>]) -> Result<FileJob, String> {
    if results.is_empty() {
        return Err("Nothing to download yet: run first.".into());
    }
    let mut tables = Vec::with_capacity(results.len());
    for r in results {
        match &r.table {
            Ok(_) => tables.push((r.data.phase.table_file_name(), r.table_job())),
            Err(e) => return Err(format!("The {} table cannot be offered: {e}", r.data.phase.name())),
        }
    }
    let reports: Vec<PhaseReport> = results.iter().map(|r| report(r)).collect();
    Ok(FileJob::Bundle { tables, reports })
}

/// Offer the archive of the current results for download.
pub fn download_all(state: AppState) {
    let results = state.current_results_untracked();
    let job = match bundle(&results) {
        Ok(j) => j,
        Err(e) => {
            state.fail(e);
            return;
        }
    };
    let notice = format!(
        "{} offered: {} table(s) and the report ({} and {}).",
        export::BUNDLE_FILE,
        results.len(),
        export::REPORT_JSON_FILE,
        export::REPORT_MD_FILE
    );
    super::task::offer(state, export::BUNDLE_FILE.to_string(), "application/zip", job, Some(notice));
}
