/**
 * How the page writes PyTorch: the module call for the current settings, in the order PyTorch prints a module
 * (`nn.LSTM(2, 3, proj_size=2, num_layers=3, bidirectional=True, dtype=torch.float64)`), and how its forward is
 * unpacked. The settings snippet and the split view both use it, so what they print is one program.
 */
import type { CellKind, Nonlinearity } from '../../src/index.js';

export interface ModuleCall {
  cell: CellKind;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  /** The LSTM's; 0 for none. */
  projSize: number;
  bidirectional: boolean;
  /** The RNN's. */
  nonlinearity: Nonlinearity;
  bias?: boolean;
  /** Adds dtype=torch.float64, the page's precision. */
  float64?: boolean;
}

export function moduleCall(m: ModuleCall): string {
  const args = [
    String(m.inputSize),
    String(m.hiddenSize),
    m.cell === 'LSTM' && m.projSize > 0 ? `proj_size=${m.projSize}` : '',
    m.numLayers !== 1 ? `num_layers=${m.numLayers}` : '',
    m.cell === 'RNN' && m.nonlinearity === 'relu' ? `nonlinearity='relu'` : '',
    m.bias === false ? 'bias=False' : '',
    m.bidirectional ? 'bidirectional=True' : '',
    m.float64 ? 'dtype=torch.float64' : '',
  ].filter(Boolean);
  return `nn.${m.cell}(${args.join(', ')})`;
}

/** The left side of `... = rnn(x)`: the LSTM returns its two final states as a pair. */
export function forwardTargets(cell: CellKind): string {
  return cell === 'LSTM' ? 'output, (h_n, c_n)' : 'output, h_n';
}
