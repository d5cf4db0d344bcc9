/**
 * Live parity with real PyTorch through the built CLI: fresh random RNNs, LSTMs and GRUs on every run.
 *
 * Each run draws CASES configurations from a time-based seed (printed; set STACKED_RNN_LIVE_SEED to replay one),
 * has scripts/torch_rnn.py write torch's own randomly initialised weights, the input files and its reference
 * outputs, runs `node dist/cli/main.js run ...` on those files, and compares output and h_n the way
 * test/parity-fixtures.test.ts does. Every option value appears in every run: each is dealt out evenly over the
 * cases and shuffled, so the combinations change from run to run.
 *
 * Needs torch in /usr/bin/python3 (skips with the reason otherwise, fails instead with
 * STACKED_RNN_REQUIRE_TORCH=1) and a built CLI (`npm run build`; `npm test` builds first).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Generator } from '../src/random.js';
import {
  describeCase,
  type FileTensor,
  judge,
  nonzeroPadding,
  pick,
  type RnnConfig,
  readSafetensors,
  Summary,
} from './helpers/compare.js';
import { assertTorch, runTorchRnn, torchSkip } from './helpers/torch.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const CASES = Number(process.env.STACKED_RNN_LIVE_CASES ?? 18);
const SEED = Number(process.env.STACKED_RNN_LIVE_SEED ?? Date.now() % 2 ** 32);

/** What scripts/torch_rnn.py reads from config.json (see its docstring). */
interface LiveConfig extends RnnConfig {
  cell: 'RNN' | 'LSTM' | 'GRU';
  /** An LSTM's proj_size (0: none). */
  projSize: number;
  /** With .pt weights: saved inside a training checkpoint {'model': sd, 'optimizer': ..., 'epoch': 3}. */
  checkpoint: boolean;
  seed: number;
  L: number;
  N: number;
  unbatched: boolean;
  h0: boolean;
  lengths: number[] | null;
  lengthsDtype: 'int64' | 'int32';
  inputFormat: 'safetensors' | 'json';
  prefix: string;
  /** How torch wrote the weights the CLI reads: its safetensors, or torch.save's .pt. */
  weightsFormat: 'safetensors' | 'pt';
  /** Pass `--dtype` (only drawn for float32 .json input, which the CLI otherwise reads and runs as float64). */
  passDtype: boolean;
}

/** The precision the CLI computes and writes in: the input's, and float64 for .json unless --dtype says otherwise. */
function cliDtype(c: LiveConfig): 'float32' | 'float64' {
  return c.inputFormat === 'json' && !c.passDtype ? 'float64' : c.dtype;
}

// ---------------------------------------------------------------------------------------------------------------
// drawing the cases

const g = new Generator(SEED);
const int = (lo: number, hi: number): number => lo + (g.nextUint32() % (hi - lo + 1));

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = int(0, i);
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

/** n values taking each of `values` in turn, shuffled: every value appears when n >= values.length. */
function dealt<T>(values: readonly T[], n: number): T[] {
  return shuffle(Array.from({ length: n }, (_, i) => values[i % values.length] as T));
}

function drawCases(n: number): LiveConfig[] {
  const cells = dealt(['RNN', 'LSTM', 'GRU'] as const, n);
  const checkpoint = dealt([false, true], n);
  const layers = dealt([1, 2, 3, 4], n);
  const bidirectional = dealt([false, true], n);
  const batchFirst = dealt([false, true], n);
  const unbatched = dealt([false, false, true], n);
  const bias = dealt([true, true, false], n);
  const nonlinearity = dealt(['tanh', 'relu'] as const, n);
  const h0 = dealt([false, true], n);
  const dtype = dealt(['float32', 'float64'] as const, n);
  const inputFormat = dealt(['safetensors', 'json'] as const, n);
  const prefix = dealt(['', '', 'rnn.', 'encoder.rnn.'], n);
  const weightsFormat = dealt(['safetensors', 'pt'] as const, n);
  const sameSize = dealt([false, true], n);
  // lengths are dealt over the batched cases only: packed sequences need a batch dimension
  const batched = unbatched.flatMap((u, i) => (u ? [] : [i]));
  const kinds = dealt(['none', 'int64', 'int32'] as const, batched.length);
  const lengthsKind = new Map(batched.map((i, j) => [i, kinds[j]]));
  return Array.from({ length: n }, (_, i) => {
    const H = int(1, 7);
    const L = int(1, 6);
    const N = unbatched[i] ? 1 : int(1, 4);
    const other = int(1, 6); // an input size other than H
    const kind = lengthsKind.get(i) ?? 'none';
    // one sequence at full length half the time, so both "max = L" and "all shorter" occur
    const lengths = kind === 'none' ? null : Array.from({ length: N }, () => int(1, L));
    if (lengths && int(0, 1) === 1) lengths[int(0, N - 1)] = L;
    const cell = cells[i] as 'RNN' | 'LSTM' | 'GRU';
    return {
      cell,
      projSize: cell === 'LSTM' && H > 1 && int(0, 1) === 1 ? int(1, H - 1) : 0,
      checkpoint: weightsFormat[i] === 'pt' && (checkpoint[i] as boolean),
      inputSize: sameSize[i] ? H : other >= H ? other + 1 : other,
      hiddenSize: H,
      numLayers: layers[i] as number,
      nonlinearity: cell === 'RNN' ? (nonlinearity[i] as 'tanh' | 'relu') : 'tanh',
      bias: bias[i] as boolean,
      batchFirst: batchFirst[i] as boolean,
      dropout: 0,
      bidirectional: bidirectional[i] as boolean,
      dtype: dtype[i] as 'float32' | 'float64',
      seed: int(0, 2 ** 31 - 1),
      L,
      N,
      unbatched: unbatched[i] as boolean,
      h0: h0[i] as boolean,
      lengths,
      lengthsDtype: kind === 'int32' ? 'int32' : 'int64',
      inputFormat: inputFormat[i] as 'safetensors' | 'json',
      prefix: prefix[i] as string,
      weightsFormat: weightsFormat[i] as 'safetensors' | 'pt',
      passDtype: inputFormat[i] === 'json' && dtype[i] === 'float32' && int(0, 1) === 1,
    };
  });
}

const cases = drawCases(CASES);

// ---------------------------------------------------------------------------------------------------------------
// running the CLI

/** How one case is handed to the CLI: the prefix left for it to find, or given with --prefix. */
interface Run {
  explicitPrefix: boolean;
}

function runsOf(c: LiveConfig): Run[] {
  return c.prefix ? [{ explicitPrefix: false }, { explicitPrefix: true }] : [{ explicitPrefix: false }];
}

function cliArgs(dir: string, c: LiveConfig, run: Run, out: string): string[] {
  const args = [
    'run',
    '--weights',
    join(dir, c.weightsFormat === 'pt' ? 'weights.pt' : 'weights.safetensors'),
    '--input',
    join(dir, `input.${c.inputFormat === 'json' ? 'json' : 'safetensors'}`),
    '--out',
    out,
  ];
  if (c.nonlinearity === 'relu') args.push('--nonlinearity', 'relu');
  if (c.batchFirst) args.push('--batch-first');
  // with and without the trailing dot, which the CLI adds when missing
  if (run.explicitPrefix) args.push('--prefix', c.seed % 2 === 0 ? c.prefix : c.prefix.replace(/\.$/, ''));
  if (c.passDtype) args.push('--dtype', c.dtype);
  return args;
}

function title(c: LiveConfig, run: Run, i: number): string {
  const what = describeCase({ ...c, lengths: c.lengths });
  const weights = `${c.weightsFormat}${c.checkpoint ? ' checkpoint' : ''} weights`;
  const input = `${weights}, ${c.inputFormat} input${c.lengths ? ` and ${c.lengthsDtype} lengths` : ''}`;
  const prefix = c.prefix
    ? `, weights under '${c.prefix}' ${run.explicitPrefix ? 'given with --prefix' : 'found on their own'}`
    : '';
  const precision = cliDtype(c) === c.dtype ? c.dtype : `${c.dtype} weights, run as float64`;
  return `${what} from ${input}${prefix} matches PyTorch through the CLI (${precision}, live case ${i})`;
}

// ---------------------------------------------------------------------------------------------------------------

const skip = torchSkip();
const summary = new Summary();
let root = '';

describe(`live parity with PyTorch through the CLI (seed ${SEED}; replay with STACKED_RNN_LIVE_SEED=${SEED})`, {
  skip,
}, () => {
  before(() => {
    assertTorch();
    assert.ok(existsSync(CLI), `the CLI is not built: expected ${CLI}; run \`npm run build\` first`);
    root = mkdtempSync(join(tmpdir(), 'stacked-rnn-live-'));
    const dirs = cases.map((c, i) => {
      const dir = join(root, `case-${String(i).padStart(2, '0')}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'config.json'), `${JSON.stringify(c, null, 2)}\n`);
      return dir;
    });
    runTorchRnn('make', dirs);
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    if (summary.size > 0) console.log(`live parity with PyTorch (seed ${SEED}): ${summary}`);
  });

  cases.forEach((c, i) => {
    for (const run of runsOf(c)) {
      test(title(c, run, i), (t) => {
        const dir = join(root, `case-${String(i).padStart(2, '0')}`);
        const out = join(dir, run.explicitPrefix ? 'out-prefix.safetensors' : 'out.safetensors');
        const args = cliArgs(dir, c, run, out);
        t.diagnostic(`node dist/cli/main.js ${args.join(' ')}`);
        const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
        assert.equal(r.status, 0, `the CLI failed (status ${r.status}):\n${r.stderr}${r.error?.message ?? ''}`);

        const got = readSafetensors(out);
        const want = readSafetensors(join(dir, 'expected.safetensors'));
        const dtype = cliDtype(c);
        const fileDtype = dtype === 'float64' ? 'F64' : 'F32';
        const output = pick(got, 'output', out);
        const hN = pick(got, 'h_n', out);
        assert.equal(output.dtype, fileDtype, 'output is written in the input dtype');
        assert.equal(hN.dtype, fileDtype, 'h_n is written in the input dtype');
        if (c.lengths) {
          assert.deepEqual(nonzeroPadding(output, c.lengths, c.batchFirst), [], 'padded positions must be exactly 0');
        }
        const expected = (name: string): FileTensor => pick(want, name, 'expected.safetensors');
        // float32 weights run in float64 must give PyTorch's float64 run of the same numbers
        const [o, h] = c.dtype === 'float32' && dtype === 'float64' ? ['output64', 'h_n64'] : ['output', 'h_n'];
        const verdict = judge(
          dtype,
          { output, hN },
          { output: expected(o), hN: expected(h) },
          dtype === 'float32' ? { output: expected('output64'), hN: expected('h_n64') } : undefined,
        );
        t.diagnostic(verdict.message);
        summary.add(dtype, verdict);
        assert.ok(verdict.ok, `${verdict.message} (replay with STACKED_RNN_LIVE_SEED=${SEED})`);
        if (c.cell === 'LSTM') {
          // c_n, judged by the same rule (alone: the measure takes two tensors, so it is given twice)
          const cN = pick(got, 'c_n', out);
          assert.equal(cN.dtype, fileDtype, 'c_n is written in the input dtype');
          const want = expected(c.dtype === 'float32' && dtype === 'float64' ? 'c_n64' : 'c_n');
          const ref = dtype === 'float32' ? expected('c_n64') : undefined;
          const cv = judge(dtype, { output: cN, hN: cN }, { output: want, hN: want }, ref && { output: ref, hN: ref });
          t.diagnostic(`c_n: ${cv.message}`);
          assert.ok(cv.ok, `c_n: ${cv.message} (replay with STACKED_RNN_LIVE_SEED=${SEED})`);
        } else {
          assert.ok(!got.has('c_n'), `an ${c.cell} writes no c_n`);
        }
      });
    }
  });
});
