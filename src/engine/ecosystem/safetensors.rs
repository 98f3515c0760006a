//! A minimal reader (and, for tests and fixtures, writer) of the
//! safetensors container, written from the published format description:
//!
//! ```text
//! [8 bytes: N, unsigned little-endian 64-bit]
//! [N bytes: UTF-8 JSON object, may be padded with trailing spaces]
//!     { "<tensor name>": { "dtype": "I64", "shape": [256], "data_offsets": [begin, end] },
//!       "__metadata__": { "<key>": "<string>" } }      (optional)
//! [the byte buffer: tensor data, raw little-endian, row-major]
//! ```
//!
//! `data_offsets` are relative to the start of the byte buffer (just after
//! the header), `end` exclusive. Every problem is an [`Error`] naming the
//! file and, where it applies, the tensor; nothing here can panic on any
//! input (all arithmetic on sizes taken from the file is checked).

use crate::engine::json::{self, Value};

use crate::engine::error::{Error, Result};

/// Element types this reader can turn into numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    I32,
    I64,
    F32,
    F64,
    BF16,
    F16,
}

impl Dtype {
    pub fn parse(s: &str) -> Option<Dtype> {
        match s {
            "I32" => Some(Dtype::I32),
            "I64" => Some(Dtype::I64),
            "F32" => Some(Dtype::F32),
            "F64" => Some(Dtype::F64),
            "BF16" => Some(Dtype::BF16),
            "F16" => Some(Dtype::F16),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::I32 => "I32",
            Dtype::I64 => "I64",
            Dtype::F32 => "F32",
            Dtype::F64 => "F64",
            Dtype::BF16 => "BF16",
            Dtype::F16 => "F16",
        }
    }
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::I32 | Dtype::F32 => 4,
            Dtype::I64 | Dtype::F64 => 8,
            Dtype::BF16 | Dtype::F16 => 2,
        }
    }
}

/// Byte size of the element types the format defines but this reader does
/// not convert (so their byte ranges can still be checked).
fn other_dtype_size(s: &str) -> Option<usize> {
    match s {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => Some(1),
        "U16" | "I16" => Some(2),
        "U32" => Some(4),
        "U64" => Some(8),
        _ => None,
    }
}

/// One tensor's entry in the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// The dtype as written in the header (e.g. `I64`).
    pub dtype: String,
    pub shape: Vec<usize>,
    /// `[begin, end)` in the byte buffer.
    pub data_offsets: (usize, usize),
}

impl TensorInfo {
    /// Number of elements (product of the shape; 1 for a scalar).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed safetensors file borrowing its bytes.
#[derive(Debug, Clone)]
pub struct SafeTensors<'a> {
    file: String,
    /// Tensors sorted by name (the header is a JSON object: its order means nothing).
    pub tensors: Vec<TensorInfo>,
    /// `__metadata__`, when present (string values only, sorted by key).
    pub metadata: Vec<(String, String)>,
    data: &'a [u8],
}

/// Headers larger than this are refused (the format's own reference caps it at 100 MB).
pub const MAX_HEADER: usize = 100_000_000;

impl<'a> SafeTensors<'a> {
    /// Parse the header of `bytes` (the contents of `file`) and check every
    /// tensor's byte range against the buffer.
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>> {
        let ferr = |m: String| Error::file(file, m);
        if bytes.len() < 8 {
            return Err(ferr(format!(
                "not a safetensors file: {} bytes, shorter than the 8-byte header length",
                bytes.len()
            )));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[..8]);
        let n = u64::from_le_bytes(len8);
        let n = usize::try_from(n).ok().filter(|&n| n <= MAX_HEADER).ok_or_else(|| {
            ferr(format!("safetensors header length {n} is larger than the {MAX_HEADER}-byte limit (broken or not a safetensors file)"))
        })?;
        let end = 8usize.checked_add(n).filter(|&e| e <= bytes.len()).ok_or_else(|| {
            ferr(format!(
                "safetensors header is truncated: it says {n} bytes but only {} follow the length",
                bytes.len() - 8
            ))
        })?;
        let header = std::str::from_utf8(&bytes[8..end])
            .map_err(|e| ferr(format!("safetensors header is not UTF-8 text: {e}")))?;
        let json: Value = json::parse(header.as_bytes())
            .map_err(|e| ferr(format!("safetensors header is not valid JSON: {e}")))?;
        let obj = json
            .as_object()
            .ok_or_else(|| ferr("safetensors header must be a JSON object of tensors".to_string()))?;
        let data = &bytes[end..];
        let mut tensors = Vec::with_capacity(obj.len());
        let mut metadata = Vec::new();
        for (name, v) in obj {
            if name == "__metadata__" {
                let m = v
                    .as_object()
                    .ok_or_else(|| ferr("safetensors __metadata__ must be an object of strings".to_string()))?;
                for (k, val) in m {
                    let s = val.as_str().ok_or_else(|| {
                        ferr(format!("safetensors __metadata__ entry '{k}' must be a string"))
                    })?;
                    metadata.push((k.clone(), s.to_string()));
                }
                continue;
            }
            let terr = |m: String| Error::file(file, format!("tensor '{name}': {m}"));
            v.as_object().ok_or_else(|| terr("header entry must be an object".into()))?;
            let t = v;
            let dtype = t
                .get("dtype")
                .and_then(Value::as_str)
                .ok_or_else(|| terr("missing or non-string 'dtype'".into()))?
                .to_string();
            let shape_v = t
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| terr("missing or non-array 'shape'".into()))?;
            let mut shape = Vec::with_capacity(shape_v.len());
            for (i, d) in shape_v.iter().enumerate() {
                let d = d
                    .as_u64()
                    .and_then(|d| usize::try_from(d).ok())
                    .ok_or_else(|| terr(format!("shape[{i}] must be a non-negative integer, got {d}")))?;
                shape.push(d);
            }
            let off = t
                .get("data_offsets")
                .and_then(Value::as_array)
                .filter(|a| a.len() == 2)
                .ok_or_else(|| terr("'data_offsets' must be an array [begin, end]".into()))?;
            let get_off = |i: usize| {
                off[i]
                    .as_u64()
                    .and_then(|x| usize::try_from(x).ok())
                    .ok_or_else(|| terr(format!("data_offsets[{i}] must be a non-negative integer, got {}", off[i])))
            };
            let (b, e) = (get_off(0)?, get_off(1)?);
            if b > e {
                return Err(terr(format!("data_offsets [{b}, {e}] run backwards")));
            }
            if e > data.len() {
                return Err(terr(format!(
                    "data_offsets [{b}, {e}] are out of range: the data buffer holds {} bytes (truncated file?)",
                    data.len()
                )));
            }
            let size = Dtype::parse(&dtype).map(Dtype::size).or_else(|| other_dtype_size(&dtype));
            if let Some(size) = size {
                let numel = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
                let want = numel.and_then(|n| n.checked_mul(size));
                if want != Some(e - b) {
                    return Err(terr(format!(
                        "shape {shape:?} of {dtype} needs {} bytes but data_offsets [{b}, {e}] span {}",
                        want.map_or("too many".to_string(), |w| w.to_string()),
                        e - b
                    )));
                }
            }
            tensors.push(TensorInfo { name: name.clone(), dtype, shape, data_offsets: (b, e) });
        }
        // No two tensors may share bytes (the format lays them out one after
        // the other): so what the tensors hold together, and what a reader
        // allocates for them, is bounded by the bytes actually present.
        let mut spans: Vec<(usize, usize, &str)> =
            tensors.iter().filter(|t| t.data_offsets.1 > t.data_offsets.0).map(|t| (t.data_offsets.0, t.data_offsets.1, t.name.as_str())).collect();
        crate::engine::order::sort_by(&mut spans, |a, b| a.cmp(b));
        for w in spans.windows(2) {
            if w[1].0 < w[0].1 {
                return Err(Error::file(
                    file,
                    format!(
                        "tensors '{}' [{}, {}] and '{}' [{}, {}] overlap (each tensor has bytes of its own)",
                        w[0].2, w[0].0, w[0].1, w[1].2, w[1].0, w[1].1
                    ),
                ));
            }
        }
        crate::engine::order::sort_by(&mut tensors, |a, b| a.name.cmp(&b.name));
        crate::engine::order::sort_by(&mut metadata, |a, b| a.cmp(b));
        Ok(SafeTensors { file: file.to_string(), tensors, metadata, data })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor.
    pub fn bytes(&self, t: &TensorInfo) -> Result<&'a [u8]> {
        self.data.get(t.data_offsets.0..t.data_offsets.1).ok_or_else(|| {
            Error::file(&self.file, format!("tensor '{}': data_offsets out of range", t.name))
        })
    }

    /// A tensor's values as `f64`, row-major. Integers beyond 2^53 lose
    /// precision (expert counts never get there).
    pub fn read_f64(&self, t: &TensorInfo) -> Result<Vec<f64>> {
        let dt = Dtype::parse(&t.dtype).ok_or_else(|| {
            Error::file(
                &self.file,
                format!(
                    "tensor '{}': dtype {} is not supported (supported: I32, I64, F32, F64, BF16, F16)",
                    t.name, t.dtype
                ),
            )
        })?;
        let raw = self.bytes(t)?;
        let sz = dt.size();
        if raw.len() % sz != 0 {
            return Err(Error::file(&self.file, format!("tensor '{}': byte length {} is not a multiple of {sz}", t.name, raw.len())));
        }
        let mut out = Vec::with_capacity(raw.len() / sz);
        for c in raw.chunks_exact(sz) {
            let v = match dt {
                Dtype::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                Dtype::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
                Dtype::I64 => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f64,
                Dtype::F64 => f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
                Dtype::BF16 => f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16) as f64,
                Dtype::F16 => f16_to_f64(u16::from_le_bytes([c[0], c[1]])),
            };
            out.push(v);
        }
        Ok(out)
    }
}

/// IEEE 754 half precision to f64 (subnormals, infinities and NaN included).
pub fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f64;
    let mag = match exp {
        0 => man * 2f64.powi(-24),
        31 => {
            if man == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        _ => (1.0 + man / 1024.0) * 2f64.powi(exp - 15),
    };
    sign * mag
}

/// One tensor to write with [`encode`]: name, dtype, shape and its raw
/// little-endian bytes.
#[derive(Debug, Clone)]
pub struct RawTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl RawTensor {
    pub fn i64(name: impl Into<String>, values: &[i64]) -> RawTensor {
        RawTensor {
            name: name.into(),
            dtype: Dtype::I64,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    pub fn i32(name: impl Into<String>, values: &[i32]) -> RawTensor {
        RawTensor {
            name: name.into(),
            dtype: Dtype::I32,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    pub fn f32(name: impl Into<String>, values: &[f32]) -> RawTensor {
        RawTensor {
            name: name.into(),
            dtype: Dtype::F32,
            shape: vec![values.len()],
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// Write a safetensors file (tensors laid out in the given order, header
/// padded with spaces to a multiple of 8 bytes). Used by tests and to
/// make small fixtures; the reader never depends on it.
pub fn encode(tensors: &[RawTensor]) -> Vec<u8> {
    let mut header = Vec::with_capacity(tensors.len());
    let mut off = 0usize;
    for t in tensors {
        let o = vec![
            ("dtype".to_string(), Value::from(t.dtype.name())),
            ("shape".to_string(), Value::from(t.shape.clone())),
            ("data_offsets".to_string(), Value::from(vec![off, off + t.bytes.len()])),
        ];
        header.push((t.name.clone(), Value::sorted_object(o)));
        off += t.bytes.len();
    }
    let mut h = Value::sorted_object(header).to_string().into_bytes();
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + h.len() + off);
    out.extend_from_slice(&(h.len() as u64).to_le_bytes());
    out.extend_from_slice(&h);
    for t in tensors {
        out.extend_from_slice(&t.bytes);
    }
    out
}
