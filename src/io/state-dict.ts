/**
 * State-dict matching: finding an RNN's parameters inside a bigger model's state dict, and building the RNN
 * those names and shapes describe. Pure (no file system), so it runs in the browser too.
 */
import { formatNames, RnnError } from '../errors.js';
import type { Nonlinearity } from '../rnn/cell.js';
import { inferArchitecture, type RnnArchitecture } from '../rnn/params.js';
import { RNN } from '../rnn/rnn.js';
import type { DType, Tensor } from '../tensor.js';
import { setEntry } from './record.js';

const ANCHOR = 'weight_ih_l0';

/** The names torch.nn.RNN gives its parameters: weight_ih_l0, bias_hh_l2_reverse, ... */
const PARAMETER_NAME = /^(weight|bias)_(ih|hh)_l\d+(_reverse)?$/;

/**
 * Every prefix under which an RNN's `weight_ih_l0` appears: `''` for a bare RNN, `'rnn.'` for a submodule,
 * `'module.rnn.'` in a DistributedDataParallel model, `'_orig_mod.'` in a torch.compile'd one.
 */
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

/** A prefix as messages show it, `''` included. */
const quoted = (prefixes: readonly string[]) => formatNames(prefixes);

/**
 * The RNN's own entries of `sd`, with `prefix` removed, and the prefix. Without a prefix, the one prefix under
 * which an RNN appears is taken; several are an error that lists them (`data.candidates`) and asks for
 * `prefix`. Only direct children of the prefix are kept (RNN parameter names have no dots), so a sibling
 * `head.weight` does not get in the way.
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
        got: found.slice(0, 8),
        data: { option: 'prefix', candidates: found },
        hint: found.length
          ? `RNN weights were found under ${quoted(found)}`
          : 'this state dict holds no torch.nn.RNN weights',
      });
    }
  } else {
    const found = findPrefixes(keys);
    if (found.length === 0) {
      throw new RnnError(
        'state_dict',
        `not a torch.nn.RNN state dict: no key ends in '${ANCHOR}' among ${keys.length} keys` +
          (keys.length > 0 ? ` (${formatNames(keys, { max: 5 })})` : ''),
        { expected: ANCHOR, got: keys.slice(0, 10) },
      );
    }
    if (found.length > 1) {
      throw new RnnError(
        'state_dict',
        `several RNNs in this state dict, under the prefixes ${quoted(found)}; choose one by its prefix`,
        {
          got: found.slice(0, 8),
          data: { option: 'prefix', candidates: found },
          hint: `e.g. { prefix: '${found.find((p) => p !== '') ?? ''}' }`,
        },
      );
    }
    chosen = found[0] as string;
  }
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(sd)) {
    if (!k.startsWith(chosen)) continue;
    const rest = k.slice(chosen.length);
    if (!rest.includes('.')) setEntry(out, rest, t);
  }
  return { prefix: chosen, sd: out };
}

/**
 * The architecture an RNN state dict (without prefix) describes. A name torch.nn.RNN never has (`__proto__`,
 * `head.weight`) is refused in load_state_dict's words; missing, extra and misshapen parameters are named,
 * a few at a time.
 */
export function architectureOf(sd: Record<string, Tensor>): RnnArchitecture {
  return architectureFromShapes(new Map(Object.entries(sd).map(([k, t]) => [k, t.shape])));
}

/** `architectureOf` from the names and shapes alone (e.g. of a file's tensors, before any is converted). */
export function architectureFromShapes(shapes: ReadonlyMap<string, readonly number[]>): RnnArchitecture {
  const names = [...shapes.keys()];
  const stray = names.filter((k) => !PARAMETER_NAME.test(k));
  if (stray.length > 0) {
    throw new RnnError(
      'state_dict',
      `Error(s) in loading state_dict for RNN: Unexpected key(s) in state_dict: ${formatNames(stray, { quote: '"' })}.`,
      { got: stray.slice(0, 8), data: { missingKeys: [], unexpectedKeys: stray } },
    );
  }
  try {
    return inferArchitecture(shapes);
  } catch (err) {
    throw shortened(err);
  }
}

/** inferArchitecture's report, with its lists of names cut to a few each (a hostile file names thousands). */
function shortened(err: unknown): unknown {
  if (!(err instanceof RnnError) || err.message.length <= 400) return err;
  const { missing, unexpected, mismatched } = (err.data ?? {}) as Record<string, unknown>;
  const head = err.message.indexOf('): ');
  if (!Array.isArray(missing) || !Array.isArray(unexpected) || !Array.isArray(mismatched) || head < 0) return err;
  const list = (names: unknown[]) => formatNames(names.map(String), { max: 4, quote: '' });
  const parts = [
    missing.length ? `missing ${list(missing)}` : '',
    unexpected.length ? `unexpected ${list(unexpected)}` : '',
    mismatched.length ? `shape mismatch for ${list(mismatched)}` : '',
  ].filter(Boolean);
  return new RnnError(err.code, `${err.message.slice(0, head + 3)}${parts.join('; ')}`, {
    expected: err.expected,
    got: err.got,
    ...(err.hint ? { hint: err.hint } : {}),
    ...(err.data ? { data: err.data } : {}),
  });
}

export interface RnnFromStateDictOptions {
  /**
   * Where the RNN is in a bigger model's state dict, e.g. `'rnn.'`. Found on its own when exactly one prefix
   * holds an RNN (`selectPrefix`); several are an error that lists them.
   */
  prefix?: string;
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  dtype?: DType;
  backend?: string;
}

/**
 * The torch.nn.RNN a state dict describes (layers, sizes, directions and bias read from its names and shapes),
 * with the weights loaded and in eval mode. The state dict may be a whole model's: the RNN is found by its
 * prefix as `selectPrefix` finds it (call that to learn which prefix was taken). What the names cannot tell,
 * the nonlinearity and the batch layout, comes from `options`.
 *
 * @example
 * const rnn = rnnFromStateDict(readPtStateDict(bytes));   // torch.save(model.state_dict()) with model.rnn
 */
export function rnnFromStateDict(sd: Record<string, Tensor>, options: RnnFromStateDictOptions = {}): RNN {
  const { prefix, ...rest } = options;
  const own = selectPrefix(sd, prefix).sd;
  const shapes = new Map(Object.entries(own).map(([k, t]) => [k, t.shape]));
  const { inputSize, hiddenSize, numLayers, bidirectional, bias } = inferArchitecture(shapes, 'RNN');
  const rnn = new RNN({ inputSize, hiddenSize, numLayers, bidirectional, bias, ...rest, seed: 0 });
  rnn.loadStateDict(own);
  return rnn.eval();
}
