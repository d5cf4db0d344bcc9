/**
 * A minimal dense tensor: a flat Float32Array or Float64Array in row-major (C) order, plus its shape.
 *
 * This is all the model needs: the math in src/rnn works on the flat arrays directly, and `Tensor` is the
 * boundary type users hold. It prints like PyTorch (`tensor([[-0.6123, ...]])`, 4 decimals), so examples read
 * like the notebooks they come from.
 */
import { type DType, dtypeOf, type FloatArray } from './dtype.js';
import { checkArgument, formatSizeList, isObject, RnnError } from './errors.js';
import { formatTensor } from './format.js';
import { Generator } from './random.js';

export { type DType, dtypeOf, type FloatArray };

/** A number or arbitrarily nested arrays of numbers, as `tensor.tolist()` returns and `tensor()` accepts. */
export type NestedArray = number | NestedArray[];

/** The most bytes one tensor may take (4 GiB): past it a typo in a size fails here, not in the allocator. */
export const MAX_TENSOR_BYTES = 2 ** 32;

export function allocate(dtype: DType, numel: number): FloatArray {
  const bytes = numel * (dtype === 'float64' ? 8 : 4);
  if (!Number.isSafeInteger(numel) || numel < 0 || bytes > MAX_TENSOR_BYTES) {
    throw new RnnError(
      'invalid_argument',
      `cannot allocate a ${dtype} tensor of ${numel} elements (${formatBytes(bytes)}; the limit is 4 GiB)`,
      {
        expected: `<= ${MAX_TENSOR_BYTES / (dtype === 'float64' ? 8 : 4)} elements`,
        got: numel,
      },
    );
  }
  return dtype === 'float64' ? new Float64Array(numel) : new Float32Array(numel);
}

export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

/** Throws unless `shape` is a list of non-negative integers whose product is `length`, in PyTorch's words. */
export function checkShape(shape: readonly number[], length: number): void {
  checkArgument(Array.isArray(shape), 'the shape', 'an array of sizes', shape);
  for (const s of shape) {
    if (!Number.isSafeInteger(s) || s < 0) {
      throw new RnnError('invalid_argument', `Trying to create tensor with invalid shape ${formatSizeList(shape)}`, {
        got: shape,
      });
    }
  }
  const numel = numelOf(shape);
  if (numel !== length) {
    throw new RnnError('shape_mismatch', `shape '${formatSizeList(shape)}' is invalid for input of size ${length}`, {
      expected: numel,
      got: length,
    });
  }
}

/**
 * Throws unless `t`'s data still holds its shape's elements. A tensor whose ArrayBuffer was transferred away
 * (postMessage, structuredClone with transfer) reads as empty whatever its shape says: computing with it would give
 * NaNs, or a kernel's raw RangeError.
 */
export function checkAttached(t: Tensor, what: string): void {
  const want = numelOf(t.shape);
  if (t.data.length !== want) {
    throw new RnnError(
      'invalid_argument',
      `${what} holds ${t.data.length} elements where its shape ${formatSizeList(t.shape)} needs ${want}: its ArrayBuffer was transferred (detached)`,
      {
        expected: want,
        got: t.data.length,
        hint: 'transfer a copy (tensor.clone()), not the tensor the library still uses',
      },
    );
  }
}

export class Tensor {
  readonly data: FloatArray;
  readonly shape: readonly number[];
  /** See `version`. */
  #version = 0;

  constructor(data: FloatArray, shape: readonly number[]) {
    checkArgument(
      data instanceof Float32Array || data instanceof Float64Array,
      "a Tensor's data",
      'a Float32Array or Float64Array',
      data,
    );
    checkShape(shape, data.length);
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  get dtype(): DType {
    return dtypeOf(this.data);
  }

  /**
   * PyTorch's `_version`: a counter that every write the library makes into `data` in place moves on
   * (`loadStateDict`, an optimizer's `step`). A module keeps its weights prepared for its kernel (packed once, see
   * `RNNBase.preparedBytes`) and prepares them again when a parameter's version has moved. Code that writes `data`
   * itself calls `bumpVersion()` after (or the module's `parametersChanged()`), as PyTorch's `.data` writes bypass
   * `_version`.
   */
  get version(): number {
    return this.#version;
  }

  /** Says that `data` was written in place: moves `version` on. */
  bumpVersion(): void {
    this.#version++;
  }

  /** Number of dimensions, like `tensor.dim()`. */
  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return this.data.length;
  }

  /** `size()` is the shape; `size(d)` one dimension, negative `d` counting from the end, like PyTorch. */
  size(): readonly number[];
  size(dim: number): number;
  size(dim?: number): number | readonly number[] {
    if (dim === undefined) return this.shape;
    const d = dim < 0 ? dim + this.ndim : dim;
    const s = this.shape[d];
    if (s === undefined) {
      throw new RnnError(
        'invalid_argument',
        `Dimension out of range (expected to be in range of [${-this.ndim}, ${this.ndim - 1}], but got ${dim})`,
      );
    }
    return s;
  }

  /** The element at a full index, e.g. `t.item(0, 2, 1)`; with no index, the only element of a 1-element tensor. */
  item(...index: number[]): number {
    if (index.length === 0 && this.numel === 1) return this.data[0] as number;
    if (index.length !== this.ndim) {
      throw new RnnError('invalid_argument', `expected ${this.ndim} indices, got ${index.length}`);
    }
    let offset = 0;
    for (let d = 0; d < this.ndim; d++) {
      const i = index[d] as number;
      const s = this.shape[d] as number;
      if (!Number.isInteger(i) || i < 0 || i >= s) {
        throw new RnnError('invalid_argument', `index ${i} is out of bounds for dimension ${d} with size ${s}`);
      }
      offset = offset * s + i;
    }
    return this.data[offset] as number;
  }

  /** A tensor with the same data (copied) and a new shape of the same number of elements; one size may be -1. */
  reshape(shape: readonly number[]): Tensor {
    checkArgument(Array.isArray(shape), 'reshape: the shape', 'an array of sizes', shape);
    const known = shape.filter((s) => s !== -1);
    const inferred = shape.length - known.length === 1 ? this.numel / numelOf(known) : undefined;
    const full = shape.map((s) => (s === -1 ? (inferred ?? -1) : s));
    return new Tensor(this.data.slice(), full);
  }

  /** A copy in the other precision (or the same one). */
  to(dtype: DType): Tensor {
    checkArgument(dtype === 'float32' || dtype === 'float64', 'dtype', "'float32' or 'float64'", dtype);
    const out = allocate(dtype, this.numel);
    out.set(this.data);
    return new Tensor(out, this.shape);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** Nested arrays of numbers, like `tensor.tolist()`. */
  tolist(): NestedArray {
    const build = (dim: number, offset: number): NestedArray => {
      if (dim === this.ndim) return this.data[offset] as number;
      const stride = numelOf(this.shape.slice(dim + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < (this.shape[dim] as number); i++) out.push(build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    return formatTensor(this.data, this.shape);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * Makes a tensor from nested arrays (`tensor([[1, 2], [3, 4]])`) or from flat values and a shape
 * (`tensor([1, 2, 3, 4], [2, 2])`). The dtype is `dtype`, else that of a typed-array argument, else float32.
 * The values are copied.
 */
export function tensor(values: NestedArray | ArrayLike<number>, shape?: readonly number[], dtype?: DType): Tensor {
  checkArgument(
    dtype === undefined || dtype === 'float32' || dtype === 'float64',
    'dtype',
    "'float32' or 'float64'",
    dtype,
  );
  checkArgument(
    typeof values === 'number' || (typeof values === 'object' && values !== null),
    'tensor: values',
    'a number, nested arrays of numbers or a typed array',
    values,
  );
  const kind: DType = dtype ?? (values instanceof Float64Array ? 'float64' : 'float32');
  if (shape !== undefined) {
    const flat = isFlat(values) ? values : flatten(values as NestedArray).flat;
    const data = allocate(kind, flat.length);
    data.set(flat);
    return new Tensor(data, shape);
  }
  if (ArrayBuffer.isView(values)) {
    const flat = values as ArrayLike<number>;
    const data = allocate(kind, flat.length);
    data.set(flat);
    return new Tensor(data, [flat.length]);
  }
  const { flat, shape: inferred } = flatten(values as NestedArray);
  const data = allocate(kind, flat.length);
  data.set(flat);
  return new Tensor(data, inferred);
}

function isFlat(values: NestedArray | ArrayLike<number>): values is ArrayLike<number> {
  if (ArrayBuffer.isView(values)) return true;
  if (!Array.isArray(values)) return false;
  // a plain loop: every() skips holes, which flatten() then reports
  for (let i = 0; i < values.length; i++) if (!(i in values) || typeof values[i] !== 'number') return false;
  return true;
}

/** The most nested dimensions `tensor()` and an Embedding's ids take, as the JSON tensor reader. */
export const MAX_NESTED_DIMS = 64;

/** Flattens nested arrays, checking they are rectangular and hold only finite-or-not numbers. */
export function flatten(values: NestedArray): {
  flat: number[];
  shape: number[];
} {
  const shape: number[] = [];
  let probe: NestedArray = values;
  while (Array.isArray(probe)) {
    // The walk below recurses once per dimension: a value nested 20,000 deep must fail in words, not overflow.
    if (shape.length === MAX_NESTED_DIMS) {
      throw new RnnError('invalid_argument', `more than ${MAX_NESTED_DIMS} nested dimensions`, {
        expected: `<= ${MAX_NESTED_DIMS} dimensions`,
        got: `more than ${MAX_NESTED_DIMS}`,
      });
    }
    shape.push(probe.length);
    if (probe.length === 0) break;
    probe = probe[0] as NestedArray;
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof v !== 'number') {
        throw new RnnError(
          'invalid_argument',
          `expected a number at ${path || 'the top'}, got ${Array.isArray(v) ? 'an array' : typeof v}`,
        );
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[dim]) {
      throw new RnnError(
        'shape_mismatch',
        `expected sequence of length ${shape[dim]} at dim ${dim} (got ${Array.isArray(v) ? v.length : typeof v})`,
        { expected: shape[dim], got: Array.isArray(v) ? v.length : typeof v },
      );
    }
    for (let i = 0; i < v.length; i++) {
      // forEach would skip a hole ([1, , 2]) and report a shape error that does not mention it
      if (!(i in v)) {
        throw new RnnError('invalid_argument', `expected a number at ${path}[${i}], got a hole (an empty array slot)`, {
          got: 'a hole',
        });
      }
      walk(v[i] as NestedArray, dim + 1, `${path}[${i}]`);
    }
  };
  walk(values, 0, '');
  return { flat, shape };
}

export function zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
  checkShape(shape, numelOf(Array.isArray(shape) ? shape : []));
  checkArgument(dtype === 'float32' || dtype === 'float64', 'dtype', "'float32' or 'float64'", dtype);
  return new Tensor(allocate(dtype, numelOf(shape)), shape);
}

export interface RandomOptions {
  dtype?: DType;
  /** Seed or generator. A number seeds a fresh generator, like `torch.manual_seed(seed)` before the call. */
  generator?: Generator | number;
}

function generatorFrom(g: Generator | number | undefined): Generator {
  if (g instanceof Generator) return g;
  return new Generator(g ?? Date.now());
}

/** Standard normal samples, like `torch.randn(shape)` after `torch.manual_seed(seed)`. */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  checkArgument(isObject(options), 'options', 'an object such as { dtype, generator }', options);
  const t = zeros(shape, options.dtype ?? 'float32');
  generatorFrom(options.generator).normal(t.data, 0, 1);
  return t;
}

/** Uniform samples on [0, 1), like `torch.rand(shape)` after `torch.manual_seed(seed)`. */
export function rand(shape: readonly number[], options: RandomOptions = {}): Tensor {
  checkArgument(isObject(options), 'options', 'an object such as { dtype, generator }', options);
  const t = zeros(shape, options.dtype ?? 'float32');
  generatorFrom(options.generator).uniform(t.data, 0, 1);
  return t;
}
