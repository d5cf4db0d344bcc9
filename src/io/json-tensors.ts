/**
 * Named tensors as a JSON object of nested arrays, for people without tensor files:
 * `{"input": [[0.1, 0.2], [0.3, 0.4]], "h0": 0}`. A bare number is a 0-d tensor.
 *
 * Reading validates the whole file and names the key and index of the first problem
 * ("input[1][2]: expected a number, got string"). Writing keeps every value exact: float64 values print
 * as JavaScript's shortest round-trip decimal, float32 values as the shortest decimal that reads back to the
 * same float32. Pure module: it runs in the browser bundle too.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import { Tensor } from '../tensor.js';

/** Deeper nesting than this is not a tensor anyone means, and would otherwise recurse without bound. */
const MAX_DIMS = 64;

/**
 * Largest JSON tensor file read, in bytes. Parsing JSON builds a JavaScript value per number: a file of zeros
 * takes some 30 times its size in memory (600 MiB at the limit, in 2 s). Big tensors belong in safetensors or .pt.
 */
export const MAX_JSON_BYTES = 16 * 2 ** 20;

/** The refusal of a JSON tensor file of `size` bytes (or characters), over MAX_JSON_BYTES. */
export function jsonTooLarge(size: number, limit = MAX_JSON_BYTES): RnnError {
  return new RnnError(
    'unsupported',
    `JSON tensor file of ${size} bytes: JSON tensors are limited to ${limit / 2 ** 20} MiB, since parsing ` +
      'JSON takes some 30 times the file size in memory',
    {
      expected: `<= ${limit} bytes`,
      got: size,
      hint: 'save big tensors as safetensors or .pt (in Python: safetensors.torch.save_file or torch.save)',
    },
  );
}

function corrupt(message: string, expected?: unknown, got?: unknown): RnnError {
  return new RnnError('corrupt_file', message, { expected, got });
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Parses a JSON tensor file into flat values and shapes, in the file's key order. Text longer than
 * `options.maxBytes` characters (default MAX_JSON_BYTES, 16 MiB; parsing takes some 30 times as much memory) is
 * refused before parsing; a caller that trusts the text and has the memory may raise it.
 */
export function readJsonTensors(
  text: string,
  options: { maxBytes?: number } = {},
): Map<string, { shape: number[]; values: number[] }> {
  checkArgument(typeof text === 'string', 'readJsonTensors: text', 'a string', text);
  checkArgument(isObject(options), 'readJsonTensors: options', 'an object such as { maxBytes }', options);
  const limit = options.maxBytes ?? MAX_JSON_BYTES;
  checkArgument(
    Number.isSafeInteger(limit) && limit > 0,
    'readJsonTensors: options.maxBytes',
    'a positive integer',
    limit,
  );
  // Each character is at least one byte of the file it came from.
  if (text.length > limit) throw jsonTooLarge(text.length, limit);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    // V8 quotes the offending text, newlines included: fold them so the error stays one line.
    const reason = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
    throw corrupt(`tensor JSON does not parse: ${reason}`, 'JSON', 'invalid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw corrupt(
      `tensor JSON must be an object of named tensors like {"input": [[1, 2]]}, got ${kind(parsed)}`,
      'object',
      kind(parsed),
    );
  }
  const out = new Map<string, { shape: number[]; values: number[] }>();
  for (const [name, value] of Object.entries(parsed)) out.set(name, readOne(name, value));
  return out;
}

function readOne(key: string, value: unknown): { shape: number[]; values: number[] } {
  // The name as messages show it: a key can be megabytes long.
  const name = key.length > 60 ? `${key.slice(0, 60)}...` : key;
  // The shape is read off the first element at each depth; every other element must then agree with it.
  const shape: number[] = [];
  let probe = value;
  while (Array.isArray(probe)) {
    if (shape.length === MAX_DIMS) throw corrupt(`${name}: more than ${MAX_DIMS} nested dimensions`, MAX_DIMS);
    shape.push(probe.length);
    probe = probe[0];
  }
  const values: number[] = [];
  const walk = (v: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') {
        const hint = Array.isArray(v) ? ` (${name} has ${shape.length} dimensions, from its first elements)` : '';
        throw corrupt(`${path}: expected a number, got ${kind(v)}${hint}`, 'number', kind(v));
      }
      if (!Number.isFinite(v)) throw corrupt(`${path}: expected a finite number, got ${v}`, 'finite number', v);
      values.push(v);
      return;
    }
    if (!Array.isArray(v)) {
      throw corrupt(
        `${path}: expected an array of ${shape[dim]} elements (dim ${dim}), got ${kind(v)}`,
        shape[dim],
        kind(v),
      );
    }
    if (v.length !== shape[dim]) {
      throw corrupt(
        `${path}: ragged array: dim ${dim} has ${shape[dim]} elements in ${name}${'[0]'.repeat(dim)} but ${v.length} here`,
        shape[dim],
        v.length,
      );
    }
    for (let i = 0; i < v.length; i++) walk(v[i], dim + 1, `${path}[${i}]`);
  };
  walk(value, 0, name);
  return { shape, values };
}

/**
 * Writes tensors as one JSON object of nested arrays, values exact. Throws for NaN and infinities, which
 * JSON cannot hold. Rows of the last dimension go one per line.
 */
export function writeJsonTensors(record: Record<string, Tensor>): string {
  checkArgument(isObject(record), 'writeJsonTensors: record', 'an object of named Tensors', record);
  for (const [name, t] of Object.entries(record))
    checkArgument(t instanceof Tensor, `writeJsonTensors: '${name}'`, 'a Tensor', t);
  const lines: string[] = [];
  for (const [name, t] of Object.entries(record)) {
    const format = t.dtype === 'float32' ? float32ToString : float64ToString;
    const strides = t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
    const build = (dim: number, offset: number, indent: string): string => {
      if (dim === t.ndim) {
        const v = t.data[offset] as number;
        if (!Number.isFinite(v)) {
          throw new RnnError('invalid_argument', `${name}${unravel(offset, strides)} is ${v}, which JSON cannot hold`, {
            expected: 'finite number',
            got: v,
          });
        }
        return format(v);
      }
      const items: string[] = [];
      for (let i = 0; i < (t.shape[dim] as number); i++) {
        items.push(build(dim + 1, offset + i * (strides[dim] as number), `${indent}  `));
      }
      if (dim === t.ndim - 1 || items.length === 0) return `[${items.join(', ')}]`;
      return `[\n${indent}  ${items.join(`,\n${indent}  `)}\n${indent}]`;
    };
    lines.push(`  ${JSON.stringify(name)}: ${build(0, 0, '  ')}`);
  }
  return lines.length === 0 ? '{}\n' : `{\n${lines.join(',\n')}\n}\n`;
}

function unravel(offset: number, strides: number[]): string {
  let rest = offset;
  let out = '';
  for (const s of strides) {
    out += `[${Math.floor(rest / s)}]`;
    rest %= s;
  }
  return out;
}

/** JavaScript's own shortest round-trip form; -0 keeps its sign (JSON.parse reads "-0" back as -0). */
function float64ToString(v: number): string {
  return Object.is(v, -0) ? '-0' : String(v);
}

/**
 * The fewest significant digits (9 always suffice) whose correctly rounded decimal reads back to the same
 * float32: 0.1 in float32 is 0.100000001490116..., and prints as "0.1", not as the float64 digits.
 */
export function float32ToString(v: number): string {
  if (Object.is(v, -0)) return '-0';
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(v.toPrecision(digits));
    if (Math.fround(candidate) === v) return String(candidate);
  }
  return String(Number(v.toPrecision(9)));
}
