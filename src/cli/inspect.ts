/**
 * `stacked-rnn inspect`: what a weights file holds, read from its names and shapes.
 */
import type { Command } from 'commander';
import { readStateDictFile } from '../io/load.js';
import { architectureOf, selectPrefix } from '../io/state-dict.js';
import { parameterSpecs } from '../rnn/params.js';

export async function inspectCommand(path: string, o: { prefix?: string; key?: string }): Promise<string> {
  const file = await readStateDictFile(path, o.key === undefined ? {} : { key: o.key });
  const { prefix, sd } = selectPrefix(file, o.prefix);
  const a = architectureOf(sd);
  const specs = parameterSpecs(a);
  const count = specs.reduce((n, s) => n + s.shape.reduce((x, y) => x * y, 1), 0);
  const dtypes = [...new Set(Object.values(sd).map((t) => t.dtype))].join(', ');
  const width = Math.max(...specs.map((s) => s.name.length));
  const lines = [
    `${path}: torch.nn.RNN state dict${prefix ? ` under the prefix '${prefix}'` : ''}`,
    `  input_size=${a.inputSize}, hidden_size=${a.hiddenSize}, num_layers=${a.numLayers}, bidirectional=${a.bidirectional ? 'True' : 'False'}, bias=${a.bias ? 'True' : 'False'}`,
    `  ${count.toLocaleString('en-US')} parameters in ${specs.length} tensors (${dtypes})`,
    ...specs.map((s) => `    ${s.name.padEnd(width)}  (${s.shape.join(', ')})`),
    '  nonlinearity and batch_first are not stored in a state dict: pass --nonlinearity / --batch-first to run',
  ];
  const others = Object.keys(file).length - Object.keys(sd).length;
  if (others > 0) lines.push(`  ${others} other tensor(s) in the file belong to other modules`);
  return lines.join('\n');
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show the architecture and parameter count of a weights file')
    .argument('<weights>', 'state dict (.safetensors or .pt)')
    .option('--prefix <p>', "the RNN's prefix in the state dict (found on its own when unique)")
    .option('--key <k>', 'the nested state dict of a .pt checkpoint')
    .action(async (path: string, opts: { prefix?: string; key?: string }) => {
      process.stdout.write(`${await inspectCommand(path, opts)}\n`);
    });
}
