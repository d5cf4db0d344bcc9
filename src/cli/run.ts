/**
 * `stacked-rnn run`: an nn.RNN, nn.LSTM or nn.GRU state dict applied to an input file, results written
 * atomically. With `grad_output`, `grad_h_n` (or the LSTM's `grad_c_n`) in the input file it also runs the
 * backward pass and writes the gradients.
 */
import { totalmem } from 'node:os';
import type { Command } from 'commander';
import { formatNames, RnnError } from '../errors.js';
import { checkOutputFile, type FileTensor, readTensorFile, writeTensorFile } from '../io/load.js';
import { moduleFromStateDict } from '../io/state-dict.js';
import type { CellKind, Nonlinearity } from '../rnn/cell.js';
import type { RecurrentModule } from '../rnn/from-architecture.js';
import { type DType, formatBytes, type Tensor } from '../tensor.js';
import { parseCell, parseDtype, parseNonlinearity } from './options.js';
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
  /** The module the file must hold; default: whichever it holds. */
  cell?: CellKind;
}

const INPUT_NAMES = ['input', 'h0', 'c0', 'lengths', 'grad_output', 'grad_h_n', 'grad_c_n'];
/** What a file may hold only for a module that has a c (an LSTM). */
const LSTM_ONLY = ['c0', 'grad_c_n'];

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

/**
 * Refuses, before it starts, a forward (and backward) whose buffers would not fit in the machine's memory: a small
 * input file read by a wide network makes outputs of L*N*D*P elements per layer, and the input projection of
 * L*N*G*H. The estimate (elements): L N (G H + 3 D P) per forward, and with gradients K L N (D P + D W) for the
 * tape (W: the gates a gated cell records) and as much again for the backward's buffers.
 */
function checkForwardMemory(module: RecurrentModule, input: Tensor, wantGrad: boolean, path: string): void {
  const LN = input.numel / module.inputSize;
  const D = module.directions;
  const P = module.stateSize;
  const H = module.hiddenSize;
  const G = module.cell === 'LSTM' ? 4 : module.cell === 'GRU' ? 3 : 1;
  const W = module.cell === 'LSTM' ? 5 * H : module.cell === 'GRU' ? 4 * H : 0;
  const forward = LN * (G * H + 3 * D * P);
  const elements = wantGrad ? forward + 2 * module.numLayers * LN * D * (P + W) : forward;
  const bytes = elements * (input.dtype === 'float64' ? 8 : 4);
  if (bytes > totalmem()) {
    throw new RnnError(
      'invalid_argument',
      `running this ${module.numLayers}-layer ${module.cell} of hidden size ${H} on ${path} (${LN} rows of ${module.inputSize} features) needs about ${formatBytes(bytes)} of memory; this machine has ${formatBytes(totalmem())}`,
      {
        expected: `<= ${formatBytes(totalmem())}`,
        got: formatBytes(bytes),
        hint: 'run it on a shorter input, in pieces',
      },
    );
  }
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
      hint: "the input file holds 'input' and optionally 'h0', 'lengths', 'grad_output', 'grad_h_n' (and the LSTM's 'c0', 'grad_c_n')",
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
  const float = (name: string) => floatTensor(name, tensors.get(name), dtype);
  const input = float('input') as Tensor;
  const lengths = integerList('lengths', tensors.get('lengths'));
  const module = moduleFromStateDict(weights.sd, {
    nonlinearity: o.nonlinearity,
    batchFirst: o.batchFirst,
    dtype,
    ...(o.cell === undefined ? {} : { cell: o.cell }),
  });
  if (o.nonlinearity === 'relu' && module.cell !== 'RNN') {
    throw new RnnError('invalid_argument', `--nonlinearity is nn.RNN's; ${o.weights} holds an nn.${module.cell}`, {
      expected: 'RNN',
      got: module.cell,
    });
  }
  const lstm = module.cell === 'LSTM';
  const stray = LSTM_ONLY.filter((name) => !lstm && tensors.has(name));
  if (stray.length > 0) {
    throw new RnnError(
      'invalid_argument',
      `${o.input} holds ${formatNames(stray)}, but an nn.${module.cell} has no c`,
      {
        got: stray,
      },
    );
  }
  // The states as the module takes them: [h0] or the LSTM's [h0, c0], both or neither (PyTorch's hx)
  const h0 = float('h0');
  const c0 = float('c0');
  if (lstm && (h0 === undefined) !== (c0 === undefined)) {
    const has = h0 ? "'h0' but no 'c0'" : "'c0' but no 'h0'";
    throw new RnnError('invalid_argument', `an LSTM takes its initial state as a pair: ${o.input} holds ${has}`, {
      expected: ['h0', 'c0'],
      got: h0 ? ['h0'] : ['c0'],
    });
  }
  const states = h0 === undefined ? null : lstm ? [h0, c0 as Tensor] : [h0];
  const gradOutput = float('grad_output');
  const gradStates = [float('grad_h_n'), float('grad_c_n')];
  const wantGrad = gradOutput !== undefined || gradStates.some((g) => g !== undefined);
  checkForwardMemory(module, input, wantGrad, o.input);
  const [output, finals] = module.forwardStates(input, states, {
    ...(lengths === undefined ? {} : { lengths }),
    requiresGrad: wantGrad,
  });
  const names = lstm ? ['h_n', 'c_n'] : ['h_n'];
  const results: Record<string, Tensor> = { output };
  finals.forEach((t, i) => {
    results[names[i] as string] = t;
  });
  if (wantGrad) {
    // The gradients of sum(output * grad_output) + sum(h_n * grad_h_n) (+ sum(c_n * grad_c_n)), as
    // torch.autograd.backward gives them.
    const grads = module.backwardStates(gradOutput ?? null, gradStates);
    results['grad.input'] = grads.input as Tensor;
    grads.states.forEach((g, i) => {
      if (g) results[i === 0 ? 'grad.h0' : 'grad.c0'] = g;
    });
    for (const [name, g] of module.namedGrads()) results[`grad.${name}`] = g;
  }
  await writeTensorFile(o.out, results);
  const f = module.cell === 'RNN' ? `${o.nonlinearity} ` : '';
  const sizes = `${module.inputSize} -> ${module.hiddenSize}${module.projSize ? `, proj ${module.projSize}` : ''}`;
  const arch = `${module.numLayers}-layer${module.bidirectional ? ' bidirectional' : ''} ${f}${module.cell} (${sizes})${weights.where ? ` from ${weights.where}` : ''}`;
  const what = wantGrad
    ? `output, ${names.join(', ')} and ${Object.keys(results).length - names.length - 1} gradients`
    : `output [${output.shape.join(', ')}] and ${finals.map((t, i) => `${names[i]} [${t.shape.join(', ')}]`).join(', ')}`;
  return `${arch}: wrote ${what} (${dtype}) to ${o.out}`;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description(
      'apply an nn.RNN, nn.LSTM or nn.GRU state dict (.pt, .safetensors or .json) to an input file; write output and h_n (c_n)',
    )
    .requiredOption(
      '--weights <file>',
      'state dict of an nn.RNN, nn.LSTM or nn.GRU, or of a model or checkpoint holding one (.pt, .safetensors or .json)',
    )
    .requiredOption(
      '--input <file>',
      "tensors 'input' and optionally 'h0', 'c0', 'lengths', 'grad_output', 'grad_h_n', 'grad_c_n' (.pt, .safetensors or .json)",
    )
    .requiredOption(
      '--out <file>',
      "where to write 'output', 'h_n', 'c_n' (and 'grad.*'); the extension picks the format: .safetensors, .pt or .json",
    )
    .option(
      '--cell <cell>',
      'rnn, lstm or gru: the module the file must hold (default: read off its shapes)',
      parseCell,
    )
    .option('--nonlinearity <f>', "the RNN's tanh or relu (not stored in the weights)", parseNonlinearity, 'tanh')
    .option('--batch-first', 'input and output are (N, L, features)', false)
    .option('--prefix <p>', "the module's prefix in a model's state dict, e.g. 'rnn.' (found on its own when unique)")
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
