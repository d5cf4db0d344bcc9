/**
 * What the LSTM and GRU tests share: their cases in scripts/torch_grad.py's format (the committed fixtures of
 * scripts/make_cell_fixtures.py and the live test's requests are the same JSON), running a case through our LSTM,
 * GRU, LSTMCell or GRUCell (forward, recorded, then backward), judging a forward with the rules of compare.ts, and
 * drawing random cases.
 *
 * A forward's error is the worst scaled error (compare.ts) over its outputs: output and h_n, and the LSTM's c_n
 * (h' and c' for a cell). float64 must be within FLOAT64_TOLERANCE of PyTorch float64; float32 is measured against
 * PyTorch's float64 forward of the same values (`forward64`) and must be no worse than PyTorch float32's own error,
 * case by case, with no slack. Gradients are judged by grad.ts's `judgeGrads`.
 */
import {
  type DType,
  type Generator,
  GRU,
  GRUCell,
  LSTM,
  LSTMCell,
  type RNNBase,
  type RNNCellBase,
  type Tensor,
} from '../../src/index.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError, type Verdict } from './compare.js';
import { asTensor, type Grads, MaskReplay } from './grad.js';

export type GatedCell = 'LSTM' | 'GRU';

export interface GatedConfig {
  cell: GatedCell;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bias: boolean;
  batchFirst: boolean;
  dropout: number;
  bidirectional: boolean;
  dtype: DType;
  /** LSTM only: P, 0 for none. */
  projSize?: number;
}

/** An nn.LSTM or nn.GRU case. */
export interface GatedModuleCase {
  kind: 'rnn';
  config: GatedConfig;
  stateDict: Record<string, Flat>;
  input: Flat;
  /** The initial state; the LSTM's c0 is given with h0 or not at all. */
  h0: Flat | null;
  c0?: Flat | null;
  lengths: number[] | null;
  gradOutput: Flat;
  gradHN: Flat | null;
  gradCN?: Flat | null;
  /** K-1 dropout masks (L, N, D*P), time-major; null: no dropout (eval mode). */
  masks: Flat[] | null;
  /** Asks torch_grad.py for `init`: its parameters after torch.manual_seed(seed) then the module. */
  seed?: number;
}

/** An nn.LSTMCell or nn.GRUCell case. */
export interface GatedCellCase {
  kind: 'cell';
  config: { cell: GatedCell; inputSize: number; hiddenSize: number; bias: boolean; dtype: DType };
  stateDict: Record<string, Flat>;
  input: Flat;
  hx: Flat | null;
  cx?: Flat | null;
  /** The gradients of h' and (LSTMCell) c'; null: zeros (the LSTMCell's may have either). */
  gradH: Flat | null;
  gradC?: Flat | null;
  seed?: number;
}

export type GatedCase = GatedModuleCase | GatedCellCase;

/** torch_grad.py's result for a gated case. */
export interface GatedTorchResult {
  output?: Flat;
  h_n?: Flat;
  c_n?: Flat;
  h?: Flat;
  c?: Flat;
  grads: Grads;
  grads64?: Grads;
  /** float32: the forward's outputs of the float64 run (the same keys as above). */
  forward64?: Record<string, Flat>;
  /** With a seed: torch's initialisation. */
  init?: Record<string, Flat>;
}

/** The forward's outputs by torch_grad.py's names: output, h_n (, c_n), or h (, c). */
export type Outputs = Record<string, Flat>;

export interface GatedResult {
  /** The forward's outputs by torch_grad.py's names. */
  outputs: Record<string, Tensor>;
  grads: Grads;
  /** The tape's bytes between the forward and the backward. */
  tapeBytes: number;
}

/** What a case's forward returned, by torch_grad.py's names. */
export function torchOutputs(r: GatedTorchResult): Outputs {
  const out: Outputs = {};
  for (const k of ['output', 'h_n', 'c_n', 'h', 'c'] as const) {
    const v = r[k];
    if (v) out[k] = v;
  }
  return out;
}

function stateDictOf(sd: Record<string, Flat>, dtype: DType): Record<string, Tensor> {
  return Object.fromEntries(Object.entries(sd).map(([k, v]) => [k, asTensor(v, dtype)]));
}

/** Our LSTM or GRU for a case: its weights, in training mode replaying its masks if it has any, else eval mode. */
export function moduleFor(c: GatedModuleCase, backend?: string): LSTM | GRU {
  const seed = c.masks ? new MaskReplay(c.masks.map((m) => m.data)) : 0;
  const { cell, projSize, ...options } = c.config;
  const choice = { seed, ...(backend ? { backend } : {}) };
  const module =
    cell === 'LSTM' ? new LSTM({ ...options, projSize: projSize ?? 0, ...choice }) : new GRU({ ...options, ...choice });
  module.loadStateDict(stateDictOf(c.stateDict, c.config.dtype));
  module.train(c.masks !== null);
  return module;
}

/** Our LSTMCell or GRUCell for a case, with its weights. */
export function cellFor(c: GatedCellCase, backend?: string): LSTMCell | GRUCell {
  const { cell, ...rest } = c.config;
  const options = { ...rest, seed: 0, ...(backend ? { backend } : {}) };
  const module = cell === 'LSTM' ? new LSTMCell(options) : new GRUCell(options);
  module.loadStateDict(stateDictOf(c.stateDict, c.config.dtype));
  return module;
}

const maybe = (f: Flat | null | undefined, dtype: DType): Tensor | null => (f ? asTensor(f, dtype) : null);

/** Runs a case's forward (recording) and backward through our modules. */
export function runGated(c: GatedCase, backend?: string): GatedResult {
  const dtype = c.config.dtype;
  const x = asTensor(c.input, dtype);
  if (c.kind === 'cell') {
    if (c.config.cell === 'LSTM') {
      const cell = cellFor(c, backend) as LSTMCell;
      const hx = maybe(c.hx, dtype);
      const state = hx ? ([hx, maybe(c.cx, dtype) as Tensor] as const) : null;
      const [h, cc] = cell.forward(x, state, { requiresGrad: true });
      const tapeBytes = cell.tapeBytes;
      const g = cell.backward([maybe(c.gradH, dtype), maybe(c.gradC, dtype)]);
      const grads = { input: g.input, hx: g.hx, cx: g.cx, ...Object.fromEntries(cell.namedGrads()) };
      return { outputs: { h, c: cc }, grads, tapeBytes };
    }
    const cell = cellFor(c, backend) as GRUCell;
    const h = cell.forward(x, maybe(c.hx, dtype), { requiresGrad: true });
    const tapeBytes = cell.tapeBytes;
    const g = cell.backward(asTensor(c.gradH as Flat, dtype));
    return { outputs: { h }, grads: { input: g.input, hx: g.hx, ...Object.fromEntries(cell.namedGrads()) }, tapeBytes };
  }
  const module = moduleFor(c, backend);
  const options = c.lengths ? { lengths: c.lengths, requiresGrad: true } : { requiresGrad: true };
  const gradOutput = asTensor(c.gradOutput, dtype);
  if (module instanceof LSTM) {
    const h0 = maybe(c.h0, dtype);
    const state = h0 ? ([h0, maybe(c.c0, dtype) as Tensor] as const) : null;
    const [output, [hN, cN]] = module.forward(x, state, options);
    const tapeBytes = module.tapeBytes;
    const g = module.backward(gradOutput, [maybe(c.gradHN, dtype), maybe(c.gradCN, dtype)]);
    const grads = { input: g.input, h0: g.h0, c0: g.c0, ...Object.fromEntries(module.namedGrads()) };
    return { outputs: { output, h_n: hN, c_n: cN }, grads, tapeBytes };
  }
  const [output, hN] = module.forward(x, maybe(c.h0, dtype), options);
  const tapeBytes = module.tapeBytes;
  const g = module.backward(gradOutput, maybe(c.gradHN, dtype));
  return {
    outputs: { output, h_n: hN },
    grads: { input: g.input, h0: g.h0, ...Object.fromEntries(module.namedGrads()) },
    tapeBytes,
  };
}

/** The worst scaled error over the outputs both sides name (each tensor scaled by its own reference). */
export function outputsError(got: Outputs, want: Outputs): { error: number; where: string } {
  const names = Object.keys(want);
  const missing = names.filter((n) => !(n in got));
  if (missing.length > 0 || Object.keys(got).length !== names.length) {
    throw new Error(`outputs differ in names: ours [${Object.keys(got).join(', ')}], torch's [${names.join(', ')}]`);
  }
  let worst = { error: 0, where: names[0] ?? '' };
  for (const n of names) {
    const e = scaledError(got[n] as Flat, want[n] as Flat, n);
    if (e > worst.error) worst = { error: e, where: n };
  }
  return worst;
}

/**
 * compare.ts's `judge` over every output of a gated forward: float64 within FLOAT64_TOLERANCE of PyTorch float64;
 * float32 no further from PyTorch's float64 forward than PyTorch float32 is.
 */
export function judgeOutputs(dtype: DType, ours: Outputs, torch: GatedTorchResult): Verdict {
  const want = torchOutputs(torch);
  if (dtype === 'float64') {
    const { error, where } = outputsError(ours, want);
    return {
      ok: error <= FLOAT64_TOLERANCE,
      ours: error,
      message: `float64 error vs PyTorch float64: ${error.toExponential(3)} (worst: ${where}; tolerance ${FLOAT64_TOLERANCE})`,
    };
  }
  if (!torch.forward64) throw new Error('a float32 case needs the float64 forward (forward64)');
  const mine = outputsError(ours, torch.forward64);
  const theirs = outputsError(want, torch.forward64);
  const direct = outputsError(ours, want);
  return {
    ok: mine.error <= theirs.error,
    ours: mine.error,
    torch: theirs.error,
    message:
      `float32 error vs PyTorch float64: ours ${mine.error.toExponential(3)} (${mine.where}), ` +
      `PyTorch float32 ${theirs.error.toExponential(3)} (${theirs.where}); ours vs PyTorch float32 ${direct.error.toExponential(3)}`,
  };
}

/** (L, N) positions past each sequence's length: [t, n] pairs, in a time-major or batch-first (L, N, F) layout. */
function paddedRows(t: Flat, lengths: readonly number[], batchFirst: boolean): [number, number, number][] {
  const [a = 0, b = 0, F = 0] = t.shape;
  const [L, N] = batchFirst ? [b, a] : [a, b];
  const rows: [number, number, number][] = [];
  for (let n = 0; n < N; n++) {
    for (let s = lengths[n] ?? L; s < L; s++) rows.push([s, n, (batchFirst ? n * L + s : s * N + n) * F]);
  }
  return rows;
}

/**
 * Entries of a padded (L, N, F) tensor (an output, or the input's gradient) that are not exactly 0 past each
 * sequence's length: pad_packed_sequence writes exact zeros there, and padded input steps get no gradient.
 */
export function nonzeroPadded(t: Flat, lengths: readonly number[], batchFirst: boolean): string[] {
  const F = t.shape[2] ?? 0;
  const bad: string[] = [];
  for (const [s, n, base] of paddedRows(t, lengths, batchFirst)) {
    for (let f = 0; f < F; f++) {
      const v = t.data[base + f] as number;
      if (v !== 0) bad.push(`sequence ${n}, step ${s}, feature ${f}: ${v}`);
    }
  }
  return bad;
}

/** Running worst errors per module kind over a test file (LSTM, GRU, LSTMCell, GRUCell), for the summary line. */
export function kindOf(c: GatedCase): string {
  return c.kind === 'cell' ? `${c.config.cell}Cell` : c.config.cell;
}

/** "a 3-layer bidirectional LSTM (proj 2), no bias, batch-first, with (h0, c0), lengths [4, 2], gradHN and masks". */
export function describeGated(c: GatedCase): string {
  const shape = (f: Flat) => `[${f.shape.join(', ')}]`;
  if (c.kind === 'cell') {
    const k = c.config;
    const lstm = k.cell === 'LSTM';
    const given = [
      c.hx ? (lstm ? '(hx, cx)' : 'hx') : '',
      lstm && !c.gradH ? 'gradC only' : '',
      lstm && !c.gradC ? 'gradH only' : '',
    ].filter(Boolean);
    return `a${lstm ? 'n' : ''} ${k.cell}Cell (${[k.bias ? '' : 'no bias', ...given].filter(Boolean).join(', ') || 'bias'}, input ${shape(c.input)}, H = ${k.hiddenSize})`;
  }
  const k = c.config;
  const lstm = k.cell === 'LSTM';
  const parts = [
    `a ${k.numLayers}-layer${k.bidirectional ? ' bidirectional' : ''} ${k.cell}${k.projSize ? ` with proj_size ${k.projSize}` : ''}`,
    k.bias ? '' : 'no bias',
    k.batchFirst ? 'batch-first' : '',
    c.input.shape.length === 2 ? 'unbatched' : '',
    c.masks ? `dropout ${k.dropout} with given masks` : k.dropout > 0 ? `dropout ${k.dropout} in eval mode` : '',
  ].filter(Boolean);
  const given = [
    c.h0 ? (lstm ? '(h0, c0)' : 'h0') : '',
    c.lengths ? `lengths [${c.lengths.join(', ')}]` : '',
    c.gradHN ? 'gradHN' : '',
    c.gradCN ? 'gradCN' : '',
  ]
    .filter(Boolean)
    .join(', ');
  return `${parts.join(', ')}${given ? ` with ${given}` : ''} (input ${shape(c.input)}, H = ${k.hiddenSize})`;
}

// ---------------------------------------------------------------------------------------------------------------
// random cases, for the live test and the finite-difference test

export interface RandomGatedOptions {
  cell: GatedCell;
  dtype?: DType;
  /** Largest L, N, I and H; default 5, 3, 5, 5. */
  maxSizes?: { L: number; N: number; I: number; H: number };
  /** Options to pin instead of drawing them (`masks`: dropout with given masks, only with > 1 layer). */
  fixed?: Partial<{
    numLayers: number;
    bidirectional: boolean;
    bias: boolean;
    batchFirst: boolean;
    unbatched: boolean;
    lengths: boolean;
    state: boolean;
    gradHN: boolean;
    gradCN: boolean;
    masks: boolean;
    /** LSTM: whether it has a projection (P drawn in 1..H-1). */
    proj: boolean;
    /** The dropout probability when there is dropout. */
    dropout: number;
  }>;
  /** Sizes to pin instead of drawing them (P: the LSTM's projSize, with `fixed.proj`). */
  sizes?: Partial<{ L: number; N: number; I: number; H: number; P: number }>;
  /** The lengths to give (N of them), instead of drawing them when `fixed.lengths` allows. */
  lengths?: number[];
  /** Draw a seed and take the weights from it (and ask torch for its own init from it: `seed` in the case). */
  seeded?: boolean;
}

function flat(shape: number[], draw: () => number, dtype: DType): Flat {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, () => (dtype === 'float32' ? Math.fround(draw()) : draw()));
  return { shape, data };
}

function drawing(g: Generator) {
  const int = (lo: number, hi: number) => lo + Math.floor(g.nextDouble() * (hi - lo + 1));
  const coin = () => g.nextDouble() < 0.5;
  const normal = () => {
    const buf = new Float64Array(1);
    g.normal(buf, 0, 1);
    return buf[0] as number;
  };
  return { int, coin, normal };
}

function parametersOf(m: RNNBase | RNNCellBase, dtype: DType): Record<string, Flat> {
  const round = (v: number) => (dtype === 'float32' ? Math.fround(v) : v);
  return Object.fromEntries(
    m.namedParameters().map(([name, t]) => [name, { shape: [...t.shape], data: Array.from(t.data, round) }]),
  );
}

/** A random LSTM or GRU case in torch_grad.py's format: every option drawn from `g`, weights from our own init. */
export function randomGatedCase(g: Generator, options: RandomGatedOptions): GatedModuleCase {
  const { int, coin, normal } = drawing(g);
  const max = options.maxSizes ?? { L: 5, N: 3, I: 5, H: 5 };
  const fix = options.fixed ?? {};
  const lstm = options.cell === 'LSTM';
  const dtype = options.dtype ?? (coin() ? 'float32' : 'float64');
  const K = fix.numLayers ?? int(1, 4);
  const D = (fix.bidirectional ?? coin()) ? 2 : 1;
  const proj = lstm && (fix.proj ?? coin());
  const size = options.sizes ?? {};
  const H = size.H ?? int(proj ? 2 : 1, Math.max(max.H, 2));
  const P = proj ? (size.P ?? int(1, H - 1)) : 0;
  const I = size.I ?? int(1, max.I);
  const L = size.L ?? int(1, max.L);
  const unbatched = fix.unbatched ?? g.nextDouble() < 0.2;
  const N = unbatched ? 1 : (size.N ?? int(1, max.N));
  const useMasks = K > 1 && (fix.masks ?? coin());
  const p = useMasks || (K > 1 && coin()) ? (fix.dropout ?? [0.25, 0.5, 0.75][int(0, 2)]) : 0;
  const config: GatedConfig = {
    cell: options.cell,
    inputSize: I,
    hiddenSize: H,
    numLayers: K,
    bias: fix.bias ?? coin(),
    batchFirst: fix.batchFirst ?? coin(),
    dropout: p,
    bidirectional: D === 2,
    dtype,
    ...(lstm ? { projSize: P } : {}),
  };
  const seed = int(0, 2 ** 31);
  const { cell, projSize, ...rest } = config;
  const module = lstm ? new LSTM({ ...rest, projSize: projSize ?? 0, seed }) : new GRU({ ...rest, seed });
  const W = P || H;
  const F = D * W;
  const seqShape = (f: number) => (unbatched ? [L, f] : config.batchFirst ? [N, L, f] : [L, N, f]);
  const stateShape = (w: number) => (unbatched ? [K * D, w] : [K * D, N, w]);
  const lengths =
    !unbatched && (fix.lengths ?? coin()) ? (options.lengths ?? Array.from({ length: N }, () => int(1, L))) : null;
  const masks = useMasks
    ? Array.from({ length: K - 1 }, () => flat([L, N, F], () => (g.nextDouble() < p ? 0 : 1 / (1 - p)), dtype))
    : null;
  const state = fix.state ?? coin();
  const c: GatedModuleCase = {
    kind: 'rnn',
    config,
    stateDict: parametersOf(module, dtype),
    input: flat(seqShape(I), normal, dtype),
    h0: state ? flat(stateShape(W), normal, dtype) : null,
    lengths,
    gradOutput: flat(seqShape(F), normal, dtype),
    gradHN: (fix.gradHN ?? coin()) ? flat(stateShape(W), normal, dtype) : null,
    masks,
  };
  if (lstm) {
    c.c0 = state ? flat(stateShape(H), normal, dtype) : null;
    c.gradCN = (fix.gradCN ?? coin()) ? flat(stateShape(H), normal, dtype) : null;
  }
  if (options.seeded) c.seed = seed;
  return c;
}

/** A random LSTMCell or GRUCell case in torch_grad.py's format, weights from our own init. */
export function randomGatedCellCase(
  g: Generator,
  cell: GatedCell,
  dtype: DType,
  options: { seeded?: boolean } = {},
): GatedCellCase {
  const { int, coin, normal } = drawing(g);
  const lstm = cell === 'LSTM';
  const config = { cell, inputSize: int(1, 5), hiddenSize: int(1, 5), bias: coin(), dtype };
  const seed = int(0, 2 ** 31);
  const { cell: _, ...rest } = config;
  const module = lstm ? new LSTMCell({ ...rest, seed }) : new GRUCell({ ...rest, seed });
  const batch = coin() ? [] : [int(1, 3)];
  const H = config.hiddenSize;
  const state = coin();
  // the LSTMCell's loss may see h', c' or both
  const which = lstm ? int(0, 2) : 0;
  const c: GatedCellCase = {
    kind: 'cell',
    config,
    stateDict: parametersOf(module, dtype),
    input: flat([...batch, config.inputSize], normal, dtype),
    hx: state ? flat([...batch, H], normal, dtype) : null,
    gradH: which !== 2 ? flat([...batch, H], normal, dtype) : null,
  };
  if (lstm) {
    c.cx = state ? flat([...batch, H], normal, dtype) : null;
    c.gradC = which !== 1 ? flat([...batch, H], normal, dtype) : null;
  }
  if (options.seeded) c.seed = seed;
  return c;
}
