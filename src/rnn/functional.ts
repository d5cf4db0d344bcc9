/**
 * The notebook's "self implementation" of a stacked RNN, LSTM or GRU, done right, in plain loops over rows of
 * numbers.
 *
 * It is a second, independent implementation (no kernels, no flat-array tricks) that reads like the formula, so
 * it can be traced step by step and checked against the modules. The one line that matters, whatever the cell:
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
import { allocate, checkAttached, type FloatArray, Tensor } from '../tensor.js';
import type { CellKind, Nonlinearity } from './cell.js';
import { prepareForward, swap01 } from './inputs.js';
import { inferArchitecture, moduleName, parameterName, type RnnArchitecture } from './params.js';

type Rows = number[][]; // (N, features)

/** One gate of a step: its pre-activation and its value, (N, H) each. */
export interface TraceGate {
  /** LSTM: 'i' input, 'f' forget, 'g' cell candidate, 'o' output; GRU: 'r' reset, 'z' update, 'n' new. */
  name: 'i' | 'f' | 'g' | 'o' | 'r' | 'z' | 'n';
  /** What the nonlinearity is applied to: x part + h part, and for the GRU's n, x part + r * h part. */
  pre: Rows; // (N, H)
  value: Rows; // (N, H)
}

/** One step of one layer, as the trace reports it (row `n` of the batch). */
export interface TraceStep {
  t: number;
  layer: number;
  direction: number;
  /** The layer's input at step t: x_t for layer 0, h_t^{l-1} above. */
  input: Rows; // (N, I or D*P)
  hPrev: Rows; // (N, P)
  /** x W_ih^T + b_ih: every gate's input part, G*H wide ([i f g o], [r z n]). */
  inputPart: Rows; // (N, G*H)
  /** h_{t-1} W_hh^T + b_hh: every gate's hidden part. */
  hiddenPart: Rows; // (N, G*H)
  /** LSTM and GRU: each gate's pre-activation and value, in PyTorch's order (empty for the RNN). */
  gates: TraceGate[];
  /** LSTM: the cell state before and after the step. */
  cPrev: Rows | null; // (N, H)
  c: Rows | null; // (N, H)
  h: Rows; // (N, P)
}

export type TraceEvent = { kind: 'step-start'; t: number } | ({ kind: 'layer' } & TraceStep);

export interface FunctionalOptions {
  /** The RNN's f (a state dict does not store it). */
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  h0?: Tensor;
  /** The LSTM's c0. */
  c0?: Tensor;
  lengths?: ArrayLike<number>;
  /** Called for every step and layer, in the order the computation happens. */
  trace?: (event: TraceEvent) => void;
}

/** What `recurrentForward` returns: the output and final states, whatever the cell. */
export interface FunctionalResult {
  cell: CellKind;
  output: Tensor; // (L, N, D*P), (N, L, D*P) or (L, D*P)
  hN: Tensor; // (K*D, N, P) or (K*D, P)
  cN: Tensor | null; // LSTM: (K*D, N, H) or (K*D, H)
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

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** Gate k's H columns of a (N, G*H) block. */
function gate(rows: Rows, k: number, H: number): Rows {
  return rows.map((row) => row.slice(k * H, (k + 1) * H));
}

function elementwise(a: Rows, b: Rows, f: (x: number, y: number) => number): Rows {
  return a.map((row, n) => row.map((v, j) => f(v, b[n]?.[j] as number)));
}

/** The new states of one cell step from its two products: `{ h, c, gates }` (see the cells in ../kernels/kernel.ts). */
function cellStep(
  cell: CellKind,
  f: Nonlinearity,
  xPart: Rows, // (N, G*H)
  hPart: Rows, // (N, G*H)
  hPrev: Rows, // (N, P)
  cPrev: Rows | null, // (N, H)
  H: number,
  whr: Tensor | undefined, // (P, H)
): { h: Rows; c: Rows | null; gates: TraceGate[] } {
  const sum = elementwise(xPart, hPart, (a, b) => a + b);
  if (cell === 'RNN') return { h: sum.map((row) => row.map((v) => activate(v, f))), c: null, gates: [] };
  const named = (name: TraceGate['name'], pre: Rows, fn: (v: number) => number): TraceGate => ({
    name,
    pre,
    value: pre.map((row) => row.map(fn)),
  });
  if (cell === 'LSTM') {
    const [i, fg, g, o] = (['i', 'f', 'g', 'o'] as const).map((name, k) =>
      named(name, gate(sum, k, H), name === 'g' ? Math.tanh : sigmoid),
    ) as [TraceGate, TraceGate, TraceGate, TraceGate];
    // c = f * c_prev + i * g;  h = o * tanh(c)  (then projected by W_hr with proj_size)
    const c = fg.value.map((row, n) =>
      row.map((fv, j) => fv * (cPrev?.[n]?.[j] as number) + (i.value[n]?.[j] as number) * (g.value[n]?.[j] as number)),
    );
    const hh = elementwise(o.value, c, (ov, cv) => ov * Math.tanh(cv));
    return { h: whr ? linearRows(hh, whr, undefined) : hh, c, gates: [i, fg, g, o] };
  }
  const r = named('r', gate(sum, 0, H), sigmoid);
  const z = named('z', gate(sum, 1, H), sigmoid);
  // n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)): the reset gate scales the hidden part, its bias included
  const nPre = elementwise(
    gate(xPart, 2, H),
    elementwise(r.value, gate(hPart, 2, H), (a, b) => a * b),
    (a, b) => a + b,
  );
  const nGate = named('n', nPre, Math.tanh);
  // h = (1 - z) * n + z * h_prev, in ATen's order: (h_prev - n) * z + n
  const h = nGate.value.map((row, n) =>
    row.map((nv, j) => ((hPrev[n]?.[j] as number) - nv) * (z.value[n]?.[j] as number) + nv),
  );
  return { h, c: null, gates: [r, z, nGate] };
}

function rowsOf(data: FloatArray, offset: number, N: number, F: number): Rows {
  return Array.from({ length: N }, (_, n) => Array.from(data.subarray(offset + n * F, offset + (n + 1) * F)));
}

function weightsFrom(sd: Record<string, Tensor>): {
  arch: RnnArchitecture;
  get: (kind: string, l: number, d: number) => Tensor | undefined;
} {
  if (typeof sd !== 'object' || sd === null || sd instanceof Tensor) {
    throw new RnnError(
      'invalid_argument',
      `weights must be a state dict (an object of Tensors such as rnn.stateDict()), got ${sd === null ? 'null' : sd instanceof Tensor ? 'a Tensor' : typeof sd}`,
    );
  }
  for (const [k, t] of Object.entries(sd)) {
    if (!(t instanceof Tensor)) {
      throw new RnnError('invalid_argument', `weights.${k} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
    }
    checkAttached(t, `weights.${k}`);
  }
  const shapes = new Map(Object.entries(sd).map(([k, t]) => [k, t.shape]));
  const arch = inferArchitecture(shapes);
  return {
    arch,
    get: (kind, l, d) => sd[parameterName(kind as 'weight_ih', l, d)],
  };
}

/** The options object and its fields' types, so a wrong one fails in words rather than as a TypeError. */
function checkOptions(options: unknown): asserts options is FunctionalOptions {
  if (typeof options !== 'object' || options === null) {
    throw new RnnError(
      'invalid_argument',
      `options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const o = options as FunctionalOptions;
  if (o.nonlinearity !== undefined && o.nonlinearity !== 'tanh' && o.nonlinearity !== 'relu') {
    throw new RnnError(
      'invalid_argument',
      `Unknown nonlinearity '${String(o.nonlinearity)}'. Select from 'tanh' or 'relu'.`,
    );
  }
  if (o.trace !== undefined && typeof o.trace !== 'function') {
    throw new RnnError('invalid_argument', `options.trace must be a function, got ${typeof o.trace}`);
  }
}

/**
 * The initial states as the modules take them: none, [h0], or the LSTM's [h0, c0] together (PyTorch's hx is the
 * pair); a c0 for a cell that has none is refused rather than ignored.
 */
function statesOf(cell: CellKind, o: FunctionalOptions): unknown[] | null {
  const { h0, c0 } = o;
  if (cell !== 'LSTM') {
    if (c0 !== undefined) {
      throw new RnnError('invalid_argument', `c0 is the LSTM's cell state; an ${moduleName(cell)} has none`, {
        expected: 'no c0',
        got: 'c0',
      });
    }
    return h0 === undefined ? null : [h0];
  }
  if (h0 === undefined && c0 === undefined) return null;
  if (h0 === undefined || c0 === undefined) {
    throw new RnnError(
      'invalid_argument',
      `LSTM takes its initial state as h0 and c0 together, got only ${h0 === undefined ? 'c0' : 'h0'}`,
      {
        expected: '[h0, c0]',
        got: h0 === undefined ? 'c0' : 'h0',
      },
    );
  }
  return [h0, c0];
}

/**
 * A stacked forward from a state dict of PyTorch names (`weight_ih_l0`, ...), whatever its cell: the output and
 * final states with the same shapes and numbers as the module's forward. Input (L, N, I), (N, L, I) with
 * batchFirst, or (L, I).
 *
 * @example
 * const { output, hN, cN } = recurrentForward(x, lstm.stateDict(), { trace: (e) => console.log(e) });
 */
export function recurrentForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: FunctionalOptions = {},
): FunctionalResult {
  const { arch, get } = weightsFrom(weights);
  checkOptions(options);
  const f = options.nonlinearity ?? 'tanh';
  const { cell, hiddenSize: H, numLayers: K } = arch;
  const P = arch.projSize > 0 ? arch.projSize : H;
  const D = arch.bidirectional ? 2 : 1;
  // The module's checks, in its words: the input, then h0 (and c0) against (K*D, N, P) and the input's dtype.
  const p = prepareForward(
    {
      name: cell,
      inputSize: arch.inputSize,
      stateSizes: cell === 'LSTM' ? [P, H] : [P],
      numLayers: K,
      directions: D,
      batchFirst: options.batchFirst === true,
      dtype: input instanceof Tensor ? input.dtype : 'float32',
    },
    input,
    statesOf(cell, options),
    options.lengths,
  );
  const { batched, L, N, x, lengths } = p;
  const bf = batched && options.batchFirst === true;
  const I = arch.inputSize;
  const [h0, c0] = p.states ?? [];
  const trace = options.trace ?? (() => {});
  const zeros = (width: number): Rows => Array.from({ length: N }, () => new Array<number>(width).fill(0));

  // h[l*D + d]: layer l, direction d's own state, (N, P), starting from its slice of h0; c likewise (LSTM, (N, H)).
  const h: Rows[] = Array.from({ length: K * D }, (_, s) => (h0 ? rowsOf(h0, s * N * P, N, P) : zeros(P)));
  const c: Rows[] | null =
    cell === 'LSTM' ? Array.from({ length: K * D }, (_, s) => (c0 ? rowsOf(c0, s * N * H, N, H) : zeros(H))) : null;
  const active = (t: number, n: number) => lengths === null || t < (lengths[n] as number);

  /** Layer l, direction d, at step t: updates the states and returns the new h rows (0 where padded). */
  const step = (l: number, d: number, t: number, layerInput: Rows): Rows => {
    const s = l * D + d;
    const hPrev = h[s] as Rows;
    const cPrev = c ? (c[s] as Rows) : null;
    const inputPart = linearRows(layerInput, get('weight_ih', l, d) as Tensor, get('bias_ih', l, d));
    const hiddenPart = linearRows(hPrev, get('weight_hh', l, d) as Tensor, get('bias_hh', l, d));
    const next = cellStep(cell, f, inputPart, hiddenPart, hPrev, cPrev, H, get('weight_hr', l, d));
    // a padded sequence keeps its states
    const hNew = next.h.map((row, n) => (active(t, n) ? row : (hPrev[n] as number[])));
    h[s] = hNew;
    const cNew = next.c && cPrev ? next.c.map((row, n) => (active(t, n) ? row : (cPrev[n] as number[]))) : null;
    if (c && cNew) c[s] = cNew;
    trace({
      kind: 'layer',
      t,
      layer: l,
      direction: d,
      input: layerInput,
      hPrev,
      inputPart,
      hiddenPart,
      gates: next.gates,
      cPrev,
      c: cNew,
      h: hNew,
    });
    return hNew.map((row, n) => (active(t, n) ? row : row.map(() => 0)));
  };

  const output = allocate(input.dtype, L * N * D * P); // (L, N, D*P)
  const write = (t: number, d: number, rows: Rows) =>
    rows.forEach((row, n) => row.forEach((v, j) => (output[(t * N + n) * D * P + d * P + j] = v)));

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
      seq = fwd.map((rows, t) => rows.map((row, n) => [...row, ...((rev[t] as Rows)[n] as number[])])); // (N, 2P)
    }
    seq.forEach((rows, t) => {
      write(
        t,
        0,
        rows.map((r) => r.slice(0, P)),
      );
      write(
        t,
        1,
        rows.map((r) => r.slice(P)),
      );
    });
  }
  const states = (rows: Rows[], width: number) => {
    const flat = allocate(input.dtype, K * D * N * width); // (K*D, N, width)
    rows.forEach((r, s) => r.forEach((row, n) => flat.set(row, (s * N + n) * width)));
    return new Tensor(flat, batched ? [K * D, N, width] : [K * D, width]);
  };
  const F = D * P;
  const out = !batched
    ? new Tensor(output, [L, F])
    : bf
      ? new Tensor(swap01(output, L, N, F), [N, L, F])
      : new Tensor(output, [L, N, F]);
  return { cell, output: out, hN: states(h, P), cN: c ? states(c, H) : null };
}

/** `recurrentForward` for a module of the one cell `cell`, refusing another's state dict. */
function forwardOf(cell: CellKind, input: Tensor, weights: Record<string, Tensor>, options: FunctionalOptions) {
  const r = recurrentForward(input, weights, options);
  if (r.cell !== cell) {
    throw new RnnError('state_dict', `this state dict holds an ${moduleName(r.cell)}, not an ${moduleName(cell)}`, {
      expected: cell,
      got: r.cell,
      hint: `use ${r.cell === 'LSTM' ? 'lstmForward' : r.cell === 'GRU' ? 'gruForward' : 'rnnForward'}, or recurrentForward for any cell`,
    });
  }
  return r;
}

/**
 * A stacked nn.RNN forward from its state dict: `[output, hN]` with the same shapes and numbers as
 * `RNN.forward`. Input (L, N, I), (N, L, I) with batchFirst, or (L, I).
 *
 * @example
 * const [out, hN] = rnnForward(x, rnn.stateDict(), { trace: (e) => console.log(e) });
 */
export function rnnForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: FunctionalOptions = {},
): [Tensor, Tensor] {
  const r = forwardOf('RNN', input, weights, options);
  return [r.output, r.hN];
}

/** A stacked nn.GRU forward from its state dict: `[output, hN]`, as `GRU.forward`. */
export function gruForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: FunctionalOptions = {},
): [Tensor, Tensor] {
  const r = forwardOf('GRU', input, weights, options);
  return [r.output, r.hN];
}

/** A stacked nn.LSTM forward from its state dict: `[output, [hN, cN]]`, as `LSTM.forward`. */
export function lstmForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: FunctionalOptions = {},
): [Tensor, [Tensor, Tensor]] {
  const r = forwardOf('LSTM', input, weights, options);
  return [r.output, [r.hN, r.cN as Tensor]];
}

/**
 * The classic mistake, kept to be shown: the notebook's (and PyTorch's docstring's) hand-written forward that
 * feeds x_t to every layer. When input and hidden sizes differ, layer 1's weight_ih_l1 (G*H, P) cannot take x_t
 * (N, I) and it throws PyTorch's "mat1 and mat2 shapes cannot be multiplied"; when they are equal it runs and
 * returns wrong numbers. Any cell (the LSTM carries its c as it should: only the layer input is wrong);
 * unidirectional, no lengths. Returns `[output, hN]`.
 */
export function mistakenForward(
  input: Tensor,
  weights: Record<string, Tensor>,
  options: { nonlinearity?: Nonlinearity; h0?: Tensor; c0?: Tensor } = {},
): [Tensor, Tensor] {
  const { arch, get } = weightsFrom(weights);
  checkOptions(options);
  const f = options.nonlinearity ?? 'tanh';
  const { cell, hiddenSize: H, numLayers: K } = arch;
  const P = arch.projSize > 0 ? arch.projSize : H;
  // checked as the forward checks them; one direction, so the states are (K, N, P) (and the LSTM's (K, N, H))
  const p = prepareForward(
    {
      name: cell,
      inputSize: arch.inputSize,
      stateSizes: cell === 'LSTM' ? [P, H] : [P],
      numLayers: K,
      directions: 1,
      batchFirst: false,
      dtype: input instanceof Tensor ? input.dtype : 'float32',
    },
    input,
    statesOf(cell, options),
    undefined,
  );
  const { L, N } = p;
  const I = arch.inputSize;
  const start = (t: FloatArray | undefined, width: number): Rows[] =>
    Array.from({ length: K }, (_, l) =>
      t ? rowsOf(t, l * N * width, N, width) : Array.from({ length: N }, () => new Array<number>(width).fill(0)),
    );
  const h = start(p.states?.[0], P);
  const c = start(p.states?.[1], H);
  const output = allocate(input.dtype, L * N * P);
  for (let t = 0; t < L; t++) {
    const xt = rowsOf(input.data, t * N * I, N, I);
    for (let l = 0; l < K; l++) {
      const a = linearRows(xt, get('weight_ih', l, 0) as Tensor, get('bias_ih', l, 0)); // the bug: x_t, not h[l-1]
      const b = linearRows(h[l] as Rows, get('weight_hh', l, 0) as Tensor, get('bias_hh', l, 0));
      const next = cellStep(cell, f, a, b, h[l] as Rows, c[l] as Rows, H, get('weight_hr', l, 0));
      h[l] = next.h;
      if (next.c) c[l] = next.c;
    }
    (h[K - 1] as Rows).forEach((row, n) => output.set(row, (t * N + n) * P));
  }
  const hN = allocate(input.dtype, K * N * P);
  h.forEach((rows, l) => rows.forEach((row, n) => hN.set(row, (l * N + n) * P)));
  return [
    new Tensor(output, input.ndim === 3 ? [L, N, P] : [L, P]),
    new Tensor(hN, input.ndim === 3 ? [K, N, P] : [K, P]),
  ];
}
