/**
 * One contender of the streaming benchmark in its own process (run by bench/stream.ts):
 *
 *   stream-contender.ts DIR stream|forward|onnxruntime CELL I H K N L STEPS THREADS
 *   stream-contender.ts DIR lm V E H K LENGTH THREADS
 *
 * Reads what bench/stream_torch.py wrote to DIR, times STEPS calls of L steps of N rows with the state carried
 * (stacked-rnn's `stream().step` when L is 1, else `forwardStates` per call; `forward` always calls
 * forwardStates; onnxruntime-node runs the exported graph with h0/c0 fed back), and prints one JSON line:
 * microseconds per call (median of 5 rounds) and the last output. `lm` loads the character model's .pt and
 * generates LENGTH characters greedily from id 0: Embedding -> LSTM stream -> Linear -> argmax.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import {
  argmax,
  Embedding,
  GRU,
  IntTensor,
  Linear,
  LSTM,
  RNN,
  type RNNBase,
  readPtStateDict,
  setThreads,
  submoduleStateDict,
  Tensor,
} from '../src/index.js';

const [dir = '', who = '', ...rest] = process.argv.slice(2);
setThreads(Number(rest.at(-1)));

function floats(name: string): Float32Array {
  const b = readFileSync(join(dir, name));
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice();
}

/** Seconds of the median of 5 rounds of `fn` (after one to warm up). */
async function rounds(fn: () => unknown, n = 5): Promise<number> {
  await fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return times.sort((a, b) => a - b)[n >> 1] as number;
}

function loadWeights(m: RNNBase): void {
  const names = JSON.parse(readFileSync(join(dir, 'weights.json'), 'utf8')) as [string, number[]][];
  const all = floats('weights.bin');
  let at = 0;
  const sd: Record<string, Tensor> = {};
  for (const [name, shape] of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    sd[name] = new Tensor(all.slice(at, at + n), shape);
    at += n;
  }
  m.loadStateDict(sd);
}

async function lm(): Promise<void> {
  const [V, E, H, K, length] = rest.slice(0, 5).map(Number) as [number, number, number, number, number];
  const sd = readPtStateDict(readFileSync(join(dir, 'lm.pt')));
  const emb = new Embedding({ numEmbeddings: V, embeddingDim: E });
  const lstm = new LSTM({ inputSize: E, hiddenSize: H, numLayers: K, batchFirst: true });
  const head = new Linear({ inFeatures: H, outFeatures: V });
  emb.loadStateDict(submoduleStateDict(sd, 'emb'));
  lstm.loadStateDict(submoduleStateDict(sd, 'rnn'));
  head.loadStateDict(submoduleStateDict(sd, 'head'));
  lstm.eval();
  const ids: number[] = [];
  const s = lstm.stream({ batch: 1 });
  const run = () => {
    ids.length = 0;
    s.reset();
    let token = 0;
    for (let i = 0; i < length; i++) {
      const x = emb.forward(new IntTensor(Int32Array.of(token), [1]));
      token = argmax(head.forward(s.step(x)).data);
      ids.push(token);
    }
  };
  const seconds = await rounds(run, 3);
  console.log(JSON.stringify({ us_per_char: (seconds / length) * 1e6, ids }));
}

/** The part of onnxruntime-node used here (a bench/package.json peer). */
interface Ort {
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => { data: Float32Array };
  InferenceSession: {
    create(
      path: string,
      options: { intraOpNumThreads: number },
    ): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>> }>;
  };
}

async function stream(): Promise<void> {
  const [cell = 'rnn', ...dims] = rest;
  const [I, H, K, N, L, steps, threads] = dims.map(Number) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const x = floats('x.bin'); // (steps, L, N, I)
  const per = L * N * I;
  const lstm = cell === 'lstm';
  let last: Float32Array = new Float32Array(0);
  let run: () => unknown;
  if (who === 'onnxruntime') {
    const ort = createRequire(join(process.cwd(), 'bench', 'package.json'))('onnxruntime-node') as Ort;
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'), { intraOpNumThreads: threads });
    const inputs = Array.from(
      { length: steps },
      (_, s) => new ort.Tensor('float32', x.subarray(s * per, (s + 1) * per), [L, N, I]),
    );
    const zeros = () => new ort.Tensor('float32', new Float32Array(K * N * H), [K, N, H]);
    run = async () => {
      let [h, c] = [zeros(), zeros()];
      for (let s = 0; s < steps; s++) {
        const r = await session.run(lstm ? { x: inputs[s], h0: h, c0: c } : { x: inputs[s], h0: h });
        [h, c] = [r.h_n as never, (r.c_n ?? c) as never];
        if (s === steps - 1) last = (r.y as { data: Float32Array }).data;
      }
    };
  } else {
    const options = { inputSize: I, hiddenSize: H, numLayers: K };
    const m = (cell === 'lstm' ? new LSTM(options) : cell === 'gru' ? new GRU(options) : new RNN(options)).eval();
    loadWeights(m);
    if (who === 'stream' && L === 1) {
      const s = m.stream({ batch: N });
      const inputs = Array.from({ length: steps }, (_, i) => x.subarray(i * per, (i + 1) * per));
      const out = new Float32Array(N * H);
      run = () => {
        s.reset();
        for (let i = 0; i < steps; i++) s.step(inputs[i] as Float32Array, { out });
        last = out;
      };
    } else {
      const inputs = Array.from({ length: steps }, (_, i) => new Tensor(x.subarray(i * per, (i + 1) * per), [L, N, I]));
      run = () => {
        let state: Tensor[] | null = null;
        for (let i = 0; i < steps; i++) {
          const [y, next] = m.forwardStates(inputs[i] as Tensor, state);
          state = next;
          if (i === steps - 1) last = y.data as Float32Array;
        }
      };
    }
  }
  const seconds = await rounds(run);
  console.log(JSON.stringify({ us_per_call: (seconds / steps) * 1e6, last: [...last] }));
}

await (who === 'lm' ? lm() : stream());
