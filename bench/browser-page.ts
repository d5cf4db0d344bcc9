/**
 * The browser benchmark's page (bundled by bench/browser.ts with esbuild for the browser, as a user bundles the
 * library): `?who=ours&threads=1,2` times stacked-rnn (the threaded WebAssembly kernel in a cross-origin isolated
 * page, the one-thread kernel otherwise) at each of those thread counts, taking turns call by call within each case
 * so that whatever else the machine runs meanwhile slows every count alike; `?who=ort&threads=T` times
 * onnxruntime-web's wasm backend at T threads (its own build, served from bench/node_modules under /ort/; it sets
 * its threads once per page). Every case of /data/manifest.json runs on the weights, input and float64 output that
 * bench/torch_peer.py wrote; the results go to `window.bench`.
 */
import { GRU, getKernel, getThreads, kernelReady, LSTM, RNN, setThreads, Tensor } from '../src/index.js';
import { browserPool } from '../src/kernels/wasm/browser.js';
import { scaledError } from './error.js';

interface Case {
  id: string;
  cell: 'rnn' | 'lstm' | 'gru';
  config: string;
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  /** A streaming case: `steps` calls of one time step each (x.bin (steps, 1, N, I)), the state carried. */
  steps?: number;
}

export interface CaseResult {
  id: string;
  threads: number;
  /** when the case's timing began and ended (ms since 1970, for bench/browser.ts's load samples) */
  from: number;
  to: number;
  ms: number;
  reps: number;
  /** max|out - PyTorch float64| / max(1, max|PyTorch float64|) */
  error: number;
}

export interface PageResult {
  who: string;
  /** the threads running (ours: at the largest count asked for) */
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
const TURN_MS = 25;

async function bytes(path: string): Promise<ArrayBuffer> {
  const r = await fetch(path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.arrayBuffer();
}

/**
 * Medians of repeated calls after a warm-up, as bench/contender.ts, one for each of `setups` (ours: a thread count
 * to set), the setups taking turns of at least TURN_MS (a call at least), so that a short call still finds the
 * pool's workers awake, as back-to-back calls do.
 */
async function medianMs(fn: () => unknown, setups: (() => void)[] = [() => {}]): Promise<[number, number][]> {
  const warm = performance.now();
  do
    for (const setup of setups) {
      setup();
      await fn();
    }
  while (performance.now() - warm < WARMUP_MS * setups.length);
  const times: number[][] = setups.map(() => []);
  const start = performance.now();
  const budget = BUDGET_MS * setups.length;
  const enough = () => times.every((t) => t.length >= 200 || (t.length >= 3 && performance.now() - start > budget));
  while (!enough()) {
    for (const [i, setup] of setups.entries()) {
      setup();
      const turn = performance.now();
      do {
        const t0 = performance.now();
        await fn();
        times[i]?.push(performance.now() - t0);
      } while (performance.now() - turn < TURN_MS);
    }
  }
  return times.map((t) => {
    t.sort((a, b) => a - b);
    return [t[Math.floor(t.length / 2)] as number, t.length];
  });
}

async function ours(c: Case, x: Float32Array, threads: number[]): Promise<[[number, number][], Float32Array]> {
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
  if (c.steps) {
    // one call per time step, the state carried: the whole run of steps is one timed call
    const s = rnn.eval().stream({ batch: c.N });
    const per = c.N * c.I;
    const inputs = Array.from({ length: c.steps }, (_, i) => x.subarray(i * per, (i + 1) * per));
    const out = new Float32Array(c.N * c.H);
    const run = () => {
      s.reset();
      for (const xt of inputs) s.step(xt, { out });
    };
    const timed = await medianMs(
      run,
      threads.map((t) => () => setThreads(t)),
    );
    run();
    return [timed, out];
  }
  const input = new Tensor(x, [c.L, c.N, c.I]);
  const timed = await medianMs(
    () => rnn.forwardStates(input),
    threads.map((t) => () => setThreads(t)),
  );
  return [timed, rnn.forwardStates(input)[0].data as Float32Array];
}

async function ortRun(ort: Ort, c: Case, x: Float32Array): Promise<[[number, number][], Float32Array]> {
  const session = await ort.InferenceSession.create(new Uint8Array(await bytes(`data/${c.id}/model.onnx`)), {
    executionProviders: ['wasm'],
  });
  if (c.steps) {
    const steps = c.steps;
    const per = c.N * c.I;
    const inputs = Array.from(
      { length: steps },
      (_, i) => new ort.Tensor('float32', x.subarray(i * per, (i + 1) * per), [1, c.N, c.I]),
    );
    const zeros = () => new ort.Tensor('float32', new Float32Array(c.K * c.N * c.H), [c.K, c.N, c.H]);
    let last: Float32Array = new Float32Array(0);
    const run = async () => {
      let [h, cs] = [zeros(), zeros()];
      for (const xt of inputs) {
        const r = await session.run(c.cell === 'lstm' ? { x: xt, h0: h, c0: cs } : { x: xt, h0: h });
        [h, cs] = [r.h_n as unknown, (r.c_n ?? cs) as unknown];
        last = (r.y as { data: Float32Array }).data;
      }
    };
    const timed = await medianMs(run);
    await run();
    return [timed, last];
  }
  const feeds = { x: new ort.Tensor('float32', x, [c.L, c.N, c.I]) };
  const first = session.outputNames[0] as string;
  const timed = await medianMs(() => session.run(feeds));
  return [timed, ((await session.run(feeds))[first] as { data: Float32Array }).data];
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const who = params.get('who') ?? 'ours';
  const counts = (params.get('threads') ?? '1').split(',').map(Number);
  const threads = Math.max(...counts);
  const cases = JSON.parse(new TextDecoder().decode(await bytes('data/manifest.json'))) as Case[];
  let ort: Ort | null = null;
  if (who === 'ort') {
    const url = '/ort/ort.wasm.min.mjs'; // not bundled: onnxruntime-web's own build, as its docs serve it
    ort = (await import(/* @vite-ignore */ url)) as Ort;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = '/ort/';
  } else {
    setThreads(threads);
    await kernelReady();
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
    const from = performance.timeOrigin + performance.now();
    const [timed, out] = ort ? await ortRun(ort, c, x) : await ours(c, x, counts);
    const to = performance.timeOrigin + performance.now();
    const error = scaledError(out, out64);
    for (const [i, [ms, reps]] of timed.entries())
      result.cases.push({ id: c.id, threads: counts[i] ?? 1, from, to, ms, reps, error });
  }
  state.bench = { done: true, result };
}

state.bench = { done: false };
main().catch((e: unknown) => {
  state.bench = { done: true, error: String((e as Error)?.stack ?? e) };
});
