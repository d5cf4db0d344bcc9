/**
 * The weights a command reads: the RNN in a weights file, found as the library finds it (the state dict of a
 * checkpoint by its key, the RNN in a model by its prefix), and the words that say what was taken.
 */
import { formatNames, quoteName, RnnError } from '../errors.js';
import { readStateDictFile } from '../io/load.js';
import type { PtStateDictSource } from '../io/pt/index.js';
import { selectPrefix } from '../io/state-dict.js';
import type { Tensor } from '../tensor.js';

/** The --key option's help, shared by the commands that read weights. */
export const KEY_HELP =
  "which state dict of a .pt checkpoint, e.g. 'model' or 'run.ema' (default: the only one, or the one at " +
  "'model', 'state_dict', 'model_state_dict' or 'net')";

export interface RnnWeights {
  /** The RNN's own parameters, prefix removed. */
  sd: Record<string, Tensor>;
  prefix: string;
  source: PtStateDictSource | undefined;
  /** Every other tensor of the state dict (other modules' weights, integer buffers). */
  others: string[];
  /** Where the RNN was found, e.g. "key 'model', prefix 'rnn.'"; empty for a bare RNN state dict. */
  where: string;
  /** The whole state dict's float tensors, for commands that load more than the RNN (train --init). */
  all: Record<string, Tensor>;
  /** The dtypes of the module's tensors in the file (float16 and bfloat16 are read as float32). */
  fileDtypes: string[];
}

/** Where the state dict was found in a checkpoint, in words: "key 'model' (the only state dict in the file)". */
export function describeSource(source: PtStateDictSource | undefined): string {
  if (source?.key === undefined) return '';
  const key = `key ${quoteName(source.key)}`;
  if (source.chosen === 'only') return `${key} (the only state dict in the file)`;
  if (source.chosen === 'common') {
    const rest = source.candidates.filter((c) => c !== source.key);
    return `${key} (also in the file: ${formatNames(rest, { max: 4 })}; --key chooses)`;
  }
  return key;
}

/** A state-dict error, saying which state dict of a checkpoint it was about when the command chose it. */
function inSource(err: unknown, source: PtStateDictSource | undefined): unknown {
  if (!(err instanceof RnnError) || source?.key === undefined || source.chosen === 'given') return err;
  return new RnnError(err.code, `${err.message} (in the checkpoint's state dict at key ${quoteName(source.key)})`, {
    expected: err.expected,
    got: err.got,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(err.data ? { data: err.data } : {}),
  });
}

/** Reads `path` and finds the RNN in it. Throws RnnError, with the file named. */
export async function readRnnWeights(path: string, o: { key?: string; prefix?: string }): Promise<RnnWeights> {
  const file = await readStateDictFile(path, o.key === undefined ? {} : { key: o.key });
  let prefix: string;
  let sd: Record<string, Tensor>;
  try {
    ({ prefix, sd } = selectPrefix(file.stateDict, o.prefix));
  } catch (err) {
    const e = inSource(err, file.source);
    throw e instanceof RnnError && !e.message.includes(path) ? prefixed(path, e) : e;
  }
  const own = (name: string) => name.startsWith(prefix) && !name.slice(prefix.length).includes('.');
  const ints = file.integers.filter(own);
  if (ints.length > 0) {
    throw new RnnError('state_dict', `${path}: ${formatNames(ints)} hold(s) integers, not weights`, {
      got: ints.slice(0, 8),
    });
  }
  const others = [...Object.keys(file.stateDict), ...file.integers].filter((n) => !own(n));
  const parts = [describeSource(file.source), prefix ? `prefix '${prefix}'` : ''].filter(Boolean);
  const fileDtypes = [...new Set(Object.keys(sd).map((k) => file.fileDtypes[prefix + k] ?? (sd[k] as Tensor).dtype))];
  return { sd, prefix, source: file.source, others, where: parts.join(', '), all: file.stateDict, fileDtypes };
}

function prefixed(path: string, e: RnnError): RnnError {
  return new RnnError(e.code, `${path}: ${e.message}`, {
    expected: e.expected,
    got: e.got,
    ...(e.hint ? { hint: e.hint } : {}),
    ...(e.data ? { data: e.data } : {}),
  });
}
