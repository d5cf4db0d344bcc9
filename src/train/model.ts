/**
 * The model `stacked-rnn train` trains: a stacked RNN, LSTM or GRU and a Linear head on its every output step,
 * the same two-attribute module (`rnn`, `head`) a checkpoint loads into in PyTorch.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';
import { Linear } from '../nn/linear.js';
import { Generator } from '../random.js';
import type { CellKind, Nonlinearity } from '../rnn/cell.js';
import { moduleFor, type RecurrentModule } from '../rnn/from-architecture.js';
import type { DType, Tensor } from '../tensor.js';
import { type Param, parametersOf } from './optim.js';

/** The embedded tasks: next-step prediction of a noisy sine mixture, and a character-level language model. */
export type TaskName = 'sine' | 'chars';
export const TASKS: readonly TaskName[] = ['sine', 'chars'];

export interface ModelConfig {
  task: TaskName;
  /** Which recurrent module: nn.RNN, nn.LSTM or nn.GRU. */
  cell: CellKind;
  /** I: 1 for sine, the vocabulary size (one-hot input) for chars. */
  inputSize: number;
  /** H. */
  hiddenSize: number;
  /** K. */
  numLayers: number;
  /** O: 1 for sine, the vocabulary size (logits) for chars. */
  outputSize: number;
  /** The RNN's f (ignored by the LSTM and GRU). */
  nonlinearity: Nonlinearity;
  bias: boolean;
  bidirectional: boolean;
  dtype: DType;
  /** The characters of the vocabulary, in class order (chars only). */
  vocab: string[] | null;
}

/**
 * `rnn` (nn.RNN, nn.LSTM or nn.GRU) then `head` (nn.Linear(D*H, O)) applied to every step: input (L, N, I),
 * output (L, N, O). Parameters are named as in PyTorch's state dict of such a module: `rnn.weight_ih_l0`, ...,
 * `head.weight`.
 */
export class SequenceModel {
  readonly config: ModelConfig;
  readonly rnn: RecurrentModule;
  readonly head: Linear;

  /** Initialises the RNN then the head from one Generator, as two modules built in a row after manual_seed. */
  constructor(config: ModelConfig, options: { seed?: number | Generator; backend?: string } = {}) {
    checkArgument(isObject(config), 'SequenceModel: config', 'an object (a ModelConfig)', config);
    checkArgument(isObject(options), 'SequenceModel: options', 'an object', options);
    if (config.task === 'chars' && (config.vocab === null || config.vocab.length !== config.inputSize)) {
      throw new RnnError(
        'invalid_argument',
        `a chars model needs a vocabulary of inputSize (${config.inputSize}) characters`,
        {
          expected: config.inputSize,
          got: config.vocab?.length ?? null,
        },
      );
    }
    this.config = config;
    const g = options.seed instanceof Generator ? options.seed : new Generator(options.seed ?? 0);
    const backend = options.backend === undefined ? {} : { backend: options.backend };
    this.rnn = moduleFor(
      {
        cell: config.cell,
        inputSize: config.inputSize,
        hiddenSize: config.hiddenSize,
        numLayers: config.numLayers,
        bias: config.bias,
        bidirectional: config.bidirectional,
        projSize: 0,
      },
      {
        ...(config.cell === 'RNN' ? { nonlinearity: config.nonlinearity } : {}),
        dtype: config.dtype,
        seed: g,
        ...backend,
      },
    );
    this.head = new Linear({
      inFeatures: this.rnn.directions * config.hiddenSize,
      outFeatures: config.outputSize,
      dtype: config.dtype,
      seed: g,
      ...backend,
    });
  }

  /**
   * Runs rnn then head: `[output (L, N, O), states]`, the final states [hN (D*K, N, H)] (the LSTM's [hN, cN]),
   * from `states` (null: zeros), so a caller can carry them on. With `requiresGrad`, both record what `backward`
   * needs.
   */
  forward(input: Tensor, options: { states?: Tensor[] | null; requiresGrad?: boolean } = {}): [Tensor, Tensor[]] {
    const requiresGrad = options.requiresGrad === true;
    const [hidden, states] = this.rnn.forwardStates(input, options.states ?? null, { requiresGrad });
    return [this.head.forward(hidden, { requiresGrad }), states];
  }

  /** Walks the forward in reverse: head, then rnn. ADDS every parameter's gradient; see `zeroGrad`. */
  backward(gradOutput: Tensor): void {
    const gradHidden = this.head.backward(gradOutput);
    this.rnn.backwardStates(gradHidden, [], { inputGrad: false }); // the data needs no gradient
  }

  zeroGrad(): void {
    this.rnn.zeroGrad();
    this.head.zeroGrad();
  }

  /** Every parameter with its gradient, rnn first: what the optimizers take. */
  parameters(): Param[] {
    return parametersOf(this.rnn, this.head);
  }

  /** The state dict of the PyTorch module with `rnn` and `head` attributes: `rnn.*` then `head.*`. */
  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(this.rnn.stateDict())) sd[`rnn.${name}`] = t;
    for (const [name, t] of Object.entries(this.head.stateDict())) sd[`head.${name}`] = t;
    return sd;
  }

  eval(): this {
    this.rnn.eval();
    this.head.eval();
    return this;
  }
}
