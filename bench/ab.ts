/**
 * Two builds of a kernel in one process, on the same module and input, calls alternating, each side's fastest call
 * kept (the least disturbed by other processes on a shared machine): the float32 gate epilogue (issue 26) against
 * the build before it, or any two builds.
 *
 *   node --import tsx bench/ab.ts OLD NEW [--cells lstm,gru] [--configs BCDE] [--threads 1,2] [--reps 7] [--train]
 *
 * OLD and NEW: `native` (native/build/Release's build: the AVX-512 one where the CPU has it), `native:FILE.node`
 * (another build of the addon), `wasm` (the one-thread WebAssembly kernel) or `wasm:FILE.ts` (another
 * src/kernels/wasm/binary.ts, e.g. from `git show REV:src/kernels/wasm/binary.ts`). Forward, and with --train also
 * the training step (forward recorded + backward of a gradient of ones). --threads applies to native builds.
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { GRU, LSTM, RNN, Tensor } from '../src/index.js';
import { registerKernel } from '../src/kernels/index.js';
import { createNativeKernel, type NativeAddon, nativeAddon } from '../src/kernels/native.js';
import type { WasmExports } from '../src/kernels/wasm/memory.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] as string) : fallback;
};
const files = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && (args[i - 1] as string).startsWith('--')));
if (files.length !== 2) throw new Error('usage: bench/ab.ts OLD NEW (native, native:FILE.node, wasm, wasm:FILE.ts)');
/** The kernel of a spec, registered as `name`, and how to set its thread count. */
async function build(spec: string, name: string): Promise<(n: number) => void> {
  const [kind, file] = spec.split(':') as [string, string | undefined];
  if (kind === 'native') {
    const addon = file ? (createRequire(import.meta.url)(resolve(file)) as NativeAddon) : nativeAddon;
    if (!addon) throw new Error('no native addon');
    registerKernel(createNativeKernel(addon, { name }));
    return (n) => addon.threads(n);
  }
  let w = wasmExports;
  if (file) {
    const { WASM_KERNEL_BASE64 } = (await import(resolve(file))) as { WASM_KERNEL_BASE64: string };
    const bytes = Uint8Array.from(atob(WASM_KERNEL_BASE64), (c) => c.charCodeAt(0));
    w = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as WasmExports;
  }
  if (!w) throw new Error('no WebAssembly kernel');
  registerKernel(createWasmKernel(w, { name }));
  return () => {};
}
const builds: [string, (n: number) => void][] = [
  ['old', await build(files[0] as string, 'ab-old')],
  ['new', await build(files[1] as string, 'ab-new')],
];
const CONFIGS: Record<string, { L: number; N: number; I: number; H: number; K: number }> = {
  B: { L: 100, N: 1, I: 32, H: 64, K: 2 },
  C: { L: 256, N: 32, I: 128, H: 256, K: 3 },
  D: { L: 128, N: 128, I: 512, H: 512, K: 4 },
  E: { L: 2048, N: 8, I: 64, H: 128, K: 2 },
};
const reps = Number(flag('--reps', '7'));
const train = args.includes('--train');
console.log(
  '| cell | config | threads | old ms | new ms | old / new |' +
    (train ? ' train old ms | train new ms | old / new |' : ''),
);
console.log(`|---|---|---|---|---|---|${train ? '---|---|---|' : ''}`);
for (const cell of flag('--cells', 'lstm,gru').split(',')) {
  for (const c of flag('--configs', 'BCDE')) {
    const s = CONFIGS[c];
    if (!s) throw new Error(`unknown config ${c}`);
    for (const threads of flag('--threads', '1,2').split(',').map(Number)) {
      for (const [, setThreads] of builds) setThreads(threads);
      const Cls = cell === 'lstm' ? LSTM : cell === 'gru' ? GRU : RNN;
      const mods = builds.map(
        ([name]) => new Cls({ inputSize: s.I, hiddenSize: s.H, numLayers: s.K, seed: 1, backend: `ab-${name}` }),
      );
      const x = new Tensor(
        Float32Array.from({ length: s.L * s.N * s.I }, (_, i) => Math.sin(i * 0.37)),
        [s.L, s.N, s.I],
      );
      const ones = new Tensor(new Float32Array(s.L * s.N * s.H).fill(1), [s.L, s.N, s.H]);
      const best = [Infinity, Infinity];
      const bestT = [Infinity, Infinity];
      for (let r = 0; r < reps; r++) {
        mods.forEach((m, k) => {
          const t0 = performance.now();
          m.forwardStates(x);
          best[k] = Math.min(best[k] as number, performance.now() - t0);
          if (train) {
            const t1 = performance.now();
            m.zeroGrad();
            m.forwardStates(x, null, { requiresGrad: true });
            m.backwardStates(ones, [], { inputGrad: false });
            bestT[k] = Math.min(bestT[k] as number, performance.now() - t1);
          }
        });
      }
      const f = (v: number) => (v < 10 ? v.toFixed(3) : v.toFixed(1));
      const row = `| ${cell} | ${c} | ${threads} | ${f(best[0] as number)} | ${f(best[1] as number)} | ${((best[0] as number) / (best[1] as number)).toFixed(2)}x |`;
      const trow = train
        ? ` ${f(bestT[0] as number)} | ${f(bestT[1] as number)} | ${((bestT[0] as number) / (bestT[1] as number)).toFixed(2)}x |`
        : '';
      console.log(row + trow);
    }
  }
}
