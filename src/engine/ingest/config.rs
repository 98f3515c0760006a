//! `model_gen_config.json`: the marker and parameters of a time-series dump
//! (formats.md §2).

use crate::engine::json::{self, Value};

use super::csv_text::decode_text;
use crate::engine::error::{Error, Result};

/// The fields of `model_gen_config.json` that matter.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    /// `num_moe_layers` (L), default 1.
    pub layers: usize,
    /// `num_of_experts` (E), default 1.
    pub experts: usize,
    /// `collection_Interval`: tokens between two dumps, default 8.
    pub interval: f64,
    /// `num_of_selected_experts[0]`: top-k (required).
    pub top_k: usize,
    /// `num_dangling_shared_experts`, default 0.
    pub dangling: usize,
    /// `eplb_expert_map_file`, when present and not empty.
    pub map_file: Option<String>,
}

/// Largest accepted layer / expert / top-k count (guards allocations).
const MAX_COUNT: u64 = 1 << 20;

/// A JSON error of `file` as the engine's error (its line and column as the cell).
pub(crate) fn json_error(file: &str, e: &json::Error, what: &str) -> Error {
    let msg = e.message();
    if e.line() > 0 {
        Error::cell(file, e.line(), e.column(), format!("{what}: {msg}"))
    } else {
        Error::file(file, format!("{what}: {msg}"))
    }
}

/// Parse bytes as JSON (after BOM / UTF-16 decoding); errors name line and column.
pub fn parse_json(file: &str, bytes: &[u8], what: &str) -> Result<Value> {
    let text = decode_text(file, bytes)?;
    json::parse(&text).map_err(|e| json_error(file, &e, what))
}

fn int_field(file: &str, obj: &Value, key: &str, default: Option<u64>, min: u64) -> Result<u64> {
    let v = match obj.get(key) {
        None | Some(Value::Null) => match default {
            Some(d) => return Ok(d),
            None => return Err(Error::file(file, format!("the field `{key}` is required"))),
        },
        Some(v) => v,
    };
    let n = as_count(v).ok_or_else(|| Error::file(file, format!("the field `{key}` must be a non-negative whole number, found {}", short(v))))?;
    if n < min {
        return Err(Error::file(file, format!("the field `{key}` must be at least {min}, found {n}")));
    }
    if n > MAX_COUNT {
        return Err(Error::file(file, format!("the field `{key}` is {n}, larger than the supported {MAX_COUNT}")));
    }
    Ok(n)
}

fn as_count(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let f = v.as_f64()?;
    if f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f < 9.0e15 {
        Some(f as u64)
    } else {
        None
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

/// Read `model_gen_config.json`.
pub fn read_config(file: &str, bytes: &[u8]) -> Result<GenConfig> {
    let v = parse_json(file, bytes, "model_gen_config.json is not valid JSON")?;
    if v.as_object().is_none() {
        return Err(Error::file(file, "model_gen_config.json must hold a JSON object {...}"));
    }
    let obj = &v;
    let layers = int_field(file, obj, "num_moe_layers", Some(1), 1)? as usize;
    let experts = int_field(file, obj, "num_of_experts", Some(1), 1)? as usize;
    let interval = match obj.get("collection_Interval") {
        None | Some(Value::Null) => 8.0,
        Some(v) => match v.as_f64() {
            Some(f) if f.is_finite() && f >= 0.0 => f,
            _ => {
                return Err(Error::file(
                    file,
                    format!("the field `collection_Interval` must be a non-negative number, found {}", short(v)),
                ))
            }
        },
    };
    let top_k = match obj.get("num_of_selected_experts") {
        None | Some(Value::Null) => {
            return Err(Error::file(file, "the field `num_of_selected_experts` is required (a list whose first element is top-k)"))
        }
        Some(Value::Array(a)) => match a.first() {
            None => return Err(Error::file(file, "the field `num_of_selected_experts` is an empty list: its first element must be top-k")),
            Some(x) => match as_count(x) {
                Some(k) if (1..=MAX_COUNT).contains(&k) => k as usize,
                _ => {
                    return Err(Error::file(
                        file,
                        format!("the field `num_of_selected_experts` must start with a positive whole number (top-k), found {}", short(x)),
                    ))
                }
            },
        },
        Some(v) => {
            return Err(Error::file(
                file,
                format!("the field `num_of_selected_experts` must be a list like [8] (its first element is top-k), found {}", short(v)),
            ))
        }
    };
    let dangling = int_field(file, obj, "num_dangling_shared_experts", Some(0), 0)? as usize;
    let map_file = match obj.get("eplb_expert_map_file") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(v) => return Err(Error::file(file, format!("the field `eplb_expert_map_file` must be a file path (a string), found {}", short(v)))),
    };
    if top_k > experts {
        return Err(Error::file(
            file,
            format!("the field `num_of_selected_experts` gives top-k = {top_k}, more than `num_of_experts` = {experts}"),
        ));
    }
    Ok(GenConfig { layers, experts, interval, top_k, dangling, map_file })
}

/// The file-name part of a path written on another machine (`/` or `\`).
pub fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}
