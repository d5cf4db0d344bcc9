/**
 * Seeded random numbers that reproduce PyTorch 1.13's CPU generator bit for bit.
 *
 * `new Generator(s)` is `torch.manual_seed(s)`, and each method is one torch call on the global generator:
 * `uniform` is `Tensor.uniform_` (so `torch.rand`, and `nn.init.uniform_` as nn.RNN's reset_parameters uses it),
 * `normal` is `Tensor.normal_` (so `torch.randn`). State carries across calls as in torch: after
 * `g = new Generator(0)`, `g.normal(a3)` then `g.normal(a5)` equals `torch.manual_seed(0); torch.randn(3);
 * torch.randn(5)`. A Float32Array stands for a float32 tensor and a Float64Array for a float64 one; the two
 * draw differently, as in torch.
 *
 * The engine is mt19937 (ATen/core/MT19937RNGEngine.h); on top of it torch has three samplers, each reproduced
 * here with its exact rounding (see src/random_math.ts for the arithmetic):
 * - uniform: one 32-bit draw per float32 (24 bits used) and two per float64 (53 bits), then x*(to-from) + from
 *   fused into one rounding (ATen/core/TransformationHelper.h uniform_real).
 * - normal, fewer than 16 elements: Box-Muller in double, one pair per two samples; the second of each pair is
 *   cached in the generator for the next sample, whatever the call or dtype (ATen/core/DistributionsHelper.h).
 * - normal, 16 or more: all uniforms first, then Box-Muller in blocks of 16 pairing element j with j + 8, and a
 *   last block drawn afresh over the final 16 elements when the count is not a multiple of 16
 *   (ATen/native/cpu/DistributionTemplates.h normal_fill). Float32 uses torch's AVX2 kernel.
 *
 * Exactness is to torch 1.13 on x86-64 Linux with glibc 2.36 on a CPU with AVX2 and FMA, where torch's
 * CPU capability is AVX2 (`torch.__config__.show()`). torch itself gives other bits elsewhere: its non-AVX2
 * kernels round x*(to-from) + from in two steps and use a scalar float32 normal, and another C library has
 * another log and sincos. `torch.rand` (bounds 0 and 1, where the rounding is exact) is the same everywhere.
 */

import type { FloatArray } from './dtype.js';
import { RnnError } from './errors.js';
import { avxLogf, avxSinCosf, fma, fmaf, libmLog, libmSinCos } from './random_math.js';

const N = 624; // mt19937 state words
const M = 397;
const TWO_PI = 2 * Math.PI; // torch's 2.0 * c10::pi<double>, exact doubling
const TWO_PI_F = Math.fround(TWO_PI); // _mm256_set1_ps(2.0f * c10::pi<double>)
const FLOAT_MAX = 3.4028234663852886e38;
const SIN_COS = new Float64Array(2);
const SIN_COS_F = new Float32Array(2);

export class Generator {
  private readonly mt = new Uint32Array(N);
  private index = N;
  /** torch's next_double_normal_sample: the unused half of the last Box-Muller pair, if any. */
  private cachedNormal: number | undefined;

  /**
   * Like `torch.manual_seed(seed)`. mt19937 is seeded with the low 32 bits of the seed as a two's complement
   * 64-bit integer, as torch does, so -1 and 2^32 - 1 give the same stream. Accepts integers in
   * [-2^63, 2^64) like torch, as a number or a bigint.
   */
  constructor(seed: number | bigint) {
    const big = typeof seed === 'bigint' ? seed : Number.isInteger(seed) ? BigInt(seed) : undefined;
    if (big === undefined || big < -(2n ** 63n) || big >= 2n ** 64n) {
      throw new RnnError('invalid_argument', `manual_seed expected an integer in [-2^63, 2^64), got ${String(seed)}`, {
        expected: 'integer in [-2^63, 2^64)',
        got: seed,
      });
    }
    this.mt[0] = Number(BigInt.asUintN(32, big));
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] as number;
      this.mt[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i;
    }
  }

  /** The next raw 32-bit output of mt19937: torch's `CPUGeneratorImpl::random()`. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++] as number;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Regenerates all 624 state words at once (Matsumoto and Nishimura's recurrence). */
  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = ((mt[i] as number) & 0x80000000) | ((mt[i + 1 === N ? 0 : i + 1] as number) & 0x7fffffff);
      mt[i] = (mt[i + M < N ? i + M : i + M - N] as number) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /**
   * A double uniform on [0, 1) exactly as torch draws one for a float64 tensor (`torch.rand(1, dtype=float64)`):
   * two 32-bit outputs form a 64-bit word (first one high), of which the low 53 bits are scaled by 2^-53.
   */
  nextDouble(): number {
    const hi = this.nextUint32() & 0x1fffff;
    return (hi * 4294967296 + this.nextUint32()) / 9007199254740992;
  }

  /** A float32 uniform on [0, 1) as torch draws one for a float32 tensor: the low 24 bits of one output, / 2^24. */
  private nextFloat(): number {
    return (this.nextUint32() & 0xffffff) / 16777216;
  }

  /**
   * Fills `out` with samples uniform on [low, high), exactly `t.uniform_(low, high)` for a tensor of the same
   * dtype (float32 rounds the bounds to float32 first and computes in float32, as torch does).
   */
  uniform(out: FloatArray, low: number, high: number): void {
    const single = out instanceof Float32Array;
    checkUniformBounds(low, high, single);
    if (single) {
      const from = Math.fround(low);
      const width = Math.fround(Math.fround(high) - from);
      for (let i = 0; i < out.length; i++) out[i] = fmaf(this.nextFloat(), width, from);
    } else {
      const width = high - low;
      for (let i = 0; i < out.length; i++) out[i] = fma(this.nextDouble(), width, low);
    }
  }

  /**
   * Fills `out` with normal samples of the given mean and standard deviation, exactly `t.normal_(mean, std)`
   * (and `torch.randn` for mean 0, std 1) for a tensor of the same dtype and length.
   */
  normal(out: FloatArray, mean: number, std: number): void {
    if (!(std >= 0)) {
      throw new RnnError('invalid_argument', `normal expects std >= 0.0, but found std ${std}`, {
        expected: 'std >= 0',
        got: std,
      });
    }
    if (out.length < 16) {
      for (let i = 0; i < out.length; i++) out[i] = fma(this.standardNormal(), std, mean);
    } else if (out instanceof Float32Array) {
      this.normalFill(
        out,
        () => this.nextFloat(),
        (o) => boxMuller16Float32(out, o, Math.fround(mean), Math.fround(std)),
      );
    } else {
      this.normalFill(
        out,
        () => this.nextDouble(),
        (o) => boxMuller16Float64(out, o, mean, std),
      );
    }
  }

  /** torch's normal_distribution<double>: Box-Muller on two double uniforms, keeping r sin(theta) for next time. */
  private standardNormal(): number {
    const cached = this.cachedNormal;
    if (cached !== undefined) {
      this.cachedNormal = undefined;
      return cached;
    }
    const u1 = this.nextDouble();
    const u2 = this.nextDouble();
    const r = Math.sqrt(-2 * libmLog(1 - u2));
    libmSinCos(TWO_PI * u1, SIN_COS);
    this.cachedNormal = r * (SIN_COS[0] as number);
    return r * (SIN_COS[1] as number);
  }

  /**
   * torch's normal_fill: every element gets a uniform first; blocks of 16 are then transformed in place; a
   * length that is not a multiple of 16 ends with fresh uniforms over the last 16 elements, transformed again
   * (overwriting part of the previous block).
   */
  private normalFill(out: FloatArray, uniform: () => number, block: (offset: number) => void): void {
    const n = out.length;
    for (let i = 0; i < n; i++) out[i] = uniform();
    for (let o = 0; o + 16 <= n; o += 16) block(o);
    if (n % 16 !== 0) {
      for (let i = n - 16; i < n; i++) out[i] = uniform();
      block(n - 16);
    }
  }

  /**
   * Fills `out` with 0 or `scale`, keeping each element with probability 1 - p: dropout's keep mask. The keeps
   * are `t.bernoulli_(1 - p)` as torch draws it without MKL (keep when a double uniform is below 1 - p), which is
   * how dropout draws on torch builds without MKL, like this machine's, or on non-Intel CPUs; builds with MKL
   * on Intel CPUs draw dropout's mask through MKL instead.
   */
  bernoulliMask(out: FloatArray, p: number, scale: number): void {
    if (!(p >= 0 && p <= 1)) {
      throw new RnnError('invalid_argument', `dropout probability has to be between 0 and 1, but got ${p}`, {
        expected: '0 <= p <= 1',
        got: p,
      });
    }
    const keep = 1 - p;
    for (let i = 0; i < out.length; i++) out[i] = this.nextDouble() < keep ? scale : 0;
  }
}

/** uniform_'s checks, in its words: both bounds finite in the dtype, from <= to, and to - from not overflowing. */
function checkUniformBounds(low: number, high: number, single: boolean): void {
  const kind = single ? 'float' : 'double';
  const max = single ? FLOAT_MAX : Number.MAX_VALUE;
  if (!(low >= -max && low <= max))
    throw new RnnError('invalid_argument', `from is out of bounds for ${kind}`, { got: low });
  if (!(high >= -max && high <= max))
    throw new RnnError('invalid_argument', `to is out of bounds for ${kind}`, { got: high });
  const range = { from: low, to: high };
  if (!(low <= high)) {
    const message = `uniform_ expects to return a [from, to) range, but found from=${low} > to=${high}`;
    throw new RnnError('invalid_argument', message, { expected: 'from <= to', got: range });
  }
  if (high - low > max) {
    const message = `uniform_ expects to-from <= the largest ${kind}, but found to=${high} and from=${low}`;
    throw new RnnError('invalid_argument', message, { got: range });
  }
}

/**
 * normal_fill_16 for float64: uniforms u1 = 1 - d[j] (so log never sees 0) and u2 = d[j + 8] become
 * r cos(theta) at j and r sin(theta) at j + 8, with glibc's log and sincos, then * std + mean in one rounding.
 */
function boxMuller16Float64(d: Float64Array, o: number, mean: number, std: number): void {
  for (let j = o; j < o + 8; j++) {
    const radius = Math.sqrt(-2 * libmLog(1 - (d[j] as number)));
    libmSinCos(TWO_PI * (d[j + 8] as number), SIN_COS);
    d[j] = fma(radius * (SIN_COS[1] as number), std, mean);
    d[j + 8] = fma(radius * (SIN_COS[0] as number), std, mean);
  }
}

/** normal_fill_16_AVX2: the same transform in float32, with avx_mathfun's log and sincos (one lane at a time). */
function boxMuller16Float32(d: Float32Array, o: number, mean: number, std: number): void {
  const f = Math.fround;
  for (let j = o; j < o + 8; j++) {
    const radius = f(Math.sqrt(f(-2 * avxLogf(f(1 - (d[j] as number))))));
    avxSinCosf(f(TWO_PI_F * (d[j + 8] as number)), SIN_COS_F);
    d[j] = fmaf(f(radius * (SIN_COS_F[1] as number)), std, mean);
    d[j + 8] = fmaf(f(radius * (SIN_COS_F[0] as number)), std, mean);
  }
}
