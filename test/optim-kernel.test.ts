/**
 * The optimizers' fast path (src/train/optim-kernel.ts: native/optim.h in the native addon and in WebAssembly)
 * against the scalar JavaScript steps of src/train/optim.ts and clip.ts, which the reference kernel runs: the same
 * float32 parameters, moments and clipped gradients bit for bit over many steps of random gradients, with
 * parameters large enough for the native threads (more than 64K elements) and odd sizes for the vector tails.
 * (test/optim.test.ts and optim-state.test.ts check the same steps against PyTorch.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { registerKernel } from '../src/kernels/index.js';
import { createWasmThreadsKernel } from '../src/kernels/wasm/pool.js';
import { Generator } from '../src/random.js';
import { RNN } from '../src/rnn/rnn.js';
import { type Tensor, tensor } from '../src/tensor.js';
import { clipGradNorm, sumSquares } from '../src/train/clip.js';
import { Adam, type AdamOptions, AdamW, type Param, SGD, type SGDOptions } from '../src/train/optim.js';
import { optimKernel } from '../src/train/optim-kernel.js';
import { assertSameBits } from './helpers/bits.js';
import { uniform } from './helpers/random.js';
import { atThreads } from './helpers/threads.js';

/** Runs fn with the kernel `name` selected (STACKED_RNN_BACKEND), restoring the setting after. */
function withBackend<T>(name: string, fn: () => T): T {
  const before = process.env.STACKED_RNN_BACKEND;
  process.env.STACKED_RNN_BACKEND = name;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.STACKED_RNN_BACKEND;
    else process.env.STACKED_RNN_BACKEND = before;
  }
}

const fastKernels = ['native', 'wasm'].filter((name) => {
  try {
    return withBackend(name, () => optimKernel()?.name === name);
  } catch {
    return false; // not registered here
  }
});

// 1, 7 and 300 elements (vector tails), 100003 (two blocks: the native threads take it), 0 (no blocks), 300001
// (five blocks: four threads take it)
const SIZES = [1, 7, 300, 100003, 0, 300001];
const STEPS = 12;

interface Run {
  params: Tensor[];
  state: unknown;
}

type Make = (params: Param[]) => { step(): void; stateDict(): unknown };

/**
 * STEPS steps of random gradients under `backend`; two parameters have no gradient at step 3, so that their bias
 * corrections differ from the others' from then on: the second and the last, which WebAssembly steps in a call of
 * its own (its arrays fill a group), so its constants must be its own in that call too.
 */
function trajectory(backend: string, make: Make, seed: number, clip: number | null): Run {
  const g = new Generator(seed);
  const params = SIZES.map((n) => tensor(uniform(g, n), [n], 'float32'));
  const grads: (Tensor | null)[] = SIZES.map((n) => tensor(new Float32Array(n), [n], 'float32'));
  const list: Param[] = params.map((value, i) => ({
    value,
    get grad() {
      return grads[i] ?? null;
    },
  }));
  const opt = make(list);
  for (let t = 0; t < STEPS; t++) {
    SIZES.forEach((n, i) => {
      grads[i] = t === 3 && (i === 1 || i === SIZES.length - 1) ? null : tensor(uniform(g, n, 0.5), [n], 'float32');
    });
    withBackend(backend, () => {
      if (clip !== null) clipGradNorm(list, clip);
      opt.step();
    });
  }
  return { params, state: opt.stateDict() };
}

function assertSameRun(got: Run, want: Run, backend: string): void {
  got.params.forEach((p, i) => {
    assertSameBits(`params[${i}]`, p.data, (want.params[i] as Tensor).data, 'the JavaScript step');
  });
  const states = (r: Run) => (r.state as { state: Map<number, Record<string, Tensor | null>> }).state;
  for (const [i, entry] of states(got)) {
    for (const [key, value] of Object.entries(entry)) {
      const other = states(want).get(i)?.[key] ?? null;
      assertSameBits(`${backend} state[${i}].${key}`, value?.data ?? null, other?.data ?? null, 'JavaScript');
    }
  }
}

const cases: [string, Make][] = [
  ['Adam', (p) => new Adam(p, { lr: 1e-2 })],
  [
    'Adam with weight decay, AMSGrad and maximize',
    (p) => new Adam(p, { lr: 3e-3, weightDecay: 0.1, amsgrad: true, maximize: true } satisfies AdamOptions),
  ],
  ['Adam with betas (0.8, 0.99) and eps 1e-6', (p) => new Adam(p, { lr: 0.1, betas: [0.8, 0.99], eps: 1e-6 })],
  ['AdamW', (p) => new AdamW(p, { lr: 1e-2, weightDecay: 0.05 })],
  ['AdamW with AMSGrad', (p) => new AdamW(p, { lr: 1e-2, amsgrad: true })],
  ['SGD', (p) => new SGD(p, { lr: 0.1 })],
  ['SGD with weight decay and maximize', (p) => new SGD(p, { lr: 0.1, weightDecay: 0.01, maximize: true })],
  [
    'SGD with momentum and dampening',
    (p) => new SGD(p, { lr: 0.05, momentum: 0.9, dampening: 0.3 } satisfies SGDOptions),
  ],
  [
    'SGD with Nesterov momentum and weight decay',
    (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }),
  ],
];

for (const backend of fastKernels) {
  describe(`the ${backend} kernel's optimizer steps are the JavaScript steps bit for bit`, () => {
    cases.forEach(([name, make], k) => {
      test(`${name}: ${STEPS} steps of parameters and state`, () => {
        assertSameRun(trajectory(backend, make, 100 + k, null), trajectory('reference', make, 100 + k, null), backend);
      });
    });

    test('Adam after clipGradNorm(1.0): the clipped gradients, the norm and the steps', () => {
      const make: Make = (p) => new Adam(p, { lr: 1e-2 });
      assertSameRun(trajectory(backend, make, 7, 1.0), trajectory('reference', make, 7, 1.0), backend);
    });

    test('a gradient that is the parameter itself steps as in JavaScript', () => {
      const run = (name: string) => {
        const p = tensor(uniform(new Generator(5), 70001), [70001], 'float32');
        const opt = new AdamW([{ value: p, grad: p }], { lr: 0.1, weightDecay: 0.1 });
        for (let t = 0; t < 3; t++) withBackend(name, () => opt.step());
        return p.data;
      };
      assertSameBits('params', run(backend), run('reference'), 'the JavaScript step');
    });

    test('clipGradNorm returns the same total norm and scales the same', () => {
      for (const [seed, maxNorm] of [
        [1, 0.5],
        [2, 1e6],
      ] as const) {
        const run = (name: string) => {
          const g = new Generator(seed);
          const grads = SIZES.map((n) => tensor(uniform(g, n, 3), [n], 'float32'));
          const list = grads.map((grad) => ({ value: grad, grad }));
          const total = withBackend(name, () => clipGradNorm(list, maxNorm));
          return { total, grads };
        };
        const [got, want] = [run(backend), run('reference')];
        assertSameBits('total norm', [got.total], [want.total], 'JavaScript');
        got.grads.forEach((t, i) => assertSameBits(`grads[${i}]`, t.data, (want.grads[i] as Tensor).data, 'JS'));
      }
    });
  });
}

/** The threaded WebAssembly kernel on a pool of its own (4 threads at most), named so as not to replace any. */
const threaded = createWasmThreadsKernel(4, { name: 'wasm-threads-optim' });
before(() => threaded.pool.ready());
after(() => threaded.pool.close());
registerKernel(threaded.kernel);

describe('the threaded WebAssembly kernel steps every parameter in one call, its blocks on the threads', () => {
  for (const n of [1, 2, 3, 4]) {
    test(`AdamW with AMSGrad after clipGradNorm(1.0) on ${n} thread${n > 1 ? 's' : ''}: the JavaScript bits`, () => {
      threaded.pool.setThreads(n);
      assert.equal(threaded.pool.running(), n, 'the workers are running');
      const make: Make = (p) => new AdamW(p, { lr: 1e-2, weightDecay: 0.05, amsgrad: true });
      const want = trajectory('reference', make, 21, 1.0);
      assertSameRun(trajectory('wasm-threads-optim', make, 21, 1.0), want, 'wasm-threads');
    });
    test(`SGD with Nesterov momentum on ${n} thread${n > 1 ? 's' : ''}: the JavaScript bits`, () => {
      threaded.pool.setThreads(n);
      const make: Make = (p) => new SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 });
      const want = trajectory('reference', make, 22, 0.5);
      assertSameRun(trajectory('wasm-threads-optim', make, 22, 0.5), want, 'wasm-threads');
    });
  }
});

/** Gradients of 0 to 5 blocks of 64 K elements and of every scale, so that the order of a sum shows in its bits. */
function wideGradients(): Float32Array[] {
  const g = new Generator(31);
  return [0, 1, 65536, 65537, 200000, 327681].map((n) => {
    const x = uniform(g, n, 1);
    for (let j = 0; j < n; j++) x[j] = (x[j] as number) * 2 ** ((j % 97) - 40);
    return x;
  });
}

describe("the kernels' sums of squares are clip.ts's, in float64, bit for bit", () => {
  const check = (backend: string) => {
    const x = wideGradients();
    const out = new Float64Array(x.length);
    withBackend(backend, () => optimKernel()?.sumSquares(x, out));
    assertSameBits('sums of squares', out, x.map(sumSquares), "clip.ts's sums");
  };
  for (const backend of fastKernels) test(backend, () => check(backend));
  for (const n of [1, 2, 3, 4]) {
    test(`the threaded WebAssembly kernel on ${n} thread${n > 1 ? 's' : ''}`, () => {
      threaded.pool.setThreads(n);
      check('wasm-threads-optim');
    });
  }
});

describe('an optimizer step in WebAssembly leaves the weights a module prepared there as they were', () => {
  for (const backend of ['wasm', 'wasm-threads-optim']) {
    test(backend, () => {
      const rnn = new RNN({ inputSize: 8, hiddenSize: 64, numLayers: 2, seed: 3, backend });
      const x = tensor(uniform(new Generator(4), 5 * 2 * 8), [5, 2, 8], 'float32');
      const first = rnn.forward(x)[0].data.slice();
      // another model's parameters, stepped on the same instance: larger than the prepared weights
      const p = tensor(uniform(new Generator(5), 50000), [50000], 'float32');
      const opt = new Adam([{ value: p, grad: tensor(uniform(new Generator(6), 50000), [50000], 'float32') }]);
      withBackend(backend, () => opt.step());
      assertSameBits('output', rnn.forward(x)[0].data, first, 'the output before the step');
    });
  }
});

if (fastKernels.includes('native')) {
  test('the native steps are the same floats on 1 and 3 threads', () => {
    const make: Make = (p) => new AdamW(p, { lr: 1e-2, amsgrad: true });
    const one = atThreads(1, () => trajectory('native', make, 11, 1.0));
    const three = atThreads(3, () => trajectory('native', make, 11, 1.0));
    assertSameRun(three, one, 'native');
  });
}
