/**
 * nn.RNN: a multi-layer Elman RNN with PyTorch's options, parameters and numbers.
 */
import { checkInteger, RnnError } from '../errors.js';
import { getKernel, type Kernel, type Nonlinearity } from '../kernels/index.js';
import { checkDtype, checkGradient, Module, toGenerator } from '../nn/module.js';
import type { Generator } from '../random.js';
import { allocate, type DType, type FloatArray, Tensor } from '../tensor.js';
import { type ForwardShape, finishForward, prepareForward, swap01 } from './inputs.js';
import { parameterName, parameterSpecs, type RnnArchitecture } from './params.js';
import { type DirectionWeights, type StackTape, type StackWorkspace, stackForward, WORKSPACE_MAX } from './stack.js';
import { stackBackward, tapeBytes } from './stack-backward.js';

export interface RNNOptions {
  /** I: features of each input step. */
  inputSize: number;
  /** H: features of the hidden state. */
  hiddenSize: number;
  /** K: stacked layers; layer k > 0 reads the output sequence of layer k-1. Default 1. */
  numLayers?: number;
  /** f: 'tanh' (default) or 'relu'. */
  nonlinearity?: Nonlinearity;
  /** With false, no bias_ih / bias_hh parameters. Default true. */
  bias?: boolean;
  /** Input and output as (N, L, features) instead of (L, N, features). h0/h_n are not affected. Default false. */
  batchFirst?: boolean;
  /** Probability of zeroing each output element of every layer but the last, in training mode. Default 0. */
  dropout?: number;
  /** D = 2: a reverse-time pass per layer, concatenated after the forward one. Default false. */
  bidirectional?: boolean;
  /** Storage and computation precision. Default 'float32'. */
  dtype?: DType;
  /** Seeds weight init (same numbers as torch.manual_seed(seed); nn.RNN(...)) and dropout masks. */
  seed?: number | Generator;
  /** Kernel backend name (see `kernelNames()`); default: STACKED_RNN_BACKEND, else the fastest available. */
  backend?: string;
}

export interface ForwardOptions {
  /**
   * Valid steps of each sequence (N values in 1..L), for variable-length batches: the result equals PyTorch's
   * pack_padded_sequence(enforce_sorted=False) -> rnn -> pad_packed_sequence(total_length=L). Padded output
   * steps are 0, h_n holds each sequence's state after its last valid step, and the reverse direction starts at
   * the last valid step.
   */
  lengths?: ArrayLike<number> | Tensor;
  /**
   * Record what `backward()` needs (each layer's output and dropout mask). Default false: inference records
   * nothing, and drops any earlier unconsumed recording. The recording references `input` and `h0` rather than
   * copying them, so they (and the parameters) must not be modified before `backward()`.
   */
  requiresGrad?: boolean;
}

/** The gradients `RNN.backward` returns. */
/** What `backward(..., { inputGrad: false })` returns: no input gradient was computed. */
export interface RNNParameterGradients {
  input: null;
  /** d loss / d h0, shaped like the forward's h0; null when the forward was given no h0. */
  h0: Tensor | null;
}

export interface RNNGradients {
  /** d loss / d input, shaped like the forward's input; exactly 0 at padded steps. */
  input: Tensor;
  /** d loss / d h0, shaped like the forward's h0; null when the forward was given no h0. */
  h0: Tensor | null;
}

/** One recorded forward: the stack's tape plus the forward's arguments, by reference. */
interface RnnTape {
  stack: StackTape;
  input: Tensor; // (L, N, I), (N, L, I) or (L, I): the caller's
  h0: Tensor | null; // (K*D, N, H) or (K*D, H): the caller's
  lengths: Int32Array | null; // (N)
  L: number;
  N: number;
  batched: boolean;
  outputShape: readonly number[];
  hNShape: readonly number[];
}

function checkNonlinearity(value: unknown): Nonlinearity {
  if (value !== 'tanh' && value !== 'relu') {
    throw new RnnError('invalid_argument', `Unknown nonlinearity '${String(value)}'. Select from 'tanh' or 'relu'.`, {
      expected: ['tanh', 'relu'],
      got: value,
    });
  }
  return value;
}

function checkDropout(value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || value > 1) {
    throw new RnnError(
      'invalid_argument',
      'dropout should be a number in range [0, 1] representing the probability of an element being zeroed',
      { expected: '[0, 1]', got: value },
    );
  }
  return value;
}

function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') {
    throw new RnnError('invalid_argument', `${what} must be a boolean, got ${typeof value}`, {
      expected: 'boolean',
      got: value,
    });
  }
  return value;
}

/**
 * A multi-layer Elman RNN, `torch.nn.RNN`. For each layer l = 0..K-1 and step t:
 *
 *     h_t^l = f(x_t^l W_ih^l^T + b_ih^l + h_{t-1}^l W_hh^l^T + b_hh^l),   x_t^0 = x_t,   x_t^l = h_t^{l-1}
 *
 * Layer l > 0 reads layer l-1's output sequence (with dropout between layers in training), and each layer
 * carries its own state. Shapes: input (L, N, I) [(N, L, I) with batchFirst, or unbatched (L, I)];
 * h0, h_n (D*K, N, H) [(D*K, H)]; output (L, N, D*H) [(N, L, D*H), (L, D*H)]. Parameters as PyTorch names them:
 * weight_ih_l{k} (H, I or D*H), weight_hh_l{k} (H, H), bias_ih_l{k} (H), bias_hh_l{k} (H), `_reverse` for D = 1.
 *
 * @example
 * const rnn = new RNN({ inputSize: 2, hiddenSize: 3, numLayers: 2, seed: 0 });
 * const x = randn([3, 3, 2], { generator: 1 }); // (L, N, I)
 * const [output, hN] = rnn.forward(x);          // (3, 3, 3), (2, 3, 3)
 */
export class RNN extends Module {
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly nonlinearity: Nonlinearity;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  private readonly kernel: Kernel;
  /** The last forward recorded with requiresGrad and not yet consumed by a backward. */
  private tape: RnnTape | null = null;
  /** What every forward checks its arguments against (the fields above never change). */
  private readonly forwardShape: ForwardShape;
  /**
   * `weights[k][d]`, built once: the parameter Tensors never change identity, nor do their data arrays
   * (loadStateDict and optimizers write into them), so these views stay live.
   */
  private readonly weights: DirectionWeights[][];
  /** Internal buffers a forward leaves for the next one (see StackWorkspace); never a returned array. */
  private readonly workspace: StackWorkspace = { pre: null, hidden: [] };
  /** The h0 of forwards given none: zeros, only ever read, kept while small (see WORKSPACE_MAX). */
  private zeroState: FloatArray | null = null;

  constructor(options: RNNOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new RnnError('invalid_argument', 'RNN options must be an object such as { inputSize: 2, hiddenSize: 3 }');
    }
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    this.inputSize = checkInteger(options.inputSize, 'input_size');
    this.hiddenSize = checkInteger(options.hiddenSize, 'hidden_size');
    this.numLayers = checkInteger(options.numLayers ?? 1, 'num_layers');
    this.nonlinearity = checkNonlinearity(options.nonlinearity ?? 'tanh');
    this.bias = checkBoolean(options.bias ?? true, 'bias');
    this.batchFirst = checkBoolean(options.batchFirst ?? false, 'batch_first');
    this.dropout = checkDropout(options.dropout ?? 0);
    this.bidirectional = checkBoolean(options.bidirectional ?? false, 'bidirectional');
    this.kernel = getKernel(options.backend);
    this.initParameters(parameterSpecs(this.architecture), this.hiddenSize);
    this.forwardShape = {
      inputSize: this.inputSize,
      hiddenSize: this.hiddenSize,
      numLayers: this.numLayers,
      directions: this.directions,
      batchFirst: this.batchFirst,
      dtype: this.dtype,
    };
    this.weights = [];
    for (let k = 0; k < this.numLayers; k++) {
      const layer: DirectionWeights[] = [];
      for (let d = 0; d < this.directions; d++) layer.push(this.directionWeights(k, d));
      this.weights.push(layer);
    }
  }

  /** D: 2 when bidirectional, else 1. */
  get directions(): number {
    return this.bidirectional ? 2 : 1;
  }

  get architecture(): RnnArchitecture {
    const { inputSize, hiddenSize, numLayers, bidirectional, bias } = this;
    return { inputSize, hiddenSize, numLayers, bidirectional, bias };
  }

  /** The options that rebuild this module's shape and behaviour (without its weights). */
  get options(): Required<Omit<RNNOptions, 'seed' | 'backend'>> {
    const { inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, dropout, bidirectional, dtype } = this;
    return {
      inputSize,
      hiddenSize,
      numLayers,
      nonlinearity,
      bias,
      batchFirst,
      dropout,
      bidirectional,
      dtype,
    };
  }

  /** Weights of layer k, direction d, as flat arrays (live views of the parameters). */
  directionWeights(k: number, d: number): DirectionWeights {
    const get = (kind: 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh') =>
      this.params.get(parameterName(kind, k, d))?.data ?? null;
    return {
      wih: get('weight_ih') as Tensor['data'],
      whh: get('weight_hh') as Tensor['data'],
      bih: get('bias_ih'),
      bhh: get('bias_hh'),
    };
  }

  /**
   * Runs the network: `[output, hN]`. `h0` defaults to zeros. See the class docs for shapes and
   * `ForwardOptions.lengths` for variable-length batches.
   */
  forward(input: Tensor, h0?: Tensor | null, options?: ForwardOptions): [Tensor, Tensor] {
    const shape = this.forwardShape;
    const p = prepareForward(shape, input, h0, options?.lengths);
    const D = this.directions;
    const H = this.hiddenSize;
    const K = this.numLayers;
    const output = allocate(this.dtype, p.L * p.N * D * H); // (L, N, D*H)
    const hN = allocate(this.dtype, K * D * p.N * H); // (K*D, N, H)
    const dropout = this.training && this.dropout > 0 && K > 1 ? { p: this.dropout, generator: this.generator } : null;
    const stack: StackTape | null = options?.requiresGrad === true ? { layerOutputs: [], masks: [] } : null;
    this.tape = null;
    stackForward(
      this.kernel,
      output,
      hN,
      p.x,
      p.h0 ?? this.zeros(K * D * p.N * H),
      this.weights,
      { L: p.L, N: p.N, I: this.inputSize, H, K, D },
      this.nonlinearity,
      p.lengths,
      dropout,
      stack,
      this.workspace,
    );
    const result = finishForward(shape, p, output, hN);
    if (stack) {
      this.tape = {
        stack,
        input: input,
        h0: h0 ?? null,
        lengths: p.lengths,
        L: p.L,
        N: p.N,
        batched: p.batched,
        outputShape: result[0].shape,
        hNShape: result[1].shape,
      };
    }
    return result;
  }

  /** A zero state (K*D, N, H) of `length` elements; the same array again while it stays small. */
  private zeros(length: number): FloatArray {
    if (this.zeroState !== null && this.zeroState.length === length) return this.zeroState;
    const z = allocate(this.dtype, length);
    if (length <= WORKSPACE_MAX) this.zeroState = z;
    return z;
  }

  /**
   * Backpropagation through time for the last forward run with `{ requiresGrad: true }`: the gradients of
   * sum(output * gradOutput) + sum(hN * gradHN), as PyTorch's autograd computes them. Returns those of the input
   * and h0, and ADDS those of every parameter into `grad(name)` (call `zeroGrad()` between steps). gradOutput has
   * the output's shape (null: zeros), gradHN that of h_n (omitted: zeros). The recorded forward is consumed.
   *
   * @example
   * const [out, hN] = rnn.forward(x, h0, { requiresGrad: true });
   * const { input, h0: gradH0 } = rnn.backward(gradOut, gradHN);
   * rnn.grad('weight_ih_l0'); // (H, I)
   */
  backward(gradOutput: Tensor | null, gradHN?: Tensor | null): RNNGradients;
  /**
   * The same without the input's gradient (`input` is null), as PyTorch skips it for an input that does not
   * require grad: what a training step needs, one matrix product cheaper.
   */
  backward(
    gradOutput: Tensor | null,
    gradHN: Tensor | null | undefined,
    options: { inputGrad: false },
  ): RNNParameterGradients;
  backward(
    gradOutput: Tensor | null,
    gradHN?: Tensor | null,
    options: { inputGrad?: boolean } = {},
  ): RNNGradients | RNNParameterGradients {
    const tape = this.tape;
    if (!tape) throw this.noRecordedForward();
    const gOut =
      gradOutput === null ? null : checkGradient(gradOutput, 'gradOutput', 'the output', tape.outputShape, this.dtype);
    const gHN =
      gradHN === undefined || gradHN === null ? null : checkGradient(gradHN, 'gradHN', 'h_n', tape.hNShape, this.dtype);
    this.tape = null;
    const { L, N } = tape;
    const { inputSize: I, hiddenSize: H, numLayers: K } = this;
    const D = this.directions;
    const swap = tape.batched && this.batchFirst; // the math runs time-major: (N, L, F) <-> (L, N, F)
    const x = swap ? swap01(tape.input.data, N, L, I) : tape.input.data; // (L, N, I)
    const dOutput = gOut && (swap ? swap01(gOut.data, N, L, D * H) : gOut.data); // (L, N, D*H)
    const dx = options.inputGrad === false ? null : allocate(this.dtype, L * N * I); // (L, N, I)
    const dh0 = tape.h0 ? allocate(this.dtype, K * D * N * H) : null; // (K*D, N, H)
    const weights = Array.from({ length: K }, (_, k) =>
      Array.from({ length: D }, (_, d) => this.directionWeights(k, d)),
    );
    const grads = Array.from({ length: K }, (_, k) => Array.from({ length: D }, (_, d) => this.directionGrads(k, d)));
    stackBackward(
      this.kernel,
      dx,
      dh0,
      grads,
      dOutput,
      gHN ? gHN.data : null,
      tape.stack,
      x,
      tape.h0 ? tape.h0.data : null,
      weights,
      { L, N, I, H, K, D },
      this.nonlinearity,
      tape.lengths,
    );
    const gradH0 = dh0 && tape.h0 ? new Tensor(dh0, tape.h0.shape) : null;
    if (dx === null) return { input: null, h0: gradH0 };
    return {
      input: swap ? new Tensor(swap01(dx, L, N, I), [N, L, I]) : new Tensor(dx, tape.input.shape),
      h0: gradH0,
    };
  }

  /**
   * Bytes held for the next backward: each layer's (L, N, D*H) output and, in training with dropout, each mask
   * (K-1 of them). 0 when nothing is recorded.
   */
  get tapeBytes(): number {
    return this.tape ? tapeBytes(this.tape.stack) : 0;
  }

  /** Gradients of layer k, direction d, as flat arrays (live views of `grad(name)`); null biases without bias. */
  private directionGrads(k: number, d: number): DirectionWeights {
    const get = (kind: 'weight_ih' | 'weight_hh' | 'bias_ih' | 'bias_hh'): FloatArray | null =>
      this.bias || kind.startsWith('weight') ? this.grad(parameterName(kind, k, d)).data : null;
    return {
      wih: get('weight_ih') as FloatArray,
      whh: get('weight_hh') as FloatArray,
      bih: get('bias_ih'),
      bhh: get('bias_hh'),
    };
  }

  /**
   * K single-layer RNNs with this network's weights copied (`weight_ih_l1` becomes the second one's
   * `weight_ih_l0`). Chained, each reading the previous one's output and its own slice of h0, they give this
   * network's output (exactly in float64; in float32 within one rounding, since the chain stores each layer's
   * output as a float32 tensor while the stacked forward keeps it in float64); h_n is their h_n's concatenated.
   *
   * @example
   * const [l0, l1] = rnn.split();
   * const [out0] = l0.forward(x);
   * const [out1] = l1.forward(out0); // equals rnn.forward(x)[0]
   */
  split(): RNN[] {
    const D = this.directions;
    return Array.from({ length: this.numLayers }, (_, k) => {
      const single = new RNN({
        ...this.options,
        numLayers: 1,
        dropout: 0,
        inputSize: k === 0 ? this.inputSize : D * this.hiddenSize,
        seed: 0,
      });
      for (const [name, p] of single.params) p.data.set(this.parameter(name.replace('_l0', `_l${k}`)).data);
      return single;
    });
  }

  /**
   * One network from several chained ones (the inverse of `split`): their layers in order, weights copied.
   * All must share hidden size, direction, bias, nonlinearity, batch layout and dtype, and each must read what
   * the previous one writes.
   */
  static stack(rnns: readonly RNN[], options: { dropout?: number } = {}): RNN {
    const first = rnns[0];
    if (!first) throw new RnnError('invalid_argument', 'RNN.stack needs at least one RNN, got 0');
    rnns.forEach((r, i) => {
      for (const key of ['hiddenSize', 'bidirectional', 'bias', 'nonlinearity', 'batchFirst', 'dtype'] as const) {
        if (r[key] !== first[key]) {
          throw new RnnError(
            'invalid_argument',
            `RNN.stack: rnns[${i}].${key} is ${String(r[key])}, expected ${String(first[key])} like rnns[0]`,
            {
              expected: first[key],
              got: r[key],
            },
          );
        }
      }
      const want = first.directions * first.hiddenSize;
      if (i > 0 && r.inputSize !== want) {
        throw new RnnError(
          'shape_mismatch',
          `RNN.stack: rnns[${i}].inputSize must be ${want} (D*H of the RNN before it), got ${r.inputSize}`,
          {
            expected: want,
            got: r.inputSize,
          },
        );
      }
    });
    const numLayers = rnns.reduce((n, r) => n + r.numLayers, 0);
    const stacked = new RNN({
      ...first.options,
      numLayers,
      dropout: options.dropout ?? 0,
      seed: 0,
    });
    let base = 0;
    for (const r of rnns) {
      for (const [name, p] of r.params) {
        const k = Number(/_l(\d+)/.exec(name)?.[1]);
        stacked.parameter(name.replace(/_l\d+/, `_l${base + k}`)).data.set(p.data);
      }
      base += r.numLayers;
    }
    return stacked;
  }
}
