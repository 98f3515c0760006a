//! Files written by `torch.save` (PyTorch 1.6 and later): a zip archive
//! holding `<archive>/data.pkl` (a pickle, protocol 2 by default), the raw
//! bytes of every storage as `<archive>/data/<key>`, `<archive>/version`
//! and, in newer versions, `<archive>/byteorder` (`little` or `big`;
//! absent means little-endian). `<archive>` is usually the file's stem or
//! `archive`.
//!
//! In the pickle a tensor is the call
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata])`
//! whose `storage` is a persistent id
//! `('storage', torch.<Type>Storage, key, location, numel)`. We read dense
//! tensors of the plain numeric types (any strides, views included) into
//! `f64`; anything else (sparse, quantized, nested tensors, TorchScript
//! archives, the legacy non-zip format) is an error naming what was found.
//!
//! Memory: the archive is read in place (stored entries are borrowed, not
//! copied); a tensor is only materialised after its element span was
//! checked against its storage's bytes, and a broadcast (stride-0) view may
//! expand to at most 64 values per byte of the file.

use std::borrow::Cow;
use std::cell::RefCell;
use crate::engine::sorted_map::SortedMap;
use std::rc::Rc;

use super::pickle::{self, Object, Pickle, Value};
use super::safetensors::f16_to_f64;
use crate::engine::error::{Error, Result};
use crate::engine::zip;

/// The element types of torch storages we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    /// From a storage class name (`LongStorage`, ...).
    pub fn of_storage(name: &str) -> Option<Dtype> {
        Some(match name {
            "DoubleStorage" => Dtype::F64,
            "FloatStorage" => Dtype::F32,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }
    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "float64",
            Dtype::F32 => "float32",
            Dtype::F16 => "float16",
            Dtype::BF16 => "bfloat16",
            Dtype::I64 => "int64",
            Dtype::I32 => "int32",
            Dtype::I16 => "int16",
            Dtype::I8 => "int8",
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
        }
    }
    fn read(self, b: &[u8], big: bool) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let mut a = [0u8; $n];
                a.copy_from_slice(&b[..$n]);
                (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
            }};
        }
        match self {
            Dtype::F64 => num!(f64, 8),
            Dtype::F32 => num!(f32, 4),
            Dtype::I64 => num!(i64, 8),
            Dtype::I32 => num!(i32, 4),
            Dtype::I16 => num!(i16, 2),
            Dtype::I8 => b[0] as i8 as f64,
            Dtype::U8 => b[0] as f64,
            Dtype::Bool => f64::from(u8::from(b[0] != 0)),
            Dtype::F16 => {
                let h = if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) };
                f16_to_f64(h)
            }
            Dtype::BF16 => {
                let h = if big { u16::from_be_bytes([b[0], b[1]]) } else { u16::from_le_bytes([b[0], b[1]]) };
                f32::from_bits((h as u32) << 16) as f64
            }
        }
    }
}

/// A dense tensor read into `f64`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl Tensor {
    pub fn describe(&self) -> String {
        format!("a tensor of dtype {}, shape {:?}", self.dtype.name(), self.shape)
    }
}

/// An opened `torch.save` file: its pickle and its storages.
pub struct TorchFile<'a> {
    /// The file's path, for messages.
    pub file: String,
    pub pickle: Pickle,
    storages: SortedMap<String, zip::ZipEntry<'a>>,
    /// Storages read so far (each checked and inflated once).
    loaded: RefCell<SortedMap<String, Rc<Cow<'a, [u8]>>>>,
    big_endian: bool,
    file_len: usize,
    /// Values still allowed to be materialised (64 per byte of the file).
    budget: std::cell::Cell<u64>,
}

/// At most this many values are read from one file (and at most 64 per byte of it).
pub const MAX_VALUES: u64 = 1 << 27;

impl<'a> TorchFile<'a> {
    /// Open the archive in `bytes` (see the module documentation).
    pub fn open(file: &str, bytes: &'a [u8]) -> Result<TorchFile<'a>> {
        let ferr = |m: String| Error::file(file, m);
        if bytes.len() >= 2 && bytes[0] == 0x80 && bytes[1] <= 5 {
            return Err(ferr(
                "a torch file in the legacy format (a bare pickle, written by PyTorch before 1.6 or with _use_new_zipfile_serialization=False), which is not supported: load and save it again with a current PyTorch".into(),
            ));
        }
        if !bytes.starts_with(b"PK") {
            return Err(ferr("not a torch.save archive (a .pt file is a zip archive starting with 'PK')".into()));
        }
        let entries = zip::entries(bytes).map_err(|e| ferr(e.message))?;
        let pkl = entries
            .iter()
            .filter(|e| e.name.ends_with("/data.pkl") || e.name == "data.pkl")
            .min_by_key(|e| e.name.matches('/').count())
            .ok_or_else(|| {
                let names: Vec<&str> = entries.iter().take(6).map(|e| e.name.as_str()).collect();
                if entries.iter().any(|e| e.name.ends_with("constants.pkl") || e.name.contains("/code/")) {
                    ferr("a TorchScript archive (torch.jit.save), not a torch.save file of a recorder dump".into())
                } else {
                    ferr(format!("a zip archive without data.pkl, so not a torch.save file (it holds {})", if names.is_empty() { "nothing".to_string() } else { names.join(", ") }))
                }
            })?;
        let prefix = pkl.name[..pkl.name.len() - "data.pkl".len()].to_string();
        let data_prefix = format!("{prefix}data/");
        let pkl_bytes = pkl.bytes().map_err(|e| ferr(e.message))?;
        let pickle = pickle::load(&pkl_bytes).map_err(|m| ferr(format!("{}data.pkl: {m}", prefix)))?;
        let mut big_endian = false;
        for e in &entries {
            if e.name == format!("{prefix}byteorder") {
                let b = e.bytes().map_err(|x| ferr(x.message))?;
                big_endian = match &*b {
                    b"little" => false,
                    b"big" => true,
                    other => return Err(ferr(format!("byteorder is '{}', expected 'little' or 'big'", String::from_utf8_lossy(&other[..other.len().min(20)])))),
                };
            }
        }
        // The storage entries, by key: checked (CRC) and inflated only when a
        // tensor is read (a checkpoint dropped by mistake is refused by its
        // keys before any of its weights is touched).
        // The last entry of a name wins.
        let storages: SortedMap<String, zip::ZipEntry<'a>> = entries
            .into_iter()
            .filter_map(|e| Some((e.name.strip_prefix(&data_prefix)?.to_string(), e)))
            .filter(|(k, _)| !k.is_empty() && !k.contains('/'))
            .collect();
        let budget = (bytes.len() as u64).saturating_mul(64).min(MAX_VALUES);
        Ok(TorchFile {
            file: file.to_string(),
            pickle,
            storages,
            loaded: RefCell::new(SortedMap::new()),
            big_endian,
            file_len: bytes.len(),
            budget: std::cell::Cell::new(budget),
        })
    }

    /// The top-level value.
    pub fn root(&self) -> &Value {
        &self.pickle.root
    }

    /// What `v` is, in words (tensors with their type and shape).
    pub fn describe(&self, v: &Value) -> String {
        match self.tensor_header(v) {
            Some(Ok(h)) => format!("a tensor of dtype {}, shape {:?}", h.dtype.name(), h.shape),
            _ => self.pickle.kind(v),
        }
    }

    /// `Some` when `v` is a call of `torch._utils._rebuild_tensor_v2` (or
    /// another tensor rebuild function, which is an error).
    fn tensor_header(&self, v: &Value) -> Option<Result<Header>> {
        let Some(Object::Call { func, args, .. }) = self.pickle.obj(v) else { return None };
        let (module, name) = self.pickle.global(func)?;
        if !(module.starts_with("torch")) || !name.starts_with("_rebuild") {
            return None;
        }
        let ferr = |m: String| Error::file(&self.file, m);
        if (module, name) != ("torch._utils", "_rebuild_tensor_v2") && (module, name) != ("torch._utils", "_rebuild_tensor") {
            return Some(Err(ferr(format!("a tensor rebuilt by {module}.{name} (sparse, quantized or another special tensor), which is not supported; only dense tensors are read"))));
        }
        Some(self.header(args).map_err(ferr))
    }

    fn header(&self, args: &Value) -> std::result::Result<Header, String> {
        let p = &self.pickle;
        let a = p.seq(args).ok_or("the tensor's arguments are not a tuple")?;
        if a.len() < 4 {
            return Err(format!("the tensor's arguments have {} items, expected at least 4", a.len()));
        }
        let Some(Object::Persistent(pid)) = p.obj(&a[0]) else {
            return Err(format!("the tensor's storage is {}, not a storage reference", p.kind(&a[0])));
        };
        let pid = p.seq(pid).ok_or("the storage reference is not a tuple")?;
        if pid.len() < 5 || !matches!(&pid[0], Value::Str(s) if &**s == "storage") {
            return Err("the storage reference is not ('storage', type, key, location, numel)".into());
        }
        let dtype = match p.global(&pid[1]) {
            Some((_, n)) => Dtype::of_storage(n).ok_or_else(|| format!("storage type {n} is not supported"))?,
            None => return Err(format!("the storage type is {}, not a torch storage class", p.kind(&pid[1]))),
        };
        let key = match &pid[2] {
            Value::Str(k) => k.to_string(),
            other => return Err(format!("the storage key is {}, not a string", p.kind(other))),
        };
        let int = |v: &Value, what: &str| -> std::result::Result<usize, String> {
            match v {
                Value::Int(i) if *i >= 0 => Ok(*i as usize),
                other => Err(format!("the tensor's {what} is {}, not a non-negative integer", p.short(other))),
            }
        };
        let ints = |v: &Value, what: &str| -> std::result::Result<Vec<usize>, String> {
            p.seq(v).ok_or_else(|| format!("the tensor's {what} is not a tuple"))?.iter().map(|x| int(x, what)).collect()
        };
        let offset = int(&a[1], "storage offset")?;
        let shape = ints(&a[2], "size")?;
        let stride = ints(&a[3], "stride")?;
        if stride.len() != shape.len() {
            return Err(format!("the tensor has {} sizes but {} strides", shape.len(), stride.len()));
        }
        Ok(Header { dtype, key, offset, shape, stride })
    }

    /// The tensor `v` is, read into `f64` (`Ok(None)` when `v` is not a tensor).
    pub fn tensor(&self, v: &Value) -> Result<Option<Tensor>> {
        let h = match self.tensor_header(v) {
            None => return Ok(None),
            Some(h) => h?,
        };
        let ferr = |m: String| Error::file(&self.file, m);
        let es = h.dtype.size();
        let numel = h.shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64)).ok_or_else(|| ferr(format!("tensor shape {:?} is too large", h.shape)))?;
        if numel > self.budget.get() {
            return Err(ferr(format!(
                "a tensor of shape {:?} ({numel} values) is larger than this {}-byte file can hold (at most {} more values are read from it)",
                h.shape,
                self.file_len,
                self.budget.get()
            )));
        }
        let storage = self.storage(&h.key)?;
        if numel > 0 {
            // Highest element index, checked against the storage's bytes.
            let mut last = h.offset as u64;
            for (&d, &s) in h.shape.iter().zip(&h.stride) {
                last = last.checked_add((d as u64 - 1).checked_mul(s as u64).ok_or_else(|| ferr("tensor strides overflow".into()))?).ok_or_else(|| ferr("tensor strides overflow".into()))?;
            }
            let need = last.checked_add(1).and_then(|n| n.checked_mul(es as u64)).unwrap_or(u64::MAX);
            if need > storage.len() as u64 {
                return Err(ferr(format!(
                    "the tensor of shape {:?} needs {need} bytes of its storage data/{} but it has {}",
                    h.shape,
                    h.key,
                    storage.len()
                )));
            }
        }
        self.budget.set(self.budget.get() - numel);
        let mut data = Vec::with_capacity(numel as usize);
        if numel > 0 {
            let nd = h.shape.len();
            let mut idx = vec![0usize; nd];
            loop {
                let e: usize = h.offset + idx.iter().zip(&h.stride).map(|(i, s)| i * s).sum::<usize>();
                data.push(h.dtype.read(&storage[e * es..e * es + es], self.big_endian));
                // Next index (row-major).
                let mut k = nd;
                loop {
                    if k == 0 {
                        return Ok(Some(Tensor { dtype: h.dtype, shape: h.shape, data }));
                    }
                    k -= 1;
                    idx[k] += 1;
                    if idx[k] < h.shape[k] {
                        break;
                    }
                    idx[k] = 0;
                }
            }
        }
        Ok(Some(Tensor { dtype: h.dtype, shape: h.shape, data }))
    }
}

impl<'a> TorchFile<'a> {
    /// The bytes of storage `key` (read once, then shared).
    fn storage(&self, key: &str) -> Result<Rc<Cow<'a, [u8]>>> {
        if let Some(b) = self.loaded.borrow().get(key) {
            return Ok(b.clone());
        }
        let e = self
            .storages
            .get(key)
            .ok_or_else(|| Error::file(&self.file, format!("the tensor's storage data/{key} is missing from the archive")))?;
        // A deflated storage may not inflate past what the value budget allows
        // (8 bytes for each of 64 values per byte of the file).
        if e.method != 0 && e.size as u64 > (self.file_len as u64).saturating_mul(512) {
            return Err(Error::file(&self.file, format!("storage data/{key} inflates to {} bytes, more than this {}-byte file may hold", e.size, self.file_len)));
        }
        let b = Rc::new(e.bytes().map_err(|x| Error::file(&self.file, x.message))?);
        self.loaded.borrow_mut().insert(key.to_string(), b.clone());
        Ok(b)
    }
}

struct Header {
    dtype: Dtype,
    key: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}
