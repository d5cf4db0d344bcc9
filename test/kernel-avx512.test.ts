/**
 * The AVX-512 build of the native kernel (stacked_rnn_avx512.node: native/addon.cc with RNN_VBYTES 64) gives the
 * AVX2 build's floats, bit for bit, on every call: its products' tiles are twice as wide, but every output column is
 * the same float32 chain (k in order, restarted every KB terms), and its float64 code keeps vectors of 4 doubles, so
 * it pairs the same lanes wherever two share a division. So everything the AVX2 build is tested for carries over to
 * the build the library picks on a CPU with AVX-512, and the RNN's floats are those they always were.
 *
 * Runs where the CPU has AVX-512 and both builds loaded; says why it skips otherwise.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gatesOf, type Kernel, type Mode, tapeWidth } from '../src/kernels/kernel.js';
import { createNativeKernel, type NativeAddon, nativeAddon, nativeBuilds } from '../src/kernels/native.js';
import { Generator } from '../src/random.js';
import { stackForward } from '../src/rnn/stack.js';
import { int, uniform } from './helpers/random.js';

const { avx2, avx512 } = nativeBuilds;
const skip = !avx2
  ? 'no native addon'
  : !avx2.avx512
    ? 'this CPU lacks AVX-512'
    : !avx512
      ? 'the AVX-512 build did not load'
      : false;

function sameBits(what: string, a: ArrayLike<number> | null | undefined, b: ArrayLike<number> | null | undefined) {
  assert.equal(a?.length, b?.length, what);
  if (!a || !b) return;
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}[${i}]: AVX-512 ${a[i]}, AVX2 ${b[i]}`);
  }
}

describe('the AVX-512 build gives the AVX2 build floats', { skip }, () => {
  const wide = avx512 as NativeAddon;
  const narrow = avx2 as NativeAddon;
  const kernels = [createNativeKernel(wide, { exactBelow: 0 }), createNativeKernel(narrow, { exactBelow: 0 })] as const;

  test('the library picks the AVX-512 build (unless STACKED_RNN_NATIVE_ISA=avx2)', () => {
    assert.equal(nativeAddon?.isa, process.env.STACKED_RNN_NATIVE_ISA === 'avx2' ? 'avx2' : 'avx512');
    assert.equal(wide.isa, 'avx512');
    assert.equal(narrow.isa, 'avx2');
  });

  /** Runs `call` on each build (fresh copies of `make()`'s arrays) with n threads and compares what it wrote. */
  function both<T extends Record<string, Float32Array | null>>(
    what: string,
    make: () => T,
    call: (k: Kernel, a: T) => void,
  ) {
    for (const threads of [1, 2]) {
      const results = kernels.map((k, i) => {
        const addon = i === 0 ? wide : narrow;
        const before = addon.threads();
        addon.threads(threads);
        try {
          const a = make();
          call(k, a);
          return a;
        } finally {
          addon.threads(before);
        }
      });
      const [a, b] = results as [T, T];
      for (const key of Object.keys(a)) sameBits(`${what}, ${threads} thread(s): ${key}`, a[key], b[key]);
    }
  }

  test('linear and linearBackward on 20 random shapes', () => {
    const g = new Generator(1);
    for (let c = 0; c < 20; c++) {
      const [M, C, O] = [c % 5 === 0 ? int(g, 200, 400) : int(g, 1, 40), int(g, 1, 300), int(g, 1, 300)];
      const [x, w, b1, dy] = [uniform(g, M * C), uniform(g, O * C), uniform(g, O), uniform(g, M * O)];
      const what = `(M ${M}, C ${C}, O ${O})`;
      both(
        what,
        () => ({ y: new Float32Array(M * O) }),
        (k, a) => k.linear(a.y, x, w, b1, null, M, C, O),
      );
      both(
        what,
        () => ({ dx: new Float32Array(M * C), dw: new Float32Array(O * C), db: new Float32Array(O) }),
        (k, a) => k.linearBackward(a.dx, a.dw, a.db, null, dy, x, w, M, C, O),
      );
    }
  });

  test('the RNN recurrence and its backward on 24 cases (the single-row path included)', () => {
    const g = new Generator(2);
    for (let c = 0; c < 24; c++) {
      const row = c % 3 === 0; // N = 1, tanh, H = 16..64 in steps of 16: the fused single row
      const [L, N, H] = [int(g, 1, 30), row ? 1 : int(g, 1, 40), row ? 16 * int(g, 1, 4) : int(g, 1, 200)];
      const mode: Mode = row || c % 2 === 0 ? 'RNN_TANH' : 'RNN_RELU';
      const lengths = !row && c % 4 === 1 ? Int32Array.from({ length: N }, () => int(g, 1, L)) : null;
      const reverse = c % 5 === 2;
      const [pre, whh, h0, dout] = [
        uniform(g, L * N * H),
        uniform(g, H * H, 1 / Math.sqrt(H)),
        uniform(g, N * H),
        uniform(g, L * N * H),
      ];
      const shape = { L, N, H, outStride: H, outOffset: 0, mode, reverse, lengths };
      const what = `(L ${L}, N ${N}, H ${H}, ${mode})`;
      let out = new Float32Array(0);
      both(
        what,
        () => ({ out: new Float32Array(L * N * H), hN: new Float32Array(N * H) }),
        (k, a) => {
          k.recurrence({ ...shape, ...a, pre, whh, h0 });
          out = a.out;
        },
      );
      both(
        what,
        () => ({ dpre: new Float32Array(L * N * H), dh0: new Float32Array(N * H), dwhh: new Float32Array(H * H) }),
        (k, a) => k.recurrenceBackward({ ...shape, ...a, dout, dhN: null, out, h0, whh }),
      );
    }
  });

  for (const [name, mode, projected] of [
    ['LSTM', 'LSTM', false],
    ['LSTM with proj_size', 'LSTM', true],
    ['GRU', 'GRU', false],
  ] as const) {
    test(`the ${name} recurrence and its backward on 12 cases`, () => {
      const g = new Generator(name.length);
      for (let c = 0; c < 12; c++) {
        const [L, N, H] = [int(g, 1, 20), c % 3 === 0 ? 1 : int(g, 1, 40), int(g, 2, 150)];
        const P = projected ? int(g, 1, H - 1) : H;
        const G = gatesOf(mode);
        const lengths = c % 4 === 1 ? Int32Array.from({ length: N }, () => int(g, 1, L)) : null;
        const shape = { L, N, H, P, outStride: P, outOffset: 0, mode, reverse: c % 2 === 1, lengths };
        const pre = uniform(g, L * N * G * H, 2);
        const whh = uniform(g, G * H * P, 1 / Math.sqrt(P));
        const [h0, c0, dout] = [uniform(g, N * P), uniform(g, N * H), uniform(g, L * N * P)];
        const whr = projected ? uniform(g, P * H, 1 / Math.sqrt(H)) : null;
        const bhh = mode === 'GRU' ? uniform(g, G * H) : null;
        const what = `${name} (L ${L}, N ${N}, H ${H}, P ${P})`;
        let fwd = { out: new Float32Array(0), tape: new Float32Array(0) };
        both(
          what,
          () => ({
            out: new Float32Array(L * N * P),
            hN: new Float32Array(N * P),
            cN: new Float32Array(N * H),
            tape: new Float32Array(L * N * tapeWidth(mode, H)),
          }),
          (k, a) => {
            k.recurrence({ ...shape, ...a, pre, whh, h0, c0, whr, bhh });
            fwd = { out: a.out, tape: a.tape };
          },
        );
        both(
          what,
          () => ({
            dpre: new Float32Array(L * N * G * H),
            dh0: new Float32Array(N * P),
            dc0: new Float32Array(N * H),
            dwhh: new Float32Array(G * H * P),
            dwhr: projected ? new Float32Array(P * H) : null,
            dbhh: bhh ? new Float32Array(G * H) : null,
          }),
          (k, a) => k.recurrenceBackward({ ...shape, ...a, dout, dhN: null, dcN: null, ...fwd, h0, c0, whh, whr, bhh }),
        );
      }
    });
  }

  test('stacks run as a wavefront (RNN, LSTM, GRU)', () => {
    const g = new Generator(5);
    for (const mode of ['RNN_TANH', 'LSTM', 'GRU'] as const) {
      for (const [L, N, I, H, K] of [
        [40, 1, 8, 64, 2],
        [20, 3, 5, 37, 3],
      ] as const) {
        const G = gatesOf(mode);
        const weights = Array.from({ length: K }, (_, k) => [
          {
            wih: uniform(g, G * H * (k ? H : I), 0.3),
            whh: uniform(g, G * H * H, 0.3),
            bih: uniform(g, G * H),
            bhh: uniform(g, G * H),
          },
        ]);
        const [x, h0] = [uniform(g, L * N * I), uniform(g, K * N * H)];
        const c0 = mode === 'LSTM' ? uniform(g, K * N * H) : null;
        both(
          `${mode} stack (L ${L}, N ${N}, H ${H}, K ${K})`,
          () => ({
            out: new Float32Array(L * N * H),
            hN: new Float32Array(K * N * H),
            cN: c0 ? new Float32Array(K * N * H) : null,
          }),
          // biome-ignore format: stackForward's argument order
          (k, a) => stackForward(k, a.out, a.hN, a.cN, x, h0, c0, weights, { L, N, I, H, K, D: 1 }, mode, null, null, null),
        );
      }
    }
  });
});
