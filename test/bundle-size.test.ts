/**
 * What a browser app that imports the LSTM loads at start, bundled as users bundle it, with no configuration:
 * Vite's default build and esbuild with --splitting put the threaded WebAssembly builds (./pool.ts and its two
 * binaries) in a chunk of their own, loaded only by a cross-origin isolated page, and what loads at start is under
 * 250 kB before gzip (the float64 build, too, is a chunk of its own, loaded when a float64 model first runs);
 * esbuild's single file holds the four deflated builds. Uses the package's dist/ (npm run build).
 */
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { BROWSER_SKIP, CHROMIUM } from './helpers/explain-page.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const app = mkdtempSync(join(tmpdir(), 'stacked-rnn-bundle-'));
mkdirSync(join(app, 'node_modules'));
symlinkSync(ROOT, join(app, 'node_modules', 'stacked-rnn'));
writeFileSync(
  join(app, 'main.js'),
  [
    "import { getKernel, kernelReady, LSTM, randn } from 'stacked-rnn';",
    'await kernelReady();',
    'const lstm = new LSTM({ inputSize: 8, hiddenSize: 16, numLayers: 2, seed: 0 });',
    'const [out] = lstm.forward(randn([5, 2, 8], { generator: 0 }));',
    'globalThis.answer = { kernel: getKernel().name, out: out.data[0] };',
  ].join('\n'),
);
writeFileSync(join(app, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>');
after(() => rmSync(app, { recursive: true, force: true }));

const KB = 1000;
const sizes = (dir: string) =>
  Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).size] as const)) as Record<string, number>;

test('esbuild --splitting: under 250 kB at start, the threaded builds in a chunk of their own', async () => {
  const outdir = join(app, 'esbuild-split');
  await build({
    entryPoints: [join(app, 'main.js')],
    bundle: true,
    format: 'esm',
    splitting: true,
    minify: true,
    outdir,
    logLevel: 'error',
  });
  const files = sizes(outdir);
  const pool = Object.keys(files).filter((f) => f.startsWith('pool-'));
  assert.equal(pool.length, 1, `one chunk for the threaded kernel: ${Object.keys(files)}`);
  const start = Object.entries(files)
    .filter(([f]) => !f.startsWith('pool-'))
    .reduce((n, [, s]) => n + s, 0);
  console.log(`esbuild --splitting --minify: ${JSON.stringify(files)}; at start ${start} bytes`);
  assert.ok(start < 250 * KB, `${start} bytes at start`);
  const entry = readFileSync(join(outdir, 'main.js'), 'utf8');
  assert.doesNotMatch(entry, /from\s*"\.\/pool-/, 'the entry must not import the threaded chunk statically');
});

test("esbuild's single file holds the four builds deflated: under 300 kB for the three float32 ones, plus the float64 one's bytes", async () => {
  const outfile = join(app, 'esbuild-one.js');
  await build({
    entryPoints: [join(app, 'main.js')],
    bundle: true,
    format: 'esm',
    minify: true,
    outfile,
    logLevel: 'error',
  });
  const size = statSync(outfile).size;
  console.log(`esbuild --minify, one file: ${size} bytes`);
  // the three float32 builds' bound, 300 kB, plus the float64 build's own bytes (src/kernels/wasm/binary-f64.ts)
  const float64Build = statSync(fileURLToPath(new URL('../src/kernels/wasm/binary-f64.ts', import.meta.url))).size;
  assert.ok(size < 300 * KB + float64Build, `${size} bytes, the float64 build ${float64Build}`);
});

test("Vite's default build loads under 250 kB at start and the threaded builds only on demand", async () => {
  const { build: viteBuild } = await import('vite');
  await viteBuild({ root: app, logLevel: 'silent', build: { outDir: join(app, 'vite') } });
  const files = sizes(join(app, 'vite', 'assets'));
  const start = Object.entries(files)
    .filter(([f]) => !f.startsWith('pool-'))
    .reduce((n, [, s]) => n + s, 0);
  console.log(`vite build: ${JSON.stringify(files)}; at start ${start} bytes`);
  assert.equal(Object.keys(files).filter((f) => f.startsWith('pool-')).length, 1);
  assert.ok(start < 250 * KB, `${start} bytes at start`);
});

test('in Chromium, only a cross-origin isolated page fetches the threaded chunk, and runs it', {
  skip: BROWSER_SKIP,
}, async () => {
  const outdir = join(app, 'esbuild-split');
  const files = sizes(outdir);
  const server = createServer((req, res) => {
    const isolated = req.url?.startsWith('/iso/') ?? false;
    const name = (req.url ?? '').split('/').pop() || 'index.html';
    const headers = isolated
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
      : {};
    if (name === 'index.html') {
      res.writeHead(200, { 'Content-Type': 'text/html', ...headers });
      res.end('<!doctype html><script type="module" src="main.js"></script>');
    } else if (name in files) {
      res.writeHead(200, { 'Content-Type': 'text/javascript', ...headers });
      res.end(readFileSync(join(outdir, name)));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    for (const [path, kernel, fetchesPool] of [
      ['/plain/', 'wasm', false],
      ['/iso/', 'wasm-threads', true],
    ] as const) {
      const page = await browser.newPage();
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));
      await page.goto(`${origin}${path}`);
      await page.waitForFunction(() => (globalThis as { answer?: unknown }).answer !== undefined, null, {
        timeout: 60_000,
      });
      const answer = (await page.evaluate(() => (globalThis as { answer?: unknown }).answer)) as { kernel: string };
      assert.equal(answer.kernel, kernel, path);
      assert.equal(
        requested.some((u) => /\/pool-[^/]*\.js$/.test(u)),
        fetchesPool,
        `${path}: ${requested.join(', ')}`,
      );
      await page.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
});
