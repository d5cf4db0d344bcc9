/**
 * A PyTorch character model (emb: Embedding -> rnn: 2-layer LSTM -> head: Linear) as users save one:
 * test/fixtures/char-model/lm.pt = torch.save({'model', 'optimizer' (Adam), 'epoch'}), made with
 * scripts/torch_char_model.py, and its expected.json (torch's logits, loss, gradients by name, the weights after
 * one more Adam step resumed from the saved state, and greedy text). Plus live: our checkpoint resumed in torch.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  Adam,
  argmax,
  crossEntropyLoss,
  crossEntropyLossBackward,
  Embedding,
  Linear,
  LSTM,
  languageModelFromStateDict,
  readPtObject,
  readPtStateDict,
  Sequential,
  type Tensor,
  writePtObject,
  writePtStateDict,
} from '../src/index.js';
import { flatError } from './helpers/compare.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const DIR = new URL('fixtures/char-model/', import.meta.url);
const SCRIPT = fileURLToPath(new URL('../scripts/torch_char_model.py', import.meta.url));
const bytes = readFileSync(new URL('lm.pt', DIR));
const vocab = JSON.parse(readFileSync(new URL('vocab.json', DIR), 'utf8')) as string[];
const expected = JSON.parse(readFileSync(new URL('expected.json', DIR), 'utf8')) as {
  ids: number[][];
  targets: number[];
  logits: number[];
  h_n: number[];
  loss: number;
  grads: Record<string, number[]>;
  stepped: Record<string, number[]>;
  names: string[];
  greedy: string;
};
/** A few float32 roundings of the values' scale: float32 against float32 after different summation orders. */
const F32 = 2e-5;

function build(): Sequential {
  // The four lines: read, build, load, run (the run is in each test).
  const sd = readPtStateDict(bytes);
  const model = new Sequential({
    emb: new Embedding({ numEmbeddings: vocab.length, embeddingDim: 8 }),
    rnn: new LSTM({ inputSize: 8, hiddenSize: 12, numLayers: 2 }),
    head: new Linear({ inFeatures: 12, outFeatures: vocab.length }),
  });
  model.loadStateDict(sd);
  return model;
}

/** Forward and backward of the cross-entropy loss on the fixture's batch; returns the loss. */
function lossAndGrads(model: Sequential): { loss: number; logits: Tensor; hN: Tensor } {
  const [logits, state] = model.forward(expected.ids, null, { requiresGrad: true });
  const V = vocab.length;
  const flat = logits.reshape([-1, V].map((d) => (d < 0 ? logits.numel / V : d)));
  const loss = crossEntropyLoss(flat, expected.targets);
  model.zeroGrad();
  model.backward(crossEntropyLossBackward(flat, expected.targets).reshape(logits.shape));
  return { loss, logits, hN: state.rnn?.[0] as Tensor };
}

describe('a PyTorch character model in a Sequential', () => {
  test("the Sequential's parameters are PyTorch's, by PyTorch's names and in its order", () => {
    assert.deepEqual(
      build()
        .namedParameters()
        .map(([n]) => n),
      expected.names,
    );
  });

  test("logits, h_n and the loss are torch's", () => {
    const { loss, logits, hN } = lossAndGrads(build());
    assert.ok(flatError(logits.data, expected.logits) < F32, `logits ${flatError(logits.data, expected.logits)}`);
    assert.ok(flatError(hN.data, expected.h_n) < F32);
    assert.ok(Math.abs(loss - expected.loss) < F32 * expected.loss);
  });

  test("every parameter's gradient, by PyTorch's name, is torch's", () => {
    const model = build();
    lossAndGrads(model);
    for (const name of expected.names) {
      const e = flatError(model.grad(name).data, expected.grads[name] as number[]);
      assert.ok(e < F32, `${name}: ${e}`);
    }
  });

  test("one Adam step resumed from the file's optimizer state gives torch's weights", () => {
    const model = build();
    const opt = new Adam(model.parameters(), { lr: 0.5 }); // the file's lr (0.02) replaces this one
    const ckpt = readPtObject(bytes) as Map<string, unknown>;
    opt.loadStateDict(ckpt.get('optimizer'));
    assert.equal(opt.lr, 0.02);
    lossAndGrads(model);
    opt.step();
    for (const name of expected.names) {
      const e = flatError(model.parameter(name).data, expected.stepped[name] as number[]);
      assert.ok(e < F32, `${name}: ${e}`);
    }
  });

  test('without the resumed state the same step is a fresh Adam step, not torch’s', () => {
    const model = build();
    const opt = new Adam(model.parameters(), { lr: 0.02 });
    lossAndGrads(model);
    opt.step();
    const e = flatError(model.parameter('rnn.weight_hh_l0').data, expected.stepped['rnn.weight_hh_l0'] as number[]);
    assert.ok(e > 1e-3, `the resumed moments must matter: ${e}`);
  });

  test("languageModelFromStateDict finds emb, rnn and head by shapes and gives torch's greedy text", () => {
    const { model, vocabSize } = languageModelFromStateDict(readPtStateDict(bytes));
    assert.equal(vocabSize, vocab.length);
    assert.deepEqual([...model.children.keys()], ['emb', 'rnn', 'head']);
    const prime = [...'The'].map((c) => vocab.indexOf(c));
    let [logits, state] = model.forward(prime.map((i) => [i]));
    let text = 'The';
    for (let i = 0; i < 80; i++) {
      const next = argmax(logits.data.subarray(logits.numel - vocab.length) as Float32Array);
      text += vocab[next];
      [logits, state] = model.forward([[next]], state);
    }
    assert.equal(text, expected.greedy);
  });

  test("the Sequential's state dict loads back into itself, and an extra key is named in torch's words", () => {
    const model = build();
    const sd = model.stateDict();
    assert.deepEqual(Object.keys(sd), expected.names);
    const other = build();
    other.loadStateDict(sd);
    assert.throws(
      () => other.loadStateDict({ ...sd, 'head.extra': sd['head.bias'] as Tensor }),
      /Unexpected key\(s\) in state_dict: "head\.extra"/,
    );
  });

  test('eval() and zeroGrad() reach every child', () => {
    const model = build();
    lossAndGrads(model);
    model.eval();
    for (const [, c] of model.children) assert.equal(c.training, false);
    model.zeroGrad();
    for (const [, g] of model.namedGrads()) assert.ok(g.data.every((x) => x === 0));
  });
});

describe('our checkpoint in PyTorch, live', { skip: torchSkip() }, () => {
  test("a checkpoint we write loads with load_state_dict (strict) into torch's model and Adam, and steps alike", () => {
    assertTorch();
    const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-ckpt-'));
    try {
      const model = build();
      const opt = new Adam(model.parameters(), { lr: 0.01 });
      lossAndGrads(model);
      opt.step(); // our own state now: step 1
      lossAndGrads(model);
      const grads = Object.fromEntries(model.namedGrads().map(([n, g]) => [n, g.clone()]));
      writeFileSync(
        join(dir, 'ckpt.pt'),
        writePtObject({ model: model.stateDict(), optimizer: opt.stateDict(), epoch: 7 }),
      );
      writeFileSync(join(dir, 'grads.pt'), writePtStateDict(grads));
      opt.step();
      const r = spawnSync(
        PYTHON,
        [SCRIPT, 'resume', join(dir, 'ckpt.pt'), join(dir, 'grads.pt'), join(dir, 'out.pt')],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { epoch: 7, lr: 0.01 });
      const theirs = readPtStateDict(readFileSync(join(dir, 'out.pt')));
      for (const [name, p] of model.namedParameters()) {
        const e = flatError(p.data, (theirs[name] as Tensor).data);
        assert.ok(e < 1e-6, `${name}: ${e}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
