/**
 * The module an architecture describes: nn.RNN, nn.LSTM or nn.GRU with the sizes a state dict's names and shapes
 * gave, and what the names cannot tell (the RNN's nonlinearity, the batch layout, dtype, backend) from options.
 */
import type { Generator } from '../random.js';
import type { DType } from '../tensor.js';
import type { Nonlinearity } from './cell.js';
import { GRU } from './gru.js';
import { LSTM } from './lstm.js';
import type { RnnArchitecture } from './params.js';
import { RNN } from './rnn.js';

export interface ModuleOptions {
  /** The RNN's f (a state dict does not store it). Default 'tanh'. */
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  dropout?: number;
  dtype?: DType;
  /** A seed, or a generator to draw from (then what is drawn next continues its stream, as after torch.manual_seed). */
  seed?: number | Generator;
  backend?: string;
}

export type RecurrentModule = RNN | LSTM | GRU;

/** A new module of `arch`'s cell and sizes (weights initialised from `options.seed`, default 0). */
export function moduleFor(arch: RnnArchitecture, options: ModuleOptions = {}): RecurrentModule {
  const { nonlinearity, ...common } = options;
  const base = {
    inputSize: arch.inputSize,
    hiddenSize: arch.hiddenSize,
    numLayers: arch.numLayers,
    bidirectional: arch.bidirectional,
    bias: arch.bias,
    seed: 0,
    ...common,
  };
  if (arch.cell === 'LSTM') return new LSTM({ ...base, projSize: arch.projSize });
  if (arch.cell === 'GRU') return new GRU(base);
  return new RNN({ ...base, ...(nonlinearity === undefined ? {} : { nonlinearity }) });
}
