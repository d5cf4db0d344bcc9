/**
 * The explainer page end to end for every cell (nn.RNN, nn.LSTM, nn.GRU), in Chromium: one cell per (t, l) with
 * h (and c), every number equal to the library's float64 forward, every gate's pre-activation and value, the
 * split difference 0, the mistake's real error, the PyTorch snippet against real PyTorch, LSTM and GRU files, and
 * what learners met on the RNN page (the glossary's names, the width at 1280 px, clipped row labels, colours
 * without numbers, settings clamped without a word).
 *
 * STACKED_RNN_SCREENSHOT=1 also saves docs/explainer.png and, for looking at, each cell at 1280 x 900 and
 * 1920 x 1080 in dist/screenshots/.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import {
  type CellKind,
  Generator,
  mistakenForward,
  RnnError,
  randn,
  recurrentForward,
  Tensor,
  type TraceStep,
} from '../src/index.js';
import { writePtStateDict } from '../src/io/pt/index.js';
import { writeSafetensors } from '../src/io/safetensors.js';
import { moduleFor, type RecurrentModule } from '../src/rnn/from-architecture.js';
import {
  BROWSER_SKIP,
  type ExplainSession,
  maxDiff,
  ROOT,
  shown,
  startSession,
  valuesOf,
} from './helpers/explain-page.js';
import { PYTHON, torchSkip } from './helpers/torch.js';

interface Case {
  cell: CellKind;
  seed: number;
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  P?: number;
  bidirectional?: boolean;
}

const CELLS: readonly CellKind[] = ['RNN', 'LSTM', 'GRU'];

function hashOf(c: Case, n = 0): string {
  const parts = [`cell=${c.cell.toLowerCase()}`, `L=${c.L}`, `N=${c.N}`, `n=${n}`, `I=${c.I}`, `H=${c.H}`, `K=${c.K}`];
  if (c.P) parts.push(`P=${c.P}`);
  if (c.bidirectional) parts.push('bi=1');
  return `#${parts.join('&')}&seed=${c.seed}`;
}

/** The page's random recipe: one PyTorch-compatible generator for the weights, then x, in float64. */
function seeded(c: Case): { module: RecurrentModule; x: Tensor } {
  const g = new Generator(c.seed);
  const arch = {
    cell: c.cell,
    inputSize: c.I,
    hiddenSize: c.H,
    numLayers: c.K,
    bidirectional: c.bidirectional ?? false,
    bias: true,
    projSize: c.P ?? 0,
  };
  const module = moduleFor(arch, { dtype: 'float64', seed: g }).eval();
  const x = randn([c.L, c.N, c.I], { generator: g, dtype: 'float64' });
  return { module, x };
}

/** `[output, [h_n, (c_n)]]` whatever the module. */
function run(m: RecurrentModule, x: Tensor): [Tensor, Tensor[]] {
  const [output, states] = m.forward(x);
  return [output, Array.isArray(states) ? [...states] : [states]];
}

/** The first `layers` layers of `m`, with its weights: an independent module whose output is layer layers-1's. */
function firstLayers(m: RecurrentModule, layers: number): RecurrentModule {
  const sub = moduleFor({ ...m.architecture, numLayers: layers }, { dtype: 'float64' }).eval();
  sub.loadStateDict(
    Object.fromEntries(Object.entries(m.stateDict()).filter(([k]) => Number(/_l(\d+)/.exec(k)?.[1]) < layers)),
  );
  return sub;
}

function rowOf(t: Tensor, step: number, n: number): number[] {
  const [, N, F] = t.shape as [number, number, number];
  return Array.from(t.data.subarray((step * N + n) * F, (step * N + n + 1) * F));
}

/** x[:steps], (steps, N, I). */
function prefix(x: Tensor, steps: number): Tensor {
  const [, N, I] = x.shape as [number, number, number];
  return new Tensor(x.data.slice(0, steps * N * I), [steps, N, I]);
}

interface GridCell {
  id: string;
  h: number[];
  c: number[] | null;
  chips: string[];
}

async function gridCells(page: Page): Promise<Map<string, GridCell>> {
  const list = await page.$$eval('[data-testid^="cell-"]', (els) =>
    els.map((e) => {
      const d = (e as HTMLElement).dataset;
      return {
        id: d.testid ?? '',
        h: JSON.parse(d.values ?? '[]') as number[],
        c: d.c ? (JSON.parse(d.c) as number[]) : null,
        chips: Array.from(e.querySelectorAll('.chip')).map((c) => c.textContent ?? ''),
      };
    }),
  );
  return new Map(list.map((c) => [c.id, c]));
}

/** Every number of the step panel, by test id. */
async function panelValues(page: Page): Promise<Map<string, number[]>> {
  const list = await page.$$eval('[data-testid="computation"] [data-testid][data-values]', (els) =>
    els.map((e) => [(e as HTMLElement).dataset.testid ?? '', JSON.parse((e as HTMLElement).dataset.values ?? '[]')]),
  );
  return new Map(list as [string, number[]][]);
}

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const close = (a: number[], b: number[], what: string, tol = 1e-12) =>
  assert.ok(maxDiff(a, b) < tol, `${what}: ${a} vs ${b}`);

/** Runs Python code with torch; returns its stdout. */
function python(code: string): string {
  const r = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${PYTHON} failed:\n${r.stderr}`);
  return r.stdout;
}

describe('the explainer for nn.RNN, nn.LSTM and nn.GRU, in Chromium', { skip: BROWSER_SKIP }, () => {
  let session: ExplainSession;
  const tmp = mkdtempSync(join(tmpdir(), 'stacked-rnn-explain-cells-'));

  before(async () => {
    session = await startSession();
  });

  after(async () => {
    await session?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  for (const cell of CELLS) {
    test(`${cell}: one cell per (t, l) holding h${cell === 'LSTM' ? ' and c' : ''}, equal to the module's forward, and no console errors`, async () => {
      const c: Case = { cell, seed: 5, L: 5, N: 3, I: 2, H: 4, K: 3 };
      const { page, problems } = await session.open(hashOf(c, 2));
      const { module, x } = seeded(c);
      const grid = await gridCells(page);
      assert.deepEqual(
        [...grid.keys()].sort(),
        Array.from({ length: c.L * c.K }, (_, i) => `cell-${Math.floor(i / c.K)}-${i % c.K}`).sort(),
      );
      for (let l = 0; l < c.K; l++) {
        const sub = firstLayers(module, l + 1);
        const [out] = run(sub, x);
        for (let t = 0; t < c.L; t++) {
          const got = grid.get(`cell-${t}-${l}`) as GridCell;
          const h = rowOf(out, t, 2);
          close(got.h, h, `h at cell-${t}-${l}`);
          // c_t^l is the final c of layer l after t + 1 steps.
          const cN = cell === 'LSTM' ? (run(sub, prefix(x, t + 1))[1][1] as Tensor) : null;
          const cWant = cN ? Array.from(cN.data.subarray((l * c.N + 2) * c.H, (l * c.N + 3) * c.H)) : null;
          if (cWant) close(got.c ?? [], cWant, `c at cell-${t}-${l}`);
          else assert.equal(got.c, null, `only the LSTM has c (cell-${t}-${l})`);
          assert.deepEqual(
            got.chips,
            [...h, ...(cWant ?? [])].map((v) => shown(v)),
            `cell-${t}-${l} as printed`,
          );
        }
      }
      const [output] = run(module, x);
      for (let t = 0; t < c.L; t++)
        close(await valuesOf(page, `[data-testid="out-${t}"]`), rowOf(output, t, 2), `out-${t}`);
      await page.keyboard.press('End');
      await page.evaluate(() => document.fonts.ready);
      assert.deepEqual(problems, []);
      await page.close();
    });
  }

  for (const c of [
    { cell: 'LSTM', seed: 3, L: 3, N: 2, I: 3, H: 3, K: 2 },
    { cell: 'LSTM', seed: 4, L: 3, N: 1, I: 2, H: 4, K: 2, P: 2, bidirectional: true },
    { cell: 'GRU', seed: 3, L: 3, N: 2, I: 3, H: 3, K: 2 },
    { cell: 'GRU', seed: 6, L: 3, N: 1, I: 2, H: 2, K: 2, bidirectional: true },
    { cell: 'RNN', seed: 1, L: 3, N: 2, I: 2, H: 3, K: 2 },
  ] satisfies Case[]) {
    const what = `${c.cell}${c.P ? ` with proj_size ${c.P}` : ''}${c.bidirectional ? ', bidirectional' : ''}`;
    test(`${what}: the step panel shows each gate's pre-activation and value, equal to recurrentForward's trace`, async () => {
      const n = c.N - 1;
      const { page, problems } = await session.open(hashOf(c, n));
      const { module, x } = seeded(c);
      const steps: TraceStep[] = [];
      recurrentForward(x, module.stateDict(), { trace: (e) => e.kind === 'layer' && steps.push(e) });
      const gates = c.cell === 'LSTM' ? ['i', 'f', 'g', 'o'] : c.cell === 'GRU' ? ['r', 'z', 'n'] : [];
      for (const [i, s] of steps.entries()) {
        if (i > 0) await page.keyboard.press('n');
        assert.equal(await page.getAttribute('[data-testid="computation"]', 'data-step'), String(i));
        const got = await panelValues(page);
        const want = new Map<string, number[]>([
          ['comp-input', s.input[n] as number[]],
          ['comp-hprev', s.hPrev[n] as number[]],
          ['comp-h', s.h[n] as number[]],
        ]);
        if (s.cPrev && s.c) want.set('comp-cprev', s.cPrev[n] as number[]).set('comp-c', s.c[n] as number[]);
        for (const g of s.gates)
          want.set(`gate-${g.name}-pre`, g.pre[n] as number[]).set(`gate-${g.name}-value`, g.value[n] as number[]);
        if (c.cell === 'RNN') {
          want.set('comp-ih', s.inputPart[n] as number[]).set('comp-hh', s.hiddenPart[n] as number[]);
        }
        for (const [id, values] of want) close(got.get(id) ?? [], values, `step ${i}: ${id}`);
        for (const g of gates)
          assert.ok(got.has(`gate-${g}-pre`) && got.has(`gate-${g}-value`), `step ${i}: gate ${g}`);
        // The shown numbers obey the cell's formulas, whatever computed them.
        const v = (id: string) => got.get(id) as number[];
        for (const g of gates) {
          const act = g === 'g' || g === 'n' ? Math.tanh : sigmoid;
          close(v(`gate-${g}-value`), v(`gate-${g}-pre`).map(act), `step ${i}: ${g} = act(pre)`, 1e-15);
        }
        if (c.cell === 'LSTM') {
          const [ig, fg, gg] = [v('gate-i-value'), v('gate-f-value'), v('gate-g-value')];
          const cNew = fg.map((f, j) => f * (v('comp-cprev')[j] as number) + (ig[j] as number) * (gg[j] as number));
          close(v('comp-c'), cNew, `step ${i}: c = f * c_prev + i * g`, 1e-15);
          if (!c.P)
            close(
              v('comp-h'),
              v('gate-o-value').map((o, j) => o * Math.tanh(cNew[j] as number)),
              `step ${i}: h`,
              1e-15,
            );
        }
        if (c.cell === 'GRU') {
          const z = v('gate-z-value');
          const h = v('gate-n-value').map(
            (nv, j) => (1 - (z[j] as number)) * nv + (z[j] as number) * (v('comp-hprev')[j] as number),
          );
          close(v('comp-h'), h, `step ${i}: h = (1 - z) n + z h_prev`, 1e-15);
        }
      }
      assert.deepEqual(problems, []);
      await page.close();
    });
  }

  test('K layers are K single-layer modules for every cell: the split view shows a difference of exactly 0', async () => {
    for (const hash of [
      '#cell=lstm',
      '#cell=lstm&K=4&H=5&P=3&bi=1&seed=9',
      '#cell=gru',
      '#cell=gru&K=4&I=3&bi=1&seed=2',
    ]) {
      const { page, problems } = await session.open(hash);
      const lstm = hash.includes('lstm');
      assert.equal(await page.textContent('[data-testid="split-diff"]'), '0', hash);
      assert.equal(await page.textContent('[data-testid="split-hn-diff"]'), '0', hash);
      assert.equal(await page.locator('[data-testid="split-cn-diff"]').count(), lstm ? 1 : 0, hash);
      if (lstm) assert.equal(await page.textContent('[data-testid="split-cn-diff"]'), '0', hash);
      const name = lstm ? 'nn.LSTM' : 'nn.GRU';
      assert.match(
        (await page.textContent('[data-testid="split-part-1"] .chain-code')) ?? '',
        new RegExp(`^${name}\\(`),
      );
      assert.deepEqual(problems, []);
      await page.close();
    }
  });

  for (const cell of ['LSTM', 'GRU'] as const) {
    test(`${cell}: the classic mistake (x_t fed to every layer) runs for real, with its real error and its real numbers`, async () => {
      const base: Case = { cell, seed: 0, L: 4, N: 2, I: 2, H: 3, K: 3 };
      const { page, problems } = await session.open(hashOf(base));
      const text = (await page.textContent('[data-testid="mistake-error"]')) ?? '';
      const G = cell === 'LSTM' ? 4 : 3;
      assert.match(text, new RegExp(`mat1 and mat2 shapes cannot be multiplied \\(2x2 and 3x${G * 3}\\)`));
      assert.throws(
        () => mistakenForward(seeded(base).x, seeded(base).module.stateDict()),
        (e: unknown) => e instanceof RnnError && text === `RnnError: ${e.message}`,
      );
      await page.click('[data-testid="mistake-equal"]');
      await page.waitForSelector('[data-testid="mistake-diff"]');
      const { module, x } = seeded({ ...base, I: 3 });
      const [wrong] = mistakenForward(x, module.stateDict());
      const [right] = run(module, x);
      for (let t = 0; t < base.L; t++) {
        close(await valuesOf(page, `[data-testid="mistake-wrong-${t}"]`), rowOf(wrong, t, 0), `wrong at t = ${t}`);
        close(await valuesOf(page, `[data-testid="mistake-right-${t}"]`), rowOf(right, t, 0), `right at t = ${t}`);
      }
      const diff = Number((await page.textContent('[data-testid="mistake-diff"]'))?.replace('\u2212', '-'));
      assert.ok(diff > 1e-3, `the mistake changes the output, got max diff ${diff}`);
      assert.match(
        (await page.textContent('.mistake-code')) ?? '',
        cell === 'LSTM' ? /chunk\(4, 1\)/ : /chunk\(3, 1\)/,
      );
      assert.deepEqual(problems, []);
      await page.close();
    });
  }

  test('the cell lives in the URL hash beside the other settings, and a link reproduces the view', async () => {
    const { page, problems } = await session.open('#L=3&K=2');
    assert.equal(await page.inputValue('[data-testid="ctl-cell"]'), 'RNN', 'the default stays the RNN');
    assert.ok(!(await page.evaluate(() => location.hash)).includes('cell='));
    await page.selectOption('[data-testid="ctl-cell"]', 'LSTM');
    await page.fill('[data-testid="ctl-projSize"]', '2');
    const hash = await page.evaluate(() => location.hash);
    assert.match(hash, /cell=lstm/);
    assert.match(hash, /P=2/);
    const values = await valuesOf(page, '[data-testid="out-2"]');
    assert.match(
      (await page.textContent('[data-testid="torch-code"]')) ?? '',
      /nn\.LSTM\(2, 3, proj_size=2, num_layers=2,/,
    );
    const again = await session.open(hash);
    assert.equal(await again.page.inputValue('[data-testid="ctl-cell"]'), 'LSTM');
    assert.deepEqual(await valuesOf(again.page, '[data-testid="out-2"]'), values);
    assert.equal(values.length, 2, 'h is proj_size wide');
    assert.ok(await again.page.isHidden('[data-testid="ctl-nonlinearity"]'), 'f is the RNN\u2019s option');
    await again.page.selectOption('[data-testid="ctl-cell"]', 'GRU');
    assert.match(await again.page.evaluate(() => location.hash), /cell=gru/);
    assert.ok(await again.page.isHidden('[data-testid="ctl-projSize"]'), 'proj_size is the LSTM\u2019s option');
    assert.deepEqual([...problems, ...again.problems], []);
    await page.close();
    await again.page.close();
  });

  test("the PyTorch snippet under the settings gives exactly the page's numbers, for every cell and a few seeds", {
    skip: torchSkip(),
  }, async () => {
    const cases: Case[] = [
      ...CELLS.flatMap((cell) => [0, 7].map((seed) => ({ cell, seed, L: 4, N: 2, I: 2, H: 3, K: 3 }))),
      { cell: 'LSTM', seed: 11, L: 3, N: 2, I: 3, H: 4, K: 2, P: 2, bidirectional: true },
      { cell: 'GRU', seed: 12, L: 3, N: 3, I: 1, H: 2, K: 2, bidirectional: true },
    ];
    const shownRow = 1;
    const snippets: string[] = [];
    const pageOutputs: number[][][] = [];
    for (const c of cases) {
      const { page, problems } = await session.open(hashOf(c, shownRow));
      snippets.push((await page.textContent('[data-testid="torch-code"]')) ?? '');
      const columns: number[][] = [];
      for (let t = 0; t < c.L; t++) columns.push(await valuesOf(page, `[data-testid="out-${t}"]`));
      pageOutputs.push(columns);
      assert.deepEqual(problems, []);
      await page.close();
    }
    // Each snippet runs as written, in its own namespace; output[:, row] is what the page's output columns show.
    const program = [
      'import json, torch',
      'from torch import nn',
      `for code in ${JSON.stringify(snippets)}:`,
      "    ns = {'torch': torch, 'nn': nn}",
      '    exec(code, ns)',
      `    print(json.dumps(ns['output'][:, ${shownRow}].tolist()))`,
    ].join('\n');
    const lines = python(program).trim().split('\n');
    assert.equal(lines.length, cases.length);
    cases.forEach((c, k) => {
      const torch = JSON.parse(lines[k] as string) as number[][];
      assert.match(snippets[k] as string, new RegExp(`nn\\.${c.cell}\\(`));
      assert.match(
        snippets[k] as string,
        c.cell === 'LSTM' ? /output, \(h_n, c_n\) = rnn\(x\)$/ : /output, h_n = rnn\(x\)$/,
      );
      torch.forEach((col, t) => close(pageOutputs[k]?.[t] ?? [], col, `${snippets[k]}: output[${t}, ${shownRow}]`));
    });
  });

  test('an LSTM (proj_size, inside a bigger model, .pt) and a GRU (.safetensors) dropped on the page are shown', async () => {
    const lstm = moduleFor(
      { cell: 'LSTM', inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: false, bias: true, projSize: 2 },
      { seed: 21 },
    );
    const gru = moduleFor(
      { cell: 'GRU', inputSize: 2, hiddenSize: 3, numLayers: 2, bidirectional: true, bias: false, projSize: 0 },
      { seed: 22 },
    );
    const model = {
      ...Object.fromEntries(Object.entries(lstm.stateDict()).map(([k, t]) => [`encoder.lstm.${k}`, t])),
      'head.weight': new Tensor(new Float32Array(10), [5, 2]),
    };
    const files: [string, Uint8Array, RecurrentModule, string][] = [
      ['model.pt', writePtStateDict(model), lstm, 'LSTM'],
      ['gru.safetensors', writeSafetensors(gru.stateDict()), gru, 'GRU'],
    ];
    for (const [name, bytes, mine, cell] of files) {
      const file = join(tmp, name);
      writeFileSync(file, bytes);
      const { page, problems } = await session.open('#L=4&N=1');
      await page.setInputFiles('[data-testid="weights-file"]', file);
      await page.waitForFunction(
        (n) => document.querySelector('[data-testid="weights-status"]')?.textContent?.includes(n),
        name,
      );
      const status = (await page.textContent('[data-testid="weights-status"]')) ?? '';
      assert.match(status, new RegExp(`nn\\.${cell}`));
      assert.equal(await page.inputValue('[data-testid="ctl-cell"]'), cell);
      assert.ok(await page.isDisabled('[data-testid="ctl-cell"]'), 'the cell follows the file');
      const rows: number[][] = [];
      for (let t = 0; t < 4; t++) rows.push(await valuesOf(page, `[data-testid="x-${t}"] .vec`));
      const x = new Tensor(Float64Array.from(rows.flat()), [4, 1, mine.inputSize]);
      const ref = moduleFor(mine.architecture, { dtype: 'float64' }).eval();
      ref.loadStateDict(mine.stateDict());
      const grid = await gridCells(page);
      assert.equal(grid.size, 8);
      for (let l = 0; l < 2; l++) {
        const [out] = run(firstLayers(ref, l + 1), x);
        for (let t = 0; t < 4; t++)
          close((grid.get(`cell-${t}-${l}`) as GridCell).h, rowOf(out, t, 0), `${name} cell-${t}-${l}`);
      }
      assert.deepEqual(problems, []);
      await page.close();
    }
  });

  test('the glossary names every layer\u2019s parameters, never a literal {l}', async () => {
    for (const hash of ['', '#cell=lstm&P=2', '#cell=gru&K=1']) {
      const { page } = await session.open(hash);
      const text = (await page.textContent('#glossary')) ?? '';
      assert.ok(!text.includes('{l}'), `${hash}: ${text}`);
      // Every layer is named: l0 to the last one, K = 3 by default.
      assert.match(text, /weight_ih_l0/);
      assert.match(text, /weight_hh_l0/);
      if (hash.includes('K=1')) assert.ok(!text.includes('weight_ih_l1'), hash);
      else assert.match(text, /weight_ih_l2/);
      if (hash.includes('P=2')) assert.match(text, /weight_hr_l0/);
      await page.close();
    }
  });

  test('at 1280 x 900 every column of the default grid is in view, for every cell', async () => {
    for (const cell of CELLS) {
      const { page } = await session.open(`#cell=${cell.toLowerCase()}`, { width: 1280, height: 900 });
      await page.evaluate(() => document.fonts.ready);
      const box = await page.locator('.grid-scroll').boundingBox();
      assert.ok(box);
      for (let t = 0; t < 4; t++) {
        const cellBox = await page.locator(`[data-testid="cell-${t}-0"]`).boundingBox();
        assert.ok(cellBox && cellBox.x + cellBox.width <= box.x + box.width, `${cell}: the t = ${t} column is cut`);
      }
      await page.close();
    }
  });

  test('with L = 12 and K = 5 the row labels stay whole and in view while the grid scrolls to the last step', async () => {
    // Tall enough that every row is on screen: the question is what the sideways scroll does to the labels.
    const { page } = await session.open('#L=12&K=5', { width: 1280, height: 1400 });
    await page.keyboard.press('End');
    await page.evaluate(() => document.fonts.ready);
    assert.ok((await page.locator('.grid-scroll').evaluate((e) => e.scrollLeft)) > 0, 'the grid scrolled');
    const box = await page.locator('.grid-scroll').boundingBox();
    assert.ok(box);
    const heads = page.locator('.row-head');
    assert.equal(await heads.count(), 7, 'output, 5 layers, input');
    for (let i = 0; i < 7; i++) {
      const head = heads.nth(i);
      const r = await head.boundingBox();
      assert.ok(r && r.x >= box.x && r.x + r.width <= box.x + box.width, `row label ${i} is clipped`);
      // Whole: nothing in front of it at its left edge (a cell scrolled under it stays behind).
      const onTop = await head.evaluate((e) => {
        const b = e.getBoundingClientRect();
        const hit = document.elementFromPoint(b.left + 4, b.top + b.height / 2);
        return hit === e || e.contains(hit);
      });
      assert.ok(onTop, `row label ${i} is covered`);
    }
    await page.close();
  });

  test('a state drawn as colours (H = 16, from a file) shows its numbers when pointed at or tabbed to', async () => {
    const big = moduleFor(
      { cell: 'GRU', inputSize: 2, hiddenSize: 16, numLayers: 1, bidirectional: false, bias: true, projSize: 0 },
      { seed: 5 },
    );
    const file = join(tmp, 'wide.safetensors');
    writeFileSync(file, writeSafetensors(big.stateDict()));
    const { page, problems } = await session.open();
    await page.setInputFiles('[data-testid="weights-file"]', file);
    await page.waitForSelector('[data-testid="cell-0-0"] .vec.compact');
    const want = JSON.parse((await page.getAttribute('[data-testid="cell-2-0"]', 'data-values')) ?? '[]') as number[];
    assert.equal(want.length, 16);
    await page.hover('[data-testid="cell-2-0"] .vec.compact');
    const readout = page.locator('[data-testid="readout"]');
    assert.ok(await readout.isVisible());
    const items = await readout.locator('li').allTextContents();
    assert.deepEqual(
      items,
      want.map((v, j) => `${j}${shown(v, 4)}`),
    );
    await page.mouse.move(0, 0);
    assert.ok(await readout.isHidden());
    await page.focus('[data-testid="cell-1-0"] .vec.compact');
    assert.ok(await readout.isVisible(), 'the keyboard reaches the numbers too');
    // Back to random weights, the file's H = 16 is more than the controls take: brought to 8, and said.
    await page.click('[data-testid="weights-reset"]');
    assert.equal(await page.inputValue('[data-testid="ctl-hiddenSize"]'), '8');
    assert.match(
      (await page.textContent('[data-testid="settings-note"]')) ?? '',
      /H \(hidden_size\) = 16 is out of range .*using 8/,
    );
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('settings out of range are brought into range with a note that says so', async () => {
    const cases: [string, RegExp, string, string][] = [
      ['#H=0', /H \(hidden_size\) = 0 is out of range .*using 1/, 'hiddenSize', '1'],
      ['#H=500', /H \(hidden_size\) = 500 is out of range .*using 8/, 'hiddenSize', '8'],
      ['#cell=lstm&H=3&P=3', /proj_size must be smaller than hidden_size/, 'projSize', '2'],
      ['#L=abc', /L \(sequence length\) = 'abc' is not a whole number: kept 4/, 'seqLen', '4'],
    ];
    for (const [hash, note, key, value] of cases) {
      const { page, problems } = await session.open(hash);
      assert.ok(await page.isVisible('[data-testid="settings-note"]'), `${hash}: the note is on screen`);
      assert.match((await page.textContent('[data-testid="settings-note"]')) ?? '', note, hash);
      assert.equal(await page.inputValue(`[data-testid="ctl-${key}"]`), value, hash);
      assert.deepEqual(problems, []);
      await page.close();
    }
    const { page } = await session.open();
    assert.ok(await page.isHidden('[data-testid="settings-note"]'), 'no note when nothing was changed');
    await page.fill('[data-testid="ctl-hiddenSize"]', '500');
    await page.press('[data-testid="ctl-hiddenSize"]', 'Tab');
    assert.ok(await page.isVisible('[data-testid="settings-note"]'));
    assert.match((await page.textContent('[data-testid="settings-note"]')) ?? '', /500 is out of range .*using 8/);
    assert.equal(await page.inputValue('[data-testid="ctl-hiddenSize"]'), '8');
    await page.fill('[data-testid="ctl-numLayers"]', '2');
    assert.ok(await page.isHidden('[data-testid="settings-note"]'), 'the note goes with the next change');
    await page.close();
  });

  test('saves screenshots: docs/explainer.png, and each cell at 1280 x 900 and 1920 x 1080', {
    skip: process.env.STACKED_RNN_SCREENSHOT !== '1',
  }, async () => {
    const dir = join(ROOT, 'dist/screenshots');
    mkdirSync(dir, { recursive: true });
    const shots: [string, string, { width: number; height: number }][] = [
      ['', join(ROOT, 'docs/explainer.png'), { width: 1440, height: 900 }],
    ];
    for (const cell of CELLS) {
      for (const size of [
        { width: 1280, height: 900 },
        { width: 1920, height: 1080 },
      ]) {
        shots.push([`#cell=${cell.toLowerCase()}`, join(dir, `${cell.toLowerCase()}-${size.width}.png`), size]);
      }
    }
    for (const [hash, path, size] of shots) {
      const { page } = await session.open(hash, size);
      for (let i = 0; i < 4; i++) await page.keyboard.press('n');
      await page.evaluate(() => document.fonts.ready);
      await page.screenshot({ path });
      await page.close();
    }
  });
});
