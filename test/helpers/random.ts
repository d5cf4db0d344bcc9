/** Random test inputs from the library's own PyTorch-compatible generator, so every case is reproducible. */
import type { Generator } from '../../src/random.js';

/** n float32 values uniform in [-scale, scale). */
export function uniform(g: Generator, n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  g.uniform(a, -scale, scale);
  return a;
}

/** An integer uniform in lo..hi, both included. */
export function int(g: Generator, lo: number, hi: number): number {
  return lo + Math.floor(g.nextDouble() * (hi - lo + 1));
}
