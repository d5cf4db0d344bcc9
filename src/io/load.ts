/**
 * Reading and writing named tensors from files (Node only): safetensors, PyTorch .pt, and JSON. Reading goes by
 * the file's first bytes, so a misnamed file still loads; writing goes by the extension.
 */
import { RnnError } from '../errors.js';
import { Tensor, tensor } from '../tensor.js';
import { readBytes, writeFileAtomic } from './files.js';
import { readJsonTensors, writeJsonTensors } from './json-tensors.js';
import { IntTensor, readPt, writePtStateDict } from './pt/index.js';
import { readSafetensors, toFloat, toIntegers, writeSafetensors } from './safetensors.js';

/** A named tensor from a file: floating point as a Tensor, integers (e.g. `lengths`) as plain numbers. */
export type FileTensor = { kind: 'float'; tensor: Tensor } | { kind: 'int'; shape: number[]; values: number[] };

export type TensorFormat = 'safetensors' | 'pt' | 'json';

/**
 * The file's format, from its bytes: safetensors when its first 8 bytes are a header length that fits the file
 * and the header opens with `{`; a zip (`PK\x03\x04`) or a bare pickle (`\x80`, PROTO) is a PyTorch .pt;
 * text opening with `{` or `[`, or any other file named `.json`, is JSON. Anything else is left to the
 * safetensors reader to explain.
 */
export function detectFormat(bytes: Uint8Array, path = ''): TensorFormat {
  if (bytes.length >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b) return 'safetensors';
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'pt';
  if (bytes[0] === 0x80) return 'pt';
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  // Text that opens like JSON, or a .json name, goes to the JSON reader, which explains what is wrong with it.
  if (bytes[i] === 0x7b || bytes[i] === 0x5b || /\.json$/i.test(path)) return 'json';
  return 'safetensors';
}

/** Every tensor in a file, by name. `key` selects a nested state dict in a .pt checkpoint. */
export async function readTensorFile(path: string, options: { key?: string } = {}): Promise<Map<string, FileTensor>> {
  const bytes = await readBytes(path);
  try {
    return parseTensorFile(bytes, path, options);
  } catch (err) {
    // Name the file: a run reads two of them.
    if (err instanceof RnnError && !err.message.includes(path)) {
      const { expected, got, hint, data } = err;
      throw new RnnError(err.code, `${path}: ${err.message}`, {
        expected,
        got,
        ...(hint ? { hint } : {}),
        ...(data ? { data } : {}),
      });
    }
    throw err;
  }
}

function parseTensorFile(bytes: Uint8Array, path: string, options: { key?: string }): Map<string, FileTensor> {
  const format = detectFormat(bytes, path);
  const out = new Map<string, FileTensor>();
  if (format === 'json') {
    for (const [name, { shape, values }] of readJsonTensors(new TextDecoder().decode(bytes))) {
      out.set(name, { kind: 'float', tensor: tensor(values, shape, 'float64') });
    }
    return out;
  }
  if (format === 'pt') {
    for (const [name, t] of readPt(bytes, options.key === undefined ? {} : { key: options.key })) {
      out.set(
        name,
        t instanceof IntTensor
          ? { kind: 'int', shape: [...t.shape], values: integersOf(name, t) }
          : { kind: 'float', tensor: t },
      );
    }
    return out;
  }
  if (options.key !== undefined) {
    throw new RnnError(
      'invalid_argument',
      `--key selects a nested state dict in a .pt checkpoint; ${path} is a safetensors file`,
    );
  }
  for (const [name, raw] of readSafetensors(bytes).tensors) {
    out.set(
      name,
      raw.dtype === 'I64' || raw.dtype === 'I32'
        ? { kind: 'int', shape: raw.shape, values: toIntegers(raw) }
        : { kind: 'float', tensor: toFloat(raw) },
    );
  }
  return out;
}

function integersOf(name: string, t: IntTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) {
      throw new RnnError('unsupported', `${name} holds ${v}, beyond the integers a JavaScript number holds exactly`);
    }
    return n;
  });
}

/** The floating-point tensors of a weights file (a state dict), by name. */
export async function readStateDictFile(path: string, options: { key?: string } = {}): Promise<Record<string, Tensor>> {
  const sd: Record<string, Tensor> = {};
  for (const [name, t] of await readTensorFile(path, options)) {
    if (t.kind !== 'float') {
      throw new RnnError('state_dict', `${name} holds integers, not weights (shape [${t.shape.join(', ')}])`);
    }
    sd[name] = t.tensor;
  }
  return sd;
}

/** What a tensor file can hold: float tensors, and integer tensors as plain values (e.g. `lengths`). */
export type WritableFileTensor = Tensor | { kind: 'int'; shape: number[]; values: number[] };

/** The bytes of a tensor file in the format `path`'s extension names: `.json`, `.pt`/`.pth`, else safetensors. */
export function encodeTensorFile(path: string, tensors: Record<string, WritableFileTensor>): Uint8Array | string {
  const entries = Object.entries(tensors);
  if (/\.json$/i.test(path)) {
    return writeJsonTensors(
      Object.fromEntries(entries.map(([k, t]) => [k, t instanceof Tensor ? t : tensor(t.values, t.shape, 'float64')])),
    );
  }
  if (/\.(pt|pth)$/i.test(path)) {
    return writePtStateDict(
      Object.fromEntries(
        entries.map(([k, t]) => [
          k,
          t instanceof Tensor ? t : new IntTensor(BigInt64Array.from(t.values, BigInt), t.shape),
        ]),
      ),
    );
  }
  return writeSafetensors(
    Object.fromEntries(
      entries.map(([k, t]) => [k, t instanceof Tensor ? t : { dtype: 'I64' as const, shape: t.shape, data: t.values }]),
    ),
  );
}

/** Writes named tensors atomically (temp file, then rename), in the format the extension names. */
export async function writeTensorFile(path: string, tensors: Record<string, WritableFileTensor>): Promise<void> {
  await writeFileAtomic(path, encodeTensorFile(path, tensors));
}
