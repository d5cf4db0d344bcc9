/**
 * The notebook's "self implementation" of a stacked RNN, done right, in plain loops over rows of numbers.
 *
 * It is a second, independent implementation (no kernels, no flat-array tricks) that reads like the formula, so
 * it can be traced step by step and checked against the module. The one line that matters:
 *
 *     layerInput = h[l]        // layer l+1 reads layer l's new state, not x_t
 *
 * Every value is a JS number (float64); a float32 result is rounded once, when it is stored, as the reference
 * kernel does.
 *
 * For one direction the loops run time-outer, layer-inner, as the notebook does: at step t every layer advances
 * once. Bidirectional networks cannot run that way (layer l+1 at step 0 needs layer l's reverse pass, which
 * starts at step L-1), so they run layer-outer: each layer's whole sequence, both directions, then the next.
 */
import { RnnError } from '../errors.js';
import { allocate, type FloatArray, Tensor } from '../tensor.js';
import type { Nonlinearity } from './cell.js';
import { checkLengths, swap01 } from './inputs.js';
import { inferArchitecture, parameterName, type RnnArchitecture } from './params.js';

type Rows = number[][]; // (N, features)

/** One step of one layer, as the trace reports it (row `n` of the batch). */
export interface TraceStep {
  t: number;
  layer: number;
  direction: number;
  /** The layer's input at step t: x_t for layer 0, h_t^{l-1} above. */
  input: Rows; // (N, I or D*H)
  hPrev: Rows; // (N, H)
  /** x W_ih^T + b_ih */
  inputPart: Rows; // (N, H)
  /** h_{t-1} W_hh^T + b_hh */
  hiddenPart: Rows; // (N, H)
  h: Rows; // (N, H)
}

export type TraceEvent = { kind: 'step-start'; t: number } | ({ kind: 'layer' } & TraceStep);

export interface FunctionalOptions {
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  h0?: Tensor;
  lengths?: ArrayLike<number>;
  /** Called for every step and layer, in the order the computation happens. */
  trace?: (event: TraceEvent) => void;
}

/**
 * `x (N, C) @ w (O, C)^T + b` with torch.mm's shape check, so a wrong input fails the way PyTorch fails:
 * "mat1 and mat2 shapes cannot be multiplied (3x2 and 3x3)".
 */
export function linearRows(x: Rows, w: Tensor, b: Tensor | undefined): Rows {
  const [O, C] = w.shape as [number, number];
  const width = x[0]?.length ?? 0;
  if (width !== C) {
    throw new RnnError(
      'shape_mismatch',
      `mat1 and mat2 shapes cannot be multiplied (${x.length}x${width} and ${C}x${O})`,
      {
        expected: C,
        got: width,
      },
    );
  }
  return x.map((row) =>
    Array.from({ length: O }, (_, o) => {
      let s = 0;
      for (let c = 0; c < C; c++) s += (row[c] as number) * (w.data[o * C + c] as number);
      return b ? s + (b.data[o] as number) : s;
    }),
  );
}

function activate(v: number, f: Nonlinearity): number {
  return f === 'relu' ? Math.max(v, 0) : Math.tanh(v);
}

function rowsOf(data: FloatArray, offset: number, N: number, F: number): Rows {
  return Array.from({ length: N }, (_, n) => Array.from(data.subarray(offset + n * F, offset + (n + 1) * F)));
}

function weightsFrom(sd: Record<string, Tensor>): {
  arch: RnnArchitecture;
  get: (kind: string, l: number, d: number) => Tensor | undefined;
} {
  const shapes = new Map(Object.entries(sd).map(([k, t]) => [k, t.shape]));
  const arch = inferArchitecture(shapes);
  return {
    arch,
    get: (kind, l, d) => sd[parameterName(kind as 'weight_ih', l, d)],
  };
}

/**
 * A stacked RNN forward from a state dict of PyTorch names (`weight_ih_l0`, ...): `[output, hN]` with the same
 * shapes and numbers as `RNN.forward`. Input (L, N, I), (N, L, I) with batchFirst, or (L, I).
 *
 * @example
 * const [out, hN] = rnnForward(x, rnn.stateDict(), { trace: (e) => console.log(e) });
 */
export function rnnForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: FunctionalOptions = {},
): [Tensor, Tensor] {
  const { arch, get } = weightsFrom(weights);
  const f = options.nonlinearity ?? 'tanh';
  const H = arch.hiddenSize;
  const K = arch.numLayers;
  const D = arch.bidirectional ? 2 : 1;
  const batched = input.ndim === 3;
  if (input.ndim !== 2 && input.ndim !== 3) {
    throw new RnnError('shape_mismatch', `RNN: Expected input to be 2D or 3D, got ${input.ndim}D tensor instead`);
  }
  const I = input.size(-1);
  if (I !== arch.inputSize) {
    throw new RnnError(
      'shape_mismatch',
      `input.size(-1) must be equal to input_size. Expected ${arch.inputSize}, got ${I}`,
    );
  }
  const bf = batched && options.batchFirst === true;
  const L = input.shape[bf ? 1 : 0] as number;
  const N = batched ? (input.shape[bf ? 0 : 1] as number) : 1;
  const x = bf ? swap01(input.data, N, L, I) : input.data; // (L, N, I)
  const lengths = options.lengths ? checkLengths(options.lengths, N, L) : null;
  const trace = options.trace ?? (() => {});

  // h[l*D + d]: layer l, direction d's own state, (N, H), starting from its slice of h0.
  const h: Rows[] = Array.from({ length: K * D }, (_, s) =>
    options.h0
      ? rowsOf(options.h0.data, s * N * H, N, H)
      : Array.from({ length: N }, () => new Array<number>(H).fill(0)),
  );
  const active = (t: number, n: number) => lengths === null || t < (lengths[n] as number);

  /** Layer l, direction d, at step t: updates h and returns the new state rows (0 where padded). */
  const step = (l: number, d: number, t: number, layerInput: Rows): Rows => {
    const s = l * D + d;
    const hPrev = h[s] as Rows;
    const inputPart = linearRows(layerInput, get('weight_ih', l, d) as Tensor, get('bias_ih', l, d));
    const hiddenPart = linearRows(hPrev, get('weight_hh', l, d) as Tensor, get('bias_hh', l, d));
    const hNew = inputPart.map((row, n) =>
      row.map((v, j) => (active(t, n) ? activate(v + (hiddenPart[n]?.[j] as number), f) : (hPrev[n]?.[j] as number))),
    );
    h[s] = hNew;
    trace({
      kind: 'layer',
      t,
      layer: l,
      direction: d,
      input: layerInput,
      hPrev,
      inputPart,
      hiddenPart,
      h: hNew,
    });
    return hNew.map((row, n) => (active(t, n) ? row : row.map(() => 0)));
  };

  const output = allocate(input.dtype, L * N * D * H); // (L, N, D*H)
  const write = (t: number, d: number, rows: Rows) =>
    rows.forEach((row, n) => row.forEach((v, j) => (output[(t * N + n) * D * H + d * H + j] = v)));

  if (D === 1) {
    for (let t = 0; t < L; t++) {
      trace({ kind: 'step-start', t });
      let layerInput = rowsOf(x, t * N * I, N, I); // x_t
      for (let l = 0; l < K; l++) layerInput = step(l, 0, t, layerInput); // layer l+1 reads h_t^l
      write(t, 0, layerInput);
    }
  } else {
    let seq: Rows[] = Array.from({ length: L }, (_, t) => rowsOf(x, t * N * I, N, I)); // L x (N, I)
    for (let l = 0; l < K; l++) {
      const fwd: Rows[] = [];
      const rev: Rows[] = [];
      for (let t = 0; t < L; t++) fwd[t] = step(l, 0, t, seq[t] as Rows);
      for (let t = L - 1; t >= 0; t--) rev[t] = step(l, 1, t, seq[t] as Rows);
      seq = fwd.map((rows, t) => rows.map((row, n) => [...row, ...((rev[t] as Rows)[n] as number[])])); // (N, 2H)
    }
    seq.forEach((rows, t) => {
      write(
        t,
        0,
        rows.map((r) => r.slice(0, H)),
      );
      write(
        t,
        1,
        rows.map((r) => r.slice(H)),
      );
    });
  }
  const hN = allocate(input.dtype, K * D * N * H); // (K*D, N, H)
  h.forEach((rows, s) => rows.forEach((row, n) => hN.set(row, (s * N + n) * H)));
  const F = D * H;
  const out = !batched
    ? new Tensor(output, [L, F])
    : bf
      ? new Tensor(swap01(output, L, N, F), [N, L, F])
      : new Tensor(output, [L, N, F]);
  return [out, new Tensor(hN, batched ? [K * D, N, H] : [K * D, H])];
}

/**
 * The classic mistake, kept to be shown: the notebook's (and PyTorch's docstring's) hand-written forward that
 * feeds x_t to every layer. When input and hidden sizes differ, layer 1's weight_ih_l1 (H, H) cannot take x_t
 * (N, I) and it throws PyTorch's "mat1 and mat2 shapes cannot be multiplied"; when they are equal it runs and
 * returns wrong numbers. Unidirectional, no lengths.
 */
export function mistakenForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: { nonlinearity?: Nonlinearity; h0?: Tensor } = {},
): [Tensor, Tensor] {
  const { arch, get } = weightsFrom(weights);
  const f = options.nonlinearity ?? 'tanh';
  const { hiddenSize: H, numLayers: K } = arch;
  const [L, N, I] =
    input.ndim === 3
      ? (input.shape as [number, number, number])
      : [input.shape[0] as number, 1, input.shape[1] as number];
  const h: Rows[] = Array.from({ length: K }, (_, l) =>
    options.h0
      ? rowsOf(options.h0.data, l * N * H, N, H)
      : Array.from({ length: N }, () => new Array<number>(H).fill(0)),
  );
  const output = allocate(input.dtype, L * N * H);
  for (let t = 0; t < L; t++) {
    const xt = rowsOf(input.data, t * N * I, N, I);
    for (let l = 0; l < K; l++) {
      const a = linearRows(xt, get('weight_ih', l, 0) as Tensor, get('bias_ih', l, 0)); // the bug: x_t, not h[l-1]
      const b = linearRows(h[l] as Rows, get('weight_hh', l, 0) as Tensor, get('bias_hh', l, 0));
      h[l] = a.map((row, n) => row.map((v, j) => activate(v + (b[n]?.[j] as number), f)));
    }
    (h[K - 1] as Rows).forEach((row, n) => output.set(row, (t * N + n) * H));
  }
  const hN = allocate(input.dtype, K * N * H);
  h.forEach((rows, l) => rows.forEach((row, n) => hN.set(row, (l * N + n) * H)));
  return [
    new Tensor(output, input.ndim === 3 ? [L, N, H] : [L, H]),
    new Tensor(hN, input.ndim === 3 ? [K, N, H] : [K, H]),
  ];
}
