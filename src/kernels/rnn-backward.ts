/**
 * The RNN's backward (RNN_TANH, RNN_RELU) over any kernel's products, as ./gated.ts's is for the LSTM and GRU:
 * the fast kernels' float64 path, where each step's product is the kernel's and the step's elementwise math is
 * plain loops. The same arithmetic as the reference kernel's `recurrenceBackward` (its oracle), with its products
 * summed in the kernel's order:
 *
 *   at each active step t, in reverse:  dz_t = (dh + dout_t) * f'(h_t),  dpre_t += dz_t,  dh = dz_t @ W_hh;
 *   then  dW_hh += sum over t of dz_t^T h_{t-1}  (one product over all steps),  dh0 += dh.
 *
 * f' is read off the forward's output: 1 - h^2 for tanh, [h > 0] for relu. Padded steps (t >= lengths[n]) pass dh
 * through unchanged and add nothing.
 */
import { zerosLike } from '../dtype.js';
import { transpose } from './gated.js';
import type { Kernel, RecurrenceBackwardArgs } from './kernel.js';

/** The backward of one direction of an RNN layer over `kernel`'s products, accumulating (`Kernel.recurrenceBackward`). */
export function rnnRecurrenceBackward(kernel: Kernel, a: RecurrenceBackwardArgs): void {
  const { dpre, dwhh, dout, out, h0, whh, L, N, H, outStride, outOffset, lengths } = a;
  const relu = a.mode === 'RNN_RELU';
  const dh = zerosLike(dpre, N * H); // (N, H) d loss / d (the state carried into the step being undone)
  if (a.dhN) dh.set(a.dhN.subarray(0, N * H));
  const Z = zerosLike(dpre, L * N * H); // (L, N, H) dz of every step (0 where padded)
  const hprev = zerosLike(dpre, L * N * H); // (L, N, H) the state each active step read
  const next = zerosLike(dpre, N * H); // (N, H) dz_t @ W_hh
  const whhT = transpose(whh, H, H); // (H, H): dz @ W_hh is linear's dz @ (W_hh^T)^T
  const whhTPrepared = L > 1 ? (kernel.prepare?.(whhT, 'panels', H, H) ?? null) : null;
  for (let step = L - 1; step >= 0; step--) {
    const t = a.reverse ? L - 1 - step : step;
    for (let n = 0; n < N; n++) {
      const len = lengths === null ? L : (lengths[n] as number);
      if (t >= len) continue;
      const row = (t * N + n) * outStride + outOffset;
      const prevT = a.reverse ? t + 1 : t - 1;
      const q = (t * N + n) * H;
      if (prevT >= 0 && prevT < len) {
        const prevRow = (prevT * N + n) * outStride + outOffset;
        hprev.set(out.subarray(prevRow, prevRow + H), q);
      } else {
        hprev.set(h0.subarray(n * H, (n + 1) * H), q);
      }
      for (let j = 0; j < H; j++) {
        const h = out[row + j] as number;
        const g = (dh[n * H + j] as number) + (dout ? (dout[row + j] as number) : 0);
        const v = relu ? (h > 0 ? g : 0) : g * (1 - h * h);
        Z[q + j] = v;
        dpre[q + j] = (dpre[q + j] as number) + v;
      }
    }
    kernel.linear(next, Z.subarray(t * N * H, (t + 1) * N * H), whhT, null, null, N, H, H, whhTPrepared);
    for (let n = 0; n < N; n++) {
      if (lengths !== null && t >= (lengths[n] as number)) continue;
      dh.set(next.subarray(n * H, (n + 1) * H), n * H);
    }
  }
  for (let i = 0; i < N * H; i++) a.dh0[i] = (a.dh0[i] as number) + (dh[i] as number);
  kernel.linearBackward(null, dwhh, null, null, Z, hprev, whh, L * N, H, H);
}
