/**
 * A zip reader for `.pt` archives that trusts nothing in the file.
 *
 * It reads the central directory (zip64 included), then each entry on demand: stored entries are views of the
 * input, deflated ones are inflated by fflate in small chunks and stopped as soon as they pass the size they
 * claim. Every offset and size is checked against the file before use, every claimed size is charged to the
 * budget before anything is allocated, and each entry's CRC-32 is verified. Not supported: encryption,
 * multi-disk archives and compression methods other than stored (0) and deflate (8).
 */
import { Inflate } from 'fflate';
import { RnnError } from '../../errors.js';
import { crc32 } from './crc32.js';
import type { Budget } from './limits.js';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated. */
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  headerOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
/** DEFLATE cannot expand one input byte to more than 1032 output bytes (258-byte matches from 2-bit codes). */
const MAX_DEFLATE_RATIO = 1032;
/** Inflate input per step: at most ~16 MiB of output can appear between two size checks. */
const INFLATE_CHUNK = 16 * 1024;

function corrupt(message: string, details: { expected?: unknown; got?: unknown } = {}): RnnError {
  return new RnnError('corrupt_file', `corrupt .pt zip archive: ${message}`, details);
}

/** Little-endian reads that throw RnnError (not RangeError) past the end. */
class Reader {
  readonly view: DataView;

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  check(offset: number, length: number, what: string): void {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw corrupt(`${what} at byte ${offset} (${length} bytes) runs past the end of the file`, {
        expected: `<= ${this.bytes.length}`,
        got: offset + length,
      });
    }
  }

  u16(offset: number): number {
    this.check(offset, 2, 'a field');
    return this.view.getUint16(offset, true);
  }

  u32(offset: number): number {
    this.check(offset, 4, 'a field');
    return this.view.getUint32(offset, true);
  }

  u64(offset: number): number {
    const lo = this.u32(offset);
    const hi = this.u32(offset + 4);
    const value = hi * 2 ** 32 + lo;
    if (!Number.isSafeInteger(value)) throw corrupt(`a 64-bit size or offset at byte ${offset} is too large`);
    return value;
  }
}

/** The end-of-central-directory record: where the directory is and how many entries it has. */
function findDirectory(r: Reader): { offset: number; size: number; count: number } {
  const n = r.bytes.length;
  // The record is 22 bytes plus a comment of at most 65535; search backwards for its signature.
  let eocd = -1;
  for (let i = n - 22; i >= 0 && i >= n - 22 - 0xffff; i--) {
    if (r.view.getUint32(i, true) === EOCD && i + 22 + r.u16(i + 20) <= n) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt('no end-of-central-directory record (not a zip file, or truncated)');
  if (r.u16(eocd + 4) !== 0 || r.u16(eocd + 6) !== 0) throw unsupportedMultiDisk();
  let count = r.u16(eocd + 10);
  let size = r.u32(eocd + 12);
  let offset = r.u32(eocd + 16);
  const locator = eocd - 20;
  if (locator >= 0 && r.u32(locator) === ZIP64_LOCATOR) {
    const at = r.u64(locator + 8);
    if (r.u32(at) !== ZIP64_EOCD) throw corrupt(`the zip64 locator points at byte ${at}, which is not a zip64 record`);
    if (r.u32(at + 16) !== 0 || r.u32(at + 20) !== 0) throw unsupportedMultiDisk();
    count = r.u64(at + 32);
    size = r.u64(at + 40);
    offset = r.u64(at + 48);
  }
  r.check(offset, size, 'the central directory');
  // Each directory record takes at least 46 bytes, so the count cannot honestly exceed size / 46.
  if (count > size / 46) throw corrupt(`the directory claims ${count} entries in ${size} bytes`);
  return { offset, size, count };
}

function unsupportedMultiDisk(): RnnError {
  return new RnnError('unsupported', 'multi-disk (split) zip archives are not supported');
}

/** Lists the archive's entries from its central directory. */
export function listEntries(bytes: Uint8Array): ZipEntry[] {
  const r = new Reader(bytes);
  const dir = findDirectory(r);
  const entries: ZipEntry[] = [];
  const seen = new Set<string>();
  const utf8 = new TextDecoder('utf-8');
  let p = dir.offset;
  for (let i = 0; i < dir.count; i++) {
    if (r.u32(p) !== CENTRAL) throw corrupt(`directory entry ${i} at byte ${p} has a bad signature`);
    const flags = r.u16(p + 8);
    const method = r.u16(p + 10);
    let crc = r.u32(p + 16);
    let compressedSize = r.u32(p + 20);
    let size = r.u32(p + 24);
    const nameLength = r.u16(p + 28);
    const extraLength = r.u16(p + 30);
    const commentLength = r.u16(p + 32);
    let headerOffset = r.u32(p + 42);
    r.check(p + 46, nameLength + extraLength + commentLength, `directory entry ${i}`);
    const name = utf8.decode(bytes.subarray(p + 46, p + 46 + nameLength));
    crc >>>= 0;
    // Fields saturated at 0xFFFFFFFF are in the zip64 extra field (id 1), in this order, only if saturated.
    if (size === 0xffffffff || compressedSize === 0xffffffff || headerOffset === 0xffffffff) {
      const z = zip64Extra(r, p + 46 + nameLength, extraLength, name);
      let q = 0;
      const next = (): number => {
        if (q + 8 > z.length) throw corrupt(`entry '${name}' has a zip64 extra field too short for its sizes`);
        const v = r.u64(z.start + q);
        q += 8;
        return v;
      };
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (headerOffset === 0xffffffff) headerOffset = next();
    }
    if (flags & 1) throw new RnnError('unsupported', `zip entry '${name}' is encrypted`);
    if (method !== 0 && method !== 8) {
      throw new RnnError('unsupported', `zip entry '${name}' uses compression method ${method}`, {
        expected: '0 (stored) or 8 (deflate)',
        got: method,
      });
    }
    if (method === 0 && compressedSize !== size) {
      throw corrupt(`stored entry '${name}' has compressed size ${compressedSize} but size ${size}`);
    }
    if (seen.has(name)) throw corrupt(`entry '${name}' appears twice`);
    seen.add(name);
    entries.push({ name, method, crc, compressedSize, size, headerOffset });
    p += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function zip64Extra(r: Reader, start: number, length: number, name: string): { start: number; length: number } {
  let q = start;
  while (q + 4 <= start + length) {
    const id = r.u16(q);
    const size = r.u16(q + 2);
    if (q + 4 + size > start + length) break;
    if (id === 1) return { start: q + 4, length: size };
    q += 4 + size;
  }
  throw corrupt(`entry '${name}' has saturated sizes but no zip64 extra field`);
}

/** Where the entry's data starts, after its local header; checks the header agrees with the directory. */
function dataOffset(r: Reader, e: ZipEntry): number {
  const p = e.headerOffset;
  if (r.u32(p) !== LOCAL) throw corrupt(`entry '${e.name}': no local header at byte ${p}`);
  const nameLength = r.u16(p + 26);
  const extraLength = r.u16(p + 28);
  const start = p + 30 + nameLength + extraLength;
  r.check(start, e.compressedSize, `the data of '${e.name}'`);
  return start;
}

/**
 * The bytes of one entry. Stored entries are views of `bytes` (no copy); deflated ones are charged to
 * `budget` by their claimed size before inflating, and inflating stops as soon as the output passes that size.
 */
export function readEntry(bytes: Uint8Array, e: ZipEntry, budget: Budget, verifyCrc: boolean): Uint8Array {
  const r = new Reader(bytes);
  const start = dataOffset(r, e);
  const raw = bytes.subarray(start, start + e.compressedSize);
  const data = e.method === 0 ? raw : inflate(raw, e, budget);
  if (verifyCrc && crc32(data) !== e.crc) {
    throw corrupt(`entry '${e.name}' fails its CRC-32 check (the file is damaged)`, {
      expected: e.crc,
      got: crc32(data),
    });
  }
  return data;
}

function inflate(raw: Uint8Array, e: ZipEntry, budget: Budget): Uint8Array {
  if (e.size > raw.length * MAX_DEFLATE_RATIO + 64) {
    throw corrupt(`deflated entry '${e.name}' claims ${e.size} bytes from ${raw.length}, more than DEFLATE can give`, {
      expected: `<= ${raw.length * MAX_DEFLATE_RATIO + 64}`,
      got: e.size,
    });
  }
  budget.take(e.size, `inflating '${e.name}'`);
  const out = new Uint8Array(e.size);
  let filled = 0;
  const inflater = new Inflate((chunk) => {
    if (filled + chunk.length > out.length) {
      throw corrupt(`deflated entry '${e.name}' inflates past the ${e.size} bytes it claims`, { expected: e.size });
    }
    out.set(chunk, filled);
    filled += chunk.length;
  });
  try {
    for (let i = 0; i === 0 || i < raw.length; i += INFLATE_CHUNK) {
      const end = Math.min(i + INFLATE_CHUNK, raw.length);
      inflater.push(raw.subarray(i, end), end === raw.length);
    }
  } catch (err) {
    if (err instanceof RnnError) throw err;
    throw corrupt(`deflated entry '${e.name}' does not inflate: ${(err as Error).message}`);
  }
  if (filled !== e.size) {
    throw corrupt(`deflated entry '${e.name}' inflates to ${filled} bytes, not the ${e.size} it claims`, {
      expected: e.size,
      got: filled,
    });
  }
  return out;
}
