/**
 * Heatmaps of the hidden states over time: a row per layer (last layer on top, the input x at the bottom, as in
 * the grid) and a column per batch row, each map a column per step t and a row per feature j. The active step
 * is outlined in the batch row the grid shows; clicking a map's column steps there (and shows that batch row).
 */
import { el } from './dom.js';
import { type Run, stepKey } from './model.js';
import { color, fmt, scaleOf } from './vector.js';

export interface HeatmapView {
  root: HTMLElement;
  setStep(i: number): void;
}

function legend(lo: number, hi: number, scale: number): HTMLElement {
  const stops = Array.from({ length: 11 }, (_, i) => color(lo + ((hi - lo) * i) / 10, scale)).join(', ');
  const bar = el('span', { class: 'legend-bar' });
  bar.style.background = `linear-gradient(to right, ${stops})`;
  return el(
    'div',
    { class: 'legend', 'aria-hidden': 'true' },
    el('span', {}, fmt(lo, 2)),
    bar,
    el('span', {}, fmt(hi, 2)),
  );
}

/** `onPick(i, n)`: go to step i showing batch row n. */
export function heatmapView(run: Run, onPick: (i: number, n: number) => void): HeatmapView {
  const { L, N, H, K, D, I, x, states, steps } = run;
  const shown = run.settings.element;
  const F = D * H;
  const relu = run.settings.nonlinearity === 'relu';
  const scale = relu ? scaleOf(states) : 1;
  const xScale = scaleOf([x.data]);
  const index = new Map(steps.map((s, i) => [stepKey(s.t, s.layer, s.direction), i]));
  const columns: HTMLElement[][] = []; // [l][t] of the shown batch row; l = K for the input

  const map = (l: number, n: number, rows: number, value: (t: number, j: number) => number, s: number) => {
    const title = l < K ? `layer ${l}` : 'input x';
    const grid = el('div', {
      class: n === shown ? 'heat shown' : 'heat',
      role: 'group',
      'aria-label': `${title}, batch row ${n}: ${rows} features over ${L} steps`,
      'data-testid': `heat-${l < K ? l : 'x'}-${n}`,
    });
    grid.style.gridTemplateColumns = `auto repeat(${L}, var(--sq))`;
    const at = (node: HTMLElement, row: number, col: number) => {
      node.style.gridRow = String(row);
      node.style.gridColumn = String(col);
      grid.append(node);
    };
    for (let j = 0; j < rows; j++) {
      const label = D === 2 && l < K ? `${j < H ? '\u2192' : '\u2190'}${j % H}` : String(j);
      at(el('span', { class: 'heat-row' }, label), j + 1, 1);
      for (let t = 0; t < L; t++) {
        const v = value(t, j);
        const sq = el('span', { class: 'sq', title: `t = ${t}, feature ${j}: ${v}` });
        sq.style.background = color(v, s);
        at(sq, j + 1, t + 2);
      }
    }
    const cols: HTMLElement[] = [];
    for (let t = 0; t < L; t++) {
      at(el('span', { class: 'heat-t' }, String(t)), rows + 1, t + 2);
      const target = l < K ? index.get(stepKey(t, l, 0)) : undefined;
      const col = el('button', {
        type: 'button',
        class: 'heat-col',
        tabindex: -1,
        'aria-label': `go to ${title}, step ${t}, batch row ${n}`,
        disabled: target === undefined,
        onclick: () => target !== undefined && onPick(target, n),
      });
      col.style.gridRow = `1 / span ${rows}`;
      col.style.gridColumn = String(t + 2);
      grid.append(col);
      cols.push(col);
    }
    if (n === shown) columns[l] = cols;
    return grid;
  };

  const table = el('div', { class: 'heat-table' });
  table.style.gridTemplateColumns = `auto repeat(${N}, max-content)`;
  table.append(el('span', {}));
  for (let n = 0; n < N; n++) {
    table.append(
      el(
        'span',
        { class: n === shown ? 'heat-head shown' : 'heat-head' },
        `batch row ${n}${n === shown ? ' (in the grid)' : ''}`,
      ),
    );
  }
  for (let l = K - 1; l >= -1; l--) {
    const layer = l >= 0;
    table.append(el('span', { class: layer ? 'heat-label' : 'heat-label input' }, layer ? `layer ${l}` : 'input x'));
    for (let n = 0; n < N; n++) {
      const data = layer ? (states[l] as Float64Array) : null;
      table.append(
        layer
          ? map(l, n, F, (t, j) => data?.[(t * N + n) * F + j] as number, scale)
          : map(K, n, I, (t, j) => x.data[(t * N + n) * I + j] as number, xScale),
      );
    }
  }

  const sq = Math.max(14, Math.min(30, Math.floor(820 / (N * L + 2 * N))));
  const root = el(
    'div',
    { class: 'heatmaps', style: `--sq: ${sq}px` },
    el('div', { class: 'heat-scroll' }, table),
    el(
      'div',
      { class: 'heat-legends' },
      el('p', {}, relu ? 'ReLU states, 0 to the largest on the page' : 'tanh states, \u22121 to 1'),
      legend(relu ? 0 : -1, relu ? scale : 1, scale),
      el('p', {}, 'input x'),
      legend(-xScale, xScale, xScale),
      el(
        'p',
        { class: 'muted' },
        'Columns are time steps, rows are features. Each layer\u2019s map is the sequence the layer above reads. Click a column to step there.',
      ),
    ),
  );

  let lit: HTMLElement[] = [];
  function setStep(i: number): void {
    for (const node of lit) node.classList.remove('active', 'from-below');
    lit = [];
    const s = steps[i];
    if (!s) return;
    const mark = (node: HTMLElement | undefined, cls: string) => {
      if (!node) return;
      node.classList.add(cls);
      lit.push(node);
    };
    mark(columns[s.layer]?.[s.t], 'active');
    mark(columns[s.layer === 0 ? K : s.layer - 1]?.[s.t], 'from-below');
  }
  return { root, setStep };
}
