//! Text decoding (UTF-8 with or without BOM, UTF-16 LE/BE with BOM, CRLF) and
//! the fast integer CSV scanner used for every rank file.
//!
//! The scanner works on bytes: no per-cell allocation, one pass, every error
//! names the file, the 1-based row (line) and column (field).

use std::borrow::Cow;

use crate::engine::error::{Error, Result};

/// Decode a text file to UTF-8 bytes: strips a UTF-8 BOM, converts UTF-16
/// (LE or BE, with BOM) and rejects binary files and empty files.
pub fn decode_text<'a>(file: &str, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>> {
    if bytes.is_empty() {
        return Err(Error::file(file, "the file is empty"));
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return check_text(file, rest).map(Cow::Borrowed);
    }
    let utf16 = if bytes.starts_with(&[0xFF, 0xFE]) {
        Some(true)
    } else if bytes.starts_with(&[0xFE, 0xFF]) {
        Some(false)
    } else {
        None
    };
    if let Some(le) = utf16 {
        let body = &bytes[2..];
        if body.len() % 2 != 0 {
            return Err(Error::file(file, "the file starts with a UTF-16 byte-order mark but has an odd number of bytes: it is not valid UTF-16 text"));
        }
        let units = body.chunks_exact(2).map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
        let mut s = String::with_capacity(body.len() / 2);
        for ch in char::decode_utf16(units) {
            match ch {
                Ok(c) => s.push(c),
                Err(_) => return Err(Error::file(file, "invalid UTF-16 text (unpaired surrogate)")),
            }
        }
        let v = s.into_bytes();
        check_text(file, &v)?;
        return Ok(Cow::Owned(v));
    }
    check_text(file, bytes).map(Cow::Borrowed)
}

fn check_text<'a>(file: &str, bytes: &'a [u8]) -> Result<&'a [u8]> {
    if bytes.is_empty() || bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::file(file, "the file is empty"));
    }
    let head = &bytes[..bytes.len().min(8192)];
    if head.contains(&0) {
        return Err(Error::file(file, "this is a binary file, not a text CSV/JSON file (it contains NUL bytes); UTF-16 text needs a byte-order mark"));
    }
    Ok(bytes)
}

/// A matrix of non-negative integer counts, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<u64>,
}

impl IntMatrix {
    #[inline]
    pub fn row(&self, r: usize) -> &[u64] {
        &self.data[r * self.cols..(r + 1) * self.cols]
    }
    /// Keep only the first `rows` rows.
    pub fn truncate_rows(&mut self, rows: usize) {
        if rows < self.rows {
            self.rows = rows;
            self.data.truncate(rows * self.cols);
        }
    }
}

/// The text of the cell starting at `start` (up to the next delimiter), for messages.
fn cell_text(t: &[u8], start: usize) -> String {
    let mut end = start;
    while end < t.len() && t[end] != b',' && t[end] != b'\n' && t[end] != b'\r' {
        end += 1;
    }
    let s = String::from_utf8_lossy(&t[start..end]).trim().to_string();
    if s.chars().count() > 40 {
        let short: String = s.chars().take(40).collect();
        format!("{short}...")
    } else {
        s
    }
}

fn describe_bad(cell: &str) -> &'static str {
    let lower = cell.to_ascii_lowercase();
    if lower.starts_with('-') && lower.len() > 1 && lower[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        "counts must not be negative"
    } else if lower.contains("nan") {
        "NaN is not a count"
    } else if lower.contains("inf") {
        "infinity is not a count"
    } else if lower.contains('e') && lower.bytes().any(|b| b.is_ascii_digit()) {
        "counts must be plain non-negative integers (no exponent notation)"
    } else {
        "not a number: counts must be non-negative integers"
    }
}

/// Parse a headerless CSV of non-negative integers. Blank lines are skipped;
/// every non-blank line must have the same number of fields. A value written
/// with a zero fraction (`12.0`) is accepted; any other fraction is an error.
pub fn parse_counts(file: &str, bytes: &[u8]) -> Result<IntMatrix> {
    let text = decode_text(file, bytes)?;
    let t: &[u8] = &text;
    let n = t.len();
    let mut data: Vec<u64> = Vec::with_capacity(n / 3 + 1);
    let mut cols: Option<usize> = None;
    let mut rows = 0usize;
    let mut line = 0usize;
    let mut i = 0usize;
    while i < n {
        line += 1;
        // Blank line?
        let mut j = i;
        while j < n && (t[j] == b' ' || t[j] == b'\t' || t[j] == b'\r') {
            j += 1;
        }
        if j >= n {
            break;
        }
        if t[j] == b'\n' {
            i = j + 1;
            continue;
        }
        // A data line.
        let mut col = 0usize;
        let mut p = i;
        loop {
            col += 1;
            // leading spaces
            while p < n && (t[p] == b' ' || t[p] == b'\t') {
                p += 1;
            }
            let start = p;
            let mut v: u64 = 0;
            let mut digits = 0usize;
            while p < n {
                let d = t[p].wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                v = match v.checked_mul(10).and_then(|x| x.checked_add(d as u64)) {
                    Some(x) => x,
                    None => return Err(Error::cell(file, line, col, format!("the value {} is too large for a count", cell_text(t, start)))),
                };
                digits += 1;
                p += 1;
            }
            if p < n && t[p] == b'.' {
                // a fraction: only zeros allowed
                p += 1;
                let mut frac_digits = 0usize;
                while p < n && t[p].is_ascii_digit() {
                    if t[p] != b'0' {
                        return Err(Error::cell(file, line, col, format!("the value {} is fractional: counts must be whole numbers", cell_text(t, start))));
                    }
                    frac_digits += 1;
                    p += 1;
                }
                if digits == 0 && frac_digits == 0 {
                    return Err(Error::cell(file, line, col, format!("{}: '{}'", describe_bad(&cell_text(t, start)), cell_text(t, start))));
                }
                digits += frac_digits;
            }
            while p < n && (t[p] == b' ' || t[p] == b'\t') {
                p += 1;
            }
            let at_end = p >= n || t[p] == b',' || t[p] == b'\n' || t[p] == b'\r';
            if digits == 0 || !at_end {
                let cell = cell_text(t, start);
                if cell.is_empty() {
                    return Err(Error::cell(file, line, col, "empty cell: every field must hold a count"));
                }
                return Err(Error::cell(file, line, col, format!("{}: '{}'", describe_bad(&cell), cell)));
            }
            data.push(v);
            if p < n && t[p] == b',' {
                p += 1;
                continue;
            }
            // end of line: skip \r, then \n
            while p < n && t[p] == b'\r' {
                p += 1;
            }
            if p < n && t[p] == b'\n' {
                p += 1;
            } else if p < n {
                // a lone CR followed by more data: treat as a line end (old Mac)
            }
            break;
        }
        match cols {
            None => cols = Some(col),
            Some(c) if c != col => {
                return Err(Error::row(
                    file,
                    line,
                    format!("this row has {col} values but the first row has {c}: every row must have the same number of columns"),
                ))
            }
            _ => {}
        }
        rows += 1;
        i = p;
    }
    let cols = match cols {
        Some(c) => c,
        None => return Err(Error::file(file, "the file holds no data rows")),
    };
    data.shrink_to_fit();
    Ok(IntMatrix { rows, cols, data })
}

/// A matrix of non-negative finite real numbers (plain load matrices).
#[derive(Debug, Clone, PartialEq)]
pub struct FloatMatrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

/// Parse a CSV of non-negative real numbers, with an optional header row
/// (a first row whose cells are not all numbers). Separator: comma, or
/// semicolon / tab when the first line holds no comma. Read with the `csv`
/// crate: quoted cells (`"1.5"`) and quoted headers with separators inside
/// are read as CSV means them; blank lines are skipped.
pub fn parse_float_csv(file: &str, bytes: &[u8]) -> Result<(FloatMatrix, bool)> {
    let text = decode_text(file, bytes)?;
    if let Err(e) = std::str::from_utf8(&text) {
        return Err(Error::file(file, format!("the file is not valid UTF-8 text (byte {})", e.valid_up_to() + 1)));
    }
    let first = text.split(|&b| b == b'\n').find(|l| !l.iter().all(u8::is_ascii_whitespace)).unwrap_or(&[]);
    let sep = if first.contains(&b',') {
        b','
    } else if first.contains(&b';') {
        b';'
    } else {
        b'\t'
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(sep)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(&text[..]);
    let mut data = Vec::new();
    let mut cols: Option<usize> = None;
    let mut rows = 0usize;
    let mut header = false;
    let mut first_row = true;
    let mut record = csv::StringRecord::new();
    // The line of a record, from its byte offset (the csv crate's own line
    // count skips blank lines): newlines counted incrementally.
    let (mut seen_byte, mut seen_line) = (0usize, 1usize);
    let mut line_at = |byte: usize| {
        // A record's position may lie before the blank lines skipped to reach it.
        let mut byte = byte.min(text.len());
        while byte < text.len() && (text[byte] == b'\n' || text[byte] == b'\r') {
            byte += 1;
        }
        if byte >= seen_byte {
            seen_line += text[seen_byte..byte].iter().filter(|&&b| b == b'\n').count();
            seen_byte = byte;
        }
        seen_line
    };
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(rows + 1, |p| line_at(p.byte() as usize));
                return Err(Error::row(file, line, format!("not readable as CSV: {e}")));
            }
        }
        let line = record.position().map_or(rows + 1, |p| line_at(p.byte() as usize));
        // A line of spaces only is blank too.
        if record.iter().all(str::is_empty) {
            continue;
        }
        if first_row {
            first_row = false;
            if record.iter().any(|c| c.parse::<f64>().is_err()) {
                header = true;
                continue;
            }
        }
        for (ci, c) in record.iter().enumerate() {
            let v: f64 = match c.parse::<f64>() {
                Ok(v) => v,
                Err(_) => {
                    let msg = if c.is_empty() { "empty cell: every field must hold a load".to_string() } else { format!("not a number: '{c}'") };
                    return Err(Error::cell(file, line, ci + 1, msg));
                }
            };
            if !v.is_finite() {
                return Err(Error::cell(file, line, ci + 1, format!("'{c}' is not a finite load")));
            }
            if v < 0.0 {
                return Err(Error::cell(file, line, ci + 1, format!("loads must not be negative: '{c}'")));
            }
            data.push(v);
        }
        match cols {
            None => cols = Some(record.len()),
            Some(k) if k != record.len() => {
                return Err(Error::row(
                    file,
                    line,
                    format!("this row has {} values but the first data row has {k}: every row must have the same number of columns", record.len()),
                ))
            }
            _ => {}
        }
        rows += 1;
    }
    match cols {
        Some(c) => Ok((FloatMatrix { rows, cols: c, data }, header)),
        None => Err(Error::file(file, "the file holds no data rows")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_crlf() {
        let m = parse_counts("a.csv", b"1,2\r\n3, 4\r\n\r\n").unwrap();
        assert_eq!((m.rows, m.cols), (2, 2));
        assert_eq!(m.data, vec![1, 2, 3, 4]);
    }

    #[test]
    fn zero_fraction_ok_fraction_err() {
        assert_eq!(parse_counts("a.csv", b"1.0,2\n").unwrap().data, vec![1, 2]);
        let e = parse_counts("a.csv", b"1,2\n3,4.5\n").unwrap_err();
        assert_eq!((e.row, e.column), (Some(2), Some(2)));
        assert!(e.message.contains("fractional"));
    }

    #[test]
    fn utf16() {
        let s = "5,6\n7,8\n";
        let mut b = vec![0xFF, 0xFE];
        for u in s.encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(parse_counts("a.csv", &b).unwrap().data, vec![5, 6, 7, 8]);
        let mut b = vec![0xFE, 0xFF];
        for u in s.encode_utf16() {
            b.extend_from_slice(&u.to_be_bytes());
        }
        assert_eq!(parse_counts("a.csv", &b).unwrap().data, vec![5, 6, 7, 8]);
    }

    #[test]
    fn float_matrices_read_as_csv() {
        let (m, header) = parse_float_csv("m.csv", b"\"expert 0\",\"expert, 1\"\r\n1.5,\"2\"\n\n  \n3,4e1\n").unwrap();
        assert!(header);
        assert_eq!((m.rows, m.cols, m.data), (2, 2, vec![1.5, 2.0, 3.0, 40.0]));
        let (m, header) = parse_float_csv("m.csv", b"1;2\n3;4\n").unwrap();
        assert_eq!((header, m.data), (false, vec![1.0, 2.0, 3.0, 4.0]));
        assert_eq!(parse_float_csv("m.csv", b"1\t2\n").unwrap().0.cols, 2);
        let e = parse_float_csv("m.csv", b"a,b\n1,2\n\n3,x\n").unwrap_err();
        assert_eq!((e.row, e.column), (Some(4), Some(2)), "{e}");
        let e = parse_float_csv("m.csv", b"1,2\n3\n").unwrap_err();
        assert_eq!(e.row, Some(2));
        assert!(e.message.contains("same number of columns"));
        assert!(parse_float_csv("m.csv", b"1,-2\n").unwrap_err().message.contains("negative"));
        assert!(parse_float_csv("m.csv", b"1,inf\n").unwrap_err().message.contains("finite"));
        assert!(parse_float_csv("m.csv", b"a,b\n").unwrap_err().message.contains("no data rows"));
    }

    #[test]
    fn errors() {
        assert!(parse_counts("a.csv", b"1,-2\n").unwrap_err().message.contains("negative"));
        assert!(parse_counts("a.csv", b"1,nan\n").unwrap_err().message.contains("NaN"));
        assert!(parse_counts("a.csv", b"1,,2\n").unwrap_err().message.contains("empty cell"));
        assert!(parse_counts("a.csv", b"1,2\n1\n").unwrap_err().message.contains("same number"));
        assert!(parse_counts("a.csv", b"").unwrap_err().message.contains("empty"));
        assert!(parse_counts("a.csv", b"\x00\x01\x02").unwrap_err().message.contains("binary"));
        assert!(parse_counts("a.csv", b"99999999999999999999999").unwrap_err().message.contains("too large"));
    }
}
