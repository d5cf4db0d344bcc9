#!/usr/bin/env node
/**
 * The `stacked-rnn` command. Thin: it parses, calls the library, prints, and sets the exit code. Errors become
 * one line (and a hint) on stderr, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { RnnError } from '../errors.js';
import { checkEnvironment } from '../kernels/index.js';
import { registerConvert } from './convert.js';
import { registerDemo } from './demo.js';
import { registerDoctor } from './doctor.js';
import { registerExplain } from './explain.js';
import { registerInspect } from './inspect.js';
import { registerRun } from './run.js';
import { registerSample } from './sample.js';
import { registerTrain } from './train.js';

export function buildProgram(): Command {
  const program = new Command('stacked-rnn')
    .description("PyTorch's multi-layer torch.nn.RNN, nn.LSTM and nn.GRU in TypeScript, exact to PyTorch's numbers")
    .version('0.1.0')
    .exitOverride()
    .configureOutput({
      // One line: commander puts its "(Did you mean --weights?)" on a line of its own.
      outputError: (text, write) =>
        write(
          text.replace(/^error: /, 'stacked-rnn: error: ').replace(/\n\(Did you mean (.*)\?\)/, '; did you mean $1?'),
        ),
    });
  registerDemo(program);
  registerRun(program);
  registerInspect(program);
  registerConvert(program);
  registerTrain(program);
  registerSample(program);
  registerExplain(program);
  registerDoctor(program);
  for (const command of program.commands) unknownOptionsFirst(command);
  return program;
}

/**
 * Makes an unknown option (`--weigths`) an error with commander's "did you mean --weights?" before the
 * required options are checked: commander checks required options first, so a misspelt required option was
 * reported as missing. The required options are checked after, in commander's words.
 */
function unknownOptionsFirst(command: Command): void {
  const required = command.options.filter((o) => o.mandatory);
  if (required.length === 0) return;
  for (const o of required) o.makeOptionMandatory(false);
  command.hook('preAction', (c) => {
    for (const o of required) {
      if (c.getOptionValue(o.attributeName()) === undefined) {
        c.error(`error: required option '${o.flags}' not specified`, {
          code: 'commander.missingMandatoryOptionValue',
        });
      }
    }
  });
}

/** The library's hint, in the command line's words: its options objects are the command's flags. */
function cliHint(err: RnnError): string | undefined {
  const option = err.data?.option;
  const candidates = err.data?.candidates;
  if ((option === 'key' || option === 'prefix') && Array.isArray(candidates)) {
    const names = candidates.map(String);
    const example = option === 'prefix' ? (names.find((c) => c !== '') ?? names[0]) : names[0];
    if (example !== undefined)
      return `choose one with --${option}, e.g. --${option} ${example === '' ? "''" : example}`;
  }
  // A hint about the library's options (e.g. options.limits) has no flag to match.
  if (err.hint && /options\.|\{ \w+:/.test(err.hint)) return undefined;
  return err.hint;
}

/** The most characters of a message printed: a hostile file's names could make one megabytes long. */
const MAX_MESSAGE_CHARS = 2000;

function cut(text: string): string {
  if (text.length <= MAX_MESSAGE_CHARS) return text;
  return `${text.slice(0, MAX_MESSAGE_CHARS)}... (${text.length} characters in all)`;
}

export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (and help, for `--help`); keep its exit code.
    return err.exitCode;
  }
  if (err instanceof RnnError) {
    process.stderr.write(`stacked-rnn: error: ${cut(err.message).split('\n').join('\n  ')}\n`);
    const hint = cliHint(err);
    if (hint) process.stderr.write(`hint: ${cut(hint)}\n`);
    return 1;
  }
  const message = cut(err instanceof Error ? err.message : String(err));
  process.stderr.write(
    `stacked-rnn: internal error: ${message}\nhint: this is a bug; please report it with the command you ran\n`,
  );
  return 70;
}

export async function main(argv: string[]): Promise<number> {
  try {
    checkEnvironment(); // read while the modules loaded; reported here, in one line, whatever the command
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    return reportError(err);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
