/**
 * The three cells of a recurrent stack, as PyTorch's RNNBase names them: what a state dict and a module's options
 * say (the cell and, for the RNN, its nonlinearity) and what the kernels run (the mode).
 *
 *   cell   gates G   states     W_ih (G*H, in)   W_hh (G*H, P)   extra
 *   RNN    1         h          f = tanh | relu
 *   LSTM   4 i f g o h, c       P = proj_size or H               weight_hr (P, H) with proj_size
 *   GRU    3 r z n   h          b_hn stays inside r * (W_hn h + b_hn)
 */
import { RnnError } from '../errors.js';
import type { Mode } from '../kernels/kernel.js';

export type CellKind = 'RNN' | 'LSTM' | 'GRU';
export type Nonlinearity = 'tanh' | 'relu';

export const CELL_KINDS: readonly CellKind[] = ['RNN', 'LSTM', 'GRU'];

/** The kernels' mode for a cell (and the RNN's nonlinearity). */
export function modeOf(cell: CellKind, nonlinearity: Nonlinearity = 'tanh'): Mode {
  if (cell === 'RNN') return nonlinearity === 'relu' ? 'RNN_RELU' : 'RNN_TANH';
  return cell;
}

/** G for a cell: the gates of width H that W_ih's and W_hh's rows hold. */
export function gateCount(cell: CellKind): number {
  return cell === 'LSTM' ? 4 : cell === 'GRU' ? 3 : 1;
}

/** The nonlinearity as nn.RNN checks it. */
export function checkNonlinearity(value: unknown): Nonlinearity {
  if (value !== 'tanh' && value !== 'relu') {
    throw new RnnError('invalid_argument', `Unknown nonlinearity '${String(value)}'. Select from 'tanh' or 'relu'.`, {
      expected: ['tanh', 'relu'],
      got: value,
    });
  }
  return value;
}
