/**
 * Printing tensors the way PyTorch does (torch/_tensor_str.py with default print options): 4 decimals, one
 * common width, scientific notation when the magnitudes span more than 1000x, integers as `1.`, rows wrapped at
 * 80 columns, and tensors over 1000 elements summarized with `...` around 3 edge items.
 */
import type { FloatArray } from './dtype.js';

const PRECISION = 4;
const THRESHOLD = 1000;
const EDGE_ITEMS = 3;
const LINE_WIDTH = 80;

interface Formatter {
  width: number;
  format(v: number): string;
}

function pyExp(v: number): string {
  // Python writes exponents with at least two digits: 1.2346e+00, where JS writes 1.2346e+0.
  const s = v.toExponential(PRECISION);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function pyFixed(v: number, digits: number): string {
  const s = v.toFixed(digits);
  return Object.is(v, -0) || (v < 0 && !s.startsWith('-')) ? `-${s}` : s;
}

function special(v: number): string | undefined {
  if (Number.isNaN(v)) return 'nan';
  if (v === Number.POSITIVE_INFINITY) return 'inf';
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  return undefined;
}

function makeFormatter(values: number[]): Formatter {
  const finite = values.filter((v) => Number.isFinite(v) && v !== 0);
  // As in PyTorch, only nonzero finite values set the common width; nan, inf and 0 are padded to it.
  let width = 1;
  if (finite.length === 0) {
    // PyTorch stays in integer mode when nothing is nonzero and finite: zeros print as `0.`.
    return { width, format: (v) => special(v) ?? `${v.toFixed(0)}.` };
  }
  const abs = finite.map(Math.abs);
  const min = Math.min(...abs);
  const max = Math.max(...abs);
  const intMode = finite.every((v) => v === Math.ceil(v));
  let body: (v: number) => string;
  if (intMode) {
    const sci = max / min > 1000 || max > 1e8;
    body = sci ? pyExp : (v) => `${v.toFixed(0)}.`;
  } else {
    const sci = max / min > 1000 || max > 1e8 || min < 1e-4;
    body = sci ? pyExp : (v) => pyFixed(v, PRECISION);
  }
  for (const v of finite) width = Math.max(width, body(v).length);
  return { width, format: (v) => special(v) ?? body(v) };
}

/** Indices printed along one dimension of size `n` (all, or the edges when summarizing). */
function shown(n: number, summarize: boolean): number[] | [number[], number[]] {
  const all = Array.from({ length: n }, (_, i) => i);
  if (!summarize || n <= 2 * EDGE_ITEMS) return all;
  return [all.slice(0, EDGE_ITEMS), all.slice(n - EDGE_ITEMS)];
}

export function formatTensor(data: FloatArray, shape: readonly number[]): string {
  const suffix = data instanceof Float64Array ? ', dtype=torch.float64' : '';
  if (data.length === 0) return `tensor([], size=(${shape.join(', ')})${suffix})`.replace('size=()', 'size=(0,)');
  const summarize = data.length > THRESHOLD;
  const strides = shape.map((_, d) => shape.slice(d + 1).reduce((a, b) => a * b, 1));

  // The formatter sees only the values that will be printed, as PyTorch's get_summarized_data does.
  const printed: number[] = [];
  const collect = (dim: number, offset: number): void => {
    if (dim === shape.length) {
      printed.push(data[offset] as number);
      return;
    }
    const idx = shown(shape[dim] as number, summarize);
    const flat = Array.isArray(idx[0]) ? [...(idx[0] as number[]), ...(idx[1] as number[])] : (idx as number[]);
    for (const i of flat) collect(dim + 1, offset + i * (strides[dim] as number));
  };
  collect(0, 0);
  const fmt = makeFormatter(printed);
  const cell = (v: number): string => fmt.format(v).padStart(fmt.width);

  const render = (dim: number, offset: number, indent: number): string => {
    const idx = shown(shape[dim] as number, summarize);
    const parts = Array.isArray(idx[0]) ? [idx[0] as number[], idx[1] as number[]] : [idx as number[]];
    if (dim === shape.length - 1) {
      const items: string[] = [];
      parts.forEach((part, k) => {
        if (k > 0) items.push(' ...'); // PyTorch's vector ellipsis has a leading space
        for (const i of part) items.push(cell(data[offset + i] as number));
      });
      const perLine = Math.max(1, Math.floor((LINE_WIDTH - indent) / (fmt.width + 2)));
      const lines: string[] = [];
      for (let i = 0; i < items.length; i += perLine) lines.push(items.slice(i, i + perLine).join(', '));
      return `[${lines.join(`,\n${' '.repeat(indent + 1)}`)}]`;
    }
    const slices: string[] = [];
    parts.forEach((part, k) => {
      if (k > 0) slices.push('...');
      for (const i of part) slices.push(render(dim + 1, offset + i * (strides[dim] as number), indent + 1));
    });
    const sep = `,${'\n'.repeat(shape.length - dim - 1)}${' '.repeat(indent + 1)}`;
    return `[${slices.join(sep)}]`;
  };

  if (shape.length === 0) return `tensor(${cell(data[0] as number).trim()}${suffix})`;
  return `tensor(${render(0, 0, 'tensor('.length)}${suffix})`;
}
