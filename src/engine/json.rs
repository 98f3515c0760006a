//! JSON (RFC 8259), read and written by the engine itself: the input files
//! (`model_gen_config.json`, deployment tables, load matrices, vLLM load
//! histories, SGLang maps, TensorRT-LLM metadata, safetensors headers), the
//! share links' headers and share files, and every JSON the studio writes
//! (score, report, SGLang map, the CLI's `--json`).
//!
//! Three parts:
//! - [`Reader`], a pull parser over bytes: the caller walks objects and
//!   arrays with callbacks and reads numbers, strings and booleans straight
//!   into its own types (the vLLM reader fills its arrays this way, without
//!   a tree); typed readers ([`FromJson`]) are written by hand on it.
//!   Errors carry the 1-based line and column of the byte at fault.
//! - [`Value`], a tree for small documents (objects keep their keys sorted,
//!   the last of duplicate keys winning).
//! - [`Writer`], compact or pretty (two-space indent), with [`ToJson`] for
//!   the types written.
//!
//! What it accepts and writes is what the serde_json build accepted and
//! wrote (tests/json.rs cross-checks both on random input): numbers keep
//! their kind (unsigned, negative or float integers; `-0` is a float), a
//! float is written as the shortest text that reads back to it (`1.0`,
//! `1e-7`, `1.2345678901234568e+17`), a non-finite float as `null`, strings
//! escape `"`, `\` and control characters only; nesting deeper than 127
//! is refused in a tree (skipped values may nest deeper); nothing panics
//! on any input. Floats are read correctly rounded.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

// ------------------------------------------------------------------ errors

/// A JSON error: what is wrong and where (line 0: nowhere in particular).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    msg: String,
    line: usize,
    column: usize,
}

impl Error {
    /// An error at no position (a value that is well-formed JSON but not
    /// what was expected, found after reading).
    pub fn msg(msg: impl Into<String>) -> Error {
        Error { msg: msg.into(), line: 0, column: 0 }
    }
    /// 1-based line of the error (0: none).
    pub fn line(&self) -> usize {
        self.line
    }
    /// 1-based column (in bytes) of the error.
    pub fn column(&self) -> usize {
        self.column
    }
    /// What is wrong, without the position.
    pub fn message(&self) -> &str {
        &self.msg
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.msg)
        } else {
            write!(f, "{} at line {} column {}", self.msg, self.line, self.column)
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

// ------------------------------------------------------------------ values

/// A JSON number as read: an integer that fits `u64` (or `i64` when
/// negative), else a float.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    PosInt(u64),
    NegInt(i64),
    Float(f64),
}

impl Number {
    pub fn as_u64(self) -> Option<u64> {
        match self {
            Number::PosInt(u) => Some(u),
            _ => None,
        }
    }
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::PosInt(u) => i64::try_from(u).ok(),
            Number::NegInt(i) => Some(i),
            Number::Float(_) => None,
        }
    }
    pub fn as_f64(self) -> f64 {
        match self {
            Number::PosInt(u) => u as f64,
            Number::NegInt(i) => i as f64,
            Number::Float(f) => f,
        }
    }
    /// How a type error names it ("integer `5`", "floating point `1.5`").
    fn unexpected(self) -> String {
        match self {
            Number::PosInt(u) => format!("integer `{u}`"),
            Number::NegInt(i) => format!("integer `{i}`"),
            Number::Float(f) => {
                let mut s = String::new();
                push_f64(&mut s, f);
                format!("floating point `{s}`")
            }
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match *self {
            Number::PosInt(u) => write!(f, "{u}"),
            Number::NegInt(i) => write!(f, "{i}"),
            Number::Float(x) => {
                let mut s = String::new();
                push_f64(&mut s, x);
                f.write_str(&s)
            }
        }
    }
}

/// A JSON document as a tree. `Display` writes it compact.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    /// Keys in the order written (a parsed object: sorted, no duplicates).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An object with its keys sorted and, of duplicate keys, the last
    /// kept (the order of a parsed object, and of serde_json's maps).
    pub fn sorted_object(mut pairs: Vec<(String, Value)>) -> Value {
        sort_keys(&mut pairs);
        Value::Object(pairs)
    }
    /// `v` as written and read back: objects with sorted keys at every
    /// level, non-finite floats `null` (serde_json's `to_value`).
    pub fn of(v: &(impl ToJson + ?Sized)) -> Value {
        parse(to_string(v).as_bytes()).unwrap_or_default()
    }
    /// The value of `key` in an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(o) => o.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn as_object(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }
}

/// Sort by key (stable), keeping the last of equal keys.
fn sort_keys(pairs: &mut Vec<(String, Value)>) {
    if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, Value)> = Vec::with_capacity(pairs.len());
    for p in pairs.drain(..) {
        match out.last_mut() {
            Some(last) if last.0 == p.0 => *last = p,
            _ => out.push(p),
        }
    }
    *pairs = out;
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&to_string(self))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<u64> for Value {
    fn from(u: u64) -> Value {
        Value::Number(Number::PosInt(u))
    }
}
impl From<usize> for Value {
    fn from(u: usize) -> Value {
        Value::Number(Number::PosInt(u as u64))
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Number(if i < 0 { Number::NegInt(i) } else { Number::PosInt(i as u64) })
    }
}
/// A non-finite float is `null`.
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        if f.is_finite() {
            Value::Number(Number::Float(f))
        } else {
            Value::Null
        }
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

// ------------------------------------------------------------------ writer

/// Writes JSON text: compact (`{"a":1,"b":[1,2]}`) or pretty (two-space
/// indent, `": "` after keys, `[]` / `{}` when empty).
pub struct Writer {
    out: String,
    pretty: bool,
    level: usize,
    /// No element written yet in the innermost open array or object.
    first: bool,
}

impl Writer {
    pub fn new(pretty: bool) -> Writer {
        Writer { out: String::new(), pretty, level: 0, first: true }
    }
    pub fn finish(self) -> String {
        self.out
    }
    fn newline(&mut self) {
        if self.pretty {
            self.out.push('\n');
            for _ in 0..self.level {
                self.out.push_str("  ");
            }
        }
    }
    /// Before an element of an array or a key of an object.
    fn sep(&mut self) {
        if !self.first {
            self.out.push(',');
        }
        self.first = false;
        self.newline();
    }
    fn open(&mut self, c: char) -> bool {
        self.out.push(c);
        self.level += 1;
        std::mem::replace(&mut self.first, true)
    }
    fn close(&mut self, c: char, outer_first: bool) {
        self.level -= 1;
        if !self.first {
            self.newline();
        }
        self.out.push(c);
        self.first = outer_first;
    }
    pub fn null(&mut self) {
        self.out.push_str("null");
    }
    pub fn bool(&mut self, b: bool) {
        self.out.push_str(if b { "true" } else { "false" });
    }
    pub fn u64(&mut self, u: u64) {
        let _ = write!(self.out, "{u}");
    }
    pub fn i64(&mut self, i: i64) {
        let _ = write!(self.out, "{i}");
    }
    /// The shortest text that reads back to `f`; `null` when not finite.
    pub fn f64(&mut self, f: f64) {
        if f.is_finite() {
            push_f64(&mut self.out, f);
        } else {
            self.null();
        }
    }
    pub fn str(&mut self, s: &str) {
        push_str(&mut self.out, s);
    }
    /// An array of `items`.
    pub fn seq<'i, T: ToJson + 'i>(&mut self, items: impl IntoIterator<Item = &'i T>) {
        let outer = self.open('[');
        for x in items {
            self.sep();
            x.write_json(self);
        }
        self.close(']', outer);
    }
    /// An object whose fields `f` writes ([`Writer::field`], [`Writer::key`]).
    pub fn object(&mut self, f: impl FnOnce(&mut Writer)) {
        let outer = self.open('{');
        f(self);
        self.close('}', outer);
    }
    /// The key of the next field (its value is written next).
    pub fn key(&mut self, k: &str) {
        self.sep();
        self.str(k);
        self.out.push_str(if self.pretty { ": " } else { ":" });
    }
    pub fn field(&mut self, k: &str, v: &(impl ToJson + ?Sized)) {
        self.key(k);
        v.write_json(self);
    }
}

/// `s` as a JSON string: `"` and `\` escaped, control characters as `\n`,
/// `\t`, ... or `\u001f`; everything else as is.
fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A finite float as its shortest round-trip digits, laid out as
/// serde_json lays them out: plain with `.0` up to 16 integer digits, `0.`
/// and up to 5 leading zeros for small numbers, else `d.ddde+x` / `d.ddde-x`.
fn push_f64(out: &mut String, f: f64) {
    // `{:e}` gives the shortest round-trip digits (`-1.2345e-7`); where
    // two candidates of that length are as close, it takes the upper one,
    // serde_json the even one: the correctly rounded value of that many
    // digits (ties to even) is its choice whenever it reads back.
    let shortest = format!("{f:e}");
    let n = shortest.split('e').next().map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count());
    let even = format!("{f:.*e}", n.saturating_sub(1));
    let sci = if even != shortest && even.parse::<f64>() == Ok(f) { even } else { shortest };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let n = digits.len() as i32;
    // value = 0.digits * 10^kk
    let kk = exp + 1;
    if neg {
        out.push('-');
    }
    if 0 <= kk - n && kk <= 16 {
        out.push_str(&digits);
        for _ in n..kk {
            out.push('0');
        }
        out.push_str(".0");
    } else if 0 < kk && kk <= 16 {
        out.push_str(&digits[..kk as usize]);
        out.push('.');
        out.push_str(&digits[kk as usize..]);
    } else if -5 < kk && kk <= 0 {
        out.push_str("0.");
        for _ in kk..0 {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        // serde_json writes the sign of the exponent: `1e+16`, `1e-7`.
        let _ = write!(out, "e{}{}", if kk > 0 { "+" } else { "" }, kk - 1);
    }
}

/// A type written as JSON.
pub trait ToJson {
    fn write_json(&self, w: &mut Writer);
}

/// Compact JSON of `v`.
pub fn to_string(v: &(impl ToJson + ?Sized)) -> String {
    let mut w = Writer::new(false);
    v.write_json(&mut w);
    w.finish()
}

/// Pretty JSON of `v` (two-space indent, no trailing newline).
pub fn to_string_pretty(v: &(impl ToJson + ?Sized)) -> String {
    let mut w = Writer::new(true);
    v.write_json(&mut w);
    w.finish()
}

impl ToJson for bool {
    fn write_json(&self, w: &mut Writer) {
        w.bool(*self);
    }
}
impl ToJson for u32 {
    fn write_json(&self, w: &mut Writer) {
        w.u64(u64::from(*self));
    }
}
impl ToJson for u64 {
    fn write_json(&self, w: &mut Writer) {
        w.u64(*self);
    }
}
impl ToJson for usize {
    fn write_json(&self, w: &mut Writer) {
        w.u64(*self as u64);
    }
}
impl ToJson for i64 {
    fn write_json(&self, w: &mut Writer) {
        w.i64(*self);
    }
}
impl ToJson for f64 {
    fn write_json(&self, w: &mut Writer) {
        w.f64(*self);
    }
}
impl ToJson for str {
    fn write_json(&self, w: &mut Writer) {
        w.str(self);
    }
}
impl ToJson for String {
    fn write_json(&self, w: &mut Writer) {
        w.str(self);
    }
}
impl<T: ToJson + ?Sized> ToJson for &T {
    fn write_json(&self, w: &mut Writer) {
        (**self).write_json(w);
    }
}
impl<T: ToJson> ToJson for Option<T> {
    fn write_json(&self, w: &mut Writer) {
        match self {
            Some(v) => v.write_json(w),
            None => w.null(),
        }
    }
}
impl<T: ToJson> ToJson for [T] {
    fn write_json(&self, w: &mut Writer) {
        w.seq(self);
    }
}
impl<T: ToJson> ToJson for Vec<T> {
    fn write_json(&self, w: &mut Writer) {
        w.seq(self);
    }
}
impl<A: ToJson, B: ToJson> ToJson for (A, B) {
    fn write_json(&self, w: &mut Writer) {
        let outer = w.open('[');
        w.sep();
        self.0.write_json(w);
        w.sep();
        self.1.write_json(w);
        w.close(']', outer);
    }
}
impl ToJson for Number {
    fn write_json(&self, w: &mut Writer) {
        match *self {
            Number::PosInt(u) => w.u64(u),
            Number::NegInt(i) => w.i64(i),
            Number::Float(f) => w.f64(f),
        }
    }
}
impl ToJson for Value {
    fn write_json(&self, w: &mut Writer) {
        match self {
            Value::Null => w.null(),
            Value::Bool(b) => w.bool(*b),
            Value::Number(n) => n.write_json(w),
            Value::String(s) => w.str(s),
            Value::Array(a) => w.seq(a),
            Value::Object(o) => w.object(|w| {
                for (k, v) in o {
                    w.field(k, v);
                }
            }),
        }
    }
}

// ------------------------------------------------------------------ reader

/// Containers a tree may nest ([`Reader::value`]): as deep as serde_json's
/// limit (127 levels).
const MAX_DEPTH: usize = 128;

/// A pull parser over the bytes of one JSON document.
pub struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

/// A type read from JSON by hand on a [`Reader`].
pub trait FromJson: Sized {
    fn read_json(r: &mut Reader<'_>) -> Result<Self>;
}

/// The whole of `bytes` as a tree.
pub fn parse(bytes: &[u8]) -> Result<Value> {
    let mut r = Reader::new(bytes);
    let v = r.value()?;
    r.finish()?;
    Ok(v)
}

/// The whole of `bytes` as a `T`.
pub fn from_slice<T: FromJson>(bytes: &[u8]) -> Result<T> {
    let mut r = Reader::new(bytes);
    let v = T::read_json(&mut r)?;
    r.finish()?;
    Ok(v)
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\t' | b'\r')
}

fn hex(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b, i: 0, depth: 0 }
    }

    /// Line and column of the position just after `j` bytes.
    fn position(&self, j: usize) -> (usize, usize) {
        let j = j.min(self.b.len());
        let head = &self.b[..j];
        let line = 1 + head.iter().filter(|&&c| c == b'\n').count();
        let start = head.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        (line, j - start)
    }
    fn error_after(&self, j: usize, msg: impl Into<String>) -> Error {
        let (line, column) = self.position(j);
        Error { msg: msg.into(), line, column }
    }
    /// An error at the byte at `i`.
    fn error_at(&self, i: usize, msg: impl Into<String>) -> Error {
        self.error_after(i + 1, msg)
    }
    /// An error at the last byte read (what the caller found wrong in
    /// the value just read).
    pub fn error(&self, msg: impl Into<String>) -> Error {
        self.error_after(self.i, msg)
    }
    fn eof(&self, what: &str) -> Error {
        self.error_after(self.b.len(), format!("EOF while parsing {what}"))
    }

    /// The next byte after white space (not consumed).
    fn peek(&mut self) -> Option<u8> {
        while let Some(&c) = self.b.get(self.i) {
            if !is_ws(c) {
                return Some(c);
            }
            self.i += 1;
        }
        None
    }

    /// Only white space is left.
    pub fn finish(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error_at(self.i, "trailing characters")),
        }
    }

    /// The rest of `null`, `true` or `false` after its first letter.
    fn ident(&mut self, word: &[u8]) -> Result<()> {
        for &c in &word[1..] {
            self.i += 1;
            match self.b.get(self.i) {
                None => return Err(self.eof("a value")),
                Some(&x) if x != c => return Err(self.error_at(self.i, "expected ident")),
                _ => {}
            }
        }
        self.i += 1;
        Ok(())
    }

    /// Reads `null` if it comes next.
    pub fn null(&mut self) -> Result<bool> {
        if self.peek() == Some(b'n') {
            self.ident(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// The next value's kind, for "invalid type: X, expected Y" (reading
    /// a scalar to name it, not a container).
    fn invalid_type(&mut self, expected: &str) -> Error {
        let start = self.i;
        let found = match self.peek() {
            None => return self.eof("a value"),
            Some(b'[') => "sequence".to_string(),
            Some(b'{') => "map".to_string(),
            Some(b'n') => match self.ident(b"null") {
                Ok(()) => "null".to_string(),
                Err(e) => return e,
            },
            Some(b't') => match self.ident(b"true") {
                Ok(()) => "boolean `true`".to_string(),
                Err(e) => return e,
            },
            Some(b'f') => match self.ident(b"false") {
                Ok(()) => "boolean `false`".to_string(),
                Err(e) => return e,
            },
            Some(b'"') => match self.string() {
                Ok(s) => format!("string {s:?}"),
                Err(e) => return e,
            },
            Some(b'-' | b'0'..=b'9') => match self.number() {
                Ok(n) => n.unexpected(),
                Err(e) => return e,
            },
            Some(_) => return self.error_at(self.i, "expected value"),
        };
        self.error_at(start.max(self.i.saturating_sub(1)), format!("invalid type: {found}, expected {expected}"))
    }

    /// Scans a number's text (at `-` or a digit): its end and whether it
    /// is an integer.
    fn scan_number(&mut self) -> Result<bool> {
        let b = self.b;
        if b.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match b.get(self.i) {
            None => return Err(self.eof("a value")),
            Some(b'0') => {
                self.i += 1;
                if let Some(c @ b'0'..=b'9') = b.get(self.i) {
                    let _ = c;
                    return Err(self.error_at(self.i, "invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(self.i) {
                    self.i += 1;
                }
            }
            Some(_) => return Err(self.error_at(self.i, "invalid number")),
        }
        let mut integer = true;
        if b.get(self.i) == Some(&b'.') {
            integer = false;
            self.i += 1;
            self.digits()?;
        }
        if let Some(b'e' | b'E') = b.get(self.i) {
            integer = false;
            self.i += 1;
            if let Some(b'+' | b'-') = b.get(self.i) {
                self.i += 1;
            }
            self.digits()?;
        }
        Ok(integer)
    }
    /// At least one digit.
    fn digits(&mut self) -> Result<()> {
        match self.b.get(self.i) {
            None => return Err(self.eof("a value")),
            Some(b'0'..=b'9') => {}
            Some(_) => return Err(self.error_at(self.i, "invalid number")),
        }
        while let Some(b'0'..=b'9') = self.b.get(self.i) {
            self.i += 1;
        }
        Ok(())
    }

    /// The number at `self.i` (a `-` or a digit).
    fn number(&mut self) -> Result<Number> {
        let start = self.i;
        let integer = self.scan_number()?;
        let text = &self.b[start..self.i];
        let neg = text[0] == b'-';
        if integer {
            let digits = if neg { &text[1..] } else { text };
            let mut u: u64 = 0;
            let mut fits = true;
            for &d in digits {
                match u.checked_mul(10).and_then(|x| x.checked_add(u64::from(d - b'0'))) {
                    Some(x) => u = x,
                    None => {
                        fits = false;
                        break;
                    }
                }
            }
            if fits {
                return Ok(match (neg, u) {
                    (false, u) => Number::PosInt(u),
                    (true, 0) => Number::Float(-0.0),
                    (true, u) if u <= 1 << 63 => Number::NegInt((u as i64).wrapping_neg()),
                    (true, u) => Number::Float(-(u as f64)),
                });
            }
        }
        // The text is ASCII digits, signs, '.', 'e': always a valid float.
        let f: f64 = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN);
        if !f.is_finite() {
            return Err(self.error_after(self.i, "number out of range"));
        }
        Ok(Number::Float(f))
    }

    /// A number, or the type error naming `expected`.
    pub fn number_or(&mut self, expected: &str) -> Result<Number> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.invalid_type(expected)),
        }
    }

    /// A number as `f64` (integers converted): the fast path of bulk
    /// readers.
    pub fn f64(&mut self) -> Result<f64> {
        let b = self.b;
        match self.peek() {
            Some(c @ b'1'..=b'9') => {
                // Plain integers of up to 15 digits, straight from the bytes.
                let start = self.i;
                let mut u = u64::from(c - b'0');
                let mut j = start + 1;
                while let Some(&d @ b'0'..=b'9') = b.get(j) {
                    u = u * 10 + u64::from(d - b'0');
                    j += 1;
                    if j - start > 15 {
                        break;
                    }
                }
                if j - start <= 15 && !matches!(b.get(j), Some(b'.' | b'e' | b'E' | b'0'..=b'9')) {
                    self.i = j;
                    return Ok(u as f64);
                }
                Ok(self.number()?.as_f64())
            }
            Some(b'-' | b'0') => Ok(self.number()?.as_f64()),
            _ => Err(self.invalid_type("f64")),
        }
    }

    /// Inside a string: on to its next quote, backslash or control
    /// character, which is returned.
    fn string_stop(&mut self) -> Result<u8> {
        match self.b[self.i..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20) {
            Some(p) => {
                self.i += p;
                Ok(self.b[self.i])
            }
            None => {
                self.i = self.b.len();
                Err(self.eof("a string"))
            }
        }
    }

    /// A string (its text borrowed from the input when it has no escape).
    /// Its UTF-8 is checked at its end (a control character or a bad
    /// escape before is named first, as serde_json does).
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        let b = self.b;
        match self.peek() {
            Some(b'"') => {}
            _ => return Err(self.invalid_type("a string")),
        }
        self.i += 1;
        let mut owned: Option<Vec<u8>> = None;
        let mut start = self.i;
        loop {
            match self.string_stop()? {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    let bad = |_| self.error_at(end, "invalid unicode code point");
                    return match owned {
                        None => std::str::from_utf8(&b[start..end]).map(Cow::Borrowed).map_err(bad),
                        Some(mut s) => {
                            s.extend_from_slice(&b[start..end]);
                            String::from_utf8(s).map(Cow::Owned).map_err(|_| self.error_at(end, "invalid unicode code point"))
                        }
                    };
                }
                b'\\' => {
                    let s = owned.get_or_insert_with(Vec::new);
                    s.extend_from_slice(&b[start..self.i]);
                    self.i += 1;
                    let c = self.escape()?;
                    if let Some(s) = owned.as_mut() {
                        s.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    start = self.i;
                }
                _ => return Err(self.error_at(self.i, "control character (\\u0000-\\u001F) found while parsing a string")),
            }
        }
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u16> {
        let mut n = 0u16;
        for _ in 0..4 {
            let Some(&c) = self.b.get(self.i) else {
                self.i = self.b.len();
                return Err(self.eof("a string"));
            };
            let d = hex(c).ok_or_else(|| self.error_at(self.i, "invalid escape"))?;
            n = n << 4 | d;
            self.i += 1;
        }
        Ok(n)
    }

    /// The character of the escape after a backslash.
    fn escape(&mut self) -> Result<char> {
        let Some(&c) = self.b.get(self.i) else {
            return Err(self.eof("a string"));
        };
        self.i += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let n1 = self.hex4()?;
                match n1 {
                    0xDC00..=0xDFFF => return Err(self.error("lone leading surrogate in hex escape")),
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i) != Some(&b'\\') || self.b.get(self.i + 1) != Some(&b'u') {
                            if self.i >= self.b.len() {
                                return Err(self.eof("a string"));
                            }
                            return Err(self.error_at(self.i, "unexpected end of hex escape"));
                        }
                        self.i += 2;
                        let n2 = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&n2) {
                            return Err(self.error("lone leading surrogate in hex escape"));
                        }
                        let n = ((u32::from(n1) - 0xD800) << 10 | (u32::from(n2) - 0xDC00)) + 0x1_0000;
                        char::from_u32(n).ok_or_else(|| self.error("invalid unicode code point"))?
                    }
                    n => char::from_u32(u32::from(n)).ok_or_else(|| self.error("invalid unicode code point"))?,
                }
            }
            _ => return Err(self.error_at(self.i - 1, "invalid escape")),
        })
    }

    /// Past a string whose text is not needed (escapes checked, not decoded).
    fn skip_string(&mut self) -> Result<()> {
        let b = self.b;
        self.i += 1;
        loop {
            match self.string_stop()? {
                b'"' => {
                    self.i += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.i += 1;
                    match b.get(self.i) {
                        None => return Err(self.eof("a string")),
                        Some(b'u') => {
                            self.i += 1;
                            self.hex4()?;
                        }
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                        Some(_) => return Err(self.error_at(self.i, "invalid escape")),
                    }
                }
                _ => return Err(self.error_after(self.i, "control character (\\u0000-\\u001F) found while parsing a string")),
            }
        }
    }

    pub fn bool(&mut self) -> Result<bool> {
        match self.peek() {
            Some(b't') => self.ident(b"true").map(|_| true),
            Some(b'f') => self.ident(b"false").map(|_| false),
            _ => Err(self.invalid_type("a boolean")),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.error_after(self.i, "recursion limit exceeded"));
        }
        Ok(())
    }

    /// At `open`: inside it, and whether an element follows (if not, the
    /// container is read).
    fn begin(&mut self, open: u8, close: u8, what: &str, expected: impl fmt::Display) -> Result<bool> {
        if self.peek() != Some(open) {
            return Err(self.invalid_type(&expected.to_string()));
        }
        self.enter()?;
        self.i += 1;
        match self.peek() {
            None => Err(self.eof(what)),
            Some(c) if c == close => {
                self.i += 1;
                self.depth -= 1;
                Ok(false)
            }
            _ => Ok(true),
        }
    }

    /// After an element of an array (`close` is `]`) or an object (`}`):
    /// whether another follows (if not, the container is read).
    fn more(&mut self, close: u8) -> Result<bool> {
        let (what, expected) = if close == b']' { ("a list", "expected `,` or `]`") } else { ("an object", "expected `,` or `}`") };
        match self.peek() {
            Some(b',') => {
                self.i += 1;
                match self.peek() {
                    Some(c) if c == close => Err(self.error_at(self.i, "trailing comma")),
                    None => Err(self.eof("a value")),
                    _ => Ok(true),
                }
            }
            Some(c) if c == close => {
                self.i += 1;
                Ok(false)
            }
            None => Err(self.eof(what)),
            Some(_) => Err(self.error_at(self.i, expected)),
        }
    }

    /// An array: `f` reads each element (the reader is at it).
    pub fn array(&mut self, expected: impl fmt::Display, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        if self.begin(b'[', b']', "a list", expected)? {
            loop {
                f(self)?;
                if !self.more(b']')? {
                    break;
                }
            }
            self.depth -= 1;
        }
        Ok(())
    }

    /// A key and its colon.
    fn key(&mut self) -> Result<Cow<'a, str>> {
        match self.peek() {
            Some(b'"') => {}
            None => return Err(self.eof("an object")),
            Some(_) => return Err(self.error_at(self.i, "key must be a string")),
        }
        let k = self.string()?;
        match self.peek() {
            Some(b':') => {
                self.i += 1;
                Ok(k)
            }
            None => Err(self.eof("an object")),
            Some(_) => Err(self.error_at(self.i, "expected `:`")),
        }
    }

    /// An object: `f` reads the value of each key (the reader is at it).
    pub fn object(&mut self, expected: impl fmt::Display, mut f: impl FnMut(&mut Self, &str) -> Result<()>) -> Result<()> {
        if self.begin(b'{', b'}', "an object", expected)? {
            loop {
                let k = self.key()?;
                f(self, &k)?;
                if !self.more(b'}')? {
                    break;
                }
            }
            self.depth -= 1;
        }
        Ok(())
    }

    /// Past the next value, checked but not kept (of any depth: no
    /// recursion).
    pub fn skip(&mut self) -> Result<()> {
        // The closers of the open containers.
        let mut open: Vec<u8> = Vec::new();
        loop {
            // A value.
            match self.peek() {
                None => return Err(self.eof("a value")),
                Some(b'[') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b']') => self.i += 1,
                        None => return Err(self.eof("a list")),
                        _ => {
                            open.push(b']');
                            continue;
                        }
                    }
                }
                Some(b'{') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'}') => self.i += 1,
                        _ => {
                            self.skip_key()?;
                            open.push(b'}');
                            continue;
                        }
                    }
                }
                Some(b'"') => self.skip_string()?,
                Some(b'-' | b'0'..=b'9') => {
                    self.scan_number()?;
                }
                Some(b'n') => self.ident(b"null")?,
                Some(b't') => self.ident(b"true")?,
                Some(b'f') => self.ident(b"false")?,
                Some(_) => return Err(self.error_at(self.i, "expected value")),
            }
            // After a value: close what ends here, or go on to the next.
            loop {
                let Some(&close) = open.last() else { return Ok(()) };
                if self.more(close)? {
                    if close == b'}' {
                        self.skip_key()?;
                    }
                    break;
                }
                open.pop();
            }
        }
    }
    /// A key skipped (as a string whose text is not needed) and its colon.
    fn skip_key(&mut self) -> Result<()> {
        match self.peek() {
            Some(b'"') => self.skip_string()?,
            None => return Err(self.eof("an object")),
            Some(_) => return Err(self.error_at(self.i, "key must be a string")),
        }
        match self.peek() {
            Some(b':') => {
                self.i += 1;
                Ok(())
            }
            None => Err(self.eof("an object")),
            Some(_) => Err(self.error_at(self.i, "expected `:`")),
        }
    }

    /// The next value as a tree.
    pub fn value(&mut self) -> Result<Value> {
        Ok(match self.peek() {
            None => return Err(self.eof("a value")),
            Some(b'n') => {
                self.ident(b"null")?;
                Value::Null
            }
            Some(b't' | b'f') => Value::Bool(self.bool()?),
            Some(b'"') => Value::String(self.string()?.into_owned()),
            Some(b'-' | b'0'..=b'9') => Value::Number(self.number()?),
            Some(b'[') => {
                let mut a = Vec::new();
                self.array("", |r| {
                    a.push(r.value()?);
                    Ok(())
                })?;
                Value::Array(a)
            }
            Some(b'{') => {
                let mut o = Vec::new();
                self.object("", |r, k| {
                    o.push((k.to_string(), r.value()?));
                    Ok(())
                })?;
                Value::sorted_object(o)
            }
            Some(_) => return Err(self.error_at(self.i, "expected value")),
        })
    }

    /// A field of a struct, read once ("duplicate field" the second time).
    pub fn field<T: FromJson>(&mut self, slot: &mut Option<T>, name: &str) -> Result<()> {
        if slot.is_some() {
            return Err(self.error(format!("duplicate field `{name}`")));
        }
        *slot = Some(T::read_json(self)?);
        Ok(())
    }

    /// A required field's value ("missing field" when it was not there).
    pub fn need<T>(&self, slot: Option<T>, name: &str) -> Result<T> {
        slot.ok_or_else(|| self.error(format!("missing field `{name}`")))
    }

    /// A unit variant of an enum, by name.
    pub fn variant<T: Copy>(&mut self, names: &[(&str, T)]) -> Result<T> {
        let s = self.string()?;
        match names.iter().find(|(n, _)| *n == s) {
            Some(&(_, v)) => Ok(v),
            None => {
                let all: Vec<String> = names.iter().map(|(n, _)| format!("`{n}`")).collect();
                Err(self.error(format!("unknown variant `{s}`, expected one of {}", all.join(", "))))
            }
        }
    }

    /// An unsigned integer of at most `max`, named `expected` in errors.
    fn uint(&mut self, max: u64, expected: &str) -> Result<u64> {
        match self.number_or(expected)? {
            Number::PosInt(u) if u <= max => Ok(u),
            n @ (Number::PosInt(_) | Number::NegInt(_)) => Err(self.error(format!("invalid value: {}, expected {expected}", n.unexpected()))),
            n => Err(self.error(format!("invalid type: {}, expected {expected}", n.unexpected()))),
        }
    }
}

impl FromJson for bool {
    fn read_json(r: &mut Reader<'_>) -> Result<bool> {
        r.bool()
    }
}
impl FromJson for u32 {
    fn read_json(r: &mut Reader<'_>) -> Result<u32> {
        r.uint(u64::from(u32::MAX), "u32").map(|u| u as u32)
    }
}
impl FromJson for u64 {
    fn read_json(r: &mut Reader<'_>) -> Result<u64> {
        r.uint(u64::MAX, "u64")
    }
}
impl FromJson for usize {
    fn read_json(r: &mut Reader<'_>) -> Result<usize> {
        r.uint(usize::MAX as u64, "usize").map(|u| u as usize)
    }
}
impl FromJson for i64 {
    fn read_json(r: &mut Reader<'_>) -> Result<i64> {
        match r.number_or("i64")? {
            n @ (Number::PosInt(_) | Number::NegInt(_)) => n.as_i64().ok_or_else(|| r.error(format!("invalid value: {}, expected i64", n.unexpected()))),
            n => Err(r.error(format!("invalid type: {}, expected i64", n.unexpected()))),
        }
    }
}
impl FromJson for f64 {
    fn read_json(r: &mut Reader<'_>) -> Result<f64> {
        r.number_or("f64").map(Number::as_f64)
    }
}
impl FromJson for String {
    fn read_json(r: &mut Reader<'_>) -> Result<String> {
        r.string().map(Cow::into_owned)
    }
}
impl FromJson for Value {
    fn read_json(r: &mut Reader<'_>) -> Result<Value> {
        r.value()
    }
}
impl<T: FromJson> FromJson for Option<T> {
    fn read_json(r: &mut Reader<'_>) -> Result<Option<T>> {
        if r.null()? {
            return Ok(None);
        }
        T::read_json(r).map(Some)
    }
}
impl<T: FromJson> FromJson for Vec<T> {
    fn read_json(r: &mut Reader<'_>) -> Result<Vec<T>> {
        let mut v = Vec::new();
        r.array("a sequence", |r| {
            v.push(T::read_json(r)?);
            Ok(())
        })?;
        Ok(v)
    }
}
impl<A: FromJson, B: FromJson> FromJson for (A, B) {
    fn read_json(r: &mut Reader<'_>) -> Result<(A, B)> {
        let (mut a, mut b, mut n) = (None, None, 0usize);
        r.array("a tuple of size 2", |r| {
            match n {
                0 => a = Some(A::read_json(r)?),
                1 => b = Some(B::read_json(r)?),
                _ => return Err(r.error("trailing characters: a tuple of size 2 has more elements")),
            }
            n += 1;
            Ok(())
        })?;
        match (a, b) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(r.error(format!("invalid length {n}, expected a tuple of size 2"))),
        }
    }
}

// ------------------------------------------ structs

/// [`ToJson`] and / or [`FromJson`] of a struct as serde's derive wrote
/// and read it: its fields in the order given, each written; read from an
/// object whose unknown keys are skipped and whose fields come once each:
/// `req` required, `opt` (an `Option`) `null` or left out, `def` its
/// default when left out. `write T { a, b }` writes only, `read T { req a }`
/// reads only, `T { req a, opt b }` both.
macro_rules! json_struct {
    (write $t:ty { $($f:ident),* $(,)? }) => {
        impl $crate::engine::json::ToJson for $t {
            fn write_json(&self, w: &mut $crate::engine::json::Writer) {
                w.object(|w| {
                    $(w.field(stringify!($f), &self.$f);)*
                });
            }
        }
    };
    (read $t:ty { $($kind:ident $f:ident),* $(,)? }) => {
        impl $crate::engine::json::FromJson for $t {
            fn read_json(r: &mut $crate::engine::json::Reader<'_>) -> $crate::engine::json::Result<$t> {
                $(let mut $f = None;)*
                r.object(concat!("struct ", stringify!($t)), |r, k| match k {
                    $(stringify!($f) => r.field(&mut $f, k),)*
                    _ => r.skip(),
                })?;
                Ok(Self { $($f: $crate::engine::json::json_struct!(@take $kind r $f),)* })
            }
        }
    };
    (@take req $r:ident $f:ident) => { $r.need($f, stringify!($f))? };
    (@take opt $r:ident $f:ident) => { $f.flatten() };
    (@take def $r:ident $f:ident) => { $f.unwrap_or_default() };
    ($t:ty { $($kind:ident $f:ident),* $(,)? }) => {
        $crate::engine::json::json_struct!(write $t { $($f),* });
        $crate::engine::json::json_struct!(read $t { $($kind $f),* });
    };
}
pub(crate) use json_struct;

// ------------------------------------------ the engine's shared types

use super::model::{Phase, PhaseInfo, Placement, SourceFormat};
use super::params::{Algorithm, Cluster, DeviceType, Settings};

// Phases and device types are written with their own names (`name()`, which
// are serde's lowercase names of the variants); the other two enums' JSON
// names are serde's and differ from their display names.
fn phases() -> [(&'static str, Phase); 2] {
    Phase::ALL.map(|p| (p.name(), p))
}
fn device_types() -> [(&'static str, DeviceType); 2] {
    DeviceType::ALL.map(|d| (d.name(), d))
}
const FORMATS: [(&str, SourceFormat); 4] = [
    ("summed", SourceFormat::Summed),
    ("time_series", SourceFormat::TimeSeries),
    ("matrix", SourceFormat::Matrix),
    ("table_only", SourceFormat::TableOnly),
];
const ALGORITHMS: [(&str, Algorithm); 9] = [
    ("c2lb", Algorithm::C2lb),
    ("spec-moe1", Algorithm::SpecMoe1),
    ("dynamic-c2lb", Algorithm::DynamicC2lb),
    ("spec-moe2", Algorithm::SpecMoe2),
    ("spec-moe1-mixed", Algorithm::SpecMoe1Mixed),
    ("spec-moe2-mixed", Algorithm::SpecMoe2Mixed),
    ("deepseek-hierarchical", Algorithm::DeepseekHierarchical),
    ("deepseek-global", Algorithm::DeepseekGlobal),
    ("flashlb", Algorithm::FlashLb),
];

/// The name of `v` in a `(name, variant)` table.
fn name_of<T: PartialEq + Copy>(names: &[(&'static str, T)], v: T) -> &'static str {
    names.iter().find(|(_, x)| *x == v).map_or("", |(n, _)| n)
}

macro_rules! unit_enum {
    ($t:ty, $names:expr) => {
        impl ToJson for $t {
            fn write_json(&self, w: &mut Writer) {
                w.str(name_of(&$names, *self));
            }
        }
        impl FromJson for $t {
            fn read_json(r: &mut Reader<'_>) -> Result<$t> {
                r.variant(&$names)
            }
        }
    };
}
unit_enum!(Phase, phases());
unit_enum!(SourceFormat, FORMATS);
unit_enum!(DeviceType, device_types());
unit_enum!(Algorithm, ALGORITHMS);

json_struct!(Cluster { req devices, req nodes, req redundant, req shared_devices, req device_type });

json_struct!(Settings { req cluster, req algorithm, req msit_compat, req seed, opt groups, req holdout, def robust });

json_struct!(Placement { req layers });

json_struct!(PhaseInfo { req ranks, req skipped_ranks, req dumps, req intervals_kept, req intervals_dropped, req files, req backups_used });
