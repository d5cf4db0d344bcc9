/**
 * A submodule's part of a whole model's state dict: what PyTorch's load_state_dict hands each child module.
 */
import { RnnError } from '../errors.js';
import type { Tensor } from '../tensor.js';
import type { StateDict } from './module.js';

/**
 * The entries of `sd` whose names start with `name.`, with that prefix removed: `submoduleStateDict(sd, 'emb')`
 * turns `emb.weight` into `weight`, ready for `emb.loadStateDict(...)`. `name` may be dotted (`'encoder.rnn'`)
 * and may end in a dot. Entries deeper down keep the rest of their name (`'encoder'` gives `rnn.weight_ih_l0`).
 * No entry under `name` is an error that lists the top-level names there are.
 *
 * @example
 * const sd = readPtStateDict(bytes);                // emb.weight, rnn.weight_ih_l0, ..., head.weight, head.bias
 * emb.loadStateDict(submoduleStateDict(sd, 'emb')); // { weight }
 */
export function submoduleStateDict(sd: StateDict, name: string): Record<string, Tensor> {
  if (typeof name !== 'string' || name === '' || name === '.') {
    throw new RnnError(
      'invalid_argument',
      `submoduleStateDict: name must be a submodule's name such as 'emb', got ${JSON.stringify(name)}`,
      {
        got: name,
      },
    );
  }
  const prefix = name.endsWith('.') ? name : `${name}.`;
  const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
  const out: Record<string, Tensor> = {};
  for (const [key, t] of entries) {
    if (!key.startsWith(prefix) || key.length === prefix.length) continue;
    // defineProperty, so a name like '__proto__' becomes a plain entry rather than the object's prototype.
    Object.defineProperty(out, key.slice(prefix.length), {
      value: t,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  if (Object.keys(out).length === 0) {
    const children = [...new Set(entries.map(([key]) => key.split('.')[0] as string))];
    throw new RnnError('state_dict', `no entries under '${prefix}' in the state dict`, {
      expected: `names starting with '${prefix}'`,
      got: children,
      hint:
        children.length > 0
          ? `its top-level names are ${children.map((c) => `'${c}'`).join(', ')}`
          : 'the state dict is empty',
    });
  }
  return out;
}
