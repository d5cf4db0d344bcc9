/**
 * `stacked-rnn sample`: text from a character model - a checkpoint written by `stacked-rnn train`, or a PyTorch
 * model (.pt, .safetensors or .json) holding Embedding -> RNN/LSTM/GRU -> Linear, found by shapes, with its
 * vocabulary from --vocab. The file's format is detected from its bytes as every command does (io/detect.ts).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { RnnError } from '../errors.js';
import { languageModelFromStateDict } from '../io/char-model.js';
import { detectFormat } from '../io/detect.js';
import { readBytes } from '../io/files.js';
import { parseTensorFile } from '../io/load.js';
import { setEntry } from '../io/record.js';
import { readSafetensors } from '../io/safetensors.js';
import type { Tensor } from '../tensor.js';
import { CHECKPOINT_FORMAT, loadCheckpoint } from '../train/checkpoint.js';
import { encodeWith, generateIds, type Vocabulary, vocabularyFrom } from '../train/generate.js';
import { sampleText } from '../train/sample.js';
import { parseInteger } from './options.js';
import { readVocab } from './vocab-file.js';
import { KEY_HELP } from './weights.js';

export interface SampleCommandOptions {
  /** The model file (--model); --checkpoint is the same option's older name. */
  model?: string;
  checkpoint?: string;
  /** vocab.json: the tokens in id order (or token -> id); needed unless the file holds its vocabulary. */
  vocab?: string;
  length: number;
  prime?: string;
  temperature: number;
  topK?: number;
  seed?: number;
  key?: string;
  prefix?: string;
}

function parseTemperature(value: string): number {
  const t = Number(value);
  if (value.trim() === '' || !Number.isFinite(t) || t < 0) {
    throw new InvalidArgumentError(`temperature must be a number >= 0, got '${value}'.`);
  }
  return t;
}

/**
 * `load()`, or one line that names the file and why it does not load: what it is when it holds no model (a text
 * or CSV file, a bare recurrent module), and a load_state_dict dump of several lines as one.
 */
function fromFile<T>(path: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof RnnError) || err.message.startsWith(`${path}`)) throw err;
    const oneLine = err.message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
    throw new RnnError(err.code, `${path}: ${oneLine}`, {
      expected: err.expected,
      got: err.got,
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
}

/** The prime and the generated text. */
export async function sampleCommand(o: SampleCommandOptions): Promise<string> {
  if (o.model !== undefined && o.checkpoint !== undefined) {
    throw new RnnError('invalid_argument', '--model and --checkpoint name the same file: give one');
  }
  const path = o.model ?? o.checkpoint;
  if (path === undefined) {
    throw new RnnError('invalid_argument', 'sample needs a model: --model <file> (.pt, .safetensors or .json)', {
      hint: 'e.g. stacked-rnn sample --model lm.pt --vocab vocab.json --prime "The"',
    });
  }
  const bytes = await readBytes(path);
  const format = fromFile(path, () => detectFormat(bytes, path));
  const sd: Record<string, Tensor> = {};
  let fileVocab: Vocabulary | undefined;
  if (format === 'safetensors') {
    const { metadata } = readSafetensors(bytes);
    if (metadata.format === CHECKPOINT_FORMAT && metadata.task !== 'text') {
      // A one-hot model of `train --task chars`: its vocabulary is in the file.
      if (o.vocab !== undefined || o.key !== undefined || o.prefix !== undefined) {
        throw new RnnError('invalid_argument', `${path} is a stacked-rnn checkpoint with its own vocabulary`, {
          hint: 'leave out --vocab, --key and --prefix for it',
        });
      }
      return sampleText(fromFile(path, () => loadCheckpoint(bytes)).model, {
        length: o.length,
        temperature: o.temperature,
        ...(o.topK === undefined ? {} : { topK: o.topK }),
        ...(o.prime === undefined ? {} : { prime: o.prime }),
        ...(o.seed === undefined ? {} : { seed: o.seed }),
      });
    }
    if (metadata.format === CHECKPOINT_FORMAT && metadata.vocab !== undefined) {
      fileVocab = vocabularyFrom(JSON.parse(metadata.vocab));
    }
  }
  const { model, vocabSize } = fromFile(path, () => {
    const file = parseTensorFile(bytes, path, o.key === undefined ? {} : { key: o.key });
    for (const [name, t] of file.tensors) if (t.kind === 'float') setEntry(sd, name, t.tensor);
    return languageModelFromStateDict(sd, o.prefix === undefined ? {} : { prefix: o.prefix });
  });
  const vocab = o.vocab !== undefined ? await readVocab(o.vocab) : fileVocab;
  if (vocab === undefined) {
    throw new RnnError('invalid_argument', `${path} holds no vocabulary: give it with --vocab vocab.json`, {
      hint: 'vocab.json is a JSON array of the tokens in id order, e.g. json.dump(itos, f) in Python',
    });
  }
  if (vocab.length !== vocabSize) {
    throw new RnnError(
      'invalid_argument',
      `the vocabulary has ${vocab.length} tokens but the model's embedding ${vocabSize} rows`,
      { expected: vocabSize, got: vocab.length },
    );
  }
  const prime = o.prime ?? (vocab.includes('\n') ? '\n' : (vocab[0] as string));
  const ids = generateIds(model, encodeWith(vocab, prime), {
    length: o.length,
    temperature: o.temperature,
    ...(o.topK === undefined ? {} : { topK: o.topK }),
    ...(o.seed === undefined ? {} : { generator: o.seed }),
  });
  return prime + ids.map((i) => vocab[i]).join('');
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description(
      'generate text from a character model: a stacked-rnn train checkpoint, or a PyTorch Embedding -> RNN/LSTM/GRU -> Linear model',
    )
    .option('--model <file>', 'the model: .pt, .safetensors or .json (a PyTorch state dict or checkpoint, or ours)')
    .option('--checkpoint <file>', 'the same as --model')
    .option('--vocab <file>', 'vocab.json: the tokens in id order (needed unless the file holds its vocabulary)')
    .option('--length <n>', 'characters to generate after the prime', parseInteger('length', 0, 1_000_000), 300)
    .option('--prime <text>', 'text to start from (default: a newline)')
    .option('--temperature <t>', 'softmax temperature; 0 always picks the likeliest character', parseTemperature, 0.8)
    .option('--top-k <k>', 'draw only among the k likeliest characters', parseInteger('top-k', 1))
    .option('--seed <s>', 'seeds the draws (default: random)', parseInteger('seed', 0, 2 ** 32 - 1))
    .option('--key <k>', KEY_HELP)
    .option('--prefix <p>', "where the recurrent module is in the state dict, e.g. 'rnn.' (default: found)")
    .action(async (opts: SampleCommandOptions) => {
      const text = await sampleCommand(opts);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });
}
