/**
 * What torch.save's pickle may name, and nothing else: the hooks that make the restricted unpickler read a
 * state dict, like torch.load(weights_only=True).
 *
 * Allowed globals: collections.OrderedDict, the tensor and parameter rebuild functions in torch._utils, and
 * the storage classes of the dtypes we read. Any other global is refused when its GLOBAL opcode is read, before
 * anything could call it. Rebuilding a tensor makes a `TensorRef` (storage, offset, shape, strides) whose view
 * is checked against the storage's claimed length here; the bytes are read later, only for tensors asked for.
 */
import { RnnError } from '../../errors.js';
import { kindOf, type PickleHooks, PyDict, PyObject, PyTuple, type PyValue, pickleError } from './unpickler.js';

export type StorageDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32';

export const ITEM_SIZE: Readonly<Record<StorageDType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
};

/** torch's legacy storage class names, as torch.save writes them into persistent ids. */
export const STORAGE_CLASSES: Readonly<Record<string, StorageDType>> = {
  'torch.FloatStorage': 'float32',
  'torch.DoubleStorage': 'float64',
  'torch.HalfStorage': 'float16',
  'torch.BFloat16Storage': 'bfloat16',
  'torch.LongStorage': 'int64',
  'torch.IntStorage': 'int32',
};

const FUNCTIONS = [
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
] as const;
type FunctionPath = (typeof FUNCTIONS)[number];

/** The stand-in for an allowed global. */
export class TorchGlobal extends PyObject {
  constructor(readonly path: FunctionPath | keyof typeof STORAGE_CLASSES) {
    super();
  }

  get kind(): string {
    return `reference to ${this.path}`;
  }
}

/** A storage named by a persistent id: its bytes are the archive entry `data/<key>`. */
export class StorageRef extends PyObject {
  constructor(
    readonly key: string,
    readonly dtype: StorageDType,
    readonly numel: number,
    readonly location: string,
  ) {
    super();
  }

  get kind(): string {
    return 'storage';
  }
}

/** A tensor as a strided view of a storage, checked to lie inside it. */
export class TensorRef extends PyObject {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: readonly number[],
    readonly stride: readonly number[],
  ) {
    super();
  }

  get kind(): string {
    return 'tensor';
  }
}

function refuse(opcode: string, path: string): RnnError {
  const module = path.startsWith('torch.nn.') || path.startsWith('__main__.');
  return new RnnError(
    'unsupported',
    `Unsupported global: ${opcode} ${path} was not an allowed global by default. A .pt file read here may only ` +
      `name what a state dict needs: ${[...FUNCTIONS, ...Object.keys(STORAGE_CLASSES)].join(', ')}`,
    {
      got: path,
      hint: module
        ? 'the file holds a pickled object, not a state dict: save the weights with torch.save(model.state_dict(), path)'
        : 'nothing in the file was run; if it should hold only tensors, it may be malicious',
      data: { global: path },
    },
  );
}

/** An int that torch could use as a size, stride or offset. */
function index(v: PyValue, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw pickleError(`${what} must be a non-negative int, got ${kindOf(v)} ${String(v).slice(0, 40)}`);
  }
  return v;
}

/** PyTorch's own limit on a tensor's dimensions. */
const MAX_DIMS = 64;

function indexTuple(v: PyValue, what: string): number[] {
  if (!(v instanceof PyTuple)) throw pickleError(`${what} must be a tuple, got ${kindOf(v)}`);
  if (v.items.length > MAX_DIMS) {
    throw new RnnError('unsupported', `a tensor ${what} with ${v.items.length} dimensions (at most ${MAX_DIMS})`);
  }
  return v.items.map((x, i) => index(x, `${what}[${i}]`));
}

function args(fn: string, a: PyTuple, counts: readonly number[]): readonly PyValue[] {
  if (!counts.includes(a.items.length)) {
    throw pickleError(`${fn} takes ${counts.join(' or ')} arguments, got ${a.items.length}`, {
      expected: counts,
      got: a.items.length,
    });
  }
  return a.items;
}

/** Checks that every element the view can reach lies inside the storage. */
function rebuildTensor(a: readonly PyValue[]): TensorRef {
  const [storage, offsetValue, sizeValue, strideValue] = a;
  if (!(storage instanceof StorageRef)) throw pickleError(`a tensor's storage is a ${kindOf(storage ?? null)}`);
  const offset = index(offsetValue ?? null, 'storage_offset');
  const shape = indexTuple(sizeValue ?? null, 'size');
  const stride = indexTuple(strideValue ?? null, 'stride');
  if (shape.length !== stride.length) {
    throw pickleError(`size has ${shape.length} dims but stride has ${stride.length}`, {
      expected: shape.length,
      got: stride.length,
    });
  }
  let last = offset; // the furthest element index the view reaches
  let empty = false;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 0) empty = true;
    else last += (shape[d]! - 1) * stride[d]!;
  }
  const reach = empty ? offset : last + 1;
  if (!Number.isSafeInteger(last) || reach > storage.numel) {
    throw new RnnError(
      'corrupt_file',
      `a tensor of size [${shape.join(', ')}], stride [${stride.join(', ')}] and offset ${offset} needs ` +
        `${reach} elements, but its storage '${storage.key}' has ${storage.numel}`,
      { expected: `<= ${storage.numel}`, got: reach },
    );
  }
  return new TensorRef(storage, offset, shape, stride);
}

function orderedDict(a: readonly PyValue[]): PyDict {
  const d = new PyDict();
  if (a.length === 0) return d;
  const [pairs] = a;
  const items = Array.isArray(pairs) ? pairs : pairs instanceof PyTuple ? pairs.items : undefined;
  if (items === undefined) throw pickleError(`OrderedDict() of a ${kindOf(pairs ?? null)}`);
  for (const pair of items) {
    const kv = Array.isArray(pair) ? pair : pair instanceof PyTuple ? pair.items : [];
    const key = kv[0];
    if (kv.length !== 2 || key === undefined || !(key === null || typeof key !== 'object' || key instanceof PyTuple)) {
      throw pickleError('OrderedDict() items must be (hashable key, value) pairs');
    }
    d.map.set(key, kv[1]!);
  }
  return d;
}

/**
 * The hooks for one data.pkl; `storages` collects every storage its persistent ids name. Calls are charged to
 * `work` by the items they walk: a pickle can pass one large memoized list to OrderedDict() many times at
 * a few bytes per call, which without this charge would take time quadratic in its length.
 */
export class TorchHooks implements PickleHooks {
  readonly storages = new Map<string, StorageRef>();
  private work: number;

  constructor(maxItems: number) {
    this.work = maxItems;
  }

  private charge(items: number): void {
    this.work -= items + 1;
    if (this.work < 0) {
      throw new RnnError('corrupt_file', 'the pickle makes more calls over more items than the limit allows', {
        hint: 'raise options.limits.maxItems if the file is trusted',
      });
    }
  }

  global(module: string, name: string, opcode: string): PyValue {
    const path = `${module}.${name}`;
    if ((FUNCTIONS as readonly string[]).includes(path) || path in STORAGE_CLASSES) {
      return new TorchGlobal(path as FunctionPath);
    }
    throw refuse(opcode, path);
  }

  reduce(fn: PyValue, a: PyTuple): PyValue {
    if (!(fn instanceof TorchGlobal)) throw pickleError(`REDUCE on a ${kindOf(fn)}, which is not callable`);
    const [first] = a.items;
    this.charge(
      a.items.length + (Array.isArray(first) ? first.length : first instanceof PyTuple ? first.items.length : 0),
    );
    switch (fn.path) {
      case 'collections.OrderedDict':
        return orderedDict(args(fn.path, a, [0, 1]));
      case 'torch._utils._rebuild_tensor':
        return rebuildTensor(args(fn.path, a, [4]));
      case 'torch._utils._rebuild_tensor_v2':
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        return rebuildTensor(args(fn.path, a, [6, 7]));
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        // (data, requires_grad, backward_hooks[, state]): a Parameter is its data here.
        const [data] = args(fn.path, a, fn.path.endsWith('state') ? [4] : [3]);
        if (!(data instanceof TensorRef)) throw pickleError(`a Parameter's data is a ${kindOf(data ?? null)}`);
        return data;
      }
      default:
        throw new RnnError('unsupported', `calling ${fn.path} is not supported`);
    }
  }

  build(inst: PyValue, state: PyValue): PyValue {
    // torch.save writes one BUILD per state dict: OrderedDict.__dict__ = {'_metadata': ...}. It carries only
    // module versions, so it is accepted and dropped.
    if (inst instanceof PyDict && (state instanceof PyDict || state === null)) return inst;
    throw new RnnError('unsupported', `BUILD of a ${kindOf(inst)} from a ${kindOf(state)} is not supported`);
  }

  persistentLoad(pid: PyValue): PyValue {
    const items = pid instanceof PyTuple ? pid.items : [];
    const [tag, type, key, location, numelValue] = items;
    if (items.length !== 5 || tag !== 'storage') {
      throw pickleError("a persistent id must be ('storage', storage_type, key, location, numel)");
    }
    if (!(type instanceof TorchGlobal) || !(type.path in STORAGE_CLASSES)) {
      throw pickleError(`a persistent id's storage type is a ${kindOf(type ?? null)}`);
    }
    if (typeof key !== 'string' || typeof location !== 'string') {
      throw pickleError("a persistent id's key and location must be strings");
    }
    const dtype = STORAGE_CLASSES[type.path]!;
    const numel = index(numelValue ?? null, 'storage numel');
    const known = this.storages.get(key);
    if (known === undefined) {
      const ref = new StorageRef(key, dtype, numel, location);
      this.storages.set(key, ref);
      return ref;
    }
    if (known.dtype !== dtype || known.numel !== numel) {
      throw pickleError(`storage '${key}' is named as ${known.numel} ${known.dtype} and as ${numel} ${dtype}`);
    }
    return known;
  }
}
