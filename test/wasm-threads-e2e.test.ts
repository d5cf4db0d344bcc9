/**
 * The threaded WebAssembly kernel in a real browser (Debian's Chromium), the library bundled by esbuild for the
 * browser as a user bundles it (test/helpers/threads-page.ts): served cross-origin isolated (COOP same-origin,
 * COEP require-corp), the page gets 'wasm-threads' on 2 running threads (its workers made from a Blob URL, no
 * extra file), with relaxed SIMD, writing the same bits at 1 and 2 threads, close to the reference kernel; served
 * without those headers, it gets the one-thread 'wasm' kernel.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { type Browser, chromium } from 'playwright-core';
import { BROWSER_SKIP, CHROMIUM, ROOT } from './helpers/explain-page.js';
import type { ThreadsPage } from './helpers/threads-page.js';

describe('the threaded WebAssembly kernel in Chromium', { skip: BROWSER_SKIP }, () => {
  let server: Server;
  let origin: string;
  let browser: Browser;
  before(async () => {
    const bundle = await build({
      entryPoints: [join(ROOT, 'test/helpers/threads-page.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'error',
    });
    const js = bundle.outputFiles[0]?.contents ?? new Uint8Array();
    // /iso/ cross-origin isolated, /plain/ not
    server = createServer((req, res) => {
      const isolated = req.url?.startsWith('/iso/') ?? false;
      const headers = isolated
        ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
        : {};
      const page = req.url?.endsWith('/page.js');
      res.writeHead(200, { 'Content-Type': page ? 'text/javascript' : 'text/html', ...headers });
      res.end(page ? js : '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });

  async function open(path: string): Promise<ThreadsPage> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}${path}`);
    await page.waitForFunction(() => (globalThis as { threadsPage?: unknown }).threadsPage !== undefined, null, {
      timeout: 60_000,
    });
    const got = (await page.evaluate(() => (globalThis as { threadsPage?: unknown }).threadsPage)) as
      | ThreadsPage
      | string;
    await page.close();
    assert.deepEqual(errors, []);
    if (typeof got === 'string') assert.fail(got);
    return got;
  }

  test('cross-origin isolated, the page runs the threaded kernel on 2 threads, the same bits as on 1', async () => {
    const got = await open('/iso/');
    assert.equal(got.isolated, true);
    assert.equal(got.kernel, 'wasm-threads');
    assert.equal(got.running, 2);
    assert.equal(got.threads, 2, 'getThreads() says the 2 threads that run');
    assert.equal(got.relaxed, true, 'Chromium has relaxed SIMD');
    for (const net of got.nets) {
      assert.ok(net.sameBits, `${net.name}: 2 threads wrote other bits than 1`);
      assert.ok(net.error < 1e-5, `${net.name}: error ${net.error} against the reference`);
    }
    assert.equal(got.float64.referenceCalls, 0, 'the float64 LSTM ran on the float64 build');
    assert.ok(got.float64.error < 1e-12, `float64 error ${got.float64.error} against the reference`);
  });

  test('not isolated, the page runs the one-thread kernel', async () => {
    const got = await open('/plain/');
    assert.equal(got.isolated, false);
    assert.equal(got.kernel, 'wasm');
    assert.equal(got.running, 1);
    assert.equal(got.threads, 1, 'getThreads() says the one thread that runs, not the 2 asked for');
    for (const net of got.nets) assert.ok(net.error < 1e-5, `${net.name}: error ${net.error} against the reference`);
    assert.equal(got.float64.referenceCalls, 0, 'the float64 LSTM ran on the float64 build');
    assert.ok(got.float64.error < 1e-12, `float64 error ${got.float64.error} against the reference`);
  });
});
