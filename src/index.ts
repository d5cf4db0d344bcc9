/**
 * stacked-rnn: PyTorch's multi-layer torch.nn.RNN, nn.LSTM and nn.GRU in TypeScript, exact to PyTorch's numbers.
 *
 * Dimension letters used throughout: L sequence, N batch, I input, H hidden, P state width (proj_size, else H),
 * G gates, D directions, K layers.
 */
export { RnnError, type RnnErrorCode, type RnnErrorDetails } from './errors.js';
export { type LanguageModel, type LanguageModelOptions, languageModelFromStateDict } from './io/char-model.js';
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
export { PtFloat, PtTuple, type PtWritable, writePtObject } from './io/pt/write-object.js';
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
export {
  architectureOf,
  type FromStateDictOptions,
  findPrefixes,
  gruFromStateDict,
  lstmFromStateDict,
  moduleFromStateDict,
  rnnFromStateDict,
  selectPrefix,
} from './io/state-dict.js';
export {
  getKernel,
  getThreads,
  type Kernel,
  type KernelReadyOptions,
  kernelNames,
  kernelReady,
  MAX_THREADS,
  type Mode,
  referenceKernel,
  registerKernel,
  setThreads,
} from './kernels/index.js';
export { type KernelInfo, kernelInfo } from './kernels/info.js';
export type { RecurrenceArgs, RecurrenceBackwardArgs } from './kernels/kernel.js';
// The modules around an RNN in a whole model (ids -> Embedding -> RNN -> Linear), each with its backward, and a
// submodule's part of the model's state dict. Training: the RNN's backward is `rnn.backward(...)`.
export { Embedding, type EmbeddingIds, type EmbeddingOptions } from './nn/embedding.js';
export { Linear, type LinearOptions } from './nn/linear.js';
export type { LoadResult, StateDict } from './nn/module.js';
export {
  Sequential,
  type SequentialChild,
  type SequentialForwardOptions,
  type SequentialGradients,
  type SequentialState,
  type SequentialStateGradients,
} from './nn/sequential.js';
export { submoduleStateDict } from './nn/submodule.js';
export { Generator } from './random.js';
export { type BackwardOptions, type ForwardOptions, type RecurrentOptions, RNNBase } from './rnn/base.js';
export type { CellKind, Nonlinearity } from './rnn/cell.js';
export type { RecurrentModule } from './rnn/from-architecture.js';
export {
  type FunctionalOptions,
  type FunctionalResult,
  gruForward,
  lstmForward,
  mistakenForward,
  recurrentForward,
  rnnForward,
  type TraceEvent,
  type TraceGate,
  type TraceStep,
} from './rnn/functional.js';
export { GRUCell, LSTMCell, type LSTMCellGradients } from './rnn/gated-cells.js';
export { GRU, type GRUOptions } from './rnn/gru.js';
export { LSTM, type LSTMGradients, type LSTMOptions } from './rnn/lstm.js';
export {
  inferArchitecture,
  type ParameterSpec,
  parameterSpecs,
  type RnnArchitecture,
} from './rnn/params.js';
export { HiddenStateModule, RNN, type RNNGradients, type RNNOptions, type RNNParameterGradients } from './rnn/rnn.js';
export {
  type CellOptions,
  RNNCell,
  RNNCellBase,
  type RNNCellGradients,
  type RNNCellOptions,
} from './rnn/rnn-cell.js';
export { RecurrentStream, type StepOptions, type StreamOptions } from './rnn/stream.js';
// Choosing the next token from logits: greedy, softmax with a temperature, and torch.multinomial's seeded draw.
export { argmax, type LogitsRow, type SamplingOptions, type SoftmaxOptions, sample, softmax } from './sampling.js';
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
  crossEntropyLossWithGrad,
  mseLoss,
  mseLossBackward,
  type Reduction,
} from './train/losses.js';
export { type ModelConfig, SequenceModel } from './train/model.js';
export {
  Adam,
  type AdamOptions,
  AdamW,
  type AdamWOptions,
  type Optimizer,
  type Param,
  parametersOf,
  SGD,
  type SGDOptions,
} from './train/optim.js';
export type { OptimizerStateDict, ParamGroup } from './train/optim-state.js';
export { lossPlotSvg, type Series } from './train/plot.js';
export { type SampleOptions, sampleText } from './train/sample.js';
