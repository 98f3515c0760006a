//! A plain load matrix `[layers x experts]` (formats.md §4): CSV with or
//! without a header row, or JSON `[[...], ...]` (also `{"weight": [[...]]}`).

use crate::engine::json::Value;

use super::csv_text::parse_float_csv;
use crate::engine::error::{Error, Result};
use crate::engine::model::LoadMatrix;

/// Read a CSV load matrix.
pub fn read_matrix_csv(file: &str, bytes: &[u8]) -> Result<LoadMatrix> {
    let (m, _header) = parse_float_csv(file, bytes)?;
    Ok(LoadMatrix { layers: m.rows, experts: m.cols, data: m.data })
}

/// The keys under which an object may hold the matrix.
pub const MATRIX_KEYS: [&str; 5] = ["weight", "loads", "load", "expert_load", "hotness"];

/// Whether a JSON value looks like a load matrix (an array of arrays, or an
/// object holding one under a known key).
pub fn looks_like_matrix(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.first().is_some_and(|x| x.is_array()),
        Value::Object(_) => MATRIX_KEYS.iter().any(|k| v.get(k).is_some_and(|x| matches!(x, Value::Array(a) if a.first().is_some_and(|y| y.is_array())))),
        _ => false,
    }
}

/// Read a JSON load matrix from a parsed value.
pub fn read_matrix_json(file: &str, v: &Value) -> Result<LoadMatrix> {
    let arr = match v {
        Value::Array(a) => a,
        Value::Object(_) => match MATRIX_KEYS.iter().find_map(|k| v.get(k)) {
            Some(Value::Array(a)) => a,
            _ => return Err(Error::file(file, "expected a load matrix [[...], ...] (layers x experts)")),
        },
        _ => return Err(Error::file(file, "expected a load matrix [[...], ...] (layers x experts)")),
    };
    if arr.is_empty() {
        return Err(Error::file(file, "the load matrix has no rows"));
    }
    let mut cols = None;
    let mut data = Vec::new();
    for (l, row) in arr.iter().enumerate() {
        let row = match row.as_array() {
            Some(r) => r,
            None => return Err(Error::file(file, format!("layer {l} (row {}) of the load matrix is not a list of numbers", l + 1))),
        };
        match cols {
            None => cols = Some(row.len()),
            Some(c) if c != row.len() => {
                return Err(Error::file(
                    file,
                    format!("row {} of the load matrix has {} values but row 1 has {c}: every layer must list every expert", l + 1, row.len()),
                ))
            }
            _ => {}
        }
        for (e, x) in row.iter().enumerate() {
            match x.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 => data.push(f),
                _ => {
                    return Err(Error::file(
                        file,
                        format!("row {}, value {}: loads must be non-negative numbers, found {x}", l + 1, e + 1),
                    ))
                }
            }
        }
    }
    let cols = cols.unwrap_or(0);
    if cols == 0 {
        return Err(Error::file(file, "the load matrix has no columns"));
    }
    Ok(LoadMatrix { layers: arr.len(), experts: cols, data })
}
