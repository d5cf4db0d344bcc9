/**
 * The multi-layer forward over flat arrays: the heart of nn.RNN with num_layers = K.
 *
 *   h_t^l = f(x_t^l W_ih^l^T + b_ih^l + h_{t-1}^l W_hh^l^T + b_hh^l),   x_t^0 = x_t,   x_t^l = h_t^{l-1} (l > 0)
 *
 * Layer l reads the whole output sequence of layer l-1 (never x_t), and each layer keeps its own previous state
 * h_{t-1}^l, starting from its own slice of h0. So a layer runs as: one matrix product for the input projection of
 * all L*N rows, then the time loop. With D = 2, the reverse direction walks t = L-1 .. 0 and writes the second half
 * of each output row: output (L, N, D*H) is [forward | reverse].
 */
import type { DirectionWeights, Kernel, Nonlinearity } from '../kernels/kernel.js';
import type { Generator } from '../random.js';
import type { FloatArray } from '../tensor.js';

export type { DirectionWeights };

export interface StackDims {
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  D: number;
}

export interface DropoutSpec {
  p: number;
  generator: Generator;
}

/** What the forward keeps for a backward pass: each layer's output and the dropout mask applied to it. */
export interface StackTape {
  layerOutputs: FloatArray[]; // K x (L, N, D*H)
  masks: (FloatArray | null)[]; // K x (L, N, D*H), null for the last layer or without dropout
}

/**
 * Buffers a caller keeps from one forward to the next, so a small forward allocates only what it returns: the
 * input projection `pre` (L, N, H) and the outputs (L, N, D*H) of the layers below the last: two that alternate
 * when the layers run one by one, one per layer when a kernel's `layers` runs them all at once. Only internal
 * values live here, never a result or anything a tape keeps.
 */
export interface StackWorkspace {
  pre: FloatArray | null;
  hidden: (FloatArray | null)[];
}

/**
 * Buffers up to this many elements are kept in a workspace: below it, allocating (and zeroing) is a visible part
 * of a forward; above it, the arithmetic dwarfs the allocation and holding the buffer would only hold memory.
 */
export const WORKSPACE_MAX = 1 << 18;

/** `kernel.scratch(like, length)`, or the same buffer as last time when its length fits and it may be kept. */
function scratch(kernel: Kernel, like: FloatArray, length: number, kept: FloatArray | null): FloatArray {
  return kept !== null && kept.length === length ? kept : kernel.scratch(like, length);
}

/**
 * Layer k's output (L, N, D*H). Layers below the last write into the kernel's scratch: the reference kernel keeps
 * them in float64, so a float32 model is rounded once, at the end, and lands on the float32 nearest the exact
 * result. A tape keeps every layer's output, so only without one may they come from (and stay in) the workspace,
 * in its `slot`: layer by layer, two slots are enough (layer k reads one while writing the other); a kernel's
 * `layers` needs one per layer.
 */
function layerBuffer(
  kernel: Kernel,
  output: FloatArray,
  size: number,
  slot: number,
  last: boolean,
  tape: StackTape | null,
  kept: StackWorkspace | null,
): FloatArray {
  if (last && !tape) return output;
  if (!kept || tape) return kernel.scratch(output, size);
  const out = scratch(kernel, output, size, kept.hidden[slot] ?? null);
  kept.hidden[slot] = out;
  return out;
}

function like(a: FloatArray, n: number): FloatArray {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * Runs K layers of D directions. `output` (L, N, D*H) and `hN` (K*D, N, H) are written; `x` (L, N, I) and `h0`
 * (K*D, N, H) are read; `weights[k][d]` are layer k, direction d. `lengths` (N) limits each sequence (padded
 * steps give 0 and leave the state alone). With `dropout`, every layer's output but the last is multiplied by a
 * fresh mask of 0 and 1/(1-p) before the next layer reads it. With `tape`, the layer outputs and masks are kept.
 * With `workspace`, the internal buffers come from it and small ones are left in it for the next call.
 */
export function stackForward(
  kernel: Kernel,
  output: FloatArray, // (L, N, D*H)
  hN: FloatArray, // (K*D, N, H)
  x: FloatArray, // (L, N, I)
  h0: FloatArray, // (K*D, N, H)
  weights: DirectionWeights[][], // [K][D]
  dims: StackDims,
  nonlinearity: Nonlinearity,
  lengths: Int32Array | null, // (N)
  dropout: DropoutSpec | null,
  tape: StackTape | null,
  workspace: StackWorkspace | null = null,
): void {
  const { L, N, I, H, K, D } = dims;
  const size = L * N * D * H; // of a layer's output
  const kept = workspace !== null && size <= WORKSPACE_MAX ? workspace : null;
  // A kernel that runs the whole stack at once (layer k following layer k-1 step by step) gets it when nothing
  // happens between the layers: one direction, no dropout. It asks for the layers' buffers only once it runs.
  if (kernel.layers && D === 1 && K > 1 && !(dropout && dropout.p > 0)) {
    const outs: FloatArray[] = [];
    const layerWeights = weights.map((w) => w[0] as DirectionWeights);
    const layerOutput = (k: number) => {
      outs[k] ??= layerBuffer(kernel, output, size, k, k === K - 1, tape, kept);
      return outs[k] as FloatArray;
    };
    if (kernel.layers({ layerOutput, hN, x, h0, weights: layerWeights, L, N, I, H, nonlinearity, lengths })) {
      if (tape) {
        tape.layerOutputs.push(...outs);
        tape.masks.push(...outs.map(() => null));
      }
      if (outs[K - 1] !== output) output.set(outs[K - 1] as FloatArray);
      return;
    }
  }
  // (L, N, H) input projection plus biases, reused per direction
  const pre = scratch(kernel, output, L * N * H, kept ? kept.pre : null);
  if (kept) kept.pre = pre;
  let input = x; // (L, N, I) for layer 0, then (L, N, D*H)
  let inFeatures = I;
  for (let k = 0; k < K; k++) {
    const last = k === K - 1;
    const out = layerBuffer(kernel, output, size, k & 1, last, tape, kept); // (L, N, D*H)
    for (let d = 0; d < D; d++) {
      const w = weights[k]?.[d] as DirectionWeights;
      const state = (k * D + d) * N * H;
      kernel.linear(pre, input, w.wih, w.bih, w.bhh, L * N, inFeatures, H);
      kernel.recurrence({
        out,
        hN: hN.subarray(state, state + N * H),
        pre,
        whh: w.whh,
        h0: h0.subarray(state, state + N * H),
        L,
        N,
        H,
        outStride: D * H,
        outOffset: d * H,
        nonlinearity,
        reverse: d === 1,
        lengths,
      });
    }
    let mask: FloatArray | null = null;
    let next = out;
    if (dropout && dropout.p > 0 && !last) {
      mask = like(out, out.length);
      if (dropout.p < 1) dropout.generator.bernoulliMask(mask, dropout.p, 1 / (1 - dropout.p));
      next = like(out, out.length);
      for (let i = 0; i < out.length; i++) next[i] = (out[i] as number) * (mask[i] as number);
    }
    if (tape) {
      tape.layerOutputs.push(out);
      tape.masks.push(mask);
    }
    if (last && out !== output) output.set(out);
    input = next;
    inFeatures = D * H;
  }
}
