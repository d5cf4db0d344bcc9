/**
 * Streaming: one time step per call, the state carried between calls (Keras's stateful RNNs; in PyTorch,
 * `out, h = lstm(x_t[None], h)` in a loop). For keyword spotting on audio frames, sensor models, prediction as
 * the user types and token-by-token generation.
 *
 *   h_t^l = cell(h_t^{l-1}, h_{t-1}^l),   h_t^0 = x_t
 *
 * A step runs the same stack as `forward` (stack.ts's calls: each layer's input projection, then one step of its
 * recurrence), on the module's prepared weights (packed once), into buffers made once: a steady loop allocates
 * nothing but what it returns (and nothing at all with `{ out }`).
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import type { DirectionWeights, Kernel, Mode, RecurrenceArgs } from '../kernels/kernel.js';
import { gatesOf, layerWork } from '../kernels/kernel.js';
import { allocate, type DType, type FloatArray, Tensor } from '../tensor.js';
import { type ForwardShape, prepareForward } from './inputs.js';

export interface StreamOptions {
  /** N: sequences stepped together; each step's input is (N, I). Omitted: unbatched, each input (I). */
  batch?: number;
}

export interface StepOptions {
  /** Written with the step's output (N, P) (unbatched: (P)) instead of a new array, in the module's dtype. */
  out?: FloatArray;
}

/** What a stream needs of its module (RNNBase gives it). */
export interface StreamSource {
  readonly kernel: Kernel;
  readonly shape: ForwardShape;
  readonly mode: Mode;
  readonly hiddenSize: number;
  readonly stateSize: number;
  /** The weights with the kernel's prepared copies, current (prepared again after a parameter was written). */
  weights(): DirectionWeights[][];
  /** Whether a forward would apply dropout now (training mode with dropout > 0 and K > 1). */
  dropoutActive(): boolean;
}

/**
 * A recurrent module stepped one time step per call, holding its state between calls (`module.stream()`).
 *
 * @example
 * ```ts
 * const lstm = new LSTM({ inputSize: 8, hiddenSize: 32, numLayers: 2 }).eval();
 * const s = lstm.stream({ batch: 1 });
 * for (const frame of frames) {       // frame: Tensor (1, 8)
 *   const y = s.step(frame);          // (1, 32): the last layer's h_t, as out[t] of lstm(x)
 * }
 * const [h, c] = s.state;             // (2, 1, 32) each: as lstm(x)'s (h_n, c_n)
 * s.reset();                          // zeros again: a new sequence
 * ```
 */
export class RecurrentStream {
  /** N, or null when unbatched. */
  readonly batch: number | null;
  private readonly source: StreamSource;
  private readonly N: number;
  private readonly dtype: DType;
  /** Per layer: the current and next state buffers, swapped after each step. */
  private h: FloatArray[]; // K x (N, P)
  private hNext: FloatArray[]; // K x (N, P)
  private c: FloatArray[] | null; // K x (N, H), LSTM only
  private cNext: FloatArray[] | null;
  private readonly pre: FloatArray; // (N, G*H), reused by each layer
  private readonly outs: FloatArray[]; // K x (N, P): each layer's output at this step
  private readonly args: RecurrenceArgs[]; // K, made once and refilled
  private lastOut: { array: FloatArray; tensor: Tensor } | null = null;

  /** Made by `module.stream(options)`. */
  constructor(source: StreamSource, options: StreamOptions = {}) {
    const made = isObject(source) && isObject(source.shape) && typeof source.weights === 'function';
    checkArgument(made, 'RecurrentStream', 'made by module.stream() (an RNN, LSTM or GRU)', source);
    checkArgument(isObject(options), 'stream options', 'an object such as { batch: 1 }', options);
    const s = source.shape;
    if (s.directions !== 1) {
      throw new RnnError(
        'unsupported',
        `a bidirectional ${s.name} cannot stream: its reverse direction starts from the end of the sequence`,
        { expected: 'bidirectional=False', got: 'bidirectional=True', hint: 'run forward() on the whole sequence' },
      );
    }
    const batch = options.batch;
    if (batch !== undefined && (!Number.isInteger(batch) || batch < 1 || batch > 1 << 24)) {
      throw new RnnError('invalid_argument', `stream batch must be an integer from 1 to ${1 << 24}, got ${batch}`, {
        expected: '1..2^24',
        got: batch,
      });
    }
    this.source = source;
    this.batch = batch ?? null;
    this.N = batch ?? 1;
    this.dtype = s.dtype;
    const { N } = this;
    const K = s.numLayers;
    const [H, P] = [source.hiddenSize, source.stateSize];
    const G = gatesOf(source.mode);
    const lstm = source.mode === 'LSTM';
    const like = allocate(this.dtype, 0);
    // one step's work decides the kernel's path, as a forward's decides it (stack.ts)
    const work = layerWork(1, N, s.inputSize, H, P, 1, source.mode);
    const states = (width: number) => Array.from({ length: K }, () => allocate(this.dtype, N * width));
    this.h = states(P);
    this.hNext = states(P);
    this.c = lstm ? states(H) : null;
    this.cNext = lstm ? states(H) : null;
    this.pre = source.kernel.scratch(like, N * G * H, work);
    this.outs = Array.from({ length: K }, () => source.kernel.scratch(like, N * P, work));
    this.args = this.outs.map((out) => ({
      out,
      hN: out,
      pre: this.pre,
      whh: like,
      h0: out,
      L: 1,
      N,
      H,
      P,
      outStride: P,
      outOffset: 0,
      mode: source.mode,
      reverse: false,
      lengths: null,
      c0: null,
      cN: null,
      whr: null,
      bhh: null,
      tape: null,
      whhPrepared: null,
      whrPrepared: null,
    }));
  }

  /**
   * One time step: `x_t` (N, I), or (I) unbatched, in the module's dtype (a Tensor, or a flat array of N*I
   * values). Returns the last layer's h_t (N, P) (unbatched: (P)), what `out[t]` of a forward over the whole
   * sequence holds, and moves every layer's state on.
   */
  step(x: Tensor | FloatArray, options?: StepOptions): Tensor {
    const src = this.source;
    if (src.dropoutActive()) {
      throw new RnnError(
        'invalid_argument',
        `a stream runs inference, and this ${src.shape.name} would apply dropout between layers in training mode`,
        { hint: 'call module.eval() before streaming' },
      );
    }
    const input = this.input(x);
    const { N } = this;
    const I = src.shape.inputSize;
    const [H, P] = [src.hiddenSize, src.stateSize];
    const G = gatesOf(src.mode);
    const gru = src.mode === 'GRU';
    const kernel = src.kernel;
    const weights = src.weights();
    let layerInput = input;
    for (let k = 0; k < this.args.length; k++) {
      const w = (weights[k] as DirectionWeights[])[0] as DirectionWeights;
      const prepared = w.prepared ?? null;
      kernel.linear(this.pre, layerInput, w.wih, w.bih, gru ? null : w.bhh, N, k === 0 ? I : P, G * H, prepared?.wih);
      const a = this.args[k] as RecurrenceArgs;
      a.h0 = this.h[k] as FloatArray;
      a.hN = this.hNext[k] as FloatArray;
      a.c0 = this.c ? (this.c[k] as FloatArray) : null;
      a.cN = this.cNext ? (this.cNext[k] as FloatArray) : null;
      a.whh = w.whh;
      a.whr = w.whr ?? null;
      a.bhh = gru ? w.bhh : null;
      a.whhPrepared = prepared?.whh ?? null;
      a.whrPrepared = prepared?.whr ?? null;
      kernel.recurrence(a);
      layerInput = a.out;
    }
    [this.h, this.hNext] = [this.hNext, this.h];
    if (this.c && this.cNext) [this.c, this.cNext] = [this.cNext, this.c];
    return this.output(layerInput, options?.out);
  }

  /**
   * The states after the last step, as the forward returns them: `[h]`, or the LSTM's `[h, c]`, each (K, N, P)
   * or (K, N, H) (unbatched: (K, P), (K, H)). Copies: stepping on does not change them.
   */
  get state(): Tensor[] {
    const K = this.h.length;
    const shapeOf = (width: number) => (this.batch === null ? [K, width] : [K, this.N, width]);
    const join = (parts: FloatArray[], width: number) => {
      const data = allocate(this.dtype, K * this.N * width);
      parts.forEach((p, k) => data.set(p, k * this.N * width));
      return new Tensor(data, shapeOf(width));
    };
    const h = join(this.h, this.source.stateSize);
    return this.c ? [h, join(this.c, this.source.hiddenSize)] : [h];
  }

  /**
   * Starts a new sequence: every state zero, or `states` (`[h0]`, or the LSTM's `[h0, c0]`, checked as `forward`
   * checks them: (K, N, P) and (K, N, H), unbatched (K, P) and (K, H)).
   */
  reset(states?: readonly Tensor[] | null): void {
    const fill = (parts: FloatArray[], from: FloatArray | null, width: number) =>
      parts.forEach((p, k) => {
        if (from) p.set(from.subarray(k * this.N * width, (k + 1) * this.N * width));
        else p.fill(0);
      });
    const given = states ? this.checkStates(states) : null;
    fill(this.h, given?.[0] ?? null, this.source.stateSize);
    if (this.c) fill(this.c, given?.[1] ?? null, this.source.hiddenSize);
  }

  /** `states` checked as a forward of one step checks its h0 (and c0), flat (K, N, width). */
  private checkStates(states: readonly Tensor[]): FloatArray[] {
    const s = this.source.shape;
    const shape = this.batch === null ? [1, s.inputSize] : [1, this.N, s.inputSize];
    const p = prepareForward(
      { ...s, batchFirst: false },
      new Tensor(allocate(this.dtype, this.N * s.inputSize), shape),
      states,
      undefined,
    );
    return p.states ?? [];
  }

  /** x_t as a flat (N, I) array of the module's dtype, checked. */
  private input(x: Tensor | FloatArray): FloatArray {
    const s = this.source.shape;
    const want = this.batch === null ? [s.inputSize] : [this.N, s.inputSize];
    const data = x instanceof Tensor ? x.data : x;
    if (x instanceof Tensor) {
      if (x.ndim !== want.length || x.shape.some((d, i) => d !== want[i])) {
        throw new RnnError(
          'shape_mismatch',
          `a ${s.name} stream's step takes x_t of shape [${want.join(', ')}], got [${x.shape.join(', ')}]`,
          {
            expected: want,
            got: x.shape,
            hint: 'the batch is fixed when the stream is made: module.stream({ batch })',
          },
        );
      }
    } else if (
      !(data instanceof Float32Array || data instanceof Float64Array) ||
      data.length !== this.N * s.inputSize
    ) {
      throw new RnnError(
        'shape_mismatch',
        `a ${s.name} stream's step takes a Tensor or a Float32Array/Float64Array of N*I = ${this.N * s.inputSize} values`,
        { expected: this.N * s.inputSize, got: ArrayBuffer.isView(data) ? data.length : typeof data },
      );
    }
    if ((data instanceof Float64Array ? 'float64' : 'float32') !== this.dtype) {
      throw new RnnError(
        'invalid_argument',
        `input must have the type torch.${this.dtype}, got type torch.${data instanceof Float64Array ? 'float64' : 'float32'}`,
        { expected: this.dtype, got: data instanceof Float64Array ? 'float64' : 'float32' },
      );
    }
    return data;
  }

  /** The last layer's h_t into `out` (checked) or a new array, as a Tensor. */
  private output(h: FloatArray, out: FloatArray | undefined): Tensor {
    const shape = this.batch === null ? [h.length] : [this.N, h.length / this.N];
    if (out === undefined) {
      const copy = allocate(this.dtype, h.length);
      copy.set(h);
      return new Tensor(copy, shape);
    }
    if (out.length !== h.length || (out instanceof Float64Array ? 'float64' : 'float32') !== this.dtype) {
      throw new RnnError('invalid_argument', `step's out must be a ${this.dtype} array of ${h.length} values`, {
        expected: { dtype: this.dtype, length: h.length },
        got: { dtype: out instanceof Float64Array ? 'float64' : 'float32', length: out.length },
      });
    }
    out.set(h);
    if (this.lastOut?.array !== out) this.lastOut = { array: out, tensor: new Tensor(out, shape) };
    return this.lastOut.tensor;
  }
}
