/**
 * Reading and writing named tensors from files (Node only): safetensors, PyTorch .pt, and JSON, chosen by the
 * file's first bytes (JSON and .pt are recognised by content, not by name, so a misnamed file still loads).
 */
import { RnnError } from '../errors.js';
import { type Tensor, tensor } from '../tensor.js';
import { readBytes, writeFileAtomic } from './files.js';
import { readJsonTensors, writeJsonTensors } from './json-tensors.js';
import { readSafetensors, toFloat, toIntegers, writeSafetensors } from './safetensors.js';

/** A named tensor from a file: floating point as a Tensor, integers (e.g. `lengths`) as plain numbers. */
export type FileTensor = { kind: 'float'; tensor: Tensor } | { kind: 'int'; shape: number[]; values: number[] };

export type TensorFormat = 'safetensors' | 'pt' | 'json';

/**
 * The file's format, from its bytes: safetensors when its first 8 bytes are a header length that fits the file
 * and the header opens with `{`; a zip (`PK\x03\x04`) or a bare pickle (`\x80`, PROTO) is a PyTorch .pt;
 * text opening with `{` is JSON. Anything else is left to the safetensors reader to explain.
 */
export function detectFormat(bytes: Uint8Array): TensorFormat {
  if (bytes.length >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b) return 'safetensors';
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return 'pt';
  if (bytes[0] === 0x80) return 'pt';
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  if (bytes[i] === 0x7b) return 'json';
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
  const format = detectFormat(bytes);
  const out = new Map<string, FileTensor>();
  if (format === 'json') {
    for (const [name, { shape, values }] of readJsonTensors(new TextDecoder().decode(bytes))) {
      out.set(name, { kind: 'float', tensor: tensor(values, shape, 'float64') });
    }
    return out;
  }
  if (format === 'pt') {
    throw new RnnError('unsupported', `${path} is a PyTorch .pt file; this build reads safetensors and JSON`, {
      hint: 'convert it in Python: safetensors.torch.save_file(torch.load(path), "weights.safetensors")',
    });
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

/** Writes named tensors atomically (temp file, then rename): `.json` by extension, safetensors otherwise. */
export async function writeTensorFile(path: string, tensors: Record<string, Tensor>): Promise<void> {
  const body = /\.json$/i.test(path) ? writeJsonTensors(tensors) : writeSafetensors(tensors);
  await writeFileAtomic(path, body);
}
