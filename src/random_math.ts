/**
 * The floating-point functions behind PyTorch's normal sampler, repeated step for step so JavaScript gets the
 * same bits.
 *
 * `Math.log`, `Math.sin` and `Math.cos` are accurate, but they are not the functions torch calls: they differ
 * from glibc's in the last bit for a few percent of arguments, and one differing bit is a different sample. So
 * this file carries three families, each written after the machine code torch 1.13 runs on x86-64 Linux:
 *
 * - `fma` / `fmaf`: a*b + c rounded once. GCC compiled torch's kernels and glibc's FMA variants with
 *   contraction on, so most `a * b + c` there is one fused instruction, and we must round where it rounds.
 * - `libmLog`, `libmSinCos`: glibc 2.36's `log` and `sincos` as its FMA variants compute them (chosen at load
 *   time on CPUs with FMA and AVX2), with glibc's tables from src/random_tables.ts. Used for float64 tensors and
 *   for tensors of fewer than 16 elements.
 * - `avxLogf`, `avxSinCosf`: one lane of `log256_ps` / `sincos256_ps` from torch's avx_mathfun.h, float32
 *   Cephes polynomials, used by torch's AVX2 kernel for float32 tensors of 16 or more elements.
 *
 * Where an argument is exact either way (a product by 0.5, or by a constant with few bits), fused and unfused
 * agree, and we use whichever reads better.
 */
import { LOG_LN2HI, LOG_LN2LO, LOG_POLY, LOG_POLY1, LOG_TABLE, SINCOS_TABLE } from './random_tables.js';

// Scratch views for reading and writing the bits of a double and of a float.
const F64 = new Float64Array(1);
const W32 = new Uint32Array(F64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const LO = LITTLE ? 0 : 1; // index of the low 32 bits of F64[0] in W32
const HI = 1 - LO;
const F32 = new Float32Array(1);
const B32 = new Uint32Array(F32.buffer);
const f = Math.fround;

/**
 * x + y rounded to odd: exact if representable, else whichever neighbour has an odd last bit. Rounding the
 * exact sum to odd and then to nearest is the same as rounding it to nearest once (Boldo and Melquiond,
 * "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd", 2008), which is what
 * lets `fma` and `fmaf` below round once using ordinary double arithmetic.
 */
function addRoundToOdd(x: number, y: number): number {
  const s = x + y;
  const v = s - x;
  const err = x - (s - v) + (y - v); // exact: s + err === x + y (TwoSum)
  if (err === 0) return s;
  F64[0] = s;
  if ((W32[LO] as number) & 1) return s;
  if (err > 0 === s > 0) {
    W32[LO] = (W32[LO] as number) + 1; // even, so no carry
  } else if (W32[LO] === 0) {
    W32[LO] = 0xffffffff;
    W32[HI] = (W32[HI] as number) - 1;
  } else {
    W32[LO] = (W32[LO] as number) - 1;
  }
  return F64[0] as number;
}

const SPLIT = 134217729; // 2^27 + 1: splits a double into two 26-bit halves (Veltkamp)

/**
 * a*b + c with one rounding, like C's `fma`. Exact for the magnitudes used here (no product below about
 * 2^-960 or above 2^995); outside those, or for non-finite values, it falls back to a*b + c.
 */
export function fma(a: number, b: number, c: number): number {
  const p = a * b;
  if (p === 0 || !Number.isFinite(p) || !Number.isFinite(c)) return p + c;
  let t = SPLIT * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLIT * b;
  const bh = t - (t - b);
  const bl = b - bh;
  const pl = ah * bh - p + ah * bl + al * bh + al * bl; // exact: p + pl === a*b (Dekker)
  if (!Number.isFinite(pl)) return p + c; // a or b near overflow: the split itself overflowed
  const s = c + p;
  const v = s - c;
  const sl = c - (s - v) + (p - v); // exact: s + sl === c + p
  return s + addRoundToOdd(sl, pl);
}

/** fmaf: a*b + c for float32 a, b, c, with one rounding to float32. The product is exact in a double. */
export function fmaf(a: number, b: number, c: number): number {
  return f(addRoundToOdd(a * b, c));
}

// ---- glibc 2.36 log (sysdeps/ieee754/dbl-64/e_log.c, FMA variant) ----

const [A0, A1, A2, A3, A4] = LOG_POLY as [number, number, number, number, number];
const b = (i: number): number => LOG_POLY1[i] as number;

/** log(x) as glibc computes it, for positive normal x (torch calls it on 1 - u, u uniform on [0, 1)). */
export function libmLog(x: number): number {
  if (x >= 0.9375 && x < 1.064697265625) {
    // Near 1 a polynomial in r = x - 1 replaces the table:
    // log x = r - r^2/2 + r^3 (B1 + r B2 + r^2 B3 + r^3 (B4 + r B5 + r^2 B6 + r^3 (B7 + r B8 + r^2 B9 + r^3 B10))),
    // with r - r^2/2 carried in two parts (hi + lo) for the extra bits.
    if (x === 1) return 0;
    const r = x - 1;
    const r2 = r * r;
    const r3 = r * r2;
    const q3 = fma(r3, b(10), fma(r2, b(9), fma(r, b(8), b(7))));
    const q2 = fma(q3, r3, fma(r2, b(6), fma(r, b(5), b(4))));
    const p = fma(q2, r3, fma(r2, b(3), fma(r, b(2), b(1))));
    const w = r * 134217728; // 2^27: rhi keeps the top 26 bits of r, so rhi*rhi is exact
    const rhi = r + w - w;
    const rlo = r - rhi;
    const half = rhi * rhi * b(0); // b(0) = -0.5
    const hi = r + half;
    const lo = fma(b(0) * rlo, rhi + r, r - hi + half);
    return fma(p, r3, lo) + hi;
  }
  // x = 2^k z with z in [0x1.6p-1, 0x1.6p0); z falls in one of 128 subintervals i with centre c:
  // log(x) = k ln2 + log(c) + log1p(r), r = z/c - 1.
  F64[0] = x;
  const top = ((W32[HI] as number) - 0x3fe60000) | 0; // high word of asuint64(x) - asuint64(0x1.6p-1)
  const i = (top >>> 13) & 127;
  const k = top >> 20;
  W32[HI] = (W32[HI] as number) - (top & 0xfff00000);
  const z = F64[0] as number;
  const r = fma(z, LOG_TABLE[2 * i] as number, -1);
  const w = fma(k, LOG_LN2HI, LOG_TABLE[2 * i + 1] as number);
  const hi = w + r;
  const lo = fma(k, LOG_LN2LO, w - hi + r);
  const r2 = r * r;
  const p = fma(fma(r, A4, A3), r2, fma(r, A2, A1));
  return fma(r * r2, p, fma(r2, A0, lo)) + hi;
}

// ---- glibc 2.36 sincos (sysdeps/ieee754/dbl-64/s_sincos.c and s_sin.c, IBM's, FMA variant) ----

// sin(a) ~ a + a^3 (S1 + a^2 (S2 + ...)) for |a| < 0.126; SN*, CS* are short series for the table remainder.
const S1 = -0.16666666666666666;
const S2 = 0.008333333333332329;
const S3 = -0.00019841269834414642;
const S4 = 2.755729806860771e-6;
const S5 = -2.5022014848318398e-8;
const SN3 = -0.16666666666666488;
const SN5 = 0.008333332142857223;
const CS2 = 0.5;
const CS4 = -0.04166666666666644;
const CS6 = 0.001388888740079376;
const BIG = 52776558133248; // 1.5 * 2^45: adding it rounds |x| to a multiple of 1/128 and leaves the index in the low bits
const HP0 = 1.5707963267948966; // pi/2 = HP0 + HP1
const HP1 = 6.123233995736766e-17;
const HPINV = 0.6366197723675814; // 2/pi
const TOINT = 6755399441055744; // 1.5 * 2^52: adding it rounds to an integer
const MP1 = 1.5707963407039642; // pi/2 = MP1 + MP2 + PP3 + PP4, each short enough that xn * it is exact
const MP2 = -1.3909067564377153e-8;
const PP3 = -4.97899623147991e-17;
const PP4 = -1.9034889620193266e-25;

function copySign(v: number, s: number): number {
  return (v < 0 || Object.is(v, -0)) !== (s < 0 || Object.is(s, -0)) ? -v : v;
}

/** Splits ax >= 0 into the nearest table point i/128 and the remainder: returns the remainder, sets `row` to 4i. */
let row = 0;
function reduceToTable(ax: number): number {
  F64[0] = BIG + ax;
  row = (W32[LO] as number) << 2;
  return ax - ((F64[0] as number) - BIG);
}

function taylorSin(a: number, da: number): number {
  const xx = a * a;
  const p = fma(fma(fma(fma(S5, xx, S4), xx, S3), xx, S2), xx, S1);
  return a + fma(xx, fma(p, a, -0.5 * da), da);
}

/** sin(x + dx) for |x| < 0.855: sin(u + t) = sin u cos t + cos u sin t with u from the table. */
function doSin(x: number, dx: number): number {
  if (Math.abs(x) < 0.126) return taylorSin(x, dx);
  const d = x <= 0 ? -dx : dx;
  const t = reduceToTable(Math.abs(x));
  const xx = t * t;
  const s = t + fma(t * xx, fma(xx, SN5, SN3), d); // ~ sin(t + d)
  const c = fma(d, t, xx * fma(fma(xx, CS6, CS4), xx, CS2)); // ~ 1 - cos(t + d)
  const sn = SINCOS_TABLE[row] as number;
  const ssn = SINCOS_TABLE[row + 1] as number;
  const cs = SINCOS_TABLE[row + 2] as number;
  const ccs = SINCOS_TABLE[row + 3] as number;
  return copySign(sn + fma(s, cs, fma(-c, sn, fma(s, ccs, ssn))), x);
}

/** cos(x + dx) for |x| < 0.855: cos(u + t) = cos u cos t - sin u sin t. */
function doCos(x: number, dx: number): number {
  const d = x < 0 ? -dx : dx;
  const t = reduceToTable(Math.abs(x)) + d;
  const xx = t * t;
  const s = fma(t * xx, fma(xx, SN5, SN3), t); // ~ sin t
  const c = xx * fma(fma(xx, CS6, CS4), xx, CS2); // ~ 1 - cos t
  const sn = SINCOS_TABLE[row] as number;
  const ssn = SINCOS_TABLE[row + 1] as number;
  const cs = SINCOS_TABLE[row + 2] as number;
  const ccs = SINCOS_TABLE[row + 3] as number;
  return cs + fma(-s, sn, fma(-cs, c, fma(-s, ssn, ccs)));
}

/**
 * Writes sin(x) to out[0] and cos(x) to out[1] as glibc's `sincos` computes them (torch calls `sin` and `cos`
 * of the same angle, which GCC merges into one `sincos` call). For |x| < 105414350; torch's angles are in
 * [0, 2 pi).
 */
export function libmSinCos(x: number, out: Float64Array): void {
  F64[0] = x;
  const k = (W32[HI] as number) & 0x7fffffff;
  if (k < 0x3e400000) {
    out[0] = x; // |x| < 2^-27
    out[1] = 1;
  } else if (k < 0x3feb6000) {
    out[0] = doSin(x, 0); // |x| < 0.855469
    out[1] = doCos(x, 0);
  } else if (k < 0x400368fd) {
    const y = HP0 - Math.abs(x); // |x| < 2.426265: use pi/2 - |x|, kept as a + da
    const a = y + HP1;
    const da = y - a + HP1;
    out[0] = copySign(doCos(a, da), x);
    out[1] = doSin(a, da);
  } else {
    // Subtract the nearest multiple n of pi/2 in four exact pieces, keeping the result as a + da.
    const t = fma(x, HPINV, TOINT);
    const xn = t - TOINT;
    F64[0] = t;
    const n = (W32[LO] as number) & 3;
    const y = fma(-xn, MP2, fma(-xn, MP1, x));
    const t2 = fma(-xn, PP3, y);
    const b1 = fma(-xn, PP4, t2);
    let a = b1;
    let da = fma(-xn, PP3, y - t2) + fma(-xn, PP4, t2 - b1);
    if (n === 1 || n === 2) {
      a = -a;
      da = -da;
    }
    const s = doSin(a, da);
    const c = n & 2 ? -doCos(a, da) : doCos(a, da);
    out[n & 1] = s; // odd quadrants swap the roles of sin and cos
    out[1 - (n & 1)] = c;
  }
}

// ---- torch's avx_mathfun.h, one float32 lane, as compiled into its AVX2 normal kernel ----

const SQRTHF = f(Math.SQRT1_2);
const LOG_P = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(f);
const LOG_Q1 = f(-2.1219444e-4);
const LOG_Q2 = f(0.693359375);

/** Cephes logf: for positive normal float32 x (torch passes 1 - u, u a float32 uniform on [0, 1)). */
export function avxLogf(x: number): number {
  F32[0] = x;
  const bits = B32[0] as number;
  let e = (bits >>> 23) - 127 + 1;
  B32[0] = (bits & 0x807fffff) | 0x3f000000; // mantissa m in [0.5, 1)
  const m = F32[0] as number;
  // For m < sqrt(1/2) use 2m - 1 and e - 1, so the polynomial's argument stays in [sqrt(1/2) - 1, sqrt(2) - 1).
  const t = f(f(m - 1) + (m < SQRTHF ? m : 0));
  if (m < SQRTHF) e -= 1;
  const z = f(t * t);
  let y = LOG_P[0] as number;
  for (let i = 1; i < 9; i++) y = fmaf(t, y, LOG_P[i] as number);
  y = fmaf(f(t * y), z, f(e * LOG_Q1));
  y = fmaf(-z, 0.5, y);
  return fmaf(e, LOG_Q2, f(t + y));
}

const FOPI = f(1.27323954473516); // 4 / pi
const DP1 = f(-0.78515625); // -pi/4 = DP1 + DP2 + DP3
const DP2 = f(-0.00024187564849853516);
const DP3 = f(-3.774894977445941e-8);
const SINCOF_P0 = f(-1.9515295891e-4);
const SINCOF_P1 = f(8.3321608736e-3);
const SINCOF_P2 = f(-1.6666654611e-1);
const COSCOF_P0 = f(2.443315711809948e-5);
const COSCOF_P1 = f(-1.388731625493765e-3);
const COSCOF_P2 = f(4.166664568298827e-2);

/** Cephes sinf and cosf of float32 x, to out[0] and out[1]; accurate for |x| < 8192 (torch's are in [0, 2 pi)). */
export function avxSinCosf(x: number, out: Float32Array): void {
  const ax = Math.abs(x);
  // Octant j (made even) of |x|, then |x| - j pi/4 in three exact-product steps.
  const j = (Math.trunc(f(ax * FOPI)) + 1) & ~1;
  const t = fmaf(j, DP3, fmaf(j, DP2, fmaf(j, DP1, ax)));
  const z = f(t * t);
  let cos = fmaf(fmaf(z, COSCOF_P0, COSCOF_P1), z, COSCOF_P2);
  cos = f(fmaf(f(z * cos), z, -f(z * 0.5)) + 1);
  let sin = fmaf(SINCOF_P0, z, SINCOF_P1);
  sin = fmaf(f(z * fmaf(z, sin, SINCOF_P2)), t, t);
  const swap = (j & 2) !== 0; // in octants 2 and 6 (mod 8) the two polynomials trade places
  const negSin = (x < 0 || Object.is(x, -0)) !== ((j & 4) !== 0);
  const negCos = ((j - 2) & 4) === 0;
  const s = swap ? cos : sin;
  const c = swap ? sin : cos;
  out[0] = negSin ? -s : s;
  out[1] = negCos ? -c : c;
}
