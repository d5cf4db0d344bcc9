/**
 * Fuzzing the file readers: mutated .pt files, safetensors files (bytes, and headers built to be expensive:
 * long shapes, many entries, deep nesting, names like '__proto__'), JSON tensor files, weights files taken all
 * the way to an RNN as `stacked-rnn run` takes them, and training checkpoints with lying metadata must each
 * either load or throw RnnError with a message of readable length; never another exception, never a hang,
 * never unbounded memory.
 *
 *   node --import tsx scripts/fuzz-long.ts [iterations per target] [seed]
 *
 * test/pt-fuzz.test.ts runs the same properties (imported from here) for a few hundred inputs; this script
 * runs many more and reports what happened: how many inputs loaded, how many were refused with which error
 * code, and the slowest single read. The time and memory of single large hostile inputs are measured by
 * scripts/hostile-bounds.ts.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { RnnError } from '../src/errors.js';
import { readJsonTensors } from '../src/io/json-tensors.js';
import { parseTensorFile } from '../src/io/load.js';
import { readPt, readPtObject, writePtStateDict } from '../src/io/pt/index.js';
import { Budget } from '../src/io/pt/limits.js';
import { listEntries, readEntry } from '../src/io/pt/zip.js';
import { writeStoredZip } from '../src/io/pt/zip-write.js';
import { setEntry } from '../src/io/record.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { rnnFromStateDict } from '../src/io/state-dict.js';
import { type Tensor, tensor } from '../src/tensor.js';
import { checkpointBytes, loadCheckpoint } from '../src/train/checkpoint.js';
import { defaultConfig, Trainer } from '../src/train/loop.js';

const ROOT = new URL('../', import.meta.url);
/** Small limits, so that whatever a mutation claims, one read stays within a few tens of MiB. */
const LIMITS = { maxBytes: 16 * 2 ** 20, maxDepth: 64, maxItems: 100_000 };

export interface FuzzTarget {
  name: string;
  seeds: Uint8Array[];
  /** Reads one input; throws whatever the reader throws. */
  read(bytes: Uint8Array): void;
  /** Extra mutations that understand the format (e.g. re-zipping a mutated pickle with a valid CRC). */
  structured?: fc.Arbitrary<Uint8Array>;
}

export type Outcome = 'loaded' | `refused:${string}`;

/** The longest error message accepted: a message must stay readable whatever the file names. */
export const MAX_MESSAGE_CHARS = 2000;

/**
 * Runs `target.read`; an RnnError with a message of readable length is an acceptable refusal, anything else is
 * rethrown as a finding.
 */
export function attempt(target: FuzzTarget, bytes: Uint8Array): Outcome {
  try {
    target.read(bytes);
    return 'loaded';
  } catch (err) {
    if (!(err instanceof RnnError)) throw err;
    if (err.message.length > MAX_MESSAGE_CHARS) {
      throw new Error(`a ${err.message.length}-character message: ${err.message.slice(0, 200)}...`);
    }
    return `refused:${err.code}`;
  }
}

function fixtures(folder: string, ext: string): Uint8Array[] {
  const dir = new URL(folder, ROOT);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(ext))
    .sort()
    .map((f) => new Uint8Array(readFileSync(new URL(f, dir))));
}

/** Positions of central-directory records (signature PK\1\2), for size lies. */
function centralRecords(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: number[] = [];
  for (let p = 0; p + 46 <= bytes.length; p++) if (view.getUint32(p, true) === 0x02014b50) out.push(p);
  return out;
}

const u32Value = fc.oneof(fc.constantFrom(0, 1, 2, 63, 64, 0xffff, 0x7fffffff, 0xfffffffe, 0xffffffff), fc.nat());

/** Byte-level mutations of one seed: flips, truncation, splices and (for zips) lies in the size fields. */
export function mutations(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  // Half the positions land in the first 2 KiB, where headers and pickles are.
  const position = fc.oneof(fc.nat(2047), fc.nat());
  const flips = fc.tuple(
    seed,
    fc.array(fc.tuple(position, fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }),
  );
  const truncate = fc.tuple(seed, fc.nat());
  const splice = fc.tuple(seed, position, fc.nat(64), fc.uint8Array({ maxLength: 64 }));
  // Central record fields: compressed size (20), size (24), name/extra/comment lengths (28..32), offset (42).
  const lie = fc.tuple(seed, fc.nat(), fc.constantFrom(20, 24, 28, 30, 42, 10), u32Value);
  return fc.oneof(
    flips.map(([s, fs]) => {
      const out = s.slice();
      for (const [p, x] of fs) if (out.length > 0) out[p % out.length]! ^= x;
      return out;
    }),
    truncate.map(([s, n]) => s.slice(0, n % (s.length + 1))),
    splice.map(([s, p, cut, insert]) => {
      const at = p % (s.length + 1);
      const out = new Uint8Array(s.length - Math.min(cut, s.length - at) + insert.length);
      out.set(s.subarray(0, at));
      out.set(insert, at);
      out.set(s.subarray(Math.min(s.length, at + cut)), at + insert.length);
      return out;
    }),
    lie.map(([s, which, field, value]) => {
      const records = centralRecords(s);
      const out = s.slice();
      if (records.length === 0) return out;
      const p = records[which % records.length]! + field;
      const view = new DataView(out.buffer);
      if (field === 28 || field === 30 || field === 10) view.setUint16(p, value & 0xffff, true);
      else view.setUint32(p, value >>> 0, true);
      return out;
    }),
  );
}

/** Opcodes worth splicing into a pickle: containers, memo, marks, globals, persistent ids, STOP. */
const OPCODES = [0x28, 0x29, 0x2e, 0x30, 0x31, 0x32, 0x5d, 0x61, 0x62, 0x63, 0x65, 0x68, 0x71, 0x73, 0x74, 0x75, 0x7d];
const OPCODES_MORE = [0x4b, 0x4a, 0x51, 0x52, 0x58, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x93, 0x94, 0x95];

/** Mutates data.pkl inside a .pt seed and re-zips it with valid CRCs, so the unpickler sees the damage. */
function pickleMutations(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const members = seeds.flatMap((s) => {
    try {
      const budget = new Budget(2 ** 30);
      return [listEntries(s).map((e) => ({ name: e.name, data: readEntry(s, e, budget, false) }))];
    } catch {
      return []; // not a zip (legacy): nothing to re-zip
    }
  });
  const opcode = fc.oneof(fc.constantFrom(...OPCODES, ...OPCODES_MORE), fc.nat(255));
  const edit = fc.tuple(fc.nat(), fc.oneof(fc.constant('flip'), fc.constant('insert'), fc.constant('delete')), opcode);
  return fc
    .tuple(fc.constantFrom(...members), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.nat())
    .map(([entries, edits, cut]) => {
      const pkl = entries.find((e) => e.name.endsWith('/data.pkl'));
      if (pkl === undefined) return writeStoredZip(entries);
      let bytes = Array.from(pkl.data);
      for (const [p, kind, op] of edits) {
        const at = p % (bytes.length + 1);
        if (kind === 'flip' && at < bytes.length) bytes[at] = op;
        else if (kind === 'insert') bytes.splice(at, 0, op);
        else bytes.splice(at, 1);
      }
      if (cut % 4 === 0) bytes = bytes.slice(0, cut % (bytes.length + 1));
      return writeStoredZip(entries.map((e) => (e === pkl ? { name: e.name, data: Uint8Array.from(bytes) } : e)));
    });
}

export function ptTarget(): FuzzTarget {
  const seeds = fixtures('test/fixtures/pt/', '.pt');
  seeds.push(
    writePtStateDict({
      w: tensor([
        [1, 2],
        [3, 4],
      ]),
      b: tensor([0.5, -0.5], undefined, 'float64'),
    }),
  );
  return {
    name: '.pt',
    seeds,
    read(bytes) {
      // Both readers, the object one without CRC checks so that damage reaches the unpickler and tensors.
      let refusal: RnnError | undefined;
      for (const run of [
        () => readPtObject(bytes, { limits: LIMITS, verifyCrc: false }),
        () => readPt(bytes, { limits: LIMITS }),
      ]) {
        try {
          run();
        } catch (err) {
          if (!(err instanceof RnnError)) throw err;
          refusal ??= err;
        }
      }
      if (refusal !== undefined) throw refusal;
    },
    structured: pickleMutations(seeds),
  };
}

/** A safetensors file from header text and `data` bytes. */
function safetensorsBytes(header: string, data = 0): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** Names a hostile file might use: object internals, the reserved metadata key, long and odd strings. */
const name = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', '__metadata__', 'weight_ih_l0', 'rnn.weight_ih_l0', ''),
  fc.string({ maxLength: 12 }),
  fc.nat(5000).map((n) => 'x'.repeat(n)),
);

/**
 * Headers built to be expensive or confusing: long shapes, deep nesting, odd names, and with `full`, headers of
 * about MAX_TENSORS entries (a second each, so only in the long run).
 */
function hostileHeaders(full: boolean): fc.Arbitrary<Uint8Array> {
  const entry = fc.record({
    dtype: fc.constantFrom('F32', 'F64', 'I64', 'F16', 'Q4'),
    shape: fc.oneof(
      fc.array(fc.nat(4), { maxLength: 4 }),
      fc.nat(200).map((n) => new Array(n).fill(1)),
    ),
    data_offsets: fc.constantFrom([0, 0], [0, 4], [0, 8]),
  });
  const many = fc.tuple(fc.integer({ min: 99_990, max: 100_010 }), fc.boolean()).map(([n, meta]) => {
    const parts = Array.from({ length: n }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
    if (meta) parts.push('"__metadata__":{"a":"b"}');
    return safetensorsBytes(`{${parts.join(',')}}`);
  });
  const deep = fc.nat(100_000).map((n) => safetensorsBytes(`{"w":${'['.repeat(n)}${']'.repeat(n)}}`));
  const named = fc
    .array(fc.tuple(name, entry), { maxLength: 6 })
    .map((entries) =>
      safetensorsBytes(`{${entries.map(([k, e]) => `${JSON.stringify(k)}:${JSON.stringify(e)}`).join(',')}}`, 8),
    );
  return full
    ? fc.oneof({ arbitrary: named, weight: 16 }, { arbitrary: deep, weight: 2 }, { arbitrary: many, weight: 1 })
    : fc.oneof({ arbitrary: named, weight: 8 }, { arbitrary: deep, weight: 1 });
}

export function safetensorsTarget(full = false): FuzzTarget {
  const header = JSON.stringify({
    __metadata__: { format: 'pt' },
    w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] },
    h: { dtype: 'F16', shape: [2], data_offsets: [16, 20] },
    n: { dtype: 'I64', shape: [1], data_offsets: [20, 28] },
  });
  const made = safetensorsBytes(header, 28);
  return {
    name: 'safetensors',
    seeds: [...fixtures('test/fixtures/safetensors/', '.safetensors'), made],
    read: (b) => readSafetensors(b),
    structured: hostileHeaders(full),
  };
}

/** JSON tensor files: byte mutations of small valid ones, and documents with odd names and nesting. */
export function jsonTarget(): FuzzTarget {
  const text = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const seeds = [
    text({ input: [[[0.5, -1]], [[2, 3]]], h0: [[[0, 0, 0]]], lengths: [2] }),
    text({ weight_ih_l0: [[1, 2]], bias: [0.5], scalar: 3 }),
    new TextEncoder().encode('{"__proto__": [1, 2], "w": [[1e308, -0]]}'),
  ];
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      fc.double(),
      fc.constant(null),
      fc.string(),
      fc.array(tie('v'), { maxLength: 4 }),
    ),
  })).v;
  const structured = fc
    .array(fc.tuple(name, value), { maxLength: 4 })
    .map((entries) =>
      new TextEncoder().encode(
        `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`,
      ),
    );
  return { name: 'JSON tensors', seeds, read: (b) => readJsonTensors(new TextDecoder().decode(b)), structured };
}

/**
 * A weights file taken all the way to an RNN, as `stacked-rnn run` takes it: the file's state dict (a .pt
 * checkpoint's found by its key), the RNN's prefix, its architecture, the module.
 */
export function weightsTarget(): FuzzTarget {
  const seeds = [
    ...['rnn.pt', 'prefixed.pt', 'lightning.pt', 'proto.pt', 'two-rnns.pt', 'checkpoint.pt'].map(
      (f) => new Uint8Array(readFileSync(new URL(`test/fixtures/pt/${f}`, ROOT))),
    ),
    writeSafetensors({ 'rnn.weight_ih_l0': tensor([[1, 2]]), 'rnn.weight_hh_l0': tensor([[0.5]]) }),
    new TextEncoder().encode('{"weight_ih_l0": [[1, 2]], "weight_hh_l0": [[0.5]], "__proto__": [1]}'),
  ];
  return {
    name: 'weights to an RNN',
    seeds,
    read(bytes) {
      const sd: Record<string, Tensor> = {};
      for (const [k, t] of parseTensorFile(bytes, 'weights').tensors) if (t.kind === 'float') setEntry(sd, k, t.tensor);
      rnnFromStateDict(sd, { backend: 'reference' });
    },
  };
}

/** Training checkpoints whose metadata lies (num_layers 100000000, sizes, booleans, vocabularies). */
export function checkpointTarget(): FuzzTarget {
  const sine = checkpointBytes(new Trainer({ ...defaultConfig('sine'), hidden: 3, layers: 2, steps: 1 }).model);
  const chars = checkpointBytes(new Trainer({ ...defaultConfig('chars'), hidden: 3, layers: 1, steps: 1 }).model);
  const keys = [
    'num_layers',
    'hidden_size',
    'input_size',
    'output_size',
    'bidirectional',
    'bias',
    'vocab',
    'task',
    'dtype',
  ];
  const lie = fc.oneof(
    fc.constantFrom('100000000', '0', '2', '3', '1e9', '99999999999999999999', 'true', 'false', '[]', '["a"]', ''),
    fc.string({ maxLength: 8 }),
  );
  const structured = fc
    .tuple(
      fc.constantFrom(sine, chars),
      fc.array(fc.tuple(fc.constantFrom(...keys), lie), { minLength: 1, maxLength: 3 }),
    )
    .map(([bytes, changes]) => {
      const { tensors, metadata } = readSafetensors(bytes);
      return writeSafetensors(Object.fromEntries(tensors), { ...metadata, ...Object.fromEntries(changes) });
    });
  return {
    name: 'checkpoints',
    seeds: [sine, chars],
    read: (b) => loadCheckpoint(b, { backend: 'reference' }),
    structured,
  };
}

/** Every target; `full` adds the inputs too slow for the unit test's few hundred runs. */
export async function targets(full = false): Promise<FuzzTarget[]> {
  return [ptTarget(), safetensorsTarget(full), jsonTarget(), weightsTarget(), checkpointTarget()];
}

/** The arbitrary of inputs for a target: byte mutations, plus its structured ones. */
export function inputs(target: FuzzTarget): fc.Arbitrary<Uint8Array> {
  const bytes = mutations(target.seeds);
  return target.structured === undefined ? bytes : fc.oneof(bytes, target.structured);
}

async function main(): Promise<void> {
  const iterations = Number(process.argv[2] ?? 20_000);
  const seed = process.argv[3] === undefined ? Date.now() % 2 ** 31 : Number(process.argv[3]);
  for (const target of await targets(true)) {
    const counts = new Map<Outcome, number>();
    let slowest = 0;
    const started = performance.now();
    fc.assert(
      fc.property(inputs(target), (bytes) => {
        const t0 = performance.now();
        const outcome = attempt(target, bytes);
        slowest = Math.max(slowest, performance.now() - t0);
        counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
      }),
      { numRuns: iterations, seed },
    );
    const seconds = (performance.now() - started) / 1000;
    const summary = [...counts].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${o} ${n}`);
    console.log(
      `${target.name}: ${iterations} inputs (seed ${seed}) in ${seconds.toFixed(1)} s, slowest ${slowest.toFixed(1)} ms: ${summary.join(', ')}`,
    );
  }
  console.log('no finding: every input loaded or threw RnnError');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
