/**
 * stacked-rnn: PyTorch's multi-layer torch.nn.RNN in TypeScript, exact to PyTorch's numbers.
 *
 * Dimension letters used throughout: L sequence, N batch, I input, H hidden, D directions, K layers.
 */
export { RnnError, type RnnErrorCode, type RnnErrorDetails } from './errors.js';
export {
  getKernel,
  type Kernel,
  kernelNames,
  type Nonlinearity,
  referenceKernel,
  registerKernel,
} from './kernels/index.js';
export { Generator } from './random.js';
export {
  type FunctionalOptions,
  mistakenForward,
  rnnForward,
  type TraceEvent,
  type TraceStep,
} from './rnn/functional.js';
export type { LoadResult, StateDict } from './rnn/module.js';
export {
  inferArchitecture,
  type ParameterSpec,
  parameterSpecs,
  type RnnArchitecture,
} from './rnn/params.js';
export { type ForwardOptions, RNN, type RNNOptions } from './rnn/rnn.js';
export { RNNCell, type RNNCellOptions } from './rnn/rnn-cell.js';
export {
  type DType,
  type FloatArray,
  type NestedArray,
  type RandomOptions,
  rand,
  randn,
  Tensor,
  tensor,
  zeros,
} from './tensor.js';
