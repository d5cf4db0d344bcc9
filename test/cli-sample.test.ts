/**
 * `stacked-rnn sample` on a PyTorch character model: test/fixtures/char-model/lm.pt (torch.save of a checkpoint
 * dict, scripts/torch_char_model.py) with its vocab.json. Greedy text is torch's exactly; live, seeded draws with
 * --temperature and --top-k are torch.multinomial's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readPtStateDict, writeSafetensors } from '../src/index.js';
import { cli, scratchDir } from './helpers/cli.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const LM = fileURLToPath(new URL('fixtures/char-model/lm.pt', import.meta.url));
const VOCAB = fileURLToPath(new URL('fixtures/char-model/vocab.json', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../scripts/torch_char_model.py', import.meta.url));
const expected = JSON.parse(readFileSync(new URL('fixtures/char-model/expected.json', import.meta.url), 'utf8')) as {
  greedy: string;
};
const scratch = scratchDir('sample');
after(() => scratch.cleanup());

const greedy = (...args: string[]) => cli('sample', ...args, '--prime', 'The', '--length', '80', '--temperature', '0');

describe('stacked-rnn sample on PyTorch models', () => {
  test("a PyTorch .pt checkpoint with a vocab file gives torch's greedy text exactly", () => {
    const r = greedy('--model', LM, '--vocab', VOCAB);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${expected.greedy}\n`);
  });

  test('the same model as .safetensors under a Lightning-style prefix, and a vocab given as token -> id', () => {
    const sd = readPtStateDict(readFileSync(LM));
    const nested = Object.fromEntries(Object.entries(sd).map(([k, t]) => [`model.${k}`, t]));
    const file = scratch.path('lm.safetensors');
    writeFileSync(file, writeSafetensors(nested));
    const vocab = JSON.parse(readFileSync(VOCAB, 'utf8')) as string[];
    const stoi = scratch.path('stoi.json');
    writeFileSync(stoi, JSON.stringify(Object.fromEntries(vocab.map((c, i) => [c, i]))));
    const r = greedy('--model', file, '--vocab', stoi);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `${expected.greedy}\n`);
  });

  test('without --vocab a PyTorch model is refused in one line that says to give it', () => {
    const r = greedy('--model', LM);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /holds no vocabulary: give it with --vocab vocab\.json/);
  });

  test('a vocabulary of another size than the embedding is refused, saying both', () => {
    const small = scratch.path('small.json');
    writeFileSync(small, JSON.stringify(['T', 'h', 'e']));
    const r = greedy('--model', LM, '--vocab', small);
    assert.match(r.stderr, /the vocabulary has 3 tokens but the model's embedding 33 rows/);
  });

  test('a prime with a character outside the vocabulary is refused, naming it', () => {
    const r = cli('sample', '--model', LM, '--vocab', VOCAB, '--prime', 'Thé', '--length', '3');
    assert.match(r.stderr, /the prime has "é", which the vocabulary does not hold/);
  });

  test('sample without a model file says how to give one', () => {
    assert.match(cli('sample', '--vocab', VOCAB).stderr, /sample needs a model: --model <file>/);
  });
});

describe('stacked-rnn sample against live PyTorch', { skip: torchSkip() }, () => {
  for (const [temperature, topK] of [
    ['0.8', '5'],
    ['1.3', 'none'],
  ] as const) {
    test(`--temperature ${temperature} --top-k ${topK} --seed 3 draws torch.multinomial's text`, () => {
      assertTorch();
      const theirs = spawnSync(PYTHON, [SCRIPT, 'sample', LM, VOCAB, 'The', '60', temperature, topK, '3'], {
        encoding: 'utf8',
      });
      assert.equal(theirs.status, 0, theirs.stderr);
      const args = ['--model', LM, '--vocab', VOCAB, '--prime', 'The', '--length', '60'];
      const ours = cli(
        'sample',
        ...args,
        '--temperature',
        temperature,
        '--seed',
        '3',
        ...(topK === 'none' ? [] : ['--top-k', topK]),
      );
      assert.equal(ours.status, 0, ours.stderr);
      assert.equal(ours.stdout, `${theirs.stdout}\n`);
    });
  }
});
