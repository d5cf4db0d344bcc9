// The native kernel's check on another platform (test/prebuilds.test.ts runs it under qemu-user for linux-arm64
// and under Wine for win32-x64, and on the host): plain JavaScript over the built library (dist/), so that the
// Node.js of that platform runs it with nothing else installed.
//
// For an RNN (tanh, bidirectional), an LSTM, a projected LSTM and a GRU with lengths, in float32 and in float64
// (the float64 kernels, native/f64.h), forward and backward: the native kernel at 1, 2 and 3 threads (the same
// bits at each), against the reference kernel (within 1e-5 in float32, 1e-12 in float64, relative to magnitudes
// above 1), and a digest of its bits that the test compares across platforms.
// Writes its findings as JSON to the file named by its argument (Node under Wine cannot always write to a pipe).
//
//   node scripts/platform-check.mjs OUT.json
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';

const out = process.argv[2];
const result = { platform: `${process.platform}-${process.arch}`, node: process.version, cases: [], pass: false };
try {
  const { GRU, Generator, LSTM, RNN, kernelInfo, randn, setThreads } = await import('../dist/index.js');
  result.info = kernelInfo();
  const [L, N, I, H] = [16, 8, 24, 32]; // L*N*H = 4096: each layer is big enough for the native kernel
  const cases = ['float32', 'float64'].flatMap((dtype) => [
    [
      `RNN tanh, 2 layers, bidirectional, ${dtype}`,
      (s) => new RNN({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, dtype, seed: s }),
      null,
      dtype,
    ],
    [
      `LSTM, 2 layers, ${dtype}`,
      (s) => new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, dtype, seed: s }),
      null,
      dtype,
    ],
    [
      `LSTM, projSize 16, bidirectional, ${dtype}`,
      (s) => new LSTM({ inputSize: I, hiddenSize: H, projSize: 16, bidirectional: true, dtype, seed: s }),
      null,
      dtype,
    ],
    [
      `GRU, 2 layers, lengths, ${dtype}`,
      (s) => new GRU({ inputSize: I, hiddenSize: H, numLayers: 2, dtype, seed: s }),
      [16, 3, 9, 16, 1, 12, 16, 7],
      dtype,
    ],
  ]);
  /** Every float of a forward and backward pass on `backend` at `threads`, in order. */
  const run = (make, lengths, backend, threads, dtype) => {
    process.env.STACKED_RNN_BACKEND = backend;
    setThreads(threads);
    const g = new Generator(7);
    const model = make(3);
    const x = randn([L, N, I], { generator: g, dtype });
    const [y, states] = model.forwardStates(x, null, { requiresGrad: true, ...(lengths ? { lengths } : {}) });
    const grads = model.backwardStates(
      randn(y.shape, { generator: g, dtype }),
      states.map((s) => randn(s.shape, { generator: g, dtype })),
    );
    const arrays = [y, ...states, grads.input, ...grads.states, ...model.namedGrads().map(([, t]) => t)];
    return arrays.filter((t) => t).map((t) => (dtype === 'float64' ? Float64Array : Float32Array).from(t.data));
  };
  const bits = (arrays) =>
    arrays.map((a) => new Uint32Array(a.buffer, a.byteOffset, (a.length * a.BYTES_PER_ELEMENT) / 4));
  const same = (a, b) =>
    a.length === b.length &&
    bits(a).every((u, i) => u.length === bits(b)[i].length && u.every((v, j) => v === bits(b)[i][j]));
  for (const [name, make, lengths, dtype] of cases) {
    const native = [1, 2, 3].map((t) => run(make, lengths, 'native', t, dtype));
    const reference = run(make, lengths, 'reference', 1, dtype);
    let maxError = 0;
    native[0].forEach((a, i) =>
      a.forEach((v, j) => {
        const r = reference[i][j];
        maxError = Math.max(maxError, Math.abs(v - r) / Math.max(1, Math.abs(r)));
      }),
    );
    const digest = createHash('sha256');
    for (const u of bits(native[0])) digest.update(new Uint8Array(u.buffer, u.byteOffset, u.byteLength));
    const threadsSame = same(native[0], native[1]) && same(native[0], native[2]);
    const floats = native[0].reduce((n, a) => n + a.length, 0);
    result.cases.push({
      name,
      floats,
      digest: digest.digest('hex').slice(0, 16),
      threadsSame,
      maxError,
      pass: threadsSame && maxError <= (dtype === 'float64' ? 1e-12 : 1e-5),
    });
  }
  result.pass = result.info.kernel === 'native' && result.cases.every((c) => c.pass);
} catch (e) {
  result.error = e instanceof Error ? `${e.message}\n${e.stack}` : String(e);
}
writeFileSync(out, JSON.stringify(result, null, 2));
process.exit(0);
