/**
 * The active step's two matrix products with every number, for the space under the grid: the input part
 * x W_ih^T + b_ih and the hidden part h W_hh^T + b_hh, with the layer's own weights.
 *
 * The RNN's are written as rows, as its formula is. The LSTM's and GRU's are G*H wide (one block per gate), too
 * wide for a row, so they are written as columns, u^T = W_ih x^T + b_ih: W as PyTorch stores it, (G*H, in),
 * its gate blocks ruled apart in PyTorch's order, and the two products side by side.
 */
import type { TraceStep } from '../../src/index.js';
import { el } from './dom.js';
import { GATES, type Sym, sym, tex } from './formula.js';
import type { Run } from './model.js';
import { fmt } from './vector.js';

/** Matrices up to this many rows, and this many columns, are printed in full. */
const MAX_SIDE = 16;

const number = (v: number) => fmt(v, 3).replace('\u2212', '-');

/** A bracketed matrix; with `rule`, a line after every `rule` rows (the gate blocks). */
function matrix(rows: number[][], rule = 0): string {
  if (rule === 0) return `\\begin{bmatrix} ${rows.map((r) => r.map(number).join(' & ')).join(' \\\\ ')} \\end{bmatrix}`;
  const width = rows[0]?.length ?? 0;
  const body = rows
    .map((r, k) => `${r.map(number).join(' & ')} \\\\${(k + 1) % rule === 0 && k + 1 < rows.length ? ' \\hline' : ''}`)
    .join(' ');
  return `\\left[\\begin{array}{${'r'.repeat(width)}} ${body} \\end{array}\\right]`;
}

/** `w` (O, C) as rows. */
function rowsOf(w: ArrayLike<number>, O: number, C: number): number[][] {
  return Array.from({ length: O }, (_, o) => Array.from({ length: C }, (_, c) => w[o * C + c] as number));
}

/** `w` (O, C) transposed: (C, O), as the RNN's formula writes W^T. */
function transposed(w: ArrayLike<number>, O: number, C: number): number[][] {
  return Array.from({ length: C }, (_, c) => Array.from({ length: O }, (_, o) => w[o * C + c] as number));
}

const column = (v: ArrayLike<number>) => Array.from(v, (x) => [x]);

interface Part {
  label: string;
  v: number[]; // (C)
  w: ArrayLike<number>; // (O, C)
  b: ArrayLike<number> | undefined; // (O)
  out: number[]; // (O)
  syms: [Sym, Sym, Sym];
}

function product(part: Part, H: number, gated: boolean): HTMLElement {
  const { v, w, b, out, syms } = part;
  const O = out.length;
  const C = v.length;
  const source = gated
    ? `${sym(syms[0], matrix(rowsOf(w, O, C), H))} ${matrix(column(v))}${b ? ` + ${sym(syms[1], matrix(column(b), H))}` : ''} = ${sym(syms[2], matrix(column(out), H))}`
    : `${matrix([v])}\\; ${sym(syms[0], matrix(transposed(w, O, C)))}${b ? ` + ${sym(syms[1], matrix([Array.from(b)]))}` : ''} = ${matrix([out])}`;
  return el(
    'div',
    { class: 'product' },
    el('div', { class: 'product-label' }, tex(part.label)),
    el('div', { class: 'product-tex' }, tex(source, true)),
  );
}

export function productsPanel(run: Run, i: number): HTMLDetailsElement {
  const s = run.steps[i] as TraceStep;
  const { layer: l, direction: d } = s;
  const n = run.settings.element;
  const { G, H } = run;
  const gated = run.cell !== 'RNN';
  const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
  const input = s.input[n] as number[];
  const w = run.weights;
  const x = (sup = '') => `x_t^{(${l})${sup}}`;
  const h = (sup = '') => `h_{${d === 0 ? 't-1' : 't+1'}}^{(${l})${sup}}`;
  const parts: Part[] = [
    {
      label: gated
        ? `u^\\top = W_{ih}^{(${l})}\\, ${x('\\top')} + b_{ih}^{(${l})}`
        : `${x()}\\,W_{ih}^{(${l})\\top} + b_{ih}^{(${l})}`,
      v: input,
      w: w[`weight_ih_${suffix}`]?.data ?? [],
      b: w[`bias_ih_${suffix}`]?.data,
      out: s.inputPart[n] as number[],
      syms: ['wih', 'bih', 'u'],
    },
    {
      label: gated
        ? `v^\\top = W_{hh}^{(${l})}\\, ${h('\\top')} + b_{hh}^{(${l})}`
        : `${h()}\\,W_{hh}^{(${l})\\top} + b_{hh}^{(${l})}`,
      v: s.hPrev[n] as number[],
      w: w[`weight_hh_${suffix}`]?.data ?? [],
      b: w[`bias_hh_${suffix}`]?.data,
      out: s.hiddenPart[n] as number[],
      syms: ['whh', 'bhh', 'v'],
    },
  ];
  const blocks = gated ? `; rows ${GATES[run.cell as 'LSTM' | 'GRU'].map((g) => g.name).join(' | ')}, ${H} each` : '';
  const tooBig = G * H > MAX_SIDE || input.length > MAX_SIDE || run.P > MAX_SIDE;
  return el(
    'details',
    { class: 'products', open: true, 'data-testid': 'products' },
    el(
      'summary',
      {},
      `The two matrix products of this step, with weight_ih_${suffix} and weight_hh_${suffix}${blocks}`,
    ),
    tooBig
      ? el('p', { class: 'muted' }, `The matrices are ${G * H} \u00d7 ${input.length}: too big to print here.`)
      : el(
          'div',
          { class: gated ? 'products-body side-by-side' : 'products-body' },
          ...parts.map((p) => product(p, H, gated)),
        ),
  );
}
