/**
 * Every float64 PyTorch fixture through the fast kernels' float64 kernels (native/f64.h): the forward fixtures
 * (test/fixtures/forward), the LSTM, GRU and cell fixtures (test/fixtures/cells, forward and backward) and the RNN
 * gradient fixtures (test/fixtures/grad), run by the native and WebAssembly kernels with `exactBelow: 0`, so that
 * every call of these small cases is the kernel's own (the registered kernels hand them to the reference kernel,
 * under FAST_MIN_WORK multiply-adds). Held to the fixture tests' bars: the forward within 1e-12 of PyTorch float64
 * relative to scale, the gradients within 1e-10; and no call may reach the reference kernel.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { type Kernel, RNN, registerKernel, type Tensor, tensor } from '../src/index.js';
import { createNativeKernel, nativeAddon } from '../src/kernels/native.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { createWasmKernel, wasmExports } from '../src/kernels/wasm/wasm.js';
import { type GatedCase, type GatedTorchResult, judgeOutputs, runGated } from './helpers/cells.js';
import { type Flat, judge, type RnnConfig } from './helpers/compare.js';
import { type GradCase, judgeGrads, runOurs, type TorchResult } from './helpers/grad.js';
import { referenceCalls } from './helpers/kernels.js';

const kernels: Kernel[] = [];
if (nativeAddon) kernels.push(createNativeKernel(nativeAddon, { name: 'native-f64-every-call', exactBelow: 0 }));
if (wasmExports) {
  kernels.push(createWasmKernel(wasmExports, { name: 'wasm-f64-every-call', exactBelow: 0 }));
  const threads = createWasmThreadsKernel(2, { name: 'wasm-threads-f64-every-call', exactBelow: 0 });
  after(() => threads.pool.close());
  kernels.push(threads.kernel);
}
for (const k of kernels) registerKernel(k);

/** The float64 fixtures of one directory, parsed. */
function float64Fixtures<T extends { config: { dtype: string } }>(name: string, pattern = /\.json$/): [string, T][] {
  const dir = new URL(`./fixtures/${name}/`, import.meta.url);
  return readdirSync(dir)
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => [f.replace('.json', ''), JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as T] as [string, T])
    .filter(([, f]) => f.config.dtype === 'float64');
}

interface ForwardFixture {
  config: RnnConfig;
  stateDict: Record<string, Flat>;
  input: Flat;
  h0: Flat | null;
  lengths: number[] | null;
  output: Flat;
  h_n: Flat;
}

const forward = float64Fixtures<ForwardFixture>('forward');
const cells = float64Fixtures<GatedCase & { expected: GatedTorchResult }>('cells', /^(lstm|gru)-.*\.json$/);
const grads = float64Fixtures<GradCase & { expected: TorchResult }>('grad');

test('there are float64 fixtures of every kind to run', () => {
  assert.ok(forward.length >= 10, `${forward.length} forward fixtures`);
  assert.ok(cells.length >= 20, `${cells.length} LSTM, GRU and cell fixtures`);
  assert.ok(grads.length >= 10, `${grads.length} gradient fixtures`);
});

/** Runs `fn`, asserting that none of its calls reached the reference kernel. */
function own<T>(kernel: Kernel, fn: () => T): T {
  let result: T | undefined;
  const handed = referenceCalls(() => {
    result = fn();
  });
  assert.equal(handed, 0, `${handed} calls went to the reference kernel instead of '${kernel.name}'`);
  return result as T;
}

for (const kernel of kernels) {
  describe(`every float64 fixture on the ${kernel.name.replace('-f64-every-call', '')} kernel's float64 kernels`, () => {
    test(`the RNN forward fixtures match PyTorch float64 within 1e-12 (${forward.length} cases)`, (t) => {
      let worst = 0;
      for (const [name, f] of forward) {
        const c = f.config;
        const asTensor = (x: Flat): Tensor => tensor(Array.from(x.data), x.shape, 'float64');
        const rnn = new RNN({ ...c, backend: kernel.name });
        rnn.loadStateDict(Object.fromEntries(Object.entries(f.stateDict).map(([k, p]) => [k, asTensor(p)])));
        rnn.eval();
        const options = f.lengths ? { lengths: f.lengths } : {};
        const [output, hN] = own(kernel, () =>
          rnn.forward(asTensor(f.input), f.h0 ? asTensor(f.h0) : undefined, options),
        );
        const verdict = judge('float64', { output, hN }, { output: f.output, hN: f.h_n });
        assert.ok(verdict.ok, `${name}: ${verdict.message}`);
        worst = Math.max(worst, verdict.ours);
      }
      t.diagnostic(`worst error ${worst.toExponential(2)}`);
    });

    test(`the LSTM, GRU and cell fixtures match PyTorch float64, forward and backward (${cells.length} cases)`, () => {
      for (const [name, f] of cells) {
        const { outputs, grads: g } = own(kernel, () => runGated(f, kernel.name));
        const forwardVerdict = judgeOutputs('float64', outputs, f.expected);
        assert.ok(forwardVerdict.ok, `${name} forward: ${forwardVerdict.message}`);
        const backwardVerdict = judgeGrads('float64', g, f.expected);
        assert.ok(backwardVerdict.ok, `${name} backward: ${backwardVerdict.message}`);
      }
    });

    test(`the RNN gradient fixtures match PyTorch float64 within 1e-10 (${grads.length} cases)`, () => {
      for (const [name, f] of grads) {
        const ours = own(kernel, () => runOurs(f, kernel.name));
        const verdict = judgeGrads('float64', ours.grads, f.expected);
        assert.ok(verdict.ok, `${name}: ${verdict.message}`);
      }
    });
  });
}
