/**
 * The explainer page in a real browser, for the end-to-end tests: `stacked-rnn explain --port P --no-open` as a
 * child process (from source, through tsx, so the test runs what the sources say), Debian's Chromium driven by
 * playwright-core, and a page opener that collects every console error and every request outside the server.
 *
 * Needs /usr/bin/chromium. Without it the browser suites skip, unless STACKED_RNN_REQUIRE_BROWSER=1, which makes
 * a missing browser a failure.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = '/usr/bin/chromium';
const REQUIRED = process.env.STACKED_RNN_REQUIRE_BROWSER === '1';
const HAVE_BROWSER = existsSync(CHROMIUM);

/** The `skip` option of a browser suite: false when it should run, else why not. */
export const BROWSER_SKIP: string | false =
  !HAVE_BROWSER && !REQUIRED ? `no browser at ${CHROMIUM} (STACKED_RNN_REQUIRE_BROWSER=1 fails instead)` : false;

/** The newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

/** Builds dist/web/ when it is missing or older than its sources, so a test never checks a stale page. */
export function ensurePageBuilt(): void {
  const index = join(ROOT, 'dist/web/index.html');
  const stale =
    !existsSync(index) || statSync(index).mtimeMs < Math.max(newest(join(ROOT, 'web')), newest(join(ROOT, 'src')));
  if (!stale) return;
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `vite build failed:\n${r.stdout}\n${r.stderr}`);
}

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => done(port));
    });
  });
}

/** Starts `stacked-rnn explain` (from source, through tsx) and resolves with its printed address. */
export function startCli(port: number): Promise<{ child: ChildProcess; url: string; stdout: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'explain', '--port', String(port), '--no-open'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((done, fail) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => fail(new Error(`no address printed within 60 s:\n${out}\n${err}`)), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        done({ child, url: m[0], stdout: out });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`stacked-rnn explain exited with ${code} before printing an address:\n${out}\n${err}`));
    });
  });
}

export interface Viewport {
  width: number;
  height: number;
}

/** The server and the browser of one suite; `open` gives a fresh page and what went wrong on it. */
export interface ExplainSession {
  url: string;
  stdout: string;
  open(hash?: string, viewport?: Viewport): Promise<{ page: Page; problems: string[] }>;
  close(): Promise<void>;
}

export async function startSession(): Promise<ExplainSession> {
  assert.ok(HAVE_BROWSER, `STACKED_RNN_REQUIRE_BROWSER=1 but there is no browser at ${CHROMIUM}`);
  ensurePageBuilt();
  const { child, url, stdout } = await startCli(await freePort());
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  } catch (e) {
    child.kill('SIGTERM');
    throw e;
  }
  return {
    url,
    stdout,
    async open(hash = '', viewport = { width: 1440, height: 900 }) {
      const page = await browser.newPage({ viewport, reducedMotion: 'reduce' });
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => {
        // blob: of the server's origin: the WebAssembly kernel's workers, made from the library's own source
        if (!r.url().startsWith(url) && !r.url().startsWith('data:') && !r.url().startsWith(`blob:${url}`)) {
          problems.push(`request outside the server: ${r.url()}`);
        }
      });
      await page.goto(`${url}${hash}`);
      await page.waitForSelector('html[data-ready="true"]', { state: 'attached' });
      return { page, problems };
    },
    async close() {
      await browser.close();
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once('exit', done));
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** The `data-values` (JSON numbers) of the element matching `selector`. */
export async function valuesOf(page: Page, selector: string): Promise<number[]> {
  const raw = await page.getAttribute(selector, 'data-values');
  assert.ok(raw !== null, `${selector} has no data-values`);
  return JSON.parse(raw) as number[];
}

export function maxDiff(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length, `lengths differ: ${a.length} vs ${b.length}`);
  return Math.max(0, ...a.map((v, i) => Math.abs(v - (b[i] as number))));
}

/** What the page prints for a value: 3 decimals, a typographic minus, no sign on zero. */
export function shown(v: number, digits = 3): string {
  const s = v.toFixed(digits);
  return Number(s) === 0 ? s.replace('-', '') : s.replace('-', '\u2212');
}
