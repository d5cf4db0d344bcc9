/**
 * Issue 22's timings: the LSTM on configuration C (L 256, N 32, I 128, H 256, K 3, float32 forward) on the
 * native kernel from the prebuilt binary and from the source build (native/build/Release, when built), on the
 * threaded WebAssembly kernel that Node.js falls back to without a binary (relaxed SIMD where this Node has
 * it), and on the one-thread WebAssembly kernel, all at the same thread count, interleaved in one process:
 * medians and ratios to the prebuilt native kernel, of wall time and of the process's CPU time (user + system, all
 * threads: on a busy machine, one thread's CPU time is the steadier measure of its work).
 *
 *   node --import tsx bench/fallback.ts [--threads 2] [--runs 7]
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { LSTM, randn, registerKernel, setThreads } from '../src/index.js';
import type { Kernel } from '../src/kernels/kernel.js';
import { createNativeKernel, type NativeAddon, nativeAddon, nativeOrigin } from '../src/kernels/native.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { wasmKernel } from '../src/kernels/wasm/wasm.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const threads = arg('threads', 2);
const runs = arg('runs', 7);
const [L, N, I, H, K] = [256, 32, 128, 256, 3];

setThreads(threads);
const contenders: [string, Kernel][] = [];
if (nativeAddon)
  contenders.push([
    `native (${nativeOrigin?.kind}, ${nativeAddon.isa})`,
    createNativeKernel(nativeAddon, { name: 'bench-native' }),
  ]);
const source = fileURLToPath(new URL('../native/build/Release/stacked_rnn.node', import.meta.url));
if (nativeOrigin?.kind === 'prebuilt' && existsSync(source)) {
  const addon = createRequire(import.meta.url)(source) as NativeAddon;
  addon.threads(threads);
  contenders.push([`native (source build, ${addon.isa})`, createNativeKernel(addon, { name: 'bench-source' })]);
}
const { kernel: threaded, pool } = createWasmThreadsKernel(threads);
await pool.ready();
contenders.push([
  `wasm-threads (${pool.relaxed ? 'relaxed SIMD' : 'SIMD128'}, ${pool.running()} threads)`,
  { ...threaded, name: 'bench-wasm-threads' },
]);
if (wasmKernel) contenders.push(['wasm (1 thread)', { ...wasmKernel, name: 'bench-wasm' }]);

const x = randn([L, N, I], { generator: 1 });
const models = contenders.map(([, kernel]) => {
  registerKernel(kernel);
  return new LSTM({ inputSize: I, hiddenSize: H, numLayers: K, dtype: 'float32', seed: 0, backend: kernel.name });
});
const times: number[][] = contenders.map(() => []);
const cpu: number[][] = contenders.map(() => []);
for (let r = 0; r < runs + 1; r++) {
  models.forEach((m, i) => {
    const [t0, c0] = [performance.now(), process.cpuUsage()];
    m.forward(x);
    const c = process.cpuUsage(c0);
    if (r === 0) return; // the first run warms up
    times[i]?.push(performance.now() - t0);
    cpu[i]?.push((c.user + c.system) / 1000);
  });
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)] ?? Number.NaN;
const [base, baseCpu] = [median(times[0] ?? []), median(cpu[0] ?? [])];
console.log(
  `LSTM C (L ${L}, N ${N}, I ${I}, H ${H}, K ${K}), float32 forward, ${threads} threads, median of ${runs}, Node ${process.version}`,
);
contenders.forEach(([name], i) => {
  const [m, c] = [median(times[i] ?? []), median(cpu[i] ?? [])];
  const ratio = `${(m / base).toFixed(2)}x`.padStart(6);
  console.log(
    `  ${name.padEnd(44)} ${m.toFixed(1).padStart(8)} ms ${ratio}   CPU ${c.toFixed(0).padStart(6)} ms ${(c / baseCpu).toFixed(2)}x`,
  );
});
pool.close();
