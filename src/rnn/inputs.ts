/**
 * The boundary of the recurrent modules' forward: checks the input, the initial state(s) and lengths in PyTorch's
 * order and words, and moves them into the time-major layout the math uses, then puts the results back into the
 * caller's layout.
 *
 * Layouts: input (L, N, I), (N, L, I) with batch_first, or unbatched (L, I); h0 and h_n (D*K, N, P) or
 * unbatched (D*K, P), and the LSTM's c0 and c_n (D*K, N, H) or (D*K, H); output (L, N, D*P), (N, L, D*P) or
 * (L, D*P). P is H but for a projected LSTM.
 */
import { formatSizeList, formatSizeTuple, RnnError } from '../errors.js';
import { checkAttached, type DType, type FloatArray, Tensor } from '../tensor.js';

export interface ForwardShape {
  /** The module's name in messages: 'RNN', 'LSTM' or 'GRU'. */
  name: string;
  inputSize: number;
  /** The width of each state: [P] for h, or [P, H] for the LSTM's (h, c). */
  stateSizes: readonly number[];
  numLayers: number;
  directions: number;
  batchFirst: boolean;
  dtype: DType;
}

export interface Prepared {
  x: FloatArray; // (L, N, I)
  /** (K*D, N, width) per state; null when omitted: zeros. */
  states: FloatArray[] | null;
  lengths: Int32Array | null; // (N)
  L: number;
  N: number;
  batched: boolean;
}

/** Swaps the first two dimensions of a (A, B, C) array: (N, L, F) <-> (L, N, F). */
export function swap01(src: FloatArray, A: number, B: number, C: number): FloatArray {
  const dst = src instanceof Float64Array ? new Float64Array(src.length) : new Float32Array(src.length);
  if (C >= 64) {
    // long rows: one block copy each
    for (let a = 0; a < A; a++) {
      for (let b = 0; b < B; b++) dst.set(src.subarray((a * B + b) * C, (a * B + b + 1) * C), (b * A + a) * C);
    }
    return dst;
  }
  // short rows: a subarray view per row would cost more than copying its elements one by one
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      const from = (a * B + b) * C;
      const to = (b * A + a) * C;
      for (let c = 0; c < C; c++) dst[to + c] = src[from + c] as number;
    }
  }
  return dst;
}

function checkTensor(value: unknown, what: string): Tensor {
  if (!(value instanceof Tensor)) {
    throw new RnnError('invalid_argument', `${what} must be a Tensor, got ${value === null ? 'null' : typeof value}`);
  }
  return value;
}

function checkSameDtype(t: Tensor, dtype: DType, what: string): void {
  if (t.dtype !== dtype) {
    throw new RnnError('invalid_argument', `${what} must have the type torch.${dtype}, got type torch.${t.dtype}`, {
      expected: dtype,
      got: t.dtype,
      hint: `convert it with .to('${dtype}'), or build the RNN with dtype '${t.dtype}'`,
    });
  }
}

/** Lengths as PyTorch's pack_padded_sequence checks them, plus the bound it leaves unchecked (<= L). */
export function checkLengths(lengths: ArrayLike<number> | Tensor, N: number, L: number): Int32Array {
  const arrayLike =
    lengths instanceof Tensor ||
    Array.isArray(lengths) ||
    ArrayBuffer.isView(lengths) ||
    (typeof lengths === 'object' && lengths !== null && typeof (lengths as { length?: unknown }).length === 'number');
  if (!arrayLike) {
    throw new RnnError(
      'invalid_argument',
      `lengths must be an array or Tensor of N integers, got ${lengths === null ? 'null' : typeof lengths}`,
      { expected: `${N} integers`, got: lengths === null ? 'null' : typeof lengths },
    );
  }
  const values = lengths instanceof Tensor ? lengths.data : lengths;
  // pack_padded_sequence's first check, before it looks at the lengths.
  if (N === 0) throw new RnnError('invalid_argument', 'Cannot pack empty tensors.', { expected: 'N > 0', got: 0 });
  if (values.length !== N) {
    throw new RnnError(
      'shape_mismatch',
      `Expected \`len(lengths)\` to be equal to batch_size, but got ${values.length} (batch_size=${N})`,
      { expected: N, got: values.length },
    );
  }
  const out = new Int32Array(N);
  if (N === 0) throw new RnnError('invalid_argument', 'Cannot pack empty tensors.', { expected: 'N >= 1', got: 0 });
  for (let n = 0; n < N; n++) {
    const v = values[n] as number;
    if (!Number.isInteger(v)) {
      throw new RnnError('invalid_argument', `lengths must be integers, got lengths[${n}] = ${v}`, { got: v });
    }
    if (v <= 0) {
      throw new RnnError(
        'invalid_argument',
        "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0",
        { expected: '1..L', got: v },
      );
    }
    if (v > L) {
      throw new RnnError('invalid_argument', `lengths[${n}] = ${v} is larger than the sequence length ${L}`, {
        expected: `<= ${L}`,
        got: v,
      });
    }
    out[n] = v;
  }
  return out;
}

/** The names a state goes by in messages: h0 (hx) and the LSTM's c0 (cx). */
const STATE_NAMES = ['h0', 'c0'];

export function prepareForward(
  s: ForwardShape,
  inputArg: unknown,
  statesArg: readonly unknown[] | null,
  lengthsArg: ArrayLike<number> | Tensor | undefined,
): Prepared {
  const input = checkTensor(inputArg, 'input');
  checkAttached(input, 'input');
  const rank = input.ndim;
  if (rank !== 2 && rank !== 3) {
    throw new RnnError(
      'shape_mismatch',
      `${s.name}: Expected input to be 2D or 3D, got ${rank}D ${s.name === 'RNN' ? 'tensor ' : ''}instead`,
      { expected: [2, 3], got: rank },
    );
  }
  checkSameDtype(input, s.dtype, 'input');
  const batched = rank === 3;
  if (statesArg !== null && statesArg.length !== s.stateSizes.length) {
    const want = STATE_NAMES.slice(0, s.stateSizes.length).join(', ');
    throw new RnnError(
      'invalid_argument',
      `${s.name} takes its initial state as [${want}], got ${statesArg.length} tensor(s)`,
      { expected: s.stateSizes.length, got: statesArg.length },
    );
  }
  const hx = statesArg === null ? null : statesArg.map((h, i) => checkTensor(h, STATE_NAMES[i] as string));
  hx?.forEach((h, i) => checkAttached(h, STATE_NAMES[i] as string));
  if (hx) {
    const want = batched ? 3 : 2;
    if (hx.some((h) => h.ndim !== want)) {
      const which = batched ? 'batched 3-D' : 'unbatched 2-D';
      const message =
        hx.length === 1
          ? `For ${which} input, hx should also be ${want}-D but got ${hx[0]?.ndim}-D tensor`
          : `For ${which} input, hx and cx should also be ${want}-D but got (${hx.map((h) => `${h.ndim}-D`).join(', ')}) tensors`;
      throw new RnnError('shape_mismatch', message, { expected: want, got: hx.map((h) => h.ndim) });
    }
    hx.forEach((h, i) => checkSameDtype(h, s.dtype, STATE_NAMES[i] as string));
  }
  const I = input.size(-1);
  if (I !== s.inputSize) {
    throw new RnnError(
      'shape_mismatch',
      `input.size(-1) must be equal to input_size. Expected ${s.inputSize}, got ${I}`,
      { expected: s.inputSize, got: I },
    );
  }
  const L = batched ? (input.shape[s.batchFirst ? 1 : 0] as number) : (input.shape[0] as number);
  const N = batched ? (input.shape[s.batchFirst ? 0 : 1] as number) : 1;
  if (L === 0) {
    throw new RnnError('shape_mismatch', 'Expected sequence length to be larger than 0 in RNN', {
      expected: '>= 1',
      got: 0,
    });
  }
  const KD = s.numLayers * s.directions;
  hx?.forEach((h, i) => {
    const expected = [KD, N, s.stateSizes[i] as number];
    const got = batched ? [...h.shape] : [h.shape[0] as number, 1, h.shape[1] as number];
    if (got.some((v, j) => v !== expected[j])) {
      const what = hx.length === 1 ? 'hidden' : `hidden[${i}]`;
      throw new RnnError(
        'shape_mismatch',
        `Expected ${what} size ${formatSizeTuple(expected)}, got ${formatSizeList(got)}`,
        { expected, got },
      );
    }
  });
  const lengths = lengthsArg === undefined ? null : checkLengths(lengthsArg, N, L);
  const x = batched && s.batchFirst ? swap01(input.data, N, L, I) : input.data;
  return { x, states: hx ? hx.map((h) => h.data) : null, lengths, L, N, batched };
}

/** Wraps the time-major results into the caller's layout: `[output, [h_n, c_n?]]`. */
export function finishForward(
  s: ForwardShape,
  p: Prepared,
  output: FloatArray, // (L, N, D*P)
  states: readonly FloatArray[], // (K*D, N, width) each
): [Tensor, Tensor[]] {
  const F = s.directions * (s.stateSizes[0] as number);
  const KD = s.numLayers * s.directions;
  const state = (h: FloatArray, i: number) =>
    new Tensor(h, p.batched ? [KD, p.N, s.stateSizes[i] as number] : [KD, s.stateSizes[i] as number]);
  const out = !p.batched
    ? new Tensor(output, [p.L, F])
    : s.batchFirst
      ? new Tensor(swap01(output, p.L, p.N, F), [p.N, p.L, F])
      : new Tensor(output, [p.L, p.N, F]);
  return [out, states.map(state)];
}
