/**
 * nn.LSTM: a multi-layer long short-term memory network with PyTorch's options (proj_size included), parameters
 * and numbers. The stacking is the RNN's; only the cell differs.
 */
import { checkInteger, RnnError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import { type BackwardOptions, type ForwardOptions, type RecurrentOptions, RNNBase, stackModules } from './base.js';

export interface LSTMOptions extends RecurrentOptions {
  /** P: with P > 0, h_t = (o_t * tanh(c_t)) W_hr^T is P wide instead of H (weight_hr_l{k} (P, H)). Default 0. */
  projSize?: number;
}

/** The gradients `LSTM.backward` returns. */
export interface LSTMGradients {
  /** d loss / d input, shaped like the forward's input; exactly 0 at padded steps. Null with `inputGrad: false`. */
  input: Tensor | null;
  /** d loss / d h0 and d loss / d c0, shaped like them; null when the forward was given no (h0, c0). */
  h0: Tensor | null;
  c0: Tensor | null;
}

function checkProjSize(value: unknown, hiddenSize: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new RnnError('invalid_argument', 'proj_size should be a positive integer or zero to disable projections', {
      expected: '>= 0',
      got: value,
    });
  }
  if (typeof hiddenSize === 'number' && value >= hiddenSize) {
    throw new RnnError('invalid_argument', 'proj_size has to be smaller than hidden_size', {
      expected: `< ${hiddenSize}`,
      got: value,
    });
  }
  return value;
}

/**
 * A multi-layer LSTM, `torch.nn.LSTM`. For each layer l = 0..K-1 and step t (x_t^0 = x_t, x_t^l = h_t^{l-1}):
 *
 *     i_t = s(W_ii x_t^l + b_ii + W_hi h_{t-1} + b_hi)        f_t = s(W_if x_t^l + b_if + W_hf h_{t-1} + b_hf)
 *     g_t = tanh(W_ig x_t^l + b_ig + W_hg h_{t-1} + b_hg)     o_t = s(W_io x_t^l + b_io + W_ho h_{t-1} + b_ho)
 *     c_t = f_t * c_{t-1} + i_t * g_t                         h_t = o_t * tanh(c_t)   [then h_t W_hr^T with projSize]
 *
 * Layer l > 0 reads layer l-1's output sequence (never x_t), and each layer carries its own (h, c). Shapes: input
 * (L, N, I) [(N, L, I) with batchFirst, or unbatched (L, I)]; h0, h_n (D*K, N, P); c0, c_n (D*K, N, H); output
 * (L, N, D*P), with P = projSize or H. Parameters: weight_ih_l{k} (4H, I or D*P), weight_hh_l{k} (4H, P),
 * bias_ih_l{k} and bias_hh_l{k} (4H), weight_hr_l{k} (P, H) with projSize; gates stacked in the order i, f, g, o.
 *
 * @example
 * const lstm = new LSTM({ inputSize: 10, hiddenSize: 20, numLayers: 2, seed: 0 }); // nn.LSTM(10, 20, 2)
 * const x = randn([5, 3, 10]);                                                       // (L, N, I)
 * const [output, [hN, cN]] = lstm.forward(x);   // (5, 3, 20), (2, 3, 20), (2, 3, 20): output, (h_n, c_n) = lstm(x)
 */
export class LSTM extends RNNBase {
  constructor(options: LSTMOptions) {
    const ok = typeof options === 'object' && options !== null;
    if (ok) checkInteger(options.hiddenSize, 'hidden_size');
    super(options, { cell: 'LSTM', projSize: ok ? checkProjSize(options.projSize, options.hiddenSize) : 0 });
  }

  /** The options that rebuild this module's shape and behaviour (without its weights). */
  get options(): Required<Omit<LSTMOptions, 'seed' | 'backend'>> {
    const { inputSize, hiddenSize, numLayers, projSize, bias, batchFirst, dropout, bidirectional, dtype } = this;
    return { inputSize, hiddenSize, numLayers, projSize, bias, batchFirst, dropout, bidirectional, dtype };
  }

  protected layerOptions(): LSTMOptions {
    return this.options;
  }

  /**
   * Runs the network: `[output, [hN, cN]]`, as PyTorch's `output, (h_n, c_n) = lstm(x, (h0, c0))`. The state
   * `[h0, c0]` defaults to zeros. See `ForwardOptions.lengths` for variable-length batches.
   */
  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null, options?: ForwardOptions): [Tensor, [Tensor, Tensor]] {
    if (hx !== undefined && hx !== null && (!Array.isArray(hx) || hx.length !== 2)) {
      throw new RnnError('invalid_argument', 'LSTM expects its state as a pair [h0, c0]', {
        expected: '[h0, c0]',
        got: Array.isArray(hx) ? `an array of ${hx.length}` : typeof hx,
      });
    }
    const [output, [hN, cN]] = this.forwardStates(input, hx ?? null, options);
    return [output, [hN as Tensor, cN as Tensor]];
  }

  /**
   * Backpropagation through time for the last forward run with `{ requiresGrad: true }`: the gradients of
   * sum(output * gradOutput) + sum(hN * gradHN) + sum(cN * gradCN), as PyTorch's autograd computes them. Returns
   * those of the input, h0 and c0, and ADDS those of every parameter into `grad(name)`. Null or omitted
   * gradients are zeros. The recorded forward is consumed.
   *
   * @example
   * const [out, [hN, cN]] = lstm.forward(x, [h0, c0], { requiresGrad: true });
   * const { input, h0: gradH0, c0: gradC0 } = lstm.backward(gradOut, [gradHN, gradCN]);
   * lstm.grad('weight_hh_l0'); // (4H, P)
   */
  backward(
    gradOutput: Tensor | null,
    gradState?: readonly [Tensor | null, Tensor | null] | null,
    options: BackwardOptions = {},
  ): LSTMGradients {
    const { input, states } = this.backwardStates(gradOutput, gradState ?? [], options);
    return { input, h0: states[0] ?? null, c0: states[1] ?? null };
  }

  /**
   * K single-layer LSTMs with this network's weights copied; chained, each reading the previous one's output and
   * its own slice of (h0, c0), they give this network's output (see `RNN.split`).
   */
  split(): LSTM[] {
    return this.splitLayers((o) => new LSTM(o));
  }

  /** One LSTM from several chained ones (the inverse of `split`): their layers in order, weights copied. */
  static stack(lstms: readonly LSTM[], options: { dropout?: number } = {}): LSTM {
    return stackModules(
      'LSTM.stack lstms',
      'LSTM',
      lstms,
      [],
      (first, numLayers) => new LSTM({ ...first.options, numLayers, dropout: options.dropout ?? 0, seed: 0 }),
    );
  }
}
