/**
 * Issue 25, `train`: a failed run leaves an earlier run's files as they were and makes no directory (items 2-5), a
 * run too large for the machine is refused before any work (item 11), and a bad --init file is named in one line
 * (items 15, 16).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { after, describe, test } from 'node:test';
import { writeFilesAtomic } from '../src/io/files.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { RNN } from '../src/rnn/rnn.js';
import { type Tensor, tensor } from '../src/tensor.js';
import { defaultConfig } from '../src/train/loop.js';
import { trainingBytes } from '../src/train/memory.js';
import { cli, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('round3-train');
after(tmp.cleanup);

/** Every file of `dir` with its bytes and modification time: what "left as it was" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = `${dir}/${name}`;
    const s = statSync(path);
    out[name] = s.isFile() ? `${s.mtimeMs} ${readFileSync(path).toString('base64')}` : `not a file, mode ${s.mode}`;
  }
  return out;
}

/** Exit 1 with one error line (and a hint), matching `message`. */
function failsInOneLine(r: { status: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0] as string, /^stacked-rnn: error: /);
  assert.match(lines[0] as string, message);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('hint: ')), r.stderr);
}

/** A finished run in a fresh directory, as `train` leaves it. */
function earlierRun(name: string, ...flags: string[]): string {
  const dir = tmp.path(name);
  const r = cli('train', '--steps', '3', '--hidden', '8', '--out', dir, ...flags);
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

describe('item 2: an output that is a FIFO inside the directory', () => {
  test('is refused before training, and model.safetensors is left as it was', () => {
    const dir = earlierRun('fifo');
    rmSync(`${dir}/loss.csv`);
    execFileSync('mkfifo', [`${dir}/loss.csv`]);
    const before = snapshot(dir);
    const r = cli('train', '--steps', '50', '--hidden', '8', '--out', dir);
    failsInOneLine(r, /cannot write .*loss\.csv: it is a named pipe \(FIFO\)/);
    assert.equal(r.stdout, '', 'no training happened');
    assert.deepEqual(snapshot(dir), before);
  });
});

describe('item 3: a --compare-layers run that diverges at its second depth', () => {
  const diverging = ['--compare-layers', '1,3', '--lr', '0.5', '--nonlinearity', 'relu', '--optimizer', 'sgd'];
  test('leaves every file of the earlier run as it was, model-layers-1 included', () => {
    const dir = earlierRun('diverge', '--compare-layers', '1,3');
    const before = snapshot(dir);
    const r = cli('train', ...diverging, '--clip', '0', '--steps', '40', '--out', dir);
    failsInOneLine(r, /the loss became NaN at step \d+/);
    assert.deepEqual(snapshot(dir), before);
  });
  test('into a new directory makes no directory (item 5)', () => {
    const dir = tmp.path('diverge-new/deeper');
    const r = cli('train', ...diverging, '--clip', '0', '--steps', '40', '--out', dir);
    failsInOneLine(r, /the loss became NaN/);
    assert.equal(existsSync(tmp.path('diverge-new')), false, 'no directory is made');
  });
});

describe('item 4: a disk too full for the outputs', () => {
  test('fails while staging, before any file of the earlier run is replaced', (t) => {
    const mount = tmp.path('small');
    mkdirSync(mount);
    // a 64 KiB file system of our own (needs root): the earlier run, then a filler leaving 16 KiB
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]).status === 0;
    if (!mounted) {
      t.skip('needs root to mount a small tmpfs');
      return;
    }
    try {
      const dir = `${mount}/run`;
      assert.equal(cli('train', '--steps', '3', '--hidden', '8', '--layers', '1', '--out', dir).status, 0);
      const free = Number(execFileSync('df', ['-B1', '--output=avail', mount], { encoding: 'utf8' }).split('\n')[1]);
      writeFileSync(`${mount}/filler`, new Uint8Array(free - 16384));
      const before = snapshot(dir);
      const r = cli('train', '--steps', '300', '--hidden', '8', '--layers', '1', '--out', dir);
      failsInOneLine(r, /ENOSPC/);
      assert.deepEqual(snapshot(dir), before);
    } finally {
      spawnSync('umount', [mount]);
    }
  });
  test('writeFilesAtomic refuses every file when one path is a directory, before the first is replaced', async () => {
    const dir = tmp.path('rollback');
    mkdirSync(dir);
    writeFileSync(`${dir}/a.txt`, 'old a');
    mkdirSync(`${dir}/b.txt`); // checked as a directory: refused before anything is staged
    await assert.rejects(
      writeFilesAtomic([
        { path: `${dir}/a.txt`, contents: 'new a' },
        { path: `${dir}/b.txt`, contents: 'new b' },
      ]),
      /b\.txt: it is a directory/,
    );
    assert.equal(readFileSync(`${dir}/a.txt`, 'utf8'), 'old a');
    assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'b.txt'], 'no temporary file is left');
  });
});

describe('item 5: a run that fails before writing makes no --out directory', () => {
  test('a model too big to build', () => {
    const dir = tmp.path('too-big');
    const r = cli('train', '--cell', 'lstm', '--hidden', '4096', '--layers', '16', '--out', dir);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(existsSync(dir), false);
  });
  test('an oversized batch', () => {
    const dir = tmp.path('big-batch');
    const r = cli('train', '--batch', '4096', '--seq-len', '100000', '--out', dir);
    failsInOneLine(r, /needs about .* of memory/);
    assert.equal(existsSync(dir), false);
  });
});

describe('item 11: a run whose memory, by arithmetic, the machine does not have', () => {
  const flags = ['--cell', 'lstm', '--hidden', '1024', '--layers', '16', '--batch', '1024', '--seq-len', '200'];
  const config = {
    ...defaultConfig('sine'),
    cell: 'LSTM' as const,
    hidden: 1024,
    layers: 16,
    batch: 1024,
    seqLen: 200,
  };
  test('the estimate is the tens of gigabytes the issue found', () => {
    const gib = trainingBytes(config) / 2 ** 30;
    assert.ok(gib > 70 && gib < 100, `${gib} GiB`);
  });
  test('is refused in one line naming the estimate, before any work', (t) => {
    if (trainingBytes(config) <= totalmem()) {
      t.skip('this machine has the memory');
      return;
    }
    const dir = tmp.path('huge');
    const started = Date.now();
    const r = cli('train', ...flags, '--out', dir);
    failsInOneLine(r, /needs about \d+(\.\d)? GiB of memory; this machine has/);
    assert.ok(Date.now() - started < 60_000, 'refused up front');
    assert.equal(existsSync(dir), false);
  });
});

/** A sine model's RNN (input 1, hidden 32, 2 layers: train's defaults) under 'rnn.', plus `extra`. */
function initFile(name: string, extra: Record<string, Tensor>, edit?: (sd: Record<string, Tensor>) => void): string {
  const sd: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(new RNN({ inputSize: 1, hiddenSize: 32, numLayers: 2, seed: 1 }).stateDict()))
    sd[`rnn.${k}`] = t;
  Object.assign(sd, extra);
  edit?.(sd);
  const path = tmp.path(name);
  writeFileSync(path, writeSafetensors(sd));
  return path;
}

describe('item 15: --init whose head does not fit', () => {
  test('is one line that names the file and its head', () => {
    const path = initFile('head.safetensors', {
      'head.weight': tensor(new Float32Array(35), [5, 7]),
      'head.bias': tensor(new Float32Array(5), [5]),
    });
    const dir = tmp.path('head-out');
    const r = cli('train', '--init', path, '--steps', '3', '--out', dir);
    failsInOneLine(
      r,
      new RegExp(`--init ${path}: its head \\('head\\.\\*'\\) does not fit the model to train: .*size mismatch`),
    );
    assert.equal(existsSync(dir), false);
  });
});

describe('item 16: --init with NaN weights', () => {
  test('names the file and the tensor, not a diverged loss', () => {
    const path = initFile('nan.safetensors', {}, (sd) => {
      const w = (sd['rnn.weight_hh_l1'] as Tensor).clone();
      w.data[3] = Number.NaN;
      sd['rnn.weight_hh_l1'] = w;
    });
    const r = cli('train', '--init', path, '--steps', '3', '--out', tmp.path('nan-out'));
    failsInOneLine(r, new RegExp(`--init ${path}: 'rnn\\.weight_hh_l1' holds NaN \\(element 3 of 1024\\)`));
  });
});
