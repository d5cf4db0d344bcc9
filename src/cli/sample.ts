/**
 * `stacked-rnn sample`: text from a character-model checkpoint written by `stacked-rnn train --task chars`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { RnnError } from '../errors.js';
import { DETECT_BYTES, detectFormat, notATensorFile } from '../io/detect.js';
import { readBytes, readHead } from '../io/files.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { sampleText } from '../train/sample.js';
import { parseInteger } from './options.js';

export interface SampleCommandOptions {
  checkpoint: string;
  length: number;
  prime?: string;
  temperature: number;
  seed?: number;
}

function parseTemperature(value: string): number {
  const t = Number(value);
  if (value.trim() === '' || !Number.isFinite(t) || t < 0) {
    throw new InvalidArgumentError(`temperature must be a number >= 0, got '${value}'.`);
  }
  return t;
}

/**
 * The checkpoint at `path`, or one line that names the file: what it is when it is no checkpoint (a .pt file,
 * JSON, text), and why it does not load when it is one.
 */
async function readCheckpoint(path: string): Promise<ReturnType<typeof loadCheckpoint>> {
  const { head, size, regular } = await readHead(path, DETECT_BYTES);
  const format = regular ? detectFormat(head, path) : 'safetensors';
  if (format !== 'safetensors') {
    const what =
      format === 'pt'
        ? 'a PyTorch .pt file'
        : format === 'json'
          ? 'a JSON file'
          : `no tensor file (${notATensorFile(head, size).message.replace(/^neither .*?: /, '')})`;
    throw new RnnError('corrupt_file', `${path} is not a stacked-rnn checkpoint: it is ${what}`, {
      expected: 'the model.safetensors that `stacked-rnn train --task chars` writes',
      got: format,
      hint: 'sample reads the model.safetensors `stacked-rnn train --task chars` writes; a bare state dict goes to `stacked-rnn run`',
    });
  }
  try {
    return loadCheckpoint(await readBytes(path));
  } catch (err) {
    if (!(err instanceof RnnError) || err.message.startsWith(`${path}:`)) throw err;
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
  const { model } = await readCheckpoint(o.checkpoint);
  return sampleText(model, {
    length: o.length,
    temperature: o.temperature,
    ...(o.prime === undefined ? {} : { prime: o.prime }),
    ...(o.seed === undefined ? {} : { seed: o.seed }),
  });
}

export function registerSample(program: Command): void {
  program
    .command('sample')
    .description('generate text from a character-model checkpoint (stacked-rnn train --task chars)')
    .requiredOption('--checkpoint <file>', 'model.safetensors written by stacked-rnn train --task chars')
    .option('--length <n>', 'characters to generate after the prime', parseInteger('length', 0, 1_000_000), 300)
    .option('--prime <text>', 'text to start from (default: a newline)')
    .option('--temperature <t>', 'softmax temperature; 0 always picks the likeliest character', parseTemperature, 0.8)
    .option('--seed <s>', 'seeds the draws (default: random)', parseInteger('seed', 0, 2 ** 32 - 1))
    .action(async (opts: SampleCommandOptions) => {
      const text = await sampleCommand(opts);
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });
}
