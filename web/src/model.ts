/**
 * Everything the page shows, computed by the library itself: no math is reimplemented here.
 *
 * - the grid and the step-through come from `rnnForward`'s trace (one event per step, layer and direction);
 * - the split view runs `RNN.split()` and each part's `forward`, against the K-layer `RNN.forward`;
 * - the mistake panel runs `mistakenForward`, the notebook's hand-written loop, for real.
 *
 * The random recipe, the one the e2e test repeats: one Generator seeded with `seed` initialises the weights
 * (U(-1/sqrt(H), 1/sqrt(H)) in PyTorch's parameter order), then draws x ~ N(0, 1) of shape (L, N, I); the
 * generator is PyTorch's, so this is `torch.manual_seed(seed); nn.RNN(...); torch.randn(L, N, I)`.
 *
 * The page computes in float64. Then the chained single-layer RNNs and the K-layer RNN agree bit for bit,
 * which is the point of the split view; in float32 the K-layer forward keeps its lower layers in float64 and
 * rounds once, so the two would differ in the last bit and the learner would see 1e-8 instead of 0.
 */
import {
  Generator,
  inferArchitecture,
  mistakenForward,
  RNN,
  RnnError,
  randn,
  rnnForward,
  type Tensor,
  type TraceStep,
} from '../../src/index.js';
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
  parts: RNN[];
  /** Each part's output, (L, N, D*H): part k's is layer k's output sequence. */
  outputs: Tensor[];
  /** max |output of the chain - output of the K-layer RNN| */
  outputDiff: number;
  /** max |h_n of the parts concatenated - h_n of the K-layer RNN| */
  hNDiff: number;
}

export type MistakeResult =
  | { kind: 'error'; error: RnnError }
  | { kind: 'numbers'; wrong: Tensor; maxDiff: number }
  | { kind: 'bidirectional' };

export interface Run {
  /** The settings in effect: loaded weights and a typed-in input override sizes. */
  settings: Settings;
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  D: number;
  x: Tensor; // (L, N, I)
  rnn: RNN;
  weights: Record<string, Tensor>;
  /** Trace events in the order the computation happens. */
  steps: TraceStep[];
  /** h_t^l of every layer, from the trace: states[l] is (L, N, D*H). */
  states: Float64Array[];
  output: Tensor; // (L, N, D*H), rnnForward's
  hN: Tensor; // (K*D, N, H)
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

function buildNetwork(s: Settings, custom: Custom, g: Generator): RNN {
  if (!custom.weights) {
    return new RNN({
      inputSize: s.inputSize,
      hiddenSize: s.hiddenSize,
      numLayers: s.numLayers,
      bidirectional: s.bidirectional,
      nonlinearity: s.nonlinearity,
      dtype: DTYPE,
      seed: g,
    }).eval();
  }
  const tensors = custom.weights.tensors;
  const shapes = new Map(Object.entries(tensors).map(([k, t]) => [k, t.shape]));
  const { inputSize, hiddenSize, numLayers, bidirectional, bias } = inferArchitecture(shapes, 'RNN');
  const rnn = new RNN({
    inputSize,
    hiddenSize,
    numLayers,
    bidirectional,
    bias,
    nonlinearity: s.nonlinearity,
    dtype: DTYPE,
    seed: 0,
  }).eval();
  rnn.loadStateDict(tensors); // converts to float64, exactly: every float32 and float16 is a float64
  return rnn;
}

function runSplit(rnn: RNN, x: Tensor, output: Tensor, hN: Tensor): SplitResult {
  const parts = rnn.split();
  const outputs: Tensor[] = [];
  const hNs: number[] = [];
  let y = x;
  for (const part of parts) {
    const [o, h] = part.eval().forward(y);
    outputs.push(o);
    hNs.push(...h.data);
    y = o;
  }
  return { parts, outputs, outputDiff: maxAbsDiff(y.data, output.data), hNDiff: maxAbsDiff(hNs, hN.data) };
}

function runMistake(rnn: RNN, x: Tensor, weights: Record<string, Tensor>, right: Tensor): MistakeResult {
  if (rnn.bidirectional) return { kind: 'bidirectional' };
  try {
    const [wrong] = mistakenForward(x, weights, { nonlinearity: rnn.nonlinearity });
    return { kind: 'numbers', wrong, maxDiff: maxAbsDiff(wrong.data, right.data) };
  } catch (error) {
    if (error instanceof RnnError) return { kind: 'error', error };
    throw error;
  }
}

/** Runs everything for one setting. Throws RnnError when a loaded file or typed-in input does not fit. */
export function compute(requested: Settings, custom: Custom = {}): Run {
  const g = new Generator(requested.seed);
  const rnn = buildNetwork(requested, custom, g);
  const I = rnn.inputSize;
  const x = custom.x?.to(DTYPE) ?? randn([requested.seqLen, requested.batch, I], { generator: g, dtype: DTYPE }); // (L, N, I)
  const [L, N] = x.shape as [number, number, number];
  const H = rnn.hiddenSize;
  const K = rnn.numLayers;
  const D = rnn.directions;
  const settings: Settings = {
    ...requested,
    seqLen: L,
    batch: N,
    element: Math.min(requested.element, N - 1),
    inputSize: I,
    hiddenSize: H,
    numLayers: K,
    bidirectional: rnn.bidirectional,
  };
  const weights = rnn.stateDict();
  const steps: TraceStep[] = [];
  const states = Array.from({ length: K }, () => new Float64Array(L * N * D * H)); // K x (L, N, D*H)
  const [output, hN] = rnnForward(x, weights, {
    nonlinearity: rnn.nonlinearity,
    trace: (e) => {
      if (e.kind !== 'layer') return;
      steps.push(e);
      e.h.forEach((row, n) => (states[e.layer] as Float64Array).set(row, (e.t * N + n) * D * H + e.direction * H));
    },
  });
  const [moduleOutput, moduleHN] = rnn.forward(x);
  return {
    settings,
    L,
    N,
    I,
    H,
    K,
    D,
    x,
    rnn,
    weights,
    steps,
    states,
    output,
    hN,
    split: runSplit(rnn, x, moduleOutput, moduleHN),
    mistake: runMistake(rnn, x, weights, output),
  };
}
