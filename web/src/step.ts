/**
 * The computation of the active cell with its actual numbers, straight from `rnnForward`'s trace event:
 * the layer's input, its previous state, the two affine parts, their sum and the nonlinearity.
 */
import type { TraceStep } from '../../src/index.js';
import { el } from './dom.js';
import { fTex, type Sym, sym, tex } from './formula.js';
import type { Run } from './model.js';
import { fmt, scaleOf, vector } from './vector.js';

/** `h_{t}^{(l)}` for a concrete t and l, with the reverse arrow for direction 1. */
function hTex(t: number | string, l: number | string, d: number): string {
  return d === 1 ? `\\overleftarrow{h}_{${t}}^{(${l})}` : `h_{${t}}^{(${l})}`;
}

function matrix(rows: number[][]): string {
  const body = rows.map((r) => r.map((v) => fmt(v, 3).replace('\u2212', '-')).join(' & ')).join(' \\\\ ');
  return `\\begin{bmatrix} ${body} \\end{bmatrix}`;
}

/** Rows of `w` (O, C) transposed: (C, O), as the formula writes W^T. */
function transposed(w: ArrayLike<number>, O: number, C: number): number[][] {
  return Array.from({ length: C }, (_, c) => Array.from({ length: O }, (_, o) => w[o * C + c] as number));
}

/** One affine part written out: `[v] [W^T] + [b] = [out]`, with the actual numbers. */
function product(
  label: string,
  v: number[],
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  out: number[],
  H: number,
  syms: [Sym, Sym],
): HTMLElement {
  const C = v.length;
  const bias = b ? ` + ${sym(syms[1], matrix([Array.from(b)]))}` : '';
  return el(
    'div',
    { class: 'product' },
    el('div', { class: 'product-label' }, tex(label)),
    el(
      'div',
      { class: 'product-tex' },
      tex(`${matrix([v])}\\; ${sym(syms[0], matrix(transposed(w, H, C)))}${bias} = ${matrix([out])}`, true),
    ),
  );
}

/** Matrices up to this many rows or columns are printed in full. */
const MAX_PRINTED = 12;

/** The active step's two matrix products with every number, for the space under the grid. */
export function productsPanel(run: Run, i: number): HTMLDetailsElement {
  const s = run.steps[i] as TraceStep;
  const { layer: l, direction: d } = s;
  const n = run.settings.element;
  const H = run.H;
  const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
  const input = s.input[n] as number[];
  const w = run.weights;
  const body =
    H > MAX_PRINTED || input.length > MAX_PRINTED
      ? [el('p', { class: 'muted' }, `The matrices are ${H} \u00d7 ${input.length}: too big to print here.`)]
      : [
          product(
            `x_t^{(${l})}\\,W_{ih}^{(${l})\\top} + b_{ih}^{(${l})}`,
            input,
            w[`weight_ih_${suffix}`]?.data ?? [],
            w[`bias_ih_${suffix}`]?.data,
            s.inputPart[n] as number[],
            H,
            ['wih', 'bih'],
          ),
          product(
            `h_{${d === 0 ? 't-1' : 't+1'}}^{(${l})}\\,W_{hh}^{(${l})\\top} + b_{hh}^{(${l})}`,
            s.hPrev[n] as number[],
            w[`weight_hh_${suffix}`]?.data ?? [],
            w[`bias_hh_${suffix}`]?.data,
            s.hiddenPart[n] as number[],
            H,
            ['whh', 'bhh'],
          ),
        ];
  return el(
    'details',
    { class: 'products', open: true, 'data-testid': 'products' },
    el('summary', {}, `The two matrix products of this step, with weight_ih_${suffix} and weight_hh_${suffix}`),
    ...body,
  );
}

/** What a screen reader announces when the step changes. */
export function stepSummary(run: Run, i: number): string {
  const s = run.steps[i] as TraceStep;
  const h = s.h[run.settings.element] as number[];
  const dir = run.D === 2 ? (s.direction === 0 ? ', forward' : ', reverse') : '';
  return `Step ${i + 1} of ${run.steps.length}: layer ${s.layer}, t = ${s.t}${dir}. h = ${h.map((v) => fmt(v, 4)).join(', ')}`;
}

export function stepPanel(run: Run, i: number): HTMLElement {
  const s = run.steps[i] as TraceStep;
  const { t, layer: l, direction: d } = s;
  const n = run.settings.element;
  const { H, D, L } = run;
  const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
  const f = run.settings.nonlinearity;
  const scale = f === 'tanh' ? 1 : scaleOf(run.states);
  const input = s.input[n] as number[];
  const hPrev = s.hPrev[n] as number[];
  const ih = s.inputPart[n] as number[];
  const hh = s.hiddenPart[n] as number[];
  const sum = ih.map((v, j) => v + (hh[j] as number));
  const h = s.h[n] as number[];
  const prevT = d === 0 ? t - 1 : t + 1;
  const atEdge = d === 0 ? t === 0 : t === L - 1;
  const inputScale = l === 0 ? scaleOf([run.x.data]) : scale;

  const rows: [string, string, HTMLElement][] = [
    [
      `${sym('xin', `x_{${t}}^{(${l})}`)} = ${l === 0 ? sym('x0', `x_{${t}}`) : sym('hbelow', D === 2 ? `[\\overrightarrow{h}_{${t}}^{(${l - 1})};\\overleftarrow{h}_{${t}}^{(${l - 1})}]` : `h_{${t}}^{(${l - 1})}`)}`,
      l === 0 ? 'from below: the input at this step' : `from below: layer ${l - 1} at the same step, not x_${t}`,
      vector(input, {
        compactAbove: 16,
        digits: 4,
        scale: inputScale,
        testid: 'comp-input',
        link: 'xin',
        label: 'layer input',
      }),
    ],
    [
      `${sym('hprev', hTex(d === 0 ? 't-1' : 't+1', l, d))} = ${atEdge ? 'h_0' : hTex(prevT, l, d)}`,
      atEdge
        ? 'the initial state: zeros'
        : `from the ${d === 0 ? 'left' : 'right'}: this layer one step ${d === 0 ? 'earlier' : 'later'}`,
      vector(hPrev, {
        compactAbove: 16,
        digits: 4,
        scale,
        testid: 'comp-hprev',
        link: 'hprev',
        label: 'previous state',
      }),
    ],
    [
      `x\\,${sym('wih', `W_{ih}^{(${l})\\top}`)} + ${sym('bih', `b_{ih}^{(${l})}`)}`,
      `weight_ih_${suffix} (${H}, ${input.length})`,
      vector(ih, { compactAbove: 16, digits: 4, scale, testid: 'comp-ih', link: 'wih bih', label: 'input part' }),
    ],
    [
      `h\\,${sym('whh', `W_{hh}^{(${l})\\top}`)} + ${sym('bhh', `b_{hh}^{(${l})}`)}`,
      `weight_hh_${suffix} (${H}, ${H})`,
      vector(hh, { compactAbove: 16, digits: 4, scale, testid: 'comp-hh', link: 'whh bhh', label: 'hidden part' }),
    ],
    [
      '\\text{sum}',
      'both parts added',
      vector(sum, { compactAbove: 16, digits: 4, scale, testid: 'comp-sum', label: 'sum' }),
    ],
    [
      `${sym('f', fTex(f))}(\\text{sum}) = ${sym('h', hTex(t, l, d))}`,
      f === 'tanh' ? 'squashed into (\u22121, 1)' : 'negatives set to 0',
      vector(h, { compactAbove: 16, digits: 4, scale, testid: 'comp-h', link: 'h f', label: 'new state' }),
    ],
  ];

  const table = el('table', { class: 'comp-table' });
  rows.forEach(([label, note, vec], r) => {
    // The first two rows say where the inputs come from: that is the lesson. The others explain on hover.
    const head = el(
      'th',
      { scope: 'row', title: note },
      tex(label),
      r < 2 ? el('span', { class: 'comp-note' }, note) : null,
    );
    table.append(el('tr', {}, head, el('td', { class: 'comp-vec' }, vec)));
  });
  const where = `layer ${l}, step t = ${t}${D === 2 ? (d === 0 ? ', forward \u2192' : ', reverse \u2190') : ''}`;
  return el(
    'div',
    { class: 'step-panel', 'data-testid': 'computation', 'data-step': i },
    el(
      'div',
      { class: 'step-head' },
      tex(hTex(t, l, d)),
      el('span', { class: 'step-where' }, where),
      el('span', { class: 'step-count' }, `step ${i + 1} of ${run.steps.length}`),
    ),
    table,
  );
}
