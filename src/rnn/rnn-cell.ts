/**
 * nn.RNNCell: one step of one layer, h' = f(x W_ih^T + b_ih + h W_hh^T + b_hh).
 */
import { checkInteger, RnnError } from '../errors.js';
import { getKernel, type Kernel, type Nonlinearity } from '../kernels/index.js';
import type { Generator } from '../random.js';
import { allocate, type DType, Tensor } from '../tensor.js';
import { checkDtype, Module, toGenerator } from './module.js';

export interface RNNCellOptions {
  inputSize: number;
  hiddenSize: number;
  bias?: boolean;
  nonlinearity?: Nonlinearity;
  dtype?: DType;
  seed?: number | Generator;
  backend?: string;
}

/**
 * `torch.nn.RNNCell`: input (N, I) or (I), hx (N, H) or (H) defaulting to zeros; returns h' of hx's shape.
 * Parameters weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H), init U(-1/sqrt(H), 1/sqrt(H)).
 *
 * @example
 * const cell = new RNNCell({ inputSize: 2, hiddenSize: 3, seed: 0 });
 * let h = cell.forward(tensor([[1, 2]]));   // (1, 3)
 * h = cell.forward(tensor([[3, 4]]), h);
 */
export class RNNCell extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;
  readonly nonlinearity: Nonlinearity;
  private readonly kernel: Kernel;

  constructor(options: RNNCellOptions) {
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    this.inputSize = checkInteger(options.inputSize, 'input_size');
    this.hiddenSize = checkInteger(options.hiddenSize, 'hidden_size');
    this.bias = options.bias ?? true;
    const nl = options.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') {
      throw new RnnError('invalid_argument', `Unknown nonlinearity: ${String(nl)}`, {
        expected: ['tanh', 'relu'],
        got: nl,
      });
    }
    this.nonlinearity = nl;
    this.kernel = getKernel(options.backend);
    const H = this.hiddenSize;
    const specs = [
      { name: 'weight_ih', shape: [H, this.inputSize] },
      { name: 'weight_hh', shape: [H, H] },
    ];
    if (this.bias) specs.push({ name: 'bias_ih', shape: [H] }, { name: 'bias_hh', shape: [H] });
    this.initParameters(specs, H);
  }

  forward(input: Tensor, hx?: Tensor | null): Tensor {
    if (!(input instanceof Tensor)) throw new RnnError('invalid_argument', 'input must be a Tensor');
    if (input.ndim !== 1 && input.ndim !== 2) {
      throw new RnnError(
        'shape_mismatch',
        `RNNCell: Expected input to be 1-D or 2-D but received ${input.ndim}-D tensor`,
        {
          expected: [1, 2],
          got: input.ndim,
        },
      );
    }
    const batched = input.ndim === 2;
    const N = batched ? (input.shape[0] as number) : 1;
    const I = input.size(-1);
    const H = this.hiddenSize;
    if (input.dtype !== this.dtype) {
      throw new RnnError(
        'invalid_argument',
        `input must have the type torch.${this.dtype}, got type torch.${input.dtype}`,
      );
    }
    if (I !== this.inputSize) {
      throw new RnnError('shape_mismatch', `input has inconsistent input_size: got ${I} expected ${this.inputSize}`, {
        expected: this.inputSize,
        got: I,
      });
    }
    if (hx) {
      if (hx.ndim !== input.ndim) {
        throw new RnnError(
          'shape_mismatch',
          `RNNCell: Expected hidden to be ${input.ndim}-D but received ${hx.ndim}-D tensor`,
          {
            expected: input.ndim,
            got: hx.ndim,
          },
        );
      }
      if (hx.dtype !== this.dtype) {
        throw new RnnError('invalid_argument', `hx must have the type torch.${this.dtype}, got type torch.${hx.dtype}`);
      }
      const hn = batched ? (hx.shape[0] as number) : 1;
      if (hn !== N) {
        throw new RnnError('shape_mismatch', `Input batch size ${N} doesn't match hidden0 batch size ${hn}`, {
          expected: N,
          got: hn,
        });
      }
      if (hx.size(-1) !== H) {
        throw new RnnError(
          'shape_mismatch',
          `hidden0 has inconsistent hidden_size: got ${hx.size(-1)}, expected ${H}`,
          {
            expected: H,
            got: hx.size(-1),
          },
        );
      }
    }
    const pre = this.kernel.scratch(input.data, N * H); // (N, H)
    const b = (name: string) => this.params.get(name)?.data ?? null;
    this.kernel.linear(pre, input.data, this.parameter('weight_ih').data, b('bias_ih'), b('bias_hh'), N, I, H);
    const out = allocate(this.dtype, N * H); // (N, H)
    this.kernel.recurrence({
      out,
      hN: allocate(this.dtype, N * H),
      pre,
      whh: this.parameter('weight_hh').data,
      h0: hx ? hx.data : allocate(this.dtype, N * H),
      L: 1,
      N,
      H,
      outStride: H,
      outOffset: 0,
      nonlinearity: this.nonlinearity,
      reverse: false,
      lengths: null,
    });
    return new Tensor(out, batched ? [N, H] : [H]);
  }
}
