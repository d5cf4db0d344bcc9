/**
 * The browser benchmark (`npm run bench -- --browser [--configs BCE] [--cells rnn,lstm,gru]`): stacked-rnn against
 * onnxruntime-web's wasm backend in Chromium, on the same weights and input (bench/torch_peer.py, with the ONNX
 * graph PyTorch exports), in one run. The library is bundled as a user bundles it (esbuild, browser platform:
 * bench/browser-page.ts); the page is served cross-origin isolated (Cross-Origin-Opener-Policy: same-origin,
 * Cross-Origin-Embedder-Policy: require-corp), and once more without, for the one-thread kernel a page that is not
 * isolated runs. Columns: ours at 1 and 2 threads (one page, the two counts taking turns call by call: on a shared
 * machine, pages minutes apart see different loads), ours not isolated, onnxruntime-web at 1 and 2 threads (each
 * its own page: onnxruntime-web sets its threads once per page). Prints the table (median ms, ort-web's best /
 * ours' best: above 1 means we are faster, error against PyTorch float64) and the cores that other processes took
 * during each page (Linux), and writes them with the raw numbers to bench/results/browser-*.json.
 *
 * With --stream, issue 21's per-step cases instead (S1-S3: I, H, K = 16, 64, 2; 64, 256, 2; 128, 512, 3; N 1):
 * each call a run of 100 time steps, one step per call of `stream().step` or of onnxruntime-web's session (h0, c0
 * fed back), the table in ms per 100 steps.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { PageResult } from './browser-page.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTHON = '/usr/bin/python3';
const CHROMIUM = '/usr/bin/chromium';
const CONFIGS: Record<string, { L: number; N: number; I: number; H: number; K: number }> = {
  B: { L: 100, N: 1, I: 32, H: 64, K: 2 },
  C: { L: 256, N: 32, I: 128, H: 256, K: 3 },
  E: { L: 2048, N: 8, I: 64, H: 128, K: 2 },
};

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const configs = flag('--configs', 'BCE').split('');
const cells = flag('--cells', 'rnn,lstm,gru').split(',');
/** --stream: issue 21's per-step table instead, one call per time step with the state carried (S1-S3: I, H, K). */
const streaming = process.argv.includes('--stream');
const STREAM: Record<string, { I: number; H: number; K: number }> = {
  S1: { I: 16, H: 64, K: 2 },
  S2: { I: 64, H: 256, K: 2 },
  S3: { I: 128, H: 512, K: 3 },
};
const STREAM_STEPS = 100;
const ORT_DIST = join(ROOT, 'bench/node_modules/onnxruntime-web/dist');
if (!existsSync(ORT_DIST)) throw new Error('onnxruntime-web is not installed: run `npm run bench -- --browser`');

const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-browser-'));
const cases = [];
for (const cell of streaming ? cells : []) {
  for (const [config, c] of Object.entries(STREAM)) {
    const id = `${cell}-${config}`;
    mkdirSync(join(dir, 'data', id), { recursive: true });
    // the weights, the STREAM_STEPS inputs (steps, 1, 1, I) and the graph with h0/c0 as inputs (bench/stream_torch.py)
    const args = [join(ROOT, 'bench/stream_torch.py'), join(dir, 'data', id), cell, c.I, c.H, c.K, 1, 1, STREAM_STEPS];
    const r = spawnSync(PYTHON, [...args.map(String), '1'], { encoding: 'utf8', cwd: join(ROOT, 'bench') });
    if (r.status !== 0) throw new Error(`stream_torch.py ${id} failed:\n${r.stderr}`);
    const last = (JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as { last: number[] }).last;
    writeFileSync(join(dir, 'data', id, 'out64.bin'), new Uint8Array(Float64Array.from(last).buffer));
    cases.push({ id, cell, config, L: 1, N: 1, ...c, steps: STREAM_STEPS });
  }
}
for (const cell of streaming ? [] : cells) {
  for (const config of configs) {
    const c = CONFIGS[config];
    if (!c) throw new Error(`unknown configuration '${config}': choose from ${Object.keys(CONFIGS).join('')}`);
    const id = `${cell}-${config}`;
    mkdirSync(join(dir, 'data', id), { recursive: true });
    const args = [join(ROOT, 'bench/torch_peer.py'), join(dir, 'data', id), ...[c.L, c.N, c.I, c.H, c.K].map(String)];
    const r = spawnSync(PYTHON, [...args, '--cell', cell, '--onnx'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`torch_peer.py ${id} failed:\n${r.stderr}`);
    cases.push({ id, cell, config, ...c });
  }
}
writeFileSync(join(dir, 'data/manifest.json'), JSON.stringify(cases));
await build({
  entryPoints: [join(ROOT, 'bench/browser-page.ts')],
  outfile: join(dir, 'page.js'),
  bundle: true,
  platform: 'browser',
  format: 'esm',
  logLevel: 'warning',
});
writeFileSync(
  join(dir, 'index.html'),
  '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>',
);

const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};
// /iso/... cross-origin isolated, /plain/... not; /ort/... onnxruntime-web's files
const server = createServer((req, res) => {
  const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
  const [, top = '', ...rest] = path.split('/');
  const file =
    top === 'ort' ? join(ORT_DIST, ...rest) : rest.join('') === '' ? join(dir, 'index.html') : join(dir, ...rest);
  if (!file.startsWith(dir) && !file.startsWith(ORT_DIST)) return void res.writeHead(404).end();
  const isolated = top === 'iso' || top === 'ort';
  try {
    const body = readFileSync(file);
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      ...(isolated
        ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
        : {}),
    });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
/**
 * CPU time so far (ms): the whole machine's busy time, and that of this process and each of its descendants
 * (Chromium's processes); null off Linux.
 */
function cpuNow(): { busy: number; ours: Map<number, number> } | null {
  const HZ = 100; // USER_HZ: the unit of /proc's tick counts on Linux
  try {
    const all = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
    const busy = all.reduce((a, b) => a + b, 0) - (all[3] ?? 0) - (all[4] ?? 0); // less idle and iowait
    const procs = new Map<number, { parent: number; ticks: number }>();
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        procs.set(Number(pid), { parent: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) }); // ppid, utime, stime
      } catch {} // gone meanwhile
    }
    const mine = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.parent ?? 0, hops++) {
        if (p === process.pid) return true;
      }
      return false;
    };
    const ours = new Map<number, number>();
    for (const [pid, p] of procs) if (mine(pid)) ours.set(pid, (p.ticks * 1000) / HZ);
    return { busy: (busy * 1000) / HZ, ours };
  } catch {
    return null;
  }
}

// ours at 1 and 2 threads come from one page, taking turns
const pages: { path: string; labels: [string, number][] }[] = [
  {
    path: '/iso/?who=ours&threads=1,2',
    labels: [
      ['ours 1 thread', 1],
      ['ours 2 threads', 2],
    ],
  },
  { path: '/plain/?who=ours&threads=2', labels: [['ours not isolated', 2]] },
  { path: '/iso/?who=ort&threads=1', labels: [['ort-web 1 thread', 1]] },
  { path: '/iso/?who=ort&threads=2', labels: [['ort-web 2 threads', 2]] },
];
const runs = pages.flatMap((p) => p.labels.map(([label, threads]) => ({ label, threads, path: p.path })));
/** A sample of cpuNow(), at `at` ms since 1970. */
type Sample = { at: number; cpu: NonNullable<ReturnType<typeof cpuNow>> };
/** The cores other processes took between two samples: the machine's busy time less that of our processes alive
 * at the second (one that exits meanwhile, such as the last page's renderer shutting down, counts as others': it
 * takes little). */
function othersCores(a: Sample, b: Sample): number {
  let ours = 0;
  for (const [pid, ms] of b.cpu.ours) ours += ms - (a.cpu.ours.get(pid) ?? 0);
  return Math.max(0, (b.cpu.busy - a.cpu.busy - ours) / (b.at - a.at));
}
/** Of the samples, the last at or before `from` and the first at or after `to` (the nearest ones otherwise). */
function around(samples: Sample[], from: number, to: number): [Sample, Sample] | null {
  const before = samples.filter((s) => s.at <= from).at(-1) ?? samples[0];
  const after = samples.find((s) => s.at >= to) ?? samples.at(-1);
  return before && after && after.at > before.at ? [before, after] : null;
}
const results: { path: string; result: PageResult; othersCores: number | null; samples: Sample[] }[] = [];
try {
  for (const run of pages) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`${run.path}: ${e.message}`));
    // the machine's load, sampled 4 times a second while the page runs
    const samples: Sample[] = [];
    const sample = () => {
      const cpu = cpuNow();
      if (cpu) samples.push({ at: Date.now(), cpu });
    };
    sample();
    const sampler = setInterval(sample, 250);
    await page.goto(`${origin}${run.path}`);
    await page.waitForFunction(() => (globalThis as { bench?: { done: boolean } }).bench?.done, null, {
      timeout: 20 * 60_000,
      polling: 500,
    });
    clearInterval(sampler);
    sample();
    const got = (await page.evaluate(() => (globalThis as { bench?: unknown }).bench)) as {
      result?: PageResult;
      error?: string;
    };
    await page.close();
    if (!got.result) throw new Error(`${run.path}: ${got.error}`);
    const whole = around(samples, 0, Number.POSITIVE_INFINITY);
    const others = whole ? othersCores(...whole) : null;
    console.error(
      `${run.path}: ${got.result.kernel}, ${got.result.threads} running, isolated ${got.result.isolated}` +
        (others === null ? '' : `, other processes took ${others.toFixed(2)} cores`),
    );
    results.push({ path: run.path, result: got.result, othersCores: others, samples });
  }
} finally {
  await browser.close();
  server.close();
}

const version = browser.version();
const ms = (label: string, id: string) => {
  const run = runs.find((r) => r.label === label);
  const page = results.find((r) => r.path === run?.path);
  return page?.result.cases.find((c) => c.id === id && c.threads === run?.threads);
};
const lines = [
  `Chromium ${version}, ${new Date().toISOString().slice(0, 10)}; median ms; ratio: onnxruntime-web's best / ours' best (above 1: we are faster)`,
  '',
  `| case | ${runs.map((r) => r.label).join(' | ')} | ratio | error ours | error ort | others' cores |`,
  `|---|${runs.map(() => '---:').join('|')}|---:|---:|---:|---:|`,
];
for (const c of cases) {
  const t = runs.map((r) => ms(r.label, c.id)?.ms ?? Number.NaN);
  const [o1, o2, , r1, r2] = t as [number, number, number, number, number];
  const ratio = Math.min(r1, r2) / Math.min(o1, o2);
  const err = (label: string) => (ms(label, c.id)?.error ?? Number.NaN).toExponential(1);
  const shown = t.map((v) => (v < 10 ? v.toFixed(2) : v.toFixed(0)));
  // the cores other processes took while this case ran, page by page (ours 1 and 2, not isolated, ort 1, ort 2)
  const load = results.map((r) => {
    const at = r.result.cases.find((k) => k.id === c.id);
    const span = at ? around(r.samples, at.from, at.to) : null;
    return span ? othersCores(...span).toFixed(1) : '?';
  });
  lines.push(
    `| ${c.cell.toUpperCase()} ${c.config} | ${shown.join(' | ')} | ${ratio.toFixed(2)} | ${err('ours 2 threads')} | ${err('ort-web 2 threads')} | ${load.join(' / ')} |`,
  );
}
const loads = results.map((r) => `${r.path} ${r.othersCores === null ? '?' : r.othersCores.toFixed(2)}`);
lines.push(
  '',
  `Others' cores: what other processes took of the ${availableParallelism()} while the case ran, in each page (ours 1 and 2 threads, ours not isolated, ort-web 1, ort-web 2; Linux).`,
  `During each whole page: ${loads.join('; ')}`,
);
console.log(lines.join('\n'));
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(
  join(ROOT, `bench/results/browser-${stamp}.json`),
  JSON.stringify({ version, table: lines, results: results.map(({ samples, ...r }) => r) }, null, 2),
);
rmSync(dir, { recursive: true, force: true });
