// Builds the native kernel (native/build/Release/stacked_rnn.node) from source, offline, and never fails the
// install: when it cannot build, src/kernels/native.ts finds no addon and the library uses the next kernel. On
// x64 the same source is built a second time for AVX-512 (stacked_rnn_avx512.node, RNN_VBYTES 64), which
// native.ts loads instead on CPUs that have it; without it (an old compiler or assembler) the AVX2 build serves
// alone. On arm64 it is the NEON build (RNN_VBYTES 16).
//
// As the package's install script it builds nothing where a prebuilt binary (prebuilds/<platform>-<arch>/,
// scripts/build-prebuilds.sh) loads and was built from the shipped source: the package needs no install script
// on linux-x64, linux-arm64 and win32-x64, and this one serves the rest (macOS, musl, an old glibc).
//
//   node native/build.mjs            node-gyp (npm's own copy) with the headers of the running node, else c++
//   STACKED_RNN_SKIP_NATIVE=1        skip the build
//
// node-gyp is pointed at the headers that ship with node (<prefix>/include/node) through --nodedir, so it never
// downloads a header tarball; without those headers nothing is built.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'build', 'Release', 'stacked_rnn.node');
const output512 = join(here, 'build', 'Release', 'stacked_rnn_avx512.node');

function note(message) {
  console.log(`stacked-rnn: ${message}`);
}

function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, dirname(dirname(process.execPath))].filter(Boolean);
  return candidates.find((d) => existsSync(join(d, 'include', 'node', 'node_api.h')));
}

function nodeGyp() {
  const candidates = [];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => existsSync(p));
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  return { ok: r.status === 0, log: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** Whether this platform's prebuilt binary loads here and was built from the shipped source (needs dist/). */
async function prebuiltServes() {
  const binary = join(here, '..', 'prebuilds', `${process.platform}-${process.arch}`, 'stacked_rnn.node');
  if (!existsSync(binary)) return false;
  try {
    const { nativeSourceHash } = await import('../dist/kernels/native-source.js');
    const addon = createRequire(import.meta.url)(binary);
    return addon.supported === true && addon.sourceHash === nativeSourceHash(here);
  } catch {
    return false;
  }
}

async function build() {
  if (process.env.STACKED_RNN_SKIP_NATIVE === '1') return note('native kernel skipped (STACKED_RNN_SKIP_NATIVE=1)');
  if (process.env.npm_lifecycle_event === 'install' && (await prebuiltServes())) {
    return note(`using the prebuilt native kernel for ${process.platform}-${process.arch}`);
  }
  const arm64 = process.arch === 'arm64';
  if (process.arch !== 'x64' && !arm64) return note(`no native kernel for ${process.arch}; using WebAssembly`);
  const dir = nodeDir();
  if (!dir) return note('no node headers next to this node (include/node/node_api.h); native kernel not built');
  const gyp = nodeGyp();
  if (gyp) {
    const r = run(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`, '--loglevel=error']);
    if (r.ok && existsSync(output) && arm64) return note('native kernel built (node-gyp), NEON');
    if (r.ok && existsSync(output) && existsSync(output512)) return note('native kernel built (node-gyp), AVX2 and AVX-512');
    note(`node-gyp failed, trying the compiler directly:\n${r.log.trim().split('\n').slice(-5).join('\n')}`);
  }
  mkdirSync(dirname(output), { recursive: true });
  const cxx = process.env.CXX || 'c++';
  const flags = ['-std=gnu++17', '-O3', '-ffp-contract=fast', '-fno-math-errno', '-Wno-psabi', '-fPIC', '-shared', '-pthread', `-I${join(dir, 'include', 'node')}`];
  const r = run(cxx, [...flags, '-DNODE_GYP_MODULE_NAME=stacked_rnn', ...(arm64 ? ['-DRNN_VBYTES=16'] : []), 'addon.cc', '-o', output]);
  if (!r.ok) {
    note(`native kernel not built; the WebAssembly kernel will be used:\n${r.log.trim().split('\n').slice(-5).join('\n')}`);
    return;
  }
  if (arm64) return note(`native kernel built (${cxx}), NEON`);
  const avx512 = ['-DNODE_GYP_MODULE_NAME=stacked_rnn_avx512', '-DRNN_VBYTES=64', '-mavx512f', '-mavx512vl', '-mavx512dq', '-mavx512bw'];
  const r512 = run(cxx, [...flags, ...avx512, 'addon.cc', '-o', output512]);
  note(r512.ok ? `native kernel built (${cxx}), AVX2 and AVX-512` : `native kernel built (${cxx}), AVX2 only (the AVX-512 build failed)`);
}

try {
  await build();
} catch (e) {
  note(`native kernel not built (${e instanceof Error ? e.message : String(e)})`);
}
