/**
 * `stacked-rnn convert`: a state dict between PyTorch .pt, safetensors and JSON, values unchanged.
 */
import type { Command } from 'commander';
import { checkOutputFile, readTensorFile, type WritableFileTensor, writeTensorFile } from '../io/load.js';
import { recordOf } from '../io/record.js';
import { describeSource, KEY_HELP } from './weights.js';

export async function convertCommand(input: string, output: string, o: { key?: string }): Promise<string> {
  await checkOutputFile(output); // before reading: a format the extension names, and no FIFO or device there
  const { tensors, source } = await readTensorFile(input, o.key === undefined ? {} : { key: o.key });
  const record = recordOf<WritableFileTensor>(
    [...tensors].map(([name, t]) => [name, t.kind === 'float' ? t.tensor : t]),
  );
  await writeTensorFile(output, record);
  const from = describeSource(source);
  return `wrote ${tensors.size} tensor(s) from ${input}${from ? ` (${from})` : ''} to ${output}`;
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a state dict between .pt, .safetensors and .json (format of OUT from its extension)')
    .argument('<in>', 'a .pt, .safetensors or .json file')
    .argument('<out>', 'where to write: .pt / .pth (loads with torch.load(weights_only=True)), .safetensors or .json')
    .option('--key <k>', KEY_HELP)
    .action(async (input: string, output: string, opts: { key?: string }) => {
      process.stdout.write(`${await convertCommand(input, output, opts)}\n`);
    });
}
