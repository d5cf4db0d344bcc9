/**
 * stacked-rnn: PyTorch's multi-layer torch.nn.RNN in TypeScript, exact to PyTorch's numbers.
 *
 * Dimension letters used throughout: L sequence, N batch, I input, H hidden, D directions, K layers.
 */
export { RnnError, type RnnErrorCode, type RnnErrorDetails } from './errors.js';
export { readJsonTensors, writeJsonTensors } from './io/json-tensors.js';
export {
  COMMON_STATE_DICT_KEYS,
  IntTensor,
  type PtReadOptions,
  type PtSelection,
  type PtStateDictSource,
  readPt,
  readPtObject,
  readPtSelection,
  readPtStateDict,
  writePtStateDict,
} from './io/pt/index.js';
// Files: safetensors, PyTorch .pt (restricted unpickler; nothing in a file is ever run), JSON tensors, and
// finding an RNN in a bigger model's state dict. All pure: they take and return bytes, and run in a browser.
export {
  type RawTensor,
  readSafetensors,
  type SafetensorsDType,
  toFloat,
  toIntegers,
  type WritableTensor,
  writeSafetensors,
} from './io/safetensors.js';
export { architectureOf, findPrefixes, rnnFromStateDict, selectPrefix } from './io/state-dict.js';
export {
  getKernel,
  type Kernel,
  kernelNames,
  type Nonlinearity,
  referenceKernel,
  registerKernel,
} from './kernels/index.js';
export type { RecurrenceArgs, RecurrenceBackwardArgs } from './kernels/kernel.js';
// Training: the RNN's backward is `rnn.backward(...)`; these are the pieces around it.
export { Linear, type LinearOptions } from './nn/linear.js';
export type { LoadResult, StateDict } from './nn/module.js';
export { Generator } from './random.js';
export {
  type FunctionalOptions,
  mistakenForward,
  rnnForward,
  type TraceEvent,
  type TraceStep,
} from './rnn/functional.js';
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
export { checkpointBytes, loadCheckpoint } from './train/checkpoint.js';
export { type ClipOptions, clipGradNorm } from './train/clip.js';
export { defaultConfig, type TrainConfig, Trainer, train } from './train/loop.js';
export {
  crossEntropyLoss,
  crossEntropyLossBackward,
  mseLoss,
  mseLossBackward,
  type Reduction,
} from './train/losses.js';
export { type ModelConfig, SequenceModel } from './train/model.js';
export {
  Adam,
  type AdamOptions,
  type Optimizer,
  type Param,
  parametersOf,
  SGD,
  type SGDOptions,
} from './train/optim.js';
export { lossPlotSvg, type Series } from './train/plot.js';
export { type SampleOptions, sampleText } from './train/sample.js';
