/** Watching which kernel does the work: a fast kernel hands what it does not take to the reference kernel. */
import type { Kernel } from '../../src/kernels/kernel.js';
import { referenceKernel } from '../../src/kernels/reference.js';

const CALLS = ['linear', 'recurrence', 'linearBackward', 'recurrenceBackward'] as const;

/**
 * Runs `fn` and returns how many calls reached the reference kernel's linear, recurrence, linearBackward and
 * recurrenceBackward meanwhile. The fast kernels hand work over by calling `referenceKernel.<name>`, so its
 * methods are wrapped for the duration (and restored even when `fn` throws).
 */
export function referenceCalls(fn: () => void): number {
  const target = referenceKernel as unknown as Record<string, (...args: unknown[]) => unknown>;
  const saved = CALLS.map((name) => referenceKernel[name]);
  let calls = 0;
  CALLS.forEach((name, i) => {
    const original = saved[i] as unknown as (...args: unknown[]) => unknown;
    target[name] = (...args) => {
      calls++;
      return original(...args);
    };
  });
  try {
    fn();
  } finally {
    CALLS.forEach((name, i) => {
      (referenceKernel as unknown as Record<string, unknown>)[name] = saved[i];
    });
  }
  return calls;
}

/** `kernel` counting the stacks its `layers` ran rather than declined. */
export function countingLayers(kernel: Kernel): { kernel: Kernel; ran: () => number } {
  let ran = 0;
  const counted: Kernel = {
    ...kernel,
    layers(a) {
      const took = kernel.layers?.(a) ?? false;
      ran += took ? 1 : 0;
      return took;
    },
  };
  return { kernel: counted, ran: () => ran };
}

/**
 * The steps of one chunk of the native layer wavefront for N rows (native/addon.cc's CH: about 16 rows): a stack
 * of at most this many steps has nothing to overlap, and the kernel runs it layer by layer.
 */
export function oneChunk(N: number): number {
  return N >= 16 ? 1 : Math.floor(16 / N);
}
