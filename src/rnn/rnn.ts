/**
 * nn.RNN: a multi-layer Elman RNN with PyTorch's options, parameters and numbers.
 */
import { RnnError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type BackwardOptions, type ForwardOptions, type RecurrentOptions, RNNBase, stackModules } from './base.js';
import { checkNonlinearity, type Nonlinearity } from './cell.js';

export type { ForwardOptions };

export interface RNNOptions extends RecurrentOptions {
  /** f: 'tanh' (default) or 'relu'. */
  nonlinearity?: Nonlinearity;
}

/** What `backward(..., { inputGrad: false })` returns: no input gradient was computed. */
export interface RNNParameterGradients {
  input: null;
  /** d loss / d h0, shaped like the forward's h0; null when the forward was given no h0. */
  h0: Tensor | null;
}

/** The gradients `RNN.backward` (and `GRU.backward`) returns. */
export interface RNNGradients {
  /** d loss / d input, shaped like the forward's input; exactly 0 at padded steps. */
  input: Tensor;
  /** d loss / d h0, shaped like the forward's h0; null when the forward was given no h0. */
  h0: Tensor | null;
}

/** The check PyTorch makes in RNN.__init__ and GRU.__init__. */
export function refuseProjection(options: object): void {
  if ('projSize' in options && (options as { projSize?: unknown }).projSize !== undefined) {
    throw new RnnError('invalid_argument', 'proj_size argument is only supported for LSTM, not RNN or GRU', {
      got: (options as { projSize?: unknown }).projSize,
    });
  }
}

/**
 * What nn.RNN and nn.GRU share beyond RNNBase: one state, h, so PyTorch's forward(input, h0) -> (output, h_n) and
 * a backward that mirrors it.
 */
export abstract class HiddenStateModule extends RNNBase {
  /**
   * Runs the network: `[output, hN]`. `h0` defaults to zeros. See the class docs for shapes and
   * `ForwardOptions.lengths` for variable-length batches.
   */
  forward(input: Tensor, h0?: Tensor | null, options?: ForwardOptions): [Tensor, Tensor] {
    const [output, [hN]] = this.forwardStates(input, h0 === undefined || h0 === null ? null : [h0], options);
    return [output, hN as Tensor];
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
    options: BackwardOptions = {},
  ): RNNGradients | RNNParameterGradients {
    const { input, states } = this.backwardStates(gradOutput, [gradHN], options);
    return { input, h0: states[0] ?? null } as RNNGradients | RNNParameterGradients;
  }
}

/**
 * A multi-layer Elman RNN, `torch.nn.RNN`. For each layer l = 0..K-1 and step t:
 *
 *     h_t^l = f(x_t^l W_ih^l^T + b_ih^l + h_{t-1}^l W_hh^l^T + b_hh^l),   x_t^0 = x_t,   x_t^l = h_t^{l-1}
 *
 * Layer l > 0 reads layer l-1's output sequence (with dropout between layers in training), and each layer
 * carries its own state. Shapes: input (L, N, I) [(N, L, I) with batchFirst, or unbatched (L, I)];
 * h0, h_n (D*K, N, H) [(D*K, H)]; output (L, N, D*H) [(N, L, D*H), (L, D*H)]. Parameters as PyTorch names them:
 * weight_ih_l{k} (H, I or D*H), weight_hh_l{k} (H, H), bias_ih_l{k} (H), bias_hh_l{k} (H), `_reverse` for d = 1.
 *
 * @example
 * const rnn = new RNN({ inputSize: 2, hiddenSize: 3, numLayers: 2, seed: 0 });
 * const x = randn([3, 3, 2], { generator: 1 }); // (L, N, I)
 * const [output, hN] = rnn.forward(x);          // (3, 3, 3), (2, 3, 3)
 */
export class RNN extends HiddenStateModule {
  readonly nonlinearity: Nonlinearity;

  constructor(options: RNNOptions) {
    if (typeof options === 'object' && options !== null) refuseProjection(options);
    const nonlinearity = checkNonlinearity(
      typeof options === 'object' && options !== null ? (options.nonlinearity ?? 'tanh') : 'tanh',
    );
    super(options, { cell: 'RNN', nonlinearity });
    this.nonlinearity = nonlinearity;
  }

  /** The options that rebuild this module's shape and behaviour (without its weights). */
  get options(): Required<Omit<RNNOptions, 'seed' | 'backend'>> {
    const { inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, dropout, bidirectional, dtype } = this;
    return { inputSize, hiddenSize, numLayers, nonlinearity, bias, batchFirst, dropout, bidirectional, dtype };
  }

  protected layerOptions(): RNNOptions {
    return this.options;
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
    return this.splitLayers((o) => new RNN(o));
  }

  /**
   * One network from several chained ones (the inverse of `split`): their layers in order, weights copied.
   * All must share hidden size, direction, bias, nonlinearity, batch layout and dtype, and each must read what
   * the previous one writes.
   */
  static stack(rnns: readonly RNN[], options: { dropout?: number } = {}): RNN {
    return stackModules(
      'RNN.stack rnns',
      'RNN',
      rnns,
      ['nonlinearity'],
      (first, numLayers) => new RNN({ ...first.options, numLayers, dropout: options.dropout ?? 0, seed: 0 }),
    );
  }
}
