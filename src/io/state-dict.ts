/**
 * State-dict matching: finding an nn.RNN's, nn.LSTM's or nn.GRU's parameters inside a bigger model's state dict,
 * and building the module those names and shapes describe. Pure (no file system), so it runs in the browser too.
 */
import { checkArgument, formatNames, RnnError } from '../errors.js';
import { checkStateDictArg } from '../nn/module.js';
import type { CellKind, Nonlinearity } from '../rnn/cell.js';
import { moduleFor, type RecurrentModule } from '../rnn/from-architecture.js';
import type { GRU } from '../rnn/gru.js';
import type { LSTM } from '../rnn/lstm.js';
import { inferArchitecture, type RnnArchitecture } from '../rnn/params.js';
import type { RNN } from '../rnn/rnn.js';
import type { DType, Tensor } from '../tensor.js';
import { setEntry } from './record.js';

const ANCHOR = 'weight_ih_l0';

/**
 * Every prefix under which an RNN's `weight_ih_l0` appears: `''` for a bare RNN, `'rnn.'` for a submodule,
 * `'module.rnn.'` in a DistributedDataParallel model, `'_orig_mod.'` in a torch.compile'd one.
 */
export function findPrefixes(keys: Iterable<string>): string[] {
  checkArgument(
    typeof keys === 'object' &&
      keys !== null &&
      typeof (keys as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function',
    'findPrefixes: keys',
    'an iterable of parameter names',
    keys,
  );
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
  checkStateDictArg(sd, 'selectPrefix: the state dict');
  if (prefix !== undefined && typeof prefix !== 'string') {
    throw new RnnError(
      'invalid_argument',
      `the prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}`,
    );
  }
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
          ? `recurrent weights were found under ${quoted(found)}`
          : 'this state dict holds no nn.RNN, nn.LSTM or nn.GRU weights',
      });
    }
  } else {
    const found = findPrefixes(keys);
    if (found.length === 0) {
      throw new RnnError(
        'state_dict',
        `not an nn.RNN, nn.LSTM or nn.GRU state dict: no key ends in '${ANCHOR}' among ${keys.length} keys` +
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
 * The architecture an nn.RNN, nn.LSTM or nn.GRU state dict (without prefix) describes, the cell included; with
 * `cell`, the state dict must be that module's. See `inferArchitecture` for what is refused and how.
 */
export function architectureOf(sd: Record<string, Tensor>, cell?: CellKind): RnnArchitecture {
  checkStateDictArg(sd, 'architectureOf: the state dict');
  return architectureFromShapes(new Map(Object.entries(sd).map(([k, t]) => [k, t.shape])), cell);
}

/** `architectureOf` from the names and shapes alone (e.g. of a file's tensors, before any is converted). */
export function architectureFromShapes(
  shapes: ReadonlyMap<string, readonly number[]>,
  cell?: CellKind,
): RnnArchitecture {
  return inferArchitecture(shapes, cell);
}

export interface FromStateDictOptions {
  /**
   * Where the module is in a bigger model's state dict, e.g. `'rnn.'`. Found on its own when exactly one prefix
   * holds one (`selectPrefix`); several are an error that lists them.
   */
  prefix?: string;
  /** The RNN's f: a state dict does not store it. Default 'tanh'. */
  nonlinearity?: Nonlinearity;
  batchFirst?: boolean;
  dtype?: DType;
  backend?: string;
}

/** The options of `rnnFromStateDict` (and of `lstmFromStateDict`, `gruFromStateDict`). */
export type RnnFromStateDictOptions = FromStateDictOptions;

/**
 * The nn.RNN, nn.LSTM or nn.GRU a state dict describes (the cell, layers, sizes, directions, bias and proj_size
 * read from its names and shapes), with the weights loaded and in eval mode. The state dict may be a whole
 * model's: the module is found by its prefix as `selectPrefix` finds it (call that to learn which prefix was
 * taken). What the names cannot tell, the RNN's nonlinearity and the batch layout, comes from `options`; with
 * `cell`, the state dict must be that module's.
 *
 * @example
 * const m = moduleFromStateDict(readPtStateDict(bytes));  // torch.save(model.state_dict()) with model.lstm
 * if (m instanceof LSTM) { const [out, [hN, cN]] = m.forward(x); }
 */
export function moduleFromStateDict(
  sd: Record<string, Tensor>,
  options: FromStateDictOptions & { cell?: CellKind } = {},
): RecurrentModule {
  checkStateDictArg(sd, 'sd');
  if (typeof options !== 'object' || options === null) {
    throw new RnnError(
      'invalid_argument',
      `options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const { prefix, cell, ...rest } = options;
  const own = selectPrefix(sd, prefix).sd;
  const module = moduleFor(architectureWithLoader(own, cell), rest);
  module.loadStateDict(own);
  return module.eval();
}

const LOADERS: Record<CellKind, string> = {
  RNN: 'rnnFromStateDict',
  LSTM: 'lstmFromStateDict',
  GRU: 'gruFromStateDict',
};

/** `architectureOf`, whose error for another cell names the loader of the cell the state dict holds. */
function architectureWithLoader(own: Record<string, Tensor>, cell: CellKind | undefined): RnnArchitecture {
  try {
    return architectureOf(own, cell);
  } catch (e) {
    if (!(e instanceof RnnError) || cell === undefined || e.expected !== cell || typeof e.got !== 'string') throw e;
    const loader = LOADERS[e.got as CellKind];
    throw new RnnError(
      'state_dict',
      `${e.message}; load it with ${loader}, or moduleFromStateDict for any of the three`,
      {
        expected: cell,
        got: e.got,
        hint: `${loader}(sd) or moduleFromStateDict(sd)`,
      },
    );
  }
}

/**
 * The torch.nn.RNN a state dict describes (see `moduleFromStateDict`); an LSTM's or GRU's state dict is an error
 * that says which it is.
 *
 * @example
 * const rnn = rnnFromStateDict(readPtStateDict(bytes));   // torch.save(model.state_dict()) with model.rnn
 */
export function rnnFromStateDict(sd: Record<string, Tensor>, options: FromStateDictOptions = {}): RNN {
  return moduleFromStateDict(sd, { ...options, cell: 'RNN' }) as RNN;
}

/** The torch.nn.LSTM a state dict describes (see `moduleFromStateDict`). */
export function lstmFromStateDict(
  sd: Record<string, Tensor>,
  options: Omit<FromStateDictOptions, 'nonlinearity'> = {},
): LSTM {
  return moduleFromStateDict(sd, { ...options, cell: 'LSTM' }) as LSTM;
}

/** The torch.nn.GRU a state dict describes (see `moduleFromStateDict`). */
export function gruFromStateDict(
  sd: Record<string, Tensor>,
  options: Omit<FromStateDictOptions, 'nonlinearity'> = {},
): GRU {
  return moduleFromStateDict(sd, { ...options, cell: 'GRU' }) as GRU;
}
