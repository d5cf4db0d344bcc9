/**
 * `stacked-rnn sample`: text from a character-model checkpoint written by `stacked-rnn train --task chars`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { readBytes } from '../io/files.js';
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

/** The prime and the generated text. */
export async function sampleCommand(o: SampleCommandOptions): Promise<string> {
  const { model } = loadCheckpoint(await readBytes(o.checkpoint));
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
