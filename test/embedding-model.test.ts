/**
 * A whole text model saved by PyTorch: test/fixtures/embedding/model.pt is `torch.save(model.state_dict())` of
 * scripts/make_embedding_fixtures.py's TextModel (emb = nn.Embedding(11, 6), rnn = nn.RNN(6, 8, num_layers=2,
 * batch_first=True), head = nn.Linear(8, 11), float32), and model.json holds its logits for some ids, in float32
 * and (model.double(), the same weights) in float64.
 *
 * The first test runs the README's example itself: its ```ts block, with the package name pointed at src/ and
 * 'model.pt' at the fixture. The others run the same lines in float32 and float64 on every case.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Embedding, Linear, RNN, readPtStateDict, submoduleStateDict, type Tensor } from '../src/index.js';
import { type DType, type NestedArray, tensor } from '../src/tensor.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError } from './helpers/compare.js';

const MODEL_PT = fileURLToPath(new URL('./fixtures/embedding/model.pt', import.meta.url));
const INDEX = new URL('../src/index.ts', import.meta.url).href;
const README = new URL('../README.md', import.meta.url);

interface Case {
  ids: NestedArray;
  logits32: Flat;
  logits64: Flat;
}
const model = JSON.parse(readFileSync(new URL('./fixtures/embedding/model.json', import.meta.url), 'utf8')) as {
  vocab: number;
  embed: number;
  hidden: number;
  cases: Case[];
  backward: { ids: NestedArray; gradLogits: Flat; grads: Record<string, Flat> };
};

/**
 * float32 logits must be within two float32 ulps (2 * 2^-24, relative to the scale) of PyTorch float64's for the
 * same weights. Not "no worse than PyTorch float32", the rule for an RNN alone: the RNN's float32 output is
 * rounded before the head reads it, as in PyTorch, and the two roundings fall differently (ours 6.0e-8, PyTorch
 * float32 5.8e-8 on case 1).
 */
const FLOAT32_TOLERANCE = 2 * 2 ** -24;

/** The README's lines, with a dtype: ids -> emb -> rnn -> head. */
function logitsOf(ids: NestedArray, dtype: DType): Tensor {
  const V = model.vocab;
  const sd = readPtStateDict(readFileSync(MODEL_PT));
  const emb = new Embedding({ numEmbeddings: V, embeddingDim: model.embed, dtype });
  const rnn = new RNN({ inputSize: model.embed, hiddenSize: model.hidden, numLayers: 2, batchFirst: true, dtype });
  const head = new Linear({ inFeatures: model.hidden, outFeatures: V, dtype });
  emb.loadStateDict(submoduleStateDict(sd, 'emb'));
  rnn.loadStateDict(submoduleStateDict(sd, 'rnn'));
  head.loadStateDict(submoduleStateDict(sd, 'head'));
  const [hidden] = rnn.forward(emb.forward(ids));
  return head.forward(hidden);
}

/** The README's ```ts block that builds an Embedding, made runnable here. */
function readmeExample(): string {
  const blocks = [...readFileSync(README, 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const block = blocks.find((b) => b.includes('new Embedding('));
  assert.ok(block, "README.md has no ```ts block with 'new Embedding('");
  const code = block
    .replace("from 'stacked-rnn'", `from ${JSON.stringify(INDEX)}`)
    .replace("readFileSync('model.pt')", `readFileSync(${JSON.stringify(MODEL_PT)})`);
  assert.ok(!code.includes("'stacked-rnn'") && !code.includes("'model.pt'"), 'the README example changed shape');
  return `${code}\nexport { logits };\n`;
}

describe('A whole Embedding -> RNN -> Linear model saved by PyTorch', () => {
  test("runs as the README's example says, giving PyTorch's float32 logits", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-readme-'));
    try {
      const file = join(dir, 'readme-model.mts');
      writeFileSync(file, readmeExample());
      const { logits } = (await import(pathToFileURL(file).href)) as { logits: Tensor };
      const c = model.cases[0] as Case;
      const err = scaledError(logits, c.logits64, 'logits');
      assert.ok(err <= FLOAT32_TOLERANCE, `logits vs PyTorch float64: ${err}`);
      // the same numbers as the test's own copy of those lines
      assert.deepEqual(Array.from(logits.data), Array.from(logitsOf(c.ids, 'float32').data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [i, c] of model.cases.entries()) {
    const ids = c.logits32.shape.slice(0, 2).join(' x ');
    test(`gives PyTorch float64's logits in float64 for ${ids} ids (case ${i})`, (t) => {
      const err = scaledError(logitsOf(c.ids, 'float64'), c.logits64, 'logits');
      t.diagnostic(`float64 vs PyTorch float64: ${err.toExponential(3)}`);
      assert.ok(err <= FLOAT64_TOLERANCE, `${err}`);
    });

    test(`gives logits in float32 within two float32 ulps of PyTorch float64's, for ${ids} ids (case ${i})`, (t) => {
      const ours = logitsOf(c.ids, 'float32');
      const mine = scaledError(ours, c.logits64);
      const theirs = scaledError(c.logits32, c.logits64);
      const direct = scaledError(ours, c.logits32);
      t.diagnostic(
        `error vs PyTorch float64: ours ${mine.toExponential(3)}, PyTorch float32 ${theirs.toExponential(3)}; ` +
          `ours vs PyTorch float32 ${direct.toExponential(3)}`,
      );
      assert.ok(mine <= FLOAT32_TOLERANCE, `ours ${mine} (PyTorch float32 ${theirs})`);
    });
  }

  test("trains end to end: head, rnn and emb backward give PyTorch float64's gradient of every parameter", (t) => {
    const { ids, gradLogits, grads } = model.backward;
    const sd = readPtStateDict(readFileSync(MODEL_PT));
    const V = model.vocab;
    const dtype = 'float64';
    const emb = new Embedding({ numEmbeddings: V, embeddingDim: model.embed, dtype });
    const rnn = new RNN({ inputSize: model.embed, hiddenSize: model.hidden, numLayers: 2, batchFirst: true, dtype });
    const head = new Linear({ inFeatures: model.hidden, outFeatures: V, dtype });
    const modules = { emb, rnn, head };
    for (const [name, m] of Object.entries(modules)) m.loadStateDict(submoduleStateDict(sd, name));
    const [hidden] = rnn.forward(emb.forward(ids, { requiresGrad: true }), null, { requiresGrad: true });
    head.forward(hidden, { requiresGrad: true });
    emb.backward(rnn.backward(head.backward(tensor(Array.from(gradLogits.data), gradLogits.shape, dtype))).input);
    const ours = Object.entries(modules).flatMap(([prefix, m]) =>
      m.namedGrads().map(([n, g]) => [`${prefix}.${n}`, g] as const),
    );
    assert.deepEqual(
      ours.map(([n]) => n),
      Object.keys(grads),
    );
    let worst = 0;
    for (const [name, g] of ours) {
      const err = scaledError(g, grads[name] as Flat, name);
      worst = Math.max(worst, err);
      assert.ok(err <= FLOAT64_TOLERANCE, `${name}: ${err}`);
    }
    t.diagnostic(`worst gradient error vs PyTorch float64: ${worst.toExponential(3)}`);
  });

  test('submoduleStateDict names the top-level entries when a submodule is not there', () => {
    const sd = readPtStateDict(readFileSync(MODEL_PT));
    assert.throws(() => submoduleStateDict(sd, 'embedding'), {
      name: 'RnnError',
      message: "no entries under 'embedding.' in the state dict",
      hint: "its top-level names are 'emb', 'rnn', 'head'",
    });
  });
});
