/**
 * Reading PyTorch `.pt` files (torch.save's zip format) safely: no Python, and nothing in the file is run.
 *
 * `readPtStateDict` is the one most callers want: the float tensors of a state dict, from a file holding the
 * state dict itself or a checkpoint dict holding it under `key`. `readPt` also keeps integer tensors, and
 * `readPtObject` returns the whole pickled object (dicts, lists, numbers, strings and tensors).
 */
import { formatNames, quoteName, RnnError } from '../../errors.js';
import type { IntTensor } from '../../int-tensor.js';
import { Tensor } from '../../tensor.js';
import { openPtArchive, type PtArchive } from './archive.js';
import { type PtLimits, resolveLimits } from './limits.js';
import { materialize } from './materialize.js';
import { TensorRef } from './torch-pickle.js';
import { kindOf, PyDict, PySet, PyTuple, type PyValue } from './unpickler.js';

export type PtTensor = Tensor | IntTensor;
/** A dict key as loaded: Python str, int, bool, None, or a tuple (as an array). */
export type PtKey = string | number | bigint | boolean | null | readonly PtValue[];
/** A loaded Python object: tuples, lists and sets become arrays; dicts and OrderedDicts become Maps. */
export type PtValue = PtKey | Uint8Array | PtTensor | PtValue[] | Map<PtKey, PtValue>;

export interface PtReadOptions {
  /**
   * Where the state dict is when the file holds a checkpoint dict such as `{'model': sd, 'epoch': 3}`:
   * `'model'`, or a dotted path into nested dicts (`'run.ema'`). Not needed when the file is a state dict.
   */
  key?: string;
  /** Bounds on memory and nesting for untrusted files; see `DEFAULT_PT_LIMITS`. */
  limits?: Partial<PtLimits>;
  /** Check each zip entry's CRC-32 (default true). */
  verifyCrc?: boolean;
}

function open(bytes: Uint8Array, options: PtReadOptions | undefined): PtArchive {
  return openPtArchive(bytes, resolveLimits(options?.limits), options?.verifyCrc ?? true);
}

function tensorOf(a: PtArchive, ref: TensorRef): PtTensor {
  return materialize(ref, a.storageBytes(ref.storage), a.littleEndian, a.budget, a.limits.maxExpandedBytes);
}

/** Runs `read`, naming the tensor in an over-the-limit error ("'weight_ih_l0': a tensor of size ..."). */
function named<T>(name: string, read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof RnnError) || err.code !== 'unsupported') throw err;
    throw new RnnError(err.code, `${quoteName(name)}: ${err.message}`, {
      expected: err.expected,
      got: err.got,
      ...(err.hint ? { hint: err.hint } : {}),
    });
  }
}

function tooDeep(limit: number): RnnError {
  return new RnnError('unsupported', `the pickled object is nested deeper than ${limit} levels`, {
    expected: `<= ${limit}`,
    hint: 'raise options.limits.maxDepth if the file is trusted',
  });
}

/** The whole object, tensors included; shared parts stay shared, cycles are refused. */
function convert(a: PtArchive, root: PyValue): PtValue {
  const done = new Map<object, PtValue>();
  const open = new Set<object>();
  const walk = (v: PyValue, depth: number): PtValue => {
    if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return v;
    const seen = done.get(v);
    if (seen !== undefined) return seen;
    if (open.has(v)) throw new RnnError('unsupported', 'the pickled object contains a cycle');
    if (depth > a.limits.maxDepth) throw tooDeep(a.limits.maxDepth);
    open.add(v);
    let out: PtValue;
    if (v instanceof TensorRef) out = tensorOf(a, v);
    else if (Array.isArray(v)) out = v.map((x) => walk(x, depth + 1));
    else if (v instanceof PyTuple || v instanceof PySet) out = v.items.map((x) => walk(x, depth + 1));
    else if (v instanceof PyDict) {
      const m = new Map<PtKey, PtValue>();
      for (const [k, x] of v.map) m.set(walk(k, depth + 1) as PtKey, walk(x, depth + 1));
      out = m;
    } else throw new RnnError('unsupported', `a bare ${kindOf(v)} in the pickled object is not supported`);
    open.delete(v);
    done.set(v, out);
    return out;
  };
  return walk(root, 0);
}

function isStateDict(v: PyValue): v is PyDict {
  if (!(v instanceof PyDict)) return false;
  for (const [k, x] of v.map) if (typeof k !== 'string' || !(x instanceof TensorRef)) return false;
  return true;
}

/**
 * The non-empty state dicts nested in dicts under `root`, by dotted path. An optimizer's state dict (keys
 * 'state' and 'param_groups') is skipped: its per-parameter entries are dicts of tensors but not model weights.
 */
function findStateDicts(root: PyDict, maxDepth: number): Map<string, PyDict> {
  const found = new Map<string, PyDict>();
  const seen = new Set<PyDict>();
  const walk = (d: PyDict, path: string, depth: number): void => {
    if (depth > maxDepth || (d.map.has('state') && d.map.has('param_groups'))) return;
    for (const [k, x] of d.map) {
      // Each dict is looked at once, however many keys share it, so the search stays linear.
      if (!(x instanceof PyDict) || seen.has(x) || (typeof k !== 'string' && typeof k !== 'number')) continue;
      seen.add(x);
      const p = path === '' ? String(k) : `${path}.${k}`;
      if (x.map.size > 0 && isStateDict(x)) {
        if (!found.has(p)) found.set(p, x);
      } else walk(x, p, depth + 1);
    }
  };
  seen.add(root);
  walk(root, '', 0);
  return found;
}

function lookup(d: PyDict, segment: string): PyValue | undefined {
  if (d.map.has(segment)) return d.map.get(segment);
  for (const [k, x] of d.map) if (typeof k !== 'string' && typeof k !== 'object' && String(k) === segment) return x;
  return undefined;
}

/**
 * Follows a dotted path; a key may itself contain dots, so longer segments are tried first. Failed
 * (dict, rest-of-path) pairs are remembered, so a hostile dict whose keys nest into themselves cannot make
 * the search exponential.
 */
function resolve(root: PyDict, path: string, maxDepth: number): PyValue | undefined {
  const failed = new Map<PyDict, Set<string>>();
  const walk = (d: PyDict, rest: string, depth: number): PyValue | undefined => {
    if (depth > maxDepth) throw tooDeep(maxDepth);
    if (failed.get(d)?.has(rest)) return undefined;
    const whole = lookup(d, rest);
    if (whole !== undefined) return whole;
    for (let i = rest.lastIndexOf('.'); i > 0; i = rest.lastIndexOf('.', i - 1)) {
      const inner = lookup(d, rest.slice(0, i));
      if (inner instanceof PyDict) {
        const found = walk(inner, rest.slice(i + 1), depth + 1);
        if (found !== undefined) return found;
      }
    }
    failed.set(d, (failed.get(d) ?? new Set()).add(rest));
    return undefined;
  };
  return walk(root, path, 0);
}

/**
 * Keys under which checkpoints commonly keep the model's weights: when a file holds several state dicts and
 * exactly one is at one of these keys, that one is taken without asking.
 */
export const COMMON_STATE_DICT_KEYS: readonly string[] = ['model', 'state_dict', 'model_state_dict', 'net'];

/** Where a file's state dict was found. */
export interface PtStateDictSource {
  /** The dotted key of the state dict inside a checkpoint dict; undefined when the file is the state dict. */
  key: string | undefined;
  /**
   * How it was chosen: 'file' (the file is a state dict), 'given' (`options.key`), 'only' (the one state dict
   * in the checkpoint), 'common' (the one at a common key such as 'model', among several).
   */
  chosen: 'file' | 'given' | 'only' | 'common';
  /** Every key of the checkpoint that holds a state dict (empty when the file is a state dict). */
  candidates: string[];
}

/** The tensors of the state dict in a .pt file, and where in the file they were. */
export interface PtSelection extends PtStateDictSource {
  tensors: Map<string, PtTensor>;
  /** Each tensor's dtype in the file (float16 and bfloat16 are read as float32). */
  fileDtypes: Map<string, string>;
}

function severalStateDicts(candidates: string[]): RnnError {
  return new RnnError(
    'state_dict',
    `the file holds ${candidates.length} state dicts, under the keys ${formatNames(candidates)}; choose one by its key`,
    {
      expected: 'one key',
      got: candidates,
      data: { option: 'key', candidates },
      hint: `e.g. { key: '${candidates[0]}' }`,
    },
  );
}

function selectStateDict(
  root: PyValue,
  key: string | undefined,
  maxDepth: number,
): PtStateDictSource & { dict: PyDict } {
  if (key === undefined && isStateDict(root)) return { dict: root, key: undefined, chosen: 'file', candidates: [] };
  const dicts = root instanceof PyDict ? findStateDicts(root, maxDepth) : new Map<string, PyDict>();
  const candidates = [...dicts.keys()];
  const listed = candidates.length > 0 ? formatNames(candidates) : 'none';
  if (key === undefined) {
    if (root instanceof TensorRef) {
      throw new RnnError('state_dict', 'the file holds a single tensor (torch.save(tensor)), not named tensors', {
        expected: 'a dict of name -> tensor',
        got: 'tensor',
        hint: "save a dict of named tensors, e.g. torch.save({'input': x}, path)",
      });
    }
    if (!(root instanceof PyDict)) {
      throw new RnnError('state_dict', `expected a state dict (a dict of name -> tensor), got a ${kindOf(root)}`, {
        expected: 'dict',
        got: kindOf(root),
      });
    }
    const common = candidates.filter((c) => COMMON_STATE_DICT_KEYS.includes(c));
    const pick = candidates.length === 1 ? candidates[0] : common.length === 1 ? common[0] : undefined;
    if (pick !== undefined) {
      return {
        dict: dicts.get(pick) as PyDict,
        key: pick,
        chosen: candidates.length === 1 ? 'only' : 'common',
        candidates,
      };
    }
    if (candidates.length > 1) throw severalStateDicts(candidates);
    const keys = [...root.map.keys()].filter((k) => typeof k === 'string' || typeof k === 'number').map(String);
    throw new RnnError(
      'state_dict',
      `the file holds a dict that is not a state dict (not every value is a tensor), and no state dict inside it; ` +
        `its keys: ${keys.length > 0 ? formatNames(keys) : 'none'}`,
      { expected: 'a dict of name -> tensor', got: keys.slice(0, 8), data: { option: 'key', candidates } },
    );
  }
  const found = root instanceof PyDict ? resolve(root, key, maxDepth) : undefined;
  if (found === undefined) {
    throw new RnnError('state_dict', `no key '${key}' in the file; keys holding state dicts: ${listed}`, {
      expected: candidates,
      got: key,
      data: { option: 'key', candidates },
    });
  }
  if (!(found instanceof PyDict)) {
    throw new RnnError(
      'state_dict',
      `'${key}' holds a ${kindOf(found)}, not a state dict; keys holding state dicts: ${listed}`,
      {
        got: kindOf(found),
        data: { option: 'key', candidates },
      },
    );
  }
  for (const [k, x] of found.map) {
    if (typeof k !== 'string' || !(x instanceof TensorRef)) {
      throw new RnnError(
        'state_dict',
        `'${key}' is not a state dict: its entry ${quoteName(String(k))} holds a ${kindOf(x)}, not a tensor; keys holding state dicts: ${listed}`,
        { data: { option: 'key', candidates } },
      );
    }
  }
  return { dict: found, key, chosen: 'given', candidates };
}

/**
 * Reads the whole object a `.pt` file holds (a state dict, a checkpoint dict with epochs and optimizer state,
 * a list of tensors...), with every tensor loaded. Throws RnnError('unsupported') for any global other than
 * those a state dict needs, RnnError('corrupt_file') for damaged input.
 */
export function readPtObject(bytes: Uint8Array, options?: Omit<PtReadOptions, 'key'>): PtValue {
  const a = open(bytes, options);
  return convert(a, a.root);
}

/**
 * Reads the state dict in a `.pt` file and says where it was: every tensor by name, float ones as `Tensor`
 * (float16 and bfloat16 converted exactly to float32; float64 kept), int64/int32 ones as `IntTensor`. A
 * checkpoint dict such as `{'model': sd, 'optimizer': ..., 'epoch': 3}` needs no key when it holds one state dict,
 * or several of which exactly one is at a common key (`model`, `state_dict`, `model_state_dict`, `net`);
 * otherwise `options.key` chooses, and the error lists the keys holding one. Only the tensors of the chosen
 * state dict are read from the archive.
 *
 * @example
 * const { tensors, key } = readPtSelection(bytes); // key: 'model' for torch.save({'model': sd, 'epoch': 3}, ...)
 */
export function readPtSelection(bytes: Uint8Array, options?: PtReadOptions): PtSelection {
  const a = open(bytes, options);
  const { dict, ...source } = selectStateDict(a.root, options?.key, a.limits.maxDepth);
  const tensors = new Map<string, PtTensor>();
  const fileDtypes = new Map<string, string>();
  for (const [name, ref] of dict.map) {
    tensors.set(
      name as string,
      named(name as string, () => tensorOf(a, ref as TensorRef)),
    );
    fileDtypes.set(name as string, (ref as TensorRef).storage.dtype);
  }
  return { tensors, fileDtypes, ...source };
}

/** The tensors of the state dict in a `.pt` file, by name: `readPtSelection(bytes, options).tensors`. */
export function readPt(bytes: Uint8Array, options?: PtReadOptions): Map<string, PtTensor> {
  return readPtSelection(bytes, options).tensors;
}

/**
 * Reads the float tensors of the state dict in a `.pt` file, by name (integer buffers such as
 * `num_batches_tracked` are left out). A checkpoint dict's state dict is found as `readPtSelection` finds it;
 * `options.key` chooses among several.
 *
 * @example
 * const sd = readPtStateDict(readFileSync('rnn.pt'));            // torch.save(rnn.state_dict(), 'rnn.pt')
 * const sd2 = readPtStateDict(bytes);                             // torch.save({'model': sd, 'epoch': 3}, ...)
 * const sd3 = readPtStateDict(bytes, { key: 'ema' });             // torch.save({'model': sd, 'ema': sd2}, ...)
 */
export function readPtStateDict(bytes: Uint8Array, options?: PtReadOptions): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of readPt(bytes, options)) {
    // defineProperty, so a key like '__proto__' becomes a plain entry rather than the object's prototype.
    if (t instanceof Tensor)
      Object.defineProperty(out, name, { value: t, enumerable: true, writable: true, configurable: true });
  }
  return out;
}
