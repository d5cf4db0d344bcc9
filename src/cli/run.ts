/**
 * `stacked-rnn run`: a torch.nn.RNN state dict applied to an input file, results written atomically. With
 * `grad_output` and/or `grad_h_n` in the input file it also runs the backward pass and writes the gradients.
 */
import type { Command } from 'commander';
import { formatNames, RnnError } from '../errors.js';
import { checkOutputFile, type FileTensor, readTensorFile, writeTensorFile } from '../io/load.js';
import { rnnFromStateDict } from '../io/state-dict.js';
import type { Nonlinearity } from '../rnn/cell.js';
import type { DType, Tensor } from '../tensor.js';
import { parseDtype, parseNonlinearity } from './options.js';
import { KEY_HELP, readRnnWeights } from './weights.js';

export interface RunOptions {
  weights: string;
  input: string;
  out: string;
  nonlinearity: Nonlinearity;
  batchFirst: boolean;
  prefix?: string;
  key?: string;
  dtype?: DType;
}

const INPUT_NAMES = ['input', 'h0', 'lengths', 'grad_output', 'grad_h_n'];

function floatTensor(name: string, t: FileTensor | undefined, dtype: DType): Tensor | undefined {
  if (t === undefined) return undefined;
  if (t.kind !== 'float') {
    throw new RnnError('invalid_argument', `'${name}' must hold floating-point values, got integers`, {
      expected: 'F32 or F64',
      got: 'I64/I32',
    });
  }
  return t.tensor.dtype === dtype ? t.tensor : t.tensor.to(dtype);
}

function integerList(name: string, t: FileTensor | undefined): number[] | undefined {
  if (t === undefined) return undefined;
  const shape = t.kind === 'int' ? t.shape : [...t.tensor.shape];
  if (shape.length !== 1) {
    throw new RnnError(
      'shape_mismatch',
      `'${name}' must be 1-D (one length per batch element), got shape [${shape.join(', ')}]`,
    );
  }
  const values = t.kind === 'int' ? t.values : Array.from(t.tensor.data);
  const bad = values.findIndex((v) => !Number.isInteger(v));
  if (bad >= 0)
    throw new RnnError('invalid_argument', `'${name}' must hold integers, got ${name}[${bad}] = ${values[bad]}`);
  return values;
}

/** Runs the command; returns a summary line. Nothing is written unless everything succeeded. */
export async function runCommand(o: RunOptions): Promise<string> {
  await checkOutputFile(o.out); // before any work: a format the extension names, and no FIFO or device there
  const weights = await readRnnWeights(o.weights, o);
  const { tensors } = await readTensorFile(o.input).catch((err: unknown) => {
    // --key and --prefix choose among the weights' state dicts, not the input's: say how to save an input.
    if (!(err instanceof RnnError) || err.data?.option === undefined) throw err;
    throw new RnnError(err.code, err.message, {
      expected: err.expected,
      got: err.got,
      hint: "save the input's tensors at the top level of the file: torch.save({'input': x, 'lengths': l}, path)",
    });
  });
  const unexpected = [...tensors.keys()].filter((k) => !INPUT_NAMES.includes(k));
  if (unexpected.length > 0) {
    throw new RnnError('invalid_argument', `unexpected tensor(s) in ${o.input}: ${formatNames(unexpected)}`, {
      expected: INPUT_NAMES,
      got: unexpected.slice(0, 8),
      hint: "the input file holds 'input' and optionally 'h0', 'lengths', 'grad_output' and 'grad_h_n'",
    });
  }
  const raw = tensors.get('input');
  if (raw === undefined) {
    throw new RnnError('invalid_argument', `${o.input} has no tensor named 'input'`, {
      expected: 'input',
      got: [...tensors.keys()],
    });
  }
  const dtype = o.dtype ?? (raw.kind === 'float' ? raw.tensor.dtype : 'float32');
  const input = floatTensor('input', raw, dtype) as Tensor;
  const h0 = floatTensor('h0', tensors.get('h0'), dtype);
  const lengths = integerList('lengths', tensors.get('lengths'));
  const rnn = rnnFromStateDict(weights.sd, { nonlinearity: o.nonlinearity, batchFirst: o.batchFirst, dtype });
  const gradOutput = floatTensor('grad_output', tensors.get('grad_output'), dtype);
  const gradHN = floatTensor('grad_h_n', tensors.get('grad_h_n'), dtype);
  const wantGrad = gradOutput !== undefined || gradHN !== undefined;
  const [output, hN] = rnn.forward(input, h0, {
    ...(lengths === undefined ? {} : { lengths }),
    requiresGrad: wantGrad,
  });
  const results: Record<string, Tensor> = { output, h_n: hN };
  if (wantGrad) {
    // The gradients of sum(output * grad_output) + sum(h_n * grad_h_n), as torch.autograd.backward gives them.
    const grads = rnn.backward(gradOutput ?? null, gradHN);
    results['grad.input'] = grads.input;
    if (grads.h0) results['grad.h0'] = grads.h0;
    for (const [name, g] of rnn.namedGrads()) results[`grad.${name}`] = g;
  }
  await writeTensorFile(o.out, results);
  const arch = `${rnn.numLayers}-layer${rnn.bidirectional ? ' bidirectional' : ''} ${rnn.nonlinearity} RNN (${rnn.inputSize} -> ${rnn.hiddenSize})${weights.where ? ` from ${weights.where}` : ''}`;
  const what = wantGrad
    ? `output, h_n and ${Object.keys(results).length - 2} gradients`
    : `output [${output.shape.join(', ')}] and h_n [${hN.shape.join(', ')}]`;
  return `${arch}: wrote ${what} (${dtype}) to ${o.out}`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('apply a torch.nn.RNN state dict (.pt, .safetensors or .json) to an input file; write output and h_n')
    .requiredOption(
      '--weights <file>',
      'state dict of a torch.nn.RNN, or of a model or checkpoint holding one (.pt, .safetensors or .json)',
    )
    .requiredOption(
      '--input <file>',
      "tensors 'input' and optionally 'h0', 'lengths', 'grad_output', 'grad_h_n' (.pt, .safetensors or .json)",
    )
    .requiredOption(
      '--out <file>',
      "where to write 'output', 'h_n' (and 'grad.*'); the extension picks the format: .safetensors, .pt or .json",
    )
    .option('--nonlinearity <f>', 'tanh or relu (not stored in the weights)', parseNonlinearity, 'tanh')
    .option('--batch-first', 'input and output are (N, L, features)', false)
    .option('--prefix <p>', "the RNN's prefix in a model's state dict, e.g. 'rnn.' (found on its own when unique)")
    .option('--key <k>', KEY_HELP)
    .option(
      '--dtype <dtype>',
      "compute in float32 or float64 (default: the input's dtype; float64 for .json)",
      parseDtype,
    )
    .action(async (opts: RunOptions) => {
      process.stdout.write(`${await runCommand(opts)}\n`);
    });
}
