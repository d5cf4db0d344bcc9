/**
 * nn.GRU: a multi-layer gated recurrent unit network with PyTorch's options, parameters and numbers. The stacking
 * is the RNN's; only the cell differs.
 */
import { type RecurrentOptions, stackModules } from './base.js';
import { HiddenStateModule, refuseProjection } from './rnn.js';

export type GRUOptions = RecurrentOptions;

/**
 * A multi-layer GRU, `torch.nn.GRU`. For each layer l = 0..K-1 and step t (x_t^0 = x_t, x_t^l = h_t^{l-1}):
 *
 *     r_t = s(W_ir x_t^l + b_ir + W_hr h_{t-1} + b_hr)        z_t = s(W_iz x_t^l + b_iz + W_hz h_{t-1} + b_hz)
 *     n_t = tanh(W_in x_t^l + b_in + r_t * (W_hn h_{t-1} + b_hn))
 *     h_t = (1 - z_t) * n_t + z_t * h_{t-1}
 *
 * (b_hn is inside the reset gate's product.) Layer l > 0 reads layer l-1's output sequence, and each layer carries
 * its own h. Shapes as nn.RNN's: input (L, N, I), h0 and h_n (D*K, N, H), output (L, N, D*H). Parameters:
 * weight_ih_l{k} (3H, I or D*H), weight_hh_l{k} (3H, H), bias_ih_l{k} and bias_hh_l{k} (3H), gates in the order
 * r, z, n.
 *
 * @example
 * const gru = new GRU({ inputSize: 10, hiddenSize: 20, numLayers: 2, seed: 0 }); // nn.GRU(10, 20, 2)
 * const [output, hN] = gru.forward(randn([5, 3, 10]));                          // (5, 3, 20), (2, 3, 20)
 */
export class GRU extends HiddenStateModule {
  constructor(options: GRUOptions) {
    if (typeof options === 'object' && options !== null) refuseProjection(options);
    super(options, { cell: 'GRU' });
  }

  /** The options that rebuild this module's shape and behaviour (without its weights). */
  get options(): Required<Omit<GRUOptions, 'seed' | 'backend'>> {
    const { inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype } = this;
    return { inputSize, hiddenSize, numLayers, bias, batchFirst, dropout, bidirectional, dtype };
  }

  protected layerOptions(): GRUOptions {
    return this.options;
  }

  /** K single-layer GRUs with this network's weights copied (see `RNN.split`). */
  split(): GRU[] {
    return this.splitLayers((o) => new GRU(o));
  }

  /** One GRU from several chained ones (the inverse of `split`): their layers in order, weights copied. */
  static stack(grus: readonly GRU[], options: { dropout?: number } = {}): GRU {
    return stackModules(
      'GRU.stack grus',
      'GRU',
      grus,
      [],
      (first, numLayers) => new GRU({ ...first.options, numLayers, dropout: options.dropout ?? 0, seed: 0 }),
    );
  }
}
