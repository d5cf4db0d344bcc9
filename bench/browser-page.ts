/**
 * The browser benchmark's page (bundled by bench/browser.ts with esbuild for the browser, as a user bundles the
 * library): `?who=ours&threads=T` times stacked-rnn (the threaded WebAssembly kernel at T threads in a cross-origin
 * isolated page, the one-thread kernel otherwise), `?who=ort&threads=T` onnxruntime-web's wasm backend at T threads
 * (its own build, served from bench/node_modules under /ort/). Every case of /data/manifest.json runs on the
 * weights, input and float64 output that bench/torch_peer.py wrote; the results go to `window.bench`.
 */
import { GRU, getKernel, getThreads, LSTM, RNN, setThreads, Tensor } from '../src/index.js';
import { browserPool } from '../src/kernels/wasm/browser.js';

interface Case {
  id: string;
  cell: 'rnn' | 'lstm' | 'gru';
  config: string;
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
}

export interface CaseResult {
  id: string;
  ms: number;
  reps: number;
  /** max|out - PyTorch float64| / max(1, max|PyTorch float64|) */
  error: number;
}

export interface PageResult {
  who: string;
  threads: number;
  isolated: boolean;
  kernel: string;
  cases: CaseResult[];
}

/** onnxruntime-web, the little of it used here. */
interface Ort {
  env: { wasm: { numThreads: number; wasmPaths: string; simd?: boolean } };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: {
    create(
      model: Uint8Array,
      options: { executionProviders: string[] },
    ): Promise<{
      outputNames: readonly string[];
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
    }>;
  };
}

const state = globalThis as { bench?: { done: boolean; result?: PageResult; error?: string } };
const BUDGET_MS = 2000;
const WARMUP_MS = 300;

async function bytes(path: string): Promise<ArrayBuffer> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.arrayBuffer();
}

/** Median of repeated calls after a warm-up, as bench/contender.ts. */
async function medianMs(fn: () => unknown): Promise<[number, number]> {
  const warm = performance.now();
  do await fn();
  while (performance.now() - warm < WARMUP_MS);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 200 && (times.length < 3 || performance.now() - start < BUDGET_MS)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)] as number, times.length];
}

function scaledError(got: ArrayLike<number>, want: Float64Array): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return diff / scale;
}

async function ours(c: Case, x: Float32Array): Promise<[number, number, Float32Array]> {
  const names = JSON.parse(new TextDecoder().decode(await bytes(`data/${c.id}/weights.json`))) as [string, number[]][];
  const all = new Float32Array(await bytes(`data/${c.id}/weights.bin`));
  let at = 0;
  const sd = new Map<string, Tensor>();
  for (const [name, shape] of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(name, new Tensor(all.slice(at, at + n), shape));
    at += n;
  }
  const Cell = { rnn: RNN, lstm: LSTM, gru: GRU }[c.cell];
  const rnn = new Cell({ inputSize: c.I, hiddenSize: c.H, numLayers: c.K });
  rnn.loadStateDict(sd);
  const input = new Tensor(x, [c.L, c.N, c.I]);
  const [ms, reps] = await medianMs(() => rnn.forwardStates(input));
  return [ms, reps, rnn.forwardStates(input)[0].data as Float32Array];
}

async function ortRun(ort: Ort, c: Case, x: Float32Array): Promise<[number, number, Float32Array]> {
  const session = await ort.InferenceSession.create(new Uint8Array(await bytes(`data/${c.id}/model.onnx`)), {
    executionProviders: ['wasm'],
  });
  const feeds = { x: new ort.Tensor('float32', x, [c.L, c.N, c.I]) };
  const first = session.outputNames[0] as string;
  const [ms, reps] = await medianMs(() => session.run(feeds));
  return [ms, reps, ((await session.run(feeds))[first] as { data: Float32Array }).data];
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const who = params.get('who') ?? 'ours';
  const threads = Number(params.get('threads') ?? '1');
  const cases = JSON.parse(new TextDecoder().decode(await bytes('data/manifest.json'))) as Case[];
  let ort: Ort | null = null;
  if (who === 'ort') {
    const url = '/ort/ort.wasm.min.mjs'; // not bundled: onnxruntime-web's own build, as its docs serve it
    ort = (await import(/* @vite-ignore */ url)) as Ort;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = '/ort/';
  } else {
    setThreads(threads);
    await browserPool?.ready();
  }
  const result: PageResult = {
    who,
    threads: who === 'ort' ? threads : (browserPool?.running() ?? 1),
    isolated: globalThis.crossOriginIsolated === true,
    kernel: who === 'ort' ? 'onnxruntime-web wasm' : `${getKernel().name} (${getThreads()} asked)`,
    cases: [],
  };
  for (const c of cases) {
    const x = new Float32Array(await bytes(`data/${c.id}/x.bin`));
    const out64 = new Float64Array(await bytes(`data/${c.id}/out64.bin`));
    const [ms, reps, out] = ort ? await ortRun(ort, c, x) : await ours(c, x);
    result.cases.push({ id: c.id, ms, reps, error: scaledError(out, out64) });
  }
  state.bench = { done: true, result };
}

state.bench = { done: false };
main().catch((e: unknown) => {
  state.bench = { done: true, error: String((e as Error)?.stack ?? e) };
});
