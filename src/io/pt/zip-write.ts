/**
 * Writes a stored (uncompressed) zip the way torch.save lays one out: each entry's data starts on a 64-byte
 * boundary, reached by padding the local header's extra field with an 'FB' record of 'Z' bytes, so a reader
 * can map tensor data in place. No compression, no data descriptors, no zip64 (a Uint8Array in Node.js 20
 * cannot exceed 4 GiB anyway, and we refuse rather than write a truncated size).
 */
import { RnnError } from '../../errors.js';
import { crc32 } from './crc32.js';

const ALIGNMENT = 64;
/** The extra-field id torch uses for its alignment padding ('FB' little-endian). */
const PADDING_ID = 0x4246;
/** 1980-01-01 00:00 in MS-DOS date format: fixed, so the same state dict always gives the same bytes. */
const DOS_DATE = 0x21;

export interface ZipMember {
  name: string;
  data: Uint8Array;
}

/** A stored zip of `members` in order, each entry's data 64-byte aligned. */
export function writeStoredZip(members: readonly ZipMember[]): Uint8Array {
  if (members.length >= 0xffff) {
    throw new RnnError('unsupported', `cannot write ${members.length} zip entries without zip64`, {
      expected: '< 65535',
      got: members.length,
    });
  }
  const encoder = new TextEncoder();
  const layout = [];
  let offset = 0;
  for (const m of members) {
    const name = encoder.encode(m.name);
    // Padding so that 30 (header) + name + 4 (extra record header) + pad lands on the alignment.
    const pad = (ALIGNMENT - ((offset + 30 + name.length + 4) % ALIGNMENT)) % ALIGNMENT;
    const extra = 4 + pad;
    layout.push({ name, data: m.data, crc: crc32(m.data), offset, extra });
    offset += 30 + name.length + extra + m.data.length;
  }
  const directoryOffset = offset;
  for (const l of layout) offset += 46 + l.name.length;
  const total = offset + 22;
  if (total > 0xffffffff) {
    throw new RnnError('unsupported', `a ${total}-byte archive needs zip64, which this writer does not emit`);
  }

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  for (const l of layout) {
    const p = l.offset;
    view.setUint32(p, 0x04034b50, true);
    view.setUint16(p + 4, 20, true); // version needed: 2.0
    view.setUint16(p + 8, 0, true); // method: stored
    view.setUint16(p + 12, DOS_DATE, true);
    view.setUint32(p + 14, l.crc, true);
    view.setUint32(p + 18, l.data.length, true);
    view.setUint32(p + 22, l.data.length, true);
    view.setUint16(p + 26, l.name.length, true);
    view.setUint16(p + 28, l.extra, true);
    out.set(l.name, p + 30);
    const e = p + 30 + l.name.length;
    view.setUint16(e, PADDING_ID, true);
    view.setUint16(e + 2, l.extra - 4, true);
    out.fill(0x5a, e + 4, e + l.extra); // 'Z'
    out.set(l.data, e + l.extra);
  }
  let p = directoryOffset;
  for (const l of layout) {
    view.setUint32(p, 0x02014b50, true);
    view.setUint16(p + 4, 20, true); // version made by
    view.setUint16(p + 6, 20, true); // version needed
    view.setUint16(p + 14, DOS_DATE, true);
    view.setUint32(p + 16, l.crc, true);
    view.setUint32(p + 20, l.data.length, true);
    view.setUint32(p + 24, l.data.length, true);
    view.setUint16(p + 28, l.name.length, true);
    view.setUint32(p + 42, l.offset, true);
    out.set(l.name, p + 46);
    p += 46 + l.name.length;
  }
  view.setUint32(p, 0x06054b50, true);
  view.setUint16(p + 8, layout.length, true);
  view.setUint16(p + 10, layout.length, true);
  view.setUint32(p + 12, p - directoryOffset, true);
  view.setUint32(p + 16, directoryOffset, true);
  return out;
}
