/**
 * The reference kernel: plain loops, sums in float64 whatever the storage dtype. It is the oracle every fast
 * kernel is tested against and the fallback for any shape or platform a fast kernel does not take.
 */
import type { FloatArray } from '../tensor.js';
import type { Kernel, RecurrenceArgs } from './kernel.js';

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
    const { out, hN, pre, whh, h0, L, N, H, outStride, outOffset, lengths } = a;
    const relu = a.nonlinearity === 'relu';
    // The carried state is stored in the output's dtype, as PyTorch stores it; only the sums run in float64.
    let h = out instanceof Float64Array ? Float64Array.from(h0) : Float32Array.from(h0); // (N, H)
    let next = h.slice(); // (N, H)
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
};
