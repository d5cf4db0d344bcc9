/**
 * Time and memory bounds on hostile inputs, full size (issue 15; the unit tests in test/hostile-inputs.test.ts
 * run the same cases small). Each case writes its input into a scratch folder and runs the built command as a
 * child process, under a 4 GiB address-space cap (`ulimit -v`, as the issue measured), and checks:
 *
 * - the exit status (1, or 0 for a case the command must accept), and one error line (plus a hint);
 * - the message's length, and that nothing was written (the folder's listing is unchanged, a FIFO stays one);
 * - the wall time and the child's peak resident memory, each against the case's bound.
 *
 *   npm run build && node --import tsx scripts/hostile-bounds.ts [case ...]
 *
 * Prints one row per case and exits 1 if any case broke a bound. Needs about 1 GiB of free disk for the
 * largest inputs (a 520 MiB JSON file, a 200 MB one), deleted at the end. Not a unit test: the timings are
 * this machine's, and a loaded machine can miss a bound by a little.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, lstatSync, mkdtempSync, openSync, readdirSync, rmSync, symlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordOf } from '../src/io/record.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { RNN } from '../src/rnn/rnn.js';
import { randn, zeros } from '../src/tensor.js';
import { checkpointBytes } from '../src/train/checkpoint.js';
import { defaultConfig, Trainer } from '../src/train/loop.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../test/fixtures/pt/', import.meta.url));
const ROUND3 = fileURLToPath(new URL('../test/fixtures/round3/', import.meta.url));
/** The address-space cap the issue's measurements used, in KiB for `ulimit -v`. */
const CAP_KIB = 4 * 2 ** 20;
/** Reports the child's peak resident memory (KiB) on fd 3 as it exits. */
const PEAK_HOOK = `data:text/javascript,${encodeURIComponent(
  "import { writeSync } from 'node:fs'; process.on('exit', () => { try { writeSync(3, String(process.resourceUsage().maxRSS)); } catch {} });",
)}`;

interface Case {
  name: string;
  /** Writes the inputs into `dir`; returns the command's arguments. */
  setup(dir: string): string[];
  /** 1 and a pattern the error line must match, or 0 for an input the command must accept. */
  status: 0 | 1;
  message?: RegExp;
  seconds: number;
  peakMiB: number;
}

/** A file written in pieces, so that a 520 MiB input never sits in this process's memory whole. */
function writePieces(path: string, pieces: Iterable<string | Uint8Array>): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of pieces) writeSync(fd, typeof p === 'string' ? Buffer.from(p) : p);
  } finally {
    closeSync(fd);
  }
}

function* repeat(piece: string, bytes: number): Generator<string> {
  const chunk = piece.repeat(Math.max(1, Math.floor(2 ** 20 / piece.length)));
  let left = bytes;
  while (left >= chunk.length) {
    yield chunk;
    left -= chunk.length;
  }
  yield piece.repeat(Math.ceil(left / piece.length)).slice(0, left);
}

/** A safetensors file from a header written piece by piece (a million entries would not fit one string well). */
function safetensorsFile(path: string, headerPieces: string[], data = new Uint8Array(0)): void {
  const json = Buffer.from(headerPieces.join(''));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  writePieces(path, [length, json, data]);
}

const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 1 }).eval();
const weightsOf = (dir: string) => {
  const path = join(dir, 'weights.safetensors');
  writePieces(path, [writeSafetensors(rnn.stateDict())]);
  return path;
};
const inputOf = (dir: string) => {
  const path = join(dir, 'x.safetensors');
  writePieces(path, [writeSafetensors({ input: randn([4, 3, 2], { generator: 2 }) })]);
  return path;
};
const out = (dir: string) => join(dir, 'y.safetensors');
const PROTO = /Unexpected key\(s\) in state_dict: "__proto__"\.$/;
const withProto = () => recordOf([...Object.entries(rnn.stateDict()), ['__proto__', zeros([2])] as const]);

const CASES: Case[] = [
  {
    name: '__proto__ key in a .pt file (PyTorch-written)',
    setup: (dir) => {
      const x = join(dir, 'x3.safetensors');
      writePieces(x, [writeSafetensors({ input: randn([2, 1, 3]) })]);
      return ['run', '--weights', join(FIXTURES, 'proto.pt'), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: PROTO,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: '__proto__ key in a safetensors file',
    setup: (dir) => {
      const w = join(dir, 'proto.safetensors');
      writePieces(w, [writeSafetensors(withProto())]);
      return ['run', '--weights', w, '--input', inputOf(dir), '--out', out(dir)];
    },
    status: 1,
    message: PROTO,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: '__proto__ key in a JSON weights file',
    setup: (dir) => {
      const w = join(dir, 'proto.json');
      const entries = Object.entries(withProto()).map(
        ([k, t]) => `${JSON.stringify(k)}: ${JSON.stringify(t.tolist())}`,
      );
      writePieces(w, [`{${entries.join(', ')}}`]);
      return ['run', '--weights', w, '--input', inputOf(dir), '--out', out(dir)];
    },
    status: 1,
    message: PROTO,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'safetensors shape of 300,000 dimensions',
    setup: (dir) => {
      const w = join(dir, 'rank.safetensors');
      const shape = new Array(300_000).fill(1);
      safetensorsFile(
        w,
        [JSON.stringify({ weight_ih_l0: { dtype: 'F32', shape, data_offsets: [0, 4] } })],
        new Uint8Array(4),
      );
      return ['inspect', w];
    },
    status: 1,
    message: /shape has more than 64 dimensions$/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'safetensors header of 1,000,000 empty tensors, as the input',
    setup: (dir) => {
      const x = join(dir, 'many.safetensors');
      const pieces = ['{'];
      for (let i = 0; i < 1_000_000; i++) {
        pieces.push(`${i ? ',' : ''}"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`);
      }
      pieces.push('}');
      safetensorsFile(x, pieces);
      return ['run', '--weights', weightsOf(dir), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: /names more than 100000 tensors/,
    seconds: 3,
    peakMiB: 300,
  },
  {
    name: 'safetensors header nested 10,000,000 deep',
    setup: (dir) => {
      const w = join(dir, 'deep.safetensors');
      safetensorsFile(w, ['{"w":', '['.repeat(10_000_000), ']'.repeat(10_000_000), '}']);
      return ['inspect', w];
    },
    status: 1,
    message: /nested more than 8 levels deep/,
    seconds: 3,
    peakMiB: 300,
  },
  {
    name: 'safetensors tensor name of 50,000,000 characters',
    setup: (dir) => {
      const x = join(dir, 'long-name.safetensors');
      const header = `{"${'n'.repeat(50_000_000)}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`;
      safetensorsFile(x, [header], new Uint8Array(4));
      return ['run', '--weights', weightsOf(dir), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: /unexpected tensor\(s\) in .*: 'n{60}\.\.\.' \(50000000 characters\)$/,
    seconds: 5,
    peakMiB: 600,
  },
  {
    name: 'JSON input of 520 MiB (over the 512 MiB string limit)',
    setup: (dir) => {
      const x = join(dir, 'huge.json');
      writePieces(x, ['{"input": [0', ...repeat(' ', 520 * 2 ** 20), ']}']);
      return ['run', '--weights', weightsOf(dir), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: /JSON tensors are limited to 16 MiB/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'JSON input of 200 MB of zeros',
    setup: (dir) => {
      const x = join(dir, 'zeros.json');
      writePieces(x, ['{"input": [[[0', ...repeat(',0', 200_000_000), ']]]}']);
      return ['run', '--weights', weightsOf(dir), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: /JSON tensors are limited to 16 MiB/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'JSON file of 16 MiB of zeros, at the limit: accepted (convert)',
    setup: (dir) => {
      const x = join(dir, 'limit.json');
      const head = '{"w": [[0';
      writePieces(x, [head, ...repeat(',0', 16 * 2 ** 20 - head.length - 3), ']]}']);
      return ['convert', x, join(dir, 'limit.safetensors')];
    },
    status: 0,
    seconds: 10,
    peakMiB: 1200,
  },
  {
    name: '--out naming a FIFO',
    setup: (dir) => {
      const fifo = join(dir, 'pipe.safetensors');
      spawnSync('mkfifo', [fifo]);
      return ['run', '--weights', weightsOf(dir), '--input', inputOf(dir), '--out', fifo];
    },
    status: 1,
    message: /it is a named pipe \(FIFO\), not a regular file$/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    // A private device node (root only; the case fails without it), never /dev/stdout itself: were the check
    // broken, the rename would replace what --out names.
    name: '--out through a link to a character device (a private copy of /dev/null)',
    setup: (dir) => {
      const device = join(dir, 'null');
      spawnSync('mknod', ['-m', '666', device, 'c', '1', '3']);
      const link = join(dir, 'device.safetensors');
      symlinkSync(device, link);
      return ['run', '--weights', weightsOf(dir), '--input', inputOf(dir), '--out', link];
    },
    status: 1,
    message: /it is a character device, not a regular file$/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'sample with checkpoint metadata num_layers 100000000',
    setup: (dir) => {
      const trainer = new Trainer({ ...defaultConfig('chars'), hidden: 4, steps: 1 });
      const { tensors, metadata } = readSafetensors(checkpointBytes(trainer.model));
      const ckpt = join(dir, 'layers.safetensors');
      writePieces(ckpt, [writeSafetensors(Object.fromEntries(tensors), { ...metadata, num_layers: '100000000' })]);
      return ['sample', '--checkpoint', ckpt];
    },
    status: 1,
    message: /'num_layers' is 100000000 but the tensors hold 2$/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    // issue 25, item 9: 1.6 KB describing two 1.8 GiB weights (5.7 GB of memory before it was refused)
    name: 'a .pt of torch.expand views: an LSTM of 44000 x 11000 weights',
    setup: (dir) => {
      const x = join(dir, 'x3.json');
      writePieces(x, [JSON.stringify({ input: [[[1, 2, 3]]] })]);
      return ['run', '--weights', join(ROUND3, 'expanded-lstm.pt'), '--input', x, '--out', out(dir)];
    },
    status: 1,
    message: /the limit for such views is 16\.0 MiB$/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    // issue 25, item 11: every flag within its range, about 87 GiB by arithmetic
    name: 'train --cell lstm --hidden 1024 --layers 16 --batch 1024 --seq-len 200',
    setup: (dir) => [
      'train',
      ...['--cell', 'lstm', '--hidden', '1024', '--layers', '16', '--batch', '1024', '--seq-len', '200'],
      ...['--out', join(dir, 'run')],
    ],
    status: 1,
    message: /of memory; this machine has/,
    seconds: 3,
    peakMiB: 200,
  },
  {
    name: 'weights of 10 MB of random bytes',
    setup: (dir) => {
      const w = join(dir, 'random.bin');
      const bytes = new Uint8Array(10_000_000);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
      writePieces(w, [bytes]);
      return ['run', '--weights', w, '--input', inputOf(dir), '--out', out(dir)];
    },
    status: 1,
    message: /neither a PyTorch \.pt file nor a safetensors file/,
    seconds: 3,
    peakMiB: 200,
  },
];

/** What a folder entry is: a FIFO must stay a FIFO, a link a link. */
function kindOf(path: string): string {
  const s = lstatSync(path);
  if (s.isSymbolicLink()) return 'link';
  if (s.isFIFO()) return 'fifo';
  if (s.isCharacterDevice()) return 'device';
  return s.isFile() ? 'file' : 'other';
}

interface Result {
  ok: boolean;
  problems: string[];
  status: number | null;
  seconds: number;
  peakMiB: number;
  message: string;
}

function run(c: Case): Result {
  const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-bounds-'));
  try {
    const args = c.setup(dir);
    const kinds = () =>
      readdirSync(dir)
        .sort()
        .map((f) => `${f} ${kindOf(join(dir, f))}`);
    const before = kinds();
    const command = `ulimit -v ${CAP_KIB} && exec "$0" "$@"`;
    const started = performance.now();
    const r = spawnSync('sh', ['-c', command, process.execPath, '--import', PEAK_HOOK, CLI, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      timeout: 120_000,
      maxBuffer: 64 * 2 ** 20,
    });
    const seconds = (performance.now() - started) / 1000;
    const peakMiB = Number(r.output[3] ?? 0) / 1024;
    const stderr = r.stderr ?? '';
    const lines = stderr.trimEnd().split('\n');
    const problems: string[] = [];
    if (r.status !== c.status) problems.push(`exit ${r.status} (signal ${r.signal}), expected ${c.status}`);
    if (c.status === 1) {
      if (!/^stacked-rnn: error: /.test(lines[0] ?? '')) problems.push('no error line');
      if (c.message && !c.message.test(lines[0] ?? '')) problems.push(`message does not match ${c.message}`);
      if (!(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('hint: ')))) {
        problems.push(`${lines.length} lines of stderr`);
      }
      if (stderr.length > 2500) problems.push(`${stderr.length} characters of stderr`);
      // Nothing new, and every pipe, device and link still what it was.
      if (kinds().join('\n') !== before.join('\n')) problems.push('something was written or replaced');
    }
    if (seconds > c.seconds) problems.push(`took ${seconds.toFixed(1)} s, bound ${c.seconds} s`);
    if (!(peakMiB > 0)) problems.push('no peak memory reported');
    if (peakMiB > c.peakMiB) problems.push(`peak ${peakMiB.toFixed(0)} MiB, bound ${c.peakMiB} MiB`);
    return { ok: problems.length === 0, problems, status: r.status, seconds, peakMiB, message: lines[0] ?? '' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const only = process.argv.slice(2);
  const cases = only.length === 0 ? CASES : CASES.filter((c) => only.some((o) => c.name.includes(o)));
  let failed = 0;
  console.log(`stacked-rnn hostile inputs, under ulimit -v ${CAP_KIB / 2 ** 20} GiB (${CLI})`);
  for (const c of cases) {
    const r = run(c);
    if (!r.ok) failed++;
    const cut = r.message.length > 110 ? `${r.message.slice(0, 110)}...` : r.message;
    console.log(
      `${r.ok ? 'ok  ' : 'FAIL'} ${c.name}\n     exit ${r.status}, ${r.seconds.toFixed(2)} s (bound ${c.seconds}), ` +
        `peak ${r.peakMiB.toFixed(0)} MiB (bound ${c.peakMiB})${cut ? `\n     ${cut}` : ''}` +
        (r.ok ? '' : `\n     ${r.problems.join('; ')}`),
    );
  }
  console.log(
    failed === 0 ? `all ${cases.length} cases within their bounds` : `${failed} of ${cases.length} cases failed`,
  );
  process.exitCode = failed === 0 ? 0 : 1;
}

main();
