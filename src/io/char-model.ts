/**
 * Finding a language model - Embedding -> recurrent module -> Linear - in a state dict by names and shapes, as
 * users write one in PyTorch (`self.emb`, `self.rnn`, `self.head`, under any names and prefix), and building the
 * Sequential that loads it.
 */
import { checkArgument, formatNames, isObject, RnnError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { Sequential } from '../nn/sequential.js';
import type { DType, Tensor } from '../tensor.js';
import { architectureOf, moduleFromStateDict, selectPrefix } from './state-dict.js';

export interface LanguageModelOptions {
  /** Where the recurrent module is, e.g. 'rnn.' (found on its own when one prefix holds one). */
  prefix?: string;
  dtype?: DType;
  backend?: string;
}

/** The model, the names of its three children in the file, and the prefix they share. */
export interface LanguageModel {
  /** Children named as in the file: e.g. `{ emb, rnn, head }`. */
  model: Sequential;
  /** V: rows of the embedding, outputs of the head. */
  vocabSize: number;
  /** What comes before the children's names in the file (`''`, or e.g. `'model.'`). */
  prefix: string;
}

/**
 * The Sequential(Embedding, RNN/LSTM/GRU, Linear) a state dict holds, with its weights loaded and in eval mode.
 * The recurrent module is found as `moduleFromStateDict` finds it; beside it (same parent), the embedding is the
 * one 2-D `weight` (V, I) with I the module's input size and no bias, and the head the `weight` (V, D*P) with V
 * rows, and its bias if any.
 *
 * @example
 * const { model } = languageModelFromStateDict(readPtStateDict(readFileSync('lm.pt')));
 * const [logits, state] = model.forward([[ids...]]);   // (L, 1) ids -> (L, 1, V) logits, state.rnn
 */
export function languageModelFromStateDict(
  sd: Record<string, Tensor>,
  options: LanguageModelOptions = {},
): LanguageModel {
  checkArgument(
    isObject(options),
    'languageModelFromStateDict options',
    "an object such as { prefix: 'model' }",
    options,
  );
  const { prefix: rnnPrefix, sd: own } = selectPrefix(sd, options.prefix);
  const arch = architectureOf(own);
  const dot = rnnPrefix.slice(0, -1).lastIndexOf('.');
  const parent = rnnPrefix === '' ? '' : rnnPrefix.slice(0, dot + 1); // 'model.' of 'model.rnn.'
  const rnnName = rnnPrefix.slice(parent.length, -1);
  if (rnnName === '') {
    throw new RnnError('state_dict', 'the state dict is a bare recurrent module: no embedding or head beside it', {
      expected: 'emb.weight, rnn.*, head.weight',
      got: Object.keys(sd).slice(0, 8),
    });
  }
  // Direct children of the parent with a weight, other than the recurrent module: name -> { weight, bias }.
  const siblings = new Map<string, { weight?: Tensor; bias?: Tensor }>();
  for (const [k, t] of Object.entries(sd)) {
    if (!k.startsWith(parent)) continue;
    const parts = k.slice(parent.length).split('.');
    if (parts.length !== 2 || parts[0] === rnnName) continue;
    const [name, leaf] = parts as [string, string];
    if (leaf !== 'weight' && leaf !== 'bias') continue;
    const entry = siblings.get(name) ?? {};
    entry[leaf] = t;
    siblings.set(name, entry);
  }
  const width = arch.bidirectional ? 2 * (arch.projSize || arch.hiddenSize) : arch.projSize || arch.hiddenSize;
  const embeddings = [...siblings].filter(
    ([, e]) => e.weight?.ndim === 2 && e.bias === undefined && e.weight.shape[1] === arch.inputSize,
  );
  const heads = [...siblings].filter(([, e]) => e.weight?.ndim === 2 && e.weight.shape[1] === width);
  const found = (what: string, list: typeof embeddings, shape: string): [string, Tensor, Tensor | undefined] => {
    if (list.length !== 1) {
      throw new RnnError(
        'state_dict',
        `${list.length === 0 ? 'no' : 'several'} ${what} beside '${rnnPrefix}' (a '${parent}<name>.weight' of ${shape})` +
          (list.length > 1 ? `: ${formatNames(list.map(([n]) => n))}` : ''),
        { expected: shape, got: [...siblings.keys()] },
      );
    }
    const [name, e] = list[0] as [string, { weight?: Tensor; bias?: Tensor }];
    return [name, e.weight as Tensor, e.bias];
  };
  const [embName, embWeight] = found('embedding', embeddings, `(V, ${arch.inputSize}) with no bias`);
  const [headName, headWeight, headBias] = found(
    'head',
    heads.filter(([n]) => n !== embName),
    `(V, ${width})`,
  );
  const V = embWeight.shape[0] as number;
  if (headWeight.shape[0] !== V) {
    throw new RnnError(
      'state_dict',
      `the embedding '${parent}${embName}.weight' has ${V} rows but the head '${parent}${headName}.weight' ${headWeight.shape[0]} outputs; a language model has one vocabulary`,
      { expected: V, got: headWeight.shape[0] },
    );
  }
  const dtype = options.dtype ?? 'float32';
  const common = { dtype, ...(options.backend === undefined ? {} : { backend: options.backend }) };
  const rnn = moduleFromStateDict(sd, { prefix: rnnPrefix, ...common });
  const emb = new Embedding({ numEmbeddings: V, embeddingDim: arch.inputSize, dtype, seed: 0 });
  const head = new Linear({ inFeatures: width, outFeatures: V, bias: headBias !== undefined, seed: 0, ...common });
  const model = new Sequential({ [embName]: emb, [rnnName]: rnn, [headName]: head });
  const weights: Record<string, Tensor> = { [`${embName}.weight`]: embWeight, [`${headName}.weight`]: headWeight };
  if (headBias) weights[`${headName}.bias`] = headBias;
  for (const [k, t] of Object.entries(rnn.stateDict())) weights[`${rnnName}.${k}`] = t;
  model.loadStateDict(weights);
  return { model: model.eval(), vocabSize: V, prefix: parent };
}
