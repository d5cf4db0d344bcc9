/**
 * Seeded random numbers (Mersenne Twister mt19937, the engine PyTorch's CPU generator uses).
 */
import type { FloatArray } from './tensor.js';

const N = 624;
const M = 397;

export class Generator {
  private readonly mt = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = (this.mt[i - 1] as number) ^ ((this.mt[i - 1] as number) >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next raw 32-bit output. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = ((mt[i] as number) & 0x80000000) | ((mt[(i + 1) % N] as number) & 0x7fffffff);
      let v = (mt[(i + M) % N] as number) ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[i] = v >>> 0;
    }
    this.index = 0;
  }

  /** A double uniform on [0, 1) with 53 random bits. */
  nextDouble(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Fills `out` with samples uniform on [low, high). */
  uniform(out: FloatArray, low: number, high: number): void {
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.nextDouble();
  }

  /** Fills `out` with normal samples (Box-Muller). */
  normal(out: FloatArray, mean: number, std: number): void {
    for (let i = 0; i < out.length; i += 2) {
      const u1 = 1 - this.nextDouble();
      const u2 = this.nextDouble();
      const r = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * r * Math.cos(2 * Math.PI * u2);
      if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * u2);
    }
  }

  /** Fills `out` with 0 or `scale`: each element kept with probability 1 - p (dropout's mask). */
  bernoulliMask(out: FloatArray, p: number, scale: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.nextDouble() < p ? 0 : scale;
  }
}
