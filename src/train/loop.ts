/**
 * The training loop: sample a batch, forward with a tape, loss, backward through time, clip, step. One step at a
 * time (`Trainer.step`), so a caller can draw progress, yield to the event loop or stop early; `train` runs them all.
 *
 * Two seeded streams keep runs comparable: the model's initialisation comes from Generator(seed) and the data
 * (the sine noise and every batch's windows) from Generator(seed + 1), so models of different depths trained with
 * one seed see exactly the same batches in the same order.
 */
import { checkInteger, RnnError } from '../errors.js';
import { Generator } from '../random.js';
import { CELL_KINDS, type CellKind, type Nonlinearity } from '../rnn/cell.js';
import { allocate, type DType, Tensor } from '../tensor.js';
import { clipGradNorm } from './clip.js';
import { type Batch, charBatch, encodeText, sineBatch, sineSeries, TEXT, vocabularyOf } from './data.js';
import { crossEntropyLossWithGrad, mseLoss, mseLossBackward } from './losses.js';
import { SequenceModel, TASKS, type TaskName } from './model.js';
import { Adam, type Optimizer, SGD } from './optim.js';

export interface TrainConfig {
  task: TaskName;
  /** Which recurrent module: nn.RNN (default), nn.LSTM or nn.GRU. */
  cell: CellKind;
  /** K: recurrent layers. */
  layers: number;
  /** H: hidden features per layer. */
  hidden: number;
  /** Optimisation steps (one batch each). */
  steps: number;
  lr: number;
  optimizer: 'adam' | 'sgd';
  /** SGD momentum (ignored by Adam). */
  momentum: number;
  seed: number;
  /** N: sequences per batch. */
  batch: number;
  /** L: steps per sequence. */
  seqLen: number;
  /**
   * Leading steps of each sequence left out of the loss: the RNN starts from h = 0 and cannot yet know where in
   * the signal it is, so those predictions say nothing about what it learned. 0 for the language model.
   */
  warmup: number;
  /** Max total gradient norm (clipGradNorm); 0 turns clipping off. */
  clip: number;
  nonlinearity: Nonlinearity;
  dtype: DType;
  /** Refused for both tasks: see `checkTrainConfig`. */
  bidirectional: boolean;
  /** Kernel backend name; default as for RNN. */
  backend?: string;
}

/** The defaults of each task: small enough to train in well under a minute on the reference kernel. */
export function defaultConfig(task: TaskName = 'sine'): TrainConfig {
  const common = {
    cell: 'RNN',
    optimizer: 'adam',
    momentum: 0.9,
    seed: 0,
    layers: 2,
    nonlinearity: 'tanh',
    clip: 1,
    bidirectional: false,
  } as const;
  if (task === 'chars') {
    return { ...common, task, hidden: 64, steps: 600, lr: 0.01, batch: 16, seqLen: 48, warmup: 0, dtype: 'float32' };
  }
  return { ...common, task, hidden: 32, steps: 500, lr: 0.01, batch: 16, seqLen: 40, warmup: 8, dtype: 'float32' };
}

/** Validates a config (every field, expected versus got); returns it. */
export function checkTrainConfig(c: TrainConfig): TrainConfig {
  if (!TASKS.includes(c.task)) {
    throw new RnnError(
      'invalid_argument',
      `Unknown task '${String(c.task)}'. Select from ${TASKS.map((t) => `'${t}'`).join(' or ')}.`,
      {
        expected: TASKS,
        got: c.task,
      },
    );
  }
  if (!CELL_KINDS.includes(c.cell)) {
    throw new RnnError(
      'invalid_argument',
      `Unknown cell '${String(c.cell)}'. Select from ${CELL_KINDS.map((k) => `'${k}'`).join(', ')}.`,
      { expected: CELL_KINDS, got: c.cell },
    );
  }
  if (c.bidirectional) {
    throw new RnnError(
      'invalid_argument',
      `--bidirectional does not make sense for the '${c.task}' task: its reverse direction would read x[t+1], the very value step t must predict`,
      {
        expected: false,
        got: true,
        hint: 'next-step prediction and language modelling are causal: each step may only see the past',
      },
    );
  }
  checkInteger(c.layers, 'layers');
  checkInteger(c.hidden, 'hidden');
  checkInteger(c.steps, 'steps');
  checkInteger(c.batch, 'batch');
  checkInteger(c.seqLen, 'seqLen', 2);
  checkInteger(c.seed, 'seed', 0);
  checkInteger(c.warmup, 'warmup', 0);
  if (c.warmup >= c.seqLen) {
    throw new RnnError('invalid_argument', `warmup (${c.warmup}) must be less than the sequence length (${c.seqLen})`, {
      expected: `< ${c.seqLen}`,
      got: c.warmup,
    });
  }
  for (const [name, v] of [
    ['lr', c.lr],
    ['clip', c.clip],
    ['momentum', c.momentum],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new RnnError('invalid_argument', `${name} must be a finite number >= 0, got ${String(v)}`, {
        expected: '>= 0',
        got: v,
      });
    }
  }
  if (c.optimizer !== 'adam' && c.optimizer !== 'sgd') {
    throw new RnnError('invalid_argument', `Unknown optimizer '${String(c.optimizer)}'. Select from 'adam' or 'sgd'.`, {
      expected: ['adam', 'sgd'],
      got: c.optimizer,
    });
  }
  return c;
}

/** Draws batches for a task from its own seeded stream. */
interface Source {
  inputSize: number;
  outputSize: number;
  vocab: string[] | null;
  next(): Batch;
}

function makeSource(c: TrainConfig): Source {
  const g = new Generator(c.seed + 1);
  if (c.task === 'chars') {
    const vocab = vocabularyOf(TEXT);
    const codes = encodeText(TEXT, vocab);
    const V = vocab.chars.length;
    return {
      inputSize: V,
      outputSize: V,
      vocab: vocab.chars,
      next: () => charBatch(codes, V, g, c.seqLen, c.batch, c.dtype),
    };
  }
  const series = sineSeries(g.nextUint32());
  return { inputSize: 1, outputSize: 1, vocab: null, next: () => sineBatch(series, g, c.seqLen, c.batch, c.dtype) };
}

/** The loss of a batch and its gradient with respect to the model's output (L, N, O). */
function lossAndGrad(output: Tensor, batch: Batch, warmup: number): { loss: number; grad: Tensor } {
  const [L, N, O] = output.shape as [number, number, number];
  if (batch.classes) {
    const logits = new Tensor(output.data, [L * N, O]); // (L*N, O) view: rows are time-major (t, n)
    const { loss, grad } = crossEntropyLossWithGrad(logits, batch.classes);
    return { loss, grad: new Tensor(grad.data, output.shape) };
  }
  // Only steps t >= warmup count: views of the tail, whose gradient goes into the tail of a zero gradient.
  const from = warmup * N * O;
  const tail = [L - warmup, N, O];
  const out = new Tensor(output.data.subarray(from), tail);
  const target = new Tensor((batch.target as Tensor).data.subarray(from), tail);
  const grad = allocate(output.dtype, output.numel); // (L, N, O), 0 for t < warmup
  grad.set(mseLossBackward(out, target).data, from);
  return { loss: mseLoss(out, target), grad: new Tensor(grad, output.shape) };
}

/** A model, its optimizer and its data, stepped one batch at a time. */
export class Trainer {
  readonly config: TrainConfig;
  readonly model: SequenceModel;
  readonly optimizer: Optimizer;
  /** The loss of every step taken so far. */
  readonly losses: number[] = [];
  private readonly source: Source;

  constructor(config: TrainConfig) {
    this.config = checkTrainConfig({ ...config });
    const c = this.config;
    this.source = makeSource(c);
    this.model = new SequenceModel(
      {
        task: c.task,
        cell: c.cell,
        inputSize: this.source.inputSize,
        hiddenSize: c.hidden,
        numLayers: c.layers,
        outputSize: this.source.outputSize,
        nonlinearity: c.nonlinearity,
        bias: true,
        bidirectional: false,
        dtype: c.dtype,
        vocab: this.source.vocab,
      },
      { seed: c.seed, ...(c.backend === undefined ? {} : { backend: c.backend }) },
    );
    const params = this.model.parameters();
    this.optimizer =
      c.optimizer === 'adam' ? new Adam(params, { lr: c.lr }) : new SGD(params, { lr: c.lr, momentum: c.momentum });
  }

  /** Steps taken. */
  get stepsDone(): number {
    return this.losses.length;
  }

  /** One optimisation step on a fresh batch; returns its loss (before the update). */
  step(): number {
    const batch = this.source.next();
    const model = this.model;
    model.zeroGrad();
    const [output] = model.forward(batch.input, { requiresGrad: true });
    const { loss, grad } = lossAndGrad(output, batch, this.config.warmup);
    if (!Number.isFinite(loss)) throw divergedError(loss, this.stepsDone + 1);
    model.backward(grad);
    if (this.config.clip > 0) clipGradNorm(model.parameters(), this.config.clip);
    this.optimizer.step();
    this.losses.push(loss);
    return loss;
  }
}

/** Trains for `config.steps` steps; `onStep(step, loss)` is called after each (steps count from 1). */
export function train(config: TrainConfig, onStep?: (step: number, loss: number) => void): Trainer {
  const trainer = new Trainer(config);
  for (let s = 1; s <= trainer.config.steps; s++) {
    const loss = trainer.step();
    onStep?.(s, loss);
  }
  return trainer;
}

/** The error of a step whose loss is not finite (NaN or infinite): training diverged. */
export function divergedError(loss: number, step: number): RnnError {
  return new RnnError('invalid_argument', `the loss became ${loss} at step ${step}: training diverged`, {
    got: loss,
    hint: 'try a smaller --lr',
  });
}
