// Installs the benchmark's JavaScript peers (bench/package.json: onnxruntime-node, @tensorflow/tfjs and its wasm
// backend) into bench/node_modules when they are missing or older than bench/package-lock.json. `npm run bench`
// runs this first; it is the one place that knows how the peers install.
//
//   node bench/install.mjs
//
// They are kept out of the root package so that `npm ci` for building, testing and using stacked-rnn never
// downloads them. Plain JavaScript, so it runs before anything else is installed here.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const lock = join(here, 'package-lock.json');
const installed = join(here, 'node_modules', '.package-lock.json'); // npm writes it at the end of an install

if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) process.exit(0);

console.error('bench: installing the peers into bench/node_modules (once) ...');
// --ignore-scripts: onnxruntime-node's postinstall only downloads its CUDA provider from a host outside the npm
// registry (ENOTFOUND wherever that host is unreachable), and the CPU binaries the benchmark uses ship inside the
// npm package; the only other script is core-js's banner. No peer needs an install script to run.
const args = ['ci', '--ignore-scripts', '--no-audit', '--no-fund'];
// the npm that runs `npm run bench`, else the one on PATH
const npm = /npm-cli\.[cm]?js$/.test(process.env.npm_execpath ?? '') ? process.env.npm_execpath : undefined;
const r = npm
  ? spawnSync(process.execPath, [npm, ...args], { cwd: here, stdio: 'inherit' })
  : spawnSync('npm', args, { cwd: here, stdio: 'inherit', shell: process.platform === 'win32' });
if (r.status !== 0) {
  console.error(`bench: installing the peers failed (${r.error ?? `npm exited ${r.status}`}); see above`);
  process.exit(1);
}
