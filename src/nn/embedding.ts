/**
 * nn.Embedding: a lookup table from integer ids to rows of a weight matrix, with its backward. The first layer
 * of a text model: ids (N, L) become vectors (N, L, E) that an RNN reads.
 */
import { checkInteger, RnnError } from '../errors.js';
import { IntTensor } from '../int-tensor.js';
import type { Generator } from '../random.js';
import { allocate, type DType, flatten, formatBytes, MAX_TENSOR_BYTES, type NestedArray, Tensor } from '../tensor.js';
import { checkDtype, checkGradient, Module, toGenerator } from './module.js';

export interface EmbeddingOptions {
  /** V: rows of the table, so ids run from 0 to V - 1. */
  numEmbeddings: number;
  /** E: features of each row. */
  embeddingDim: number;
  /**
   * A row whose gradient is always 0 and which starts as zeros, for the id that pads short sequences. Negative
   * counts from the end (-1 is V - 1), as in PyTorch. Default: none.
   */
  paddingIdx?: number | null;
  /** Default 'float32'. */
  dtype?: DType;
  /** Seeds the initialisation N(0, 1) of weight (the same numbers as torch.manual_seed(seed); nn.Embedding(...)). */
  seed?: number | Generator;
  /** Not supported (PyTorch's renormalisation of looked-up rows): only the default, null. */
  maxNorm?: null;
  /** Only matters with maxNorm: only the default, 2. */
  normType?: 2;
  /** Not supported (scaling each row's gradient by its id's count): only the default, false. */
  scaleGradByFreq?: false;
  /** Not supported (sparse gradients): only the default, false. */
  sparse?: false;
}

/** Ids to look up: an integer tensor (int64 or int32, e.g. from a .pt file), nested integer arrays, or one id. */
export type EmbeddingIds = IntTensor | NestedArray;

/** PyTorch's options this module refuses, with the one value it accepts for each. */
const UNSUPPORTED = [
  ['maxNorm', 'max_norm', null],
  ['normType', 'norm_type', 2],
  ['scaleGradByFreq', 'scale_grad_by_freq', false],
  ['sparse', 'sparse', false],
] as const;

/**
 * A lookup table, `torch.nn.Embedding`: `y[..., :] = weight[ids[...], :]`. Parameter `weight` (V, E), named
 * as PyTorch names it, initialised N(0, 1) with the padding row (if any) zeroed. Ids of any shape (...), each
 * in 0..V-1, give an output (..., E): ids (N, L) -> (N, L, E), ids (L) -> (L, E), one id -> (E).
 *
 * The backward adds each output row's gradient into the weight row it came from, so an id used several times
 * gets the sum; the padding row's gradient stays 0.
 *
 * @example
 * const emb = new Embedding({ numEmbeddings: 10, embeddingDim: 4, paddingIdx: 0, seed: 0 });
 * const x = emb.forward([[1, 2, 0], [3, 3, 9]], { requiresGrad: true }); // (2, 3) -> (2, 3, 4)
 * emb.backward(dx);                                                      // adds into emb.grad('weight')
 */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  /** The padding row, normalised to 0..V-1 (paddingIdx -1 is V - 1); null when there is none. */
  readonly paddingIdx: number | null;
  /** The ids of the last forward with requiresGrad (flat), not yet consumed by a backward, and their shape. */
  private tape: { ids: Int32Array; shape: readonly number[] } | null = null;

  constructor(options: EmbeddingOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new RnnError(
        'invalid_argument',
        'Embedding options must be an object such as { numEmbeddings: 100, embeddingDim: 16 }',
      );
    }
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    const V = checkSize(options.numEmbeddings, 'num_embeddings');
    const E = checkSize(options.embeddingDim, 'embedding_dim');
    this.numEmbeddings = V;
    this.embeddingDim = E;
    this.paddingIdx = checkPaddingIdx(options.paddingIdx, V);
    for (const [key, name, value] of UNSUPPORTED) {
      const given = options[key];
      if (given !== undefined && given !== value) {
        throw new RnnError(
          'unsupported',
          `Embedding: ${name} is not supported (only ${value === null ? 'None' : String(value)}), got ${String(given)}`,
          { expected: value, got: given },
        );
      }
    }
    const bytes = V * E * (this.dtype === 'float64' ? 8 : 4);
    if (bytes > MAX_TENSOR_BYTES) {
      throw new RnnError(
        'invalid_argument',
        `Embedding would have ${V * E} parameters (${formatBytes(bytes)}); the limit is 4 GiB`,
        { expected: `<= ${formatBytes(MAX_TENSOR_BYTES)}`, got: formatBytes(bytes) },
      );
    }
    // reset_parameters: init.normal_(weight), then the padding row filled with 0.
    const weight = new Tensor(allocate(this.dtype, V * E), [V, E]); // (V, E)
    this.generator.normal(weight.data, 0, 1);
    if (this.paddingIdx !== null) weight.data.fill(0, this.paddingIdx * E, (this.paddingIdx + 1) * E);
    this.params.set('weight', weight);
  }

  /**
   * y (..., E) = weight[ids] for ids (...). With `requiresGrad`, keeps a copy of the ids for `backward`.
   * Out-of-range ids are an error, as in PyTorch ("index out of range in self"); negative ids are out of range.
   */
  forward(ids: EmbeddingIds, options: { requiresGrad?: boolean } = {}): Tensor {
    const { flat, shape } = readIds(ids, this.numEmbeddings);
    this.checkAttachedParameters();
    const E = this.embeddingDim;
    const weight = this.parameter('weight').data; // (V, E)
    const y = allocate(this.dtype, flat.length * E); // (M, E), M = ids.numel
    for (let m = 0; m < flat.length; m++) {
      const v = flat[m] as number;
      y.set(weight.subarray(v * E, (v + 1) * E), m * E);
    }
    this.tape = options?.requiresGrad === true ? { ids: flat, shape } : null;
    return new Tensor(y, [...shape, E]);
  }

  /**
   * ADDS the gradient of `weight` for `gradOutput` (the output's shape) into `grad('weight')`: row v gets the
   * sum of the gradient rows of every position whose id is v, except the padding row, which gets nothing. The
   * ids have no gradient, so nothing is returned. Consumes the recorded forward.
   *
   * Summed as PyTorch sums (embedding_dense_backward_cpu): the rows of one backward in the order of the ids,
   * from zero, rounding to the dtype at each addition; then that sum is added to the accumulated gradient.
   */
  backward(gradOutput: Tensor): void {
    const tape = this.tape;
    if (!tape) throw this.noRecordedForward();
    const E = this.embeddingDim;
    const dy = checkGradient(gradOutput, 'gradOutput', 'the output', [...tape.shape, E], this.dtype).data; // (M, E)
    this.tape = null;
    // Positions of each id, in order; the padding row is skipped.
    const positions = new Map<number, number[]>();
    tape.ids.forEach((v, m) => {
      if (v === this.paddingIdx) return;
      const list = positions.get(v);
      if (list) list.push(m);
      else positions.set(v, [m]);
    });
    const dW = this.grad('weight').data; // (V, E)
    const sum = allocate(this.dtype, E); // (E): one row's gradient in this backward
    for (const [v, ms] of positions) {
      sum.fill(0);
      for (const m of ms) {
        for (let e = 0; e < E; e++) sum[e] = (sum[e] as number) + (dy[m * E + e] as number);
      }
      for (let e = 0; e < E; e++) dW[v * E + e] = (dW[v * E + e] as number) + (sum[e] as number);
    }
  }
}

/** A size of the table: an integer >= 0 (PyTorch makes an empty table of 0 rows or columns). */
function checkSize(value: unknown, what: string): number {
  checkInteger(value, what, Number.NEGATIVE_INFINITY);
  const n = value as number;
  if (n < 0) {
    throw new RnnError('invalid_argument', `Trying to create tensor with negative dimension ${n}: ${what} is ${n}`, {
      expected: '>= 0',
      got: n,
    });
  }
  return n;
}

/** PyTorch's padding_idx rules: within -V..V-1, negative counting from the end; null or undefined for none. */
function checkPaddingIdx(value: unknown, V: number): number | null {
  if (value === undefined || value === null) return null;
  const p = checkInteger(value, 'padding_idx', Number.NEGATIVE_INFINITY);
  if (p >= V || p < -V) {
    throw new RnnError('invalid_argument', 'Padding_idx must be within num_embeddings', {
      expected: `${-V} <= padding_idx < ${V}`,
      got: p,
    });
  }
  return p < 0 ? V + p : p;
}

const WRONG_TYPE = "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int";

/** The ids as a flat Int32Array (each checked to lie in 0..V-1) and their shape. */
function readIds(ids: EmbeddingIds, V: number): { flat: Int32Array; shape: readonly number[] } {
  const outOfRange = (id: number | bigint, m: number, shape: readonly number[]): RnnError =>
    new RnnError(
      'invalid_argument',
      `index out of range in self: id ${id} at ${position(m, shape)}, and an Embedding of ${V} rows takes ids 0 to ${V - 1}`,
      { expected: `0 <= id < ${V}`, got: typeof id === 'bigint' ? String(id) : id },
    );
  if (ids instanceof IntTensor) {
    const flat = new Int32Array(ids.numel);
    const data = ids.data;
    for (let m = 0; m < data.length; m++) {
      const id = data[m] as number | bigint;
      if (id < 0 || id >= V) throw outOfRange(id, m, ids.shape);
      flat[m] = Number(id);
    }
    return { flat, shape: ids.shape };
  }
  if (ids instanceof Tensor) {
    const kind = ids.dtype === 'float64' ? 'torch.DoubleTensor' : 'torch.FloatTensor';
    throw new RnnError(
      'invalid_argument',
      `${WRONG_TYPE}; but got ${kind} instead (while checking arguments for embedding)`,
      {
        expected: ['IntTensor', 'nested integer arrays'],
        got: kind,
        hint: 'pass the ids as an IntTensor or as nested arrays of integers',
      },
    );
  }
  if (typeof ids !== 'number' && !Array.isArray(ids)) {
    throw new RnnError(
      'invalid_argument',
      `Embedding.forward: ids must be an IntTensor, nested arrays of integers or one integer, got ${ids === null ? 'null' : typeof ids}`,
      { expected: ['IntTensor', 'nested integer arrays', 'integer'], got: ids === null ? null : typeof ids },
    );
  }
  const { flat: values, shape } = flatten(ids);
  const flat = new Int32Array(values.length);
  for (let m = 0; m < values.length; m++) {
    const id = values[m] as number;
    if (!Number.isInteger(id)) {
      throw new RnnError(
        'invalid_argument',
        `${WRONG_TYPE}; but got the non-integer ${id} at ${position(m, shape)} (while checking arguments for embedding)`,
        { expected: 'integer', got: id },
      );
    }
    if (id < 0 || id >= V) throw outOfRange(id, m, shape);
    flat[m] = id;
  }
  return { flat, shape };
}

/** The index of flat position m in a row-major shape, as `ids[1][2]` (`ids` for a scalar). */
function position(m: number, shape: readonly number[]): string {
  const index: number[] = [];
  let rest = m;
  for (let d = shape.length - 1; d >= 0; d--) {
    const s = shape[d] as number;
    index.unshift(rest % s);
    rest = Math.floor(rest / s);
  }
  return `ids${index.map((i) => `[${i}]`).join('')}`;
}
