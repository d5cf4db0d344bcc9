/**
 * `stacked-rnn inspect`: what a weights file holds, read from its names and shapes.
 */
import type { Command } from 'commander';
import { formatNames } from '../errors.js';
import { architectureOf } from '../io/state-dict.js';
import { reprOf } from '../rnn/base.js';
import type { CellKind } from '../rnn/cell.js';
import { parameterSpecs } from '../rnn/params.js';
import { parseCell } from './options.js';
import { KEY_HELP, readRnnWeights } from './weights.js';

export async function inspectCommand(
  path: string,
  o: { prefix?: string; key?: string; cell?: CellKind },
): Promise<string> {
  const { sd, where, others, fileDtypes } = await readRnnWeights(path, o);
  const a = architectureOf(sd, o.cell);
  const specs = parameterSpecs(a);
  const count = specs.reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
  // The file's dtypes: a float16 or bfloat16 file is read as float32 but is not a float32 file.
  const dtypes = fileDtypes.join(', ');
  const width = Math.max(...specs.map((s) => s.name.length));
  const lines = [
    `${path}: nn.${a.cell} state dict${where ? ` at ${where}` : ''}`,
    `  ${reprOf(a)}`, // as PyTorch prints it, the layout a state dict cannot tell at its defaults
    `  input_size=${a.inputSize}, hidden_size=${a.hiddenSize}${a.projSize ? `, proj_size=${a.projSize}` : ''}, num_layers=${a.numLayers}, bidirectional=${a.bidirectional ? 'True' : 'False'}, bias=${a.bias ? 'True' : 'False'}`,
    `  ${count.toLocaleString('en-US')} parameters in ${specs.length} tensors (${dtypes})`,
    ...specs.map((s) => `    ${s.name.padEnd(width)}  (${s.shape.join(', ')})`),
    a.cell === 'RNN'
      ? '  nonlinearity and batch_first are not stored in a state dict: pass --nonlinearity / --batch-first to run'
      : '  batch_first is not stored in a state dict: pass --batch-first to run',
  ];
  if (others.length > 0) {
    lines.push(`  ${others.length} other tensor(s) in the state dict belong to other modules: ${formatNames(others)}`);
  }
  return lines.join('\n');
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show the architecture and parameter count of a weights file')
    .argument(
      '<weights>',
      'state dict of an nn.RNN, nn.LSTM or nn.GRU, or of a model or checkpoint holding one (.pt, .safetensors or .json)',
    )
    .option('--prefix <p>', "the module's prefix in a model's state dict (found on its own when unique)")
    .option(
      '--cell <cell>',
      'rnn, lstm or gru: the module the file must hold (default: read off its shapes)',
      parseCell,
    )
    .option('--key <k>', KEY_HELP)
    .action(async (path: string, opts: { prefix?: string; key?: string; cell?: CellKind }) => {
      process.stdout.write(`${await inspectCommand(path, opts)}\n`);
    });
}
