/**
 * Issue 25, threads and environment variables: a thread the system refuses to start is not a crash (item 1), a
 * wrong STACKED_RNN_THREADS is one line (item 12), and a backend that cannot start says why (item 21).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeAddon } from '../src/kernels/native.js';
import { CLI, cli } from './helpers/cli.js';

const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/**
 * A script that runs one LSTM forward large enough to use every thread, on `threads` threads and then on one,
 * and prints the count the library reports and whether the two outputs are the same bits.
 */
const forwardOn = (threads: number) => `
const lib = await import(${JSON.stringify(INDEX)});
const lstm = new lib.LSTM({ inputSize: 64, hiddenSize: 256, seed: 1 });
const x = lib.randn([12, 512, 64], { generator: 2 });
lib.setThreads(${threads});
const [many] = lstm.forward(x);
const reported = lib.getThreads();
lib.setThreads(1);
const [one] = lstm.forward(x);
const same = many.data.every((v, i) => Object.is(v, one.data[i]));
console.log(reported, same);`;

function node(script: string, wrap?: (argv: string[]) => string[]) {
  const argv = [process.execPath, '--import', 'tsx', '--input-type=module', '-e', script];
  const [cmd, ...args] = wrap ? wrap(argv) : argv;
  const r = spawnSync(cmd as string, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout.trim(), stderr: r.stderr };
}

/** A cgroup (v1 pids controller, as root) that allows `max` tasks, or null where this machine gives none. */
function pidsCgroup(max: number): { dir: string; remove: () => void } | null {
  const root = '/sys/fs/cgroup/pids';
  if (process.getuid?.() !== 0 || !existsSync(`${root}/cgroup.procs`)) return null;
  const dir = `${root}/stacked-rnn-test-${process.pid}`;
  try {
    mkdirSync(dir);
    writeFileSync(`${dir}/pids.max`, String(max));
  } catch {
    return null;
  }
  return { dir, remove: () => rmdirSync(dir) };
}

describe('item 1: a thread the system refuses to start', { skip: nativeAddon ? false : 'no native addon' }, () => {
  test('under a pids limit of 40, 64 threads run on those that started, report it once, and give the same floats', (t) => {
    const group = pidsCgroup(40);
    if (!group) {
      t.skip('needs root and a cgroup v1 pids controller to make a pids limit');
      return;
    }
    try {
      // the shell moves itself into the group, then becomes node: every thread node starts counts against it
      const r = node(forwardOn(64), (argv) => [
        'bash',
        '-c',
        `echo $$ > ${group.dir}/cgroup.procs && exec "$@"`,
        'bash',
        ...argv,
      ]);
      assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      const [reported, same] = r.stdout.split(' ');
      assert.ok(
        Number(reported) >= 1 && Number(reported) < 64,
        `getThreads() reports the threads running: ${r.stdout}`,
      );
      assert.equal(same, 'true', 'the same bits as one thread');
      const warnings = r.stderr.split('\n').filter((l) => l.includes('stacked-rnn: warning'));
      assert.equal(warnings.length, 1, r.stderr);
      assert.match(
        warnings[0] as string,
        /the system refused to start thread \d+ of 64 \(.*\); running on \d+ threads/,
      );
    } finally {
      group.remove();
    }
  });

  test('setThreads(1024), documented as valid, runs a forward and gives the same floats as one thread', () => {
    const r = node(forwardOn(1024));
    assert.equal(r.signal, null, `killed by ${r.signal}: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+ true$/);
  });
});

describe('item 12: a wrong STACKED_RNN_THREADS with any command', () => {
  for (const value of ['0', '-1', '1e9', 'abc', '1.5', '1025', '2 3']) {
    test(`STACKED_RNN_THREADS='${value}' is one line, exit 1, no stack trace`, () => {
      const r = spawnSync(process.execPath, [CLI, 'inspect', 'missing.pt'], {
        encoding: 'utf8',
        env: { ...process.env, STACKED_RNN_THREADS: value },
      });
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        r.stderr,
        `stacked-rnn: error: STACKED_RNN_THREADS must be an integer from 1 to 1024, got ${/^\d+$/.test(value) ? value : `'${value}'`}\n`,
      );
    });
  }
  test('a valid STACKED_RNN_THREADS is taken as before', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo'], {
      encoding: 'utf8',
      env: { ...process.env, STACKED_RNN_THREADS: '2' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(cli('--version').status, 0);
  });
});

describe('item 21: STACKED_RNN_BACKEND=wasm where WebAssembly cannot reserve its memory', () => {
  test('says the backend is unavailable and why, not "Unknown backend"', () => {
    // 3 GB of address space: Node.js starts, a WebAssembly instance cannot reserve its memory
    const r = spawnSync('bash', ['-c', `ulimit -v 3000000 && exec "${process.execPath}" "${CLI}" demo`], {
      encoding: 'utf8',
      env: { ...process.env, STACKED_RNN_BACKEND: 'wasm' },
    });
    assert.equal(r.status, 1, r.stderr);
    const [first, hint, ...rest] = r.stderr.trimEnd().split('\n');
    assert.match(
      first as string,
      /^stacked-rnn: error: backend 'wasm' is unavailable here: the WebAssembly kernel could not start \(.*Out of memory/,
    );
    assert.match(hint as string, /^hint: choose one of 'reference'/);
    assert.deepEqual(rest, []);
  });
  test('a backend no environment has is still "Unknown backend"', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo'], {
      encoding: 'utf8',
      env: { ...process.env, STACKED_RNN_BACKEND: 'cuda' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^stacked-rnn: error: Unknown backend 'cuda'/);
  });
});

describe('past the list: a WebAssembly pool worker that fails to start', () => {
  test('rejects its ready() but does not end the process with an unhandled rejection', () => {
    const WORKERS = fileURLToPath(new URL('../src/kernels/wasm/workers.ts', import.meta.url));
    const r = node(`
const { startWorker } = await import(${JSON.stringify(WORKERS)});
const w = startWorker({ module: null, memory: null, tid: 1, stack: 0 });
setTimeout(() => { console.log('alive'); w.terminate(); }, 1500);
// no handler until after the worker has failed: what a pool that never awaits ready() does
setTimeout(() => w.ready.catch((e) => console.log('ready rejected:', e.message.split(':')[0])), 1000);`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ready rejected: .+\nalive$/);
  });
});

describe('past the list: STACKED_RNN_NATIVE_ISA', () => {
  test('a value other than avx2 or avx512 is one line instead of being ignored', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo'], {
      encoding: 'utf8',
      env: { ...process.env, STACKED_RNN_NATIVE_ISA: 'AVX2' },
    });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, "stacked-rnn: error: STACKED_RNN_NATIVE_ISA must be 'avx2' or 'avx512', got 'AVX2'\n");
  });
  test('avx2 is taken', () => {
    const r = spawnSync(process.execPath, [CLI, 'demo'], {
      encoding: 'utf8',
      env: { ...process.env, STACKED_RNN_NATIVE_ISA: 'avx2' },
    });
    assert.equal(r.status, 0, r.stderr);
  });
});
