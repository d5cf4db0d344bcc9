/**
 * How numbers look on the page: a vector is a row of chips, each coloured by its value on one diverging scale
 * (blue negative, white zero, red positive) shared by the grid, the computation panel and the heatmaps.
 */
import { el } from './dom.js';

/** Fixed decimals with a typographic minus; a value that rounds to zero shows no sign. */
export function fmt(v: number, digits = 3): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '\u2212inf';
  const s = v.toFixed(digits);
  if (Number(s) === 0) return s.replace('-', '');
  return s.replace('-', '\u2212');
}

/** A difference as learners should read it: exactly 0 prints as 0, anything else in scientific notation. */
export function fmtDiff(v: number): string {
  if (v === 0) return '0';
  return (v >= 1e-3 ? v.toFixed(4) : v.toExponential(2)).replace('-', '\u2212');
}

/** Background colour of `v` on a scale where +-`scale` is full colour. */
export function color(v: number, scale: number): string {
  if (!Number.isFinite(v)) return '#7f1d1d';
  const t = Math.max(-1, Math.min(1, scale > 0 ? v / scale : 0));
  const pct = Math.round(Math.sqrt(Math.abs(t)) * 88);
  return `color-mix(in oklab, ${t < 0 ? 'var(--neg)' : 'var(--pos)'} ${pct}%, var(--zero))`;
}

/** Whether text on `color(v, scale)` should be light. */
export function isDark(v: number, scale: number): boolean {
  return scale > 0 && Math.abs(v / scale) > 0.55;
}

export interface VectorOptions {
  digits?: number;
  /** Value drawn at full colour; default 1 (tanh's range). */
  scale?: number;
  testid?: string;
  /** Formula symbols this vector stands for (see formula.ts). */
  link?: string;
  label?: string;
  /** Longer vectors are drawn as plain colour squares, read in the readout on hover or focus. Default 8. */
  compactAbove?: number;
}

/** A vector as a row of coloured chips; the exact values are kept in `data-values` (JSON) for tests and tools. */
export function vector(values: ArrayLike<number>, options: VectorOptions = {}): HTMLElement {
  const digits = options.digits ?? 3;
  const scale = options.scale ?? 1;
  const list = Array.from(values);
  const compact = list.length > (options.compactAbove ?? 8);
  // A compact vector is a keyboard stop, so its numbers can be read without a mouse (readout.ts shows them).
  const node = el('span', {
    class: compact ? 'vec compact' : 'vec',
    'data-values': JSON.stringify(list),
    'data-testid': options.testid,
    'data-link': options.link,
    'data-label': compact ? (options.label ?? 'values') : undefined,
    tabindex: compact ? 0 : undefined,
    role: 'group',
    'aria-label':
      options.label || compact
        ? `${options.label ?? 'values'}: ${list.map((v) => fmt(v, digits)).join(', ')}`
        : undefined,
  });
  for (const v of list) {
    node.append(
      el(
        'span',
        {
          class: isDark(v, scale) ? 'chip dark' : 'chip',
          style: `background:${color(v, scale)}`,
          title: String(v),
        },
        compact ? '' : fmt(v, digits),
      ),
    );
  }
  return node;
}

/** Max |v| over arrays, at least `floor`: the colour scale for ReLU states and inputs, which are unbounded. */
export function scaleOf(arrays: ArrayLike<number>[], floor = 1e-6): number {
  let m = floor;
  for (const a of arrays) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] as number));
  return m;
}
