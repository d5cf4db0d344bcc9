/**
 * Text generation as the README shows it: a PyTorch character model (Embedding -> 2-layer LSTM -> Linear) saved
 * with torch.save, loaded from its .pt file, primed and run one step per call through `lstm.stream()`, the next
 * character chosen by `argmax`: the text equals PyTorch's greedy text, character for character, for several seeds
 * (scripts/torch_char_greedy.py, run now). Without torch for /usr/bin/python3 the test skips and says why, unless
 * STACKED_RNN_REQUIRE_TORCH=1 (CI), where that is a failure.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { argmax, Embedding, IntTensor, Linear, LSTM, readPtStateDict, submoduleStateDict } from '../src/index.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const SCRIPT = fileURLToPath(new URL('../scripts/torch_char_greedy.py', import.meta.url));
const skip = torchSkip();

/** The README's generation loop: prime, then `length` greedy characters, one LSTM step per character. */
function generate(file: string, vocab: string[], prime: string, length: number): string {
  const sd = readPtStateDict(readFileSync(file));
  const emb = new Embedding({ numEmbeddings: vocab.length, embeddingDim: 32 });
  const lstm = new LSTM({ inputSize: 32, hiddenSize: 64, numLayers: 2, batchFirst: true });
  const head = new Linear({ inFeatures: 64, outFeatures: vocab.length });
  emb.loadStateDict(submoduleStateDict(sd, 'emb'));
  lstm.loadStateDict(submoduleStateDict(sd, 'rnn'));
  head.loadStateDict(submoduleStateDict(sd, 'head'));
  const stream = lstm.eval().stream({ batch: 1 });
  const step = (id: number) => head.forward(stream.step(emb.forward(new IntTensor(Int32Array.of(id), [1])))).data;
  let logits = new Float32Array(0) as ArrayLike<number>;
  for (const ch of prime) logits = step(vocab.indexOf(ch));
  let text = prime;
  for (let i = 0; i < length; i++) {
    const next = argmax(logits as Float32Array);
    text += vocab[next];
    logits = step(next);
  }
  return text;
}

test("a PyTorch character model's greedy text, one stream step per character, is PyTorch's", { skip }, () => {
  assertTorch();
  for (const seed of [0, 1, 2]) {
    const dir = mkdtempSync(join(tmpdir(), 'generation-'));
    try {
      const r = spawnSync(PYTHON, [SCRIPT, dir, String(seed), '120', 'the '], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const want = (JSON.parse(r.stdout) as { text: string }).text;
      const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as string[];
      assert.equal(generate(join(dir, 'lm.pt'), vocab, 'the ', 120), want, `seed ${seed}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});
