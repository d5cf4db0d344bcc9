/**
 * Float32 arguments for the fast kernels' backward calls. A float32 model's big buffers are float32, but a small
 * one can come from the reference kernel's float64 scratch (a buffer under `exactBelow` elements, such as the
 * (N, H) zeros standing in for an omitted h0): rather than hand the whole call to the reference for it, read such a
 * buffer as float32 (they hold float32 values or zeros) and accumulate into it through a float32 buffer.
 */
import type { FloatArray } from '../tensor.js';
import { referenceKernel } from './reference.js';

/**
 * Below this many elements per layer buffer, a call that says nothing of its work goes to the reference kernel
 * (its float64 keeps tiny float32 problems within PyTorch float32's own error). Calls that give their work are
 * judged by it instead (`FAST_MIN_WORK`).
 */
export const EXACT_BELOW = 4096;

/**
 * The multiply-adds from which a fast kernel's call beats the reference kernel's plain loops, with the weights
 * prepared (packed once): measured with `npm run bench -- --crossover`, the native kernel was as fast as the
 * reference at about 300 multiply-adds per call (an RNN step of N 1, I 8, H 8) and 4-40x faster from 2^12 on.
 */
export const FAST_MIN_WORK = 4096;

/** The work from which a fast kernel with this `exactBelow` takes a call: 0 (every call) when it is 0. */
export function minWorkFor(exactBelow: number): number {
  return exactBelow === 0 ? 0 : FAST_MIN_WORK;
}

/**
 * A fast float32 kernel's `scratch`: float32 buffers for float32 models when the call that fills them has at least
 * `minWork` multiply-adds (or, said by no work, at least `exactBelow` elements), so that the call stays in the
 * fast kernel; the reference kernel's float64 scratch otherwise (which sends every call of that layer to the
 * reference).
 */
export function float32Scratch(exactBelow: number): (like: FloatArray, length: number, work?: number) => FloatArray {
  const minWork = minWorkFor(exactBelow);
  return (like, length, work) =>
    like instanceof Float32Array && (work === undefined ? length >= exactBelow : work >= minWork)
      ? new Float32Array(length)
      : referenceKernel.scratch(like, length);
}

/** `a` as float32: itself, or a rounded copy; null stays null. */
export function readF32(a: FloatArray | null): Float32Array | null {
  if (a === null || a instanceof Float32Array) return a;
  return Float32Array.from(a);
}

/**
 * A float32 buffer to accumulate into in place of `target`, and `flush` to call after: `target` itself when it
 * is float32, else zeros whose values `flush` adds into `target`.
 */
export function sinkF32(target: FloatArray): [Float32Array, () => void];
/** A null target (an optional gradient not asked for) stays null, with nothing to flush. */
export function sinkF32(target: FloatArray | null): [Float32Array | null, () => void];
export function sinkF32(target: FloatArray | null): [Float32Array | null, () => void] {
  if (target === null || target instanceof Float32Array) return [target, () => {}];
  const buf = new Float32Array(target.length);
  return [
    buf,
    () => {
      for (let i = 0; i < buf.length; i++) target[i] = (target[i] as number) + (buf[i] as number);
    },
  ];
}
