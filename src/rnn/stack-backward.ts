/**
 * Backpropagation through time for the multi-layer forward of stack.ts: `stackBackward` is `stackForward` run
 * backwards, over the same flat arrays, for every cell.
 *
 * The forward keeps one (L, N, D*P) output buffer per layer (and the dropout mask applied to it), and for the LSTM
 * and GRU each direction's per-step gate values, in the kernel's scratch precision (float64 for the reference
 * kernel, whatever the dtype). That is all the backward needs: the RNN's f'(pre) is 1 - h^2 for tanh and [h > 0]
 * for relu, read off the kept outputs; a gated cell's derivatives come from its gates; and the input of layer
 * k > 0 is layer k-1's kept output times its mask (layer 0 reads x). So the backward walks layers k = K-1 .. 0,
 * and in each direction the time loop in reverse:
 *
 *   d out^k  = d output (k = K-1),  or  d x^{k+1} * mask^k
 *   d pre    = recurrenceBackward(d out^k, d hN^k, d cN^k)   also d h0^k, d c0^k, and dW_hh^k += (dW_hr^k, GRU's db_hh^k)
 *   d x^k   += d pre @ W_ih^k                               also dW_ih^k +=, db_ih^k += (and db_hh^k += but for the GRU)
 *
 * Padded steps (t >= lengths[n]) have d pre = 0, so their input gets exactly zero gradient, and the gradient of
 * the state flows through them unchanged, as the state itself did. Parameter gradients accumulate (+=).
 */
import type { FloatArray } from '../dtype.js';
import { gatesOf, type Kernel, type Mode } from '../kernels/kernel.js';
import type { DirectionWeights, StackDims, StackTape } from './stack.js';

/**
 * The bytes a tape holds: K output buffers of (L, N, D*P), with dropout K-1 masks of the same shape, and for a
 * gated cell K*D buffers of its gates. (The tape references the caller's x, h0 and c0 rather than copying them.)
 */
export function tapeBytes(tape: StackTape): number {
  let bytes = 0;
  for (const buffers of [tape.layerOutputs, tape.masks, tape.cells])
    for (const b of buffers) bytes += b ? b.byteLength : 0;
  return bytes;
}

/**
 * Gradients of sum(output * dOutput) + sum(hN * dhN) + sum(cN * dcN) for a forward recorded in `tape`,
 * ACCUMULATED into `dx` (L, N, I), `dh0` (K*D, N, P), `dc0` (K*D, N, H) and `grads[k][d]` (shaped like
 * `weights[k][d]`; null biases without bias). `x`, `h0` and `c0` (null: zeros), `weights`, `dims`, `mode` and
 * `lengths` must be what the forward was given. A null `dOutput`, `dhN` or `dcN` is zero; a null `dx`, `dh0` or
 * `dc0` is not computed.
 */
export function stackBackward(
  kernel: Kernel,
  dx: FloatArray | null, // (L, N, I); null: the input's gradient is not wanted, and not computed
  dh0: FloatArray | null, // (K*D, N, P)
  dc0: FloatArray | null, // (K*D, N, H) LSTM only
  grads: DirectionWeights[][], // [K][D]
  dOutput: FloatArray | null, // (L, N, D*P)
  dhN: FloatArray | null, // (K*D, N, P)
  dcN: FloatArray | null, // (K*D, N, H) LSTM only
  tape: StackTape,
  x: FloatArray, // (L, N, I)
  h0: FloatArray | null, // (K*D, N, P)
  c0: FloatArray | null, // (K*D, N, H) LSTM only
  weights: DirectionWeights[][], // [K][D]
  dims: StackDims,
  mode: Mode,
  lengths: Int32Array | null, // (N)
): void {
  const { L, N, I, H, K, D } = dims;
  const P = dims.P ?? H;
  const G = gatesOf(mode);
  const F = D * P; // the features of a layer's output
  const lstm = mode === 'LSTM';
  const gru = mode === 'GRU';
  const like = dx ?? (tape.layerOutputs[0] as FloatArray); // the precision the kernel works in
  const zeros = h0 === null ? kernel.scratch(like, N * P) : null; // (N, P) the omitted h0 of every layer
  if (zeros) zeros.fill(0);
  const cZeros = lstm && c0 === null ? kernel.scratch(like, N * H) : null; // (N, H) the omitted c0
  if (cZeros) cZeros.fill(0);
  const dpre = kernel.scratch(like, L * N * G * H); // (L, N, G*H) reused per direction
  const dh0Scratch = dh0 === null ? kernel.scratch(like, N * P) : null; // (N, P) a sink when dh0 is not wanted
  const dc0Scratch = lstm && dc0 === null ? kernel.scratch(like, N * H) : null; // (N, H) likewise for dc0
  // Gradients of the layer inputs above layer 0, (L, N, D*P): layer k writes one while layer k+1's, which it
  // reads as dout, stays intact, so two buffers taking turns serve any depth.
  const turns: FloatArray[] = [];
  // Layer 0 adds straight into dx when the kernel's scratch has dx's precision (fast float32 kernels); the
  // reference kernel sums in float64 first and rounds into dx once.
  const direct = dx !== null && kernel.scratch(dx, 0).constructor === dx.constructor;
  let dout: FloatArray | null = dOutput; // (L, N, D*P) d loss / d (layer k's output)
  // the backward walks the forward in reverse: layers K-1 .. 0, and within a layer directions D-1 .. 0
  for (let k = K - 1; k >= 0; k--) {
    const inFeatures = k === 0 ? I : F;
    const out = tape.layerOutputs[k] as FloatArray; // (L, N, D*P)
    const input = k === 0 ? x : layerInput(tape, k); // (L, N, inFeatures)
    let dinput: FloatArray | null; // (L, N, inFeatures) both directions add into it
    if (k > 0) {
      const turn = k % 2;
      turns[turn] ??= kernel.scratch(like, L * N * F);
      dinput = turns[turn] as FloatArray;
      dinput.fill(0);
    } else if (dx === null || direct) {
      dinput = dx;
    } else {
      dinput = kernel.scratch(dx, L * N * I);
    }
    for (let d = D - 1; d >= 0; d--) {
      const w = weights[k]?.[d] as DirectionWeights;
      const g = grads[k]?.[d] as DirectionWeights;
      const state = (k * D + d) * N; // this (layer, direction)'s first row of the states
      const rows = (a: FloatArray, width: number) => a.subarray(state * width, (state + N) * width);
      dpre.fill(0);
      if (dh0Scratch) dh0Scratch.fill(0);
      if (dc0Scratch) dc0Scratch.fill(0);
      kernel.recurrenceBackward({
        dpre,
        dh0: dh0 ? rows(dh0, P) : (dh0Scratch as FloatArray),
        dwhh: g.whh,
        dout,
        dhN: dhN ? rows(dhN, P) : null,
        out,
        h0: zeros ?? rows(h0 as FloatArray, P),
        whh: w.whh,
        L,
        N,
        H,
        P,
        outStride: F,
        outOffset: d * P,
        mode,
        reverse: d === 1,
        lengths,
        dc0: lstm ? (dc0 ? rows(dc0, H) : dc0Scratch) : null,
        dcN: lstm && dcN ? rows(dcN, H) : null,
        c0: lstm ? (cZeros ?? rows(c0 as FloatArray, H)) : null,
        whr: w.whr ?? null,
        dwhr: g.whr ?? null,
        bhh: gru ? w.bhh : null,
        dbhh: gru ? g.bhh : null,
        tape: tape.cells[k * D + d] ?? null,
      });
      kernel.linearBackward(dinput, g.wih, g.bih, gru ? null : g.bhh, dpre, input, w.wih, L * N, inFeatures, G * H);
    }
    if (k === 0) {
      if (dx !== null && dinput !== dx) {
        const sum = dinput as FloatArray;
        for (let i = 0; i < dx.length; i++) dx[i] = (dx[i] as number) + (sum[i] as number);
      }
    } else {
      // layer k read (layer k-1's output) * mask, so the output's gradient is the input's times the mask
      const mask = tape.masks[k - 1];
      const g = dinput as FloatArray;
      if (mask) for (let i = 0; i < g.length; i++) g[i] = (g[i] as number) * (mask[i] as number);
      dout = g;
    }
  }
}

/** What layer k > 0 read in the forward: layer k-1's kept output, times its dropout mask if it had one. */
function layerInput(tape: StackTape, k: number): FloatArray {
  const out = tape.layerOutputs[k - 1] as FloatArray; // (L, N, D*H)
  const mask = tape.masks[k - 1];
  if (!mask) return out;
  // the same product the forward formed, in the kept output's precision
  const masked = out instanceof Float64Array ? new Float64Array(out.length) : new Float32Array(out.length);
  for (let i = 0; i < out.length; i++) masked[i] = (out[i] as number) * (mask[i] as number);
  return masked;
}
