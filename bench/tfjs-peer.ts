/**
 * TensorFlow.js on its WebAssembly backend as a benchmark peer (used by bench/contender.ts): the same stacked
 * tanh RNN, weights and input, written two ways, timed both and the faster kept, as a user would pick:
 *
 * - 'layers': tf.sequential of K tf.layers.simpleRNN({ returnSequences: true }), batch-major (N, L, I) input;
 * - 'ops': per layer one matMul for the input projection of all L*N rows, then per step
 *   h_t = tanh(pre_t + h_{t-1} @ W_hh^T), with tf.tidy freeing every intermediate.
 *
 * Best setting here: SIMD on, one thread. The threaded build does not start in Node.js (Emscripten hands
 * worker_threads a blob: URL, which Node refuses), so `threads` is always 1 in Node.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

type Tf = typeof import('@tensorflow/tfjs');
type TfTensor = import('@tensorflow/tfjs').Tensor;

export interface TfjsRun {
  /** (L, N, I), time-major, as every contender gets it. */
  x: Float32Array;
  /** PyTorch's state dict in order: weight_ih_l{k} (H, I or H), weight_hh_l{k} (H, H), bias_ih_l{k}, bias_hh_l{k}. */
  weights: Float32Array[];
  L: number;
  N: number;
  I: number;
  H: number;
  K: number;
  medianMs(fn: () => unknown): Promise<[number, number]>;
  /** max|got - want| / max(1, max|want|) against PyTorch float64, (L, N, H). */
  error(got: ArrayLike<number>): number;
}

/** Times both formulations; returns the faster's median, repeats and error, and which it was. */
export async function runTfjs(r: TfjsRun): Promise<Record<string, unknown>> {
  const require = createRequire(import.meta.url);
  const tf = require('@tensorflow/tfjs') as Tf;
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs wasm backend did not start');
  await tf.ready();
  const { L, N, I, H, K } = r;
  const result: Record<string, unknown> = {
    backend: tf.getBackend(),
    simd: await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'),
    threads: wasm.getThreadsCount(),
    tfjs: tf.version.tfjs,
  };

  // weights as tfjs wants them: kernels transposed to (in, H), one bias b_ih + b_hh (Keras has one)
  const layer = (k: number) =>
    r.weights.slice(4 * k, 4 * k + 4) as [Float32Array, Float32Array, Float32Array, Float32Array];
  const transposed = (w: Float32Array, rows: number, cols: number) => tf.tensor2d(w, [rows, cols]).transpose();

  // 'ops': time-major throughout
  const opsWeights = Array.from({ length: K }, (_, k) => {
    const [wih, whh, bih, bhh] = layer(k);
    const In = k === 0 ? I : H;
    return { wih: transposed(wih, H, In), whh: transposed(whh, H, H), b: tf.add(tf.tensor1d(bih), tf.tensor1d(bhh)) };
  });
  const x = tf.tensor3d(r.x, [L, N, I]);
  const ops = () =>
    tf.tidy(() => {
      let input: TfTensor = x.reshape([L * N, I]);
      for (const w of opsWeights) {
        const pre = tf.add(tf.matMul(input, w.wih), w.b).reshape([L, N, H]);
        const steps = tf.unstack(pre);
        let h: TfTensor = tf.zeros([N, H]);
        const outs: TfTensor[] = [];
        for (const p of steps) {
          h = tf.tanh(tf.add(p, tf.matMul(h, w.whh)));
          outs.push(h);
        }
        input = tf.stack(outs).reshape([L * N, H]);
      }
      return input;
    });
  const runOps = () => {
    const y = ops();
    const data = y.dataSync() as Float32Array;
    y.dispose();
    return data;
  };

  // 'layers': batch-major (N, L, I) in, (N, L, H) out
  const model = tf.sequential();
  for (let k = 0; k < K; k++) {
    const [wih, whh, bih, bhh] = layer(k);
    const In = k === 0 ? I : H;
    model.add(tf.layers.simpleRNN({ units: H, returnSequences: true, activation: 'tanh', inputShape: [L, In] }));
    model.layers[k]?.setWeights([
      transposed(wih, H, In),
      transposed(whh, H, H),
      tf.add(tf.tensor1d(bih), tf.tensor1d(bhh)),
    ]);
  }
  const xb = x.transpose([1, 0, 2]);
  const runLayers = () => {
    const y = model.predict(xb) as TfTensor;
    const data = y.dataSync() as Float32Array;
    y.dispose();
    return data;
  };
  const layersOut = () => {
    const y = model.predict(xb) as TfTensor;
    const t = y.transpose([1, 0, 2]);
    const data = t.dataSync() as Float32Array;
    tf.dispose([y, t]);
    return data;
  };

  let best: [number, number] = [Number.POSITIVE_INFINITY, 0];
  for (const [variant, run, out] of [
    ['ops', runOps, runOps],
    ['layers', runLayers, layersOut],
  ] as const) {
    const t = await r.medianMs(run);
    result[`${variant}_ms`] = t[0];
    if (t[0] < best[0]) {
      best = t;
      result.variant = variant;
      result.error = r.error(out());
    }
  }
  [result.forward_ms, result.forward_reps] = best;
  return result;
}
