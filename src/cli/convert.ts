/**
 * `stacked-rnn convert`: a state dict between PyTorch .pt, safetensors and JSON, values unchanged.
 */
import type { Command } from 'commander';
import { float32ToString } from '../io/json-tensors.js';
import { checkOutputFile, readTensorFile, type WritableFileTensor, writeTensorFile } from '../io/load.js';
import { recordOf } from '../io/record.js';
import { describeSource, KEY_HELP } from './weights.js';

/** Whether every value is the shortest decimal of a float32 (what JSON holds for a float32 tensor). */
function float32Text(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number(float32ToString(Math.fround(v))) !== v) return false;
  }
  return true;
}

export async function convertCommand(input: string, output: string, o: { key?: string }): Promise<string> {
  await checkOutputFile(output); // before reading: a format the extension names, and no FIFO or device there
  const { tensors, source, format } = await readTensorFile(input, o.key === undefined ? {} : { key: o.key });
  const record = recordOf<WritableFileTensor>(
    [...tensors].map(([name, t]) => {
      if (t.kind !== 'float') return [name, t];
      // JSON has no dtype: a tensor written from float32 (every value a float32's shortest decimal) goes back to
      // float32, as torch.tensor would make it, so .pt -> .json -> .pt keeps float32; other values stay float64.
      return [name, format === 'json' && float32Text(t.tensor.data) ? t.tensor.to('float32') : t.tensor];
    }),
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
