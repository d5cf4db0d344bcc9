/**
 * The computation of the active cell with its actual numbers, straight from `recurrentForward`'s trace event:
 * where the layer's inputs come from (the layer below, its own previous state), then what the cell makes of
 * them. The RNN adds its two affine parts and applies f; the LSTM and GRU show every gate's pre-activation and
 * value, then the new states. The two matrix products themselves are written out under the grid (products.ts).
 */
import type { TraceStep } from '../../src/index.js';
import { el } from './dom.js';
import { fTex, GATES, gateActivation, gatePre, gateSym, sym, tex } from './formula.js';
import type { Run } from './model.js';
import { fmt, scaleOf, vector } from './vector.js';

/** `h_{t}^{(l)}` for a concrete t and l, with the reverse arrow for direction 1. */
function stateTex(v: 'h' | 'c', t: number | string, l: number | string, d: number): string {
  return d === 1 ? `\\overleftarrow{${v}}_{${t}}^{(${l})}` : `${v}_{${t}}^{(${l})}`;
}

/** What a screen reader announces when the step changes. */
export function stepSummary(run: Run, i: number): string {
  const s = run.steps[i] as TraceStep;
  const n = run.settings.element;
  const dir = run.D === 2 ? (s.direction === 0 ? ', forward' : ', reverse') : '';
  const list = (rows: number[][] | null) => (rows?.[n] ?? []).map((v) => fmt(v, 4)).join(', ');
  return `Step ${i + 1} of ${run.steps.length}: layer ${s.layer}, t = ${s.t}${dir}. h = ${list(s.h)}${s.c ? `; c = ${list(s.c)}` : ''}`;
}

type Row = {
  label: string;
  note?: string;
  values: number[];
  testid: string;
  link?: string;
  scale: number;
  rule?: boolean;
};

/** The rows after the inputs: what the cell computes, with the trace's numbers. */
function cellRows(run: Run, s: TraceStep, n: number): Row[] {
  const { t, layer: l, direction: d } = s;
  const suffix = `l${l}${d === 1 ? '_reverse' : ''}`;
  const h = s.h[n] as number[];
  const hLabel = sym('h', stateTex('h', t, l, d));
  if (run.cell === 'RNN') {
    const f = run.settings.nonlinearity;
    const ih = s.inputPart[n] as number[];
    const hh = s.hiddenPart[n] as number[];
    return [
      {
        label: `x\\,${sym('wih', `W_{ih}^{(${l})\\top}`)} + ${sym('bih', `b_{ih}^{(${l})}`)}`,
        note: `weight_ih_${suffix} (${run.H}, ${s.input[n]?.length})`,
        values: ih,
        testid: 'comp-ih',
        link: 'wih bih',
        scale: run.hScale,
      },
      {
        label: `h\\,${sym('whh', `W_{hh}^{(${l})\\top}`)} + ${sym('bhh', `b_{hh}^{(${l})}`)}`,
        note: `weight_hh_${suffix} (${run.H}, ${run.H})`,
        values: hh,
        testid: 'comp-hh',
        link: 'whh bhh',
        scale: run.hScale,
      },
      {
        label: '\\text{sum}',
        note: 'both parts added',
        values: ih.map((v, j) => v + (hh[j] as number)),
        testid: 'comp-sum',
        scale: run.hScale,
        rule: true,
      },
      {
        label: `${sym('f', fTex(f))}(\\text{sum}) = ${hLabel}`,
        note: f === 'tanh' ? 'squashed into (\u22121, 1)' : 'negatives set to 0',
        values: h,
        testid: 'comp-h',
        link: 'h f',
        scale: run.hScale,
      },
    ];
  }
  const what = new Map(GATES[run.cell].map((g) => [g.name, g.what]));
  const rows: Row[] = [];
  s.gates.forEach((g, k) => {
    const pre = g.pre[n] as number[];
    rows.push(
      {
        label: `${gatePre(g.name)}`,
        note: `${g.name}'s pre-activation: columns ${k * run.H}..${(k + 1) * run.H - 1} of u and v`,
        values: pre,
        testid: `gate-${g.name}-pre`,
        link: `g${g.name}`,
        scale: scaleOf([pre], 1), // unbounded: at least (-1, 1), so small values stay pale
        rule: k === 0,
      },
      {
        label: `${gateSym(g.name)} = ${gateActivation(g.name)}(\\cdot)`,
        note: what.get(g.name) ?? '',
        values: g.value[n] as number[],
        testid: `gate-${g.name}-value`,
        link: `g${g.name} gates`,
        scale: 1,
      },
    );
  });
  if (run.cell === 'LSTM') {
    rows.push(
      {
        label: `${sym('c', stateTex('c', t, l, d))} = ${gateSym('f')} \\odot ${sym('cprev', 'c')} + ${gateSym('i')} \\odot ${gateSym('g')}`,
        note: 'the cell state: kept where f is near 1, written where i is',
        values: s.c?.[n] ?? [],
        testid: 'comp-c',
        link: 'c',
        scale: run.cScale,
        rule: true,
      },
      {
        label: `${hLabel} = ${run.P < run.H ? `(${gateSym('o')} \\odot \\tanh c)\\,${sym('whr', 'W_{hr}^\\top')}` : `${gateSym('o')} \\odot \\tanh c`}`,
        note:
          run.P < run.H
            ? `projected by weight_hr_${suffix} (${run.P}, ${run.H}) to ${run.P} numbers`
            : 'what the layer outputs',
        values: h,
        testid: 'comp-h',
        link: 'h',
        scale: run.hScale,
      },
    );
  } else {
    rows.push({
      label: `${hLabel} = (1 - ${gateSym('z')}) \\odot ${gateSym('n')} + ${gateSym('z')} \\odot ${sym('hprev', 'h')}`,
      note: 'between the candidate n (z = 0) and the old state (z = 1)',
      values: h,
      testid: 'comp-h',
      link: 'h',
      scale: run.hScale,
      rule: true,
    });
  }
  return rows;
}

export function stepPanel(run: Run, i: number): HTMLElement {
  const s = run.steps[i] as TraceStep;
  const { t, layer: l, direction: d } = s;
  const n = run.settings.element;
  const { D, L } = run;
  const prevT = d === 0 ? t - 1 : t + 1;
  const atEdge = d === 0 ? t === 0 : t === L - 1;
  const from = `from the ${d === 0 ? 'left' : 'right'}: this layer one step ${d === 0 ? 'earlier' : 'later'}`;
  const inputScale = l === 0 ? scaleOf([run.x.data]) : run.hScale;

  const rows: Row[] = [
    {
      label: `${sym('xin', `x_{${t}}^{(${l})}`)} = ${l === 0 ? sym('x0', `x_{${t}}`) : sym('hbelow', D === 2 ? `[\\overrightarrow{h}_{${t}}^{(${l - 1})};\\overleftarrow{h}_{${t}}^{(${l - 1})}]` : `h_{${t}}^{(${l - 1})}`)}`,
      note: l === 0 ? 'from below: the input at this step' : `from below: layer ${l - 1} at the same step, not x_${t}`,
      values: s.input[n] as number[],
      testid: 'comp-input',
      link: 'xin',
      scale: inputScale,
    },
    {
      label: `${sym('hprev', stateTex('h', d === 0 ? 't-1' : 't+1', l, d))} = ${atEdge ? 'h_0' : stateTex('h', prevT, l, d)}`,
      note: atEdge ? 'the initial state: zeros' : from,
      values: s.hPrev[n] as number[],
      testid: 'comp-hprev',
      link: 'hprev',
      scale: run.hScale,
    },
  ];
  if (s.cPrev) {
    rows.push({
      label: `${sym('cprev', stateTex('c', d === 0 ? 't-1' : 't+1', l, d))} = ${atEdge ? 'c_0' : stateTex('c', prevT, l, d)}`,
      note: atEdge ? 'the initial cell state: zeros' : `its own cell state, ${from.slice(from.indexOf(':') + 2)}`,
      values: s.cPrev[n] as number[],
      testid: 'comp-cprev',
      link: 'cprev',
      scale: run.cScale,
    });
  }
  const inputs = rows.length;
  rows.push(...cellRows(run, s, n));

  const table = el('table', { class: 'comp-table' });
  // Room for up to four numbers side by side before a vector wraps; the labels take what is left.
  table.style.setProperty('--chips', String(Math.min(4, Math.max(...rows.map((r) => r.values.length)))));
  rows.forEach((row, r) => {
    // Where the inputs come from is the lesson, so their notes are always shown; the others explain on hover.
    const head = el(
      'th',
      { scope: 'row', title: row.note ?? '' },
      tex(row.label),
      r < inputs && row.note ? el('span', { class: 'comp-note' }, row.note) : null,
    );
    const vec = vector(row.values, {
      compactAbove: 16,
      digits: 4,
      scale: row.scale,
      testid: row.testid,
      ...(row.link ? { link: row.link } : {}),
      label: row.note ?? row.testid,
    });
    table.append(el('tr', { class: row.rule ? 'rule' : undefined }, head, el('td', { class: 'comp-vec' }, vec)));
  });
  const where = `layer ${l}, step t = ${t}${D === 2 ? (d === 0 ? ', forward \u2192' : ', reverse \u2190') : ''}`;
  return el(
    'div',
    { class: 'step-panel', 'data-testid': 'computation', 'data-step': i },
    el(
      'div',
      { class: 'step-head' },
      tex(stateTex('h', t, l, d)),
      el('span', { class: 'step-where' }, where),
      el('span', { class: 'step-count' }, `step ${i + 1} of ${run.steps.length}`),
    ),
    table,
  );
}
