/**
 * Loss curves as a standalone SVG, written by hand: axes with ticks, a log-scale loss axis, one colour per model
 * (the raw per-step loss faint, its moving average solid) and a legend. No dependencies; any browser shows it.
 */
import { checkArgument, isObject, RnnError } from '../errors.js';

/** One model's curve: `[step, loss]` points in step order. */
export interface Series {
  label: string;
  points: readonly (readonly [number, number])[];
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Default 760 x 460 (CSS pixels). */
  width?: number;
  height?: number;
}

/** Colour-blind-safe (Okabe-Ito), strong enough on white. */
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];

const escapeXml = (s: string) =>
  s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);

/** Round numbers for a linear axis: multiples of 1, 2 or 5 times a power of ten, about `count` of them. */
export function linearTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * mag >= raw) as number) * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

/** Ticks for a log axis: every power of ten in range, plus 2x and 5x over at most 3 decades, and 3x over 2. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo));
  const b = Math.ceil(Math.log10(hi));
  const mantissas = b - a <= 2 ? [1, 2, 3, 5] : b - a <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let e = a; e <= b; e++) {
    for (const m of mantissas) {
      const v = Number((m * 10 ** e).toPrecision(12));
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) ticks.push(v);
    }
  }
  return ticks;
}

/** A short label: 0.001, 0.5, 20, 1e-5, 2e+6. */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(6)));
  return v.toExponential().replace(/\.?0+e/, 'e');
}

/**
 * Centred moving average over up to `w` points each side. Near the ends the window shrinks symmetrically, so the
 * curve starts at the first value instead of being pulled towards later ones.
 */
export function smooth(values: readonly number[], w: number): number[] {
  const prefix = [0];
  for (const v of values) prefix.push((prefix.at(-1) as number) + v);
  return values.map((_, i) => {
    const k = Math.min(w, i, values.length - 1 - i);
    const a = i - k;
    const b = i + k + 1;
    return ((prefix[b] as number) - (prefix[a] as number)) / (b - a);
  });
}

/**
 * The SVG document for some loss curves. Losses that are not positive and finite cannot sit on a log axis and
 * are left out; a series with no point left is an error.
 */
export function lossPlotSvg(series: readonly Series[], options: PlotOptions = {}): string {
  checkArgument(Array.isArray(series), 'lossPlotSvg: series', 'an array of { label, points }', series);
  checkArgument(isObject(options), 'lossPlotSvg: options', 'an object', options);
  series.forEach((s, i) =>
    checkArgument(
      isObject(s) && Array.isArray(s.points),
      `lossPlotSvg: series[${i}]`,
      'an object { label, points }',
      s,
    ),
  );
  const width = options.width ?? 760;
  const height = options.height ?? 460;
  const m = { left: 74, right: 24, top: 44, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;

  const clean = series.map((s) => ({
    label: s.label,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && y > 0),
  }));
  const empty = clean.find((s) => s.points.length === 0);
  if (series.length === 0 || empty) {
    throw new RnnError(
      'invalid_argument',
      `lossPlotSvg: ${empty ? `series '${empty.label}' has` : 'got'} no positive finite loss to plot`,
      {
        expected: 'at least one [step, loss] with loss > 0 per series',
        got: empty ? empty.label : 0,
      },
    );
  }
  const xs = clean.flatMap((s) => s.points.map((p) => p[0]));
  const ys = clean.flatMap((s) => s.points.map((p) => p[1]));
  // Steps count from 1; the axis starts at 0 so that its first tick is a round number.
  let [x0, x1] = [Math.min(0, ...xs), Math.max(...xs)];
  if (x1 === x0) x1 = x0 + 1;
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 / y0 < 10 ** 0.2) [y0, y1] = [y0 / 10 ** 0.1, y1 * 10 ** 0.1]; // a flat curve still gets an axis
  // 4% of the log range as margin above and below, so no curve runs along the frame.
  const pad = 0.04 * Math.log10(y1 / y0);
  [y0, y1] = [y0 / 10 ** pad, y1 * 10 ** pad];
  const [ly0, ly1] = [Math.log10(y0), Math.log10(y1)];
  const px = (x: number) => m.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => m.top + (1 - (Math.log10(y) - ly0) / (ly1 - ly0)) * plotH;
  const f = (v: number) => v.toFixed(1);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  );
  if (options.title) {
    out.push(
      `<text x="${f(width / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  }
  // grid and ticks
  const bottom = m.top + plotH;
  for (const t of linearTicks(x0, x1)) {
    const x = f(px(t));
    out.push(`<line x1="${x}" y1="${m.top}" x2="${x}" y2="${bottom}" stroke="#e4e4e4"/>`);
    out.push(`<line x1="${x}" y1="${bottom}" x2="${x}" y2="${bottom + 5}" stroke="#333"/>`);
    out.push(`<text x="${x}" y="${bottom + 19}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  for (const t of logTicks(y0, y1)) {
    const y = f(py(t));
    const decade = Math.abs(Math.log10(t) - Math.round(Math.log10(t))) < 1e-9;
    out.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + plotW}" y2="${y}" stroke="${decade ? '#d0d0d0' : '#ececec'}"/>`,
    );
    out.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#333"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatTick(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(
    `<text x="${f(m.left + plotW / 2)}" y="${height - 14}" text-anchor="middle">${escapeXml(options.xLabel ?? 'step')}</text>`,
  );
  out.push(
    `<text transform="translate(18 ${f(m.top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(options.yLabel ?? 'loss (log scale)')}</text>`,
  );
  // curves: the raw loss faint, its moving average on top
  out.push(`<clipPath id="plot-area"><rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  out.push('<g clip-path="url(#plot-area)" fill="none" stroke-linejoin="round">');
  clean.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length] as string;
    const path = (ys: readonly number[]) => s.points.map(([x], j) => `${f(px(x))},${f(py(ys[j] as number))}`).join(' ');
    const raw = s.points.map((p) => p[1]);
    out.push(`<polyline points="${path(raw)}" stroke="${colour}" stroke-opacity="0.25" stroke-width="1"/>`);
    const w = Math.max(1, Math.round(raw.length / 60));
    out.push(`<polyline points="${path(smooth(raw, w))}" stroke="${colour}" stroke-width="2"/>`);
  });
  out.push('</g>');
  // legend, top right inside the plot
  const rowH = 18;
  const legendW = Math.min(plotW - 20, 16 + 34 + 7 * Math.max(...clean.map((s) => s.label.length)));
  const lx = m.left + plotW - legendW - 10;
  const ly = m.top + 10;
  out.push(
    `<rect x="${f(lx)}" y="${ly}" width="${f(legendW)}" height="${clean.length * rowH + 10}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`,
  );
  clean.forEach((s, i) => {
    const y = ly + 5 + rowH * i + rowH / 2;
    out.push(
      `<line x1="${f(lx + 8)}" y1="${f(y)}" x2="${f(lx + 36)}" y2="${f(y)}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"/>`,
    );
    out.push(`<text x="${f(lx + 42)}" y="${f(y)}" dominant-baseline="middle">${escapeXml(s.label)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
