/**
 * `stacked-rnn convert`: a state dict between PyTorch .pt, safetensors and JSON, values unchanged.
 */
import type { Command } from 'commander';
import { RnnError } from '../errors.js';
import { readTensorFile, type WritableFileTensor, writeTensorFile } from '../io/load.js';

export async function convertCommand(input: string, output: string, o: { key?: string }): Promise<string> {
  if (!/\.(pt|pth|safetensors|json)$/i.test(output)) {
    throw new RnnError('invalid_argument', `cannot tell the output format from '${output}'`, {
      expected: '.pt, .pth, .safetensors or .json',
      got: output,
    });
  }
  const tensors = await readTensorFile(input, o.key === undefined ? {} : { key: o.key });
  const record: Record<string, WritableFileTensor> = {};
  for (const [name, t] of tensors) record[name] = t.kind === 'float' ? t.tensor : t;
  await writeTensorFile(output, record);
  return `wrote ${tensors.size} tensor(s) from ${input} to ${output}`;
}

export function registerConvert(program: Command): void {
  program
    .command('convert')
    .description('convert a state dict between .pt, .safetensors and .json (format of OUT from its extension)')
    .argument('<in>', 'a .pt, .safetensors or .json file')
    .argument('<out>', 'where to write: .pt / .pth (loads with torch.load(weights_only=True)), .safetensors or .json')
    .option('--key <k>', "the nested state dict of a .pt checkpoint, e.g. 'model'")
    .action(async (input: string, output: string, opts: { key?: string }) => {
      process.stdout.write(`${await convertCommand(input, output, opts)}\n`);
    });
}
