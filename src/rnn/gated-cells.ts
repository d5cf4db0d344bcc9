/**
 * nn.LSTMCell and nn.GRUCell: one step of one LSTM or GRU layer (see RNNCellBase for what they share).
 */
import { RnnError } from '../errors.js';
import { Tensor } from '../tensor.js';
import { type CellOptions, RNNCellBase, type RNNCellForwardOptions, type RNNCellGradients } from './rnn-cell.js';

/** The gradients `LSTMCell.backward` returns. */
export interface LSTMCellGradients {
  /** d loss / d input, shaped like the input. */
  input: Tensor;
  /** d loss / d hx and d loss / d cx; null when the forward was given no state. */
  hx: Tensor | null;
  cx: Tensor | null;
}

/**
 * `torch.nn.LSTMCell`: [i f g o] = [s s tanh s](x W_ih^T + b_ih + h W_hh^T + b_hh), c' = f c + i g,
 * h' = o tanh(c'). Input (N, I) or (I); the state [hx, cx], each (N, H) or (H), defaulting to zeros; returns
 * [h', c']. Parameters weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H).
 *
 * @example
 * const cell = new LSTMCell({ inputSize: 10, hiddenSize: 20, seed: 0 });
 * let [h, c] = cell.forward(randn([3, 10]));          // (3, 20) each: hx, cx = cell(x)
 * [h, c] = cell.forward(randn([3, 10]), [h, c]);
 */
export class LSTMCell extends RNNCellBase {
  constructor(options: CellOptions) {
    super(options, 'LSTM');
  }

  forward(input: Tensor, hx?: readonly [Tensor, Tensor] | null, options: RNNCellForwardOptions = {}): [Tensor, Tensor] {
    if (hx !== undefined && hx !== null && (!Array.isArray(hx) || hx.length !== 2)) {
      throw new RnnError('invalid_argument', 'LSTMCell expects its state as a pair [hx, cx]', {
        expected: '[hx, cx]',
        got: Array.isArray(hx) ? `an array of ${hx.length}` : hx instanceof Tensor ? 'one Tensor' : typeof hx,
      });
    }
    const [h, c] = this.step(input, hx === undefined || hx === null ? null : hx, options);
    return [h as Tensor, c as Tensor];
  }

  /**
   * The gradients of sum(h' * gradH) + sum(c' * gradC) for the most recent recorded step (which it consumes);
   * null gradients are zeros. For a loop of steps, call it in reverse order, adding each step's `hx` and `cx`
   * gradients to the step before's.
   */
  backward(grad: readonly [Tensor | null, Tensor | null]): LSTMCellGradients {
    const { input, states } = this.stepBackward(grad);
    return { input, hx: states[0] ?? null, cx: states[1] ?? null };
  }
}

/**
 * `torch.nn.GRUCell`: [r z] = s(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T + b_h{r,z}),
 * n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)), h' = (1 - z) n + z h. Input (N, I) or (I), hx (N, H) or (H)
 * defaulting to zeros; returns h'. Parameters weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
 *
 * @example
 * const cell = new GRUCell({ inputSize: 10, hiddenSize: 20, seed: 0 });
 * const h = cell.forward(randn([3, 10]));            // (3, 20)
 */
export class GRUCell extends RNNCellBase {
  constructor(options: CellOptions) {
    super(options, 'GRU');
  }

  forward(input: Tensor, hx?: Tensor | null, options: RNNCellForwardOptions = {}): Tensor {
    return this.step(input, hx === undefined || hx === null ? null : [hx], options)[0] as Tensor;
  }

  /** The gradients of sum(h' * gradH) for the most recent recorded step; as `RNNCell.backward`. */
  backward(gradH: Tensor): RNNCellGradients {
    const { input, states } = this.stepBackward([gradH]);
    return { input, hx: states[0] ?? null };
  }
}
