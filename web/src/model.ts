/**
 * Everything the page shows, computed by the library itself: no math is reimplemented here.
 *
 * - the grid and the step-through come from `recurrentForward`'s trace (one event per step, layer and direction,
 *   with each gate's pre-activation and value, and the LSTM's c);
 * - the split view runs the module's `split()` and each part's `forward`, against the K-layer `forward`;
 * - the mistake panel runs `mistakenForward`, the notebook's hand-written loop, for real.
 *
 * The three cells take the same path: `moduleFor` builds nn.RNN, nn.LSTM or nn.GRU from one architecture, and
 * the rest only asks the module and the trace.
 *
 * The random recipe, the one the e2e test repeats: one Generator seeded with `seed` initialises the weights
 * (U(-1/sqrt(H), 1/sqrt(H)) in PyTorch's parameter order), then draws x ~ N(0, 1) of shape (L, N, I); the
 * generator is PyTorch's, so this is `torch.manual_seed(seed); nn.LSTM(...); torch.randn(L, N, I)`.
 *
 * The page computes in float64. Then the chained single-layer modules and the K-layer one agree bit for bit,
 * which is the point of the split view; in float32 the K-layer forward keeps its lower layers in float64 and
 * rounds once, so the two would differ in the last bit and the learner would see 1e-8 instead of 0.
 */
import {
  type CellKind,
  Generator,
  mistakenForward,
  RnnError,
  randn,
  recurrentForward,
  type Tensor,
  type TraceStep,
} from '../../src/index.js';
import { gateCount } from '../../src/rnn/cell.js';
import { moduleFor, type RecurrentModule } from '../../src/rnn/from-architecture.js';
import { inferArchitecture, type RnnArchitecture } from '../../src/rnn/params.js';
import type { Settings } from './settings.js';

/** The precision of everything on the page (see above). */
export const DTYPE = 'float64';

/** Weights and/or input the learner brought instead of the random ones. */
export interface Custom {
  weights?: { name: string; tensors: Record<string, Tensor> };
  /** (L, N, I) */
  x?: Tensor;
}

export interface SplitResult {
  parts: RecurrentModule[];
  /** Each part's output, (L, N, D*P): part k's is layer k's output sequence. */
  outputs: Tensor[];
  /** max |output of the chain - output of the K-layer module| */
  outputDiff: number;
  /** max |h_n of the parts concatenated - h_n of the K-layer module| */
  hNDiff: number;
  /** The same for the LSTM's c_n; null for the other cells. */
  cNDiff: number | null;
}

export type MistakeResult =
  | { kind: 'error'; error: RnnError }
  | { kind: 'numbers'; wrong: Tensor; maxDiff: number }
  | { kind: 'bidirectional' };

export interface Run {
  /** The settings in effect: loaded weights and a typed-in input override sizes. */
  settings: Settings;
  cell: CellKind;
  L: number;
  N: number;
  I: number;
  H: number;
  /** The width of h: proj_size when the LSTM has one, else H. */
  P: number;
  /** Gates per cell: 1, 4 or 3 (the rows of W_ih are G*H). */
  G: number;
  K: number;
  D: number;
  x: Tensor; // (L, N, I)
  module: RecurrentModule;
  weights: Record<string, Tensor>;
  /** Trace events in the order the computation happens. */
  steps: TraceStep[];
  /** h_t^l of every layer, from the trace: states[l] is (L, N, D*P). */
  states: Float64Array[];
  /** The LSTM's c_t^l of every layer: cells[l] is (L, N, D*H); null for the other cells. */
  cells: Float64Array[] | null;
  /** Value drawn at full colour for h: 1 where h is squashed into (-1, 1), else the largest |h|. */
  hScale: number;
  /** The same for c (unbounded: the largest |c|); 1 without c. */
  cScale: number;
  output: Tensor; // (L, N, D*P), recurrentForward's
  hN: Tensor; // (K*D, N, P)
  cN: Tensor | null; // (K*D, N, H)
  split: SplitResult;
  mistake: MistakeResult;
}

export function stepKey(t: number, layer: number, direction: number): string {
  return `${t},${layer},${direction}`;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}

function maxAbs(arrays: ArrayLike<number>[]): number {
  let m = 1e-6;
  for (const a of arrays) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}

/** `[output, [h_n]]` or `[output, [h_n, c_n]]`, whatever the module's own forward signature. */
function forwardStates(m: RecurrentModule, x: Tensor): [Tensor, Tensor[]] {
  const [output, states] = m.forward(x);
  return [output, Array.isArray(states) ? [...states] : [states]];
}

function buildNetwork(s: Settings, custom: Custom, g: Generator): RecurrentModule {
  const options = { nonlinearity: s.nonlinearity, dtype: DTYPE } as const;
  if (!custom.weights) {
    const arch: RnnArchitecture = {
      cell: s.cell,
      inputSize: s.inputSize,
      hiddenSize: s.hiddenSize,
      numLayers: s.numLayers,
      bidirectional: s.bidirectional,
      bias: true,
      projSize: s.cell === 'LSTM' ? s.projSize : 0,
    };
    return moduleFor(arch, { ...options, seed: g }).eval();
  }
  const tensors = custom.weights.tensors;
  const arch = inferArchitecture(new Map(Object.entries(tensors).map(([k, t]) => [k, t.shape])));
  const module = moduleFor(arch, { ...options, seed: 0 }).eval();
  module.loadStateDict(tensors); // converts to float64, exactly: every float32 and float16 is a float64
  return module;
}

function runSplit(module: RecurrentModule, x: Tensor, states: Tensor[], output: Tensor): SplitResult {
  const parts = module.split();
  const outputs: Tensor[] = [];
  const finals: number[][] = states.map(() => []); // h_n (and c_n) of the parts, concatenated
  let y = x;
  for (const part of parts) {
    const [o, s] = forwardStates(part.eval(), y);
    outputs.push(o);
    s.forEach((t, i) => finals[i]?.push(...t.data));
    y = o;
  }
  const diffs = states.map((t, i) => maxAbsDiff(finals[i] as number[], t.data));
  return {
    parts,
    outputs,
    outputDiff: maxAbsDiff(y.data, output.data),
    hNDiff: diffs[0] as number,
    cNDiff: diffs[1] ?? null,
  };
}

function runMistake(
  run: { module: RecurrentModule; x: Tensor; weights: Record<string, Tensor> },
  right: Tensor,
): MistakeResult {
  const { module, x, weights } = run;
  if (module.bidirectional) return { kind: 'bidirectional' };
  try {
    const nonlinearity = module.mode === 'RNN_RELU' ? 'relu' : 'tanh';
    const [wrong] = mistakenForward(x, weights, { nonlinearity });
    return { kind: 'numbers', wrong, maxDiff: maxAbsDiff(wrong.data, right.data) };
  } catch (error) {
    if (error instanceof RnnError) return { kind: 'error', error };
    throw error;
  }
}

/** Runs everything for one setting. Throws RnnError when a loaded file or typed-in input does not fit. */
export function compute(requested: Settings, custom: Custom = {}): Run {
  const g = new Generator(requested.seed);
  const module = buildNetwork(requested, custom, g);
  const I = module.inputSize;
  const x = custom.x?.to(DTYPE) ?? randn([requested.seqLen, requested.batch, I], { generator: g, dtype: DTYPE }); // (L, N, I)
  const [L, N] = x.shape as [number, number, number];
  const { cell, hiddenSize: H, numLayers: K } = module;
  const P = module.stateSize;
  const D = module.directions;
  const nonlinearity = module.mode === 'RNN_RELU' ? 'relu' : 'tanh';
  const settings: Settings = {
    ...requested,
    cell,
    seqLen: L,
    batch: N,
    element: Math.min(requested.element, N - 1),
    inputSize: I,
    hiddenSize: H,
    projSize: module.projSize,
    numLayers: K,
    bidirectional: module.bidirectional,
    nonlinearity: cell === 'RNN' ? nonlinearity : requested.nonlinearity,
  };
  const weights = module.stateDict();
  const steps: TraceStep[] = [];
  const states = Array.from({ length: K }, () => new Float64Array(L * N * D * P)); // K x (L, N, D*P)
  const cells = cell === 'LSTM' ? Array.from({ length: K }, () => new Float64Array(L * N * D * H)) : null; // K x (L, N, D*H)
  const result = recurrentForward(x, weights, {
    nonlinearity,
    trace: (e) => {
      if (e.kind !== 'layer') return;
      steps.push(e);
      e.h.forEach((row, n) => (states[e.layer] as Float64Array).set(row, (e.t * N + n) * D * P + e.direction * P));
      e.c?.forEach((row, n) => cells?.[e.layer]?.set(row, (e.t * N + n) * D * H + e.direction * H));
    },
  });
  const [moduleOutput, moduleStates] = forwardStates(module, x);
  // h is squashed into (-1, 1) by tanh (the RNN's), by the GRU's convex mix of tanh values, and by o * tanh(c);
  // ReLU states and a projected LSTM's h are not.
  const bounded = (cell === 'RNN' && nonlinearity === 'tanh') || cell === 'GRU' || (cell === 'LSTM' && P === H);
  return {
    settings,
    cell,
    L,
    N,
    I,
    H,
    P,
    G: gateCount(cell),
    K,
    D,
    x,
    module,
    weights,
    steps,
    states,
    cells,
    hScale: bounded ? 1 : maxAbs(states),
    cScale: cells ? maxAbs(cells) : 1,
    output: result.output,
    hN: result.hN,
    cN: result.cN,
    split: runSplit(module, x, moduleStates, moduleOutput),
    mistake: runMistake({ module, x, weights }, result.output),
  };
}
