// A small ZIP reader for the e2e tests: walks the central directory, checks
// every local header against it and every CRC-32 (zlib.crc32), and returns
// the entries in archive order. Stored (method 0) and deflated (8) entries.
import zlib from 'node:zlib';

export function readZip(buf) {
  const u16 = (o) => buf.readUInt16LE(o);
  const u32 = (o) => buf.readUInt32LE(o);
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) {
    if (u32(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('no end-of-central-directory record');
  const count = u16(eocd + 10);
  const cdSize = u32(eocd + 12);
  let at = u32(eocd + 16);
  if (at + cdSize !== eocd) throw new Error('central directory does not end at the end record');
  const entries = [];
  for (let i = 0; i < count; i++) {
    if (u32(at) !== 0x02014b50) throw new Error(`central record ${i} has no signature`);
    const method = u16(at + 10);
    const crc = u32(at + 16);
    const csize = u32(at + 20);
    const size = u32(at + 24);
    const n = u16(at + 28);
    const extra = u16(at + 30);
    const comment = u16(at + 32);
    const local = u32(at + 42);
    const name = buf.subarray(at + 46, at + 46 + n).toString('utf8');
    if (u32(local) !== 0x04034b50) throw new Error(`${name}: no local header`);
    const ln = u16(local + 26);
    const lextra = u16(local + 28);
    if (buf.subarray(local + 30, local + 30 + ln).toString('utf8') !== name) throw new Error(`${name}: local name differs`);
    const start = local + 30 + ln + lextra;
    const raw = buf.subarray(start, start + csize);
    const data = method === 0 ? Buffer.from(raw) : method === 8 ? zlib.inflateRawSync(raw) : null;
    if (!data) throw new Error(`${name}: unknown method ${method}`);
    if (data.length !== size) throw new Error(`${name}: size ${data.length} != ${size}`);
    if ((zlib.crc32(data) >>> 0) !== crc) throw new Error(`${name}: CRC-32 mismatch`);
    entries.push({ name, method, data });
    at += 46 + n + extra + comment;
  }
  return entries;
}
