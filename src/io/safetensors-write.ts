/**
 * Writing safetensors: tensors to bytes, laid out as the reference writer lays them out. (Reading, with every
 * check a file from a stranger needs, is in ./safetensors.ts; what both share in ./safetensors-format.ts.)
 */
import { checkArgument, formatSizeList, isObject, RnnError } from '../errors.js';
import { numelOf, Tensor } from '../tensor.js';
import {
  describe,
  ITEM_SIZE,
  isSupported,
  LITTLE_ENDIAN,
  type SafetensorsDType,
  swapBytes,
  type WritableTensor,
} from './safetensors-format.js';

/**
 * Writer order. The reference writer lays tensors out by descending dtype rank, then by name, where the rank
 * is the order of its Dtype enum (which grows with alignment), so every tensor starts aligned to its item
 * size when the header is padded to 8 bytes. We follow it, so our files are laid out as theirs are.
 */
const WRITE_RANK: Record<SafetensorsDType, number> = { F16: 0, BF16: 1, I32: 2, F32: 3, F64: 4, I64: 5 };

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
  checkArgument(isObject(tensors), 'writeSafetensors: tensors', 'an object of named tensors', tensors);
  checkArgument(
    metadata === undefined || isObject(metadata),
    'writeSafetensors: metadata',
    'an object of strings',
    metadata,
  );
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
