/**
 * What the gradient tests share: the case format of scripts/torch_grad.py (the committed fixtures and the live
 * test's requests are the same JSON), running a case through our RNN / RNNCell backward, and judging the result
 * against PyTorch's.
 *
 * Error measure (as for the forward, see compare.ts): max|ours - reference| / max(1, max|reference|) per tensor,
 * and a case's error is the worst over its tensors (input, h0, every parameter). float64 must be within
 * GRAD_FLOAT64_TOLERANCE of PyTorch float64. float32 is measured against PyTorch float64 on the same values and
 * must be no worse than PyTorch float32 itself, case by case, with no slack.
 *
 * That holds because the reference kernel keeps a float32 model's recorded layer outputs (and carried state) in
 * float64 and the backward sums in float64, rounding each gradient once. With float32 recorded states it would
 * not always: rounding h moves f'(pre) = 1 - h^2 by up to |h| * ulp(h), the same for PyTorch, and in a tensor of a
 * few elements PyTorch's own roundings sometimes cancel part of it (measured: 2 of ~170 cases, by 1.2x and 1.6x).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type DType, Generator, RNN, RNNCell, type Tensor, tensor } from '../../src/index.js';
import type { FloatArray } from '../../src/tensor.js';
import { type Flat, type RnnConfig, scaledError } from './compare.js';
import { PYTHON } from './torch.js';

export const TORCH_GRAD_SCRIPT = fileURLToPath(new URL('../../scripts/torch_grad.py', import.meta.url));

/**
 * PyTorch's results for `cases`, from one run of scripts/torch_grad.py; throws with its stderr if it fails. (The
 * LSTM and GRU tests send their own cases, see cells.ts, and read their own results.)
 */
export function torchGrads<C extends object = GradCase, R = TorchResult>(cases: readonly C[]): R[] {
  const r = spawnSync(PYTHON, [TORCH_GRAD_SCRIPT], {
    input: JSON.stringify({ cases }),
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw new Error(`${PYTHON} ${TORCH_GRAD_SCRIPT}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${PYTHON} ${TORCH_GRAD_SCRIPT} failed (status ${r.status}):\n${r.stderr}`);
  return (JSON.parse(r.stdout) as { results: R[] }).results;
}

export const GRAD_FLOAT64_TOLERANCE = 1e-10;

export type { RnnConfig };

export interface RnnCase {
  kind: 'rnn';
  config: RnnConfig;
  stateDict: Record<string, Flat>;
  input: Flat;
  h0: Flat | null;
  lengths: number[] | null;
  gradOutput: Flat;
  gradHN: Flat | null;
  /** K-1 dropout masks (L, N, D*H), time-major; null: no dropout (eval mode). */
  masks: Flat[] | null;
}

export interface CellCase {
  kind: 'cell';
  config: { inputSize: number; hiddenSize: number; bias: boolean; nonlinearity: 'tanh' | 'relu'; dtype: DType };
  stateDict: Record<string, Flat>;
  input: Flat;
  hx: Flat | null;
  gradH: Flat;
}

export type GradCase = RnnCase | CellCase;

/** Gradients by name: `input`, `h0` (or `hx`), then every parameter; null where the input was not given. */
export type Grads = Record<string, Flat | null>;

/** What torch_grad.py returns for one case. */
export interface TorchResult {
  output?: Flat;
  h_n?: Flat;
  h?: Flat;
  grads: Grads;
  grads64?: Grads;
}

/** Our side of a case: the forward's results and every gradient. */
export interface OurResult {
  output?: Tensor;
  hN?: Tensor;
  h?: Tensor;
  grads: Grads;
  tapeBytes: number;
}

/**
 * A generator whose dropout masks are given: the i-th `bernoulliMask` call fills `masks[i % masks.length]`, so
 * every forward of a K-layer RNN gets the same K-1 masks. Weight init still draws from the seeded stream.
 */
export class MaskReplay extends Generator {
  private calls = 0;
  constructor(private readonly masks: readonly ArrayLike<number>[]) {
    super(0);
  }

  override bernoulliMask(out: FloatArray, _p: number, _scale: number): void {
    const mask = this.masks[this.calls++ % this.masks.length] as ArrayLike<number>;
    if (mask.length !== out.length) throw new Error(`mask of ${mask.length} values for ${out.length} outputs`);
    out.set(mask);
  }
}

export function asTensor(x: Flat, dtype: DType): Tensor {
  return tensor(Array.from(x.data), x.shape, dtype);
}

/** Our RNN for a case: its weights, in training mode replaying the case's masks if it has any, else eval mode. */
export function rnnFor(c: RnnCase, backend?: string): RNN {
  const seed = c.masks ? new MaskReplay(c.masks.map((m) => m.data)) : 0;
  const rnn = new RNN({ ...c.config, seed, ...(backend ? { backend } : {}) });
  const sd: Record<string, Tensor> = {};
  for (const [name, p] of Object.entries(c.stateDict)) sd[name] = asTensor(p, c.config.dtype);
  rnn.loadStateDict(sd);
  rnn.train(c.masks !== null);
  return rnn;
}

/** Runs a case's forward (recording) and backward through our modules (on `backend`'s kernel when given). */
export function runOurs(c: GradCase, backend?: string): OurResult {
  const dtype = c.config.dtype;
  if (c.kind === 'cell') {
    const cell = new RNNCell({ ...c.config, seed: 0, ...(backend ? { backend } : {}) });
    const sd: Record<string, Tensor> = {};
    for (const [name, p] of Object.entries(c.stateDict)) sd[name] = asTensor(p, dtype);
    cell.loadStateDict(sd);
    const h = cell.forward(asTensor(c.input, dtype), c.hx ? asTensor(c.hx, dtype) : null, { requiresGrad: true });
    const tapeBytes = cell.tapeBytes;
    const g = cell.backward(asTensor(c.gradH, dtype));
    return { h, grads: { input: g.input, hx: g.hx, ...Object.fromEntries(cell.namedGrads()) }, tapeBytes };
  }
  const rnn = rnnFor(c, backend);
  const options = c.lengths ? { lengths: c.lengths, requiresGrad: true } : { requiresGrad: true };
  const [output, hN] = rnn.forward(asTensor(c.input, dtype), c.h0 ? asTensor(c.h0, dtype) : undefined, options);
  const tapeBytes = rnn.tapeBytes;
  const g = rnn.backward(asTensor(c.gradOutput, dtype), c.gradHN ? asTensor(c.gradHN, dtype) : undefined);
  return { output, hN, grads: { input: g.input, h0: g.h0, ...Object.fromEntries(rnn.namedGrads()) }, tapeBytes };
}

/** The worst scaled error over every gradient both sides have, and the name of the tensor where it is. */
export function gradError(ours: Grads, ref: Grads): { error: number; where: string } {
  let worst = { error: 0, where: '' };
  const names = new Set([...Object.keys(ours), ...Object.keys(ref)]);
  for (const name of names) {
    const a = ours[name];
    const b = ref[name];
    if (a === undefined || b === undefined) throw new Error(`gradient '${name}' missing on one side`);
    if (a === null || b === null) {
      if (a !== b) throw new Error(`gradient '${name}': ours is ${a === null ? 'null' : 'a tensor'}, torch's is not`);
      continue;
    }
    const e = scaledError(a, b, `grad of ${name}`);
    if (e > worst.error || worst.where === '') worst = { error: e, where: name };
  }
  return worst;
}

export interface GradVerdict {
  ok: boolean;
  ours: number;
  torch?: number;
  message: string;
}

/** float64: within GRAD_FLOAT64_TOLERANCE of torch. float32: against torch's float64, no worse than torch float32. */
export function judgeGrads(dtype: DType, ours: Grads, torch: TorchResult): GradVerdict {
  if (dtype === 'float64') {
    const { error, where } = gradError(ours, torch.grads);
    return {
      ok: error <= GRAD_FLOAT64_TOLERANCE,
      ours: error,
      message: `float64 gradient error vs PyTorch float64: ${error.toExponential(3)} (worst: ${where}; tolerance ${GRAD_FLOAT64_TOLERANCE})`,
    };
  }
  if (!torch.grads64) throw new Error('a float32 case needs torch float64 gradients');
  const mine = gradError(ours, torch.grads64);
  const theirs = gradError(torch.grads, torch.grads64);
  const direct = gradError(ours, torch.grads);
  return {
    ok: mine.error <= theirs.error,
    ours: mine.error,
    torch: theirs.error,
    message:
      `float32 gradient error vs PyTorch float64: ours ${mine.error.toExponential(3)} (${mine.where}), ` +
      `PyTorch float32 ${theirs.error.toExponential(3)} (${theirs.where}); ours vs PyTorch float32 ${direct.error.toExponential(3)}`,
  };
}

/** Worst errors over a test file, for the summary line. */
export class GradSummary {
  private worst64 = 0;
  private worst32 = 0;
  private worst32Torch = 0;
  private better32 = 0;
  private count = { float32: 0, float64: 0 };

  add(dtype: DType, v: GradVerdict): void {
    this.count[dtype]++;
    if (dtype === 'float64') this.worst64 = Math.max(this.worst64, v.ours);
    else {
      this.worst32 = Math.max(this.worst32, v.ours);
      this.worst32Torch = Math.max(this.worst32Torch, v.torch ?? 0);
      if (v.ours <= (v.torch ?? 0)) this.better32++;
    }
  }

  toString(): string {
    return (
      `${this.count.float64} float64 cases, worst gradient error vs PyTorch float64 ${this.worst64.toExponential(3)}; ` +
      `${this.count.float32} float32 cases, worst vs float64: ours ${this.worst32.toExponential(3)}, ` +
      `PyTorch float32 ${this.worst32Torch.toExponential(3)}, ours no worse in ${this.better32} of ${this.count.float32}`
    );
  }
}

/** "a 3-layer bidirectional relu RNN, no bias, batch-first, with h0, lengths [4, 2], gradHN and dropout masks". */
export function describeGradCase(c: GradCase): string {
  const shape = (f: Flat) => `[${f.shape.join(', ')}]`;
  if (c.kind === 'cell') {
    const k = c.config;
    return `an RNNCell (${k.nonlinearity}${k.bias ? '' : ', no bias'}${c.hx ? ', with hx' : ''}, input ${shape(c.input)})`;
  }
  const k = c.config;
  const parts = [
    `a ${k.numLayers}-layer${k.bidirectional ? ' bidirectional' : ''} ${k.nonlinearity} RNN`,
    k.bias ? '' : 'no bias',
    k.batchFirst ? 'batch-first' : '',
    c.input.shape.length === 2 ? 'unbatched' : '',
    c.masks ? `dropout ${k.dropout} with given masks` : k.dropout > 0 ? `dropout ${k.dropout} in eval mode` : '',
  ].filter(Boolean);
  const given = [c.h0 ? 'h0' : '', c.lengths ? `lengths [${c.lengths.join(', ')}]` : '', c.gradHN ? 'gradHN' : '']
    .filter(Boolean)
    .join(', ');
  return `${parts.join(', ')}${given ? ` with ${given}` : ''} (input ${shape(c.input)}, H = ${k.hiddenSize})`;
}

// ---------------------------------------------------------------------------------------------------------------
// random cases, for the live test and the finite-difference test

export interface RandomCaseOptions {
  dtype?: DType;
  /** Largest L, N, I and H; default 5, 3, 5, 5. */
  maxSizes?: { L: number; N: number; I: number; H: number };
  /** Options to pin instead of drawing them (`masks`: dropout with given masks, only with > 1 layer). */
  fixed?: Partial<{
    numLayers: number;
    bidirectional: boolean;
    nonlinearity: 'tanh' | 'relu';
    bias: boolean;
    batchFirst: boolean;
    unbatched: boolean;
    lengths: boolean;
    h0: boolean;
    gradHN: boolean;
    masks: boolean;
    /** The dropout probability when there is dropout. */
    dropout: number;
  }>;
}

function flat(shape: number[], draw: () => number, dtype: DType): Flat {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Array.from({ length: n }, () => (dtype === 'float32' ? Math.fround(draw()) : draw()));
  return { shape, data };
}

/** A random RNN case in torch_grad.py's format: every option drawn from `g`, weights from our own init. */
export function randomRnnCase(g: Generator, options: RandomCaseOptions = {}): RnnCase {
  const int = (lo: number, hi: number) => lo + Math.floor(g.nextDouble() * (hi - lo + 1));
  const coin = () => g.nextDouble() < 0.5;
  const max = options.maxSizes ?? { L: 5, N: 3, I: 5, H: 5 };
  const fix = options.fixed ?? {};
  const dtype = options.dtype ?? (coin() ? 'float32' : 'float64');
  const K = fix.numLayers ?? int(1, 4);
  const D = (fix.bidirectional ?? coin()) ? 2 : 1;
  const H = int(1, max.H);
  const I = int(1, max.I);
  const L = int(1, max.L);
  const unbatched = fix.unbatched ?? g.nextDouble() < 0.2;
  const N = unbatched ? 1 : int(1, max.N);
  const useMasks = K > 1 && (fix.masks ?? coin());
  const p = useMasks || (K > 1 && coin()) ? (fix.dropout ?? [0.25, 0.5, 0.75][int(0, 2)]) : 0;
  const config: RnnConfig = {
    inputSize: I,
    hiddenSize: H,
    numLayers: K,
    nonlinearity: fix.nonlinearity ?? (coin() ? 'tanh' : 'relu'),
    bias: fix.bias ?? coin(),
    batchFirst: fix.batchFirst ?? coin(),
    dropout: p,
    bidirectional: D === 2,
    dtype,
  };
  const rnn = new RNN({ ...config, seed: int(0, 2 ** 31) });
  const scale = config.nonlinearity === 'relu' ? 1.5 : 1; // keeps deep relu stacks from fading to 0
  const stateDict = Object.fromEntries(
    rnn.namedParameters().map(([name, t]) => {
      const w = name.startsWith('weight') ? scale : 1;
      return [
        name,
        { shape: [...t.shape], data: Array.from(t.data, (v) => (dtype === 'float32' ? Math.fround(v * w) : v * w)) },
      ];
    }),
  );
  const normal = () => {
    const buf = new Float64Array(1);
    g.normal(buf, 0, 1);
    return buf[0] as number;
  };
  const F = D * H;
  const seqShape = (f: number) => (unbatched ? [L, f] : config.batchFirst ? [N, L, f] : [L, N, f]);
  const stateShape = unbatched ? [K * D, H] : [K * D, N, H];
  const lengths = !unbatched && (fix.lengths ?? coin()) ? Array.from({ length: N }, () => int(1, L)) : null;
  const masks = useMasks
    ? Array.from({ length: K - 1 }, () => flat([L, N, F], () => (g.nextDouble() < p ? 0 : 1 / (1 - p)), dtype))
    : null;
  return {
    kind: 'rnn',
    config,
    stateDict,
    input: flat(seqShape(I), normal, dtype),
    h0: (fix.h0 ?? coin()) ? flat(stateShape, normal, dtype) : null,
    lengths,
    gradOutput: flat(seqShape(F), normal, dtype),
    gradHN: (fix.gradHN ?? coin()) ? flat(stateShape, normal, dtype) : null,
    masks,
  };
}

/** A random RNNCell case in torch_grad.py's format, weights from our own init. */
export function randomCellCase(g: Generator, dtype: DType): CellCase {
  const int = (lo: number, hi: number) => lo + Math.floor(g.nextDouble() * (hi - lo + 1));
  const coin = () => g.nextDouble() < 0.5;
  const config = {
    inputSize: int(1, 5),
    hiddenSize: int(1, 5),
    bias: coin(),
    nonlinearity: coin() ? ('tanh' as const) : ('relu' as const),
    dtype,
  };
  const cell = new RNNCell({ ...config, seed: int(0, 2 ** 31) });
  const round = (v: number) => (dtype === 'float32' ? Math.fround(v) : v);
  const stateDict = Object.fromEntries(
    cell.namedParameters().map(([name, t]) => [name, { shape: [...t.shape], data: Array.from(t.data, round) }]),
  );
  const normal = () => {
    const buf = new Float64Array(1);
    g.normal(buf, 0, 1);
    return buf[0] as number;
  };
  const batch = coin() ? [] : [int(1, 3)];
  return {
    kind: 'cell',
    config,
    stateDict,
    input: flat([...batch, config.inputSize], normal, dtype),
    hx: coin() ? flat([...batch, config.hiddenSize], normal, dtype) : null,
    gradH: flat([...batch, config.hiddenSize], normal, dtype),
  };
}
