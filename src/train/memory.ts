/**
 * What a training step holds in memory, estimated from its sizes before anything is built, so that a run that
 * cannot fit (each flag within its range, the product 77 GB) is refused in one line instead of failing deep in an
 * allocation.
 */
import { RnnError } from '../errors.js';
import { gateCount } from '../rnn/cell.js';
import { parameterCount } from '../rnn/params.js';
import { formatBytes } from '../tensor.js';
import { TEXT, vocabularyOf } from './data.js';
import type { TrainConfig } from './loop.js';

/** The input and output features of a task's model: 1 and 1 for the sine, the vocabulary's size for chars. */
export function taskFeatures(task: TrainConfig['task']): { inputSize: number; outputSize: number } {
  const V = task === 'chars' ? vocabularyOf(TEXT).chars.length : 1;
  return { inputSize: V, outputSize: V };
}

/**
 * The bytes one training step of `c` holds at its peak, about: the parameters with their gradients and the
 * optimizer's state, the tape of the forward (every layer's output and, for the LSTM and GRU, its gates), and the
 * buffers of one layer's forward and backward (its input projection, the gradients passing down).
 *
 *   elements = K L N (H + W) + L N (2 G H + 5 H + 3 I + 4 O) + (2 + state) params
 *
 * with W the gates a gated cell records a step (5H for the LSTM, 4H for the GRU, 0 for the RNN).
 */
export function trainingBytes(c: TrainConfig, io = taskFeatures(c.task)): number {
  const { inputSize: I, outputSize: O } = io;
  const H = c.hidden;
  const K = c.layers;
  const LN = c.seqLen * c.batch;
  const G = gateCount(c.cell);
  const W = c.cell === 'LSTM' ? 5 * H : c.cell === 'GRU' ? 4 * H : 0;
  const params =
    parameterCount({
      cell: c.cell,
      inputSize: I,
      hiddenSize: H,
      numLayers: K,
      bidirectional: false,
      bias: true,
      projSize: 0,
    }) +
    H * O +
    O;
  const state = c.optimizer === 'adam' ? 2 : 1;
  const elements = K * LN * (H + W) + LN * (2 * G * H + 5 * H + 3 * I + 4 * O) + (2 + state) * params;
  return elements * (c.dtype === 'float64' ? 8 : 4);
}

/**
 * Throws an RnnError when a step of `c` would need more than `limit` bytes (by `trainingBytes`), naming the
 * estimate, the limit and the flags that shrink it.
 */
export function checkTrainingMemory(c: TrainConfig, limit: number, io = taskFeatures(c.task)): void {
  const bytes = trainingBytes(c, io);
  if (bytes <= limit) return;
  throw new RnnError(
    'invalid_argument',
    `training a ${c.layers}-layer ${c.cell} of hidden size ${c.hidden} on batches of ${c.batch} x ${c.seqLen} steps needs about ${formatBytes(bytes)} of memory; this machine has ${formatBytes(limit)}`,
    {
      expected: `<= ${formatBytes(limit)}`,
      got: formatBytes(bytes),
      hint: 'use a smaller --batch, --seq-len, --hidden or --layers (the memory grows with their product)',
    },
  );
}
