/**
 * The page of test/wasm-threads-e2e.test.ts (bundled with esbuild for the browser, as a user bundles the library):
 * which kernel the page got, on how many threads, and, for an LSTM whose steps are split by rows, an RNN stack run
 * as the layer wavefront and a GRU, whether 1 and 2 threads write the same bits and how far the output is from the
 * reference kernel's (float64 sums); and a float64 LSTM on the float64 build, loaded on demand. The answers go to
 * `window.threadsPage`.
 */
import {
  GRU,
  getKernel,
  getThreads,
  kernelReady,
  LSTM,
  RNN,
  type RNNBase,
  referenceKernel,
  setThreads,
  Tensor,
} from '../../src/index.js';
import { browserPool } from '../../src/kernels/wasm/browser.js';
import { relaxedSimd } from '../../src/kernels/wasm/pool.js';

export interface ThreadsPage {
  isolated: boolean;
  kernel: string;
  running: number;
  /** getThreads() after setThreads(2) */
  threads: number;
  relaxed: boolean;
  /** per network: the bits at 2 threads equal those at 1, and max |ours - reference| / max(1, max |reference|) */
  nets: { name: string; sameBits: boolean; error: number }[];
  /**
   * A float64 LSTM after `kernelReady({ float64: true })`: its error against the reference kernel's, and the calls
   * that reached the reference kernel (none: the float64 build ran them).
   */
  float64: { error: number; referenceCalls: number };
}

/** A float64 LSTM (2 layers, 16 -> 32) on the page's kernel against the reference kernel. */
function float64Lstm(): { error: number; referenceCalls: number } {
  const [L, N, I] = [8, 4, 16];
  const x = new Tensor(
    Float64Array.from({ length: L * N * I }, (_, i) => Math.cos(i * 0.21)),
    [L, N, I],
  );
  const make = (backend?: string) =>
    new LSTM({
      inputSize: I,
      hiddenSize: 32,
      numLayers: 2,
      dtype: 'float64',
      seed: 4,
      ...(backend ? { backend } : {}),
    });
  const want = make('reference').forwardStates(x)[0].data;
  const reference = referenceKernel as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = { ...reference };
  let referenceCalls = 0;
  for (const name of ['linear', 'recurrence']) {
    reference[name] = (...a: unknown[]) => {
      referenceCalls++;
      return (saved[name] as (...a: unknown[]) => unknown)(...a);
    };
  }
  let got: ArrayLike<number>;
  try {
    got = make().forwardStates(x)[0].data;
  } finally {
    Object.assign(reference, saved);
  }
  let [diff, scale] = [0, 1];
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs((got[i] as number) - (want[i] as number)));
    scale = Math.max(scale, Math.abs(want[i] as number));
  }
  return { error: diff / scale, referenceCalls };
}

const NETS: { name: string; make: (backend?: string) => RNNBase; L: number; N: number; I: number }[] = [
  {
    name: 'LSTM, 32 rows',
    make: (backend) =>
      new LSTM({ inputSize: 64, hiddenSize: 256, numLayers: 2, seed: 1, ...(backend ? { backend } : {}) }),
    L: 6,
    N: 32,
    I: 64,
  },
  {
    name: 'RNN wavefront',
    make: (backend) =>
      new RNN({ inputSize: 32, hiddenSize: 128, numLayers: 2, seed: 2, ...(backend ? { backend } : {}) }),
    L: 200,
    N: 8,
    I: 32,
  },
  {
    name: 'GRU, 32 rows',
    make: (backend) =>
      new GRU({ inputSize: 64, hiddenSize: 256, numLayers: 1, seed: 3, ...(backend ? { backend } : {}) }),
    L: 6,
    N: 32,
    I: 64,
  },
];

async function main(): Promise<ThreadsPage> {
  setThreads(2);
  await kernelReady();
  await browserPool?.ready();
  const nets = NETS.map(({ name, make, L, N, I }) => {
    const x = new Tensor(
      Float32Array.from({ length: L * N * I }, (_, i) => Math.sin(i * 0.37)),
      [L, N, I],
    );
    const ours = make();
    const reference = make('reference');
    setThreads(1);
    const one = ours.forwardStates(x)[0].data;
    setThreads(2);
    const two = ours.forwardStates(x)[0].data;
    const want = reference.forwardStates(x)[0].data;
    let [diff, scale] = [0, 1];
    for (let i = 0; i < want.length; i++) {
      diff = Math.max(diff, Math.abs((two[i] as number) - (want[i] as number)));
      scale = Math.max(scale, Math.abs(want[i] as number));
    }
    const sameBits = one.length === two.length && one.every((v, i) => Object.is(v, two[i]));
    return { name, sameBits, error: diff / scale };
  });
  await kernelReady({ float64: true });
  return {
    float64: float64Lstm(),
    isolated: globalThis.crossOriginIsolated === true,
    kernel: getKernel().name,
    running: browserPool?.running() ?? 1,
    threads: getThreads(),
    relaxed: relaxedSimd(),
    nets,
  };
}

const state = globalThis as { threadsPage?: ThreadsPage | string };
main().then(
  (r) => {
    state.threadsPage = r;
  },
  (e: unknown) => {
    state.threadsPage = String((e as Error)?.stack ?? e);
  },
);
