/**
 * The page of test/wasm-threads-e2e.test.ts (bundled with esbuild for the browser, as a user bundles the library):
 * which kernel the page got, on how many threads, and, for an LSTM whose steps are split by rows, an RNN stack run
 * as the layer wavefront and a GRU, whether 1 and 2 threads write the same bits and how far the output is from the
 * reference kernel's (float64 sums). The answers go to `window.threadsPage`.
 */
import {
  GRU,
  getKernel,
  getThreads,
  kernelReady,
  LSTM,
  RNN,
  type RNNBase,
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
  return {
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
