/**
 * The safetensors format: read and write, validating every claim the file makes.
 *
 * Layout: 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON (the header), then the data section.
 * The header maps each tensor name to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to
 * the data section) plus an optional `__metadata__` string-to-string map. Data is little-endian, C order.
 *
 * The header is untrusted input: nothing is allocated or sliced from a size it claims until that size has
 * been checked against the bytes actually present, and the tensors must tile the data section exactly
 * (sorted by offset, no gap, no overlap, nothing left over), as the reference reader requires.
 *
 * Pure module (no node: imports): it runs in the browser bundle too. Reading files is in ./files.ts.
 */
import { formatSizeList, RnnError } from '../errors.js';
import { type DType, numelOf, Tensor } from '../tensor.js';
import { bfloat16ToFloat32, halfToFloat32 } from './half.js';

export type SafetensorsDType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I64' | 'I32';

/** A tensor as stored: its dtype, shape and elements. F16 and BF16 elements are raw bit patterns. */
export interface RawTensor {
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array;
}

/** Integer tensor to write from plain numbers (each must be an integer in the dtype's range). */
export interface IntegerTensorInput {
  dtype: 'I64' | 'I32';
  shape: readonly number[];
  data: ArrayLike<number>;
}

export type WritableTensor = Tensor | RawTensor | IntegerTensorInput;

/** The largest header accepted, as in the reference reader: anything bigger is a corrupt length field. */
export const MAX_HEADER_BYTES = 100_000_000;

const ITEM_SIZE: Record<SafetensorsDType, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4 };

/**
 * Writer order. The reference writer lays tensors out by descending dtype rank, then by name, where the rank
 * is the order of its Dtype enum (which grows with alignment), so every tensor starts aligned to its item
 * size when the header is padded to 8 bytes. We follow it, so our files are laid out as theirs are.
 */
const WRITE_RANK: Record<SafetensorsDType, number> = { F16: 0, BF16: 1, I32: 2, F32: 3, F64: 4, I64: 5 };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function corrupt(message: string, expected?: unknown, got?: unknown): RnnError {
  return new RnnError('corrupt_file', message, { expected, got });
}

/** A BigInt as a number when exact, else as a string: error fields must survive JSON.stringify. */
function plain(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function isSupported(dtype: string): dtype is SafetensorsDType {
  return Object.hasOwn(ITEM_SIZE, dtype);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return `string '${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
  if (typeof value === 'number') return String(value);
  return typeof value;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses a whole safetensors file.
 *
 * Returns the tensors in file (offset) order, each copied out into its own aligned typed array, and the
 * `__metadata__` map (empty when absent). Throws RnnError 'corrupt_file' for anything malformed and
 * 'unsupported' for a well-formed tensor of a dtype other than F32, F64, F16, BF16, I64, I32.
 */
export function readSafetensors(bytes: Uint8Array): {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
} {
  if (bytes.length < 8) {
    throw corrupt(
      `safetensors file too short: ${bytes.length} bytes, expected at least 8 for the header length`,
      '>= 8 bytes',
      bytes.length,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const claimed = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (claimed > BigInt(MAX_HEADER_BYTES)) {
    throw corrupt(
      `safetensors header claims ${claimed} bytes, more than the ${MAX_HEADER_BYTES}-byte limit (the file has only ${available} after the length)`,
      `<= ${MAX_HEADER_BYTES}`,
      plain(claimed),
    );
  }
  const n = Number(claimed);
  if (n > available) {
    throw corrupt(
      `safetensors header claims ${n} bytes but the file has only ${available} after the 8-byte length`,
      `<= ${available}`,
      n,
    );
  }
  const header = parseHeader(bytes.subarray(8, 8 + n));
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  const metadata = readMetadata(header.__metadata__);
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name !== '__metadata__') entries.push(readEntry(name, info, dataLength));
  }
  checkTiling(entries, dataLength);

  const tensors = new Map<string, RawTensor>();
  for (const e of entries) {
    if (!isSupported(e.dtype)) {
      throw new RnnError(
        'unsupported',
        `tensor '${e.name}' has dtype ${e.dtype}, which stacked-rnn does not read (supported: ${Object.keys(ITEM_SIZE).join(', ')})`,
        { expected: Object.keys(ITEM_SIZE), got: e.dtype },
      );
    }
    // Exact element count in BigInt: a forged shape's product may exceed 2^53.
    const numel = e.shape.reduce((p, s) => p * BigInt(s), 1n);
    const need = numel * BigInt(ITEM_SIZE[e.dtype]);
    const have = e.end - e.begin;
    if (need !== BigInt(have)) {
      throw corrupt(
        `tensor '${e.name}': shape ${formatSizeList(e.shape)} of ${e.dtype} needs ${need} bytes but data_offsets [${e.begin}, ${e.end}] hold ${have}`,
        plain(need),
        have,
      );
    }
    const data = copyElements(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function parseHeader(raw: Uint8Array): Record<string, unknown> {
  let text: string;
  try {
    // fatal: reject invalid UTF-8; ignoreBOM: keep a BOM in the text so JSON.parse rejects it, like the reference.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(raw);
  } catch {
    throw corrupt('safetensors header is not valid UTF-8', 'UTF-8 JSON', 'invalid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const start = JSON.stringify(text.slice(0, 40));
    throw corrupt(`safetensors header is not valid JSON (${reason}); it starts with ${start}`, 'JSON object', start);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw corrupt(`safetensors header must be a JSON object, got ${describe(parsed)}`, 'object', describe(parsed));
  }
  return parsed as Record<string, unknown>;
}

function readMetadata(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw corrupt(
      `safetensors __metadata__ must be an object of strings, got ${describe(value)}`,
      'object',
      describe(value),
    );
  }
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw corrupt(`safetensors __metadata__['${k}'] must be a string, got ${describe(v)}`, 'string', describe(v));
    }
    out[k] = v;
  }
  return out;
}

function readEntry(name: string, info: unknown, dataLength: number): Entry {
  const where = `tensor '${name}'`;
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw corrupt(
      `${where}: header entry must be an object with dtype, shape, data_offsets, got ${describe(info)}`,
      'object',
      describe(info),
    );
  }
  const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
  if (typeof dtype !== 'string') {
    throw corrupt(`${where}: dtype must be a string, got ${describe(dtype)}`, 'string', describe(dtype));
  }
  if (!Array.isArray(shape)) {
    throw corrupt(`${where}: shape must be an array of sizes, got ${describe(shape)}`, 'array', describe(shape));
  }
  shape.forEach((s, i) => {
    if (typeof s !== 'number' || !Number.isSafeInteger(s) || s < 0) {
      throw corrupt(
        `${where}: shape[${i}] must be a non-negative integer, got ${describe(s)}`,
        'non-negative integer',
        s,
      );
    }
  });
  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw corrupt(
      `${where}: data_offsets must be [begin, end], got ${JSON.stringify(offsets) ?? 'nothing'}`,
      '[begin, end]',
      offsets,
    );
  }
  offsets.forEach((o, i) => {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) {
      throw corrupt(
        `${where}: data_offsets[${i}] must be a non-negative integer, got ${describe(o)}`,
        'non-negative integer',
        o,
      );
    }
  });
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw corrupt(`${where}: data_offsets [${begin}, ${end}] begin after they end`, `begin <= ${end}`, begin);
  }
  if (end > dataLength) {
    throw corrupt(
      `${where}: data_offsets [${begin}, ${end}] run past the end of the ${dataLength}-byte data section`,
      `<= ${dataLength}`,
      end,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

/** Sorts entries by offset (in place) and checks they cover [0, dataLength) exactly once. */
function checkTiling(entries: Entry[], dataLength: number): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Entry | undefined;
  for (const e of entries) {
    if (e.begin < cursor) {
      const p = previous as Entry;
      throw corrupt(
        `tensor '${e.name}' data_offsets [${e.begin}, ${e.end}] overlap tensor '${p.name}' [${p.begin}, ${p.end}]`,
        `begin >= ${cursor}`,
        e.begin,
      );
    }
    if (e.begin > cursor) {
      const after =
        previous === undefined ? 'the start of the data section' : `tensor '${previous.name}' (ends at ${cursor})`;
      throw corrupt(
        `gap of ${e.begin - cursor} bytes in the data section: tensor '${e.name}' begins at ${e.begin}, right after ${after}`,
        cursor,
        e.begin,
      );
    }
    cursor = e.end;
    previous = e;
  }
  if (cursor !== dataLength) {
    throw corrupt(
      `${dataLength - cursor} trailing bytes after the last tensor: the data section is ${dataLength} bytes but the tensors end at ${cursor}`,
      cursor,
      dataLength,
    );
  }
}

/** Copies little-endian element bytes into a fresh (so aligned) typed array of the dtype. */
function copyElements(dtype: SafetensorsDType, src: Uint8Array): RawTensor['data'] {
  const copy = src.slice();
  if (!LITTLE_ENDIAN) swapBytes(copy, ITEM_SIZE[dtype]);
  const buffer = copy.buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F64':
      return new Float64Array(buffer);
    case 'I32':
      return new Int32Array(buffer);
    case 'I64':
      return new BigInt64Array(buffer);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer);
  }
}

/** Reverses each `size`-byte element in place (big-endian hosts only; the format is little-endian). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

function checkRaw(raw: RawTensor, what: string): void {
  const numel = numelOf(raw.shape);
  if (raw.data.length !== numel) {
    throw new RnnError(
      'shape_mismatch',
      `${what}: shape ${formatSizeList(raw.shape)} holds ${numel} elements but data has ${raw.data.length}`,
      {
        expected: numel,
        got: raw.data.length,
      },
    );
  }
}

/**
 * A stored tensor as a float Tensor (the data is copied).
 *
 * F32 gives float32, F64 float64, F16 and BF16 float32 (exactly: every half and bfloat16 is a float32).
 * `dtype` asks for another precision. Integer tensors need an explicit `dtype`, since turning indices or
 * counts into weights is usually a mistake; with one, values convert with a single rounding.
 */
export function toFloat(raw: RawTensor, dtype?: DType): Tensor {
  checkRaw(raw, 'toFloat');
  let data: Float32Array | Float64Array;
  switch (raw.dtype) {
    case 'F32':
    case 'F64':
      data = (raw.data as Float32Array | Float64Array).slice();
      break;
    case 'F16':
      data = halfToFloat32(raw.data as Uint16Array);
      break;
    case 'BF16':
      data = bfloat16ToFloat32(raw.data as Uint16Array);
      break;
    case 'I32':
    case 'I64': {
      if (dtype === undefined) {
        throw new RnnError('invalid_argument', `tensor of dtype ${raw.dtype} is not a floating-point tensor`, {
          expected: 'F32, F64, F16 or BF16',
          got: raw.dtype,
          hint: "pass dtype 'float32' or 'float64' to convert the integers",
        });
      }
      return new Tensor(integersToFloat(raw.data as Int32Array | BigInt64Array, dtype), raw.shape);
    }
  }
  const want = dtype ?? (data instanceof Float64Array ? 'float64' : 'float32');
  if (want === 'float64' && !(data instanceof Float64Array)) data = Float64Array.from(data);
  if (want === 'float32' && !(data instanceof Float32Array)) data = Float32Array.from(data);
  return new Tensor(data, raw.shape);
}

function integersToFloat(src: Int32Array | BigInt64Array, dtype: DType): Float32Array | Float64Array {
  const out = dtype === 'float64' ? new Float64Array(src.length) : new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i] as number | bigint;
    // Number(bigint) rounds once to float64; for float32, round once straight from the integer.
    out[i] = typeof v === 'number' ? v : dtype === 'float64' ? Number(v) : bigintToFloat32(v);
  }
  return out;
}

/** Nearest float32 (ties to even) of a 64-bit integer, without the double rounding of Math.fround(Number(v)). */
function bigintToFloat32(v: bigint): number {
  const sign = v < 0n ? -1 : 1;
  const a = v < 0n ? -v : v;
  if (a <= 2n ** 53n) return sign * Math.fround(Number(a)); // Number(a) is exact here
  const shift = BigInt(a.toString(2).length - 24);
  let q = a >> shift;
  const rest = a - (q << shift);
  const half = 1n << (shift - 1n);
  if (rest > half || (rest === half && (q & 1n) === 1n)) q += 1n;
  return sign * Number(q << shift);
}

/**
 * A stored tensor's elements as JavaScript integers: I64 and I32, or floats that hold only integers
 * (e.g. a step counter saved as F32). Throws if a value is fractional, non-finite or beyond 2^53.
 */
export function toIntegers(raw: RawTensor): number[] {
  checkRaw(raw, 'toIntegers');
  const values: ArrayLike<number | bigint> =
    raw.dtype === 'I64' || raw.dtype === 'I32' ? (raw.data as BigInt64Array | Int32Array) : toFloat(raw).data;
  const out = new Array<number>(values.length);
  const limit = BigInt(Number.MAX_SAFE_INTEGER);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number | bigint;
    const safe = typeof v === 'bigint' ? v <= limit && v >= -limit : Number.isSafeInteger(v);
    if (!safe) {
      // A huge integer is valid data we cannot hold exactly; a fraction or NaN is not an integer at all.
      const code = typeof v === 'bigint' || Number.isInteger(v) ? 'unsupported' : 'invalid_argument';
      throw new RnnError(code, `element ${i} of a ${raw.dtype} tensor is ${v}, not an integer within +-(2^53 - 1)`, {
        expected: 'safe integer',
        got: String(v),
      });
    }
    out[i] = Number(v);
  }
  return out;
}

interface Encoded {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  bytes: Uint8Array;
}

/**
 * Serialises tensors to safetensors bytes.
 *
 * A float32 Tensor is stored as F32 and a float64 one as F64; `{dtype: 'I64' | 'I32', shape, data}` stores
 * integers, and a RawTensor (e.g. from readSafetensors) is stored as it is, so F16/BF16 round-trip. The
 * layout follows the reference writer: tensors sorted by descending dtype alignment then by name, header
 * JSON padded with spaces to a multiple of 8, `__metadata__` first in the header when given.
 */
export function writeSafetensors(
  tensors: Record<string, WritableTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const encoded: Encoded[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === '__metadata__') {
      throw new RnnError('invalid_argument', "'__metadata__' is reserved by safetensors and cannot name a tensor", {
        got: name,
      });
    }
    encoded.push(encode(name, t));
  }
  const nameBytes = new Map(encoded.map((e) => [e.name, new TextEncoder().encode(e.name)]));
  encoded.sort(
    (a, b) => WRITE_RANK[b.dtype] - WRITE_RANK[a.dtype] || compareBytes(nameBytes.get(a.name)!, nameBytes.get(b.name)!),
  );

  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') {
        throw new RnnError('invalid_argument', `metadata['${k}'] must be a string, got ${describe(v)}`, {
          expected: 'string',
          got: v,
        });
      }
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const e of encoded) {
    const info = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify(info)}`);
    offset += e.bytes.length;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength); // spaces: still valid JSON, and aligns the data section
  let at = 8 + headerLength;
  for (const e of encoded) {
    out.set(e.bytes, at);
    at += e.bytes.length;
  }
  return out;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return a.length - b.length;
}

function encode(name: string, t: WritableTensor): Encoded {
  const where = `tensor '${name}'`;
  if (t instanceof Tensor) {
    return {
      name,
      dtype: t.dtype === 'float64' ? 'F64' : 'F32',
      shape: [...t.shape],
      bytes: littleEndianBytes(t.data),
    };
  }
  if (typeof t !== 'object' || t === null || !isSupported(t.dtype)) {
    const got = typeof t === 'object' && t !== null ? (t as { dtype?: unknown }).dtype : t;
    throw new RnnError(
      'invalid_argument',
      `${where}: expected a Tensor or {dtype, shape, data} with dtype one of ${Object.keys(ITEM_SIZE).join(', ')}, got ${describe(got)}`,
      {
        expected: Object.keys(ITEM_SIZE),
        got,
      },
    );
  }
  const shape = [...t.shape];
  for (const s of shape) {
    if (!Number.isSafeInteger(s) || s < 0) {
      throw new RnnError('invalid_argument', `${where}: invalid shape ${formatSizeList(shape)}`, { got: shape });
    }
  }
  const numel = numelOf(shape);
  if (t.data.length !== numel) {
    throw new RnnError(
      'shape_mismatch',
      `${where}: shape ${formatSizeList(shape)} holds ${numel} elements but data has ${t.data.length}`,
      {
        expected: numel,
        got: t.data.length,
      },
    );
  }
  const src = t.data as ArrayLike<number | bigint>;
  const numbers = (): ArrayLike<number> => {
    if (src instanceof BigInt64Array) {
      throw new RnnError('invalid_argument', `${where}: BigInt64Array data can only be stored as I64`, {
        got: t.dtype,
      });
    }
    return src as ArrayLike<number>;
  };
  switch (t.dtype) {
    case 'F32':
      // A typed array of the right kind is copied as bytes, so NaN payloads survive a read/write round trip.
      return {
        name,
        dtype: 'F32',
        shape,
        bytes: littleEndianBytes(src instanceof Float32Array ? src : Float32Array.from(numbers())),
      };
    case 'F64':
      return {
        name,
        dtype: 'F64',
        shape,
        bytes: littleEndianBytes(src instanceof Float64Array ? src : Float64Array.from(numbers())),
      };
    case 'F16':
    case 'BF16':
      return {
        name,
        dtype: t.dtype,
        shape,
        bytes: littleEndianBytes(checkedIntegers(numbers(), 0, 0xffff, where, Uint16Array)),
      };
    case 'I32':
      return {
        name,
        dtype: 'I32',
        shape,
        bytes: littleEndianBytes(checkedIntegers(numbers(), -(2 ** 31), 2 ** 31 - 1, where, Int32Array)),
      };
    case 'I64': {
      const safe = Number.MAX_SAFE_INTEGER;
      const data =
        src instanceof BigInt64Array
          ? src
          : BigInt64Array.from(checkedIntegers(numbers(), -safe, safe, where, Float64Array), (v) => BigInt(v));
      return { name, dtype: 'I64', shape, bytes: littleEndianBytes(data) };
    }
  }
}

function checkedIntegers<T extends { [i: number]: number }>(
  values: ArrayLike<number>,
  min: number,
  max: number,
  where: string,
  Out: new (n: number) => T,
): T {
  const out = new Out(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new RnnError(
        'invalid_argument',
        `${where}: element ${i} is ${v}, expected an integer in [${min}, ${max}]`,
        {
          expected: `[${min}, ${max}]`,
          got: v,
        },
      );
    }
    out[i] = v;
  }
  return out;
}

/** The element bytes of a typed array in little-endian order (a copy). */
function littleEndianBytes(data: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint16Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (!LITTLE_ENDIAN) swapBytes(bytes, data.BYTES_PER_ELEMENT);
  return bytes;
}
