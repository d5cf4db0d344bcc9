/**
 * nn.RNNCell, and RNNCellBase: one step of one layer of any cell, what nn.RNNCell, nn.LSTMCell and nn.GRUCell
 * share (as PyTorch's RNNCellBase): the parameters, the argument checks, and a step run as the recurrence of one
 * time step on the kernel, recorded for a backward that undoes the most recent step.
 */
import { checkInteger, RnnError } from '../errors.js';
import { getKernel, type Kernel, type Mode } from '../kernels/index.js';
import { tapeWidth } from '../kernels/kernel.js';
import { checkDtype, checkGradient, Module, toGenerator } from '../nn/module.js';
import type { Generator } from '../random.js';
import { allocate, checkAttached, type DType, type FloatArray, Tensor } from '../tensor.js';
import { checkBoolean } from './base.js';
import { type CellKind, checkNonlinearity, gateCount, modeOf, type Nonlinearity } from './cell.js';

export interface CellOptions {
  /** I: features of the input. */
  inputSize: number;
  /** H: features of the state (of each gate). */
  hiddenSize: number;
  /** With false, no bias_ih / bias_hh. Default true. */
  bias?: boolean;
  dtype?: DType;
  seed?: number | Generator;
  backend?: string;
}

export interface RNNCellOptions extends CellOptions {
  nonlinearity?: Nonlinearity;
}

export interface RNNCellForwardOptions {
  /**
   * Record this step for `backward()`. Steps recorded one after another form a stack: each backward undoes the
   * most recent one, so a loop of forwards can be backpropagated through time by a loop of backwards in reverse.
   * Default false: records nothing and drops any unconsumed recording. The recording references `input` and the
   * states given.
   */
  requiresGrad?: boolean;
}

/** The gradients `RNNCell.backward` (and `GRUCell.backward`) returns. */
export interface RNNCellGradients {
  /** d loss / d input, shaped like the input. */
  input: Tensor;
  /** d loss / d hx, shaped like hx; null when the forward was given no hx. */
  hx: Tensor | null;
}

/** One recorded step. */
interface CellTape {
  input: Tensor; // (N, I) or (I): the caller's
  states: Tensor[] | null; // hx (and cx), (N, H) or (H): the caller's
  out: FloatArray; // (N, H) h' in the kernel's precision
  cells: FloatArray | null; // (N, tapeWidth) a gated cell's gates
  N: number;
  shape: readonly number[]; // h' (and c') as returned
}

/** The names of the states in PyTorch's cell messages: hidden0, hidden1. */
const STATE_ARGS = ['hx', 'cx'];

/**
 * What nn.RNNCell, nn.LSTMCell and nn.GRUCell share: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih and bias_hh
 * (G*H), init U(-1/sqrt(H), 1/sqrt(H)); input (N, I) or (I); states (N, H) or (H) each, zeros by default.
 */
export abstract class RNNCellBase extends Module {
  readonly cell: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly bias: boolean;
  readonly mode: Mode;
  protected readonly kernel: Kernel;
  /** Recorded steps, oldest first; `backward` pops the last. */
  private tapes: CellTape[] = [];

  protected constructor(options: CellOptions, cell: CellKind, nonlinearity?: Nonlinearity) {
    if (typeof options !== 'object' || options === null) {
      throw new RnnError(
        'invalid_argument',
        `${cell}Cell options must be an object such as { inputSize: 2, hiddenSize: 3 }`,
      );
    }
    // torch.nn.LSTMCell (like RNNCell and GRUCell) has no proj_size: PyTorch refuses the keyword, so do we,
    // rather than ignore it. A projected LSTM is LSTM({ projSize }).
    const projSize = (options as { projSize?: unknown }).projSize;
    if (projSize !== undefined) {
      throw new RnnError(
        'invalid_argument',
        `${cell}Cell.__init__() got an unexpected keyword argument 'proj_size': torch.nn.${cell}Cell has no projection`,
        {
          expected: 'no projSize',
          got: projSize,
          ...(cell === 'LSTM'
            ? { hint: 'an LSTM with proj_size is new LSTM({ ..., projSize }) (numLayers 1 for one layer)' }
            : {}),
        },
      );
    }
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    this.cell = cell;
    this.inputSize = checkInteger(options.inputSize, 'input_size');
    this.hiddenSize = checkInteger(options.hiddenSize, 'hidden_size');
    this.bias = checkBoolean(options.bias ?? true, 'bias');
    this.mode = modeOf(cell, nonlinearity);
    this.kernel = getKernel(options.backend);
    const H = this.hiddenSize;
    const G = gateCount(cell);
    const specs = [
      { name: 'weight_ih', shape: [G * H, this.inputSize] },
      { name: 'weight_hh', shape: [G * H, H] },
    ];
    if (this.bias) specs.push({ name: 'bias_ih', shape: [G * H] }, { name: 'bias_hh', shape: [G * H] });
    this.initParameters(specs, H);
  }

  private get name(): string {
    return `${this.cell}Cell`;
  }

  /** The cell as PyTorch prints it: `LSTMCell(3, 6)`, `RNNCell(3, 6, bias=False, nonlinearity=relu)`. */
  override toString(): string {
    const args = [`${this.inputSize}`, `${this.hiddenSize}`];
    if (!this.bias) args.push('bias=False');
    if (this.mode === 'RNN_RELU') args.push('nonlinearity=relu');
    return `${this.name}(${args.join(', ')})`;
  }

  /** Checks a step's arguments in PyTorch's order and words; returns N and whether the input is batched. */
  private check(input: unknown, states: readonly unknown[] | null): { N: number; batched: boolean } {
    if (!(input instanceof Tensor)) throw new RnnError('invalid_argument', 'input must be a Tensor');
    checkAttached(input, 'input');
    this.checkAttachedParameters();
    if (input.ndim !== 1 && input.ndim !== 2) {
      throw new RnnError(
        'shape_mismatch',
        `${this.name}: Expected input to be 1-D or 2-D but received ${input.ndim}-D tensor`,
        { expected: [1, 2], got: input.ndim },
      );
    }
    const batched = input.ndim === 2;
    const N = batched ? (input.shape[0] as number) : 1;
    const I = input.size(-1);
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
    states?.forEach((hx, i) => {
      const arg = STATE_ARGS[i] as string;
      if (!(hx instanceof Tensor)) throw new RnnError('invalid_argument', `${arg} must be a Tensor`);
      checkAttached(hx, arg);
      if (hx.ndim !== input.ndim) {
        throw new RnnError(
          'shape_mismatch',
          `${this.name}: Expected hidden to be ${input.ndim}-D but received ${hx.ndim}-D tensor`,
          { expected: input.ndim, got: hx.ndim },
        );
      }
      if (hx.dtype !== this.dtype) {
        throw new RnnError(
          'invalid_argument',
          `${arg} must have the type torch.${this.dtype}, got type torch.${hx.dtype}`,
        );
      }
      const hn = batched ? (hx.shape[0] as number) : 1;
      if (hn !== N) {
        throw new RnnError('shape_mismatch', `Input batch size ${N} doesn't match hidden${i} batch size ${hn}`, {
          expected: N,
          got: hn,
        });
      }
      if (hx.size(-1) !== this.hiddenSize) {
        throw new RnnError(
          'shape_mismatch',
          `hidden${i} has inconsistent hidden_size: got ${hx.size(-1)}, expected ${this.hiddenSize}`,
          { expected: this.hiddenSize, got: hx.size(-1) },
        );
      }
    });
    return { N, batched };
  }

  /** One step: the new states [h'] or the LSTM's [h', c'], shaped like the input's batch. */
  protected step(input: Tensor, states: readonly Tensor[] | null, options: RNNCellForwardOptions): Tensor[] {
    const { N, batched } = this.check(input, states);
    const H = this.hiddenSize;
    const G = gateCount(this.cell);
    const lstm = this.cell === 'LSTM';
    const gru = this.cell === 'GRU';
    const b = (name: string) => this.params.get(name)?.data ?? null;
    const pre = this.kernel.scratch(input.data, N * G * H); // (N, G*H)
    this.kernel.linear(
      pre,
      input.data,
      this.parameter('weight_ih').data,
      b('bias_ih'),
      gru ? null : b('bias_hh'),
      N,
      this.inputSize,
      G * H,
    );
    // h' (and c') are computed into the kernel's scratch (float64 for the reference kernel) and rounded once into
    // the result; a recorded step keeps the unrounded values, so the backward's derivatives are not moved by it
    const out = this.kernel.scratch(input.data, N * H); // (N, H)
    const cN = lstm ? this.kernel.scratch(input.data, N * H) : null; // (N, H)
    const W = tapeWidth(this.mode, H);
    const cells = W > 0 ? (pre instanceof Float64Array ? new Float64Array(N * W) : new Float32Array(N * W)) : null;
    const zeros = states ? null : allocate(this.dtype, N * H);
    this.kernel.recurrence({
      out,
      hN: this.kernel.scratch(input.data, N * H),
      pre,
      whh: this.parameter('weight_hh').data,
      h0: states ? (states[0] as Tensor).data : (zeros as FloatArray),
      L: 1,
      N,
      H,
      outStride: H,
      outOffset: 0,
      mode: this.mode,
      reverse: false,
      lengths: null,
      c0: lstm ? (states ? (states[1] as Tensor).data : zeros) : null,
      cN,
      bhh: gru ? b('bias_hh') : null,
      tape: cells,
    });
    const shape = batched ? [N, H] : [H];
    if (options?.requiresGrad === true)
      this.tapes.push({ input, states: states ? [...states] : null, out, cells, N, shape });
    else this.tapes = [];
    const result = (a: FloatArray) => {
      const h = allocate(this.dtype, N * H);
      h.set(a);
      return new Tensor(h, shape);
    };
    return cN ? [result(out), result(cN)] : [result(out)];
  }

  /**
   * The gradients of sum over the new states of (state * its gradient) for the most recent recorded step (which
   * it consumes): returns those of the input and the states given, and ADDS those of the parameters into
   * `grad(name)`.
   */
  protected stepBackward(gradStates: readonly (Tensor | null | undefined)[]): {
    input: Tensor;
    states: (Tensor | null)[];
  } {
    const tape = this.tapes.at(-1);
    if (!tape) throw this.noRecordedForward();
    const lstm = this.cell === 'LSTM';
    const gru = this.cell === 'GRU';
    const what = lstm ? ["h'", "c'"] : ["h'"];
    const grads = what.map((of, i) => {
      const g = gradStates[i];
      const name = i === 0 ? 'gradH' : 'gradC';
      return g === undefined || g === null
        ? null
        : checkGradient(g, name, `the forward's ${of}`, tape.shape, this.dtype);
    });
    this.tapes.pop();
    const { N } = tape;
    const I = this.inputSize;
    const H = this.hiddenSize;
    const G = gateCount(this.cell);
    const grad = (name: string) => (this.params.has(name) ? this.grad(name).data : null);
    const like = grads[0]?.data ?? tape.input.data;
    const dpre = this.kernel.scratch(like, N * G * H); // (N, G*H)
    dpre.fill(0);
    const dhx = allocate(this.dtype, N * H); // (N, H)
    const dcx = lstm ? allocate(this.dtype, N * H) : null; // (N, H)
    const zeros = tape.states ? null : allocate(this.dtype, N * H);
    this.kernel.recurrenceBackward({
      dpre,
      dh0: dhx,
      dwhh: this.grad('weight_hh').data,
      dout: grads[0]?.data ?? null,
      dhN: null,
      out: tape.out,
      h0: tape.states ? (tape.states[0] as Tensor).data : (zeros as FloatArray),
      whh: this.parameter('weight_hh').data,
      L: 1,
      N,
      H,
      outStride: H,
      outOffset: 0,
      mode: this.mode,
      reverse: false,
      lengths: null,
      dc0: dcx,
      dcN: grads[1]?.data ?? null,
      c0: lstm ? (tape.states ? (tape.states[1] as Tensor).data : zeros) : null,
      bhh: gru ? (this.params.get('bias_hh')?.data ?? null) : null,
      dbhh: gru ? grad('bias_hh') : null,
      tape: tape.cells,
    });
    const dx = this.kernel.scratch(like, N * I); // (N, I)
    dx.fill(0);
    const w = this.parameter('weight_ih').data;
    const gradBhh = gru ? null : grad('bias_hh');
    this.kernel.linearBackward(
      dx,
      this.grad('weight_ih').data,
      grad('bias_ih'),
      gradBhh,
      dpre,
      tape.input.data,
      w,
      N,
      I,
      G * H,
    );
    const input = allocate(this.dtype, N * I);
    input.set(dx);
    const states = tape.states
      ? tape.states.map((s, i) => new Tensor((i === 0 ? dhx : dcx) as FloatArray, s.shape))
      : what.map(() => null);
    return { input: new Tensor(input, tape.input.shape), states };
  }

  /** Bytes held for backward: per recorded, unconsumed step, h' and a gated cell's gates (kernel precision). */
  get tapeBytes(): number {
    return this.tapes.reduce((bytes, t) => bytes + t.out.byteLength + (t.cells ? t.cells.byteLength : 0), 0);
  }
}

/**
 * `torch.nn.RNNCell`: h' = f(x W_ih^T + b_ih + h W_hh^T + b_hh). Input (N, I) or (I), hx (N, H) or (H) defaulting
 * to zeros; returns h' of hx's shape. Parameters weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
 *
 * @example
 * const cell = new RNNCell({ inputSize: 2, hiddenSize: 3, seed: 0 });
 * let h = cell.forward(tensor([[1, 2]]));   // (1, 3)
 * h = cell.forward(tensor([[3, 4]]), h);
 */
export class RNNCell extends RNNCellBase {
  readonly nonlinearity: Nonlinearity;

  constructor(options: RNNCellOptions) {
    const nonlinearity =
      typeof options === 'object' && options !== null ? checkCellNonlinearity(options.nonlinearity ?? 'tanh') : 'tanh';
    super(options, 'RNN', nonlinearity);
    this.nonlinearity = nonlinearity;
  }

  forward(input: Tensor, hx?: Tensor | null, options: RNNCellForwardOptions = {}): Tensor {
    return this.step(input, hx === undefined || hx === null ? null : [hx], options)[0] as Tensor;
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
    if (!(gradH instanceof Tensor)) checkGradient(gradH, 'gradH', "the forward's h'", [], this.dtype);
    const { input, states } = this.stepBackward([gradH]);
    return { input, hx: states[0] ?? null };
  }
}

/** RNNCell's own message (ATen's) for an unknown nonlinearity. */
function checkCellNonlinearity(value: unknown): Nonlinearity {
  try {
    return checkNonlinearity(value);
  } catch {
    throw new RnnError('invalid_argument', `Unknown nonlinearity: ${String(value)}`, {
      expected: ['tanh', 'relu'],
      got: value,
    });
  }
}
