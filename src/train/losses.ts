/**
 * Losses as forward/backward pairs, F.mse_loss and F.cross_entropy: each forward returns the loss as a number,
 * each backward the gradient of `gradLoss * loss` with respect to the input, in the input's dtype.
 *
 * Sums run in float64 whatever the dtype, so a float64 loss matches PyTorch's to rounding.
 */
import { checkArgument, formatSizeList, isObject, RnnError } from '../errors.js';
import { allocate, Tensor } from '../tensor.js';

/** How per-element (or per-row) losses become one number, as PyTorch's `reduction` argument. */
export type Reduction = 'mean' | 'sum';

export interface CrossEntropyOptions {
  /** Default 'mean': the average over rows whose target is not `ignoreIndex`. */
  reduction?: Reduction;
  /** Rows with this target add nothing to the loss or the count, and get zero gradient. Default -100, as PyTorch. */
  ignoreIndex?: number;
}

function checkReduction(value: unknown): Reduction {
  if (value !== 'mean' && value !== 'sum') {
    throw new RnnError('invalid_argument', `${String(value)} is not a valid value for reduction`, {
      expected: ['mean', 'sum'],
      got: value,
    });
  }
  return value;
}

function checkSameShape(input: Tensor, target: Tensor): void {
  checkArgument(input instanceof Tensor, 'input', 'a Tensor', input);
  checkArgument(target instanceof Tensor, 'target', 'a Tensor', target);
  const same = input.ndim === target.ndim && input.shape.every((s, i) => s === target.shape[i]);
  if (!same) {
    throw new RnnError(
      'shape_mismatch',
      `mse_loss: target size ${formatSizeList(target.shape)} must be the same as input size ${formatSizeList(input.shape)}`,
      { expected: input.shape, got: target.shape },
    );
  }
}

/** mean or sum of (input - target)^2 over every element, as `F.mse_loss(input, target, reduction)`. */
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): number {
  checkSameShape(input, target);
  checkReduction(reduction);
  let s = 0;
  for (let i = 0; i < input.numel; i++) {
    const d = (input.data[i] as number) - (target.data[i] as number);
    s += d * d;
  }
  return reduction === 'mean' ? s / input.numel : s;
}

/** d(gradLoss * mseLoss)/d input = gradLoss * 2 (input - target) [/ numel for mean]. */
export function mseLossBackward(input: Tensor, target: Tensor, reduction: Reduction = 'mean', gradLoss = 1): Tensor {
  checkSameShape(input, target);
  checkReduction(reduction);
  // PyTorch's mse_loss_backward: norm * (input - target) * grad_output, with norm = 2/numel or 2.
  const norm = reduction === 'mean' ? 2 / input.numel : 2;
  const grad = allocate(input.dtype, input.numel);
  for (let i = 0; i < input.numel; i++) {
    grad[i] = norm * ((input.data[i] as number) - (target.data[i] as number)) * gradLoss;
  }
  return new Tensor(grad, input.shape);
}

interface CheckedTargets {
  M: number;
  C: number;
  ignoreIndex: number;
  reduction: Reduction;
  /** Rows whose target is not ignored: the divisor of 'mean'. */
  count: number;
}

function checkCrossEntropy(logits: Tensor, targets: ArrayLike<number>, options: CrossEntropyOptions): CheckedTargets {
  checkArgument(logits instanceof Tensor, 'logits', 'a Tensor', logits);
  checkArgument(
    (typeof targets === 'object' && targets !== null && typeof targets.length === 'number') || false,
    'targets',
    'an array of class indices',
    targets,
  );
  checkArgument(isObject(options), 'options', 'an object', options);
  const reduction = checkReduction(options.reduction ?? 'mean');
  const ignoreIndex = options.ignoreIndex ?? -100;
  if (logits.ndim !== 2) {
    throw new RnnError(
      'shape_mismatch',
      `cross_entropy: expected logits of shape (M, C), got ${logits.ndim}-D ${formatSizeList(logits.shape)}`,
      { expected: 2, got: logits.ndim, hint: 'flatten the sequence and batch dimensions into rows first' },
    );
  }
  const [M, C] = logits.shape as [number, number];
  if (targets.length !== M) {
    throw new RnnError(
      'shape_mismatch',
      `cross_entropy: expected ${M} targets (one per row of the logits), got ${targets.length}`,
      { expected: M, got: targets.length },
    );
  }
  let count = 0;
  for (let m = 0; m < M; m++) {
    const t = targets[m] as number;
    if (t === ignoreIndex) continue;
    if (!Number.isInteger(t) || t < 0 || t >= C) {
      throw new RnnError('invalid_argument', `cross_entropy: Target ${t} is out of bounds (row ${m}, ${C} classes)`, {
        expected: `an integer in 0..${C - 1}`,
        got: t,
      });
    }
    count++;
  }
  return { M, C, ignoreIndex, reduction, count };
}

/**
 * `F.cross_entropy(logits, targets)`: the negative log-softmax of each row's target class, averaged over the rows
 * that are not ignored (or summed). Logits (M, C), targets M class indices. A mean over no rows is NaN, as in PyTorch.
 */
export function crossEntropyLoss(
  logits: Tensor,
  targets: ArrayLike<number>,
  options: CrossEntropyOptions = {},
): number {
  const { M, C, ignoreIndex, reduction, count } = checkCrossEntropy(logits, targets, options);
  let s = 0;
  for (let m = 0; m < M; m++) {
    const t = targets[m] as number;
    if (t === ignoreIndex) continue;
    s += crossEntropyRow(logits.data, m * C, C, t, null, 0);
  }
  return reduction === 'mean' ? s / count : s;
}

/**
 * One row's part of the loss, log(sum(exp(row))) - row[t], with `into` (when given) getting
 * (softmax(row) - onehot(t)) * scale: one exp per logit, shifted by the row's maximum so that exp never overflows.
 */
function crossEntropyRow(
  x: Tensor['data'],
  base: number,
  C: number,
  t: number,
  into: Tensor['data'] | null,
  scale: number,
): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let c = 0; c < C; c++) max = Math.max(max, x[base + c] as number);
  let s = 0;
  if (into) {
    for (let c = 0; c < C; c++) {
      const e = Math.exp((x[base + c] as number) - max);
      into[base + c] = e;
      s += e;
    }
    const k = scale / s;
    for (let c = 0; c < C; c++) into[base + c] = (into[base + c] as number) * k - (c === t ? scale : 0);
  } else {
    for (let c = 0; c < C; c++) s += Math.exp((x[base + c] as number) - max);
  }
  return max + Math.log(s) - (x[base + t] as number);
}

/** d(gradLoss * crossEntropyLoss)/d logits = (softmax(row) - onehot(target)) * gradLoss [/ count for mean]. */
export function crossEntropyLossBackward(
  logits: Tensor,
  targets: ArrayLike<number>,
  options: CrossEntropyOptions = {},
  gradLoss = 1,
): Tensor {
  return crossEntropyLossWithGrad(logits, targets, options, gradLoss).grad;
}

/**
 * `crossEntropyLoss` and `crossEntropyLossBackward` in one pass: the loss, and the gradient of `gradLoss * loss`
 * with respect to the logits (M, C), each row's softmax computed once (a training step's loss in a third of the
 * exps of the two calls).
 *
 * @example
 * ```ts
 * const { loss, grad } = crossEntropyLossWithGrad(logits, targets); // logits (M, C), targets M class indices
 * model.backward(grad.reshape(output.shape));
 * ```
 */
export function crossEntropyLossWithGrad(
  logits: Tensor,
  targets: ArrayLike<number>,
  options: CrossEntropyOptions = {},
  gradLoss = 1,
): { loss: number; grad: Tensor } {
  const { M, C, ignoreIndex, reduction, count } = checkCrossEntropy(logits, targets, options);
  checkArgument(typeof gradLoss === 'number', 'gradLoss', 'a number', gradLoss);
  const scale = reduction === 'mean' ? gradLoss / count : gradLoss;
  const grad = allocate(logits.dtype, M * C); // (M, C), zero for ignored rows
  let s = 0;
  for (let m = 0; m < M; m++) {
    const t = targets[m] as number;
    if (t === ignoreIndex) continue;
    s += crossEntropyRow(logits.data, m * C, C, t, grad, scale);
  }
  return { loss: reduction === 'mean' ? s / count : s, grad: new Tensor(grad, logits.shape) };
}
