/**
 * The LSTM and GRU recurrences, forward and backward, over any kernel's `linear`: each step's h_{t-1} W_hh^T is
 * one product of N rows (the kernel's fast one where it has one), and the gate math around it is plain loops in
 * float64, rounded once into whatever precision the buffers have. It is the reference kernel's recurrence for
 * these cells (the oracle), and the fast kernels' wherever a buffer is not float32; on float32 buffers the native
 * and WebAssembly kernels run the fused recurrence of native/gated.h (each step's product with this gate math in
 * its tiles' epilogue), tested against this one.
 *
 * Buffers take the precision of `pre` (the reference kernel's scratch is float64; a fast float32 kernel's is
 * float32 for big problems), so the state is carried in that precision, as PyTorch's float32 carries it in
 * float32, and the per-step products stay in the fast kernel.
 *
 * Per step t of one direction, for each sequence n still running (t < lengths[n]); the others keep their state
 * and write 0:
 *
 *   LSTM: a = pre_t + h W_hh^T (4H): i = s(a_i), f = s(a_f), g = tanh(a_g), o = s(a_o);
 *         c = f c + i g;  h = o tanh(c), then h = h W_hr^T with proj_size.        tape: i f g o c    (5H)
 *   GRU:  b = h W_hh^T + b_hh (3H): r = s(pre_r + b_r), z = s(pre_z + b_z), n = tanh(pre_n + r b_n);
 *         h = (h - n) z + n  (ATen's order of operations).                          tape: r z n b_n    (4H)
 *
 * The backward walks the steps in reverse and carries d h (and d c), forming per step the gradient of the
 * pre-activations; W_hh's (and W_hr's) gradients are then one product each over all steps, as a BLAS would do.
 */
import { type FloatArray, zerosLike } from '../dtype.js';
import { RnnError } from '../errors.js';
import { gatesOf, type Kernel, type RecurrenceArgs, type RecurrenceBackwardArgs, tapeWidth } from './kernel.js';

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** w (R, C) transposed: (C, R). */
function transpose(w: FloatArray, R: number, C: number): FloatArray {
  const t = zerosLike(w, R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) t[c * R + r] = w[r * C + c] as number;
  return t;
}

/** The forward of one direction of an LSTM or GRU layer (see the file header). */
export function gatedRecurrence(kernel: Kernel, a: RecurrenceArgs): void {
  const { out, hN, pre, whh, h0, L, N, H, outStride, outOffset, lengths, mode } = a;
  const P = a.P ?? H;
  const G = gatesOf(mode);
  const lstm = mode === 'LSTM';
  const whr = a.whr ?? null;
  const tape = a.tape ?? null;
  const W = tapeWidth(mode, H);
  const h = zerosLike(pre, N * P); // (N, P) the state carried from step to step
  h.set(h0.subarray(0, N * P));
  const c = zerosLike(pre, lstm ? N * H : 0); // (N, H) the LSTM's cell state
  if (lstm && a.c0) c.set(a.c0.subarray(0, N * H));
  const hg = zerosLike(pre, N * G * H); // (N, G*H) h W_hh^T (+ b_hh for the GRU)
  const hh = whr ? zerosLike(pre, N * H) : null; // (N, H) o tanh(c), before the projection
  const hp = whr ? zerosLike(pre, N * P) : null; // (N, P) its projection
  // the weights laid out once for the kernel's products, which read them every step (null: as they are)
  const whhPrepared = L > 1 ? (kernel.prepare?.(whh, 'panels', G * H, P) ?? null) : null;
  const whrPrepared = whr && L > 1 ? (kernel.prepare?.(whr, 'panels', P, H) ?? null) : null;
  for (let step = 0; step < L; step++) {
    const t = a.reverse ? L - 1 - step : step;
    kernel.linear(hg, h, whh, lstm ? null : (a.bhh ?? null), null, N, P, G * H, whhPrepared);
    for (let n = 0; n < N; n++) {
      const row = (t * N + n) * outStride + outOffset;
      if (lengths !== null && t >= (lengths[n] as number)) {
        out.fill(0, row, row + P);
        continue;
      }
      const p = (t * N + n) * G * H; // this row's pre-activations
      const q = n * G * H;
      const tp = (t * N + n) * W;
      for (let j = 0; j < H; j++) {
        if (lstm) {
          const i = sigmoid((pre[p + j] as number) + (hg[q + j] as number));
          const f = sigmoid((pre[p + H + j] as number) + (hg[q + H + j] as number));
          const g = Math.tanh((pre[p + 2 * H + j] as number) + (hg[q + 2 * H + j] as number));
          const o = sigmoid((pre[p + 3 * H + j] as number) + (hg[q + 3 * H + j] as number));
          const cc = f * (c[n * H + j] as number) + i * g;
          c[n * H + j] = cc;
          const v = o * Math.tanh(cc);
          if (tape) {
            tape[tp + j] = i;
            tape[tp + H + j] = f;
            tape[tp + 2 * H + j] = g;
            tape[tp + 3 * H + j] = o;
            tape[tp + 4 * H + j] = cc;
          }
          if (hh) hh[n * H + j] = v;
          else {
            h[n * P + j] = v;
            out[row + j] = v;
          }
        } else {
          const r = sigmoid((pre[p + j] as number) + (hg[q + j] as number));
          const z = sigmoid((pre[p + H + j] as number) + (hg[q + H + j] as number));
          const bn = hg[q + 2 * H + j] as number;
          const nn = Math.tanh((pre[p + 2 * H + j] as number) + r * bn);
          const v = ((h[n * H + j] as number) - nn) * z + nn;
          if (tape) {
            tape[tp + j] = r;
            tape[tp + H + j] = z;
            tape[tp + 2 * H + j] = nn;
            tape[tp + 3 * H + j] = bn;
          }
          h[n * H + j] = v;
          out[row + j] = v;
        }
      }
    }
    if (whr && hh && hp) {
      kernel.linear(hp, hh, whr, null, null, N, H, P, whrPrepared);
      for (let n = 0; n < N; n++) {
        if (lengths !== null && t >= (lengths[n] as number)) continue;
        const row = (t * N + n) * outStride + outOffset;
        for (let k = 0; k < P; k++) {
          const v = hp[n * P + k] as number;
          h[n * P + k] = v;
          out[row + k] = v;
        }
      }
    }
  }
  hN.set(h);
  if (lstm && a.cN) a.cN.set(c);
}

/** The backward of `gatedRecurrence`, accumulating (see `Kernel.recurrenceBackward`). */
export function gatedRecurrenceBackward(kernel: Kernel, a: RecurrenceBackwardArgs): void {
  const { dpre, dwhh, dout, out, h0, whh, L, N, H, outStride, outOffset, lengths, mode } = a;
  const tape = a.tape;
  if (!tape) throw new RnnError('invalid_argument', `the ${mode} backward needs the tape its forward wrote`);
  const P = a.P ?? H;
  const G = gatesOf(mode);
  const lstm = mode === 'LSTM';
  const whr = a.whr ?? null;
  const W = tapeWidth(mode, H);
  const dh = zerosLike(dpre, N * P); // (N, P) d loss / d (the state carried into the step being undone)
  if (a.dhN) dh.set(a.dhN.subarray(0, N * P));
  const dc = zerosLike(dpre, lstm ? N * H : 0); // (N, H) d loss / d c, likewise
  if (lstm && a.dcN) dc.set(a.dcN.subarray(0, N * H));
  const dg = zerosLike(dpre, L * N * G * H); // (L, N, G*H) d loss / d (h_{t-1} W_hh^T [+ b_hh]) at each step
  const hprev = zerosLike(dpre, L * N * P); // (L, N, P) h_{t-1} at each active step
  const whhT = transpose(whh, G * H, P); // (P, G*H)
  const dhNext = zerosLike(dpre, N * P); // (N, P) dg_t @ W_hh: what flows into h_{t-1} through the gates
  // with proj_size: d loss / d h_t and o tanh(c_t) at every step, the factors of W_hr's gradient
  const gh = whr ? zerosLike(dpre, L * N * P) : null; // (L, N, P)
  const hhAll = whr ? zerosLike(dpre, L * N * H) : null; // (L, N, H)
  const dhh = whr ? zerosLike(dpre, N * H) : null; // (N, H) d loss / d (o tanh(c_t))
  const whrT = whr ? transpose(whr, P, H) : null; // (H, P)
  const whhTPrepared = L > 1 ? (kernel.prepare?.(whhT, 'panels', P, G * H) ?? null) : null;
  const whrTPrepared = whrT && L > 1 ? (kernel.prepare?.(whrT, 'panels', H, P) ?? null) : null;
  const active = (t: number, n: number) => lengths === null || t < (lengths[n] as number);
  // The forward visited step = 0 .. L-1; undo them in reverse.
  for (let step = L - 1; step >= 0; step--) {
    const t = a.reverse ? L - 1 - step : step;
    if (gh && hhAll && dhh && whrT) {
      for (let n = 0; n < N; n++) {
        if (!active(t, n)) continue;
        const row = (t * N + n) * outStride + outOffset;
        for (let k = 0; k < P; k++) {
          gh[(t * N + n) * P + k] = (dh[n * P + k] as number) + (dout ? (dout[row + k] as number) : 0);
        }
        const tp = (t * N + n) * W;
        for (let j = 0; j < H; j++) {
          hhAll[(t * N + n) * H + j] = (tape[tp + 3 * H + j] as number) * Math.tanh(tape[tp + 4 * H + j] as number);
        }
      }
      kernel.linear(dhh, gh.subarray(t * N * P, (t + 1) * N * P), whrT, null, null, N, P, H, whrTPrepared);
    }
    for (let n = 0; n < N; n++) {
      const len = lengths === null ? L : (lengths[n] as number);
      if (t >= len) continue; // padded: the state went through unchanged and the output was a constant 0
      const row = (t * N + n) * outStride + outOffset;
      // h_{t-1}: the previous active step's output, or h0 before the first one (t = 0, or t = len-1 in reverse)
      const prevT = a.reverse ? t + 1 : t - 1;
      const hasPrev = prevT >= 0 && prevT < len;
      const hp = (t * N + n) * P;
      if (hasPrev)
        hprev.set(
          out.subarray((prevT * N + n) * outStride + outOffset, (prevT * N + n) * outStride + outOffset + P),
          hp,
        );
      else hprev.set(h0.subarray(n * P, (n + 1) * P), hp);
      const q = (t * N + n) * G * H;
      const tp = (t * N + n) * W;
      const tpPrev = (prevT * N + n) * W;
      for (let j = 0; j < H; j++) {
        if (lstm) {
          const i = tape[tp + j] as number;
          const f = tape[tp + H + j] as number;
          const g = tape[tp + 2 * H + j] as number;
          const o = tape[tp + 3 * H + j] as number;
          const tc = Math.tanh(tape[tp + 4 * H + j] as number);
          const cPrev = hasPrev ? (tape[tpPrev + 4 * H + j] as number) : a.c0 ? (a.c0[n * H + j] as number) : 0;
          const dy = dhh
            ? (dhh[n * H + j] as number)
            : (dh[n * P + j] as number) + (dout ? (dout[row + j] as number) : 0);
          const dC = (dc[n * H + j] as number) + dy * o * (1 - tc * tc);
          dc[n * H + j] = dC * f;
          const di = dC * g * i * (1 - i);
          const df = dC * cPrev * f * (1 - f);
          const dgg = dC * i * (1 - g * g);
          const dO = dy * tc * o * (1 - o);
          dg[q + j] = di;
          dg[q + H + j] = df;
          dg[q + 2 * H + j] = dgg;
          dg[q + 3 * H + j] = dO;
          dpre[q + j] = (dpre[q + j] as number) + di;
          dpre[q + H + j] = (dpre[q + H + j] as number) + df;
          dpre[q + 2 * H + j] = (dpre[q + 2 * H + j] as number) + dgg;
          dpre[q + 3 * H + j] = (dpre[q + 3 * H + j] as number) + dO;
        } else {
          const r = tape[tp + j] as number;
          const z = tape[tp + H + j] as number;
          const nn = tape[tp + 2 * H + j] as number;
          const bn = tape[tp + 3 * H + j] as number;
          const dy = (dh[n * H + j] as number) + (dout ? (dout[row + j] as number) : 0);
          const dn = dy * (1 - z) * (1 - nn * nn);
          const dr = dn * bn * r * (1 - r);
          const dz = dy * ((hprev[hp + j] as number) - nn) * z * (1 - z);
          dh[n * H + j] = dy * z; // the direct path h_{t-1} -> h_t; the gates' path is added below
          dg[q + j] = dr;
          dg[q + H + j] = dz;
          dg[q + 2 * H + j] = dn * r;
          dpre[q + j] = (dpre[q + j] as number) + dr;
          dpre[q + H + j] = (dpre[q + H + j] as number) + dz;
          dpre[q + 2 * H + j] = (dpre[q + 2 * H + j] as number) + dn;
        }
      }
    }
    // biome-ignore format: one call
    kernel.linear(dhNext, dg.subarray(t * N * G * H, (t + 1) * N * G * H), whhT, null, null, N, G * H, P, whhTPrepared);
    for (let n = 0; n < N; n++) {
      if (!active(t, n)) continue;
      for (let k = 0; k < P; k++) {
        const v = dhNext[n * P + k] as number;
        dh[n * P + k] = lstm ? v : (dh[n * P + k] as number) + v;
      }
    }
  }
  for (let i = 0; i < N * P; i++) a.dh0[i] = (a.dh0[i] as number) + (dh[i] as number);
  if (lstm && a.dc0) for (let i = 0; i < N * H; i++) a.dc0[i] = (a.dc0[i] as number) + (dc[i] as number);
  // dW_hh += dg^T h_{t-1} (and the GRU's db_hh += sum of dg), and dW_hr += (d h_t)^T o tanh(c_t), over all steps
  kernel.linearBackward(null, dwhh, lstm ? null : (a.dbhh ?? null), null, dg, hprev, whh, L * N, P, G * H);
  if (whr && gh && hhAll && a.dwhr) kernel.linearBackward(null, a.dwhr, null, null, gh, hhAll, whr, L * N, H, P);
}
