/**
 * A worker_thread for test/threads.test.ts: loads the library (its own module instances, the process's one native
 * addon), says what thread count it sees, then runs the recurrence it is sent `calls` times, posting the outputs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createNativeKernel, nativeAddon } from '../../src/kernels/native.js';
import { getThreads } from '../../src/kernels/threads.js';

interface Work {
  L: number;
  N: number;
  H: number;
  pre: Float32Array;
  whh: Float32Array;
  h0: Float32Array;
  calls: number;
}

const port = parentPort;
if (!port) throw new Error('threads-worker.ts runs as a worker_thread');
port.postMessage({ threads: getThreads(), first: nativeAddon?.first ?? null });
port.once('message', (w: Work) => {
  const kernel = createNativeKernel(nativeAddon as NonNullable<typeof nativeAddon>, { exactBelow: 0 });
  const { L, N, H } = w;
  const outs: Float32Array[] = [];
  for (let i = 0; i < w.calls; i++) {
    const out = new Float32Array(L * N * H);
    const dir = { L, N, H, outStride: H, outOffset: 0, mode: 'RNN_TANH' as const, reverse: false, lengths: null };
    kernel.recurrence({ ...dir, out, hN: new Float32Array(N * H), pre: w.pre, whh: w.whh, h0: w.h0 });
    outs.push(out);
  }
  port.postMessage({ outs });
});
void workerData;
