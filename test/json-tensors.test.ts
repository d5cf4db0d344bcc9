import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { MAX_JSON_BYTES, readJsonTensors, writeJsonTensors } from '../src/io/json-tensors.js';
import { randn, tensor } from '../src/tensor.js';

function throwsRnn(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof RnnError, `expected RnnError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('nested arrays read as a shape and flat row-major values', () => {
  const got = readJsonTensors('{"input": [[[1, 2, 3], [4, 5, 6]]], "h0": [0.5, -1e-3]}');
  assert.deepEqual(got.get('input'), { shape: [1, 2, 3], values: [1, 2, 3, 4, 5, 6] });
  assert.deepEqual(got.get('h0'), { shape: [2], values: [0.5, -1e-3] });
  assert.deepEqual([...got.keys()], ['input', 'h0']);
});

test('a bare number is a 0-d tensor and an empty array has shape [0]', () => {
  const got = readJsonTensors('{"s": 3, "e": []}');
  assert.deepEqual(got.get('s'), { shape: [], values: [3] });
  assert.deepEqual(got.get('e'), { shape: [0], values: [] });
});

test('text that is not JSON is a corrupt file', () => {
  throwsRnn(() => readJsonTensors('{"input": [1, 2'), 'corrupt_file', /tensor JSON does not parse/);
});

test('JSON that is not an object of tensors says what it got', () => {
  throwsRnn(() => readJsonTensors('[[1, 2]]'), 'corrupt_file', /must be an object of named tensors.*got array/);
  throwsRnn(() => readJsonTensors('null'), 'corrupt_file', /got null/);
});

test('a non-number element is named by key and index', () => {
  throwsRnn(
    () => readJsonTensors('{"input": [[1, 2, 3], [4, 5, "6"]]}'),
    'corrupt_file',
    /^input\[1\]\[2\]: expected a number, got string$/,
  );
  throwsRnn(() => readJsonTensors('{"x": [null]}'), 'corrupt_file', /^x\[0\]: expected a number, got null$/);
});

test('a ragged array names the dimension and both lengths', () => {
  throwsRnn(
    () => readJsonTensors('{"input": [[1, 2, 3], [4, 5]]}'),
    'corrupt_file',
    /^input\[1\]: ragged array: dim 1 has 3 elements in input\[0\] but 2 here$/,
  );
});

test('a number where an array belongs, and an array where a number belongs, are named', () => {
  throwsRnn(
    () => readJsonTensors('{"x": [[1], 2]}'),
    'corrupt_file',
    /^x\[1\]: expected an array of 1 elements \(dim 1\), got number$/,
  );
  throwsRnn(() => readJsonTensors('{"x": [1, [2]]}'), 'corrupt_file', /^x\[1\]: expected a number, got array/);
});

test('a number too large for a double is refused as not finite', () => {
  throwsRnn(
    () => readJsonTensors('{"x": [1e400]}'),
    'corrupt_file',
    /^x\[0\]: expected a finite number, got Infinity$/,
  );
});

test('nesting deeper than 64 dimensions is refused', () => {
  const deep = `{"x": ${'['.repeat(65)}1${']'.repeat(65)}}`;
  throwsRnn(() => readJsonTensors(deep), 'corrupt_file', /more than 64 nested dimensions/);
});

test('float64 values written to JSON read back exactly', () => {
  const t = randn([3, 4], { dtype: 'float64', generator: 7 });
  const edge = tensor([0.1, 5e-324, Number.MAX_VALUE, -0, 1 / 3, -2.5e-300], [6], 'float64');
  const back = readJsonTensors(writeJsonTensors({ t, edge }));
  assert.deepEqual(back.get('t'), { shape: [3, 4], values: Array.from(t.data) });
  const e = back.get('edge')!;
  assert.deepEqual(e.shape, [6]);
  e.values.forEach((v, i) => assert.ok(Object.is(v, edge.data[i]), `element ${i}: ${v} vs ${edge.data[i]}`));
});

test('float32 values are written as the shortest decimal that reads back to the same float32', () => {
  const specials = [0.1, 1 / 3, 1e-45, 1.1754942e-38, 3.4028234663852886e38, -7.5e-3, 16777217, 0.3];
  const t = tensor([...Array.from(randn([200], { generator: 3 }).data), ...specials]);
  const text = writeJsonTensors({ t });
  const written = text.slice(text.indexOf('[') + 1, text.lastIndexOf(']')).split(', ');
  assert.equal(written.length, t.numel);
  written.forEach((s, i) => {
    const v = t.data[i] as number;
    assert.equal(Math.fround(Number(s)), v, `${s} does not read back to ${v}`);
    // One significant digit fewer would not read back: it is the shortest.
    const digits = s.replace(/^-/, '').replace(/e.*$/, '').replace('.', '').replace(/^0+/, '').length;
    if (digits > 1) assert.notEqual(Math.fround(Number(v.toPrecision(digits - 1))), v, `${s} is not shortest`);
  });
  assert.ok(text.includes(', 0.1, 0.33333334, 1e-45, '), 'specials print short');
});

test('negative zero keeps its sign through JSON', () => {
  const back = readJsonTensors(writeJsonTensors({ a: tensor([-0, 0]), b: tensor([-0], [1], 'float64') }));
  assert.ok(Object.is(back.get('a')!.values[0], -0));
  assert.ok(Object.is(back.get('a')!.values[1], 0));
  assert.ok(Object.is(back.get('b')!.values[0], -0));
});

test('NaN and infinities cannot be written, and the index is named', () => {
  throwsRnn(
    () => writeJsonTensors({ x: tensor([1, 2, 3, Number.NaN], [2, 2]) }),
    'invalid_argument',
    /^x\[1\]\[1\] is NaN, which JSON cannot hold$/,
  );
  throwsRnn(
    () => writeJsonTensors({ y: tensor([Number.NEGATIVE_INFINITY]) }),
    'invalid_argument',
    /y\[0\] is -Infinity/,
  );
});

test('written JSON has one row of the last dimension per line and reads back with its shape', () => {
  const t = tensor(
    [
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8],
      ],
    ],
    undefined,
    'float64',
  );
  const text = writeJsonTensors({ x: t, s: tensor([2.5], [], 'float64') });
  assert.equal(
    text,
    '{\n  "x": [\n    [\n      [1, 2],\n      [3, 4]\n    ],\n    [\n      [5, 6],\n      [7, 8]\n    ]\n  ],\n  "s": 2.5\n}\n',
  );
  assert.deepEqual(readJsonTensors(text).get('x'), { shape: [2, 2, 2], values: [1, 2, 3, 4, 5, 6, 7, 8] });
  assert.deepEqual(readJsonTensors(text).get('s'), { shape: [], values: [2.5] });
});

test('an empty record writes an empty object', () => {
  assert.equal(writeJsonTensors({}), '{}\n');
  assert.equal(readJsonTensors(writeJsonTensors({})).size, 0);
});

test('JSON text over the 16 MiB limit is refused before parsing, pointing to safetensors', () => {
  const text = `{"input": [${' '.repeat(MAX_JSON_BYTES)}0]}`;
  assert.throws(
    () => readJsonTensors(text),
    (e: unknown) =>
      e instanceof RnnError &&
      e.code === 'unsupported' &&
      /JSON tensors are limited to 16 MiB, since parsing JSON takes some 30 times the file size in memory/.test(
        e.message,
      ) &&
      /safetensors/.test(e.hint ?? ''),
  );
});

test("a tensor named '__proto__' is read as data, like any other name", () => {
  const got = readJsonTensors('{"__proto__": [1, 2], "w": 3}');
  assert.deepEqual([...got.keys()], ['__proto__', 'w']);
  assert.deepEqual(got.get('__proto__'), { shape: [2], values: [1, 2] });
});

test('a name megabytes long is cut short in messages', () => {
  const name = 'n'.repeat(1_000_000);
  assert.throws(
    () => readJsonTensors(JSON.stringify({ [name]: ['x'] })),
    (e: unknown) => e instanceof RnnError && e.message.length < 200 && e.message.startsWith(`${'n'.repeat(60)}...[0]`),
  );
});
