/**
 * One contender on one configuration, in its own process so its peak memory is its own (run by bench/run.ts).
 *
 *   node --import tsx bench/contender.ts DIR stacked-rnn|onnxruntime|tfjs KERNEL L N I H K [--cell rnn|lstm|gru] [--train] [--threads T] [--dtype float64]
 *
 * Reads what bench/torch_peer.py wrote to DIR (weights, x, PyTorch's float32 and float64 outputs), times the
 * forward (median of repeats within a time budget) and, with --train, the training step (forward recorded +
 * backward of output.sum()), and prints one JSON line with the times, the output's error against PyTorch
 * float64 and the peak RSS. The cell is the one PyTorch made (nn.RNN, nn.LSTM or nn.GRU, bench/torch_peer.py
 * --cell): stacked-rnn loads its state dict into the same class, onnxruntime runs the graph PyTorch exported
 * (ONNX RNN, LSTM or GRU ops), and tfjs has the RNN only. --threads sets stacked-rnn's thread count
 * (`setThreads`; default: the library's, every logical CPU) and onnxruntime's intra-op threads (default: the
 * faster of 1 and 2). KERNEL `native@PATH` runs the native kernel over the addon built at PATH (another build of
 * native/, e.g. the code before a change, to compare two builds in one run).
 *
 * --dtype float64 (stacked-rnn only): the module is float64 (`dtype: 'float64'`) with PyTorch's weights and
 * input widened exactly, as PyTorch's `.double()` does, and its output is compared with PyTorch float64's; the
 * training step then ends with an Adam step (see TRAIN_F64). A call slower than the time budget is timed once, the
 * warm-up call being the measure (the float64 reference kernel takes minutes on configuration D), and the training
 * step is skipped when the forward took over SKIP_TRAIN_MS.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { registerKernel } from '../src/kernels/index.js';
import { createNativeKernel, type NativeAddon } from '../src/kernels/native.js';
import { getThreads, setThreads } from '../src/kernels/threads.js';
import type { RNNBase } from '../src/rnn/base.js';
import { GRU } from '../src/rnn/gru.js';
import { LSTM } from '../src/rnn/lstm.js';
import { RNN } from '../src/rnn/rnn.js';
import { Tensor } from '../src/tensor.js';
import { Adam, parametersOf } from '../src/train/optim.js';
import { scaledError } from './error.js';

/** The part of onnxruntime-node used here (a bench/package.json peer, which run.ts uses only when it resolves). */
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: {
    create(
      path: string,
      options: { intraOpNumThreads: number },
    ): Promise<{
      run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>>;
    }>;
  };
}

const [dir = '', who = '', kernel = '', ...rest] = process.argv.slice(2);
const [L = 0, N = 0, I = 0, H = 0, K = 0] = rest.slice(0, 5).map(Number);
const train = rest.includes('--train');
const cell = rest.includes('--cell') ? (rest[rest.indexOf('--cell') + 1] as string) : 'rnn';
const threadsAt = rest.indexOf('--threads');
const threads = threadsAt >= 0 ? Number(rest[threadsAt + 1]) : undefined;
const float64 = rest.includes('--dtype') && rest[rest.indexOf('--dtype') + 1] === 'float64';
if (threads !== undefined) setThreads(threads);

function floats(name: string): Float32Array {
  const b = readFileSync(join(dir, name));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
}

function doubles(name: string): Float64Array {
  const b = readFileSync(join(dir, name));
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8).slice();
}

/**
 * The median of repeated calls, after a warm-up of at least one call and up to WARMUP_MS: a JIT (ours, tfjs's
 * JavaScript around its kernels) only reaches its steady state after some hundreds of calls, which a tiny
 * configuration's whole timing budget would otherwise spend in. With `slow`, a first call that takes the whole
 * budget or more is the one measure (one repeat): its one-time costs are then small beside it.
 */
async function medianMs(
  fn: () => unknown,
  budgetMs = 3000,
  most = 200,
  least = 3,
  slow = false,
): Promise<[number, number]> {
  const warm = performance.now();
  await fn();
  const first = performance.now() - warm;
  if (slow && first >= budgetMs) return [first, 1];
  while (performance.now() - warm < WARMUP_MS) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < most && (times.length < least || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return [times[Math.floor(times.length / 2)] as number, times.length];
}

const WARMUP_MS = 300;
/** The float64 module's options, and its training step's optimizer (torch_peer.py --dtype float64 has the same). */
const F64 = { dtype: 'float64' } as const;
const TRAIN_F64 = { lr: 1e-3 };
/** Beyond this forward time the float64 training step (several forwards' work) is not timed. */
const SKIP_TRAIN_MS = 30_000;
const x = floats('x.bin'); // (L, N, I)
const out64 = doubles('out64.bin'); // (L, N, H)
const result: Record<string, unknown> = { who, kernel, cell };

/** The state dict torch_peer.py wrote, in PyTorch's order. */
function stateDict(): [string, number[], Float32Array][] {
  const names = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as [string, number[]][];
  const all = floats('weights.bin');
  let at = 0;
  return names.map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    at += n;
    return [name, shape, all.slice(at - n, at)];
  });
}

if (who === 'stacked-rnn') {
  result.threads = getThreads();
  if (kernel.startsWith('native@')) {
    // another build of the addon, as its own kernel, given the same thread count (an older build may take fewer)
    const addon = createRequire(import.meta.url)(resolve(kernel.slice('native@'.length))) as NativeAddon;
    result.threads = addon.threads(getThreads());
    registerKernel(createNativeKernel(addon, { name: kernel }));
  }
  const options = { inputSize: I, hiddenSize: H, numLayers: K, backend: kernel, ...(float64 ? F64 : {}) };
  const classes: Record<string, new (o: typeof options) => RNNBase> = { rnn: RNN, lstm: LSTM, gru: GRU };
  const Cell = classes[cell];
  if (!Cell) throw new Error(`unknown cell '${cell}': choose rnn, lstm or gru`);
  const rnn = new Cell(options);
  // float64: PyTorch's float32 numbers widened exactly, as its .double() does
  const widen = (data: Float32Array) => (float64 ? Float64Array.from(data) : data);
  const sd = new Map(stateDict().map(([name, shape, data]) => [name, new Tensor(widen(data), shape)]));
  rnn.loadStateDict(sd);
  const input = new Tensor(widen(x), [L, N, I]);
  if (float64) {
    result.dtype = 'float64';
    // one forward of D takes minutes on the reference kernel: the error is taken from the last timed call's output
    let last: Tensor | undefined;
    [result.forward_ms, result.forward_reps] = await medianMs(
      () => {
        last = rnn.forwardStates(input)[0];
      },
      3000,
      200,
      3,
      true,
    );
    result.error = last ? scaledError(last.data, out64) : Number.NaN;
  } else {
    [result.forward_ms, result.forward_reps] = await medianMs(() => rnn.forwardStates(input));
    result.error = scaledError(rnn.forwardStates(input)[0].data, out64);
  }
  if (train && float64 && (result.forward_ms as number) > SKIP_TRAIN_MS) {
    result.train_skipped = `forward over ${SKIP_TRAIN_MS / 1000} s`;
  } else if (train && float64) {
    const ones = new Tensor(new Float64Array(L * N * H).fill(1), [L, N, H]);
    const opt = new Adam(parametersOf(rnn), TRAIN_F64);
    [result.train_ms, result.train_reps] = await medianMs(
      () => {
        rnn.zeroGrad();
        rnn.forwardStates(input, null, { requiresGrad: true });
        rnn.backwardStates(ones, [], { inputGrad: false }); // the gradient of output.sum(), as PyTorch's
        opt.step();
      },
      3000,
      50,
      1,
      true,
    );
  } else if (train) {
    const ones = new Tensor(new Float32Array(L * N * H).fill(1), [L, N, H]);
    [result.train_ms, result.train_reps] = await medianMs(
      () => {
        rnn.zeroGrad();
        rnn.forwardStates(input, null, { requiresGrad: true });
        rnn.backwardStates(ones, [], { inputGrad: false }); // like PyTorch, whose x does not require grad
      },
      3000,
      50,
      1,
    );
  }
} else if (who === 'onnxruntime') {
  const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort; // from bench/node_modules
  let best: [number, number] = [Number.POSITIVE_INFINITY, 0];
  for (const n of threads === undefined ? [1, 2] : [threads]) {
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: n });
    const feeds = { x: new ort.Tensor('float32', x, [L, N, I]) };
    const t = await medianMs(() => session.run(feeds));
    if (t[0] < best[0]) {
      best = t;
      result.threads = n;
      const y = (await session.run(feeds)).y;
      if (y) result.error = scaledError(y.data, out64);
    }
  }
  [result.forward_ms, result.forward_reps] = best;
} else if (who === 'tfjs') {
  if (cell !== 'rnn') throw new Error('the tfjs peer runs the RNN only');
  const { runTfjs } = await import('./tfjs-peer.js');
  const weights = stateDict().map(([, , data]) => data);
  Object.assign(
    result,
    await runTfjs({ x, weights, L, N, I, H, K, medianMs, error: (got) => scaledError(got, out64) }),
  );
} else {
  throw new Error(`unknown contender '${who}'`);
}
result.peak_rss_mb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify(result));
