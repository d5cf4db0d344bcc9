/**
 * Training end to end: the loop makes the loss fall, `stacked-rnn train` and `sample` write and read what they
 * say, and a checkpoint loads back here and in PyTorch (scripts/make_train_fixtures.py forward) with the same
 * forward. The CLI tests run the built command (dist/, built by `npm test`'s pretest).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RnnError } from '../src/errors.js';
import { setEntry } from '../src/io/record.js';
import { type RawTensor, readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { randn, Tensor } from '../src/tensor.js';
import { checkpointBytes, loadCheckpoint } from '../src/train/checkpoint.js';
import { oneHot } from '../src/train/data.js';
import { defaultConfig, type TrainConfig, Trainer, train } from '../src/train/loop.js';
import { lossPlotSvg } from '../src/train/plot.js';
import { sampleText } from '../src/train/sample.js';
import { cli, scratchDir } from './helpers/cli.js';
import { FLOAT64_TOLERANCE, type Flat, scaledError } from './helpers/compare.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const tmp = scratchDir('train');
after(tmp.cleanup);

const SCRIPT = fileURLToPath(new URL('../scripts/make_train_fixtures.py', import.meta.url));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** A sine run small enough for a test: a few seconds on the reference kernel. */
const small = (over: Partial<TrainConfig> = {}): TrainConfig => ({
  ...defaultConfig('sine'),
  hidden: 16,
  batch: 8,
  seqLen: 24,
  warmup: 6,
  steps: 80,
  ...over,
});

function readCsv(path: string): { header: string[]; rows: number[][] } {
  const [head, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  return { header: (head as string).split(','), rows: lines.map((l) => l.split(',').map(Number)) };
}

describe('the training loop', () => {
  test('makes the sine loss fall at least fivefold in 80 steps', () => {
    const { losses } = train(small());
    const first = mean(losses.slice(0, 5));
    const last = mean(losses.slice(-10));
    assert.ok(last < first / 5, `first ${first}, last ${last}`);
  });

  test('makes the character model loss fall', () => {
    const { losses } = train({ ...defaultConfig('chars'), hidden: 24, batch: 4, seqLen: 16, steps: 40 });
    assert.ok(
      mean(losses.slice(-5)) < mean(losses.slice(0, 5)) * 0.9,
      `losses ${losses.slice(0, 5)} ... ${losses.slice(-5)}`,
    );
  });

  test('gives the same losses for the same seed, and different ones for another', () => {
    const a = train(small({ steps: 5 })).losses;
    assert.deepEqual(train(small({ steps: 5 })).losses, a);
    assert.notDeepEqual(train(small({ steps: 5, seed: 1 })).losses, a);
  });

  test('feeds models of every depth the same batches, step by step', () => {
    for (const config of [small({ steps: 3 }), { ...defaultConfig('chars'), hidden: 8, batch: 4, seqLen: 16 }]) {
      const [one, ...deeper] = [1, 2, 3].map((layers) => inputsFed({ ...config, layers }, 3));
      assert.notDeepEqual(one?.[1], one?.[0], `${config.task}: each step draws a new batch`);
      deeper.forEach((fed, i) => assert.deepEqual(fed, one, `${config.task}: ${i + 2} layers against 1`));
      const other = inputsFed({ ...config, layers: 1, seed: 1 }, 1);
      assert.notDeepEqual(other[0], one?.[0], `${config.task}: another seed draws other batches`);
    }
  });

  test('refuses --bidirectional for next-step prediction, saying why', () => {
    assert.throws(() => new Trainer(small({ bidirectional: true })), /reverse direction would read x\[t\+1\]/);
  });
});

describe('checkpoints', () => {
  const trainer = new Trainer(small({ steps: 3, dtype: 'float64' }));
  for (let i = 0; i < 3; i++) trainer.step();
  const bytes = checkpointBytes(trainer.model, { note: 'test' });
  const x = randn([7, 3, 1], { generator: 5, dtype: 'float64' }); // (L, N, I)

  test('load back with the same forward and the metadata', () => {
    const { model, metadata } = loadCheckpoint(bytes);
    assert.deepEqual(model.forward(x)[0].data, trainer.model.eval().forward(x)[0].data);
    assert.equal(metadata.task, 'sine');
    assert.equal(metadata.note, 'test');
    assert.deepEqual(Object.keys(model.stateDict()), Object.keys(trainer.model.stateDict()));
  });

  test('keep a character vocabulary with newlines and quotes intact', () => {
    const chars = new Trainer({ ...defaultConfig('chars'), hidden: 8, steps: 1 });
    const { model } = loadCheckpoint(checkpointBytes(chars.model));
    assert.deepEqual(model.config.vocab, chars.model.config.vocab);
    assert.ok(model.config.vocab?.includes('\n'));
  });

  test('refuse a file that is not a checkpoint, with a hint', () => {
    const bare = writeSafetensors(trainer.model.rnn.stateDict());
    assert.throws(
      () => loadCheckpoint(bare),
      (e: Error & { hint?: string }) =>
        /not a stacked-rnn checkpoint: metadata 'format' is missing/.test(e.message) &&
        /stacked-rnn run/.test(e.hint ?? ''),
    );
  });

  /** The checkpoint with some metadata values replaced. */
  const withMetadata = (changes: Record<string, string>): Uint8Array => {
    const { tensors, metadata } = readSafetensors(bytes);
    return writeSafetensors(Object.fromEntries(tensors), { ...metadata, ...changes });
  };

  test('refuse metadata claiming 100000000 layers against the tensors, before building the model', () => {
    assert.throws(
      () => loadCheckpoint(withMetadata({ num_layers: '100000000' })),
      (e: unknown) =>
        e instanceof RnnError &&
        e.code === 'corrupt_file' &&
        e.message ===
          "checkpoint metadata disagrees with its tensors: 'num_layers' is 100000000 but the tensors hold 2",
    );
  });

  test('refuse metadata whose sizes differ from the tensors, naming each', () => {
    assert.throws(
      () => loadCheckpoint(withMetadata({ hidden_size: '5', output_size: '3', bidirectional: 'true' })),
      /'hidden_size' is 5 but the tensors hold 16, 'bidirectional' is true but the tensors hold false, 'output_size' is 3 but the tensors hold 1$/,
    );
  });

  test("refuse an 'rnn.__proto__' tensor in load_state_dict's words", () => {
    const { tensors, metadata } = readSafetensors(bytes);
    const record: Record<string, RawTensor> = {};
    for (const [k, t] of tensors) setEntry(record, k, t);
    setEntry(record, 'rnn.__proto__', tensors.get('head.bias') as RawTensor);
    assert.throws(
      () => loadCheckpoint(writeSafetensors(record, metadata)),
      /Unexpected key\(s\) in state_dict: "__proto__"\./,
    );
  });

  for (const cell of ['RNN', 'LSTM', 'GRU'] as const) {
    test(`load in PyTorch into a module with rnn (nn.${cell}) and head attributes, with the same forward`, {
      skip: torchSkip(),
    }, () => {
      assertTorch();
      const t = new Trainer(small({ steps: 2, dtype: 'float64', cell }));
      for (let i = 0; i < 2; i++) t.step();
      const saved = cell === 'RNN' ? bytes : checkpointBytes(t.model);
      const ckpt = tmp.path(`torch-check-${cell}.safetensors`);
      writeFileSync(ckpt, saved);
      const input = tmp.path('torch-in.json');
      const output = tmp.path(`torch-out-${cell}.json`);
      writeFileSync(input, JSON.stringify({ input: { shape: x.shape, data: Array.from(x.data) } }));
      const r = spawnSync(PYTHON, [SCRIPT, 'forward', ckpt, input, output], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const torch = JSON.parse(readFileSync(output, 'utf8')) as { output: Flat; h_n: Flat; c_n?: Flat };
      const loaded = loadCheckpoint(saved).model;
      assert.equal(loaded.rnn.cell, cell, 'the checkpoint records the cell');
      const [ours, states] = loaded.forward(x);
      const errors = [scaledError(ours, torch.output, 'output'), scaledError(states[0] as Flat, torch.h_n, 'h_n')];
      if (cell === 'LSTM') errors.push(scaledError(states[1] as Flat, torch.c_n as Flat, 'c_n'));
      const err = Math.max(...errors);
      assert.ok(err <= FLOAT64_TOLERANCE, `error vs PyTorch ${err}`);
    });
  }
});

describe('lossPlotSvg', () => {
  test('draws one faint and one solid line per series and a legend entry for each', () => {
    const svg = lossPlotSvg([
      {
        label: '1 layer',
        points: [
          [1, 1],
          [2, 0.5],
          [3, 0.1],
        ],
      },
      {
        label: '2 layers <deep>',
        points: [
          [1, 2],
          [2, 0.2],
          [3, 0.01],
        ],
      },
    ]);
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(svg.match(/<polyline /g)?.length, 4);
    assert.match(svg, />2 layers &lt;deep&gt;</);
    assert.match(svg, />0\.01</, 'a log-scale tick at 0.01');
  });

  test('refuses a series with no positive loss', () => {
    assert.throws(
      () => lossPlotSvg([{ label: 'zero', points: [[1, 0]] }]),
      /series 'zero' has no positive finite loss/,
    );
  });
});

describe('stacked-rnn train and sample', () => {
  test('train writes model.safetensors, loss.csv and loss.svg into --out and says where', () => {
    const out = tmp.path('run');
    const r = cli('train', '--steps', '12', '--hidden', '8', '--seq-len', '16', '--seed', '1', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    for (const f of ['model.safetensors', 'loss.csv', 'loss.svg']) assert.ok(existsSync(`${out}/${f}`), f);
    assert.ok(r.stdout.includes(`wrote ${out}/`), r.stdout);
    assert.match(r.stdout, /step 12\/12 {2}loss /, 'a progress line when stdout is not a TTY');
    const csv = readCsv(`${out}/loss.csv`);
    assert.deepEqual(csv.header, ['step', 'loss']);
    assert.deepEqual(
      csv.rows.map((row) => row[0]),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    assert.ok(csv.rows.every((row) => row.length === 2 && (row[1] as number) > 0));
    assert.match(readFileSync(`${out}/loss.svg`, 'utf8'), /<polyline /);
    const { model } = loadCheckpoint(new Uint8Array(readFileSync(`${out}/model.safetensors`)));
    assert.equal(model.config.numLayers, 2);
    assert.equal(model.config.hiddenSize, 8);
  });

  test('train --init starts from saved weights in either format: a .pt of the first run continues its loss', () => {
    const first = tmp.path('init-first');
    const args = ['--steps', '30', '--hidden', '8', '--seq-len', '16', '--seed', '1'];
    assert.equal(cli('train', ...args, '--out', first).status, 0);
    const pt = tmp.path('init-first.pt');
    assert.equal(cli('convert', `${first}/model.safetensors`, pt).status, 0);
    const second = tmp.path('init-second');
    const r = cli('train', ...args, '--init', pt, '--out', second);
    assert.equal(r.status, 0, r.stderr);
    const before = readCsv(`${first}/loss.csv`);
    const after = readCsv(`${second}/loss.csv`);
    const firstLoss = (csv: { rows: number[][] }) => csv.rows[0]?.[1] as number;
    assert.ok(
      firstLoss(after) < firstLoss(before) / 5,
      `resumed at ${firstLoss(after)}, fresh at ${firstLoss(before)}`,
    );
  });

  test('train --init with sizes other than the flags names the flags that match the file, before writing anything', () => {
    const first = tmp.path('init-sizes');
    assert.equal(
      cli('train', '--steps', '2', '--hidden', '6', '--layers', '2', '--seq-len', '8', '--out', first).status,
      0,
    );
    const bad = cli(
      'train',
      '--steps',
      '2',
      '--layers',
      '3',
      '--init',
      `${first}/model.safetensors`,
      '--out',
      tmp.path('init-bad'),
    );
    assert.equal(bad.status, 1);
    assert.match(
      bad.stderr,
      /holds an nn\.RNN of 2 layer\(s\), hidden_size 6, input_size 1; the model to train is an nn\.RNN of 3 layer\(s\), hidden_size 32, input_size 1\n/,
    );
    assert.match(bad.stderr, /\nhint: pass --layers 2 --hidden 6 to train a model like the file's\n$/);
    assert.equal(existsSync(tmp.path('init-bad')), false, 'nothing is created');
  });

  test("train --cell lstm trains an LSTM, --init goes on with the file's cell, and another --cell is named", () => {
    const first = tmp.path('lstm');
    const r = cli('train', '--cell', 'lstm', '--steps', '3', '--hidden', '5', '--out', first);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2-layer LSTM, hidden 5: 3 steps/);
    const again = cli(
      'train',
      '--steps',
      '2',
      '--hidden',
      '5',
      '--init',
      `${first}/model.safetensors`,
      '--out',
      tmp.path('lstm2'),
    );
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /2-layer LSTM, hidden 5: 2 steps/);
    const other = cli(
      'train',
      '--cell',
      'gru',
      '--hidden',
      '5',
      '--init',
      `${first}/model.safetensors`,
      '--out',
      tmp.path('x'),
    );
    assert.equal(other.status, 1);
    assert.match(other.stderr, /holds an nn\.LSTM of 2 layer\(s\).*the model to train is an nn\.GRU/);
    assert.match(other.stderr, /\nhint: pass --cell lstm to train a model like the file's\n$/);
    const relu = cli('train', '--cell', 'gru', '--nonlinearity', 'relu', '--out', tmp.path('y'));
    assert.match(relu.stderr, /--nonlinearity is nn\.RNN's; --cell gru has none/);
  });

  test("train --init finds the head beside the RNN, 'model.head.' next to a Lightning model's 'model.rnn.'", () => {
    const first = tmp.path('init-lightning');
    assert.equal(cli('train', '--steps', '2', '--hidden', '6', '--seq-len', '8', '--out', first).status, 0);
    const { tensors } = readSafetensors(readFileSync(`${first}/model.safetensors`));
    const lightning = tmp.path('lightning.safetensors');
    writeFileSync(lightning, writeSafetensors(Object.fromEntries([...tensors].map(([k, t]) => [`model.${k}`, t]))));
    const r = cli(
      'train',
      '--steps',
      '2',
      '--hidden',
      '6',
      '--seq-len',
      '8',
      '--init',
      lightning,
      '--out',
      tmp.path('init-l2'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /\n {2}started from .*lightning\.safetensors \(prefix 'model\.rnn\.'; head from 'model\.head\.'\)\n/,
    );
  });

  test('train --init with a model of another task says what that task feeds the RNN', () => {
    const chars = tmp.path('init-chars');
    assert.equal(
      cli('train', '--task', 'chars', '--steps', '2', '--hidden', '6', '--seq-len', '8', '--out', chars).status,
      0,
    );
    const bad = cli(
      'train',
      '--steps',
      '2',
      '--hidden',
      '6',
      '--init',
      `${chars}/model.safetensors`,
      '--out',
      tmp.path('init-task'),
    );
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /hint: --task sine feeds 1 input feature\(s\), the file's RNN takes \d+\n$/);
  });

  test('train --compare-layers writes one checkpoint per depth and a layers column', () => {
    const out = tmp.path('compare');
    const r = cli('train', '--compare-layers', '1,3', '--steps', '4', '--hidden', '6', '--seq-len', '12', '--out', out);
    assert.equal(r.status, 0, r.stderr);
    for (const k of [1, 3]) assert.ok(existsSync(`${out}/model-layers-${k}.safetensors`), `depth ${k}`);
    const csv = readCsv(`${out}/loss.csv`);
    assert.deepEqual(csv.header, ['step', 'loss', 'layers']);
    assert.deepEqual(
      csv.rows.map((row) => row[2]),
      [1, 1, 1, 1, 3, 3, 3, 3],
    );
    assert.equal(readFileSync(`${out}/loss.svg`, 'utf8').match(/<polyline /g)?.length, 4);
  });

  test('train refuses --bidirectional with one error line saying why', () => {
    const r = cli('train', '--bidirectional', '--steps', '1', '--out', tmp.path('never'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^stacked-rnn: error: --bidirectional does not make sense for the 'sine' task/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(existsSync(tmp.path('never')), false, 'nothing is created');
  });

  test('train refuses an unknown task and a non-integer layer count', () => {
    assert.match(cli('train', '--task', 'poetry').stderr, /Unknown task 'poetry'/);
    assert.match(cli('train', '--layers', 'two').stderr, /layers must be an integer, got 'two'/);
  });

  test('sample continues the prime from a chars checkpoint, the same for the same seed', () => {
    const out = tmp.path('chars');
    const t = cli('train', '--task', 'chars', '--steps', '3', '--hidden', '8', '--seq-len', '8', '--out', out);
    assert.equal(t.status, 0, t.stderr);
    const ckpt = `${out}/model.safetensors`;
    const a = cli('sample', '--checkpoint', ckpt, '--prime', 'The sea', '--length', '40', '--seed', '4');
    assert.equal(a.status, 0, a.stderr);
    assert.ok(a.stdout.startsWith('The sea'));
    assert.equal([...a.stdout.replace(/\n$/, '')].length, 'The sea'.length + 40);
    assert.equal(
      cli('sample', '--checkpoint', ckpt, '--prime', 'The sea', '--length', '40', '--seed', '4').stdout,
      a.stdout,
    );
    const bad = cli('sample', '--checkpoint', ckpt, '--prime', 'Zebra~');
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /prime has characters the model never saw: .*"~"/);
  });

  test('sample refuses a sine checkpoint in one line', () => {
    const r = cli('sample', '--checkpoint', tmp.path('run/model.safetensors'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /^stacked-rnn: error: sampling needs a 'chars' model, got a 'sine' model/);
  });

  test('sample with temperature 0 always takes the likeliest character', () => {
    const model = train({ ...defaultConfig('chars'), hidden: 16, batch: 4, seqLen: 16, steps: 40 }).model.eval();
    const vocab = model.config.vocab as string[];
    const V = vocab.length;
    const prime = 'The';
    for (const seed of [1, 2]) {
      const text = sampleText(model, { prime, length: 40, temperature: 0, seed });
      const chars = [...text];
      const codes = chars.map((c) => vocab.indexOf(c));
      // the model's logits after the prime, then after each character fed back with the state carried
      let [logits, states] = model.forward(
        new Tensor(oneHot(codes.slice(0, prime.length), V, 'float32'), [prime.length, 1, V]),
      );
      for (let i = prime.length; i < codes.length; i++) {
        const last = Array.from(logits.data.subarray(logits.numel - V));
        const likeliest = last.indexOf(Math.max(...last));
        assert.equal(chars[i], vocab[likeliest], `seed ${seed}: character ${i} of ${JSON.stringify(text)}`);
        [logits, states] = model.forward(new Tensor(oneHot([codes[i] as number], V, 'float32'), [1, 1, V]), { states });
      }
    }
  });
});

/**
 * The inputs a Trainer for `config` feeds its model in its first `steps` steps (each batch's targets are the next
 * samples of the same windows, so equal inputs mean equal batches).
 */
function inputsFed(config: TrainConfig, steps: number): number[][] {
  const trainer = new Trainer(config);
  const fed: number[][] = [];
  const forward = trainer.model.forward.bind(trainer.model);
  trainer.model.forward = (input, options) => {
    fed.push(Array.from(input.data));
    return forward(input, options);
  };
  for (let s = 0; s < steps; s++) trainer.step();
  return fed;
}
