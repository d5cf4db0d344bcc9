/**
 * The explainer page end to end, for nn.RNN (the default): the server, the page's behaviour (KaTeX, stepping,
 * symbols, live controls, loading files), and its numbers against the library itself (RNN.forward,
 * mistakenForward) for the same seed; the page computes in float64, so they must agree to the last few bits.
 * The LSTM and GRU, the PyTorch snippet and the screenshots are in explain-cells-e2e.test.ts.
 *
 * Needs /usr/bin/chromium (Debian's `chromium`); see helpers/explain-page.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { explainCommand, parsePort } from '../src/cli/explain.js';
import { Generator, mistakenForward, RNN, RnnError, randn, type Tensor, tensor } from '../src/index.js';
import { writePtStateDict } from '../src/io/pt/index.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { BROWSER_SKIP, type ExplainSession, maxDiff, shown, startSession } from './helpers/explain-page.js';

const FIXTURES_PT = fileURLToPath(new URL('./fixtures/pt/', import.meta.url));

function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((done, fail) => {
    const req = request(url, { headers }, (res) => {
      res.resume();
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** The reference: layer l's output sequence for the same weights, from an RNN of the first l+1 layers. */
function layerOutputs(rnn: RNN, x: Tensor): Tensor[] {
  const sd = rnn.stateDict();
  return Array.from({ length: rnn.numLayers }, (_, l) => {
    const sub = new RNN({ ...rnn.options, numLayers: l + 1, seed: 0 }).eval();
    const own = Object.fromEntries(Object.entries(sd).filter(([k]) => Number(/_l(\d+)/.exec(k)?.[1]) <= l));
    sub.loadStateDict(own);
    return sub.forward(x)[0];
  });
}

/** The page's random recipe: one PyTorch-compatible generator for the weights, then x, in float64. */
function seeded(o: { seed: number; L: number; N: number; I: number; H: number; K: number; bidirectional?: boolean }) {
  const g = new Generator(o.seed);
  const rnn = new RNN({
    inputSize: o.I,
    hiddenSize: o.H,
    numLayers: o.K,
    bidirectional: o.bidirectional ?? false,
    dtype: 'float64',
    seed: g,
  }).eval();
  const x = randn([o.L, o.N, o.I], { generator: g, dtype: 'float64' });
  return { rnn, x };
}

function rowOf(t: Tensor, step: number, n: number): number[] {
  const [, N, F] = t.shape as [number, number, number];
  return Array.from(t.data.subarray((step * N + n) * F, (step * N + n + 1) * F));
}

interface Cell {
  id: string;
  values: number[];
  chips: string[];
}

async function cells(page: Page): Promise<Map<string, Cell>> {
  const list = await page.$$eval('[data-testid^="cell-"]', (els) =>
    els.map((e) => ({
      id: (e as HTMLElement).dataset.testid ?? '',
      values: JSON.parse((e as HTMLElement).dataset.values ?? '[]') as number[],
      chips: Array.from(e.querySelectorAll('.chip')).map((c) => c.textContent ?? ''),
    })),
  );
  return new Map(list.map((c) => [c.id, c]));
}

async function activeCell(page: Page): Promise<string | null> {
  return page.getAttribute('[aria-current="step"]', 'data-testid');
}

describe('explainCommand, without a browser', () => {
  test('rejects a port that is not an integer in 0..65535, naming it', async () => {
    for (const bad of ['abc', '-1', '70000', '1.5', '']) {
      assert.throws(
        () => parsePort(bad),
        (e: unknown) => e instanceof RnnError && e.code === 'invalid_argument' && e.message.includes(`'${bad}'`),
      );
    }
    assert.equal(parsePort('0'), 0);
    assert.equal(parsePort(' 8080 '), 8080);
    await assert.rejects(explainCommand({ port: 65536, open: false }), RnnError);
  });

  test('says how to build the page when it is not built', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'stacked-rnn-explain-empty-'));
    try {
      await assert.rejects(
        explainCommand({ root: empty, port: 0, open: false }),
        (e: unknown) => e instanceof RnnError && e.code === 'io' && /npm run build/.test(e.hint ?? ''),
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test('serves a folder on 127.0.0.1, prints the address, and stops on close', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-explain-root-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    const lines: string[] = [];
    const server = await explainCommand({ root: dir, port: 0, open: false, log: (l) => lines.push(l) });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.ok(lines.some((l) => l.includes(server.url)));
      assert.equal((await get(server.url)).status, 200);
      assert.equal((await get(server.url, { Host: `localhost:${server.port}` })).status, 200);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    await assert.rejects(get(server.url));
  });
});

describe('stacked-rnn explain, in Chromium', { skip: BROWSER_SKIP }, () => {
  let session: ExplainSession;
  let url = '';
  const tmp = mkdtempSync(join(tmpdir(), 'stacked-rnn-explain-'));

  before(async () => {
    session = await startSession();
    url = session.url;
  });

  after(async () => {
    await session?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  const open = (hash = '') => session.open(hash);

  test('prints its address on 127.0.0.1 and serves only the page, only to local hosts', async () => {
    assert.match(session.stdout, /serving the explainer at http:\/\/127\.0\.0\.1:\d+\//);
    const index = await get(url);
    assert.equal(index.status, 200);
    assert.match(String(index.headers['content-security-policy']), /default-src 'self'/);
    assert.equal((await get(`${url}..%2f..%2fpackage.json`)).status, 404);
    assert.equal((await get(`${url}nope.js`)).status, 404);
    assert.equal((await get(url, { Host: 'attacker.example:80' })).status, 403);
  });

  test('loads with no console errors and fetches nothing from outside the server', async () => {
    const { page, problems } = await open();
    await page.keyboard.press('n');
    await page.evaluate(() => document.fonts.ready);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('typesets the formula with KaTeX and its bundled fonts', async () => {
    const { page, problems } = await open();
    const formulas = await page.locator('[data-testid="formula"] .katex').count();
    assert.ok(formulas >= 2, `expected KaTeX formulas, found ${formulas}`);
    assert.ok((await page.locator('[data-testid="formula"] .katex-mathml').count()) >= 2, 'MathML for screen readers');
    assert.ok((await page.locator('[data-testid="formula"] [data-sym]').count()) >= 7, 'symbols are tagged');
    const fonts = await page.evaluate(async () => {
      await document.fonts.ready;
      return [...document.fonts]
        .filter((f) => f.family.includes('KaTeX') && f.status === 'loaded')
        .map((f) => f.family);
    });
    assert.ok(fonts.includes('KaTeX_Main'), `KaTeX_Main loaded, got ${fonts.join(', ')}`);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('pointing at a formula symbol highlights what it stands for on screen', async () => {
    const { page } = await open();
    await page.hover('.formulas [data-sym="hprev"]');
    assert.equal(await page.getAttribute('html', 'data-hl'), 'hprev');
    assert.ok(
      (await page.locator('.grid [data-link~="hprev"]').count()) >= 1,
      'the previous state is linked in the grid',
    );
    await page.focus('.glossary [data-sym="xin"]');
    assert.equal(await page.getAttribute('html', 'data-hl'), 'xin');
    await page.close();
  });

  test('draws one cell per time step and layer, and redraws live when the controls change', async () => {
    const { page, problems } = await open();
    let ids = [...(await cells(page)).keys()].sort();
    const expect = (L: number, K: number) =>
      Array.from({ length: L * K }, (_, i) => `cell-${Math.floor(i / K)}-${i % K}`).sort();
    assert.deepEqual(ids, expect(4, 3));
    await page.fill('[data-testid="ctl-seqLen"]', '6');
    await page.fill('[data-testid="ctl-numLayers"]', '2');
    ids = [...(await cells(page)).keys()].sort();
    assert.deepEqual(ids, expect(6, 2));
    await page.check('[data-testid="ctl-bidirectional"]');
    ids = [...(await cells(page)).keys()].sort();
    assert.deepEqual(ids, expect(6, 2));
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('stepping with the buttons and the n, p and arrow keys moves the active cell in computation order', async () => {
    const { page } = await open('#L=3&K=2');
    // One direction runs time-outer, layer-inner: every layer advances once per step t.
    assert.equal(await activeCell(page), 'cell-0-0');
    await page.click('[data-testid="step-next"]');
    assert.equal(await activeCell(page), 'cell-0-1');
    await page.keyboard.press('n');
    assert.equal(await activeCell(page), 'cell-1-0');
    await page.keyboard.press('ArrowRight');
    assert.equal(await activeCell(page), 'cell-1-1');
    await page.keyboard.press('p');
    assert.equal(await activeCell(page), 'cell-1-0');
    await page.keyboard.press('ArrowLeft');
    assert.equal(await activeCell(page), 'cell-0-1');
    await page.click('[data-testid="step-last"]');
    assert.equal(await activeCell(page), 'cell-2-1');
    assert.ok(await page.isDisabled('[data-testid="step-next"]'));
    // The inputs of the active cell light up: the cell below and the cell to the left.
    assert.equal(await page.getAttribute('[data-testid="cell-2-0"]', 'data-link'), 'xin hbelow');
    assert.equal(await page.locator('[data-testid="cell-1-1"] .half.from-side').count(), 1);
    await page.close();
  });

  test("shows in every cell the numbers of the library's forward for the same seed", async () => {
    const o = { seed: 5, L: 5, N: 3, I: 2, H: 4, K: 3 };
    const { page, problems } = await open(`#L=${o.L}&N=${o.N}&n=2&I=${o.I}&H=${o.H}&K=${o.K}&seed=${o.seed}`);
    const { rnn, x } = seeded(o);
    const outs = layerOutputs(rnn, x);
    const grid = await cells(page);
    assert.equal(grid.size, o.L * o.K);
    for (let l = 0; l < o.K; l++) {
      for (let t = 0; t < o.L; t++) {
        const cell = grid.get(`cell-${t}-${l}`) as Cell;
        const want = rowOf(outs[l] as Tensor, t, 2);
        assert.ok(maxDiff(cell.values, want) < 1e-12, `cell-${t}-${l}: ${cell.values} vs ${want}`);
        assert.deepEqual(
          cell.chips,
          want.map((v) => shown(v)),
          `cell-${t}-${l} as printed`,
        );
      }
    }
    // The computation panel shows the active cell's result with the same numbers.
    await page.click('[data-testid="cell-3-1"] .half');
    const h = JSON.parse((await page.getAttribute('[data-testid="comp-h"]', 'data-values')) ?? '[]') as number[];
    assert.ok(maxDiff(h, rowOf(outs[1] as Tensor, 3, 2)) < 1e-12);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a bidirectional network shows both directions of every cell, equal to the library', async () => {
    const o = { seed: 2, L: 4, N: 2, I: 3, H: 2, K: 2, bidirectional: true };
    const { page } = await open(`#L=${o.L}&N=${o.N}&I=${o.I}&H=${o.H}&K=${o.K}&bi=1&seed=${o.seed}`);
    const { rnn, x } = seeded(o);
    const outs = layerOutputs(rnn, x);
    const grid = await cells(page);
    assert.equal(grid.size, o.L * o.K);
    for (const [id, cell] of grid) {
      const [, t, l] = id.split('-').map(Number) as [number, number, number];
      assert.ok(maxDiff(cell.values, rowOf(outs[l] as Tensor, t, 0)) < 1e-12, id);
    }
    await page.close();
  });

  test('the split view shows zero difference between the chained single layers and the K-layer RNN', async () => {
    for (const hash of ['', '#K=4&H=5&I=3&seed=9', '#bi=1&f=relu']) {
      const { page } = await open(hash);
      assert.equal(await page.textContent('[data-testid="split-diff"]'), '0', hash);
      assert.equal(await page.textContent('[data-testid="split-hn-diff"]'), '0', hash);
      await page.close();
    }
  });

  test("the mistake panel shows mistakenForward's shape error when input_size differs from hidden_size", async () => {
    const { page, problems } = await open('#I=2&H=3&N=2');
    const text = (await page.textContent('[data-testid="mistake-error"]')) ?? '';
    assert.match(text, /mat1 and mat2 shapes cannot be multiplied \(2x2 and 3x3\)/);
    const { rnn, x } = seeded({ seed: 0, L: 4, N: 2, I: 2, H: 3, K: 3 });
    assert.throws(
      () => mistakenForward(x, rnn.stateDict()),
      (e: unknown) => e instanceof RnnError && text === `RnnError: ${e.message}`,
    );
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('with equal sizes the mistake runs and its wrong numbers are shown beside the right ones', async () => {
    const { page } = await open('#I=2&H=3&N=2');
    await page.click('[data-testid="mistake-equal"]');
    await page.waitForSelector('[data-testid="mistake-diff"]');
    const { rnn, x } = seeded({ seed: 0, L: 4, N: 2, I: 3, H: 3, K: 3 });
    const [wrong] = mistakenForward(x, rnn.stateDict());
    const [right] = rnn.forward(x);
    for (let t = 0; t < 4; t++) {
      const got = JSON.parse((await page.getAttribute(`[data-testid="mistake-wrong-${t}"]`, 'data-values')) ?? '[]');
      assert.ok(maxDiff(got, rowOf(wrong, t, 0)) < 1e-12, `wrong numbers at t = ${t}`);
      const ok = JSON.parse((await page.getAttribute(`[data-testid="mistake-right-${t}"]`, 'data-values')) ?? '[]');
      assert.ok(maxDiff(ok, rowOf(right, t, 0)) < 1e-12, `right numbers at t = ${t}`);
    }
    const diff = Number((await page.textContent('[data-testid="mistake-diff"]'))?.replace('\u2212', '-'));
    assert.ok(diff > 1e-3, `the mistake changes the output, got max diff ${diff}`);
    await page.close();
  });

  test('steps through a dropped safetensors state dict on a typed-in input', async () => {
    const mine = new RNN({ inputSize: 3, hiddenSize: 2, numLayers: 2, seed: 11 }).eval();
    const sd = Object.fromEntries(Object.entries(mine.stateDict()).map(([k, t]) => [`rnn.${k}`, t]));
    const file = join(tmp, 'mine.safetensors');
    writeFileSync(file, writeSafetensors(sd));
    const { page, problems } = await open();
    await page.setInputFiles('[data-testid="weights-file"]', file);
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="weights-status"]')?.textContent?.includes('mine.safetensors'),
    );
    const rows = [
      [0.5, -1, 0.25],
      [1.5, 0, -0.75],
      [-2, 0.125, 1],
    ];
    await page.fill('[data-testid="input-json"]', JSON.stringify(rows));
    await page.click('[data-testid="input-use"]');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="cell-"]').length === 6);
    const x = tensor(rows, undefined, 'float64').reshape([3, 1, 3]);
    const ref = new RNN({ ...mine.options, dtype: 'float64', seed: 0 }).eval();
    ref.loadStateDict(mine.stateDict());
    const outs = layerOutputs(ref, x);
    const grid = await cells(page);
    for (const [id, cell] of grid) {
      const [, t, l] = id.split('-').map(Number) as [number, number, number];
      assert.ok(maxDiff(cell.values, rowOf(outs[l] as Tensor, t, 0)) < 1e-12, id);
    }
    assert.ok(await page.isDisabled('[data-testid="ctl-hiddenSize"]'), 'sizes follow the file');
    assert.equal(await page.inputValue('[data-testid="ctl-hiddenSize"]'), '2');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('reads a torch.save state dict (.pt) too, bidirectional and without biases', async () => {
    const mine = new RNN({
      inputSize: 2,
      hiddenSize: 3,
      numLayers: 2,
      bidirectional: true,
      bias: false,
      seed: 4,
    }).eval();
    const file = join(tmp, 'mine.pt');
    writeFileSync(file, writePtStateDict(mine.stateDict()));
    const { page, problems } = await open('#L=5&N=1');
    await page.setInputFiles('[data-testid="weights-file"]', file);
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="weights-status"]')?.textContent?.includes('mine.pt'),
    );
    // The input is the page's random one (N = 1): read it back from the x row, at full precision.
    const rows: number[][] = [];
    for (let t = 0; t < 5; t++) {
      rows.push(JSON.parse((await page.getAttribute(`[data-testid="x-${t}"] .vec`, 'data-values')) ?? '[]'));
    }
    const input = tensor(rows, undefined, 'float64').reshape([5, 1, 2]);
    const ref = new RNN({ ...mine.options, dtype: 'float64', seed: 0 }).eval();
    ref.loadStateDict(mine.stateDict());
    const outs = layerOutputs(ref, input);
    const grid = await cells(page);
    assert.equal(grid.size, 10);
    for (const [id, cell] of grid) {
      const [, t, l] = id.split('-').map(Number) as [number, number, number];
      assert.ok(maxDiff(cell.values, rowOf(outs[l] as Tensor, t, 0)) < 1e-12, id);
    }
    assert.ok(await page.isChecked('[data-testid="ctl-bidirectional"]'));
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('loads a checkpoint dict (.pt) with no key to type, and says which state dict and prefix it took', async () => {
    const { page, problems } = await open();
    await page.setInputFiles('[data-testid="weights-file"]', join(FIXTURES_PT, 'ddp.pt'));
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="weights-status"]')?.textContent?.includes('ddp.pt'),
    );
    const status = (await page.textContent('[data-testid="weights-status"]')) ?? '';
    assert.match(
      status,
      /^Using ddp\.pt \(state dict 'model_state_dict', under 'module\.rnn\.'\): an nn\.RNN, 2 layer\(s\), input_size 3, hidden_size 4/,
    );
    assert.doesNotMatch(status, /options\.key/);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a file with several state dicts, then several RNNs, asks with a button for each, and loads the choice', async () => {
    const { page, problems } = await open();
    await page.setInputFiles('[data-testid="weights-file"]', join(FIXTURES_PT, 'two-models.pt'));
    await page.waitForSelector('[data-testid="weights-choice-1"]');
    assert.equal(
      await page.textContent('[data-testid="weights-status"]'),
      'two-models.pt holds 2 state dicts: which one?',
    );
    assert.equal(await page.textContent('[data-testid="weights-choice-0"]'), "the state dict 'generator'");
    await page.click('[data-testid="weights-choice-0"]');
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="weights-status"]')?.textContent?.includes('2 RNNs'),
    );
    assert.equal(await page.textContent('[data-testid="weights-choice-1"]'), "the RNN at 'decoder.'");
    await page.click('[data-testid="weights-choice-1"]');
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="weights-status"]')?.textContent?.startsWith('Using two-models.pt'),
    );
    assert.match(
      (await page.textContent('[data-testid="weights-status"]')) ?? '',
      /\(state dict 'generator', under 'decoder\.'\): an nn\.RNN, 1 layer\(s\), input_size 4, hidden_size 4/,
    );
    assert.ok(await page.isHidden('[data-testid="weights-choices"]'), 'the buttons go once the choice is made');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('reports a file that is not an RNN state dict without breaking the page', async () => {
    const file = join(tmp, 'other.safetensors');
    writeFileSync(file, writeSafetensors({ 'fc.weight': tensor([[1, 2]]) }));
    const { page, problems } = await open();
    await page.setInputFiles('[data-testid="weights-file"]', file);
    await page.waitForSelector('[data-testid="weights-status"].error');
    assert.match(
      (await page.textContent('[data-testid="weights-status"]')) ?? '',
      /not an nn\.RNN, nn\.LSTM or nn\.GRU state dict/,
    );
    assert.equal((await cells(page)).size, 12, 'the random network is still shown');
    assert.deepEqual(problems, []);
    await page.close();
  });
});
