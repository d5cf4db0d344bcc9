/**
 * RNNBase: what nn.RNN, nn.LSTM and nn.GRU share, as in PyTorch (one base with a mode). Options and their checks,
 * the parameters in PyTorch's order, forward and backward over the one stack of stack.ts, the tape between them,
 * and split()/stack. The subclasses are thin: they name the cell and give forward/backward PyTorch's signatures
 * (the LSTM's state is the pair (h, c)).
 */
import { checkInteger, RnnError } from '../errors.js';
import { getKernel, type Kernel, type Mode } from '../kernels/index.js';
import { gatesOf, type PreparedWeight, type WeightLayout } from '../kernels/kernel.js';
import { checkDtype, checkGradient, Module, toGenerator } from '../nn/module.js';
import type { Generator } from '../random.js';
import { allocate, type DType, type FloatArray, formatBytes, MAX_TENSOR_BYTES, Tensor } from '../tensor.js';
import { type CellKind, modeOf, type Nonlinearity } from './cell.js';
import { type ForwardShape, finishForward, prepareForward, swap01 } from './inputs.js';
import { type ParameterKind, parameterCount, parameterName, parameterSpecs, type RnnArchitecture } from './params.js';
import { type DirectionWeights, type StackTape, type StackWorkspace, stackForward, WORKSPACE_MAX } from './stack.js';
import { stackBackward, tapeBytes } from './stack-backward.js';
import { RecurrentStream, type StreamOptions } from './stream.js';

/**
 * The most parameter tensors a module may have (num_layers * directions * 4 or 5): far beyond any real network,
 * and what a safetensors file may hold, so that a typo is refused before a list of specs is built for it.
 */
export const MAX_PARAMETER_TENSORS = 100_000;

/** The options every recurrent module takes. */
export interface RecurrentOptions {
  /** I: features of each input step. */
  inputSize: number;
  /** H: features of the hidden state (of each gate, for the LSTM and GRU). */
  hiddenSize: number;
  /** K: stacked layers; layer k > 0 reads the output sequence of layer k-1. Default 1. */
  numLayers?: number;
  /** With false, no bias_ih / bias_hh parameters. Default true. */
  bias?: boolean;
  /** Input and output as (N, L, features) instead of (L, N, features). States are not affected. Default false. */
  batchFirst?: boolean;
  /** Probability of zeroing each output element of every layer but the last, in training mode. Default 0. */
  dropout?: number;
  /** D = 2: a reverse-time pass per layer, concatenated after the forward one. Default false. */
  bidirectional?: boolean;
  /** Storage and computation precision. Default 'float32'. */
  dtype?: DType;
  /** Seeds weight init (the same numbers as torch.manual_seed(seed) then the module) and dropout masks. */
  seed?: number | Generator;
  /** Kernel backend name (see `kernelNames()`); default: STACKED_RNN_BACKEND, else the fastest available. */
  backend?: string;
}

export interface ForwardOptions {
  /**
   * Valid steps of each sequence (N values in 1..L), for variable-length batches: the result equals PyTorch's
   * pack_padded_sequence(enforce_sorted=False) -> module -> pad_packed_sequence(total_length=L). Padded output
   * steps are 0, the final states hold each sequence's state after its last valid step, and the reverse
   * direction starts at the last valid step.
   */
  lengths?: ArrayLike<number> | Tensor;
  /**
   * Record what `backward()` needs (each layer's output and dropout mask, a gated cell's gates). Default false:
   * inference records nothing, and drops any earlier unconsumed recording. The recording references `input` and
   * the initial states rather than copying them, so they (and the parameters) must not be modified before
   * `backward()`.
   */
  requiresGrad?: boolean;
}

/** `backward(..., { inputGrad: false })`: what a training step needs, one matrix product cheaper. */
export interface BackwardOptions {
  /** Default true. With false, the input's gradient is neither computed nor returned (null). */
  inputGrad?: boolean;
}

/** One recorded forward: the stack's tape plus the forward's arguments, by reference. */
interface RecurrentTape {
  stack: StackTape;
  input: Tensor; // (L, N, I), (N, L, I) or (L, I): the caller's
  states: Tensor[] | null; // the caller's h0 (and c0), (K*D, N, width) or (K*D, width)
  lengths: Int32Array | null; // (N)
  L: number;
  N: number;
  batched: boolean;
  outputShape: readonly number[];
  stateShapes: (readonly number[])[];
}

/** What the base's backward returns: the input's gradient and one per initial state (null where none was given). */
export interface StateGradients {
  input: Tensor | null;
  states: (Tensor | null)[];
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

/** A float as Python's repr writes it: 1 as 1.0, and below 1e-4 in exponent form with two digits (1e-05). */
function pythonFloat(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
  if (v !== 0 && Math.abs(v) < 1e-4) return v.toExponential().replace(/e([+-])(\d)$/, (_, sign, d) => `e${sign}0${d}`);
  return String(v);
}

/**
 * A module as PyTorch's repr prints it, from its architecture and layout options (absent: PyTorch's defaults):
 * `LSTM(8, 16, proj_size=4, num_layers=2, batch_first=True)`. Like RNNBase.extra_repr, it leaves out the RNN's
 * nonlinearity.
 */
export function reprOf(a: RnnArchitecture, layout: { batchFirst?: boolean; dropout?: number } = {}): string {
  const args = [`${a.inputSize}`, `${a.hiddenSize}`];
  if (a.projSize !== 0) args.push(`proj_size=${a.projSize}`);
  if (a.numLayers !== 1) args.push(`num_layers=${a.numLayers}`);
  if (!a.bias) args.push('bias=False');
  if (layout.batchFirst) args.push('batch_first=True');
  if (layout.dropout) args.push(`dropout=${pythonFloat(layout.dropout)}`);
  if (a.bidirectional) args.push('bidirectional=True');
  return `${a.cell}(${args.join(', ')})`;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') {
    throw new RnnError('invalid_argument', `${what} must be a boolean, got ${typeof value}`, {
      expected: 'boolean',
      got: value,
    });
  }
  return value;
}

/** What a subclass tells the base beyond the common options. */
export interface CellChoice {
  cell: CellKind;
  /** RNN only. */
  nonlinearity?: Nonlinearity;
  /** LSTM only: P, 0 for none. */
  projSize?: number;
}

/**
 * The common part of `torch.nn.RNN`, `torch.nn.LSTM` and `torch.nn.GRU`. For each layer l = 0..K-1 and step t,
 * `h_t^l = cell(x_t^l, h_{t-1}^l)` with `x_t^0 = x_t` and `x_t^l = h_t^{l-1}`: layer l > 0 reads layer l-1's output
 * sequence (with dropout between layers in training), and each layer carries its own state.
 */
export abstract class RNNBase extends Module {
  readonly cell: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bias: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bidirectional: boolean;
  /** P: the LSTM's projection size, 0 for none (and for RNN and GRU). */
  readonly projSize: number;
  /** PyTorch's mode: the cell and, for the RNN, its nonlinearity. */
  readonly mode: Mode;
  protected readonly kernel: Kernel;
  /** The last forward recorded with requiresGrad and not yet consumed by a backward. */
  private tape: RecurrentTape | null = null;
  /** What every forward checks its arguments against (the fields above never change). */
  private readonly forwardShape: ForwardShape;
  /**
   * `weights[k][d]`, built once: the parameter Tensors never change identity, nor do their data arrays
   * (loadStateDict and optimizers write into them), so these views stay live.
   */
  private readonly weights: DirectionWeights[][];
  /**
   * `weights` with the kernel's prepared copies (`Kernel.prepare`: packed once), made at the first forward and
   * again after a parameter's version moves (see `Tensor.version`); null until then, or when the kernel prepares
   * nothing for this dtype.
   */
  private prepared: { version: number; weights: DirectionWeights[][]; bytes: number } | null = null;
  /** Internal buffers a forward leaves for the next one (see StackWorkspace); never a returned array. */
  private readonly workspace: StackWorkspace = { pre: null, hidden: [] };
  /** The initial states of forwards given none: zeros, only ever read, kept while small (see WORKSPACE_MAX). */
  private zeroState: FloatArray | null = null;

  protected constructor(options: RecurrentOptions, choice: CellChoice) {
    const name = choice.cell;
    if (typeof options !== 'object' || options === null) {
      throw new RnnError(
        'invalid_argument',
        `${name} options must be an object such as { inputSize: 2, hiddenSize: 3 }`,
      );
    }
    super(checkDtype(options.dtype ?? 'float32'), toGenerator(options.seed));
    this.cell = choice.cell;
    this.inputSize = checkInteger(options.inputSize, 'input_size');
    this.hiddenSize = checkInteger(options.hiddenSize, 'hidden_size');
    this.numLayers = checkInteger(options.numLayers ?? 1, 'num_layers');
    this.bias = checkBoolean(options.bias ?? true, 'bias');
    this.batchFirst = checkBoolean(options.batchFirst ?? false, 'batch_first');
    this.dropout = checkDropout(options.dropout ?? 0);
    this.bidirectional = checkBoolean(options.bidirectional ?? false, 'bidirectional');
    this.projSize = choice.projSize ?? 0;
    this.mode = modeOf(choice.cell, choice.nonlinearity);
    this.kernel = getKernel(options.backend);
    // Checked before any spec is listed or array allocated: a typo (num_layers 1e8) must fail in one line.
    const tensors = this.numLayers * this.directions * (2 + (this.bias ? 2 : 0) + (this.projSize ? 1 : 0));
    if (tensors > MAX_PARAMETER_TENSORS) {
      throw new RnnError(
        'invalid_argument',
        `${name} with num_layers=${this.numLayers} would have ${tensors} parameter tensors; the limit is ${MAX_PARAMETER_TENSORS}`,
        { expected: `<= ${MAX_PARAMETER_TENSORS} tensors`, got: tensors },
      );
    }
    const count = parameterCount(this.architecture);
    const bytes = count * (this.dtype === 'float64' ? 8 : 4);
    if (bytes > MAX_TENSOR_BYTES) {
      throw new RnnError(
        'invalid_argument',
        `${name} would have ${count} parameters (${formatBytes(bytes)}); the limit is 4 GiB`,
        { expected: `<= ${formatBytes(MAX_TENSOR_BYTES)}`, got: formatBytes(bytes) },
      );
    }
    this.initParameters(parameterSpecs(this.architecture), this.hiddenSize);
    const P = this.stateSize;
    this.forwardShape = {
      name,
      inputSize: this.inputSize,
      stateSizes: this.cell === 'LSTM' ? [P, this.hiddenSize] : [P],
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

  /** P: the width of h and of each direction's output features (proj_size, else hidden_size). */
  get stateSize(): number {
    return this.projSize > 0 ? this.projSize : this.hiddenSize;
  }

  get architecture(): RnnArchitecture {
    const { cell, inputSize, hiddenSize, numLayers, bidirectional, bias, projSize } = this;
    return { cell, inputSize, hiddenSize, numLayers, bidirectional, bias, projSize };
  }

  /**
   * The weights every forward reads: the parameters' arrays with the kernel's prepared copies beside them, made
   * again only when a parameter was written (its `version` moved) since they were made. A kernel that prepares
   * nothing gets the arrays alone.
   */
  protected stackWeights(): DirectionWeights[][] {
    const kernel = this.kernel;
    if (!kernel.prepare) return this.weights;
    const version = this.parametersVersion();
    if (this.prepared?.version === version) return this.prepared.weights;
    // the old copies are packed again in place where the kernel can (`into`), so both are never held
    const old = this.prepared?.weights ?? null;
    this.prepared = null;
    const layout = this.cell === 'RNN' ? 'panels' : this.cell;
    const G = gatesOf(this.mode);
    const [H, P] = [this.hiddenSize, this.stateSize];
    let bytes = 0;
    const prepare = (
      w: FloatArray | null | undefined,
      kind: WeightLayout,
      O: number,
      C: number,
      into: PreparedWeight | null | undefined,
    ) => {
      const p = w ? (kernel.prepare?.(w, kind, O, C, into) ?? null) : null;
      bytes += p?.bytes ?? 0;
      return p;
    };
    const weights = this.weights.map((layer, k) =>
      layer.map((w, d) => {
        const was = old?.[k]?.[d]?.prepared;
        return {
          ...w,
          prepared: {
            wih: prepare(w.wih, 'panels', G * H, k === 0 ? this.inputSize : this.directions * P, was?.wih),
            whh: prepare(w.whh, layout, G * H, P, was?.whh),
            whr: prepare(w.whr, 'panels', P, H, was?.whr),
          },
        };
      }),
    );
    this.prepared = { version, weights, bytes };
    return weights;
  }

  /**
   * Bytes held by the weights prepared for this module's kernel (packed panels: about the parameters' own size, in
   * their dtype); 0 before the first forward, and for kernels that prepare nothing. Freed with the module.
   */
  get preparedBytes(): number {
    return this.prepared?.bytes ?? 0;
  }

  /** Weights of layer k, direction d, as flat arrays (live views of the parameters). */
  directionWeights(k: number, d: number): DirectionWeights {
    return this.directionArrays(k, d, (name) => this.params.get(name)?.data ?? null);
  }

  /** Gradients of layer k, direction d, as flat arrays (live views of `grad(name)`); null where no parameter. */
  private directionGrads(k: number, d: number): DirectionWeights {
    return this.directionArrays(k, d, (name) => (this.params.has(name) ? this.grad(name).data : null));
  }

  private directionArrays(k: number, d: number, get: (name: string) => FloatArray | null): DirectionWeights {
    const of = (kind: ParameterKind) => get(parameterName(kind, k, d));
    return {
      wih: of('weight_ih') as FloatArray,
      whh: of('weight_hh') as FloatArray,
      bih: of('bias_ih'),
      bhh: of('bias_hh'),
      whr: of('weight_hr'),
    };
  }

  /**
   * The module as PyTorch prints it: `LSTM(8, 16, proj_size=4, num_layers=2, batch_first=True)`. Like
   * RNNBase.extra_repr, it leaves out the RNN's nonlinearity, and prints dropout as the Python float it is.
   */
  override toString(): string {
    return reprOf(this.architecture, this);
  }

  /**
   * The forward of every cell, with the states as a list: `[output, [hN]]` or the LSTM's `[output, [hN, cN]]`,
   * from `states` = [h0] or [h0, c0] (null: zeros). What code written for any cell calls; `forward` gives each
   * module PyTorch's signature.
   */
  forwardStates(input: Tensor, states?: readonly unknown[] | null, options?: ForwardOptions): [Tensor, Tensor[]] {
    const shape = this.forwardShape;
    const p = prepareForward(shape, input, states ?? null, options?.lengths);
    this.checkAttachedParameters();
    const D = this.directions;
    const H = this.hiddenSize;
    const P = this.stateSize;
    const K = this.numLayers;
    const lstm = this.cell === 'LSTM';
    const output = allocate(this.dtype, p.L * p.N * D * P); // (L, N, D*P)
    const hN = allocate(this.dtype, K * D * p.N * P); // (K*D, N, P)
    const cN = lstm ? allocate(this.dtype, K * D * p.N * H) : null; // (K*D, N, H)
    const dropout = this.training && this.dropout > 0 && K > 1 ? { p: this.dropout, generator: this.generator } : null;
    const stack: StackTape | null = options?.requiresGrad === true ? { layerOutputs: [], masks: [], cells: [] } : null;
    this.tape = null;
    const zeros = p.states ? null : this.zeros(K * D * p.N * Math.max(P, lstm ? H : 0));
    stackForward(
      this.kernel,
      output,
      hN,
      cN,
      p.x,
      p.states?.[0] ?? (zeros as FloatArray),
      lstm ? (p.states?.[1] ?? zeros) : null,
      this.stackWeights(),
      { L: p.L, N: p.N, I: this.inputSize, H, K, D, P },
      this.mode,
      p.lengths,
      dropout,
      stack,
      this.workspace,
    );
    const result = finishForward(shape, p, output, cN ? [hN, cN] : [hN]);
    if (stack) {
      this.tape = {
        stack,
        input,
        states: p.states ? (states as Tensor[]) : null,
        lengths: p.lengths,
        L: p.L,
        N: p.N,
        batched: p.batched,
        outputShape: result[0].shape,
        stateShapes: result[1].map((t) => t.shape),
      };
    }
    return result;
  }

  /**
   * This module stepped one time step per call, its state kept between calls (Keras's stateful RNNs): a steady
   * loop on the module's prepared weights that allocates nothing but what it returns. See `RecurrentStream`.
   *
   * @example
   * ```ts
   * const s = lstm.eval().stream({ batch: 1 });
   * const y = s.step(x_t);          // x_t (1, I) -> (1, P), what out[t] of lstm.forward(x) holds
   * ```
   */
  stream(options: StreamOptions = {}): RecurrentStream {
    return new RecurrentStream(
      {
        kernel: this.kernel,
        shape: this.forwardShape,
        mode: this.mode,
        hiddenSize: this.hiddenSize,
        stateSize: this.stateSize,
        weights: () => this.stackWeights(),
        dropoutActive: () => this.training && this.dropout > 0 && this.numLayers > 1,
      },
      options,
    );
  }

  /** A zero state of at least `length` elements; the same array again while it stays small. */
  private zeros(length: number): FloatArray {
    if (this.zeroState !== null && this.zeroState.length === length) return this.zeroState;
    const z = allocate(this.dtype, length);
    if (length <= WORKSPACE_MAX) this.zeroState = z;
    return z;
  }

  /**
   * The backward of every cell, for the last forward recorded with `{ requiresGrad: true }` (which it consumes):
   * the gradients of sum(output * gradOutput) + sum over the final states of (state * its gradient), as PyTorch's
   * autograd computes them. Returns those of the input and initial states, and ADDS those of every parameter into
   * `grad(name)`. `gradStates` are [gradHN] or [gradHN, gradCN], null or omitted for zeros. What code written
   * for any cell calls; `backward` gives each module its own signature.
   */
  backwardStates(
    gradOutput: Tensor | null,
    gradStates: readonly (Tensor | null | undefined)[] = [],
    options: BackwardOptions = {},
  ): StateGradients {
    const tape = this.tape;
    if (!tape) throw this.noRecordedForward();
    const gOut =
      gradOutput === null ? null : checkGradient(gradOutput, 'gradOutput', 'the output', tape.outputShape, this.dtype);
    const gStates = tape.stateShapes.map((shape, i) => {
      const g = gradStates[i];
      const [what, of] = i === 0 ? ['gradHN', 'h_n'] : ['gradCN', 'c_n'];
      return g === undefined || g === null ? null : checkGradient(g, what, of, shape, this.dtype);
    });
    this.tape = null;
    const { L, N } = tape;
    const { inputSize: I, hiddenSize: H, numLayers: K } = this;
    const P = this.stateSize;
    const D = this.directions;
    const lstm = this.cell === 'LSTM';
    const swap = tape.batched && this.batchFirst; // the math runs time-major: (N, L, F) <-> (L, N, F)
    const x = swap ? swap01(tape.input.data, N, L, I) : tape.input.data; // (L, N, I)
    const dOutput = gOut && (swap ? swap01(gOut.data, N, L, D * P) : gOut.data); // (L, N, D*P)
    const dx = options.inputGrad === false ? null : allocate(this.dtype, L * N * I); // (L, N, I)
    const dh0 = tape.states ? allocate(this.dtype, K * D * N * P) : null; // (K*D, N, P)
    const dc0 = tape.states && lstm ? allocate(this.dtype, K * D * N * H) : null; // (K*D, N, H)
    const grads = Array.from({ length: K }, (_, k) => Array.from({ length: D }, (_, d) => this.directionGrads(k, d)));
    stackBackward(
      this.kernel,
      dx,
      dh0,
      dc0,
      grads,
      dOutput,
      gStates[0]?.data ?? null,
      gStates[1]?.data ?? null,
      tape.stack,
      x,
      tape.states?.[0]?.data ?? null,
      tape.states?.[1]?.data ?? null,
      this.weights,
      { L, N, I, H, K, D, P },
      this.mode,
      tape.lengths,
    );
    const states = (tape.states ?? []).map((h, i) => new Tensor((i === 0 ? dh0 : dc0) as FloatArray, h.shape));
    const input =
      dx === null ? null : swap ? new Tensor(swap01(dx, L, N, I), [N, L, I]) : new Tensor(dx, tape.input.shape);
    return { input, states: tape.states ? states : lstm ? [null, null] : [null] };
  }

  /**
   * Bytes held for the next backward: each layer's (L, N, D*P) output, in training with dropout each mask (K-1 of
   * them), and for the LSTM and GRU each direction's gates. 0 when nothing is recorded.
   */
  get tapeBytes(): number {
    return this.tape ? tapeBytes(this.tape.stack) : 0;
  }

  /** The options that rebuild this module as a single layer reading `inputSize` features (for `split`). */
  protected abstract layerOptions(): RecurrentOptions;

  /**
   * K single-layer modules with this one's weights copied (layer k's `weight_ih_lk` becomes the k-th one's
   * `weight_ih_l0`), made by `make`. Chained, each reading the previous one's output and its own slice of the
   * states, they give this module's output.
   */
  protected splitLayers<T extends RNNBase>(make: (options: RecurrentOptions) => T): T[] {
    const D = this.directions;
    return Array.from({ length: this.numLayers }, (_, k) => {
      const single = make({
        ...this.layerOptions(),
        numLayers: 1,
        dropout: 0,
        inputSize: k === 0 ? this.inputSize : D * this.stateSize,
        seed: 0,
      });
      for (const [name, p] of single.params) {
        p.data.set(this.parameter(name.replace('_l0', `_l${k}`)).data);
        p.bumpVersion();
      }
      return single;
    });
  }
}

/** "an RNN", "an LSTM", "a GRU". */
function article(cell: CellKind): string {
  return `${cell === 'GRU' ? 'a' : 'an'} ${cell}`;
}

/** The fields of two modules that must agree for one to follow the other in a stack (with the subclass's own). */
const STACK_KEYS = ['hiddenSize', 'projSize', 'bidirectional', 'bias', 'batchFirst', 'dtype'];

/**
 * One module from several chained ones (the inverse of `split`): their layers in order, weights copied. All must
 * share the sizes, direction, bias, batch layout, dtype and the subclass's `keys` (the RNN's nonlinearity), and each
 * must read what the previous one writes. `make` builds the result from the total layer count. `what` names the
 * argument in messages: `RNN.stack: rnns[1].inputSize must be 4 ...`.
 */
export function stackModules<T extends RNNBase>(
  what: string,
  cell: CellKind,
  modules: readonly T[],
  keys: readonly string[],
  make: (first: T, numLayers: number) => T,
): T {
  const [call, arg] = what.split(' ') as [string, string];
  if (!Array.isArray(modules)) {
    throw new RnnError(
      'invalid_argument',
      `${call}: ${arg} must be an array of ${cell} modules, got ${modules === null ? 'null' : typeof modules}`,
    );
  }
  const first = modules[0];
  if (!first) throw new RnnError('invalid_argument', `${what} needs at least one module, got 0`);
  const field = (m: T, key: string) => (m as unknown as Record<string, unknown>)[key];
  modules.forEach((r: T, i) => {
    // every module must be of the class stack() builds: another cell's weights would be copied into the wrong shapes
    const m: unknown = r;
    if (!(m instanceof RNNBase) || m.cell !== cell) {
      const got = m instanceof RNNBase ? article(m.cell) : m === null ? 'null' : typeof m;
      throw new RnnError('invalid_argument', `${call}: ${arg}[${i}] is ${got}, not ${article(cell)}`, {
        expected: cell,
        got: m instanceof RNNBase ? m.cell : got,
      });
    }
    for (const key of [...STACK_KEYS, ...keys]) {
      if (field(r, key) !== field(first, key)) {
        throw new RnnError(
          'invalid_argument',
          `${call}: ${arg}[${i}].${key} is ${String(field(r, key))}, expected ${String(field(first, key))} like ${arg}[0]`,
          { expected: field(first, key), got: field(r, key) },
        );
      }
    }
    const want = first.directions * first.stateSize;
    if (i > 0 && r.inputSize !== want) {
      throw new RnnError(
        'shape_mismatch',
        `${call}: ${arg}[${i}].inputSize must be ${want} (D*${first.projSize ? 'P' : 'H'} of the module before it), got ${r.inputSize}`,
        { expected: want, got: r.inputSize },
      );
    }
  });
  const stacked = make(
    first,
    modules.reduce((n, r) => n + r.numLayers, 0),
  );
  let base = 0;
  for (const r of modules) {
    for (const [name, p] of r.namedParameters()) {
      const k = Number(/_l(\d+)/.exec(name)?.[1]);
      const target = stacked.parameter(name.replace(/_l\d+/, `_l${base + k}`));
      target.data.set(p.data);
      target.bumpVersion();
    }
    base += r.numLayers;
  }
  return stacked;
}
