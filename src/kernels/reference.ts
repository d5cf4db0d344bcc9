/**
 * The reference kernel: plain loops, sums in float64 whatever the storage dtype. It is the oracle every fast
 * kernel is tested against and the fallback for any shape or platform a fast kernel does not take.
 */
import type { FloatArray } from '../dtype.js';
import { gatedRecurrence, gatedRecurrenceBackward } from './gated.js';
import type { Kernel, RecurrenceArgs, RecurrenceBackwardArgs } from './kernel.js';

// The recurrence's two float64 state rows (N, H), kept between calls: a typed array outside V8's heap costs about
// 1 us to allocate (and collect), as much as a whole small forward's arithmetic.
let stateBuffer = new Float64Array(0);
function stateScratch(length: number): Float64Array {
  if (stateBuffer.length < length) stateBuffer = new Float64Array(Math.max(length, 2 * stateBuffer.length));
  return stateBuffer;
}

export const referenceKernel: Kernel = {
  name: 'reference',

  scratch(_like: FloatArray, length: number): FloatArray {
    return new Float64Array(length);
  },

  linear(y, x, w, b1, b2, M, C, O) {
    for (let m = 0; m < M; m++) {
      const xo = m * C;
      for (let o = 0; o < O; o++) {
        const wo = o * C;
        let s = 0;
        for (let c = 0; c < C; c++) s += (x[xo + c] as number) * (w[wo + c] as number);
        if (b1) s += b1[o] as number;
        if (b2) s += b2[o] as number;
        y[m * O + o] = s;
      }
    }
  },

  recurrence(a: RecurrenceArgs) {
    if (a.mode === 'LSTM' || a.mode === 'GRU') {
      gatedRecurrence(referenceKernel, a);
      return;
    }
    const { out, hN, pre, whh, h0, L, N, H, outStride, outOffset, lengths } = a;
    const relu = a.mode === 'RNN_RELU';
    // The carried state stays in float64 even for float32 storage: only what is written out is rounded. This keeps
    // the float32 error below PyTorch float32's own (which rounds the state every step), not merely equal to it.
    const state = stateScratch(2 * N * H);
    let h = state.subarray(0, N * H); // (N, H)
    let next = state.subarray(N * H, 2 * N * H); // (N, H)
    h.set(h0);
    for (let step = 0; step < L; step++) {
      const t = a.reverse ? L - 1 - step : step;
      for (let n = 0; n < N; n++) {
        const row = (t * N + n) * outStride + outOffset;
        const active = lengths === null || t < (lengths[n] as number);
        for (let j = 0; j < H; j++) {
          if (!active) {
            next[n * H + j] = h[n * H + j] as number;
            out[row + j] = 0;
            continue;
          }
          let s = pre[(t * N + n) * H + j] as number;
          for (let k = 0; k < H; k++) s += (h[n * H + k] as number) * (whh[j * H + k] as number);
          const v = relu ? Math.max(s, 0) : Math.tanh(s); // max keeps NaN, as torch.relu does
          next[n * H + j] = v;
          out[row + j] = v;
        }
      }
      [h, next] = [next, h];
    }
    hN.set(h);
  },

  linearBackward(dx, dw, db1, db2, dy, x, w, M, C, O) {
    if (dx) {
      for (let m = 0; m < M; m++) {
        for (let c = 0; c < C; c++) {
          let s = 0;
          for (let o = 0; o < O; o++) s += (dy[m * O + o] as number) * (w[o * C + c] as number);
          dx[m * C + c] = (dx[m * C + c] as number) + s;
        }
      }
    }
    // each parameter gradient is summed over all M rows in float64 and rounded into storage once
    for (let o = 0; o < O; o++) {
      for (let c = 0; c < C; c++) {
        let s = 0;
        for (let m = 0; m < M; m++) s += (dy[m * O + o] as number) * (x[m * C + c] as number);
        dw[o * C + c] = (dw[o * C + c] as number) + s;
      }
      if (db1 || db2) {
        let s = 0;
        for (let m = 0; m < M; m++) s += dy[m * O + o] as number;
        if (db1) db1[o] = (db1[o] as number) + s;
        if (db2) db2[o] = (db2[o] as number) + s;
      }
    }
  },

  recurrenceBackward(a: RecurrenceBackwardArgs) {
    if (a.mode === 'LSTM' || a.mode === 'GRU') {
      gatedRecurrenceBackward(referenceKernel, a);
      return;
    }
    const { dpre, dh0, dwhh, dout, dhN, out, h0, whh, L, N, H, outStride, outOffset, lengths } = a;
    const relu = a.mode === 'RNN_RELU';
    const dh = new Float64Array(N * H); // (N, H) d loss / d (the state carried into the step being undone)
    if (dhN) dh.set(dhN);
    const dz = new Float64Array(H); // (H) d loss / d (pre_t + h_{t-1} whh^T) of one sequence
    const dW = new Float64Array(H * H); // (H, H) dwhh summed in float64, added to storage once at the end
    // The forward visited step = 0 .. L-1; undo them in reverse.
    for (let step = L - 1; step >= 0; step--) {
      const t = a.reverse ? L - 1 - step : step;
      for (let n = 0; n < N; n++) {
        const len = lengths === null ? L : (lengths[n] as number);
        if (t >= len) continue; // padded: the state went through unchanged and the output was a constant 0
        const row = (t * N + n) * outStride + outOffset;
        // h_{t-1}: the previous active step's output, or h0 before the first one (t = 0, or t = len-1 in reverse)
        const prevT = a.reverse ? t + 1 : t - 1;
        const hasPrev = prevT >= 0 && prevT < len;
        const prev = hasPrev ? out : h0;
        const prevRow = hasPrev ? (prevT * N + n) * outStride + outOffset : n * H;
        for (let j = 0; j < H; j++) {
          const h = out[row + j] as number;
          const g = (dh[n * H + j] as number) + (dout ? (dout[row + j] as number) : 0);
          const v = relu ? (h > 0 ? g : 0) : g * (1 - h * h);
          dz[j] = v;
          dpre[(t * N + n) * H + j] = (dpre[(t * N + n) * H + j] as number) + v;
        }
        for (let k = 0; k < H; k++) {
          let s = 0;
          for (let j = 0; j < H; j++) s += (dz[j] as number) * (whh[j * H + k] as number);
          dh[n * H + k] = s;
        }
        for (let j = 0; j < H; j++) {
          const v = dz[j] as number;
          for (let k = 0; k < H; k++) dW[j * H + k] = (dW[j * H + k] as number) + v * (prev[prevRow + k] as number);
        }
      }
    }
    for (let i = 0; i < N * H; i++) dh0[i] = (dh0[i] as number) + (dh[i] as number);
    for (let i = 0; i < H * H; i++) dwhh[i] = (dwhh[i] as number) + (dW[i] as number);
  },
};
