/**
 * Model checkpoints as safetensors: the RNN's weights under `rnn.`, the head's under `head.`, and in the
 * header's `__metadata__` (string to string) what rebuilds the model: the task, the cell (RNN, LSTM, GRU; a
 * checkpoint without it is from before LSTM and GRU existed, an RNN), sizes, nonlinearity, dtype and, for the
 * character model, the vocabulary. PyTorch loads the tensors into a module with `rnn` and `head`
 * attributes with `load_state_dict(strict=True)` (see docs/training.md).
 *
 * Pure (bytes in, bytes out), so the browser can use it; the CLI does the file access.
 */
import { checkArgument, formatNames, formatSizeList, isObject, RnnError } from '../errors.js';
import { setEntry } from '../io/record.js';
import { type RawTensor, readSafetensors, toFloat, writeSafetensors } from '../io/safetensors.js';
import { architectureFromShapes } from '../io/state-dict.js';
import { CELL_KINDS } from '../rnn/cell.js';
import type { Tensor } from '../tensor.js';
import { type ModelConfig, SequenceModel, TASKS, type TaskName } from './model.js';

/** The `format` metadata value that marks a stacked-rnn checkpoint. */
export const CHECKPOINT_FORMAT = 'stacked-rnn-checkpoint';
export const CHECKPOINT_VERSION = '1';

/** Metadata keys the format owns; anything else in `extra` is kept as given (e.g. training settings). */
const RESERVED = [
  'format',
  'version',
  'task',
  'cell',
  'input_size',
  'hidden_size',
  'num_layers',
  'output_size',
  'nonlinearity',
  'bias',
  'bidirectional',
  'dtype',
  'vocab',
];

/**
 * The model as safetensors bytes. `extra` metadata (string values) is stored beside the format's own keys,
 * which it may not override.
 */
export function checkpointBytes(model: SequenceModel, extra: Record<string, string> = {}): Uint8Array {
  checkArgument(model instanceof SequenceModel, 'checkpointBytes: model', 'a SequenceModel', model);
  checkArgument(isObject(extra), 'checkpointBytes: extra', 'an object of strings', extra);
  const clash = Object.keys(extra).filter((k) => RESERVED.includes(k));
  if (clash.length > 0) {
    throw new RnnError('invalid_argument', `checkpoint metadata key(s) ${clash.join(', ')} are reserved`, {
      expected: 'keys other than these',
      got: clash,
    });
  }
  const c = model.config;
  const metadata: Record<string, string> = {
    ...extra,
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    task: c.task,
    cell: c.cell,
    input_size: String(c.inputSize),
    hidden_size: String(c.hiddenSize),
    num_layers: String(c.numLayers),
    output_size: String(c.outputSize),
    nonlinearity: c.nonlinearity,
    bias: String(c.bias),
    bidirectional: String(c.bidirectional),
    dtype: c.dtype,
  };
  // JSON keeps every character (newlines, quotes) intact inside the string-valued metadata.
  if (c.vocab) metadata.vocab = JSON.stringify(c.vocab);
  return writeSafetensors(model.stateDict(), metadata);
}

function field(meta: Record<string, string>, key: string): string {
  const v = meta[key];
  if (v === undefined) {
    throw new RnnError('corrupt_file', `checkpoint metadata has no '${key}'`, {
      expected: key,
      got: Object.keys(meta),
    });
  }
  return v;
}

function integerField(meta: Record<string, string>, key: string): number {
  const v = field(meta, key);
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1) {
    throw new RnnError('corrupt_file', `checkpoint metadata '${key}' must be a positive integer, got '${v}'`, {
      expected: 'positive integer',
      got: v,
    });
  }
  return n;
}

function booleanField(meta: Record<string, string>, key: string): boolean {
  const v = field(meta, key);
  if (v !== 'true' && v !== 'false') {
    throw new RnnError('corrupt_file', `checkpoint metadata '${key}' must be 'true' or 'false', got '${v}'`, {
      expected: ['true', 'false'],
      got: v,
    });
  }
  return v === 'true';
}

function oneOf<T extends string>(meta: Record<string, string>, key: string, allowed: readonly T[]): T {
  const v = field(meta, key);
  if (!allowed.includes(v as T)) {
    throw new RnnError(
      'corrupt_file',
      `checkpoint metadata '${key}' is '${v}', expected one of ${allowed.join(', ')}`,
      {
        expected: allowed,
        got: v,
      },
    );
  }
  return v as T;
}

function vocabField(meta: Record<string, string>): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(field(meta, 'vocab'));
  } catch {
    throw new RnnError('corrupt_file', "checkpoint metadata 'vocab' is not a JSON array of characters");
  }
  if (!Array.isArray(parsed) || !parsed.every((c) => typeof c === 'string' && [...c].length === 1)) {
    throw new RnnError('corrupt_file', "checkpoint metadata 'vocab' must be a JSON array of single characters");
  }
  return parsed as string[];
}

/** The model config a checkpoint's metadata describes. */
export function configFromMetadata(meta: Record<string, string>): ModelConfig {
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new RnnError(
      'corrupt_file',
      `not a stacked-rnn checkpoint: metadata 'format' is ${meta.format === undefined ? 'missing' : `'${meta.format}'`}`,
      {
        expected: CHECKPOINT_FORMAT,
        got: meta.format,
        hint: 'checkpoints are the model.safetensors files `stacked-rnn train` writes; a bare nn.RNN state dict goes to `stacked-rnn run`',
      },
    );
  }
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new RnnError(
      'unsupported',
      `checkpoint version '${meta.version}' is not supported (this build reads version ${CHECKPOINT_VERSION})`,
      {
        expected: CHECKPOINT_VERSION,
        got: meta.version,
      },
    );
  }
  const task = oneOf<TaskName>(meta, 'task', TASKS);
  return {
    task,
    cell: meta.cell === undefined ? 'RNN' : oneOf(meta, 'cell', CELL_KINDS),
    inputSize: integerField(meta, 'input_size'),
    hiddenSize: integerField(meta, 'hidden_size'),
    numLayers: integerField(meta, 'num_layers'),
    outputSize: integerField(meta, 'output_size'),
    nonlinearity: oneOf(meta, 'nonlinearity', ['tanh', 'relu'] as const),
    bias: booleanField(meta, 'bias'),
    bidirectional: booleanField(meta, 'bidirectional'),
    dtype: oneOf(meta, 'dtype', ['float32', 'float64'] as const),
    vocab: task === 'chars' ? vocabField(meta) : null,
  };
}

/**
 * The metadata's sizes checked against the tensors the file holds, before anything is built from them: a
 * metadata `num_layers` of 100000000 must not make the model allocate 100000000 layers' worth of anything.
 * The file's `rnn.*` tensors give the RNN's architecture (as `stacked-rnn inspect` reads it) and `head.weight`
 * the output size; each must be the metadata's.
 */
function checkAgainstTensors(config: ModelConfig, parts: Record<'rnn' | 'head', Record<string, RawTensor>>): void {
  const a = architectureFromShapes(new Map(Object.entries(parts.rnn).map(([k, t]) => [k, t.shape])));
  const D = a.bidirectional ? 2 : 1;
  const claims: [string, unknown, unknown][] = [
    ['cell', config.cell, a.cell],
    ['num_layers', config.numLayers, a.numLayers],
    ['hidden_size', config.hiddenSize, a.hiddenSize],
    ['input_size', config.inputSize, a.inputSize],
    ['bidirectional', config.bidirectional, a.bidirectional],
    ['bias', config.bias, a.bias],
  ];
  const head = parts.head.weight?.shape;
  if (head !== undefined && head.length === 2) claims.push(['output_size', config.outputSize, head[0]]);
  const wrong = claims.filter(([, said, held]) => said !== held);
  if (wrong.length > 0) {
    throw new RnnError(
      'corrupt_file',
      `checkpoint metadata disagrees with its tensors: ${wrong.map(([k, said, held]) => `'${k}' is ${String(said)} but the tensors hold ${String(held)}`).join(', ')}`,
      {
        expected: Object.fromEntries(wrong.map(([k, , held]) => [k, held])),
        got: Object.fromEntries(wrong.map(([k, said]) => [k, said])),
      },
    );
  }
  const bias = parts.head.bias?.shape;
  if (bias !== undefined && (bias.length !== 1 || bias[0] !== config.outputSize)) {
    throw new RnnError(
      'corrupt_file',
      `checkpoint head.bias has shape ${formatSizeList(bias)}, expected [${config.outputSize}]`,
      { expected: [config.outputSize], got: bias },
    );
  }
  if (head !== undefined && (head.length !== 2 || head[1] !== D * a.hiddenSize)) {
    throw new RnnError(
      'corrupt_file',
      `checkpoint head.weight has shape ${formatSizeList(head)}, expected [${config.outputSize}, ${D * a.hiddenSize}]`,
      { expected: [config.outputSize, D * a.hiddenSize], got: head },
    );
  }
}

/**
 * A model from checkpoint bytes, in eval mode, and the file's whole metadata. The weights must be exactly the
 * model's (every `rnn.*` and `head.*` key, each of its shape), as `load_state_dict(strict=True)` requires, and
 * the metadata's sizes must be those of the weights (checked before the model is built).
 */
export function loadCheckpoint(
  bytes: Uint8Array,
  options: { backend?: string } = {},
): { model: SequenceModel; metadata: Record<string, string> } {
  checkArgument(bytes instanceof Uint8Array, 'loadCheckpoint: bytes', 'a Uint8Array', bytes);
  checkArgument(isObject(options), 'loadCheckpoint: options', 'an object', options);
  const { tensors, metadata } = readSafetensors(bytes);
  const config = configFromMetadata(metadata);
  const parts: Record<'rnn' | 'head', Record<string, RawTensor>> = { rnn: {}, head: {} };
  const stray: string[] = [];
  for (const [name, raw] of tensors) {
    const m = /^(rnn|head)\.([^.]+)$/.exec(name);
    if (m) setEntry(parts[m[1] as 'rnn' | 'head'], m[2] as string, raw);
    else stray.push(name);
  }
  if (stray.length > 0) {
    throw new RnnError('state_dict', `Unexpected key(s) in checkpoint: ${formatNames(stray, { quote: '"' })}`, {
      expected: 'rnn.* and head.*',
      got: stray.slice(0, 8),
    });
  }
  checkAgainstTensors(config, parts);
  const model = new SequenceModel(config, {
    seed: 0,
    ...(options.backend === undefined ? {} : { backend: options.backend }),
  });
  const floats = (r: Record<string, RawTensor>) => {
    const out: Record<string, Tensor> = {};
    for (const [k, raw] of Object.entries(r)) setEntry(out, k, toFloat(raw, config.dtype));
    return out;
  };
  model.rnn.loadStateDict(floats(parts.rnn));
  model.head.loadStateDict(floats(parts.head));
  return { model: model.eval(), metadata };
}
