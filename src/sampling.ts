/**
 * Choosing the next token from a model's logits: `argmax` (greedy), `softmax` with a temperature, and `sample`,
 * which draws as `torch.multinomial(torch.softmax(logits / temperature, -1), 1)` does with the same seed.
 *
 * Each takes one row of logits (a Float32Array, Float64Array or number array, length V) and gives one index, or a
 * Tensor whose last dimension is V ((V) or (N, V), or any (..., V)) and gives one index per row.
 *
 * How torch.multinomial draws one sample (ATen/native/Distributions.cpp, its path for one sample): q ~ Exp(1) for
 * every entry of the probability tensor, `exponential_` on the whole tensor in order, each q = -log(1 - u) from one
 * double uniform u; the sample is argmax(p / q), the first on ties. `sample` does the same with the library's
 * Generator, whose uniforms are torch's (src/random.ts), so `new Generator(s)` then `sample(...)` equals
 * `torch.manual_seed(s)` then `torch.multinomial(...)` as long as the probabilities are torch's to the bit; our
 * softmax rounds like torch's except in its exp (torch vectorizes it with Sleef), which moves a probability by
 * at most one float32 rounding, so a draw can differ only where two ratios p / q tie to within that.
 */
import type { FloatArray } from './dtype.js';
import { checkArgument, isObject, RnnError } from './errors.js';
import { Generator } from './random.js';
import { libmLog } from './random_math.js';
import { Tensor } from './tensor.js';

/** A row of logits: a typed array of either precision, or plain numbers (treated as float64). */
export type LogitsRow = FloatArray | readonly number[];

export interface SoftmaxOptions {
  /**
   * Divides the logits before the softmax: below 1 sharpens the distribution, above 1 flattens it. 0 gives the
   * limit, all probability on the largest logit (the first of ties). Default 1.
   */
  temperature?: number;
}

export interface SamplingOptions extends SoftmaxOptions {
  /**
   * Keeps only the k largest logits (and any equal to the k-th), as
   * `logits[logits < torch.topk(logits, k).values[-1]] = -inf` does before the softmax. Default: all.
   */
  topK?: number;
  /**
   * The random stream, or a seed for a new one (`torch.manual_seed(seed)`) at each call: to draw a sequence of
   * tokens, pass one Generator to every call. Default: a random seed.
   */
  generator?: Generator | number;
}

/**
 * Index of the largest logit, the first of ties (`torch.argmax(logits, -1)`): greedy decoding.
 *
 * @example
 * argmax(new Float32Array([0.1, 2.5, -1])) // 1
 * argmax(tensor([[1, 0], [0, 1]]))          // [0, 1]: one index per row
 */
export function argmax(logits: LogitsRow): number;
export function argmax(logits: Tensor): number[];
export function argmax(logits: LogitsRow | Tensor): number | number[] {
  if (logits instanceof Tensor) return rowsOf(logits).map((row) => argmaxRow(row));
  checkRow(logits);
  return argmaxRow(logits);
}

/**
 * softmax(logits / temperature) along the last dimension, `torch.softmax(logits / temperature, -1)`, in the
 * logits' precision (a number array gives a Float64Array). Subtracts each row's maximum first, as torch does.
 *
 * @example
 * softmax(new Float64Array([1, 2, 3]))                     // [0.0900, 0.2447, 0.6652]
 * softmax(new Float64Array([1, 2, 3]), { temperature: 0 }) // [0, 0, 1]
 */
export function softmax(logits: LogitsRow, options?: SoftmaxOptions): FloatArray;
export function softmax(logits: Tensor, options?: SoftmaxOptions): Tensor;
export function softmax(logits: LogitsRow | Tensor, options: SoftmaxOptions = {}): FloatArray | Tensor {
  checkArgument(isObject(options), 'softmax options', 'an object such as { temperature: 0.8 }', options);
  const temperature = checkTemperature(options.temperature ?? 1);
  if (logits instanceof Tensor) {
    const out = logits.data instanceof Float64Array ? new Float64Array(logits.numel) : new Float32Array(logits.numel);
    const V = lastDim(logits);
    rowsOf(logits).forEach((row, n) => {
      softmaxRow(row, temperature, Number.NEGATIVE_INFINITY, out.subarray(n * V, (n + 1) * V));
    });
    return new Tensor(out, logits.shape);
  }
  checkRow(logits);
  const out = logits instanceof Float32Array ? new Float32Array(logits.length) : new Float64Array(logits.length);
  softmaxRow(logits, temperature, Number.NEGATIVE_INFINITY, out);
  return out;
}

/**
 * An index drawn from softmax(logits / temperature), restricted to the `topK` largest logits if given; the
 * largest logit when temperature is 0 (no random number is used then). With a seeded Generator the draw is
 * torch.multinomial's (see the file's comment): `new Generator(7)` then `sample(row, { temperature: 0.8,
 * generator })` is `torch.manual_seed(7); torch.multinomial(torch.softmax(row / 0.8, -1), 1)`.
 *
 * @example
 * const g = new Generator(0);
 * const next = sample(logits.data.subarray(logits.numel - V), { temperature: 0.8, topK: 40, generator: g });
 * sample(logitsNV, { generator: g }) // (N, V) tensor: one index per row, drawn row after row
 */
export function sample(logits: LogitsRow, options?: SamplingOptions): number;
export function sample(logits: Tensor, options?: SamplingOptions): number[];
export function sample(logits: LogitsRow | Tensor, options: SamplingOptions = {}): number | number[] {
  checkArgument(isObject(options), 'sample options', 'an object such as { temperature: 0.8, topK: 40 }', options);
  const temperature = checkTemperature(options.temperature ?? 1);
  const rows = logits instanceof Tensor ? rowsOf(logits) : [checkRow(logits)];
  const topK = options.topK;
  if (topK !== undefined && (!Number.isInteger(topK) || topK < 1)) {
    throw new RnnError('invalid_argument', `topK must be an integer >= 1, got ${topK}`, {
      expected: '>= 1',
      got: topK,
    });
  }
  const g = generatorOf(options.generator);
  const drawn = rows.map((row) => {
    if (temperature === 0) return argmaxRow(row, kthLargest(row, topK));
    const probs = row instanceof Float32Array ? new Float32Array(row.length) : new Float64Array(row.length);
    softmaxRow(row, temperature, kthLargest(row, topK), probs);
    return multinomialOne(probs, g);
  });
  return logits instanceof Tensor ? drawn : (drawn[0] as number);
}

/** torch.multinomial(probs, 1) on CPU: argmax(p / q) with q ~ Exp(1) drawn for every entry. */
function multinomialOne(probs: FloatArray, g: Generator): number {
  const single = probs instanceof Float32Array;
  let best = -1;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < probs.length; i++) {
    const e = -libmLog(1 - g.nextDouble());
    const q = single ? Math.fround(e) : e;
    const r = single ? Math.fround((probs[i] as number) / q) : (probs[i] as number) / q;
    if (r > bestValue) {
      best = i;
      bestValue = r;
    }
  }
  return best;
}

/** The k-th largest value of a row, the cut-off of top-k; -Infinity (keep all) without k or when k >= V. */
function kthLargest(row: LogitsRow, topK: number | undefined): number {
  if (topK === undefined || topK >= row.length) return Number.NEGATIVE_INFINITY;
  const sorted = Float64Array.from(row).sort();
  return sorted[sorted.length - topK] as number;
}

/** First index of the largest value among those >= floor. */
function argmaxRow(row: LogitsRow, floor = Number.NEGATIVE_INFINITY): number {
  let best = -1;
  for (let i = 0; i < row.length; i++) {
    const v = row[i] as number;
    if (v >= floor && (best < 0 || v > (row[best] as number))) best = i;
  }
  return best;
}

/**
 * softmax(row / temperature) into out, entries below `floor` (top-k's cut-off) given probability 0. Computed as
 * torch's CPU kernel does in the row's precision: x / T rounded, minus the maximum, exp, sum, times 1 / sum.
 */
function softmaxRow(row: LogitsRow, temperature: number, floor: number, out: FloatArray): void {
  const round = out instanceof Float32Array ? Math.fround : (x: number) => x;
  const V = row.length;
  if (temperature === 0) {
    out.fill(0);
    out[argmaxRow(row, floor)] = 1;
    return;
  }
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < V; i++) {
    const v = row[i] as number;
    if (v >= floor) max = Math.max(max, round(v / temperature));
  }
  let sum = 0;
  for (let i = 0; i < V; i++) {
    const v = row[i] as number;
    const e = v >= floor ? round(Math.exp(round(round(v / temperature) - max))) : 0;
    out[i] = e;
    sum = round(sum + e);
  }
  if (!(sum > 0) || !Number.isFinite(sum)) {
    throw new RnnError('invalid_argument', 'probability tensor contains either `inf`, `nan` or element < 0', {
      got: 'logits with inf or nan',
      hint: 'the model produced non-finite logits',
    });
  }
  const inv = round(1 / sum);
  for (let i = 0; i < V; i++) out[i] = round((out[i] as number) * inv);
}

function checkTemperature(temperature: number): number {
  if (typeof temperature !== 'number' || !(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RnnError('invalid_argument', `temperature must be a finite number >= 0, got ${String(temperature)}`, {
      expected: '>= 0',
      got: temperature,
    });
  }
  return temperature;
}

function checkRow(row: LogitsRow): LogitsRow {
  const ok = Array.isArray(row) || row instanceof Float32Array || row instanceof Float64Array;
  checkArgument(ok, 'logits', 'a Tensor, a Float32Array or Float64Array, or an array of numbers', row);
  if (row.length === 0) {
    throw new RnnError('shape_mismatch', 'logits must hold at least one value, got an empty row', {
      expected: 'V >= 1',
      got: 0,
    });
  }
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (typeof v !== 'number' || Number.isNaN(v)) {
      throw new RnnError('invalid_argument', `logits must be numbers, got ${String(v)} at index ${i}`, {
        got: String(v),
      });
    }
  }
  return row;
}

function lastDim(t: Tensor): number {
  if (t.ndim === 0 || (t.shape[t.ndim - 1] as number) === 0) {
    throw new RnnError('shape_mismatch', `logits must be (..., V) with V >= 1, got shape [${t.shape.join(', ')}]`, {
      expected: '(..., V)',
      got: [...t.shape],
    });
  }
  return t.shape[t.ndim - 1] as number;
}

/** The rows of a (..., V) tensor, as views. */
function rowsOf(t: Tensor): FloatArray[] {
  const V = lastDim(t);
  const rows: FloatArray[] = [];
  for (let o = 0; o < t.numel; o += V) rows.push(checkRow(t.data.subarray(o, o + V)) as FloatArray);
  return rows;
}

function generatorOf(generator: Generator | number | undefined): Generator {
  if (generator instanceof Generator) return generator;
  return new Generator(generator ?? Math.floor(Math.random() * 2 ** 32));
}
