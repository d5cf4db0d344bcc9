/**
 * Optimizer state dicts in PyTorch's layout, so that a torch checkpoint's optimizer state resumes here and ours
 * resumes in torch: `{ state: {index: {...}}, param_groups: [{ lr, ..., params: [0, 1, ...] }] }`, state keyed by
 * the parameter's index (an int) and holding torch's names (`step` a float32 0-d tensor, `exp_avg`, `exp_avg_sq`,
 * `max_exp_avg_sq`, `momentum_buffer`). What readPtObject gives (Maps, arrays) and what stateDict() gives (Maps,
 * plain objects, PtTuple) are both read.
 */
import { RnnError } from '../errors.js';
import { PtTuple, type PtWritable } from '../io/pt/write-object.js';
import { allocate, type DType, type FloatArray, Tensor } from '../tensor.js';

/** One parameter group: hyperparameters by torch's names, and the indices of its parameters. */
export type ParamGroup = { [key: string]: PtWritable } & { params: number[] };

/** An optimizer's state dict, as torch's `optimizer.state_dict()`; `writePtObject` writes it for torch.load. */
export type OptimizerStateDict = {
  state: Map<number, Record<string, Tensor | null>>;
  param_groups: ParamGroup[];
};

/** A scalar float32 tensor, as torch 1.13 keeps Adam's step. */
export function stepTensor(step: number): Tensor {
  return new Tensor(Float32Array.of(step), []);
}

export function tuple(...items: number[]): PtTuple {
  return new PtTuple(items);
}

/** `value[key]` of a Map or a plain object. */
function field(value: unknown, key: string): unknown {
  if (value instanceof Map) return value.get(key);
  if (value !== null && typeof value === 'object') return (value as Record<string, unknown>)[key];
  return undefined;
}

function entriesOf(value: unknown): [unknown, unknown][] {
  if (value instanceof Map) return [...value.entries()];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return Object.entries(value);
  return [];
}

function bad(message: string, details: { expected?: unknown; got?: unknown } = {}): RnnError {
  return new RnnError('state_dict', message, details);
}

/** The saved state and the one group's hyperparameters, checked against `count` parameters. */
export function readOptimizerState(
  sd: unknown,
  count: number,
): { group: Record<string, unknown>; state: Map<number, Map<string, unknown>> } {
  const groups = field(sd, 'param_groups');
  const state = field(sd, 'state');
  if (!Array.isArray(groups) || state === undefined || state === null || typeof state !== 'object') {
    throw bad("an optimizer state dict has 'state' and 'param_groups' (a list), as torch's optimizer.state_dict()", {
      expected: ['state', 'param_groups'],
      got: entriesOf(sd).map(([k]) => String(k)),
    });
  }
  if (groups.length === 0) throw bad('loaded state dict has no parameter groups', { expected: 1, got: 0 });
  // Every group's params, in order, map to ours by position (torch's id_map); hyperparameters must agree.
  const ids: number[] = [];
  const first = groups[0];
  for (const g of groups) {
    const params = field(g, 'params');
    if (!Array.isArray(params)) throw bad("a parameter group has no 'params' list");
    for (const p of params) ids.push(Number(p));
    for (const [k, v] of entriesOf(g)) {
      if (k !== 'params' && JSON.stringify(normal(v)) !== JSON.stringify(normal(field(first, String(k))))) {
        throw new RnnError(
          'unsupported',
          `the state dict has ${groups.length} parameter groups with different '${String(k)}'; these optimizers take one group`,
          { got: groups.length },
        );
      }
    }
  }
  if (ids.length !== count) {
    throw bad("loaded state dict contains a parameter group that doesn't match the size of optimizer's group", {
      expected: count,
      got: ids.length,
    });
  }
  const byId = new Map<number, Map<string, unknown>>();
  for (const [k, v] of entriesOf(state)) {
    const position = ids.indexOf(Number(k));
    if (position < 0) continue; // torch keeps state of unknown ids aside; it never reaches a parameter
    byId.set(position, new Map(entriesOf(v).map(([name, x]) => [String(name), x])));
  }
  const group = Object.fromEntries(entriesOf(first).map(([k, v]) => [String(k), normal(v)]));
  return { group, state: byId };
}

/** PtTuple and arrays alike (readPtObject gives tuples as arrays), bigints as numbers. */
function normal(v: unknown): unknown {
  if (v instanceof PtTuple) return v.items.map(normal);
  if (Array.isArray(v)) return v.map(normal);
  if (typeof v === 'bigint') return Number(v);
  return v;
}

/** A hyperparameter of the saved group: a number (or boolean) if present, else the current value. */
export function hyper<T extends number | boolean>(group: Record<string, unknown>, key: string, current: T): T {
  const v = group[key];
  if (v === undefined || v === null) return current;
  if (typeof v !== typeof current) {
    throw bad(`param_groups '${key}' must be a ${typeof current}, got ${typeof v}`, {
      expected: typeof current,
      got: typeof v,
    });
  }
  return v as T;
}

/** A saved state tensor for parameter `i` as a copy in the parameter's dtype, its size checked. */
export function stateArray(
  entry: Map<string, unknown>,
  key: string,
  i: number,
  numel: number,
  dtype: DType,
): FloatArray | null {
  const v = entry.get(key);
  if (v === undefined || v === null) return null;
  if (!(v instanceof Tensor)) throw bad(`state[${i}]['${key}'] is not a float tensor`, { got: typeof v });
  if (v.numel !== numel) {
    throw bad(`state[${i}]['${key}'] has ${v.numel} elements, the parameter ${numel}`, {
      expected: numel,
      got: v.numel,
    });
  }
  const out = allocate(dtype, numel);
  out.set(v.data);
  return out;
}

/** The saved `step` of parameter `i` (a tensor or a number), a count >= 1. */
export function stepOf(entry: Map<string, unknown>, i: number): number {
  const v = entry.get('step');
  const n = v instanceof Tensor && v.numel === 1 ? (v.data[0] as number) : typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw bad(`state[${i}]['step'] must be a step count >= 1, got ${String(v)}`, { got: String(v) });
  }
  return n;
}

/** A copy of a state array as a tensor of the parameter's shape. */
export function stateTensor(data: FloatArray, shape: readonly number[]): Tensor {
  return new Tensor(data.slice(), shape);
}
