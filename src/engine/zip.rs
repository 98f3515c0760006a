//! A minimal ZIP writer (and reader, for tests and checks): "stored" entries
//! only (method 0, no compression), CRC-32 per entry, one central directory.
//! Enough for the page's "Download all" archive, which holds a few JSON and
//! Markdown files. Deterministic: every entry gets the same fixed DOS time
//! (1980-01-01 00:00), so the same files always give the same bytes.
//!
//! Layout (PKWARE APPNOTE 4.3): for each file a local header
//! (`PK\x03\x04`) and its bytes; then one central-directory record per file
//! (`PK\x01\x02`); then the end-of-central-directory record (`PK\x05\x06`).
//! No ZIP64: an archive is refused (as an error value) past 4 GiB or 65 535
//! entries, far beyond what the page writes.

use super::error::{Error, Result};

/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as ZIP uses it.
pub fn crc32(bytes: &[u8]) -> u32 {
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    const TABLE: [u32; 256] = table();
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c = TABLE[((c ^ b as u32) & 0xFF) as usize] ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

/// DOS time 00:00:00 and date 1980-01-01 (day 1, month 1, year 0 = 1980).
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1;
/// "Version needed to extract": 1.0 (stored entries).
const VERSION: u16 = 10;
/// General-purpose flag bit 11: names are UTF-8.
const FLAG_UTF8: u16 = 1 << 11;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn too_big(what: &str) -> Error {
    Error::msg(format!("cannot write the zip archive: {what} is past the ZIP limits (no ZIP64 support)"))
}

/// A ZIP archive of `files` (name, bytes), in the order given, every entry
/// stored uncompressed. Names must be non-empty relative paths with `/`
/// separators and unique.
pub fn store(files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
    if files.len() > u16::MAX as usize {
        return Err(too_big("the number of entries"));
    }
    for (i, (name, _)) in files.iter().enumerate() {
        if name.is_empty() || name.starts_with('/') || name.contains('\\') || name.split('/').any(|p| p == "..") {
            return Err(Error::msg(format!("cannot write the zip archive: bad entry name '{name}'")));
        }
        if name.len() > u16::MAX as usize {
            return Err(too_big("an entry name"));
        }
        if files[..i].iter().any(|(n, _)| n == name) {
            return Err(Error::msg(format!("cannot write the zip archive: '{name}' is given twice")));
        }
    }
    let total: usize = files.iter().map(|(n, b)| 30 + 46 + 2 * n.len() + b.len()).sum::<usize>() + 22;
    let mut out = Vec::with_capacity(total);
    let mut central = Vec::new();
    for (name, bytes) in files {
        let size = u32::try_from(bytes.len()).map_err(|_| too_big("an entry"))?;
        let offset = u32::try_from(out.len()).map_err(|_| too_big("the archive"))?;
        let crc = crc32(bytes);
        let n = name.len() as u16;
        // Local file header.
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, VERSION);
        u16le(&mut out, FLAG_UTF8);
        u16le(&mut out, 0); // method: stored
        u16le(&mut out, DOS_TIME);
        u16le(&mut out, DOS_DATE);
        u32le(&mut out, crc);
        u32le(&mut out, size); // compressed size
        u32le(&mut out, size); // uncompressed size
        u16le(&mut out, n);
        u16le(&mut out, 0); // extra field length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(bytes);
        // Central directory record.
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, VERSION); // version made by (MS-DOS, 1.0)
        u16le(&mut central, VERSION);
        u16le(&mut central, FLAG_UTF8);
        u16le(&mut central, 0);
        u16le(&mut central, DOS_TIME);
        u16le(&mut central, DOS_DATE);
        u32le(&mut central, crc);
        u32le(&mut central, size);
        u32le(&mut central, size);
        u16le(&mut central, n);
        u16le(&mut central, 0); // extra
        u16le(&mut central, 0); // comment
        u16le(&mut central, 0); // disk number start
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, 0); // external attributes
        u32le(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).map_err(|_| too_big("the archive"))?;
    let cd_size = u32::try_from(central.len()).map_err(|_| too_big("the central directory"))?;
    out.extend_from_slice(&central);
    u32::try_from(out.len() + 22).map_err(|_| too_big("the archive"))?;
    // End of central directory.
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0); // this disk
    u16le(&mut out, 0); // disk with the central directory
    u16le(&mut out, files.len() as u16);
    u16le(&mut out, files.len() as u16);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    u16le(&mut out, 0); // comment length
    Ok(out)
}

/// One entry read back by [`read_stored`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
    pub crc32: u32,
}

/// `len` bytes of `b` from `start`, if they are all there (no overflow).
fn span(b: &[u8], start: usize, len: usize) -> Option<&[u8]> {
    b.get(start..start.checked_add(len)?)
}
fn rd16(b: &[u8], at: usize) -> Option<u16> {
    let s = span(b, at, 2)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}
fn rd32(b: &[u8], at: usize) -> Option<u32> {
    let s = span(b, at, 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Read an archive of stored entries through its central directory, checking
/// that every local header agrees with it and every CRC matches. Errors name
/// the entry and the rule broken.
pub fn read_stored(zip: &[u8]) -> Result<Vec<Entry>> {
    let bad = |why: String| Error::msg(format!("not a readable zip archive: {why}"));
    let trunc = || bad("it is cut short".into());
    if zip.len() < 22 {
        return Err(trunc());
    }
    // The end record (no archive comment is written, but allow one).
    let eocd = (0..=zip.len() - 22)
        .rev()
        .find(|&i| rd32(zip, i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("no end-of-central-directory record".into()))?;
    let count = rd16(zip, eocd + 10).ok_or_else(trunc)? as usize;
    let cd_size = rd32(zip, eocd + 12).ok_or_else(trunc)? as usize;
    let mut at = rd32(zip, eocd + 16).ok_or_else(trunc)? as usize;
    if at.checked_add(cd_size) != Some(eocd) {
        return Err(bad("the central directory does not end where the end record starts".into()));
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        if rd32(zip, at) != Some(0x0201_4b50) {
            return Err(bad(format!("central record {} has no signature", i + 1)));
        }
        let method = rd16(zip, at + 10).ok_or_else(trunc)?;
        let crc = rd32(zip, at + 16).ok_or_else(trunc)?;
        let csize = rd32(zip, at + 20).ok_or_else(trunc)? as usize;
        let usize_ = rd32(zip, at + 24).ok_or_else(trunc)? as usize;
        let n = rd16(zip, at + 28).ok_or_else(trunc)? as usize;
        let extra = rd16(zip, at + 30).ok_or_else(trunc)? as usize;
        let comment = rd16(zip, at + 32).ok_or_else(trunc)? as usize;
        let local = rd32(zip, at + 42).ok_or_else(trunc)? as usize;
        let name_bytes = span(zip, at + 46, n).ok_or_else(trunc)?;
        let name = String::from_utf8(name_bytes.to_vec()).map_err(|_| bad(format!("entry {} has a non-UTF-8 name", i + 1)))?;
        if method != 0 || csize != usize_ {
            return Err(bad(format!("{name} is compressed (method {method}); only stored entries are read")));
        }
        if rd32(zip, local) != Some(0x0403_4b50) {
            return Err(bad(format!("{name}: no local header at offset {local}")));
        }
        let ln = rd16(zip, local + 26).ok_or_else(trunc)? as usize;
        let lextra = rd16(zip, local + 28).ok_or_else(trunc)? as usize;
        if local.checked_add(30).and_then(|s| span(zip, s, ln)) != Some(name_bytes)
            || rd32(zip, local + 14) != Some(crc)
            || rd32(zip, local + 18).map(|v| v as usize) != Some(csize)
        {
            return Err(bad(format!("{name}: the local header disagrees with the central directory")));
        }
        let start = local.checked_add(30 + ln + lextra).ok_or_else(trunc)?;
        let data = span(zip, start, csize).ok_or_else(trunc)?.to_vec();
        if crc32(&data) != crc {
            return Err(bad(format!("{name}: CRC-32 mismatch")));
        }
        out.push(Entry { name, data, crc32: crc });
        at = at.checked_add(46 + n + extra + comment).ok_or_else(trunc)?;
    }
    Ok(out)
}

/// One entry of an archive listed by [`entries`]: its name and where its
/// (possibly compressed) bytes sit in the archive. Nothing is copied or
/// inflated until [`ZipEntry::bytes`] is called.
#[derive(Debug, Clone)]
pub struct ZipEntry<'a> {
    pub name: String,
    /// 0 stored, 8 deflated (anything else is refused by [`ZipEntry::bytes`]).
    pub method: u16,
    /// The bytes as stored in the archive.
    raw: &'a [u8],
    /// Size once inflated, as the central directory declares it.
    pub size: usize,
    crc: u32,
}

/// Deflate cannot shrink data more than about 1032:1, so a larger declared
/// size is a lie (and is never allocated).
const MAX_DEFLATE_RATIO: usize = 1032;

impl<'a> ZipEntry<'a> {
    /// The entry's bytes: borrowed from the archive when stored, inflated
    /// (at most the declared size, itself at most 1032 times the compressed
    /// bytes) when deflated; the CRC-32 is checked either way.
    pub fn bytes(&self) -> Result<std::borrow::Cow<'a, [u8]>> {
        let bad = |why: &str| Error::msg(format!("not a readable zip archive: {}: {why}", self.name));
        let data: std::borrow::Cow<'a, [u8]> = match self.method {
            0 => {
                if self.raw.len() != self.size {
                    return Err(bad("a stored entry whose two sizes differ"));
                }
                std::borrow::Cow::Borrowed(self.raw)
            }
            8 => {
                if self.size > self.raw.len().saturating_mul(MAX_DEFLATE_RATIO).saturating_add(64) {
                    return Err(bad("the declared size is larger than deflate can produce from its bytes"));
                }
                let v = miniz_oxide::inflate::decompress_to_vec_with_limit(self.raw, self.size)
                    .map_err(|e| bad(&format!("the deflated data is broken ({:?})", e.status)))?;
                if v.len() != self.size {
                    return Err(bad("the inflated size differs from the declared size"));
                }
                std::borrow::Cow::Owned(v)
            }
            m => return Err(bad(&format!("compression method {m} is not supported (only stored and deflate)"))),
        };
        if crc32(&data) != self.crc {
            return Err(bad("CRC-32 mismatch"));
        }
        Ok(data)
    }
}

/// List the entries of any ordinary archive (stored or deflated entries, an
/// archive comment, extra fields, data descriptors) through its central
/// directory. ZIP64 archives (past 4 GiB or 65 535 entries) and encrypted
/// or multi-disk archives are refused with an error saying so. Every offset
/// is checked against the bytes present; nothing is allocated beyond one
/// record per central-directory entry actually there.
pub fn entries(zip: &[u8]) -> Result<Vec<ZipEntry<'_>>> {
    let bad = |why: String| Error::msg(format!("not a readable zip archive: {why}"));
    let trunc = || bad("it is cut short".into());
    if zip.len() < 22 {
        return Err(trunc());
    }
    // The end record sits in the last 22 + 65 535 (comment) bytes.
    let lowest = zip.len().saturating_sub(22 + u16::MAX as usize);
    let eocd = (lowest..=zip.len() - 22)
        .rev()
        .find(|&i| rd32(zip, i) == Some(0x0605_4b50))
        .ok_or_else(|| bad("no end-of-central-directory record".into()))?;
    let disk = rd16(zip, eocd + 4).ok_or_else(trunc)?;
    let count = rd16(zip, eocd + 10).ok_or_else(trunc)? as usize;
    let cd_size = rd32(zip, eocd + 12).ok_or_else(trunc)?;
    let cd_at = rd32(zip, eocd + 16).ok_or_else(trunc)?;
    if count == u16::MAX as usize || cd_size == u32::MAX || cd_at == u32::MAX {
        return Err(bad("it is a ZIP64 archive (over 4 GiB or 65 535 entries), which is not supported".into()));
    }
    if disk != 0 {
        return Err(bad("it is split over several disks".into()));
    }
    let mut at = cd_at as usize;
    if at.checked_add(cd_size as usize).is_none_or(|end| end > eocd) {
        return Err(bad("the central directory lies outside the file".into()));
    }
    // A central record takes at least 46 bytes: `count` is bounded by the bytes present.
    let mut out = Vec::with_capacity(count.min(cd_size as usize / 46));
    for i in 0..count {
        if rd32(zip, at) != Some(0x0201_4b50) {
            return Err(bad(format!("central record {} has no signature", i + 1)));
        }
        let flags = rd16(zip, at + 8).ok_or_else(trunc)?;
        let method = rd16(zip, at + 10).ok_or_else(trunc)?;
        let crc = rd32(zip, at + 16).ok_or_else(trunc)?;
        let csize = rd32(zip, at + 20).ok_or_else(trunc)?;
        let usize_ = rd32(zip, at + 24).ok_or_else(trunc)?;
        let n = rd16(zip, at + 28).ok_or_else(trunc)? as usize;
        let extra = rd16(zip, at + 30).ok_or_else(trunc)? as usize;
        let comment = rd16(zip, at + 32).ok_or_else(trunc)? as usize;
        let local = rd32(zip, at + 42).ok_or_else(trunc)?;
        let name_bytes = span(zip, at + 46, n).ok_or_else(trunc)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        if csize == u32::MAX || usize_ == u32::MAX || local == u32::MAX {
            return Err(bad(format!("{name} is a ZIP64 entry (over 4 GiB), which is not supported")));
        }
        if flags & 1 != 0 {
            return Err(bad(format!("{name} is encrypted")));
        }
        let local = local as usize;
        if rd32(zip, local) != Some(0x0403_4b50) {
            return Err(bad(format!("{name}: no local header at offset {local}")));
        }
        let ln = rd16(zip, local + 26).ok_or_else(trunc)? as usize;
        let lextra = rd16(zip, local + 28).ok_or_else(trunc)? as usize;
        if local.checked_add(30).and_then(|s| span(zip, s, ln)) != Some(name_bytes) {
            return Err(bad(format!("{name}: the local header names another file")));
        }
        let start = local.checked_add(30 + ln + lextra).ok_or_else(trunc)?;
        let raw = span(zip, start, csize as usize).ok_or_else(|| bad(format!("{name}: its data runs past the end of the file")))?;
        out.push(ZipEntry { name, method, raw, size: usize_ as usize, crc });
        at = at.checked_add(46 + n + extra + comment).ok_or_else(trunc)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn empty_archive_is_just_the_end_record() {
        let z = store(&[]).unwrap();
        assert_eq!(z.len(), 22);
        assert_eq!(&z[..4], b"PK\x05\x06");
        assert_eq!(read_stored(&z).unwrap(), vec![]);
    }

    #[test]
    fn round_trip_and_layout() {
        let files: Vec<(&str, &[u8])> =
            vec![("a.json", b"{\"x\": 1}"), ("dir/b.md", b"# hi\n"), ("empty.txt", b"")];
        let z = store(&files).unwrap();
        // Header sizes: 30 + name + data per local entry, 46 + name per central record, 22 end.
        let expect: usize = files.iter().map(|(n, b)| 30 + 46 + 2 * n.len() + b.len()).sum::<usize>() + 22;
        assert_eq!(z.len(), expect);
        assert_eq!(&z[..4], b"PK\x03\x04");
        let back = read_stored(&z).unwrap();
        assert_eq!(back.len(), 3);
        for (e, (n, b)) in back.iter().zip(&files) {
            assert_eq!(e.name, *n);
            assert_eq!(e.data, *b);
            assert_eq!(e.crc32, crc32(b));
        }
        // Deterministic bytes.
        assert_eq!(store(&files).unwrap(), z);
    }

    #[test]
    fn refuses_bad_names_and_duplicates() {
        for name in ["", "/abs", "../up", "a\\b"] {
            assert!(store(&[(name, b"x")]).is_err(), "{name:?}");
        }
        let e = store(&[("a", b"1"), ("a", b"2")]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
    }

    #[test]
    fn reader_catches_corruption_without_panicking() {
        let z = store(&[("a.txt", b"hello"), ("b.txt", b"world")]).unwrap();
        // Flip a data byte: CRC mismatch.
        let mut c = z.clone();
        c[30 + 5] ^= 1;
        assert!(read_stored(&c).unwrap_err().to_string().contains("CRC-32"));
        // Every truncation is an error, never a panic.
        for n in 0..z.len() {
            assert!(read_stored(&z[..n]).is_err(), "cut at {n}");
        }
    }

    #[test]
    fn entries_reads_stored_and_deflated() {
        let z = store(&[("a/x.txt", b"hello hello hello hello"), ("b", b"")]).unwrap();
        let e = entries(&z).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(&*e[0].bytes().unwrap(), b"hello hello hello hello");
        assert!(matches!(e[0].bytes().unwrap(), std::borrow::Cow::Borrowed(_)));
        // Rewrite entry 0 as deflated by hand (same layout, method 8).
        let data = b"hello hello hello hello";
        let packed = miniz_oxide::deflate::compress_to_vec(data, 6);
        let name = b"x";
        let crc = crc32(data);
        let mut z = Vec::new();
        for v in [0x0403_4b50u32] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [20u16, 0, 8, 0, 0] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [crc, packed.len() as u32, data.len() as u32] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [1u16, 0] { z.extend_from_slice(&v.to_le_bytes()); }
        z.extend_from_slice(name);
        z.extend_from_slice(&packed);
        let cd = z.len() as u32;
        z.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        for v in [20u16, 20, 0, 8, 0, 0] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [crc, packed.len() as u32, data.len() as u32] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [1u16, 0, 0, 0, 0] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [0u32, 0] { z.extend_from_slice(&v.to_le_bytes()); }
        z.extend_from_slice(name);
        let cd_size = z.len() as u32 - cd;
        z.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        for v in [0u16, 0, 1, 1] { z.extend_from_slice(&v.to_le_bytes()); }
        for v in [cd_size, cd] { z.extend_from_slice(&v.to_le_bytes()); }
        z.extend_from_slice(&0u16.to_le_bytes());
        let e = entries(&z).unwrap();
        assert_eq!(e[0].method, 8);
        assert_eq!(&*e[0].bytes().unwrap(), data);
        for n in 0..z.len() {
            let _ = entries(&z[..n]).map(|es| es.iter().map(|e| e.bytes().map(|_| ())).collect::<Vec<_>>());
        }
    }
}
