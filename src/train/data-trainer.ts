/**
 * Training on a user's own data (`stacked-rnn train --data`): a character model Embedding -> cell -> Linear on a
 * text, or next-step regression cell -> Linear on a CSV's numeric columns. The same loop as the embedded tasks'
 * Trainer (batch, forward with a tape, loss, backward, clip, step) on a Sequential, whose state dict is the
 * PyTorch module's with attributes emb, rnn and head.
 */
import { RnnError } from '../errors.js';
import { IntTensor } from '../int-tensor.js';
import { writeSafetensors } from '../io/safetensors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Sequential } from '../nn/sequential.js';
import { Generator } from '../random.js';
import { moduleFor } from '../rnn/from-architecture.js';
import { allocate, Tensor } from '../tensor.js';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './checkpoint.js';
import { clipGradNorm } from './clip.js';
import type { TrainingData } from './data-files.js';
import { checkTrainConfig, divergedError, type TrainConfig } from './loop.js';
import { crossEntropyLossWithGrad, mseLoss, mseLossBackward } from './losses.js';
import { Adam, type Optimizer, SGD } from './optim.js';

/** Default width of the character embedding. */
export const DEFAULT_EMBEDDING = 32;

/** A Trainer for a user's data: the model is a Sequential ({ emb, rnn, head } or { rnn, head }). */
export class DataTrainer {
  readonly config: TrainConfig;
  readonly data: TrainingData;
  readonly model: Sequential;
  readonly optimizer: Optimizer;
  readonly embeddingDim: number;
  readonly losses: number[] = [];
  private readonly g: Generator;

  constructor(config: TrainConfig, data: TrainingData, options: { embedding?: number } = {}) {
    this.config = checkTrainConfig({ ...config });
    this.data = data;
    const c = this.config;
    const length = data.kind === 'text' ? data.codes.length : data.rows;
    if (c.seqLen + 1 > length) {
      throw new RnnError(
        'invalid_argument',
        `--seq-len ${c.seqLen} needs ${c.seqLen + 1} ${data.kind === 'text' ? 'characters' : 'rows'}, the data has ${length}`,
        { expected: `<= ${length - 1}`, got: c.seqLen, hint: `pass --seq-len ${Math.max(2, Math.floor(length / 2))}` },
      );
    }
    const init = new Generator(c.seed);
    const backend = c.backend === undefined ? {} : { backend: c.backend };
    const common = { dtype: c.dtype, seed: init };
    const V = data.kind === 'text' ? data.vocab.length : data.columns.length;
    this.embeddingDim = data.kind === 'text' ? (options.embedding ?? DEFAULT_EMBEDDING) : 0;
    const emb =
      data.kind === 'text' ? new Embedding({ numEmbeddings: V, embeddingDim: this.embeddingDim, ...common }) : null;
    const rnn = moduleFor(
      {
        cell: c.cell,
        inputSize: emb ? this.embeddingDim : V,
        hiddenSize: c.hidden,
        numLayers: c.layers,
        bias: true,
        bidirectional: false,
        projSize: 0,
      },
      { ...(c.cell === 'RNN' ? { nonlinearity: c.nonlinearity } : {}), ...common, ...backend },
    );
    const head = new Linear({ inFeatures: c.hidden, outFeatures: V, ...common, ...backend });
    this.model = new Sequential(emb ? { emb, rnn, head } : { rnn, head });
    const params = this.model.parameters();
    this.optimizer =
      c.optimizer === 'adam' ? new Adam(params, { lr: c.lr }) : new SGD(params, { lr: c.lr, momentum: c.momentum });
    this.g = new Generator(c.seed + 1);
  }

  get stepsDone(): number {
    return this.losses.length;
  }

  /** One optimisation step on N random windows of L + 1 characters or rows; returns the loss before the update. */
  step(): number {
    const { seqLen: L, batch: N, warmup } = this.config;
    const data = this.data;
    const length = data.kind === 'text' ? data.codes.length : data.rows;
    const starts = Array.from({ length: N }, () => Math.floor(this.g.nextDouble() * (length - L)));
    const model = this.model;
    model.zeroGrad();
    let loss: number;
    let grad: Tensor;
    if (data.kind === 'text') {
      const ids = new Int32Array(L * N); // (L, N), time-major
      const classes = new Int32Array(L * N);
      starts.forEach((s, n) => {
        for (let t = 0; t < L; t++) {
          ids[t * N + n] = data.codes[s + t] as number;
          classes[t * N + n] = data.codes[s + t + 1] as number;
        }
      });
      const [logits] = model.forward(new IntTensor(ids, [L, N]), null, { requiresGrad: true });
      const V = data.vocab.length;
      const flat = new Tensor(logits.data, [L * N, V]);
      const both = crossEntropyLossWithGrad(flat, classes);
      loss = both.loss;
      grad = new Tensor(both.grad.data, logits.shape);
    } else {
      const C = data.columns.length;
      const x = allocate(this.config.dtype, L * N * C); // (L, N, C)
      const y = allocate(this.config.dtype, L * N * C);
      starts.forEach((s, n) => {
        for (let t = 0; t < L; t++) {
          x.set(data.values.subarray((s + t) * C, (s + t + 1) * C), (t * N + n) * C);
          y.set(data.values.subarray((s + t + 1) * C, (s + t + 2) * C), (t * N + n) * C);
        }
      });
      const [out] = model.forward(new Tensor(x, [L, N, C]), null, { requiresGrad: true });
      // Steps before `warmup` are left out of the loss, as in the embedded sine task.
      const from = warmup * N * C;
      const tail = [L - warmup, N, C];
      const o = new Tensor(out.data.subarray(from), tail);
      const target = new Tensor(y.subarray(from), tail);
      loss = mseLoss(o, target);
      const g = allocate(this.config.dtype, out.numel);
      g.set(mseLossBackward(o, target).data, from);
      grad = new Tensor(g, out.shape);
    }
    if (!Number.isFinite(loss)) throw divergedError(loss, this.stepsDone + 1);
    model.backward(grad, null, { inputGrad: false });
    if (this.config.clip > 0) clipGradNorm(model.parameters(), this.config.clip);
    this.optimizer.step();
    this.losses.push(loss);
    return loss;
  }

  /**
   * The model as a stacked-rnn checkpoint: safetensors of the Sequential's state dict (emb.weight, rnn.*,
   * head.* - the PyTorch module's with those attributes) and metadata saying what it is: task 'text' (with the
   * vocabulary) or 'series' (with the columns and the mean and std that standardised them).
   */
  checkpointBytes(extra: Record<string, string> = {}): Uint8Array {
    const c = this.config;
    const data = this.data;
    const metadata: Record<string, string> = {
      ...extra,
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      task: data.kind,
      cell: c.cell,
      input_size: String(data.kind === 'text' ? this.embeddingDim : data.columns.length),
      hidden_size: String(c.hidden),
      num_layers: String(c.layers),
      output_size: String(data.kind === 'text' ? data.vocab.length : data.columns.length),
      nonlinearity: c.nonlinearity,
      bias: 'true',
      bidirectional: 'false',
      dtype: c.dtype,
    };
    if (data.kind === 'text') {
      metadata.embedding_dim = String(this.embeddingDim);
      metadata.vocab = JSON.stringify(data.vocab);
    } else {
      metadata.columns = JSON.stringify(data.columns);
      metadata.mean = JSON.stringify(data.mean);
      metadata.std = JSON.stringify(data.std);
    }
    return writeSafetensors(this.model.stateDict(), metadata);
  }
}
