/**
 * Reading the safetensors format, validating every claim the file makes (writing: ./safetensors-write.ts).
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
import { checkArgument, formatSizeList, isObject, quoteName, RnnError } from '../errors.js';
import { type DType, numelOf, Tensor } from '../tensor.js';
import { bfloat16ToFloat32, halfToFloat32 } from './half.js';
import {
  describe,
  ITEM_SIZE,
  isSupported,
  LITTLE_ENDIAN,
  type RawTensor,
  type SafetensorsDType,
  swapBytes,
} from './safetensors-format.js';

/** The largest header accepted, as in the reference reader: anything bigger is a corrupt length field. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Most tensors one file may hold: a state dict of a very large model has a few thousand. */
export const MAX_TENSORS = 100_000;

/** Most dimensions of a shape, as the .pt and JSON readers allow. */
export const MAX_DIMS = 64;

/**
 * Deepest nesting let through to JSON.parse. A header is 3 deep (header, entry, shape); a little more gets the
 * field checks' precise message, and a header nested millions deep is refused before it is parsed.
 */
const MAX_HEADER_DEPTH = 8;

function corrupt(message: string, expected?: unknown, got?: unknown): RnnError {
  return new RnnError('corrupt_file', message, { expected, got });
}

/** A BigInt as a number when exact, else as a string: error fields must survive JSON.stringify. */
function plain(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
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
  checkArgument(bytes instanceof Uint8Array, 'readSafetensors: bytes', 'a Uint8Array', bytes);
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
  scanHeader(bytes.subarray(8, 8 + n));
  const header = parseHeader(bytes.subarray(8, 8 + n));
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  const count = Object.keys(header).length - (Object.hasOwn(header, '__metadata__') ? 1 : 0);
  if (count > MAX_TENSORS) throw tooManyTensors(); // the scan let one more through, for __metadata__
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
        `tensor ${quoteName(e.name)} has dtype ${e.dtype}, which stacked-rnn does not read (supported: ${Object.keys(ITEM_SIZE).join(', ')})`,
        { expected: Object.keys(ITEM_SIZE), got: e.dtype },
      );
    }
    // Exact element count in BigInt: a forged shape's product may exceed 2^53.
    const numel = e.shape.reduce((p, s) => p * BigInt(s), 1n);
    const need = numel * BigInt(ITEM_SIZE[e.dtype]);
    const have = e.end - e.begin;
    if (need !== BigInt(have)) {
      throw corrupt(
        `tensor ${quoteName(e.name)}: shape ${formatSizeList(e.shape)} of ${e.dtype} needs ${need} bytes but data_offsets [${e.begin}, ${e.end}] hold ${have}`,
        plain(need),
        have,
      );
    }
    const data = copyElements(e.dtype, bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata };
}

function tooManyTensors(): RnnError {
  return corrupt(
    `safetensors header names more than ${MAX_TENSORS} tensors, the most this reader takes`,
    `<= ${MAX_TENSORS} tensors`,
    `> ${MAX_TENSORS}`,
  );
}

/**
 * One pass over the header's bytes before JSON.parse, which would otherwise build whatever the header holds
 * (a million entries, a shape of a million sizes, arrays nested a million deep) before any check could look at
 * it. Counts the members of every object and array, outside strings, and refuses more tensors than MAX_TENSORS,
 * an array longer than MAX_DIMS (no field of a header needs more) and nesting deeper than MAX_HEADER_DEPTH. It
 * judges nothing else: malformed JSON is left to JSON.parse to describe.
 */
function scanHeader(raw: Uint8Array): void {
  const open: number[] = []; // the bracket of each open container, outermost first
  const members: number[] = []; // members seen so far in each open container
  const keys: [number, number][] = []; // the key just read at each depth (byte range, quotes excluded)
  let lastString: [number, number] = [0, 0];
  const nameAt = (depth: number): string => {
    const [start, end] = keys[depth] ?? [0, 0];
    const text = new TextDecoder().decode(raw.subarray(start, Math.min(end, start + 200)));
    try {
      return JSON.parse(`"${text}"`) as string;
    } catch {
      return text;
    }
  };
  const full = (depth: number, bracket: number): RnnError => {
    if (depth === 0 && bracket === 0x7b) return tooManyTensors();
    const entry = nameAt(0);
    const tensor = depth === 0 ? '' : entry === '__metadata__' ? '__metadata__: ' : `tensor ${quoteName(entry)}: `;
    if (depth === 1 && bracket === 0x7b) {
      return corrupt(`${tensor}header entry has more than ${MAX_TENSORS} fields`, 'dtype, shape, data_offsets');
    }
    if (bracket === 0x5b && depth === 2 && nameAt(1) === 'shape') {
      return corrupt(`${tensor}shape has more than ${MAX_DIMS} dimensions`, `<= ${MAX_DIMS}`, `> ${MAX_DIMS}`);
    }
    const what =
      bracket === 0x5b ? `an array of more than ${MAX_DIMS} elements` : `an object of more than ${MAX_TENSORS} members`;
    return corrupt(`${tensor}safetensors header holds ${what}, more than any field of a header needs`);
  };
  const markMember = () => {
    const top = members.length - 1;
    if (top >= 0 && members[top] === 0) members[top] = 1;
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as number;
    if (c === 0x22) {
      // A string: skip to its closing quote, stepping over escapes. UTF-8 never puts a quote or a backslash
      // inside a multi-byte character, so bytes are enough.
      const start = i + 1;
      for (i++; i < raw.length && raw[i] !== 0x22; i++) if (raw[i] === 0x5c) i++;
      lastString = [start, i];
      markMember();
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      markMember();
      open.push(c);
      members.push(0);
      if (open.length > MAX_HEADER_DEPTH) {
        throw corrupt(
          `safetensors header is nested more than ${MAX_HEADER_DEPTH} levels deep; a header needs 3`,
          `<= ${MAX_HEADER_DEPTH} levels`,
          `> ${MAX_HEADER_DEPTH}`,
        );
      }
    } else if (c === 0x7d || c === 0x5d) {
      open.pop();
      members.pop();
      keys.length = Math.min(keys.length, open.length);
    } else if (c === 0x2c) {
      const top = members.length - 1;
      if (top < 0) continue;
      const bracket = open[top] as number;
      const limit = bracket === 0x5b ? MAX_DIMS : top === 0 ? MAX_TENSORS + 1 : MAX_TENSORS;
      members[top] = (members[top] as number) + 1;
      if ((members[top] as number) > limit) throw full(top, bracket);
    } else if (c === 0x3a) {
      if (open.length > 0) keys[open.length - 1] = lastString;
    } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
      markMember();
    }
  }
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
      throw corrupt(
        `safetensors __metadata__[${quoteName(k)}] must be a string, got ${describe(v)}`,
        'string',
        describe(v),
      );
    }
    // defineProperty: a key such as '__proto__' is data, not the object's prototype.
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

function readEntry(name: string, info: unknown, dataLength: number): Entry {
  const where = `tensor ${quoteName(name)}`;
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
        `tensor ${quoteName(e.name)} data_offsets [${e.begin}, ${e.end}] overlap tensor ${quoteName(p.name)} [${p.begin}, ${p.end}]`,
        `begin >= ${cursor}`,
        e.begin,
      );
    }
    if (e.begin > cursor) {
      const after =
        previous === undefined
          ? 'the start of the data section'
          : `tensor ${quoteName(previous.name)} (ends at ${cursor})`;
      throw corrupt(
        `gap of ${e.begin - cursor} bytes in the data section: tensor ${quoteName(e.name)} begins at ${e.begin}, right after ${after}`,
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
  // Uint8Array's slice copies even when `src` is a Node Buffer (readFileSync's), whose own slice is a view.
  const copy = Uint8Array.prototype.slice.call(src);
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

function checkRaw(raw: RawTensor, what: string): void {
  checkArgument(
    isObject(raw) && Array.isArray(raw.shape) && ArrayBuffer.isView(raw.data),
    `${what}: the tensor`,
    'a raw safetensors tensor { dtype, shape, data }',
    raw,
  );
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

export type { IntegerTensorInput, RawTensor, SafetensorsDType, WritableTensor } from './safetensors-format.js';
export { writeSafetensors } from './safetensors-write.js';
