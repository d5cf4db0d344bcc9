/**
 * `stacked-rnn train --data FILE`: training on the user's own data. A text file trains a character model
 * (Embedding -> cell -> Linear, the vocabulary stored in the checkpoint); a .csv trains next-step regression on
 * its numeric columns (cell -> Linear). The same progress, loss.csv, loss.svg, --init and refusals as the
 * embedded tasks; --init goes on from our checkpoint or a PyTorch model of the same shape.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { RnnError } from '../errors.js';
import { languageModelFromStateDict } from '../io/char-model.js';
import { readBytes, writeFileAtomic } from '../io/files.js';
import { readStateDictFile } from '../io/load.js';
import { readSafetensors } from '../io/safetensors.js';
import { architectureOf, moduleFromStateDict, selectPrefix } from '../io/state-dict.js';
import type { Sequential } from '../nn/sequential.js';
import type { RnnArchitecture } from '../rnn/params.js';
import type { Tensor } from '../tensor.js';
import { CHECKPOINT_FORMAT } from '../train/checkpoint.js';
import { seriesData, type TrainingData, textData } from '../train/data-files.js';
import { DataTrainer, DEFAULT_EMBEDDING } from '../train/data-trainer.js';
import { vocabularyFrom } from '../train/generate.js';
import { lossPlotSvg } from '../train/plot.js';
import { configFor, defaultOutDir, fall, metadataOf, type Output, runOne, type TrainCommandOptions } from './train.js';
import { readVocab } from './vocab-file.js';

/** The starting weights of --init: the state dict, and the vocabulary when our checkpoint holds one. */
interface InitFile {
  sd: Record<string, Tensor>;
  vocab: string[] | undefined;
  arch: RnnArchitecture;
}

async function readInit(path: string, key: string | undefined): Promise<InitFile> {
  const file = await readStateDictFile(path, key === undefined ? {} : { key });
  let vocab: string[] | undefined;
  if (/\.safetensors$/i.test(path) || file.source === undefined) {
    // Our checkpoint (safetensors with our metadata) carries its vocabulary.
    try {
      const { metadata } = readSafetensors(await readBytes(path));
      if (metadata.format === CHECKPOINT_FORMAT && metadata.vocab !== undefined) {
        vocab = [...vocabularyFrom(JSON.parse(metadata.vocab))];
      }
    } catch {
      // not safetensors: no metadata to read
    }
  }
  return { sd: file.stateDict, vocab, arch: architectureOf(selectPrefix(file.stateDict).sd) };
}

/** The data file as training data: .csv/.tsv as a series, anything else as text (UTF-8). */
async function readData(path: string, vocab: readonly string[] | undefined): Promise<TrainingData> {
  const bytes = await readBytes(path, { maxBytes: 256 * 1024 * 1024 });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new RnnError('invalid_argument', `${path} is not UTF-8 text`, {
      hint: '--data takes a text file (a character model) or a .csv of numbers (next-step regression)',
    });
  }
  try {
    return /\.(csv|tsv)$/i.test(path) ? seriesData(text) : textData(text, vocab);
  } catch (err) {
    if (!(err instanceof RnnError)) throw err;
    throw new RnnError(err.code, `${path}: ${err.message}`, {
      expected: err.expected,
      got: err.got,
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
}

/** Copies --init's weights into the model, or says which flags would make a model of the file's shape. */
function loadInit(trainer: DataTrainer, init: InitFile, path: string, prefix: string | undefined): void {
  const a = init.arch;
  const c = trainer.config;
  const data = trainer.data;
  const flags: string[] = [];
  if (a.cell !== c.cell) flags.push(`--cell ${a.cell.toLowerCase()}`);
  if (a.numLayers !== c.layers) flags.push(`--layers ${a.numLayers}`);
  if (a.hiddenSize !== c.hidden) flags.push(`--hidden ${a.hiddenSize}`);
  if (data.kind === 'text' && a.inputSize !== trainer.embeddingDim) flags.push(`--embedding ${a.inputSize}`);
  const other: string[] = [];
  if (data.kind === 'series' && a.inputSize !== data.columns.length) {
    other.push(`the CSV has ${data.columns.length} numeric column(s), the file's ${a.cell} takes ${a.inputSize}`);
  }
  if (a.bidirectional || a.projSize || !a.bias)
    other.push(`train makes a unidirectional ${a.cell} with biases and no projection`);
  if (flags.length > 0 || other.length > 0) {
    throw new RnnError(
      'state_dict',
      `--init ${path} holds an nn.${a.cell} of ${a.numLayers} layer(s), hidden_size ${a.hiddenSize}, input_size ${a.inputSize}; the model to train differs`,
      {
        hint: [flags.length > 0 ? `pass ${flags.join(' ')} to train a model like the file's` : '', ...other]
          .filter(Boolean)
          .join('; '),
      },
    );
  }
  const ours = [...trainer.model.children.values()];
  const theirs: Sequential | null =
    data.kind === 'text' ? languageModelFromStateDict(init.sd, prefix === undefined ? {} : { prefix }).model : null;
  if (theirs) {
    if (theirs.child([...theirs.children.keys()][0] as string).parameterCount !== ours[0]?.parameterCount) {
      const V = (theirs.parameter(`${[...theirs.children.keys()][0]}.weight`).shape[0] as number) ?? 0;
      throw new RnnError(
        'state_dict',
        `--init ${path} has a vocabulary of ${V} characters; ${data.kind === 'text' ? data.vocab.length : 0} are in the text`,
        { hint: "give the model's vocabulary with --vocab vocab.json, or train from scratch" },
      );
    }
    [...theirs.children.values()].forEach((child, i) => ours[i]?.loadStateDict(child.stateDict()));
    return;
  }
  // A series model: the recurrent module and the Linear beside it ((C, H) weight).
  const rnn = moduleFromStateDict(init.sd, prefix === undefined ? {} : { prefix });
  ours[0]?.loadStateDict(rnn.stateDict());
  const rnnPrefix = selectPrefix(init.sd, prefix).prefix;
  const parent = rnnPrefix.slice(0, rnnPrefix.slice(0, -1).lastIndexOf('.') + 1);
  const C = data.kind === 'series' ? data.columns.length : 0;
  const heads = Object.entries(init.sd).filter(([k, t]) => {
    const rest = k.slice(parent.length);
    return (
      k.startsWith(parent) &&
      !k.startsWith(rnnPrefix) &&
      /^[^.]+\.weight$/.test(rest) &&
      t.shape[0] === C &&
      t.shape[1] === c.hidden
    );
  });
  if (heads.length !== 1) {
    throw new RnnError(
      'state_dict',
      `--init ${path}: ${heads.length === 0 ? 'no' : 'several'} Linear head(s) of shape [${C}, ${c.hidden}] beside '${rnnPrefix}'`,
    );
  }
  const headName = (heads[0] as [string, Tensor])[0].slice(0, -'weight'.length);
  const head: Record<string, Tensor> = { weight: (heads[0] as [string, Tensor])[1] };
  const bias = init.sd[`${headName}bias`];
  if (bias) head.bias = bias;
  ours[1]?.loadStateDict(head);
}

/** Runs `train --data`; returns the closing summary. */
export async function trainOnData(o: TrainCommandOptions, out: Output): Promise<string> {
  const path = o.data as string;
  if (o.compareLayers !== undefined) {
    throw new RnnError('invalid_argument', '--compare-layers trains on the embedded data; with --data train one depth');
  }
  if (o.key !== undefined && o.init === undefined) {
    throw new RnnError('invalid_argument', '--key chooses the state dict of the --init file: give --init too');
  }
  const series = /\.(csv|tsv)$/i.test(path);
  if (series && (o.embedding !== undefined || o.vocab !== undefined)) {
    throw new RnnError('invalid_argument', '--embedding and --vocab are for a text --data file, not a CSV');
  }
  if (o.vocab !== undefined && o.init === undefined) {
    throw new RnnError('invalid_argument', "--vocab names the --init model's vocabulary: give --init too");
  }
  const init = o.init === undefined ? undefined : await readInit(o.init, o.key);
  const vocab = o.vocab !== undefined ? [...(await readVocab(o.vocab))] : init?.vocab;
  const data = await readData(path, vocab);
  // Without the flags, --init's module is what to train (its cell, depth, width and embedding).
  const fromFile = init
    ? {
        cell: o.cell ?? init.arch.cell,
        layers: o.layers ?? init.arch.numLayers,
        hidden: o.hidden ?? init.arch.hiddenSize,
        embedding: o.embedding ?? (series ? undefined : init.arch.inputSize),
      }
    : { cell: o.cell, layers: o.layers, hidden: o.hidden, embedding: o.embedding };
  const task = data.kind === 'text' ? 'chars' : 'sine';
  const config = configFor(
    {
      ...o,
      task,
      ...(fromFile.cell === undefined ? {} : { cell: fromFile.cell }),
      ...(fromFile.hidden === undefined ? {} : { hidden: fromFile.hidden }),
    },
    fromFile.layers ?? 2,
  );
  const embedding = fromFile.embedding ?? DEFAULT_EMBEDDING;
  const trainer = new DataTrainer(config, data, { embedding });
  if (init !== undefined) loadInit(trainer, init, o.init as string, undefined);
  const dir = o.out ?? defaultOutDir(data.kind);
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new RnnError(
      'io',
      `cannot create the output directory ${dir}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const stop = { requested: false };
  const onSigint = () => {
    stop.requested = true;
  };
  process.once('SIGINT', onSigint);
  try {
    await runOne(trainer, `${data.kind} ${config.layers} layer${config.layers === 1 ? '' : 's'}`, out, stop);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  if (trainer.losses.length === 0)
    throw new RnnError('invalid_argument', 'stopped before the first step: nothing to write');
  const meta = { ...metadataOf(config, trainer.losses.length), data: path };
  await writeFileAtomic(join(dir, 'model.safetensors'), trainer.checkpointBytes(meta));
  await writeFileAtomic(
    join(dir, 'loss.csv'),
    `step,loss\n${trainer.losses.map((l, i) => `${i + 1},${l}`).join('\n')}\n`,
  );
  const what = data.kind === 'text' ? 'character model, cross-entropy' : 'next-step MSE (standardised columns)';
  const svg = lossPlotSvg(
    [
      {
        label: `${config.layers} layer${config.layers === 1 ? '' : 's'}`,
        points: trainer.losses.map((l, i) => [i + 1, l] as const),
      },
    ],
    { title: `${path}: ${what} (hidden ${config.hidden}, ${config.optimizer} lr ${config.lr}, seed ${config.seed})` },
  );
  await writeFileAtomic(join(dir, 'loss.svg'), svg);
  const model =
    data.kind === 'text'
      ? `Embedding(${data.vocab.length}, ${trainer.embeddingDim}) -> ${config.layers}-layer ${config.cell} -> Linear`
      : `${config.layers}-layer ${config.cell} on ${data.columns.length} column(s) (${data.columns.join(', ')}) -> Linear`;
  const lines = [
    `${stop.requested ? 'stopped early; ' : ''}wrote ${dir}/`,
    ...(o.init === undefined ? [] : [`  started from ${o.init}`]),
    `  ${'model.safetensors'.padEnd(28)} ${model}, hidden ${config.hidden}: ${trainer.losses.length} steps, ${fall(trainer.losses)}`,
    `  ${'loss.csv'.padEnd(28)} step,loss per step`,
    `  ${'loss.svg'.padEnd(28)} the loss curve (log scale)`,
  ];
  if (data.kind === 'text') lines.push(`sample from it: stacked-rnn sample --model ${join(dir, 'model.safetensors')}`);
  return lines.join('\n');
}
