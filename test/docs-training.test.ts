/**
 * docs/training.md's snippets run as written: its TypeScript block (importing the package by name, as a user
 * does; Node resolves 'stacked-rnn' to this package's dist/) and, with torch, its Python loader on checkpoints
 * that `stacked-rnn train` writes (--cell lstm, --cell gru, --data text). The TypeScript block's checkpoint loads
 * in torch's model and Adam too.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cli } from './helpers/cli.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const doc = readFileSync(join(ROOT, 'docs/training.md'), 'utf8');
const blocks = (lang: string) =>
  [...doc.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1] as string);
// Inside the repository, so that the package's own name resolves to it.
const dir = mkdtempSync(join(ROOT, '.docs-snippets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('docs/training.md', () => {
  test('has one TypeScript and one Python snippet, and names no repository path in an import', () => {
    assert.equal(blocks('ts').length, 1);
    assert.equal(blocks('python').length, 1);
    assert.doesNotMatch(doc, /from '\.\/src\//);
  });

  test('its TypeScript snippet runs as written and saves a checkpoint', () => {
    const file = join(dir, 'kit.ts');
    writeFileSync(file, blocks('ts')[0] as string);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^4 [\d.e-]+ \[ 2, 16, 32 \]$/m);
  });
});

describe("docs/training.md's Python, live", { skip: torchSkip() }, () => {
  const load = join(dir, 'load.py');
  writeFileSync(load, blocks('python')[0] as string);
  const corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, 'to be or not to be, that is the question. '.repeat(20));
  for (const [what, args, module] of [
    ['--cell lstm', ['--cell', 'lstm'], /\(rnn\): LSTM\(1, 32, num_layers=2\)/],
    ['--cell gru', ['--cell', 'gru', '--layers', '1'], /\(rnn\): GRU\(1, 32\)/],
    [
      '--data text',
      ['--data', corpus, '--cell', 'lstm', '--hidden', '16'],
      /\(emb\): Embedding\(15, 32\)[\s\S]*LSTM\(32, 16/,
    ],
  ] as const) {
    test(`its loader builds and strictly loads a ${what} checkpoint`, () => {
      assertTorch();
      const out = join(dir, what.replace(/\W+/g, '-'));
      const t = cli('train', ...args, '--steps', '2', '--out', out);
      assert.equal(t.status, 0, t.stderr);
      const r = spawnSync(PYTHON, [load, join(out, 'model.safetensors')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, module);
    });
  }

  test("the TypeScript snippet's checkpoint loads in torch's module and Adam", () => {
    assertTorch();
    const py = [
      'import torch',
      "ckpt = torch.load('ckpt.pt')",
      'class M(torch.nn.Module):',
      '    def __init__(self):',
      '        super().__init__()',
      '        self.rnn = torch.nn.LSTM(1, 32, 2)',
      '        self.head = torch.nn.Linear(32, 1)',
      'm = M()',
      "m.load_state_dict(ckpt['model'])",
      'opt = torch.optim.Adam(m.parameters())',
      "opt.load_state_dict(ckpt['optimizer'])",
      "print(ckpt['epoch'], opt.param_groups[0]['lr'], int(opt.state[m.head.bias]['step']))",
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', py], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '5 0.01 5');
  });
});
