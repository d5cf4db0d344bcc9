/**
 * Heatmaps of the states over time: a row per layer (last layer on top, the input x at the bottom, as in the
 * grid; for the LSTM a row for h and one for c per layer) and a column per batch row, each map a column per step
 * t and a row per feature j. The active step is outlined in the batch row the grid shows; clicking a map's
 * column steps there (and shows that batch row).
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

/** What the h colours span, in words. */
function hLegend(run: Run): string {
  if (run.cell === 'LSTM') {
    return run.P < run.H
      ? 'h, projected by W_hr: \u00b1 the largest on the page'
      : 'h = o \u2299 tanh(c), \u22121 to 1';
  }
  if (run.cell === 'GRU') return 'h, a mix of tanh values: \u22121 to 1';
  return run.settings.nonlinearity === 'relu'
    ? 'ReLU states, 0 to the largest on the page'
    : 'tanh states, \u22121 to 1';
}

/** `onPick(i, n)`: go to step i showing batch row n. */
export function heatmapView(run: Run, onPick: (i: number, n: number) => void): HeatmapView {
  const { L, N, H, P, K, D, I, x, states, cells, steps } = run;
  const shown = run.settings.element;
  const xScale = scaleOf([x.data]);
  const index = new Map(steps.map((s, i) => [stepKey(s.t, s.layer, s.direction), i]));
  const columns = new Map<string, HTMLElement[]>(); // map key (h0, c0, ..., x) -> its columns in the shown batch row

  /** One map: `key` is h{l}, c{l} or x; `width` features per direction. */
  const map = (
    key: string,
    l: number,
    n: number,
    rows: number,
    width: number,
    value: (t: number, j: number) => number,
    s: number,
  ) => {
    const title = key === 'x' ? 'input x' : `layer ${l}, ${key[0]}`;
    const grid = el('div', {
      class: n === shown ? 'heat shown' : 'heat',
      role: 'group',
      'aria-label': `${title}, batch row ${n}: ${rows} features over ${L} steps`,
      'data-testid': `heat-${key === 'x' ? 'x' : key[0] === 'h' ? l : key}-${n}`,
    });
    grid.style.gridTemplateColumns = `auto repeat(${L}, var(--sq))`;
    const at = (node: HTMLElement, row: number, col: number) => {
      node.style.gridRow = String(row);
      node.style.gridColumn = String(col);
      grid.append(node);
    };
    for (let j = 0; j < rows; j++) {
      const label = D === 2 && key !== 'x' ? `${j < width ? '\u2192' : '\u2190'}${j % width}` : String(j);
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
      const target = key !== 'x' ? index.get(stepKey(t, l, 0)) : undefined;
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
    if (n === shown) columns.set(key, cols);
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
  const row = (key: string, l: number, label: HTMLElement, data: ArrayLike<number>, width: number, s: number) => {
    table.append(label);
    const F = D * width;
    for (let n = 0; n < N; n++)
      table.append(map(key, l, n, F, width, (t, j) => data[(t * N + n) * F + j] as number, s));
  };
  for (let l = K - 1; l >= 0; l--) {
    const label = (v: string) =>
      el('span', { class: 'heat-label' }, `layer ${l}`, cells ? el('span', { class: 'math' }, ` ${v}`) : null);
    row(`h${l}`, l, label('h'), states[l] as Float64Array, P, run.hScale);
    if (cells) row(`c${l}`, l, label('c'), cells[l] as Float64Array, H, run.cScale);
  }
  const xs = x.data;
  table.append(el('span', { class: 'heat-label input' }, 'input x'));
  for (let n = 0; n < N; n++) table.append(map('x', K, n, I, I, (t, j) => xs[(t * N + n) * I + j] as number, xScale));

  const sq = Math.max(14, Math.min(30, Math.floor(820 / (N * L + 2 * N))));
  const root = el(
    'div',
    { class: 'heatmaps', style: `--sq: ${sq}px` },
    el('div', { class: 'heat-scroll' }, table),
    el(
      'div',
      { class: 'heat-legends' },
      el('p', {}, hLegend(run)),
      legend(run.cell === 'RNN' && run.settings.nonlinearity === 'relu' ? 0 : -run.hScale, run.hScale, run.hScale),
      cells ? el('p', {}, 'c, the LSTM\u2019s cell state: not squashed, \u00b1 the largest on the page') : null,
      cells ? legend(-run.cScale, run.cScale, run.cScale) : null,
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
    mark(columns.get(`h${s.layer}`)?.[s.t], 'active');
    mark(columns.get(`c${s.layer}`)?.[s.t], 'active');
    mark(columns.get(s.layer === 0 ? 'x' : `h${s.layer - 1}`)?.[s.t], 'from-below');
  }
  return { root, setStep };
}
