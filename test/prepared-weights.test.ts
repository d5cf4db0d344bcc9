/**
 * Prepared weights: a module packs its weights for its kernel once (`Kernel.prepare`) and packs them again only
 * when a parameter was written: by loadStateDict, an optimizer's step, or code that says so (parametersChanged,
 * bumpVersion). A stale panel must never be used: after every kind of write, the module computes what a fresh
 * module holding the same weights computes, bit for bit.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  Adam,
  GRU,
  getKernel,
  type Kernel,
  kernelNames,
  LSTM,
  parametersOf,
  RNN,
  type RNNBase,
  randn,
  registerKernel,
  SGD,
  type Tensor,
} from '../src/index.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { assertSameBits } from './helpers/bits.js';

/** Each kernel that prepares weights: native (where the addon loads), wasm, and the threaded wasm on 2 threads. */
const threaded = createWasmThreadsKernel(2);
after(() => threaded.pool.close());
const kernels = [...kernelNames().map((n) => getKernel(n)), threaded.kernel].filter((k) => k.prepare);

let prepares = 0;
/** How many of them were packed again into the handle they replace. */
let repacked = 0;
for (const fast of kernels) {
  /** The kernel, counting the weights it prepares. */
  registerKernel({
    ...fast,
    name: `${fast.name}-counting`,
    prepare: (w, layout, O, C, into) => {
      prepares++;
      const p = fast.prepare?.(w, layout, O, C, into) ?? null;
      if (into && p === into) repacked++;
      return p;
    },
  });
  /** The kernel without prepared weights: every call packs the arrays, as before. */
  const { prepare: _unused, ...unprepared } = fast;
  registerKernel({ ...unprepared, name: `${fast.name}-unprepared` } as Kernel);
}

type Make = (backend: string) => RNNBase;
const CASES: [string, Make][] = [
  ['RNN', (backend) => new RNN({ inputSize: 16, hiddenSize: 64, numLayers: 2, seed: 1, backend })],
  ['LSTM', (backend) => new LSTM({ inputSize: 16, hiddenSize: 48, numLayers: 2, seed: 2, backend })],
  [
    'LSTM proj_size',
    (backend) => new LSTM({ inputSize: 16, hiddenSize: 48, projSize: 20, numLayers: 2, seed: 3, backend }),
  ],
  ['GRU', (backend) => new GRU({ inputSize: 16, hiddenSize: 48, numLayers: 2, bidirectional: true, seed: 4, backend })],
];

const x = randn([7, 3, 16], { generator: 9 });

/** The output and states of a forward, flat. */
function run(m: RNNBase): Float32Array[] {
  const [out, states] = m.forwardStates(x);
  return [out, ...states].map((t: Tensor) => t.data as Float32Array);
}

/** Asserts that `m` computes what a fresh module with its weights computes, bit for bit. */
function assertCurrent(what: string, m: RNNBase, make: Make): void {
  const fresh = make('unprepared');
  fresh.loadStateDict(m.stateDict());
  const [got, want] = [run(m), run(fresh)];
  got.forEach((g, i) => assertSameBits(`${what}: result ${i}`, g, want[i] ?? null, 'a fresh module'));
}

for (const fast of kernels)
  describe(`prepared weights on the ${fast.name} kernel`, () => {
    const on =
      (make: Make): Make =>
      (backend) =>
        make(`${fast.name}-${backend}`);
    for (const [name, makeAny] of CASES) {
      const make = on(makeAny);
      test(`${name}: a forward on prepared weights gives the bits of the arrays packed by each call`, () => {
        const [a, b] = [run(make('counting')), run(make('unprepared'))];
        a.forEach((g, i) => assertSameBits(`result ${i}`, g, b[i] ?? null, 'unprepared'));
      });

      test(`${name}: the weights are prepared once, and again only after a write`, () => {
        const m = make('counting');
        prepares = 0;
        run(m);
        const once = prepares;
        assert.ok(once > 0, 'prepared at the first forward');
        run(m);
        if (!m.bidirectional) m.stream({ batch: 3 }).step(randn([3, 16]));
        assert.equal(prepares, once, 'no second preparation while nothing changed');
        const bytes = m.preparedBytes;
        repacked = 0;
        m.loadStateDict(m.stateDict());
        run(m);
        assert.equal(prepares, 2 * once, 'prepared again after loadStateDict');
        assert.equal(repacked, once, 'each packed again in place, into the handle it replaces');
        assert.equal(m.preparedBytes, bytes);
        assert.ok(bytes > 0);
      });

      test(`${name}: loadStateDict's weights are the ones used next`, () => {
        const m = make('counting');
        run(m);
        const other = make('unprepared');
        other.parameter('weight_hh_l1').data.fill(0.01);
        m.loadStateDict(other.stateDict());
        assertCurrent('after loadStateDict', m, make);
      });

      test(`${name}: an SGD step's weights are the ones used next`, () => {
        const m = make('counting');
        const [out] = m.forwardStates(x, null, { requiresGrad: true });
        m.backwardStates(out);
        new SGD(parametersOf(m), { lr: 0.5, momentum: 0.9 }).step();
        assertCurrent('after SGD.step', m, make);
      });

      test(`${name}: an Adam step's weights are the ones used next, by forward and by a stream`, () => {
        const m = make('counting').eval();
        const stream = m.bidirectional ? null : m.stream();
        stream?.step(randn([16]));
        const [out] = m.forwardStates(x, null, { requiresGrad: true });
        m.backwardStates(out);
        new Adam(parametersOf(m), { lr: 0.1 }).step();
        assertCurrent('after Adam.step', m, make);
        if (!stream) return;
        const fresh = make('unprepared').eval();
        fresh.loadStateDict(m.stateDict());
        const xt = randn([16], { generator: 5 });
        stream.reset();
        assertSameBits(
          'stream step after Adam.step',
          stream.step(xt).data,
          fresh.stream().step(xt).data,
          'a fresh module',
        );
      });

      test(`${name}: a write to a parameter's data is used once parametersChanged() says so`, () => {
        const m = make('counting');
        run(m);
        m.parameter('weight_ih_l0').data.fill(0.25);
        m.parametersChanged();
        assertCurrent('after parametersChanged', m, make);
        m.parameter('weight_hh_l0').data.fill(-0.125);
        m.parameter('weight_hh_l0').bumpVersion();
        assertCurrent('after bumpVersion', m, make);
      });
    }

    test('a float64 module prepares its weights in float64, and computes what an unprepared one does, bit for bit', () => {
      const make = (backend: string) =>
        new LSTM({
          inputSize: 16,
          hiddenSize: 48,
          numLayers: 2,
          dtype: 'float64',
          seed: 5,
          backend: `${fast.name}-${backend}`,
        });
      const m = make('counting');
      prepares = 0;
      const x64 = randn([7, 3, 16], { dtype: 'float64', generator: 9 });
      const got = m.forwardStates(x64);
      assert.equal(prepares, 4, 'W_ih and W_hh of each of the 2 layers');
      // float64 panels: about the parameters' bytes (the two layers' W_ih and W_hh, padded to whole panels)
      assert.ok(m.preparedBytes >= 8 * 4 * 48 * (16 + 48 + 48 + 48), `${m.preparedBytes} bytes`);
      const want = make('unprepared').forwardStates(x64);
      [got[0], ...got[1]].forEach((t, i) => {
        const w = [want[0], ...want[1]][i] as Tensor;
        assertSameBits(`result ${i}`, t.data as Float64Array, w.data as Float64Array, 'an unprepared module');
      });
    });
  });
