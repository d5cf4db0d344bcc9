/**
 * Reading PyTorch `.pt` files (torch.save's zip format) safely: no Python, and nothing in the file is run.
 *
 * `readPtStateDict` is the one most callers want: the float tensors of a state dict, from a file holding the
 * state dict itself or a checkpoint dict holding it under `key`. `readPt` also keeps integer tensors, and
 * `readPtObject` returns the whole pickled object (dicts, lists, numbers, strings and tensors).
 */
import { RnnError } from '../../errors.js';
import { Tensor } from '../../tensor.js';
import { openPtArchive, type PtArchive } from './archive.js';
import type { IntTensor } from './int-tensor.js';
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
  return materialize(ref, a.storageBytes(ref.storage), a.littleEndian, a.budget);
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
 * Dotted paths to the non-empty state dicts nested in dicts under `root`. An optimizer's state dict (keys
 * 'state' and 'param_groups') is skipped: its per-parameter entries are dicts of tensors but not model weights.
 */
function findStateDicts(root: PyDict, maxDepth: number): string[] {
  const found: string[] = [];
  const seen = new Set<PyDict>();
  const walk = (d: PyDict, path: string, depth: number): void => {
    if (depth > maxDepth || (d.map.has('state') && d.map.has('param_groups'))) return;
    for (const [k, x] of d.map) {
      // Each dict is looked at once, however many keys share it, so the search stays linear.
      if (!(x instanceof PyDict) || seen.has(x) || (typeof k !== 'string' && typeof k !== 'number')) continue;
      seen.add(x);
      const p = path === '' ? String(k) : `${path}.${k}`;
      if (x.map.size > 0 && isStateDict(x)) found.push(p);
      else walk(x, p, depth + 1);
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

function selectStateDict(root: PyValue, key: string | undefined, maxDepth: number): PyDict {
  const candidates = root instanceof PyDict ? findStateDicts(root, maxDepth) : [];
  const shown = candidates.slice(0, 20).map((c) => `'${c}'`);
  if (candidates.length > 20) shown.push(`... (${candidates.length - 20} more)`);
  const listed = shown.length > 0 ? shown.join(', ') : 'none';
  if (key === undefined) {
    if (isStateDict(root)) return root;
    if (root instanceof PyDict) {
      throw new RnnError(
        'state_dict',
        `the file holds a dict that is not a state dict (not every value is a tensor); pass options.key to ` +
          `choose the state dict inside it. Keys holding state dicts: ${listed}`,
        {
          expected: 'a dict of name -> tensor',
          data: { candidates },
          hint: `e.g. { key: '${candidates[0] ?? 'model'}' }`,
        },
      );
    }
    throw new RnnError('state_dict', `expected a state dict (a dict of name -> tensor), got a ${kindOf(root)}`, {
      expected: 'dict',
      got: kindOf(root),
    });
  }
  const found = root instanceof PyDict ? resolve(root, key, maxDepth) : undefined;
  if (found === undefined) {
    throw new RnnError('state_dict', `no key '${key}' in the file; keys holding state dicts: ${listed}`, {
      expected: candidates,
      got: key,
      data: { candidates },
    });
  }
  if (!(found instanceof PyDict)) {
    throw new RnnError(
      'state_dict',
      `'${key}' holds a ${kindOf(found)}, not a state dict; keys holding state dicts: ${listed}`,
      {
        got: kindOf(found),
        data: { candidates },
      },
    );
  }
  for (const [k, x] of found.map) {
    if (typeof k !== 'string' || !(x instanceof TensorRef)) {
      throw new RnnError(
        'state_dict',
        `'${key}' is not a state dict: its entry ${String(k)} holds a ${kindOf(x)}, not a tensor. Keys holding state dicts: ${listed}`,
        { data: { candidates } },
      );
    }
  }
  return found;
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
 * Reads the state dict in a `.pt` file: every tensor by name, float ones as `Tensor` (float16 and bfloat16
 * converted exactly to float32; float64 kept), int64/int32 ones as `IntTensor`. Only the tensors of the
 * chosen state dict are read from the archive.
 */
export function readPt(bytes: Uint8Array, options?: PtReadOptions): Map<string, PtTensor> {
  const a = open(bytes, options);
  const sd = selectStateDict(a.root, options?.key, a.limits.maxDepth);
  const out = new Map<string, PtTensor>();
  for (const [name, ref] of sd.map) out.set(name as string, tensorOf(a, ref as TensorRef));
  return out;
}

/**
 * Reads the float tensors of the state dict in a `.pt` file, by name (integer buffers such as
 * `num_batches_tracked` are left out). For a checkpoint dict, `options.key` names the state dict inside it;
 * without it, the error lists the keys that hold one.
 *
 * @example
 * const sd = readPtStateDict(readFileSync('rnn.pt'));            // torch.save(rnn.state_dict(), 'rnn.pt')
 * const sd2 = readPtStateDict(bytes, { key: 'model' });           // torch.save({'model': sd, 'epoch': 3}, ...)
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
