/**
 * The grid: one cell per (time step t, layer l) holding h_t^l for the shown batch row (and below it the LSTM's
 * c_t^l), layer 0 at the bottom reading x_t, the output on top, each layer's initial state on the left (and on the
 * right for the reverse direction). Arrows run from below (h_t^{l-1}) and from the left (h_{t-1}^l).
 *
 * Stepping only toggles classes: cells already computed are solid, the active one is outlined, its two inputs
 * light up, and cells still to come are faded (their numbers stay visible, so the layout never jumps).
 */
import { el } from './dom.js';
import { type Run, stepKey } from './model.js';
import { scaleOf, vector } from './vector.js';

/** Above this many numbers a vector is drawn as colour squares (readout.ts shows the numbers). */
const COMPACT_ABOVE = 8;

export interface GridView {
  root: HTMLElement;
  setStep(i: number): void;
}

const ARROW_RIGHT =
  '<svg viewBox="0 0 28 10" aria-hidden="true"><path d="M1 5h22"/><path d="M20 1.5 26 5l-6 3.5z" class="head"/></svg>';
const ARROW_LEFT =
  '<svg viewBox="0 0 28 10" aria-hidden="true"><path d="M5 5h22"/><path d="M8 1.5 2 5l6 3.5z" class="head"/></svg>';
const ARROW_UP =
  '<svg viewBox="0 0 10 22" aria-hidden="true"><path d="M5 21V6"/><path d="M1.5 8 5 1l3.5 7z" class="head"/></svg>';

function svg(markup: string, cls: string): HTMLElement {
  const span = el('span', { class: cls });
  span.innerHTML = markup;
  return span;
}

/** h_t^{(l)} in plain HTML (dozens of cells: cheaper than KaTeX, same look). */
function hLabel(t: number | string, l: number | string): HTMLElement {
  return el('span', { class: 'math' }, 'h', el('sub', {}, String(t)), el('sup', {}, `(${l})`));
}

/** Scrolls the grid's own scroll box (not the page) so that `node` is in view. */
function revealHorizontally(node: HTMLElement): void {
  const box = node.closest<HTMLElement>('.grid-scroll');
  if (!box || box.scrollWidth <= box.clientWidth) return;
  const left = node.offsetLeft;
  const right = left + node.offsetWidth;
  if (left < box.scrollLeft) box.scrollLeft = left - 16;
  else if (right > box.scrollLeft + box.clientWidth) box.scrollLeft = right - box.clientWidth + 16;
}

export function gridView(run: Run, onPick: (i: number) => void): GridView {
  const { L, N, H, P, K, D, x, output, steps, states, cells: cStates } = run;
  const n = run.settings.element;
  const F = D * P;
  const scale = run.hScale;
  const xScale = scaleOf([x.data]);
  const index = new Map(steps.map((s, i) => [stepKey(s.t, s.layer, s.direction), i]));
  const cScale = run.cScale;
  /**
   * One direction's h, and under it the LSTM's c (on its own colour scale, edged in c's colour). The rows are
   * named once per layer, by the h0 and c0 lines of the initial-state box level with them.
   */
  const stateVectors = (h: number[], c: number[] | null, where: string): HTMLElement => {
    const hv = vector(h, { scale, compactAbove: COMPACT_ABOVE, label: `h, ${where}` });
    if (!c) return hv;
    return el(
      'span',
      { class: 'states' },
      el('span', { class: 'state-row' }, hv),
      el(
        'span',
        { class: 'state-row c-row' },
        vector(c, { scale: cScale, compactAbove: COMPACT_ABOVE, label: `c, ${where}` }),
      ),
    );
  };

  const cellRow = (l: number) => 4 + 2 * (K - 1 - l);
  const cellCol = (t: number) => 4 + 2 * t;
  const xRow = 4 + 2 * K;
  const rightCol = 4 + 2 * L;

  const root = el('div', {
    class: `grid${D === 2 ? ' bidirectional' : ''}`,
    role: 'group',
    'aria-label': `Hidden states: ${K} layers by ${L} time steps, batch row ${n}`,
    'data-testid': 'grid',
  });
  root.style.gridTemplateColumns = `auto auto repeat(${L}, var(--arrow) auto)${D === 2 ? ' var(--arrow) auto' : ''}`;
  const place = (node: HTMLElement, row: number, col: number): HTMLElement => {
    node.style.gridRow = String(row);
    node.style.gridColumn = String(col);
    root.append(node);
    return node;
  };

  // Column headers and row labels.
  place(el('div', { class: 'col-head' }, `initial${D === 2 ? ' \u2192' : ''}`), 1, 2);
  for (let t = 0; t < L; t++) place(el('div', { class: 'col-head' }, `t = ${t}`), 1, cellCol(t));
  if (D === 2) place(el('div', { class: 'col-head' }, 'initial \u2190'), 1, rightCol);
  place(
    el(
      'div',
      { class: 'row-head' },
      'output',
      el('small', { class: 'row-sub' }, `(L, N, ${D === 2 ? 'D\u00b7' : ''}${P < H ? 'P' : 'H'})`),
    ),
    2,
    1,
  );
  for (let l = 0; l < K; l++) {
    place(
      el(
        'div',
        { class: 'row-head' },
        `layer ${l}`,
        el('small', { class: 'row-sub' }, l === 0 ? 'reads x' : `reads layer ${l - 1}`),
      ),
      cellRow(l),
      1,
    );
  }
  place(el('div', { class: 'row-head' }, 'input x', el('small', { class: 'row-sub' }, `(L, N, I), row ${n}`)), xRow, 1);

  const halves = new Map<string, HTMLElement>(); // stepKey -> the half of a cell computed by that step
  const cells: HTMLElement[][] = []; // [l][t]
  const xCells: HTMLElement[] = [];
  const outs: HTMLElement[] = []; // output[t] is ready once every direction of the top layer has reached t
  const initial: HTMLElement[][] = []; // [d][l]
  const hArrows = new Map<string, HTMLElement>(); // `${index},${l}`: arrow entering column index from the left
  const vArrows = new Map<string, HTMLElement>(); // `${t},${l}`: arrow into layer l (l = K: into the output)

  for (let t = 0; t < L; t++) {
    const out = Array.from(output.data.subarray((t * N + n) * F, (t * N + n + 1) * F));
    // output[t] = h_t of the top layer: [forward | reverse] with two directions, one row each as in the cells.
    const halvesOut = Array.from({ length: D }, (_, d) =>
      vector(out.slice(d * P, (d + 1) * P), {
        scale,
        label: `output[${t}]${D === 2 ? (d === 0 ? ' forward' : ' reverse') : ''}`,
      }),
    );
    outs.push(
      place(
        el('div', { class: 'out', 'data-testid': `out-${t}`, 'data-values': JSON.stringify(out) }, ...halvesOut),
        2,
        cellCol(t),
      ),
    );
    const up = place(svg(ARROW_UP, 'arrow arrow-v'), 3, cellCol(t));
    vArrows.set(`${t},${K}`, up);
    const xs = Array.from(x.data.subarray((t * N + n) * run.I, (t * N + n + 1) * run.I));
    const xCell = place(
      el(
        'div',
        { class: 'xcell', 'data-testid': `x-${t}` },
        el('span', { class: 'math' }, 'x', el('sub', {}, String(t))),
        vector(xs, { scale: xScale, label: `x ${t}` }),
      ),
      xRow,
      cellCol(t),
    );
    xCells.push(xCell);
  }

  for (let l = 0; l < K; l++) {
    const row: HTMLElement[] = [];
    for (let t = 0; t < L; t++) {
      const values = Array.from(states[l]?.subarray((t * N + n) * F, (t * N + n + 1) * F) ?? []);
      const cs = cStates ? Array.from(cStates[l]?.subarray((t * N + n) * D * H, (t * N + n + 1) * D * H) ?? []) : null;
      const cell = el('div', {
        class: cs ? 'cell two-states' : 'cell',
        'data-testid': `cell-${t}-${l}`,
        'data-t': t,
        'data-l': l,
        'data-values': JSON.stringify(values),
        'data-c': cs ? JSON.stringify(cs) : undefined,
      });
      cell.append(el('span', { class: 'cell-label' }, hLabel(t, l)));
      for (let d = 0; d < D; d++) {
        const i = index.get(stepKey(t, l, d)) ?? 0;
        const half = el(
          'button',
          {
            type: 'button',
            class: 'half',
            tabindex: -1,
            'data-d': d,
            'aria-label': `go to layer ${l}, step ${t}${D === 2 ? (d === 0 ? ', forward' : ', reverse') : ''}`,
            onclick: () => onPick(i),
          },
          D === 2 ? el('span', { class: 'dir' }, d === 0 ? '\u2192' : '\u2190') : null,
          stateVectors(values.slice(d * P, (d + 1) * P), cs?.slice(d * H, (d + 1) * H) ?? null, `layer ${l}, t = ${t}`),
        );
        halves.set(stepKey(t, l, d), half);
        cell.append(half);
      }
      row.push(place(cell, cellRow(l), cellCol(t)));
      vArrows.set(`${t},${l}`, place(svg(ARROW_UP, 'arrow arrow-v'), cellRow(l) + 1, cellCol(t)));
    }
    cells.push(row);
    for (let a = 0; a < (D === 2 ? L + 1 : L); a++) {
      const arrow = place(el('div', { class: 'arrow arrow-h' }), cellRow(l), 3 + 2 * a);
      if (a < L) arrow.append(svg(ARROW_RIGHT, 'dir-0'));
      else arrow.append(el('span', { class: 'dir-0 spacer' }));
      if (D === 2 && a > 0) arrow.append(svg(ARROW_LEFT, 'dir-1'));
      if (D === 2 && a === 0) arrow.append(el('span', { class: 'dir-1 spacer' }));
      hArrows.set(`${a},${l}`, arrow);
    }
  }

  for (let d = 0; d < D; d++) {
    const col: HTMLElement[] = [];
    for (let l = 0; l < K; l++) {
      const node = el(
        'div',
        {
          class: 'init',
          'data-testid': `h0-${l}${d === 1 ? '-reverse' : ''}`,
          'data-values': JSON.stringify(new Array<number>(P).fill(0)),
          title: `layer ${l}'s initial state${d === 1 ? ' for the reverse direction' : ''}: h0 = 0 (${P} zeros)${cStates ? `, c0 = 0 (${H} zeros)` : ''}`,
        },
        el('span', { class: 'init-row' }, el('span', { class: 'math' }, 'h', el('sub', {}, '0')), ' = 0'),
        // The LSTM's c0 on its own line, level with the c rows of the cells.
        cStates
          ? el('span', { class: 'init-row' }, el('span', { class: 'math' }, 'c', el('sub', {}, '0')), ' = 0')
          : null,
      );
      col.push(place(node, cellRow(l), d === 0 ? 2 : rightCol));
    }
    initial.push(col);
  }

  const initLink = cStates ? 'hprev cprev' : 'hprev';
  let lit: HTMLElement[] = [];
  const light = (node: HTMLElement | undefined, cls: string, link: string) => {
    if (!node) return;
    node.classList.add(cls);
    node.dataset.link = link;
    lit.push(node);
  };

  function setStep(i: number): void {
    for (const node of lit) {
      node.classList.remove('active', 'from-below', 'from-side', 'c-active', 'c-prev');
      delete node.dataset.link;
      node.removeAttribute('aria-current');
    }
    lit = [];
    steps.forEach((s, j) => {
      const half = halves.get(stepKey(s.t, s.layer, s.direction));
      half?.classList.toggle('done', j < i);
      half?.classList.toggle('pending', j > i);
    });
    outs.forEach((node, t) => {
      const last = Math.max(...Array.from({ length: D }, (_, d) => index.get(stepKey(t, K - 1, d)) ?? 0));
      node.classList.toggle('pending', last > i);
    });
    const s = steps[i];
    if (!s) return;
    const { t, layer: l, direction: d } = s;
    const cell = cells[l]?.[t];
    light(cell, 'active', 'h');
    cell?.setAttribute('aria-current', 'step');
    light(halves.get(stepKey(t, l, d)), 'active', 'h');
    light(l === 0 ? xCells[t] : cells[l - 1]?.[t], 'from-below', l === 0 ? 'xin x0' : 'xin hbelow');
    light(vArrows.get(`${t},${l}`), 'from-below', 'xin');
    // The LSTM's c rows: the new one, and the one it was made from (the initial c0 is in the h0 box).
    const cRow = (half: HTMLElement | undefined) => half?.querySelector<HTMLElement>('.c-row') ?? undefined;
    const before = d === 0 ? stepKey(t - 1, l, 0) : stepKey(t + 1, l, 1);
    light(cRow(halves.get(stepKey(t, l, d))), 'c-active', 'c');
    light(cRow(halves.get(before)), 'c-prev', 'cprev');
    if (d === 0) {
      light(t === 0 ? initial[0]?.[l] : halves.get(stepKey(t - 1, l, 0)), 'from-side', t === 0 ? initLink : 'hprev');
      light(hArrows.get(`${t},${l}`)?.querySelector<HTMLElement>('.dir-0') ?? undefined, 'from-side', 'hprev');
    } else {
      light(
        t === L - 1 ? initial[1]?.[l] : halves.get(stepKey(t + 1, l, 1)),
        'from-side',
        t === L - 1 ? initLink : 'hprev',
      );
      light(hArrows.get(`${t + 1},${l}`)?.querySelector<HTMLElement>('.dir-1') ?? undefined, 'from-side', 'hprev');
    }
    if (cell) revealHorizontally(cell);
  }

  return { root, setStep };
}
