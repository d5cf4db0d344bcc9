/**
 * Writing a state dict as a `.pt` file that `torch.load(path, weights_only=True)` reads, laid out as
 * torch.save (PyTorch 1.13) writes one: `archive/data.pkl` (a protocol-2 pickle of an OrderedDict of
 * `_rebuild_tensor_v2` calls), `archive/data/<key>` (each tensor's raw little-endian bytes, one storage per
 * tensor), `archive/version` ("3"), all stored and 64-byte aligned. No `byteorder` record: torch 1.13 writes
 * none, and every version reads a missing one as little-endian.
 */
import { RnnError } from '../../errors.js';
import { IntTensor } from '../../int-tensor.js';
import { Tensor } from '../../tensor.js';
import { HOST_LITTLE_ENDIAN } from './materialize.js';
import { writeStoredZip, type ZipMember } from './zip-write.js';

/** Pickle opcodes, named as in Python's pickle.py. */
export const OP = {
  PROTO: 0x80,
  GLOBAL: 0x63,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  EMPTY_TUPLE: 0x29,
  MARK: 0x28,
  TUPLE: 0x74,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  BINUNICODE: 0x58,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  LONG1: 0x8a,
  NEWFALSE: 0x89,
  SETITEMS: 0x75,
  STOP: 0x2e,
} as const;

/** Appends opcodes; globals and constant strings are memoized so each is spelled out once, as pickle does. */
export class Pickler {
  private readonly parts: number[] = [];
  private readonly memo = new Map<string, number>();
  private readonly encoder = new TextEncoder();

  op(code: number): void {
    this.parts.push(code);
  }

  private u32(n: number): void {
    this.parts.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }

  /** Pushes a memoized item: BINGET if written before, else `write()` then BINPUT. */
  private memoized(id: string, write: () => void): void {
    const index = this.memo.get(id);
    if (index !== undefined) {
      if (index < 256) this.parts.push(OP.BINGET, index);
      else {
        this.op(OP.LONG_BINGET);
        this.u32(index);
      }
      return;
    }
    write();
    const next = this.memo.size;
    this.memo.set(id, next);
    if (next < 256) this.parts.push(OP.BINPUT, next);
    else {
      this.op(OP.LONG_BINPUT);
      this.u32(next);
    }
  }

  global(module: string, name: string): void {
    this.memoized(`global:${module}.${name}`, () => {
      this.op(OP.GLOBAL);
      for (const b of this.encoder.encode(`${module}\n${name}\n`)) this.parts.push(b);
    });
  }

  string(s: string, memo = false): void {
    const write = (): void => {
      const bytes = this.encoder.encode(s);
      this.op(OP.BINUNICODE);
      this.u32(bytes.length);
      for (const b of bytes) this.parts.push(b);
    };
    if (memo) this.memoized(`str:${s}`, write);
    else write();
  }

  int(n: number): void {
    if (n >= 0 && n < 256) this.parts.push(OP.BININT1, n);
    else if (n >= 0 && n < 65536) this.parts.push(OP.BININT2, n & 0xff, n >>> 8);
    else if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.op(OP.BININT);
      this.u32(n);
    } else {
      // LONG1: little-endian two's complement; sizes here are non-negative and below 2**53.
      const bytes: number[] = [];
      let v = BigInt(n);
      while (v > 0n) {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
      }
      if (bytes[bytes.length - 1]! & 0x80) bytes.push(0);
      this.parts.push(OP.LONG1, bytes.length, ...bytes);
    }
  }

  tuple(values: readonly number[]): void {
    if (values.length === 0) {
      this.op(OP.EMPTY_TUPLE);
      return;
    }
    this.op(OP.MARK);
    for (const v of values) this.int(v);
    this.op(OP.TUPLE);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const STORAGE_CLASS = { float32: 'FloatStorage', float64: 'DoubleStorage', int64: 'LongStorage', int32: 'IntStorage' };

function contiguousStrides(shape: readonly number[]): number[] {
  const stride = new Array<number>(shape.length);
  for (let d = shape.length - 1, s = 1; d >= 0; d--) {
    stride[d] = s;
    s *= Math.max(shape[d]!, 1); // torch treats a 0-size dim as 1 when computing strides
  }
  return stride;
}

/** A tensor's elements as little-endian bytes, whatever the host's byte order. */
function tensorBytes(t: Tensor | IntTensor): Uint8Array {
  if (HOST_LITTLE_ENDIAN) return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const size = t.data.BYTES_PER_ELEMENT;
  const out = new Uint8Array(t.data.length * size);
  const view = new DataView(out.buffer);
  const d = t.data;
  if (d instanceof Float32Array) d.forEach((x, i) => view.setFloat32(i * 4, x, true));
  else if (d instanceof Float64Array) d.forEach((x, i) => view.setFloat64(i * 8, x, true));
  else if (d instanceof BigInt64Array) d.forEach((x, i) => view.setBigInt64(i * 8, x, true));
  else d.forEach((x, i) => view.setInt32(i * 4, x, true));
  return out;
}

/**
 * Pickles `_rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())` for `t`, its storage persisted
 * under `key`, and adds the storage's bytes to `members` as `<folder>/data/<key>`.
 */
export function pickleTensor(
  p: Pickler,
  t: Tensor | IntTensor,
  key: string,
  folder: string,
  members: ZipMember[],
): void {
  members.push({ name: `${folder}/data/${key}`, data: tensorBytes(t) });
  // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks)
  p.global('torch._utils', '_rebuild_tensor_v2');
  p.op(OP.MARK);
  p.op(OP.MARK);
  p.string('storage', true);
  p.global('torch', STORAGE_CLASS[t.dtype]);
  p.string(key);
  p.string('cpu', true);
  p.int(t.numel);
  p.op(OP.TUPLE);
  p.op(OP.BINPERSID);
  p.int(0);
  p.tuple(t.shape);
  p.tuple(contiguousStrides(t.shape));
  p.op(OP.NEWFALSE);
  p.global('collections', 'OrderedDict');
  p.op(OP.EMPTY_TUPLE);
  p.op(OP.REDUCE);
  p.op(OP.TUPLE);
  p.op(OP.REDUCE);
}

export interface PtWriteOptions {
  /** The archive's folder name; torch.save uses the file's stem, or 'archive' for a buffer. Default 'archive'. */
  archiveName?: string;
}

/** The archive's folder name (`options.archiveName`, default 'archive'), checked: torch.load needs one path part. */
export function archiveFolder(options: PtWriteOptions): string {
  const folder = options.archiveName ?? 'archive';
  if (!/^[^/\\\n]+$/.test(folder)) {
    throw new RnnError('invalid_argument', `archiveName must be a non-empty name without '/', got '${folder}'`);
  }
  return folder;
}

/**
 * Serialises a state dict (name -> tensor) to the bytes of a `.pt` file that PyTorch loads with
 * `torch.load(path, weights_only=True)` and `module.load_state_dict(...)`. float32 tensors are saved as float32,
 * float64 as float64, `IntTensor`s as int64 or int32. Keys keep their insertion order.
 *
 * @example
 * writeFileSync('rnn.pt', writePtStateDict(rnn.stateDict()));   // then in Python: torch.load('rnn.pt')
 */
export function writePtStateDict(sd: Record<string, Tensor | IntTensor>, options: PtWriteOptions = {}): Uint8Array {
  if (sd === null || typeof sd !== 'object') {
    throw new RnnError(
      'invalid_argument',
      `expected a state dict (an object of name -> Tensor), got ${sd === null ? 'null' : typeof sd}`,
    );
  }
  if (options === null || typeof options !== 'object') {
    throw new RnnError(
      'invalid_argument',
      `options must be an object, got ${options === null ? 'null' : typeof options}`,
    );
  }
  const folder = archiveFolder(options);
  const p = new Pickler();
  const members: ZipMember[] = [];
  p.op(OP.PROTO);
  p.op(2);
  p.global('collections', 'OrderedDict');
  p.op(OP.EMPTY_TUPLE);
  p.op(OP.REDUCE);
  const names = Object.keys(sd);
  if (names.length > 0) p.op(OP.MARK);
  names.forEach((name, i) => {
    const t = sd[name];
    if (!(t instanceof Tensor) && !(t instanceof IntTensor)) {
      throw new RnnError('invalid_argument', `state dict entry '${name}' is not a Tensor`, {
        expected: 'Tensor or IntTensor',
        got: t === null ? 'null' : typeof t,
      });
    }
    p.string(name);
    pickleTensor(p, t, String(i), folder, members);
  });
  if (names.length > 0) p.op(OP.SETITEMS);
  p.op(OP.STOP);
  return writeStoredZip([
    { name: `${folder}/data.pkl`, data: p.bytes() },
    ...members,
    { name: `${folder}/version`, data: new TextEncoder().encode('3\n') },
  ]);
}
