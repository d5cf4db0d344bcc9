import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { RnnError } from '../src/errors.js';
import {
  MAX_TENSORS,
  type RawTensor,
  readSafetensors,
  toFloat,
  toIntegers,
  writeSafetensors,
} from '../src/io/safetensors.js';
import { numelOf, tensor } from '../src/tensor.js';

const FIXTURES = new URL('./fixtures/safetensors/', import.meta.url);
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, FIXTURES)));
interface Expected {
  dtype: string;
  shape: number[];
  values: string[];
  raw?: string[];
}
const EXPECTED = JSON.parse(readFileSync(new URL('expected.json', FIXTURES), 'utf8')) as Record<
  string,
  Record<string, Expected>
>;

/** Element bit patterns as hex, the form expected.json uses (so NaN payloads and -0 compare exactly). */
function hexBits(data: Float32Array | Float64Array): string[] {
  if (data instanceof Float64Array) {
    return Array.from(new BigUint64Array(data.buffer, data.byteOffset, data.length), (b) =>
      b.toString(16).padStart(16, '0'),
    );
  }
  return Array.from(new Uint32Array(data.buffer, data.byteOffset, data.length), (b) => b.toString(16).padStart(8, '0'));
}

function get(tensors: Map<string, RawTensor>, name: string): RawTensor {
  const t = tensors.get(name);
  assert.ok(t, `missing tensor ${name}`);
  return t;
}

/** A file from a header (object or literal text) and data bytes; `length` overrides the header length field. */
function file(header: unknown, data: Uint8Array | number = 0, length?: bigint): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = new TextEncoder().encode(text);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function throwsRnn(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RnnError, `expected RnnError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe('round trips', () => {
  test('float32 tensors round-trip bit for bit, including NaN, -0, infinities and subnormals', () => {
    const t = tensor([0.1, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45], [2, 3]);
    const back = get(readSafetensors(writeSafetensors({ x: t })).tensors, 'x');
    assert.equal(back.dtype, 'F32');
    assert.deepEqual(back.shape, [2, 3]);
    assert.deepEqual(hexBits(back.data as Float32Array), hexBits(t.data));
    assert.deepEqual(hexBits(toFloat(back).data), hexBits(t.data));
  });

  test('float64 tensors round-trip bit for bit and stay float64', () => {
    const t = tensor([Math.PI, -0, 5e-324, Number.MAX_VALUE, Number.NaN], [5], 'float64');
    const back = get(readSafetensors(writeSafetensors({ x: t })).tensors, 'x');
    assert.equal(back.dtype, 'F64');
    const f = toFloat(back);
    assert.equal(f.dtype, 'float64');
    assert.deepEqual(hexBits(f.data), hexBits(t.data));
  });

  test('I32 and I64 integers round-trip from plain numbers and from a BigInt64Array', () => {
    const bytes = writeSafetensors({
      i32: { dtype: 'I32', shape: [2, 2], data: [-(2 ** 31), 2 ** 31 - 1, 0, 7] },
      i64: { dtype: 'I64', shape: [3], data: [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 5] },
      big: { dtype: 'I64', shape: [1], data: new BigInt64Array([-(2n ** 63n)]) },
    });
    const { tensors } = readSafetensors(bytes);
    assert.deepEqual(toIntegers(get(tensors, 'i32')), [-(2 ** 31), 2 ** 31 - 1, 0, 7]);
    assert.deepEqual(get(tensors, 'i32').shape, [2, 2]);
    assert.deepEqual(toIntegers(get(tensors, 'i64')), [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 5]);
    assert.deepEqual(Array.from(get(tensors, 'big').data as BigInt64Array), [-(2n ** 63n)]);
  });

  test('F16 and BF16 raw bits round-trip unchanged', () => {
    const bits = new Uint16Array([0x0000, 0x8000, 0x0001, 0x3c00, 0x7c00, 0x7e01, 0xffff]);
    const bytes = writeSafetensors({
      h: { dtype: 'F16', shape: [7], data: bits },
      b: { dtype: 'BF16', shape: [7], data: bits },
    });
    const { tensors } = readSafetensors(bytes);
    assert.deepEqual(Array.from(get(tensors, 'h').data as Uint16Array), Array.from(bits));
    assert.deepEqual(Array.from(get(tensors, 'b').data as Uint16Array), Array.from(bits));
    assert.equal(get(tensors, 'b').dtype, 'BF16');
  });

  test('metadata round-trips and is written first in the header', () => {
    const bytes = writeSafetensors({ w: tensor([1]) }, { format: 'pt', note: 'héllo' });
    assert.deepEqual(readSafetensors(bytes).metadata, { format: 'pt', note: 'héllo' });
    assert.match(new TextDecoder().decode(bytes.subarray(8, 30)), /^\{"__metadata__":/);
  });

  test('the writer lays tensors out by descending dtype alignment then name, each aligned to its item size', () => {
    const bytes = writeSafetensors({
      z_f16: { dtype: 'F16', shape: [3], data: new Uint16Array(3) },
      a_f32: tensor([1, 2, 3]),
      b_f64: tensor([1], [1], 'float64'),
      c_i64: { dtype: 'I64', shape: [1], data: [1] },
      a_f64: tensor([2], [1], 'float64'),
      i32: { dtype: 'I32', shape: [1], data: [1] },
    });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(n % 8, 0);
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    assert.match(header, / *$/);
    const names = [...readSafetensors(bytes).tensors.keys()];
    assert.deepEqual(names, ['c_i64', 'a_f64', 'b_f64', 'a_f32', 'i32', 'z_f16']);
    const parsed = JSON.parse(header) as Record<string, { data_offsets: [number, number]; dtype: string }>;
    const size: Record<string, number> = { I64: 8, F64: 8, F32: 4, I32: 4, F16: 2 };
    for (const name of names) {
      const info = parsed[name]!;
      assert.equal((8 + n + info.data_offsets[0]) % size[info.dtype]!, 0, name);
    }
  });

  test('no tensors writes the 16-byte file the reference writes: {} padded with spaces', () => {
    const bytes = writeSafetensors({});
    assert.deepEqual(Array.from(bytes), [8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    assert.equal(readSafetensors(bytes).tensors.size, 0);
  });

  test('the writer refuses a tensor named __metadata__ and integers out of range', () => {
    throwsRnn(() => writeSafetensors({ __metadata__: tensor([1]) }), 'invalid_argument', /reserved/);
    throwsRnn(
      () => writeSafetensors({ x: { dtype: 'I32', shape: [1], data: [2 ** 31] } }),
      'invalid_argument',
      /element 0 is 2147483648/,
    );
    throwsRnn(
      () => writeSafetensors({ x: { dtype: 'I64', shape: [1], data: [0.5] } }),
      'invalid_argument',
      /expected an integer/,
    );
    throwsRnn(() => writeSafetensors({ x: { dtype: 'I64', shape: [2], data: [1] } }), 'shape_mismatch', /holds 2/);
  });
});

describe('fixtures written by PyTorch (scripts/make_safetensors_fixtures.py)', () => {
  test('mixed.safetensors loads every dtype, shape and value exactly as torch wrote it', () => {
    const { tensors, metadata } = readSafetensors(fixture('mixed.safetensors'));
    assert.deepEqual(metadata, { format: 'pt' });
    const expected = EXPECTED['mixed.safetensors']!;
    assert.deepEqual([...tensors.keys()].sort(), Object.keys(expected).sort());
    for (const [name, want] of Object.entries(expected)) {
      const raw = get(tensors, name);
      assert.equal(raw.dtype, want.dtype, name);
      assert.deepEqual(raw.shape, want.shape, name);
      if (want.dtype === 'I64' || want.dtype === 'I32') {
        assert.deepEqual(toIntegers(raw).map(String), want.values, name);
      } else {
        assert.deepEqual(hexBits(toFloat(raw).data), want.values, name);
      }
      if (want.raw) {
        const bits = Array.from(raw.data as Uint16Array, (b) => b.toString(16).padStart(4, '0'));
        assert.deepEqual(bits, want.raw, name);
      }
    }
  });

  test("F16 and BF16 convert to float32 exactly as torch's .float() does, over every special and subnormal", () => {
    const { tensors } = readSafetensors(fixture('half_sweep.safetensors'));
    for (const name of ['f16', 'bf16']) {
      const got = toFloat(get(tensors, name));
      assert.equal(got.dtype, 'float32');
      assert.equal(got.numel, (EXPECTED['half_sweep.safetensors']![name] as unknown as { count: number }).count);
      const want = get(tensors, `${name}_as_f32`).data as Float32Array;
      assert.deepEqual(hexBits(got.data), hexBits(want), name);
    }
  });

  test('rewriting mixed.safetensors reproduces its bytes exactly', () => {
    const original = fixture('mixed.safetensors');
    const { tensors, metadata } = readSafetensors(original);
    const rewritten = writeSafetensors(Object.fromEntries(tensors), metadata);
    assert.deepEqual(Buffer.from(rewritten), Buffer.from(original));
  });

  test('an unpadded header with keys out of data order, putting the data at an odd address, loads exactly', () => {
    const bytes = fixture('unaligned.safetensors');
    const { tensors, metadata } = readSafetensors(bytes);
    assert.ok('note' in metadata);
    assert.deepEqual([...tensors.keys()], ['a_f32', 'b_f64', 'c_i64'], 'offset order');
    const expected = EXPECTED['unaligned.safetensors']!;
    assert.deepEqual(hexBits(toFloat(get(tensors, 'a_f32')).data), expected.a_f32!.values);
    assert.deepEqual(hexBits(toFloat(get(tensors, 'b_f64')).data), expected.b_f64!.values);
    assert.deepEqual(toIntegers(get(tensors, 'c_i64')).map(String), expected.c_i64!.values);
    // The same bytes inside a larger buffer at an odd byteOffset read the same.
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 1);
    const again = readSafetensors(shifted.subarray(1, 1 + bytes.length)).tensors;
    assert.deepEqual(hexBits(toFloat(get(again, 'b_f64')).data), expected.b_f64!.values);
  });
});

describe('toFloat and toIntegers', () => {
  const ints = (dtype: 'I32' | 'I64', data: number[]): RawTensor =>
    get(readSafetensors(writeSafetensors({ x: { dtype, shape: [data.length], data } })).tensors, 'x');

  test('toFloat refuses an integer tensor unless a dtype is asked for', () => {
    throwsRnn(() => toFloat(ints('I64', [1, 2])), 'invalid_argument', /I64 is not a floating-point tensor/);
    const f = toFloat(ints('I64', [1, -2]), 'float64');
    assert.equal(f.dtype, 'float64');
    assert.deepEqual(Array.from(f.data), [1, -2]);
    assert.deepEqual(Array.from(toFloat(ints('I32', [3]), 'float32').data), [3]);
  });

  test('I64 to float32 rounds once, as torch does (2^60 + 2^36 + 1 becomes 2^60 + 2^37)', () => {
    // From /usr/bin/python3: torch.tensor([2**60 + 2**36 + 1]).float() == 2**60 + 2**37, and
    // torch.tensor([(2**24 + 1) * 2**30]).float() == 2**54 (a tie, to even). Rounding through float64 first
    // would give 2^60 for the first.
    const raw: RawTensor = {
      dtype: 'I64',
      shape: [2],
      data: new BigInt64Array([2n ** 60n + 2n ** 36n + 1n, (2n ** 24n + 1n) * 2n ** 30n]),
    };
    assert.deepEqual(Array.from(toFloat(raw, 'float32').data), [2 ** 60 + 2 ** 37, 2 ** 54]);
  });

  test('toFloat gives float32 for F16 by default and float64 when asked', () => {
    const raw: RawTensor = { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0x0001]) };
    assert.deepEqual(Array.from(toFloat(raw).data), [1, 2 ** -24]);
    assert.ok(toFloat(raw, 'float64').data instanceof Float64Array);
  });

  test('toIntegers reads integral floats and refuses fractions and integers beyond 2^53', () => {
    assert.deepEqual(toIntegers({ dtype: 'F32', shape: [3], data: new Float32Array([1, 2, -3]) }), [1, 2, -3]);
    throwsRnn(
      () => toIntegers({ dtype: 'F32', shape: [1], data: new Float32Array([2.5]) }),
      'invalid_argument',
      /element 0 of a F32 tensor is 2.5/,
    );
    throwsRnn(
      () => toIntegers({ dtype: 'I64', shape: [1], data: new BigInt64Array([2n ** 60n]) }),
      'unsupported',
      /1152921504606846976/,
    );
  });
});

test('a Node Buffer, as readFileSync gives it, reads to tensors holding just their own elements', () => {
  const bytes = Buffer.from(writeSafetensors({ a: tensor([1, 2]), b: tensor([3, 4, 5], undefined, 'float64') }));
  const { tensors } = readSafetensors(bytes);
  assert.deepEqual(Array.from(tensors.get('a')?.data as Float32Array), [1, 2]);
  assert.deepEqual(Array.from(tensors.get('b')?.data as Float64Array), [3, 4, 5]);
});

describe('corrupt files', () => {
  const valid = (): Uint8Array => writeSafetensors({ a: tensor([1, 2]), b: tensor([3, 4, 5]) });
  const f32 = (shape: number[], offsets: [number, number]) => ({ dtype: 'F32', shape, data_offsets: offsets });

  test('a file shorter than the 8-byte length is corrupt', () => {
    throwsRnn(() => readSafetensors(new Uint8Array(5)), 'corrupt_file', /too short: 5 bytes/);
  });

  test('a file cut inside the data section is corrupt', () => {
    const bytes = valid();
    throwsRnn(() => readSafetensors(bytes.subarray(0, bytes.length - 4)), 'corrupt_file', /run past the end/);
  });

  test('a header length beyond the file says how many bytes it claims and how many there are', () => {
    const bytes = valid();
    new DataView(bytes.buffer).setBigUint64(0, BigInt(bytes.length), true);
    throwsRnn(
      () => readSafetensors(bytes),
      'corrupt_file',
      new RegExp(`header claims ${bytes.length} bytes but the file has only ${bytes.length - 8}`),
    );
  });

  test('a header length of 2^60 is refused before anything is allocated', () => {
    throwsRnn(
      () => readSafetensors(file({}, 0, 2n ** 60n)),
      'corrupt_file',
      /header claims 1152921504606846976 bytes, more than the 100000000-byte limit/,
    );
  });

  test('a header that is not JSON is corrupt', () => {
    throwsRnn(() => readSafetensors(file('{"a": {dtype')), 'corrupt_file', /not valid JSON/);
  });

  test('a header that is not UTF-8 is corrupt', () => {
    const bytes = file('{"a":1}  ');
    bytes[10] = 0xff;
    throwsRnn(() => readSafetensors(bytes), 'corrupt_file', /not valid UTF-8/);
  });

  test('a header that is JSON but not an object is corrupt', () => {
    throwsRnn(() => readSafetensors(file('[1, 2]')), 'corrupt_file', /must be a JSON object, got array/);
  });

  test('an unknown dtype is unsupported and named', () => {
    throwsRnn(
      () => readSafetensors(file({ a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, 2)),
      'unsupported',
      /tensor 'a' has dtype U8/,
    );
    throwsRnn(
      () => readSafetensors(file({ a: { dtype: 'F33', shape: [], data_offsets: [0, 4] } }, 4)),
      'unsupported',
      /dtype F33/,
    );
  });

  test('overlapping offsets name both tensors', () => {
    const header = { a: f32([4], [0, 16]), b: f32([4], [8, 24]) };
    throwsRnn(() => readSafetensors(file(header, 24)), 'corrupt_file', /'b' data_offsets \[8, 24\] overlap tensor 'a'/);
  });

  test('a gap between tensors is corrupt', () => {
    const header = { a: f32([2], [0, 8]), b: f32([2], [16, 24]) };
    throwsRnn(() => readSafetensors(file(header, 24)), 'corrupt_file', /gap of 8 bytes.*'b' begins at 16/);
  });

  test('a first tensor that does not start at 0 leaves a gap', () => {
    throwsRnn(() => readSafetensors(file({ a: f32([1], [4, 8]) }, 8)), 'corrupt_file', /gap of 4 bytes/);
  });

  test('a shape whose size differs from its offsets is corrupt', () => {
    const header = { a: f32([3], [0, 8]), b: f32([1], [8, 12]) };
    throwsRnn(
      () => readSafetensors(file(header, 12)),
      'corrupt_file',
      /'a': shape \[3\] of F32 needs 12 bytes but .* hold 8/,
    );
  });

  test('a shape whose size overflows 2^53 is a size mismatch, not an allocation', () => {
    const header = { a: f32([2 ** 40, 2 ** 40], [0, 4]) };
    throwsRnn(() => readSafetensors(file(header, 4)), 'corrupt_file', /needs 4835703278458516698824704 bytes/);
  });

  test('negative and fractional sizes in a shape are corrupt', () => {
    throwsRnn(
      () => readSafetensors(file({ a: f32([-2], [0, 0]) })),
      'corrupt_file',
      /shape\[0\] must be a non-negative integer, got -2/,
    );
    throwsRnn(
      () => readSafetensors(file({ a: f32([2, 1.5], [0, 12]) }, 12)),
      'corrupt_file',
      /shape\[1\] must be a non-negative integer, got 1.5/,
    );
  });

  test('trailing bytes after the last tensor are corrupt', () => {
    throwsRnn(
      () => readSafetensors(file({ a: f32([2], [0, 8]) }, 12)),
      'corrupt_file',
      /4 trailing bytes after the last tensor/,
    );
  });

  test('offsets that begin after they end, or run past the data, are corrupt', () => {
    throwsRnn(() => readSafetensors(file({ a: f32([0], [8, 4]) }, 8)), 'corrupt_file', /begin after they end/);
    throwsRnn(() => readSafetensors(file({ a: f32([4], [0, 16]) }, 8)), 'corrupt_file', /past the end of the 8-byte/);
    throwsRnn(
      () => readSafetensors(file({ a: { dtype: 'F32', shape: [1] } }, 4)),
      'corrupt_file',
      /data_offsets must be/,
    );
  });

  test('metadata values that are not strings are corrupt', () => {
    throwsRnn(
      () => readSafetensors(file({ __metadata__: { step: 3 } })),
      'corrupt_file',
      /__metadata__\['step'\] must be a string, got 3/,
    );
  });

  test('random byte mutations of a valid file parse to consistent tensors or throw RnnError, nothing else', () => {
    const original = fixture('mixed.safetensors');
    const headerEnd = 8 + Number(new DataView(original.buffer, original.byteOffset).getBigUint64(0, true));
    const mutation = fc.record({
      // Half the edits land in the length and header, where parsing decisions are made.
      at: fc.oneof(fc.nat(headerEnd - 1), fc.nat(original.length - 1)),
      byte: fc.oneof(fc.nat(255), fc.constantFrom(0x22, 0x2c, 0x30, 0x39, 0x5b, 0x5d, 0x7b, 0x7d, 0x2d, 0x2e)),
    });
    fc.assert(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.oneof(fc.constant(original.length), fc.nat(original.length)),
        (edits, cut) => {
          const bytes = original.slice(0, cut);
          for (const { at, byte } of edits) if (at < bytes.length) bytes[at] = byte;
          try {
            const { tensors } = readSafetensors(bytes);
            for (const raw of tensors.values()) assert.equal(raw.data.length, numelOf(raw.shape));
          } catch (err) {
            if (!(err instanceof RnnError)) throw err;
            assert.ok(err.code === 'corrupt_file' || err.code === 'unsupported', err.code);
          }
        },
      ),
      { numRuns: 200, seed: 20240601 },
    );
  });
});

describe('hostile headers: bounded before JSON.parse builds them, and short messages', () => {
  const empty = { dtype: 'F32', shape: [0], data_offsets: [0, 0] };

  test('a shape of more than 64 dimensions is refused, and the message stays short', () => {
    const header = { w: { dtype: 'F32', shape: new Array(300_000).fill(1), data_offsets: [0, 4] } };
    throwsRnn(
      () => readSafetensors(file(header, 4)),
      'corrupt_file',
      /^tensor 'w': shape has more than 64 dimensions$/,
    );
    const just = { w: { dtype: 'F32', shape: new Array(65).fill(1), data_offsets: [0, 4] } };
    throwsRnn(() => readSafetensors(file(just, 4)), 'corrupt_file', /^tensor 'w': shape has more than 64 dimensions$/);
  });

  test('a shape of exactly 64 dimensions loads', () => {
    const header = { w: { dtype: 'F32', shape: new Array(64).fill(1), data_offsets: [0, 4] } };
    assert.equal(readSafetensors(file(header, 4)).tensors.get('w')?.shape.length, 64);
  });

  test('more than 100,000 tensors are refused before the header is parsed', () => {
    const header: Record<string, unknown> = {};
    for (let i = 0; i <= MAX_TENSORS; i++) header[`t${i}`] = empty;
    throwsRnn(
      () => readSafetensors(file(header)),
      'corrupt_file',
      /^safetensors header names more than 100000 tensors, the most this reader takes$/,
    );
  });

  test('100,000 tensors, the limit, load', () => {
    const header: Record<string, unknown> = { __metadata__: { a: 'b' } };
    for (let i = 0; i < MAX_TENSORS; i++) header[`t${i}`] = empty;
    assert.equal(readSafetensors(file(header)).tensors.size, MAX_TENSORS);
  });

  test('arrays nested a million deep are refused before they are parsed', () => {
    const deep = `{"w": ${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`;
    throwsRnn(() => readSafetensors(file(deep)), 'corrupt_file', /nested more than 8 levels deep; a header needs 3/);
  });

  test('a brace or a comma inside a name does not count', () => {
    const name = `{[,,,]}${','.repeat(100)}"\\`;
    const header = { [name]: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } };
    assert.deepEqual([...readSafetensors(file(header, 4)).tensors.keys()], [name]);
  });

  test('a name megabytes long is cut short in messages', () => {
    const name = 'x'.repeat(2_000_000);
    const header = { [name]: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } };
    throwsRnn(
      () => readSafetensors(file(header, 1)),
      'unsupported',
      /^tensor 'x{60}\.\.\.' \(2000000 characters\) has dtype Q8/,
    );
  });

  test("a metadata key '__proto__' is kept as data", () => {
    const header =
      '{"__metadata__": {"__proto__": "x", "b": "y"}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    const { metadata } = readSafetensors(file(header, 4));
    assert.equal(Object.getPrototypeOf(metadata), Object.prototype);
    assert.deepEqual(Object.entries(metadata), [
      ['__proto__', 'x'],
      ['b', 'y'],
    ]);
  });

  test("a tensor named '__proto__' is read as data", () => {
    const header = '{"__proto__": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    assert.deepEqual([...readSafetensors(file(header, 4)).tensors.keys()], ['__proto__']);
  });
});
