/**
 * `stacked-rnn train`: trains a stacked RNN on embedded data (a noisy sine mixture, or a short text for a
 * character model) and writes the weights, the loss per step and a loss plot into one directory.
 * `--compare-layers 1,2,3` trains one model per depth on the same batches and plots the curves together.
 */
import { mkdir, rm, stat } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { RnnError } from '../errors.js';
import { checkOutputPath, writeFilesAtomic } from '../io/files.js';
import { setEntry } from '../io/record.js';
import { architectureOf } from '../io/state-dict.js';
import type { CellKind, Nonlinearity } from '../rnn/cell.js';
import type { DType, Tensor } from '../tensor.js';
import { checkpointBytes } from '../train/checkpoint.js';
import { checkTrainConfig, defaultConfig, type TrainConfig, Trainer } from '../train/loop.js';
import { checkTrainingMemory } from '../train/memory.js';
import { TASKS, type TaskName } from '../train/model.js';
import { lossPlotSvg } from '../train/plot.js';
import { parseCell, parseDtype, parseInteger, parseNonlinearity } from './options.js';
import { trainOnData } from './train-data.js';
import { KEY_HELP, type RnnWeights, readRnnWeights } from './weights.js';

export interface TrainCommandOptions {
  task: TaskName;
  /** The module to train (default: the --init file's, else the RNN). */
  cell?: CellKind;
  layers?: number;
  compareLayers?: number[];
  hidden?: number;
  bidirectional: boolean;
  steps?: number;
  lr?: number;
  optimizer?: 'adam' | 'sgd';
  seed: number;
  batch?: number;
  seqLen?: number;
  clip?: number;
  nonlinearity?: Nonlinearity;
  dtype?: DType;
  out?: string;
  /** Start from these weights (.pt or .safetensors): an RNN state dict, or a whole model with rnn.* and head.*. */
  init?: string;
  key?: string;
  /** Train on this file instead of the embedded data: text (a character model) or .csv (next-step regression). */
  data?: string;
  /** With --data text: the width of the character embedding. */
  embedding?: number;
  /** With --data text and a PyTorch --init model: its vocabulary, tokens in id order (vocab.json). */
  vocab?: string;
}

/** Where output goes: a TTY gets a live bar, anything else a line every ~10% of the steps. */
export interface Output {
  write(text: string): void;
  isTTY: boolean;
}

function parseTask(value: string): TaskName {
  if (!TASKS.includes(value as TaskName)) {
    throw new InvalidArgumentError(`Unknown task '${value}'. Select from ${TASKS.map((t) => `'${t}'`).join(' or ')}.`);
  }
  return value as TaskName;
}

function parseOptimizer(value: string): 'adam' | 'sgd' {
  if (value !== 'adam' && value !== 'sgd')
    throw new InvalidArgumentError(`Unknown optimizer '${value}'. Select from 'adam' or 'sgd'.`);
  return value;
}

function parseNonNegative(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
      throw new InvalidArgumentError(`${name} must be a number >= 0, got '${value}'.`);
    }
    return n;
  };
}

function parseLayerList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  const layers = parts.map((p) => parseInteger('each depth', 1, 16)(p));
  if (new Set(layers).size !== layers.length)
    throw new InvalidArgumentError(`depths must be distinct, got '${value}'.`);
  return layers;
}

/** runs/<task>-YYYYMMDD-HHMMSS in local time. */
export function defaultOutDir(task: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return join('runs', `${task}-${stamp}`);
}

/** The TrainConfig for one depth: the task's defaults, overridden by what was given. */
export function configFor(o: TrainCommandOptions, layers: number): TrainConfig {
  const c = defaultConfig(o.task);
  if (o.nonlinearity !== undefined && o.cell !== undefined && o.cell !== 'RNN') {
    throw new RnnError('invalid_argument', `--nonlinearity is nn.RNN's; --cell ${o.cell.toLowerCase()} has none`, {
      expected: 'RNN',
      got: o.cell,
    });
  }
  const given: { [K in keyof TrainConfig]?: TrainConfig[K] | undefined } = {
    cell: o.cell,
    hidden: o.hidden,
    steps: o.steps,
    lr: o.lr,
    optimizer: o.optimizer,
    batch: o.batch,
    seqLen: o.seqLen,
    clip: o.clip,
    nonlinearity: o.nonlinearity,
    dtype: o.dtype,
  };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) (c as unknown as Record<string, unknown>)[k] = v;
  if (c.warmup >= c.seqLen) c.warmup = Math.floor(c.seqLen / 4);
  return checkTrainConfig({ ...c, layers, seed: o.seed, bidirectional: o.bidirectional });
}

/** Live progress: a cli-progress bar on a TTY, else a plain line at every tenth of the run. */
export class Progress {
  private bar: SingleBar | null = null;
  private start = 0;
  private nextLine = 0;

  constructor(
    private readonly out: Output,
    private readonly label: string,
    private readonly total: number,
  ) {}

  begin(): void {
    this.start = performance.now();
    this.nextLine = Math.ceil(this.total / 10);
    if (this.out.isTTY) {
      this.bar = new SingleBar({
        format: `${this.label} [{bar}] step {value}/{total} | loss {loss} | {speed} steps/s | ETA {eta_formatted}`,
        barsize: 24,
        stream: process.stdout,
        hideCursor: false,
        gracefulExit: false,
      });
      this.bar.start(this.total, 0, { loss: '-', speed: '-' });
    }
  }

  update(step: number, loss: number): void {
    const seconds = (performance.now() - this.start) / 1000;
    const speed = seconds > 0 ? (step / seconds).toFixed(1) : '-';
    if (this.bar) {
      this.bar.update(step, { loss: loss.toPrecision(4), speed });
      return;
    }
    if (step >= this.nextLine || step === this.total) {
      this.out.write(`${this.label} step ${step}/${this.total}  loss ${loss.toPrecision(4)}  ${speed} steps/s\n`);
      this.nextLine = Math.min(this.total, step + Math.ceil(this.total / 10));
    }
  }

  end(): void {
    this.bar?.stop();
  }
}

/**
 * Loads starting weights into a fresh model: the RNN found in the file (by its key and prefix, as `run` finds
 * it), and the head too when the file has one beside the RNN (`head.*` next to `rnn.*`, as a stacked-rnn or
 * PyTorch checkpoint of the same model has it). Sizes must match the model the options describe; when they do
 * not, the error names the flags that would. Returns the head's prefix, or '' when the file has no head.
 */
function loadInit(trainer: Trainer, init: RnnWeights, path: string): string {
  const a = architectureOf(init.sd);
  const c = trainer.model.config;
  const flags: string[] = [];
  if (a.cell !== c.cell) flags.push(`--cell ${a.cell.toLowerCase()}`);
  if (a.numLayers !== c.numLayers) flags.push(`--layers ${a.numLayers}`);
  if (a.hiddenSize !== c.hiddenSize) flags.push(`--hidden ${a.hiddenSize}`);
  const other: string[] = [];
  if (a.inputSize !== c.inputSize) {
    other.push(
      `--task ${c.task} feeds ${c.inputSize} input feature(s)${c.task === 'chars' ? ' (one per character of its vocabulary)' : ''}, the file's RNN takes ${a.inputSize}`,
    );
  }
  if (a.bidirectional) other.push(`the file holds a bidirectional ${a.cell}, which train refuses`);
  if (!a.bias) other.push(`the file's ${a.cell} has no biases, and train's have them`);
  if (a.projSize) other.push(`the file's LSTM has proj_size ${a.projSize}, which train does not make`);
  if (flags.length > 0 || other.length > 0) {
    const file = `an nn.${a.cell} of ${a.numLayers} layer(s), hidden_size ${a.hiddenSize}, input_size ${a.inputSize}`;
    const model = `an nn.${c.cell} of ${c.numLayers} layer(s), hidden_size ${c.hiddenSize}, input_size ${c.inputSize}`;
    throw new RnnError('state_dict', `--init ${path} holds ${file}; the model to train is ${model}`, {
      expected: model,
      got: file,
      hint: [flags.length > 0 ? `pass ${flags.join(' ')} to train a model like the file's` : '', ...other]
        .filter(Boolean)
        .join('; '),
    });
  }
  loadInto(() => trainer.model.rnn.loadStateDict(init.sd), path, `its ${a.cell}`);
  // The head sits beside the RNN: 'head.' for 'rnn.', 'model.head.' for a Lightning model's 'model.rnn.'.
  const at = headPrefix(init.prefix);
  const head: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(init.all)) {
    const rest = k.slice(at.length);
    if (k.startsWith(at) && !rest.includes('.')) setEntry(head, rest, t);
  }
  if (Object.keys(head).length === 0) return '';
  loadInto(() => trainer.model.head.loadStateDict(head), path, `its head ('${at}*')`);
  return at;
}

/**
 * Runs a loadStateDict; its error (several lines: load_state_dict's list) becomes one line that names the file
 * and the part of it that does not fit.
 */
function loadInto(load: () => unknown, path: string, part: string): void {
  try {
    load();
  } catch (err) {
    if (!(err instanceof RnnError)) throw err;
    const reason = err.message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .join(' ');
    throw new RnnError('state_dict', `--init ${path}: ${part} does not fit the model to train: ${reason}`, {
      expected: err.expected,
      got: err.got,
      hint: 'the model to train has the sizes its flags give: pass flags that match the file',
    });
  }
}

/** Where a model's head is, next to its RNN at `prefix`. */
function headPrefix(prefix: string): string {
  return prefix.endsWith('rnn.') ? `${prefix.slice(0, -'rnn.'.length)}head.` : 'head.';
}

/** The first non-finite value of the --init file's tensors, refused: training would only report a NaN loss. */
function checkFinite(all: Record<string, Tensor>, path: string): void {
  for (const [name, t] of Object.entries(all)) {
    const at = t.data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) {
      throw new RnnError('state_dict', `--init ${path}: '${name}' holds ${t.data[at]} (element ${at} of ${t.numel})`, {
        expected: 'finite values',
        got: t.data[at],
        hint: 'the file is damaged or comes from a diverged run: start from another file, or without --init',
      });
    }
  }
}

/**
 * Checks, before any work, that `dir` can take `names`: a directory (or a path where one can be made) where each
 * name is free or a regular file (not a FIFO, a device or a directory, which the rename would replace).
 */
async function checkOutputDir(dir: string, names: readonly string[]): Promise<void> {
  const info = await stat(dir).catch(() => undefined);
  if (info === undefined) {
    // to be made at the end: its nearest existing ancestor must be a directory
    let up = dirname(resolve(dir));
    for (;;) {
      const s = await stat(up).catch(() => undefined);
      if (s !== undefined) {
        if (!s.isDirectory())
          throw new RnnError('io', `cannot create the output directory ${dir}: ${up} is not a directory`);
        return;
      }
      up = dirname(up);
    }
  }
  if (!info.isDirectory()) throw new RnnError('io', `cannot write into ${dir}: it is not a directory`);
  for (const name of names) await checkOutputPath(join(dir, name));
}

/**
 * Writes the run's files into `dir` all or none (writeFilesAtomic), making `dir` first when it is missing; a
 * directory made here is removed again when the files cannot be written.
 */
async function writeOutputs(dir: string, files: readonly { name: string; contents: Uint8Array | string }[]) {
  let made: string | undefined;
  try {
    made = await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new RnnError(
      'io',
      `cannot create the output directory ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  try {
    await writeFilesAtomic(files.map((f) => ({ path: join(dir, f.name), contents: f.contents })));
  } catch (err) {
    if (made !== undefined) await rm(made, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** Trains one model, yielding to the event loop now and then so the bar redraws and Ctrl-C can stop it early. */
export async function runOne<T extends { readonly config: TrainConfig; step(): number }>(
  trainer: T,
  label: string,
  out: Output,
  stop: { requested: boolean },
): Promise<T> {
  const config = trainer.config;
  const progress = new Progress(out, label, config.steps);
  progress.begin();
  let lastYield = performance.now();
  try {
    for (let s = 1; s <= config.steps && !stop.requested; s++) {
      progress.update(s, trainer.step());
      if (performance.now() - lastYield > 100) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
  } finally {
    progress.end();
  }
  return trainer;
}

export function metadataOf(c: TrainConfig, steps: number): Record<string, string> {
  return {
    trained_steps: String(steps),
    seed: String(c.seed),
    optimizer: c.optimizer,
    lr: String(c.lr),
    batch: String(c.batch),
    seq_len: String(c.seqLen),
    warmup: String(c.warmup),
    clip: String(c.clip),
  };
}

export const fall = (losses: readonly number[]) => {
  const first = losses[0] as number;
  const last = losses.at(-1) as number;
  const change = last <= first ? `${(first / last).toFixed(1)}x lower` : `${(last / first).toFixed(1)}x higher`;
  return `loss ${first.toPrecision(4)} -> ${last.toPrecision(4)} (${change})`;
};

/** Runs the command; returns the closing summary (what was written where). */
export async function trainCommand(o: TrainCommandOptions, out: Output): Promise<string> {
  if (o.data !== undefined) return trainOnData(o, out);
  for (const [flag, given] of [
    ['--embedding', o.embedding],
    ['--vocab', o.vocab],
  ] as const) {
    if (given !== undefined) throw new RnnError('invalid_argument', `${flag} goes with --data: give --data too`);
  }
  if (o.layers !== undefined && o.compareLayers !== undefined) {
    throw new RnnError(
      'invalid_argument',
      '--layers and --compare-layers exclude each other: give the depths to compare in --compare-layers',
      {
        got: { layers: o.layers, compareLayers: o.compareLayers },
      },
    );
  }
  if (o.init !== undefined && o.compareLayers !== undefined) {
    throw new RnnError('invalid_argument', '--init and --compare-layers exclude each other: one file holds one depth');
  }
  if (o.key !== undefined && o.init === undefined) {
    throw new RnnError('invalid_argument', '--key chooses the state dict of the --init file: give --init too');
  }
  const init =
    o.init === undefined ? undefined : await readRnnWeights(o.init, o.key === undefined ? {} : { key: o.key });
  if (init !== undefined) checkFinite(init.all, o.init as string);
  // Without --cell, a file's module is what to train (an LSTM trained in PyTorch goes on as an LSTM)
  const cell = o.cell ?? (init ? architectureOf(init.sd).cell : undefined);
  const withCell = cell === undefined ? o : { ...o, cell };
  const depths = o.compareLayers ?? [o.layers ?? defaultConfig(o.task).layers];
  const configs = depths.map((k) => configFor(withCell, k)); // validate every depth before training any
  for (const c of configs) checkTrainingMemory(c, totalmem());
  const compare = o.compareLayers !== undefined;
  const fileOf = (c: TrainConfig) => (compare ? `model-layers-${c.layers}.safetensors` : 'model.safetensors');
  // Every output is checked before any work (a FIFO or a directory at DIR/loss.csv), and nothing is written
  // until every model has trained: then all files at once, or none (an earlier run's files stay as they were).
  const dir = o.out ?? defaultOutDir(o.task);
  await checkOutputDir(dir, [...configs.map(fileOf), 'loss.csv', 'loss.svg']);
  // With --init (one depth), the model is built and the weights loaded before any training.
  const initTrainer = init === undefined ? undefined : new Trainer(configs[0] as TrainConfig);
  const headAt = initTrainer !== undefined && init !== undefined ? loadInit(initTrainer, init, o.init as string) : '';
  const stop = { requested: false };
  const onSigint = () => {
    stop.requested = true;
  };
  process.once('SIGINT', onSigint);
  const runs: { layers: number; trainer: Trainer; file: string; config: TrainConfig }[] = [];
  try {
    for (const c of configs) {
      const label = `${o.task} ${c.layers} layer${c.layers === 1 ? '' : 's'}`;
      const trainer = await runOne(initTrainer ?? new Trainer(c), label, out, stop);
      if (trainer.losses.length === 0) break;
      runs.push({ layers: c.layers, trainer, file: fileOf(c), config: c });
      if (stop.requested) break;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (runs.length === 0) throw new RnnError('invalid_argument', 'stopped before the first step: nothing to write');

  const header = compare ? 'step,loss,layers' : 'step,loss';
  const rows = runs.flatMap((r) =>
    r.trainer.losses.map((l, i) => (compare ? `${i + 1},${l},${r.layers}` : `${i + 1},${l}`)),
  );
  const first = runs[0]?.trainer.config as TrainConfig;
  const svg = lossPlotSvg(
    runs.map((r) => ({
      label: `${r.layers} layer${r.layers === 1 ? '' : 's'}`,
      points: r.trainer.losses.map((l, i) => [i + 1, l] as const),
    })),
    {
      title: `${o.task === 'sine' ? 'noisy sine mixture, next-step MSE' : 'character model, cross-entropy'} (hidden ${first.hidden}, ${first.optimizer} lr ${first.lr}, seed ${first.seed})`,
    },
  );
  await writeOutputs(dir, [
    ...runs.map((r) => ({
      name: r.file,
      contents: checkpointBytes(r.trainer.model, metadataOf(r.config, r.trainer.losses.length)),
    })),
    { name: 'loss.csv', contents: `${header}\n${rows.join('\n')}\n` },
    { name: 'loss.svg', contents: svg },
  ]);

  const lines = [`${stop.requested ? 'stopped early; ' : ''}wrote ${dir}/`];
  if (init !== undefined) {
    const from = [init.where, headAt ? `head from '${headAt}'` : 'a new head'].filter(Boolean).join('; ');
    lines.push(`  started from ${o.init} (${from})`);
  }
  for (const r of runs) {
    const c = r.trainer.config;
    lines.push(
      `  ${r.file.padEnd(28)} ${c.layers}-layer ${c.cell === 'RNN' ? `${c.nonlinearity} RNN` : c.cell}, hidden ${c.hidden}: ${r.trainer.losses.length} steps, ${fall(r.trainer.losses)}`,
    );
  }
  lines.push(`  ${'loss.csv'.padEnd(28)} ${header} per step${compare ? ' (one block of rows per depth)' : ''}`);
  lines.push(`  ${'loss.svg'.padEnd(28)} the loss curve${compare ? 's, one per depth' : ''} (log scale)`);
  if (o.task === 'chars')
    lines.push(`sample from it: stacked-rnn sample --checkpoint ${join(dir, runs[0]?.file as string)}`);
  return lines.join('\n');
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'train a stacked RNN, LSTM or GRU on embedded data; write weights, loss.csv and a loss plot (loss.svg)',
    )
    .option(
      '--task <task>',
      "'sine' (next-step prediction of a noisy sine mixture) or 'chars' (character language model)",
      parseTask,
      'sine',
    )
    .option('--cell <cell>', "rnn (default), lstm or gru (default with --init: the file's)", parseCell)
    .option('--layers <k>', 'stacked layers (default 2)', parseInteger('layers', 1, 16))
    .option(
      '--compare-layers <list>',
      'train one model per depth, e.g. 1,2,3, on the same data, and plot them together',
      parseLayerList,
    )
    .option('--hidden <h>', 'hidden features per layer (default: 32 sine, 64 chars)', parseInteger('hidden', 1, 4096))
    .option('--bidirectional', 'refused for both tasks: the reverse direction would see the value to predict', false)
    .option('--steps <n>', 'optimisation steps (default: 500 sine, 600 chars)', parseInteger('steps', 1))
    .option('--lr <x>', 'learning rate (default 0.01)', parseNonNegative('lr'))
    .option('--optimizer <name>', "'adam' (default) or 'sgd' (momentum 0.9)", parseOptimizer)
    .option('--seed <s>', 'seeds the weights and the data', parseInteger('seed', 0, 2 ** 32 - 2), 0)
    .option('--batch <n>', 'sequences per batch (default 16)', parseInteger('batch', 1, 4096))
    .option('--seq-len <l>', 'steps per sequence (default: 40 sine, 48 chars)', parseInteger('seq-len', 2, 100_000))
    .option('--clip <x>', 'max gradient norm, 0 for none (default 1)', parseNonNegative('clip'))
    .option('--nonlinearity <f>', "the RNN's tanh (default) or relu", parseNonlinearity)
    .option('--dtype <dtype>', 'float32 (default) or float64', parseDtype)
    .option('--out <dir>', 'output directory (default: runs/<task>-<timestamp>)')
    .option(
      '--init <file>',
      'start from these weights (.pt, .safetensors or .json): an RNN state dict, a model holding one, or rnn.* and head.*',
    )
    .option('--key <k>', `with --init: ${KEY_HELP}`)
    .option('--data <file>', 'train on your own data: a text file (character model) or a .csv (next-step regression)')
    .option('--embedding <e>', 'with --data text: embedding width (default 32)', parseInteger('embedding', 1, 4096))
    .option('--vocab <file>', "with --data text and a PyTorch --init model: the model's vocab.json")
    .action(async (opts: TrainCommandOptions) => {
      const summary = await trainCommand(opts, {
        write: (t) => process.stdout.write(t),
        isTTY: process.stdout.isTTY === true,
      });
      process.stdout.write(`${summary}\n`);
    });
}
