//! Format 1: the summed hotspot folder (formats.md §1).

use super::ranks::{load_rank, PhaseFiles};
use crate::engine::error::{Error, Result};
use crate::engine::model::{LoadMatrix, PhaseData, PhaseInfo, SourceFormat};

/// Read one phase of a summed folder: the ranks' `[layers x slots]` matrices
/// concatenated column-wise in rank order, rows cut to the shortest file.
pub fn read_summed(pf: &PhaseFiles<'_>, warnings: &mut Vec<String>) -> Result<PhaseData> {
    pf.check_gaps()?;
    let mut info = PhaseInfo::default();
    let mut mats = Vec::with_capacity(pf.ranks.len());
    for (&rank, entries) in &pf.ranks {
        mats.push(load_rank(rank, entries, &mut info, warnings)?);
    }
    let rows = mats.iter().map(|r| r.m.rows).min().unwrap_or(0);
    let max_rows = mats.iter().map(|r| r.m.rows).max().unwrap_or(0);
    if rows == 0 {
        return Err(Error::msg(format!("the {} files hold no rows", pf.phase.name())));
    }
    if rows != max_rows {
        let shortest = mats.iter().find(|r| r.m.rows == rows).map(|r| r.path.clone()).unwrap_or_default();
        warnings.push(format!(
            "{}: the rank files have between {rows} and {max_rows} rows; all were cut to the shortest ({shortest}, {rows} rows = layers)",
            pf.phase.name()
        ));
    }
    let experts: usize = mats.iter().map(|r| r.m.cols).sum();
    let mut m = LoadMatrix::new(rows, experts);
    let mut off = 0;
    for r in &mats {
        for l in 0..rows {
            let src = r.m.row(l);
            let dst = &mut m.data[l * experts + off..l * experts + off + r.m.cols];
            for (d, &s) in dst.iter_mut().zip(src) {
                *d = s as f64;
            }
        }
        off += r.m.cols;
    }
    info.ranks = mats.len();
    info.dumps = 1;
    info.intervals_kept = 1;
    let mut pd = PhaseData::from_summed(pf.phase, SourceFormat::Summed, m);
    pd.info = info;
    Ok(pd)
}
