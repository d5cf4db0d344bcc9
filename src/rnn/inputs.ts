/**
 * The boundary of RNN.forward: checks the input, h0 and lengths in PyTorch's order and words, and moves them
 * into the time-major layout the math uses, then puts the results back into the caller's layout.
 *
 * Layouts: input (L, N, I), (N, L, I) with batch_first, or unbatched (L, I); h0 and h_n (D*K, N, H) or
 * unbatched (D*K, H); output (L, N, D*H), (N, L, D*H) or (L, D*H).
 */
import { formatSizeList, formatSizeTuple, RnnError } from '../errors.js';
import { type DType, type FloatArray, Tensor } from '../tensor.js';

export interface ForwardShape {
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  directions: number;
  batchFirst: boolean;
  dtype: DType;
}

export interface Prepared {
  x: FloatArray; // (L, N, I)
  h0: FloatArray | null; // (K*D, N, H); null when omitted: zeros
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

export function prepareForward(
  s: ForwardShape,
  inputArg: unknown,
  h0Arg: unknown,
  lengthsArg: ArrayLike<number> | Tensor | undefined,
): Prepared {
  const input = checkTensor(inputArg, 'input');
  const rank = input.ndim;
  if (rank !== 2 && rank !== 3) {
    throw new RnnError('shape_mismatch', `RNN: Expected input to be 2D or 3D, got ${rank}D tensor instead`, {
      expected: [2, 3],
      got: rank,
    });
  }
  checkSameDtype(input, s.dtype, 'input');
  const batched = rank === 3;
  const hx = h0Arg === undefined || h0Arg === null ? null : checkTensor(h0Arg, 'h0');
  if (hx) {
    if (!batched && hx.ndim !== 2) {
      throw new RnnError(
        'shape_mismatch',
        `For unbatched 2-D input, hx should also be 2-D but got ${hx.ndim}-D tensor`,
        {
          expected: 2,
          got: hx.ndim,
        },
      );
    }
    if (batched && hx.ndim !== 3) {
      throw new RnnError('shape_mismatch', `For batched 3-D input, hx should also be 3-D but got ${hx.ndim}-D tensor`, {
        expected: 3,
        got: hx.ndim,
      });
    }
    checkSameDtype(hx, s.dtype, 'h0');
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
  const H = s.hiddenSize;
  if (hx) {
    const expected = [KD, N, H];
    const got = batched ? [...hx.shape] : [hx.shape[0] as number, 1, hx.shape[1] as number];
    if (got.some((v, i) => v !== expected[i])) {
      throw new RnnError(
        'shape_mismatch',
        `Expected hidden size ${formatSizeTuple(expected)}, got ${formatSizeList(got)}`,
        {
          expected,
          got,
        },
      );
    }
  }
  const lengths = lengthsArg === undefined ? null : checkLengths(lengthsArg, N, L);
  const x = batched && s.batchFirst ? swap01(input.data, N, L, I) : input.data;
  return { x, h0: hx ? hx.data : null, lengths, L, N, batched };
}

/** Wraps the time-major results into the caller's layout: `[output, h_n]`. */
export function finishForward(
  s: ForwardShape,
  p: Prepared,
  output: FloatArray, // (L, N, D*H)
  hN: FloatArray, // (K*D, N, H)
): [Tensor, Tensor] {
  const F = s.directions * s.hiddenSize;
  const KD = s.numLayers * s.directions;
  if (!p.batched) return [new Tensor(output, [p.L, F]), new Tensor(hN, [KD, s.hiddenSize])];
  const out = s.batchFirst ? new Tensor(swap01(output, p.L, p.N, F), [p.N, p.L, F]) : new Tensor(output, [p.L, p.N, F]);
  return [out, new Tensor(hN, [KD, p.N, s.hiddenSize])];
}
