/**
 * State-dict matching: finding an RNN's parameters inside a bigger model's state dict, and building the RNN
 * those names and shapes describe. Pure (no file system), so it runs in the browser too.
 */
import { RnnError } from '../errors.js';
import type { Nonlinearity } from '../rnn/cell.js';
import { inferArchitecture, type RnnArchitecture } from '../rnn/params.js';
import { RNN } from '../rnn/rnn.js';
import type { DType, Tensor } from '../tensor.js';

const ANCHOR = 'weight_ih_l0';

/** Every prefix under which an RNN's `weight_ih_l0` appears: `''` for a bare RNN, `'rnn.'` for a submodule. */
export function findPrefixes(keys: Iterable<string>): string[] {
  const found: string[] = [];
  for (const k of keys) {
    if (k === ANCHOR || k.endsWith(`.${ANCHOR}`)) found.push(k.slice(0, k.length - ANCHOR.length));
  }
  return found;
}

/** `'rnn'` and `'rnn.'` name the same submodule. */
export function normalizePrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('.') ? prefix : `${prefix}.`;
}

/**
 * The RNN's own entries of `sd`, with `prefix` removed. Without a prefix, the single prefix under which an RNN
 * appears is used; several are an error that lists them. Only direct children of the prefix are kept (RNN
 * parameter names have no dots), so a sibling `head.weight` does not get in the way.
 */
export function selectPrefix(
  sd: Record<string, Tensor>,
  prefix?: string,
): { prefix: string; sd: Record<string, Tensor> } {
  const keys = Object.keys(sd);
  let chosen: string;
  if (prefix !== undefined) {
    chosen = normalizePrefix(prefix);
    if (!keys.some((k) => k.startsWith(chosen))) {
      const found = findPrefixes(keys);
      throw new RnnError('state_dict', `no parameters start with the prefix '${chosen}'`, {
        expected: chosen,
        got: found,
        hint: found.length
          ? `RNN weights were found under ${found.map((p) => `'${p}'`).join(', ')}`
          : 'this file holds no torch.nn.RNN weights',
      });
    }
  } else {
    const found = findPrefixes(keys);
    if (found.length === 0) {
      throw new RnnError(
        'state_dict',
        `not a torch.nn.RNN state dict: no key ends in '${ANCHOR}' among ${keys.length} keys`,
        {
          expected: ANCHOR,
          got: keys.slice(0, 10),
        },
      );
    }
    if (found.length > 1) {
      throw new RnnError(
        'state_dict',
        `several RNNs in this state dict, under the prefixes ${found.map((p) => `'${p}'`).join(', ')}`,
        {
          got: found,
          hint: `choose one with --prefix, e.g. --prefix ${found[1] || found[0]}`,
        },
      );
    }
    chosen = found[0] as string;
  }
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(sd)) {
    if (!k.startsWith(chosen)) continue;
    const rest = k.slice(chosen.length);
    if (!rest.includes('.')) out[rest] = t;
  }
  return { prefix: chosen, sd: out };
}

export function architectureOf(sd: Record<string, Tensor>): RnnArchitecture {
  return inferArchitecture(new Map(Object.entries(sd).map(([k, t]) => [k, t.shape])));
}

export interface RnnFromStateDictOptions {
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  dtype?: DType;
  backend?: string;
}

/**
 * The torch.nn.RNN a state dict describes (layers, sizes, directions and bias read from its names and shapes),
 * with the weights loaded and in eval mode. What the names cannot tell, the nonlinearity and the batch layout,
 * comes from `options`.
 */
export function rnnFromStateDict(sd: Record<string, Tensor>, options: RnnFromStateDictOptions = {}): RNN {
  const { inputSize, hiddenSize, numLayers, bidirectional, bias } = inferArchitecture(
    new Map(Object.entries(sd).map(([k, t]) => [k, t.shape])),
    'RNN',
  );
  const rnn = new RNN({ inputSize, hiddenSize, numLayers, bidirectional, bias, ...options, seed: 0 });
  rnn.loadStateDict(sd);
  return rnn.eval();
}
