/**
 * The size sweep of `npm run bench -- --sweep` (issue 17): one size at a time grown past configuration C's, from
 * H = 64 to 2048 (where W_hh alone is 16 MB, past every cache of this machine's cores), a wide input, a long
 * sequence, a large batch and a deep stack, and the LSTM and GRU, whose W_hh is 4x and 3x the RNN's, at H 1024 and
 * 2048. bench/run.ts times each against PyTorch at its best of 1 and 2 threads; this file holds the sizes and the
 * table.
 */

export type Cell = 'rnn' | 'lstm' | 'gru';

/** A size: sequence L, batch N, input I, hidden H, layers K (one direction, with bias). */
export interface SweepSize {
  name: string;
  cell: Cell;
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
}

export const SWEEP: readonly SweepSize[] = [
  { name: 'H64', cell: 'rnn', L: 64, N: 32, I: 64, H: 64, K: 2 },
  { name: 'H256', cell: 'rnn', L: 64, N: 32, I: 256, H: 256, K: 2 },
  { name: 'H1024', cell: 'rnn', L: 64, N: 32, I: 1024, H: 1024, K: 2 },
  { name: 'H2048', cell: 'rnn', L: 32, N: 32, I: 2048, H: 2048, K: 2 },
  { name: 'I4096', cell: 'rnn', L: 64, N: 16, I: 4096, H: 256, K: 2 },
  { name: 'L4096', cell: 'rnn', L: 4096, N: 8, I: 64, H: 128, K: 2 },
  { name: 'N256', cell: 'rnn', L: 64, N: 256, I: 128, H: 256, K: 2 },
  { name: 'K8', cell: 'rnn', L: 64, N: 16, I: 128, H: 128, K: 8 },
  { name: 'LSTM-H1024', cell: 'lstm', L: 64, N: 32, I: 1024, H: 1024, K: 2 },
  { name: 'LSTM-H2048', cell: 'lstm', L: 32, N: 32, I: 2048, H: 2048, K: 2 },
  { name: 'GRU-H1024', cell: 'gru', L: 64, N: 32, I: 1024, H: 1024, K: 2 },
  { name: 'GRU-H2048', cell: 'gru', L: 32, N: 32, I: 2048, H: 2048, K: 2 },
];

/** What bench/run.ts measured at one size: median ms of PyTorch at 1 and 2 threads, and of each kernel. */
export interface SweepRow extends SweepSize {
  torchMs: [number, number];
  /** In the order of --kernels. */
  oursMs: number[];
  /** The first kernel's output error and PyTorch float32's, against PyTorch float64. */
  error: [number, number];
}

/** Floating-point operations of one forward: 2 per multiply-add of the products (the gates' math not counted). */
export function sweepFlops(s: SweepSize): number {
  const G = s.cell === 'lstm' ? 4 : s.cell === 'gru' ? 3 : 1;
  return 2 * s.L * s.N * G * s.H * (s.I + s.H + (s.K - 1) * 2 * s.H);
}

const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const ms = (v: number) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v.toPrecision(4)) : '-');

/** The sweep as a Markdown table: times, GFLOP/s and PyTorch's best time over each kernel's. */
export function sweepTable(rows: readonly SweepRow[], kernels: readonly string[]): string {
  const head = [
    'size',
    'L, N, I, H, K',
    'GFLOP',
    'PyTorch ms, 1 / 2 threads',
    ...kernels.map((k) => `${k} ms`),
    ...kernels.map((k) => `${k} GFLOP/s`),
    ...kernels.map((k) => `PyTorch best / ${k}`),
    'error ours / PyTorch f32',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const flops = sweepFlops(r);
    const best = Math.min(...r.torchMs.filter(Number.isFinite));
    lines.push(
      `| ${[
        r.name,
        [r.L, r.N, r.I, r.H, r.K].join(', '),
        fixed(flops / 1e9, 1),
        r.torchMs.map(ms).join(' / '),
        ...r.oursMs.map(ms),
        ...r.oursMs.map((t) => fixed(flops / t / 1e6, 0)),
        ...r.oursMs.map((t) => `${fixed(best / t, 2)}x`),
        r.error.map((e) => (Number.isFinite(e) ? e.toExponential(1) : '-')).join(' / '),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
