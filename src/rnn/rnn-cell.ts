/**
 * nn.RNNCell: one step of one layer, h' = f(x W_ih^T + b_ih + h W_hh^T + b_hh).
 */
import { checkInteger, RnnError } from '../errors.js';
import { getKernel, type Kernel, type Nonlinearity } from '../kernels/index.js';
import { checkDtype, checkGradient, Module, toGenerator } from '../nn/module.js';
import type { Generator } from '../random.js';
import { allocate, type DType, type FloatArray, Tensor } from '../tensor.js';

export interface RNNCellOptions {
  inputSize: number;
  hiddenSize: number;
  bias?: boolean;
  nonlinearity?: Nonlinearity;
  dtype?: DType;
  seed?: number | Generator;
  backend?: string;
}

export interface RNNCellForwardOptions {
  /**
   * Record this step for `backward()`. Steps recorded one after another form a stack: each backward undoes the
   * most recent one, so a loop of forwards can be backpropagated through time by a loop of backwards in reverse.
   * Default false: records nothing and drops any unconsumed recording. The recording references `input` and `hx`.
   */
  requiresGrad?: boolean;
}

/** The gradients `RNNCell.backward` returns. */
export interface RNNCellGradients {
  /** d loss / d input, shaped like the input. */
  input: Tensor;
  /** d loss / d hx, shaped like hx; null when the forward was given no hx. */
  hx: Tensor | null;
}

/** One recorded step. */
interface CellTape {
  input: Tensor; // (N, I) or (I): the caller's
  hx: Tensor | null; // (N, H) or (H): the caller's
  out: FloatArray; // (N, H) h' in the kernel's precision, from which f'(pre) is read
  N: number;
  shape: readonly number[]; // h' as returned
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
  /** Recorded steps, oldest first; `backward` pops the last. */
  private tapes: CellTape[] = [];

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

  forward(input: Tensor, hx?: Tensor | null, options: RNNCellForwardOptions = {}): Tensor {
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
    // h' is computed into the kernel's scratch (float64 for the reference kernel) and rounded once into the
    // result; a recorded step keeps the unrounded h', so the backward's f'(pre) is not moved by that rounding
    const out = this.kernel.scratch(input.data, N * H); // (N, H)
    this.kernel.recurrence({
      out,
      hN: this.kernel.scratch(input.data, N * H),
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
    const shape = batched ? [N, H] : [H];
    if (options.requiresGrad === true) this.tapes.push({ input, hx: hx ?? null, out, N, shape });
    else this.tapes = [];
    const h = allocate(this.dtype, N * H);
    h.set(out);
    return new Tensor(h, shape);
  }

  /**
   * The gradients of sum(h' * gradH) for the most recent recorded step (which it consumes): returns those of the
   * input and hx and ADDS those of the parameters into `grad(name)`. For backpropagation through a loop of steps,
   * call it in reverse order, adding each step's `hx` gradient to the gradH of the step before.
   *
   * @example
   * const h1 = cell.forward(x0, h0, { requiresGrad: true });
   * const h2 = cell.forward(x1, h1, { requiresGrad: true });
   * const g2 = cell.backward(gradH2);
   * const g1 = cell.backward(gradH1 plus g2.hx);
   */
  backward(gradH: Tensor): RNNCellGradients {
    const tape = this.tapes.at(-1);
    if (!tape) throw this.noRecordedForward();
    const g = checkGradient(gradH, 'gradH', "the forward's h'", tape.shape, this.dtype);
    this.tapes.pop();
    const { N } = tape;
    const I = this.inputSize;
    const H = this.hiddenSize;
    const grad = (name: string) => (this.params.has(name) ? this.grad(name).data : null);
    const dpre = this.kernel.scratch(g.data, N * H); // (N, H)
    dpre.fill(0);
    const dhx = allocate(this.dtype, N * H); // (N, H)
    this.kernel.recurrenceBackward({
      dpre,
      dh0: dhx,
      dwhh: this.grad('weight_hh').data,
      dout: g.data,
      dhN: null,
      out: tape.out,
      h0: tape.hx ? tape.hx.data : allocate(this.dtype, N * H),
      whh: this.parameter('weight_hh').data,
      L: 1,
      N,
      H,
      outStride: H,
      outOffset: 0,
      nonlinearity: this.nonlinearity,
      reverse: false,
      lengths: null,
    });
    const dx = this.kernel.scratch(g.data, N * I); // (N, I)
    dx.fill(0);
    const { data: x } = tape.input;
    const w = this.parameter('weight_ih').data;
    this.kernel.linearBackward(dx, this.grad('weight_ih').data, grad('bias_ih'), grad('bias_hh'), dpre, x, w, N, I, H);
    const input = allocate(this.dtype, N * I);
    input.set(dx);
    return {
      input: new Tensor(input, tape.input.shape),
      hx: tape.hx ? new Tensor(dhx, tape.hx.shape) : null,
    };
  }

  /** Bytes held for backward: one (N, H) h' (in the kernel's scratch precision) per recorded, unconsumed step. */
  get tapeBytes(): number {
    return this.tapes.reduce((bytes, t) => bytes + t.out.byteLength, 0);
  }
}
