/**
 * The multi-layer forward over flat arrays: the heart of nn.RNN, nn.LSTM and nn.GRU with num_layers = K.
 *
 *   h_t^l = cell(x_t^l, h_{t-1}^l),   x_t^0 = x_t,   x_t^l = h_t^{l-1} (l > 0)
 *
 * e.g. h_t^l = f(x_t^l W_ih^l^T + b_ih^l + h_{t-1}^l W_hh^l^T + b_hh^l) for the RNN. Layer l reads the whole output
 * sequence of layer l-1 (never x_t), and each layer keeps its own previous state h_{t-1}^l (and the LSTM's c_{t-1}^l),
 * starting from its own slice of h0 (and c0). So a layer runs as: one matrix product for the input projection of
 * all L*N rows, then the time loop of its cell (the kernel's `recurrence`, in one of PyTorch's modes). With D = 2,
 * the reverse direction walks t = L-1 .. 0 and writes the second half of each output row: output (L, N, D*P) is
 * [forward | reverse]. The cell changes what a step computes, never this stacking: it is written once, here.
 */
import { type FloatArray, zerosLike } from '../dtype.js';
import { type DirectionWeights, gatesOf, type Kernel, layerWork, type Mode, tapeWidth } from '../kernels/kernel.js';
import type { Generator } from '../random.js';

export type { DirectionWeights };

export interface StackDims {
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  D: number;
  /** The width of h: a projected LSTM's proj_size. Omitted: H. */
  P?: number;
}

export interface DropoutSpec {
  p: number;
  generator: Generator;
}

/**
 * What the forward keeps for a backward pass: each layer's output and the dropout mask applied to it, and for the
 * LSTM and GRU what each (layer, direction)'s steps computed besides h (their gates; the LSTM's c).
 */
export interface StackTape {
  layerOutputs: FloatArray[]; // K x (L, N, D*P)
  masks: (FloatArray | null)[]; // K x (L, N, D*P), null for the last layer or without dropout
  cells: (FloatArray | null)[]; // K*D x (L, N, tapeWidth), null for the RNN
}

/**
 * Buffers a caller keeps from one forward to the next, so a small forward allocates only what it returns: the
 * input projection `pre` (L, N, G*H) and the outputs (L, N, D*P) of the layers below the last: two that alternate
 * when the layers run one by one, one per layer when a kernel's `layers` runs them all at once. Only internal
 * values live here, never a result or anything a tape keeps.
 */
export interface StackWorkspace {
  pre: FloatArray | null;
  hidden: (FloatArray | null)[];
}

/**
 * A forward whose layer output has up to this many elements keeps its internal buffers in the workspace, however
 * many layers it has: allocating (and zeroing) them is a visible part of a small forward.
 */
export const WORKSPACE_MAX = 1 << 18;

/**
 * A larger forward keeps them too while they come to at most this many elements together (64 MiB of float32):
 * a fresh buffer costs its pages' first touch and zeroing, which on C's LSTM (a 32 MiB projection and two 8 MiB
 * layer outputs) was 14-16% of a forward on two threads. Past it the module would hold more memory between calls
 * than its result, and the arithmetic dwarfs the allocation.
 */
export const WORKSPACE_HELD_MAX = 1 << 24;

/**
 * `kernel.scratch(like, length, work)`, or the same buffer as last time when its length fits and it may be kept
 * (a kept buffer was made for the same work: the workspace is keyed by the module and its shapes).
 */
function scratch(kernel: Kernel, like: FloatArray, length: number, work: number, kept: FloatArray | null): FloatArray {
  return kept !== null && kept.length === length ? kept : kernel.scratch(like, length, work);
}

/**
 * Layer k's output (L, N, D*P). Layers below the last write into the kernel's scratch: the reference kernel keeps
 * them in float64, so a float32 model is rounded once, at the end, and lands on the float32 nearest the exact
 * result. A tape keeps every layer's output, so only without one may they come from (and stay in) the workspace,
 * in its `slot`: layer by layer, two slots are enough (layer k reads one while writing the other); a kernel's
 * `layers` needs one per layer.
 */
function layerBuffer(
  kernel: Kernel,
  output: FloatArray,
  size: number,
  work: number,
  slot: number,
  last: boolean,
  tape: StackTape | null,
  kept: StackWorkspace | null,
): FloatArray {
  if (last && !tape) return output;
  if (!kept || tape) return kernel.scratch(output, size, work);
  const out = scratch(kernel, output, size, work, kept.hidden[slot] ?? null);
  kept.hidden[slot] = out;
  return out;
}

/**
 * Runs K layers of D directions of a `mode` cell. `output` (L, N, D*P), `hN` (K*D, N, P) and, for the LSTM, `cN`
 * (K*D, N, H) are written; `x` (L, N, I), `h0` (K*D, N, P) and `c0` (K*D, N, H) are read; `weights[k][d]` are
 * layer k, direction d. `lengths` (N) limits each sequence (padded steps give 0 and leave the state alone). With
 * `dropout`, every layer's output but the last is multiplied by a fresh mask of 0 and 1/(1-p) before the next
 * layer reads it. With `tape`, what the backward needs is kept. With `workspace`, the internal buffers come from
 * it and small ones are left in it for the next call.
 */
export function stackForward(
  kernel: Kernel,
  output: FloatArray, // (L, N, D*P)
  hN: FloatArray, // (K*D, N, P)
  cN: FloatArray | null, // (K*D, N, H) LSTM only
  x: FloatArray, // (L, N, I)
  h0: FloatArray, // (K*D, N, P)
  c0: FloatArray | null, // (K*D, N, H) LSTM only
  weights: DirectionWeights[][], // [K][D]
  dims: StackDims,
  mode: Mode,
  lengths: Int32Array | null, // (N)
  dropout: DropoutSpec | null,
  tape: StackTape | null,
  workspace: StackWorkspace | null = null,
): void {
  const { L, N, I, H, K, D } = dims;
  const P = dims.P ?? H;
  const G = gatesOf(mode);
  const size = L * N * D * P; // of a layer's output
  const work = layerWork(L, N, I, H, P, D, mode);
  // what the workspace would hold: the projection, and the outputs of the layers below the last (two that
  // alternate, or one per layer for a kernel's `layers`)
  const held = L * N * G * H + Math.max(2, K - 1) * size;
  const kept = workspace !== null && (size <= WORKSPACE_MAX || held <= WORKSPACE_HELD_MAX) ? workspace : null;
  // A kernel that runs the whole stack at once (layer k following layer k-1 step by step) gets it when nothing
  // happens between the layers: one direction, no dropout, no projection. It asks for the layers' buffers only once
  // it runs.
  if (kernel.layers && D === 1 && K > 1 && P === H && !(dropout && dropout.p > 0)) {
    const outs: FloatArray[] = [];
    const cells: FloatArray[] = [];
    const layerWeights = weights.map((w) => w[0] as DirectionWeights);
    const layerOutput = (k: number) => {
      outs[k] ??= layerBuffer(kernel, output, size, work, k, k === K - 1, tape, kept);
      return outs[k] as FloatArray;
    };
    // the gated cells' tapes, in the precision of the layer's output (as `recurrence`'s are in pre's)
    const W = tapeWidth(mode, H);
    const layerTape =
      tape && W > 0
        ? (k: number) => {
            cells[k] ??= zerosLike(layerOutput(k), L * N * W);
            return cells[k] as FloatArray;
          }
        : null;
    // biome-ignore format: one call
    if (kernel.layers({ layerOutput, layerTape, hN, cN, x, h0, c0, weights: layerWeights, L, N, I, H, mode, lengths })) {
      if (tape) {
        tape.layerOutputs.push(...outs);
        tape.masks.push(...outs.map(() => null));
        tape.cells.push(...outs.map((_, k) => cells[k] ?? null));
      }
      if (outs[K - 1] !== output) output.set(outs[K - 1] as FloatArray);
      return;
    }
  }
  // (L, N, G*H) input projection plus biases, reused per direction
  const pre = scratch(kernel, output, L * N * G * H, work, kept ? kept.pre : null);
  if (kept) kept.pre = pre;
  // The GRU's b_hh is multiplied by its reset gate, so it stays in the recurrence; the others' adds to pre.
  const gru = mode === 'GRU';
  const W = tapeWidth(mode, H);
  let input = x; // (L, N, I) for layer 0, then (L, N, D*P)
  let inFeatures = I;
  for (let k = 0; k < K; k++) {
    const last = k === K - 1;
    const out = layerBuffer(kernel, output, size, work, k & 1, last, tape, kept); // (L, N, D*P)
    for (let d = 0; d < D; d++) {
      const w = weights[k]?.[d] as DirectionWeights;
      const state = (k * D + d) * N; // this (layer, direction)'s first row of h0, hN, c0, cN
      // (L, N, W) the gated cells' per-step values, in pre's precision, which the backward computes in
      const cellTape = tape && W > 0 ? zerosLike(pre, L * N * W) : null;
      const prepared = w.prepared ?? null;
      kernel.linear(pre, input, w.wih, w.bih, gru ? null : w.bhh, L * N, inFeatures, G * H, prepared?.wih);
      kernel.recurrence({
        out,
        hN: hN.subarray(state * P, (state + N) * P),
        pre,
        whh: w.whh,
        h0: h0.subarray(state * P, (state + N) * P),
        L,
        N,
        H,
        P,
        outStride: D * P,
        outOffset: d * P,
        mode,
        reverse: d === 1,
        lengths,
        c0: c0 ? c0.subarray(state * H, (state + N) * H) : null,
        cN: cN ? cN.subarray(state * H, (state + N) * H) : null,
        whr: w.whr ?? null,
        bhh: gru ? w.bhh : null,
        tape: cellTape,
        whhPrepared: prepared?.whh ?? null,
        whrPrepared: prepared?.whr ?? null,
      });
      if (tape) tape.cells.push(cellTape);
    }
    let mask: FloatArray | null = null;
    let next = out;
    if (dropout && dropout.p > 0 && !last) {
      mask = zerosLike(out, out.length);
      if (dropout.p < 1) dropout.generator.bernoulliMask(mask, dropout.p, 1 / (1 - dropout.p));
      next = zerosLike(out, out.length);
      for (let i = 0; i < out.length; i++) next[i] = (out[i] as number) * (mask[i] as number);
    }
    if (tape) {
      tape.layerOutputs.push(out);
      tape.masks.push(mask);
    }
    if (last && out !== output) output.set(out);
    input = next;
    inFeatures = D * P;
  }
}
