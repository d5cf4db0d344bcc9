/**
 * Reading and writing named tensors from files (Node only): safetensors, PyTorch .pt, and JSON. Reading goes by
 * the file's first bytes, so a misnamed file still loads; writing goes by the extension, and an extension that
 * names no format is refused before anything is computed.
 */
import { RnnError } from '../errors.js';
import { Tensor, tensor } from '../tensor.js';
import { DETECT_BYTES, detectFormat, notATensorFile, type TensorFormat } from './detect.js';
import { checkOutputPath, DEFAULT_MAX_BYTES, readBytes, readHead, writeFileAtomic } from './files.js';
import { jsonTooLarge, MAX_JSON_BYTES, readJsonTensors, writeJsonTensors } from './json-tensors.js';
import { IntTensor, type PtStateDictSource, readPtSelection, writePtStateDict } from './pt/index.js';
import { recordOf, setEntry } from './record.js';
import { readSafetensors, toFloat, toIntegers, writeSafetensors } from './safetensors.js';

export { detectFormat, type TensorFormat } from './detect.js';

/** A named tensor from a file: floating point as a Tensor, integers (e.g. `lengths`) as plain numbers. */
export type FileTensor =
  | {
      kind: 'float';
      tensor: Tensor /** the file's dtype: float16 and bfloat16 are read as float32 */;
      fileDtype?: string;
    }
  | { kind: 'int'; shape: number[]; values: number[] };

/** The tensors of a file, and for a .pt checkpoint where in it the state dict was found. */
export interface TensorFile {
  format: TensorFormat;
  tensors: Map<string, FileTensor>;
  /** For .pt files: the key of the state dict inside a checkpoint (see readPtSelection); absent otherwise. */
  source?: PtStateDictSource;
}

/**
 * Every tensor in a file, by name. `key` selects a nested state dict in a .pt checkpoint (found on its own when
 * there is one, or one at a common key). JSON files over MAX_JSON_BYTES are refused before they are read.
 */
export async function readTensorFile(path: string, options: { key?: string } = {}): Promise<TensorFile> {
  try {
    return await readAndParse(path, options);
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

async function readAndParse(path: string, options: { key?: string }): Promise<TensorFile> {
  // A regular file is judged by its first bytes before it is read, so an oversized JSON file costs nothing.
  const { head, size, regular } = await readHead(path, DETECT_BYTES);
  const json = regular && detectFormat(head, path) === 'json';
  if (json && size > MAX_JSON_BYTES) throw jsonTooLarge(size);
  const bytes = await readBytes(path, { maxBytes: json ? MAX_JSON_BYTES : DEFAULT_MAX_BYTES }).catch((err: unknown) => {
    // A JSON file that grew past the limit while being read.
    if (json && err instanceof RnnError && err.code === 'io' && /File too large/.test(err.message)) {
      throw jsonTooLarge(MAX_JSON_BYTES + 1);
    }
    throw err;
  });
  return parseTensorFile(bytes, path, options);
}

/** The tensors in a file's bytes; `path` only helps tell JSON (and is not read). Throws RnnError. */
export function parseTensorFile(bytes: Uint8Array, path: string, options: { key?: string } = {}): TensorFile {
  const format = detectFormat(bytes, path);
  const tensors = new Map<string, FileTensor>();
  if (format === 'unknown') throw notATensorFile(bytes, bytes.length);
  if (options.key !== undefined && format !== 'pt') {
    throw new RnnError(
      'invalid_argument',
      `a key selects a nested state dict in a .pt checkpoint; this is a ${format} file`,
      {
        data: { option: 'key', candidates: [] },
      },
    );
  }
  if (format === 'json') {
    if (bytes.length > MAX_JSON_BYTES) throw jsonTooLarge(bytes.length);
    const text = new TextDecoder().decode(bytes);
    for (const [name, { shape, values }] of readJsonTensors(text)) {
      tensors.set(name, { kind: 'float', tensor: tensor(values, shape, 'float64') });
    }
    return { format, tensors };
  }
  if (format === 'pt') {
    const {
      tensors: found,
      fileDtypes,
      ...source
    } = readPtSelection(bytes, options.key === undefined ? {} : { key: options.key });
    for (const [name, t] of found) {
      tensors.set(
        name,
        t instanceof IntTensor
          ? { kind: 'int', shape: [...t.shape], values: integersOf(name, t) }
          : { kind: 'float', tensor: t, fileDtype: fileDtypes.get(name) ?? t.dtype },
      );
    }
    return { format, tensors, source };
  }
  for (const [name, raw] of readSafetensors(bytes).tensors) {
    tensors.set(
      name,
      raw.dtype === 'I64' || raw.dtype === 'I32'
        ? { kind: 'int', shape: raw.shape, values: toIntegers(raw) }
        : { kind: 'float', tensor: toFloat(raw), fileDtype: SAFETENSORS_DTYPES[raw.dtype] ?? raw.dtype },
    );
  }
  return { format, tensors };
}

/** safetensors' dtype names as PyTorch's. */
const SAFETENSORS_DTYPES: Record<string, string> = { F32: 'float32', F64: 'float64', F16: 'float16', BF16: 'bfloat16' };

function integersOf(name: string, t: IntTensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n)) {
      throw new RnnError('unsupported', `${name} holds ${v}, beyond the integers a JavaScript number holds exactly`);
    }
    return n;
  });
}

/** A weights file: its float tensors as a state dict, and what else it held. */
export interface StateDictFile {
  /** The floating-point tensors, by name; every name is an entry (`__proto__` included). */
  stateDict: Record<string, Tensor>;
  /** Integer tensors (buffers such as BatchNorm's num_batches_tracked): not weights, left out of `stateDict`. */
  integers: string[];
  /** For .pt files: where the state dict was found in a checkpoint. */
  source?: PtStateDictSource;
  /** Each float tensor's dtype in the file (float16 and bfloat16 are read as float32). */
  fileDtypes: Record<string, string>;
}

/** The floating-point tensors of a weights file (a state dict), by name, and the names of its integer ones. */
export async function readStateDictFile(path: string, options: { key?: string } = {}): Promise<StateDictFile> {
  const file = await readTensorFile(path, options);
  const stateDict: Record<string, Tensor> = {};
  const integers: string[] = [];
  const fileDtypes: Record<string, string> = {};
  for (const [name, t] of file.tensors) {
    if (t.kind === 'float') {
      setEntry(stateDict, name, t.tensor);
      setEntry(fileDtypes, name, t.fileDtype ?? t.tensor.dtype);
    } else integers.push(name);
  }
  return { stateDict, integers, fileDtypes, ...(file.source ? { source: file.source } : {}) };
}

/** What a tensor file can hold: float tensors, and integer tensors as plain values (e.g. `lengths`). */
export type WritableFileTensor = Tensor | { kind: 'int'; shape: number[]; values: number[] };

export type OutputFormat = 'safetensors' | 'pt' | 'json';

/** The format an output path's extension names: `.safetensors`, `.pt`/`.pth` or `.json`; anything else is refused. */
export function outputFormat(path: string): OutputFormat {
  if (/\.json$/i.test(path)) return 'json';
  if (/\.(pt|pth)$/i.test(path)) return 'pt';
  if (/\.safetensors$/i.test(path)) return 'safetensors';
  throw new RnnError(
    'invalid_argument',
    `cannot tell the output format from '${path}': name it .safetensors, .pt or .json`,
    {
      expected: '.safetensors, .pt, .pth or .json',
      got: path,
    },
  );
}

/**
 * Checks an output path before any work: its extension names a format and nothing but a regular file is
 * there (see checkOutputPath). Throws RnnError.
 */
export async function checkOutputFile(path: string): Promise<OutputFormat> {
  const format = outputFormat(path);
  await checkOutputPath(path);
  return format;
}

/** The bytes of a tensor file in the format `path`'s extension names (see outputFormat). */
export function encodeTensorFile(path: string, tensors: Record<string, WritableFileTensor>): Uint8Array | string {
  const entries = Object.entries(tensors);
  switch (outputFormat(path)) {
    case 'json':
      return writeJsonTensors(
        recordOf(entries.map(([k, t]) => [k, t instanceof Tensor ? t : tensor(t.values, t.shape, 'float64')])),
      );
    case 'pt':
      return writePtStateDict(
        recordOf(
          entries.map(([k, t]) => [
            k,
            t instanceof Tensor ? t : new IntTensor(BigInt64Array.from(t.values, BigInt), t.shape),
          ]),
        ),
      );
    case 'safetensors':
      return writeSafetensors(
        recordOf(
          entries.map(([k, t]) => [
            k,
            t instanceof Tensor ? t : { dtype: 'I64' as const, shape: t.shape, data: t.values },
          ]),
        ),
      );
  }
}

/** Writes named tensors atomically (temp file, then rename), in the format the extension names. */
export async function writeTensorFile(path: string, tensors: Record<string, WritableFileTensor>): Promise<void> {
  await writeFileAtomic(path, encodeTensorFile(path, tensors));
}
