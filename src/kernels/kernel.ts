/**
 * The kernel interface: the only place the model's heavy arithmetic happens.
 *
 * A layer's forward is two calls: `linear` projects the whole input sequence at once (one matrix product over
 * all L*N rows), then `recurrence` runs the time loop without returning per step. Fast kernels (SIMD, threads)
 * implement the same two calls and are tested against the reference kernel, which is also the fallback.
 *
 * Dimension letters: L sequence, N batch, I input features, H hidden, D directions, K layers.
 */
import type { FloatArray } from '../tensor.js';

export type Nonlinearity = 'tanh' | 'relu';

export interface RecurrenceArgs {
  /** Written: the hidden state at each step, `out[(t*N + n)*outStride + outOffset + j]`; 0 where inactive. */
  out: FloatArray; // (L, N, outStride)
  /** Written: the state after each sequence's last valid step (the first step, for the reverse direction). */
  hN: FloatArray; // (N, H)
  /** Read: the input projection plus both biases, from `linear`. */
  pre: FloatArray; // (L, N, H)
  whh: FloatArray; // (H, H)
  h0: FloatArray; // (N, H)
  L: number;
  N: number;
  H: number;
  outStride: number;
  outOffset: number;
  nonlinearity: Nonlinearity;
  /** Walk t = L-1 .. 0 instead of 0 .. L-1. */
  reverse: boolean;
  /** Valid steps per sequence (1..L); steps t >= lengths[n] leave h unchanged and write 0. Null: all L. */
  lengths: Int32Array | null;
}

export interface Kernel {
  readonly name: string;
  /** Scratch for intermediate values such as `pre`; a kernel may keep more precision than the dtype. */
  scratch(like: FloatArray, length: number): FloatArray;
  /** y (M, O) = x (M, C) @ w (O, C)^T + b1 (O) + b2 (O); a null bias is skipped. Overwrites y. */
  linear(
    y: FloatArray,
    x: FloatArray,
    w: FloatArray,
    b1: FloatArray | null,
    b2: FloatArray | null,
    M: number,
    C: number,
    O: number,
  ): void;
  /** h_t = f(pre_t + h_{t-1} @ whh^T) for every step of one direction, h_{-1} = h0. */
  recurrence(args: RecurrenceArgs): void;
}
