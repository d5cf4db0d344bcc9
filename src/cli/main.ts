#!/usr/bin/env node
/**
 * The `stacked-rnn` command. Thin: it parses, calls the library, prints, and sets the exit code. Errors become
 * one line (and a hint) on stderr, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { RnnError } from '../errors.js';
import { registerConvert } from './convert.js';
import { registerDemo } from './demo.js';
import { registerExplain } from './explain.js';
import { registerInspect } from './inspect.js';
import { registerRun } from './run.js';
import { registerSample } from './sample.js';
import { registerTrain } from './train.js';

export function buildProgram(): Command {
  const program = new Command('stacked-rnn')
    .description("PyTorch's multi-layer torch.nn.RNN in TypeScript, exact to PyTorch's numbers")
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'stacked-rnn: error: ')) });
  registerDemo(program);
  registerRun(program);
  registerInspect(program);
  registerConvert(program);
  registerTrain(program);
  registerSample(program);
  registerExplain(program);
  return program;
}

/** The library's hint, in the command line's words where the library speaks of options objects. */
function cliHint(err: RnnError): string | undefined {
  const candidates = err.data?.candidates;
  if (Array.isArray(candidates) && candidates.length > 0)
    return `choose one with --key, e.g. --key ${String(candidates[0])}`;
  return err.hint;
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (and help, for `--help`); keep its exit code.
    return err.exitCode;
  }
  if (err instanceof RnnError) {
    process.stderr.write(`stacked-rnn: error: ${err.message.split('\n').join('\n  ')}\n`);
    const hint = cliHint(err);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `stacked-rnn: internal error: ${message}\nhint: this is a bug; please report it with the command you ran\n`,
  );
  return 70;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
