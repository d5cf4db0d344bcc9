/**
 * How long a cache line takes to go from one core to the other and back, measured the way the native kernel's
 * layer pipeline hands work over: two threads spinning on one shared word, each waiting for the other's write.
 *
 *   node --import tsx bench/handoff.ts      prints the median round trip in ns
 *
 * On this virtual machine the answer moves between about 60 and 400 ns from one minute to the next (the host
 * places the two virtual CPUs near each other or not), and the pipeline's speed on small steps (configuration B)
 * moves with it; bench/run.ts records it beside each run.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

const ROUNDS = 20000;

/** The worker's side, as plain JavaScript (a worker thread does not inherit tsx): waits for odd, writes even. */
const WORKER = `
const { workerData: word, parentPort } = require('node:worker_threads');
parentPort.postMessage('ready');
for (let r = 0; r < ${ROUNDS}; r++) {
  while (Atomics.load(word, 0) !== 2 * r + 1) {}
  Atomics.store(word, 0, 2 * r + 2);
}`;

/** The median of `runs` round-trip times in ns between this thread and a worker thread. */
export async function handoffNs(runs = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const word = new Int32Array(new SharedArrayBuffer(64));
    const worker = new Worker(WORKER, { eval: true, workerData: word });
    await new Promise((resolve) => worker.once('message', resolve)); // the worker is spinning
    const start = process.hrtime.bigint();
    for (let r = 0; r < ROUNDS; r++) {
      Atomics.store(word, 0, 2 * r + 1);
      while (Atomics.load(word, 0) !== 2 * r + 2) {
        // spin: a sleep would measure the scheduler, not the cores
      }
    }
    times.push(Number(process.hrtime.bigint() - start) / ROUNDS);
    await worker.terminate();
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(`core-to-core round trip: ${(await handoffNs()).toFixed(0)} ns`);
}
