/**
 * The scaling chart for docs/performance.md: forward time against L, N and H (one panel each, log-log), for
 * stacked-rnn and PyTorch, as a self-contained SVG.
 */

export interface Series {
  dim: 'L' | 'N' | 'H';
  ours: [number, number][]; // (value, ms)
  torch: [number, number][];
}

const W = 300;
const HT = 240;
const PAD = { left: 52, right: 12, top: 28, bottom: 40 };

function panel(s: Series, x0: number): string {
  const pts = [...s.ours, ...s.torch].filter(([, y]) => Number.isFinite(y) && y > 0);
  const xs = pts.map(([x]) => Math.log10(x));
  const ys = pts.map(([, y]) => Math.log10(y));
  const [xa, xb] = [Math.min(...xs), Math.max(...xs)];
  const [ya, yb] = [Math.floor(Math.min(...ys) * 2) / 2, Math.ceil(Math.max(...ys) * 2) / 2];
  const px = (x: number) => x0 + PAD.left + ((Math.log10(x) - xa) / (xb - xa || 1)) * (W - PAD.left - PAD.right);
  const py = (y: number) => PAD.top + (1 - (Math.log10(y) - ya) / (yb - ya || 1)) * (HT - PAD.top - PAD.bottom);
  const line = (p: [number, number][], color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${p
      .filter(([, y]) => y > 0)
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ')}"/>` +
    p.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`).join('');
  const parts: string[] = [];
  for (let e = Math.ceil(ya); e <= yb; e++) {
    const y = py(10 ** e);
    parts.push(`<line x1="${x0 + PAD.left}" x2="${x0 + W - PAD.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${x0 + PAD.left - 6}" y="${y + 4}" text-anchor="end">${10 ** e} ms</text>`);
  }
  for (const [x] of s.ours) {
    parts.push(`<text x="${px(x)}" y="${HT - PAD.bottom + 16}" text-anchor="middle">${x}</text>`);
  }
  parts.push(`<text x="${x0 + W / 2}" y="${HT - 6}" text-anchor="middle">${s.dim}</text>`);
  parts.push(`<text x="${x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">time vs ${s.dim}</text>`);
  return parts.join('') + line(s.torch, '#d9534f') + line(s.ours, '#2a7ae2');
}

export function scalingSvg(series: Series[], base: Record<string, number>): string {
  const width = W * series.length;
  const legend =
    `<rect x="${width - 250}" y="${HT + 4}" width="12" height="4" fill="#2a7ae2"/><text x="${width - 234}" y="${HT + 10}">stacked-rnn (native)</text>` +
    `<rect x="${width - 110}" y="${HT + 4}" width="12" height="4" fill="#d9534f"/><text x="${width - 94}" y="${HT + 10}">PyTorch</text>`;
  const caption = `<text x="8" y="${HT + 10}">forward, median ms; one layer, others at ${Object.entries(base)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ')}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${HT + 20}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>${series.map((s, i) => panel(s, i * W)).join('')}${legend}${caption}</svg>
`;
}
