/**
 * Gradient clipping by total norm, as torch.nn.utils.clip_grad_norm_ (1.13): the norm of all gradients together,
 * as if concatenated into one vector, and every gradient scaled by min(1, maxNorm / (norm + 1e-6)).
 */
import { RnnError } from '../errors.js';
import type { FloatArray } from '../tensor.js';
import type { Param } from './optim.js';
import { optimKernel } from './optim-kernel.js';

export interface ClipOptions {
  /** The p of the p-norm: any positive number, or Infinity for the largest absolute value. Default 2. */
  normType?: number;
  /** Throw when the total norm is NaN or infinite instead of scaling by it. Default false, as PyTorch. */
  errorIfNonfinite?: boolean;
}

/**
 * Elements per block of the 2-norm's sum: each block summed in 8 float64 lanes (element j into lane j % 8, the
 * lanes added pairwise), the blocks in order - native/optim.h's order (OPTIM_BLOCK), so the kernels' sums of
 * squares are these bit for bit.
 */
const NORM_BLOCK = 1 << 16;

/** The sum of squares of `data` in float64, in native/optim.h's order. */
export function sumSquares(data: FloatArray): number {
  let total = 0;
  const lanes = new Float64Array(8);
  for (let j0 = 0; j0 < data.length; j0 += NORM_BLOCK) {
    const j1 = Math.min(data.length, j0 + NORM_BLOCK);
    lanes.fill(0);
    for (let j = j0; j < j1; j++) {
      const x = data[j] as number;
      lanes[(j - j0) & 7] += x * x;
    }
    const [a0, a1, a2, a3, a4, a5, a6, a7] = lanes as unknown as number[];
    total += a0 + a1 + (a2 + a3) + (a4 + a5 + (a6 + a7));
  }
  return total;
}

/** The p-norm of one array, summed in float64. */
function norm(data: FloatArray, p: number): number {
  if (p === Number.POSITIVE_INFINITY) {
    let m = 0;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i] as number);
      if (a > m || Number.isNaN(a)) m = a;
    }
    return m;
  }
  let s = 0;
  if (p === 2) return Math.sqrt(sumSquares(data));
  for (let i = 0; i < data.length; i++) s += Math.abs(data[i] as number) ** p;
  return s ** (1 / p);
}

/**
 * Scales the gradients of `params` in place so that their total `normType`-norm is at most `maxNorm`, and returns
 * the total norm before clipping. Parameters whose gradient is null are left out, as PyTorch leaves out
 * `p.grad is None`; with none at all the result is 0.
 *
 * Like PyTorch, the total is the norm of the per-gradient norms, computed in the gradients' dtype (the first
 * gradient's), and the gradients are multiplied even when the factor is 1.
 */
export function clipGradNorm(params: readonly Param[], maxNorm: number, options: ClipOptions = {}): number {
  const p = options.normType ?? 2;
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) {
    throw new RnnError('invalid_argument', `clipGradNorm: maxNorm must be a number, got ${String(maxNorm)}`, {
      expected: 'number',
      got: maxNorm,
    });
  }
  if (typeof p !== 'number' || !(p > 0)) {
    throw new RnnError(
      'invalid_argument',
      `clipGradNorm: normType must be a positive number or Infinity, got ${String(p)}`,
      {
        expected: '> 0',
        got: p,
      },
    );
  }
  const grads = params.map((q) => q.grad).filter((g) => g !== null);
  const first = grads[0];
  if (first === undefined) return 0;
  const r = first.dtype === 'float32' ? Math.fround : (x: number) => x;
  // float32 2-norms: the sums of squares (and the scaling below) in the kernel, threaded, the same floats
  const kernel = p === 2 && grads.every((g) => g.data instanceof Float32Array) ? optimKernel() : null;
  const data32 = kernel ? grads.map((g) => g.data as Float32Array) : [];
  let norms: Float64Array;
  if (kernel) {
    norms = new Float64Array(grads.length);
    kernel.sumSquares(data32, norms);
    for (let i = 0; i < norms.length; i++) norms[i] = r(Math.sqrt(norms[i] as number));
  } else {
    norms = Float64Array.from(grads, (g) => r(norm(g.data, p)));
  }
  const total = r(norm(norms, p));
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new RnnError(
      'invalid_argument',
      `The total norm of order ${p} for gradients from \`parameters\` is non-finite, so it cannot be clipped`,
      {
        expected: 'a finite norm',
        got: total,
        hint: 'set errorIfNonfinite: false to scale by the non-finite norm anyway',
      },
    );
  }
  // max_norm / tensor is reciprocal-then-multiply in PyTorch, each in the tensor's dtype.
  const coef = Math.min(r(r(1 / r(total + r(1e-6))) * maxNorm), 1);
  if (kernel) {
    kernel.scale(data32, coef);
    return total;
  }
  for (const g of grads) {
    const d = g.data;
    for (let i = 0; i < d.length; i++) d[i] = (d[i] as number) * coef;
  }
  return total;
}
