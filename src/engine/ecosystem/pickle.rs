//! A restricted reader of Python pickles (protocols 0-5), enough for the
//! `data.pkl` of a `torch.save` archive: it builds plain values (None,
//! bools, integers, floats, strings, bytes) and containers (lists, tuples,
//! dicts, sets) and records every global reference, call (`REDUCE`),
//! object creation (`NEWOBJ`, `BUILD`) and persistent id as data. Nothing
//! is imported or run: the caller decides what a recorded call means
//! (`torch._utils._rebuild_tensor_v2` becomes a tensor in [`super::torch_pt`]).
//!
//! Memory: every opcode reads at least one byte and creates at most one
//! value, strings are checked against the bytes left before they are
//! copied, and the memo is a vector whose indices may not exceed the
//! pickle's length in bytes (every PUT takes at least two bytes, so a
//! pickle's own indices stay below it; a `LONG_BINPUT` index of 4 billion is
//! an error, not 4 billion slots), so what is allocated is linear in the
//! pickle's size. The machine is a loop (no recursion), so deeply nested
//! containers cannot overflow the stack.

use std::rc::Rc;

/// A value on the pickle machine's stack. Containers and recorded calls
/// live in [`Pickle::objects`] and are referred to by index.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Shared, so a memoised string fetched many times is never copied.
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// An object of [`Pickle::objects`].
    Obj(usize),
}

/// A container or a recorded operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    /// `module.name` (GLOBAL / STACK_GLOBAL).
    Global { module: String, name: String },
    /// `func(*args)` (REDUCE), or `cls.__new__(cls, *args)` (NEWOBJ), with
    /// what was added to the result afterwards: dict items (SETITEM(S)),
    /// list items (APPEND(S)) and the `__setstate__` argument (BUILD).
    Call { func: Value, args: Value, items: Vec<(Value, Value)>, list: Vec<Value>, state: Option<Value> },
    /// A persistent id (PERSID / BINPERSID): torch's storage references.
    Persistent(Value),
}

/// The result of [`load`]: the value `STOP` returned and the objects it
/// refers to.
#[derive(Debug, Clone, PartialEq)]
pub struct Pickle {
    pub root: Value,
    pub objects: Vec<Object>,
}

impl Pickle {
    pub fn obj(&self, v: &Value) -> Option<&Object> {
        match v {
            Value::Obj(i) => self.objects.get(*i),
            _ => None,
        }
    }
    /// Items of a dict, or of an object a dict was filled into (OrderedDict).
    pub fn dict_items(&self, v: &Value) -> Option<&[(Value, Value)]> {
        match self.obj(v)? {
            Object::Dict(items) => Some(items),
            Object::Call { items, .. } => Some(items),
            _ => None,
        }
    }
    /// Items of a list or tuple.
    pub fn seq(&self, v: &Value) -> Option<&[Value]> {
        match self.obj(v)? {
            Object::List(x) | Object::Tuple(x) => Some(x),
            _ => None,
        }
    }
    /// `module.name` of a global.
    pub fn global(&self, v: &Value) -> Option<(&str, &str)> {
        match self.obj(v)? {
            Object::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }
    /// The string keys of a dict, in order (others shown by kind).
    pub fn keys(&self, v: &Value) -> Vec<String> {
        self.dict_items(v).map_or_else(Vec::new, |items| items.iter().map(|(k, _)| self.short(k)).collect())
    }
    /// The value at string key `key` of a dict.
    pub fn get<'a>(&'a self, v: &Value, key: &str) -> Option<&'a Value> {
        self.dict_items(v)?.iter().find(|(k, _)| matches!(k, Value::Str(s) if &**s == key)).map(|(_, x)| x)
    }
    /// A one-line description of a value (for messages; never recursive).
    pub fn short(&self, v: &Value) -> String {
        match v {
            Value::None => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format!("{f}"),
            Value::Str(s) => {
                let mut t: String = s.chars().take(40).collect();
                if t.len() < s.len() {
                    t.push_str("...");
                }
                t
            }
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Obj(_) => self.kind(v),
        }
    }
    /// What kind of value `v` is, in words ("a list of 3 items", "a call of
    /// torch._utils._rebuild_sparse_tensor", ...).
    pub fn kind(&self, v: &Value) -> String {
        match v {
            Value::None => "None".into(),
            Value::Bool(_) => "a bool".into(),
            Value::Int(_) => "an int".into(),
            Value::Float(_) => "a float".into(),
            Value::Str(_) => "a string".into(),
            Value::Bytes(_) => "bytes".into(),
            Value::Obj(i) => match self.objects.get(*i) {
                None => "a dangling reference".into(),
                Some(Object::List(x)) => format!("a list of {} item(s)", x.len()),
                Some(Object::Tuple(x)) => format!("a tuple of {} item(s)", x.len()),
                Some(Object::Dict(x)) => format!("a dict of {} item(s)", x.len()),
                Some(Object::Set(x)) => format!("a set of {} item(s)", x.len()),
                Some(Object::Global { module, name }) => format!("the global {module}.{name}"),
                Some(Object::Call { func, .. }) => match self.global(func) {
                    Some((m, n)) => format!("a {m}.{n} object"),
                    None => "an object built by a call".into(),
                },
                Some(Object::Persistent(_)) => "a persistent reference".into(),
            },
        }
    }
}

/// Why a pickle could not be read (the caller adds the file name).
pub type PickleError = String;

fn op_name(op: u8) -> &'static str {
    match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        _ => "unknown",
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or_else(|| {
            format!("the pickle is cut short (needs {n} more byte(s) at byte {}, has {})", self.at, self.b.len() - self.at)
        })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, PickleError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, PickleError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, PickleError> {
        let s = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }
    /// A length read from the pickle, checked against the bytes left.
    fn len(&mut self, n: u64) -> Result<&'a [u8], PickleError> {
        let n = usize::try_from(n).map_err(|_| format!("a length of {n} bytes at byte {}", self.at))?;
        self.take(n)
    }
    /// A text line (protocol 0 arguments), without its newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.b[self.at..];
        let n = rest.iter().position(|&c| c == b'\n').ok_or_else(|| format!("the pickle is cut short (a text argument at byte {} has no end of line)", self.at))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| format!("a text argument at byte {} is not UTF-8", self.at))?;
        self.at += n + 1;
        Ok(s)
    }
}

/// Little-endian two's complement integer of `bytes` (LONG1 / LONG4).
fn long_le(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() {
        return Some(0);
    }
    if bytes.len() > 8 {
        // Allow sign-extension bytes beyond 8.
        let (lo, hi) = bytes.split_at(8);
        let neg = lo[7] & 0x80 != 0;
        let fill = if neg { 0xFF } else { 0 };
        if !hi.iter().all(|&b| b == fill) {
            return None;
        }
        return long_le(lo);
    }
    let neg = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut a = [if neg { 0xFF } else { 0 }; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(a))
}

/// The pickle machine: the byte reader, the stack with its marks, the memo
/// and the objects built so far. Each group of opcodes is one method; a
/// method returns `Ok(false)` for an opcode that is not its own.
struct Machine<'a> {
    r: Reader<'a>,
    objects: Vec<Object>,
    stack: Vec<Value>,
    marks: Vec<usize>,
    /// The memo by index (Python's pickler numbers its entries 0, 1, 2, …),
    /// and how many indices are set (`MEMOIZE` stores at that one).
    memo: Vec<Option<Value>>,
    memo_len: usize,
}

impl<'a> Machine<'a> {
    fn pop(&mut self, at: usize, op: u8) -> Result<Value, PickleError> {
        self.stack.pop().ok_or_else(|| format!("{} at byte {at} finds the stack empty", op_name(op)))
    }
    /// The values above the last MARK (and the MARK removed).
    fn pop_mark(&mut self, at: usize, op: u8) -> Result<Vec<Value>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| format!("{} at byte {at} has no MARK before it", op_name(op)))?;
        if m > self.stack.len() {
            return Err(format!("{} at byte {at}: the MARK is above the stack", op_name(op)));
        }
        Ok(self.stack.split_off(m))
    }
    fn new_obj(&mut self, o: Object) -> Value {
        self.objects.push(o);
        Value::Obj(self.objects.len() - 1)
    }
    fn push_obj(&mut self, o: Object) {
        let v = self.new_obj(o);
        self.stack.push(v);
    }
    fn target(&mut self, v: &Value, at: usize, op: u8) -> Result<&mut Object, PickleError> {
        match v {
            Value::Obj(i) if *i < self.objects.len() => Ok(&mut self.objects[*i]),
            _ => Err(format!("{} at byte {at} applies to a value that is not a container", op_name(op))),
        }
    }
    fn add_items(&mut self, v: &Value, kv: Vec<Value>, at: usize, op: u8) -> Result<(), PickleError> {
        if kv.len() % 2 != 0 {
            return Err(format!("{} at byte {at} has an odd number of keys and values", op_name(op)));
        }
        let mut it = kv.into_iter();
        let pairs: Vec<(Value, Value)> = std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect();
        match self.target(v, at, op)? {
            Object::Dict(items) | Object::Call { items, .. } => {
                items.extend(pairs);
                Ok(())
            }
            _ => Err(format!("{} at byte {at} sets items on something that is not a dict", op_name(op))),
        }
    }
    fn add_list(&mut self, v: &Value, xs: Vec<Value>, at: usize, op: u8) -> Result<(), PickleError> {
        match self.target(v, at, op)? {
            Object::List(items) | Object::Call { list: items, .. } | Object::Set(items) => {
                items.extend(xs);
                Ok(())
            }
            _ => Err(format!("{} at byte {at} appends to something that is not a list", op_name(op))),
        }
    }

    /// Protocol, frame, MARK, POP, POP_MARK, DUP.
    fn control(&mut self, op: u8, at: usize) -> Result<bool, PickleError> {
        match op {
            0x80 => {
                let p = self.r.u8()?;
                if p > 5 {
                    return Err(format!("pickle protocol {p} is newer than any known (0-5)"));
                }
            }
            0x95 => {
                self.r.u64()?; // FRAME: a length hint only
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop(at, op)?;
            }
            b'1' => {
                self.pop_mark(at, op)?;
            }
            b'2' => {
                let v = self.stack.last().cloned().ok_or_else(|| format!("DUP at byte {at} finds the stack empty"))?;
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Numbers, strings and bytes read from the pickle, pushed.
    fn scalar(&mut self, op: u8, at: usize) -> Result<bool, PickleError> {
        match op {
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'J' => {
                let v = self.r.u32()? as i32;
                self.stack.push(Value::Int(v as i64));
            }
            b'K' => {
                let v = self.r.u8()?;
                self.stack.push(Value::Int(v as i64));
            }
            b'M' => {
                let v = self.r.u16()?;
                self.stack.push(Value::Int(v as i64));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a { self.r.u8()? as u64 } else { self.r.u32()? as u64 };
                let b = self.r.len(n)?;
                let v = long_le(b).ok_or_else(|| format!("an integer at byte {at} does not fit in 64 bits"))?;
                self.stack.push(Value::Int(v));
            }
            b'I' => {
                let s = self.r.line()?;
                let v = match s {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    _ => Value::Int(s.trim().parse().map_err(|_| format!("INT at byte {at}: '{s}' is not an integer"))?),
                };
                self.stack.push(v);
            }
            b'L' => {
                let s = self.r.line()?;
                let t = s.trim().trim_end_matches('L');
                self.stack.push(Value::Int(t.parse().map_err(|_| format!("LONG at byte {at}: '{s}' is not a 64-bit integer"))?));
            }
            b'F' => {
                let s = self.r.line()?;
                self.stack.push(Value::Float(s.trim().parse().map_err(|_| format!("FLOAT at byte {at}: '{s}' is not a number"))?));
            }
            b'G' => {
                let s = self.r.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                self.stack.push(Value::Float(f64::from_be_bytes(a)));
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.r.u32()? as u64,
                    0x8c => self.r.u8()? as u64,
                    _ => self.r.u64()?,
                };
                let b = self.r.len(n)?;
                self.stack.push(Value::Str(String::from_utf8_lossy(b).into()));
            }
            b'V' => {
                let s = self.r.line()?;
                self.stack.push(Value::Str(s.into()));
            }
            b'T' | b'U' => {
                let n = if op == b'T' { self.r.u32()? as u64 } else { self.r.u8()? as u64 };
                let b = self.r.len(n)?;
                self.stack.push(Value::Str(String::from_utf8_lossy(b).into()));
            }
            b'S' => {
                let s = self.r.line()?;
                let t = s.trim();
                let t = t.strip_prefix(['\'', '"']).and_then(|x| x.strip_suffix(['\'', '"'])).unwrap_or(t);
                self.stack.push(Value::Str(t.into()));
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'B' => self.r.u32()? as u64,
                    b'C' => self.r.u8()? as u64,
                    _ => self.r.u64()?,
                };
                let b = self.r.len(n)?;
                self.stack.push(Value::Bytes(b.into()));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Tuples, lists, dicts and sets: built, appended to, set items on.
    fn container(&mut self, op: u8, at: usize) -> Result<bool, PickleError> {
        match op {
            b')' => self.push_obj(Object::Tuple(Vec::new())),
            b']' => self.push_obj(Object::List(Vec::new())),
            b'}' => self.push_obj(Object::Dict(Vec::new())),
            0x8f => self.push_obj(Object::Set(Vec::new())),
            b't' => {
                let xs = self.pop_mark(at, op)?;
                self.push_obj(Object::Tuple(xs));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err(format!("{} at byte {at} needs {n} values on the stack", op_name(op)));
                }
                let xs = self.stack.split_off(self.stack.len() - n);
                self.push_obj(Object::Tuple(xs));
            }
            b'l' => {
                let xs = self.pop_mark(at, op)?;
                self.push_obj(Object::List(xs));
            }
            0x91 => {
                let xs = self.pop_mark(at, op)?;
                self.push_obj(Object::Set(xs));
            }
            b'd' => {
                let kv = self.pop_mark(at, op)?;
                let v = self.new_obj(Object::Dict(Vec::new()));
                self.add_items(&v, kv, at, op)?;
                self.stack.push(v);
            }
            b'a' => {
                let x = self.pop(at, op)?;
                let l = self.stack.last().cloned().ok_or_else(|| format!("APPEND at byte {at} has no list"))?;
                self.add_list(&l, vec![x], at, op)?;
            }
            b'e' | 0x90 => {
                let xs = self.pop_mark(at, op)?;
                let l = self.stack.last().cloned().ok_or_else(|| format!("{} at byte {at} has no list", op_name(op)))?;
                self.add_list(&l, xs, at, op)?;
            }
            b's' => {
                let v = self.pop(at, op)?;
                let k = self.pop(at, op)?;
                let d = self.stack.last().cloned().ok_or_else(|| format!("SETITEM at byte {at} has no dict"))?;
                self.add_items(&d, vec![k, v], at, op)?;
            }
            b'u' => {
                let kv = self.pop_mark(at, op)?;
                let d = self.stack.last().cloned().ok_or_else(|| format!("SETITEMS at byte {at} has no dict"))?;
                self.add_items(&d, kv, at, op)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals, calls (REDUCE, NEWOBJ), BUILD, persistent ids.
    fn object(&mut self, op: u8, at: usize) -> Result<bool, PickleError> {
        match op {
            b'c' => {
                let module = self.r.line()?.to_string();
                let name = self.r.line()?.to_string();
                self.push_obj(Object::Global { module, name });
            }
            0x93 => {
                let name = self.pop(at, op)?;
                let module = self.pop(at, op)?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        self.push_obj(Object::Global { module: module.to_string(), name: name.to_string() })
                    }
                    _ => return Err(format!("STACK_GLOBAL at byte {at} needs two strings")),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop(at, op)?;
                let func = self.pop(at, op)?;
                self.push_obj(Object::Call { func, args, items: Vec::new(), list: Vec::new(), state: None });
            }
            0x92 => {
                let _kwargs = self.pop(at, op)?;
                let args = self.pop(at, op)?;
                let func = self.pop(at, op)?;
                self.push_obj(Object::Call { func, args, items: Vec::new(), list: Vec::new(), state: None });
            }
            b'b' => {
                let st = self.pop(at, op)?;
                let o = self.stack.last().cloned().ok_or_else(|| format!("BUILD at byte {at} has no object"))?;
                // BUILD on a plain container (a dict subclass pickled as a dict) keeps the container.
                if let Object::Call { state, .. } = self.target(&o, at, op)? {
                    *state = Some(st);
                }
            }
            b'Q' => {
                let pid = self.pop(at, op)?;
                self.push_obj(Object::Persistent(pid));
            }
            b'P' => {
                let s = self.r.line()?;
                self.push_obj(Object::Persistent(Value::Str(s.into())));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// PUT / GET of the memo.
    fn memo_op(&mut self, op: u8, at: usize) -> Result<bool, PickleError> {
        match op {
            b'q' | b'r' | b'p' | 0x94 => {
                let idx = match op {
                    b'q' => self.r.u8()? as u64,
                    b'r' => self.r.u32()? as u64,
                    b'p' => self.r.line()?.trim().parse().map_err(|_| format!("PUT at byte {at}: not an index"))?,
                    _ => self.memo_len as u64,
                };
                let v = self.stack.last().cloned().ok_or_else(|| format!("{} at byte {at} finds the stack empty", op_name(op)))?;
                let size = self.r.b.len();
                let i = usize::try_from(idx).ok().filter(|&i| i <= size).ok_or_else(|| {
                    format!("{} at byte {at} stores memo entry {idx}, more than a pickle of {size} bytes can number", op_name(op))
                })?;
                if i >= self.memo.len() {
                    self.memo.resize_with(i + 1, || None);
                }
                if self.memo[i].replace(v).is_none() {
                    self.memo_len += 1;
                }
            }
            b'h' | b'j' | b'g' => {
                let idx = match op {
                    b'h' => self.r.u8()? as u64,
                    b'j' => self.r.u32()? as u64,
                    _ => self.r.line()?.trim().parse().map_err(|_| format!("GET at byte {at}: not an index"))?,
                };
                let v = usize::try_from(idx).ok().and_then(|i| self.memo.get(i)).and_then(Option::as_ref).cloned().ok_or_else(|| format!("{} at byte {at} refers to memo entry {idx}, which was never stored", op_name(op)))?;
                self.stack.push(v);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Run the pickle in `bytes` (see the module documentation for what is
/// supported). Errors name the opcode and byte offset.
pub fn load(bytes: &[u8]) -> Result<Pickle, PickleError> {
    let mut m = Machine { r: Reader { b: bytes, at: 0 }, objects: Vec::new(), stack: Vec::new(), marks: Vec::new(), memo: Vec::new(), memo_len: 0 };
    loop {
        let at = m.r.at;
        let op = m.r.u8().map_err(|_| "the pickle ends without a STOP opcode".to_string())?;
        if op == b'.' {
            let root = m.pop(at, op)?;
            return Ok(Pickle { root, objects: m.objects });
        }
        if !(m.control(op, at)? || m.scalar(op, at)? || m.container(op, at)? || m.object(op, at)? || m.memo_op(op, at)?) {
            return Err(format!("pickle opcode 0x{op:02x} ({}) at byte {at} is not supported by this reader", op_name(op)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_protocol_2_dict() {
        // pickle.dumps({'a': [1, -2, 300, 70000], 'b': (None, True, 1.5), 'c': 'x'}, protocol=2)
        let p: &[u8] = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01J\xfe\xff\xff\xffM,\x01J\x70\x11\x01\x00eX\x01\x00\x00\x00bq\x03N\x88G?\xf8\x00\x00\x00\x00\x00\x00\x87q\x04X\x01\x00\x00\x00cq\x05X\x01\x00\x00\x00xq\x06u.";
        let pk = load(p).unwrap();
        assert_eq!(pk.keys(&pk.root), vec!["a", "b", "c"]);
        let a = pk.get(&pk.root, "a").unwrap();
        assert_eq!(pk.seq(a).unwrap(), &[Value::Int(1), Value::Int(-2), Value::Int(300), Value::Int(70000)]);
        let b = pk.get(&pk.root, "b").unwrap();
        assert_eq!(pk.seq(b).unwrap(), &[Value::None, Value::Bool(true), Value::Float(1.5)]);
        assert_eq!(pk.get(&pk.root, "c"), Some(&Value::Str("x".into())));
        // A memoised string fetched again is shared, not copied.
        let big = load(b"\x80\x02X\x03\x00\x00\x00abcq\x00h\x00h\x00\x87.").unwrap();
        match pk_first(&big) {
            (Value::Str(a), Value::Str(b)) => assert!(Rc::ptr_eq(&a, &b)),
            x => panic!("{x:?}"),
        }
    }

    fn pk_first(p: &Pickle) -> (Value, Value) {
        let s = p.seq(&p.root).unwrap();
        (s[0].clone(), s[1].clone())
    }

    #[test]
    fn long1_and_errors() {
        assert_eq!(long_le(&[0xff]), Some(-1));
        assert_eq!(long_le(&[0x00, 0x01]), Some(256));
        assert_eq!(long_le(&[1, 0, 0, 0, 0, 0, 0, 0, 0]), Some(1));
        assert_eq!(long_le(&[1, 0, 0, 0, 0, 0, 0, 0, 1]), None);
        assert!(load(b"\x80\x02").unwrap_err().contains("STOP"));
        assert!(load(b"\x80\x02\x82\x01.").unwrap_err().contains("EXT1"));
        assert!(load(b"\x80\x02h\x05.").unwrap_err().contains("memo entry 5"));
        assert!(load(b"\x80\x02X\xff\xff\xff\xff.").unwrap_err().contains("cut short"));
        assert!(load(b"u.").unwrap_err().contains("MARK"));
    }

    #[test]
    fn memo_indices_gaps_and_bounds() {
        // BINPUT 3 leaves a gap; MEMOIZE then stores at the count of set
        // entries (1), as Python's len(memo) would; GET reads both back.
        let p = load(b"\x80\x04K\x07q\x03K\x08\x94h\x03h\x01\x86.").unwrap();
        assert_eq!(p.seq(&p.root).unwrap(), &[Value::Int(7), Value::Int(8)]);
        // An index no pickle of this size could number is an error, not an allocation.
        let e = load(b"\x80\x02K\x01r\x00\x00\x00\x10.").unwrap_err();
        assert!(e.contains("memo entry 268435456"), "{e}");
        // A GET of a hole is the same error as a GET of nothing.
        assert!(load(b"\x80\x02K\x01q\x02h\x01.").unwrap_err().contains("memo entry 1"));
    }
}
