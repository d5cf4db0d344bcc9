/**
 * nn.Linear: y = x W^T + b over the last dimension, with its backward. The head that turns an RNN's hidden
 * states (L, N, D*H) into predictions or logits (L, N, O).
 */
import { checkInteger, formatSizeList, RnnError } from '../errors.js';
import { getKernel, type Kernel } from '../kernels/index.js';
import type { Generator } from '../random.js';
import { allocate, checkAttached, type DType, Tensor } from '../tensor.js';
import { checkDtype, checkGradient, Module, toGenerator } from './module.js';

export interface LinearOptions {
  /** I: features of each input row. */
  inFeatures: number;
  /** O: features of each output row. */
  outFeatures: number;
  /** With false, no `bias` parameter. Default true. */
  bias?: boolean;
  /** Default 'float32'. */
  dtype?: DType;
  /** Seeds the initialisation U(-1/sqrt(I), 1/sqrt(I)) of weight and bias (nn.Linear's bounds). */
  seed?: number | Generator;
  /** Kernel backend name (see `kernelNames()`); default as for RNN. */
  backend?: string;
}

/**
 * A fully connected layer, `torch.nn.Linear`: `y = x @ weight^T + bias` on the last dimension. Parameters
 * `weight` (O, I) and `bias` (O), named as PyTorch names them. Input (..., I), output (..., O).
 *
 * @example
 * const head = new Linear({ inFeatures: 16, outFeatures: 1, seed: 0 });
 * const y = head.forward(hidden, { requiresGrad: true }); // (L, N, 16) -> (L, N, 1)
 * const dHidden = head.backward(dy);                      // adds into head.grad('weight'), head.grad('bias')
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
  private readonly kernel: Kernel;
  /** The input of the last forward with requiresGrad, not yet consumed by a backward (by reference). */
  private tape: Tensor | null = null;

  constructor(options: LinearOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new RnnError(
        'invalid_argument',
        'Linear options must be an object such as { inFeatures: 4, outFeatures: 2 }',
      );
    }
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    this.inFeatures = checkInteger(options.inFeatures, 'in_features');
    this.outFeatures = checkInteger(options.outFeatures, 'out_features');
    this.bias = options.bias ?? true;
    if (typeof this.bias !== 'boolean') {
      throw new RnnError('invalid_argument', `bias must be a boolean, got ${typeof this.bias}`, { got: this.bias });
    }
    this.kernel = getKernel(options.backend);
    const specs = [{ name: 'weight', shape: [this.outFeatures, this.inFeatures] }];
    if (this.bias) specs.push({ name: 'bias', shape: [this.outFeatures] });
    // kaiming_uniform_(a=sqrt(5)) on the weight and the bias's own bound both come to 1/sqrt(fan_in).
    this.initParameters(specs, this.inFeatures);
  }

  /** y (..., O) = x (..., I) @ weight^T + bias. With `requiresGrad`, keeps `input` (by reference) for `backward`. */
  forward(input: Tensor, options: { requiresGrad?: boolean } = {}): Tensor {
    if (!(input instanceof Tensor)) {
      throw new RnnError('invalid_argument', `Linear.forward: input must be a Tensor, got ${typeof input}`);
    }
    checkAttached(input, 'Linear.forward: input');
    this.checkAttachedParameters();
    const I = this.inFeatures;
    const O = this.outFeatures;
    if (input.ndim === 0 || input.shape[input.ndim - 1] !== I) {
      const M = input.numel / (input.shape[input.ndim - 1] || 1);
      throw new RnnError(
        'shape_mismatch',
        `mat1 and mat2 shapes cannot be multiplied (${M}x${input.shape[input.ndim - 1] ?? 1} and ${I}x${O}): Linear expects input (..., ${I}), got ${formatSizeList(input.shape)}`,
        { expected: [-1, I], got: [...input.shape] },
      );
    }
    if (input.dtype !== this.dtype) {
      throw new RnnError(
        'invalid_argument',
        `Linear.forward: expected input of dtype ${this.dtype}, got ${input.dtype}`,
        {
          expected: this.dtype,
          got: input.dtype,
        },
      );
    }
    const M = input.numel / I; // rows
    const y = allocate(this.dtype, M * O); // (M, O)
    const bias = this.bias ? this.parameter('bias').data : null;
    this.kernel.linear(y, input.data, this.parameter('weight').data, bias, null, M, I, O);
    this.tape = options?.requiresGrad === true ? input : null;
    return new Tensor(y, [...input.shape.slice(0, -1), O]);
  }

  /**
   * The gradient of the input for `gradOutput` (the output's shape), and ADDS the gradients of `weight` (dy^T x)
   * and `bias` (dy summed over rows) into `grad(name)`. Consumes the recorded forward.
   */
  backward(gradOutput: Tensor): Tensor {
    const input = this.tape;
    if (!input) throw this.noRecordedForward();
    const I = this.inFeatures;
    const O = this.outFeatures;
    const shape = [...input.shape.slice(0, -1), O];
    const dy = checkGradient(gradOutput, 'gradOutput', 'the output', shape, this.dtype);
    this.tape = null;
    const M = input.numel / I;
    const dx = allocate(this.dtype, M * I); // (M, I), accumulated into from zero
    const db = this.bias ? this.grad('bias').data : null;
    this.kernel.linearBackward(
      dx,
      this.grad('weight').data,
      db,
      null,
      dy.data,
      input.data,
      this.parameter('weight').data,
      M,
      I,
      O,
    );
    return new Tensor(dx, input.shape);
  }
}
