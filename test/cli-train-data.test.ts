/**
 * `stacked-rnn train --data` on a user's own text and CSV, then `sample`; --init from our checkpoint and from a
 * PyTorch one (test/fixtures/char-model/lm.pt); the parsers of the data files.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readSafetensors } from '../src/io/safetensors.js';
import { seriesData, textData } from '../src/train/data-files.js';
import { cli, scratchDir } from './helpers/cli.js';

const LM = fileURLToPath(new URL('fixtures/char-model/lm.pt', import.meta.url));
const VOCAB = fileURLToPath(new URL('fixtures/char-model/vocab.json', import.meta.url));
const scratch = scratchDir('train-data');
after(() => scratch.cleanup());

const corpus = scratch.path('corpus.txt');
writeFileSync(corpus, 'The quick brown fox jumps over the lazy dog. '.repeat(30));
const csv = scratch.path('series.csv');
writeFileSync(
  csv,
  `date,temp,load,label\n${Array.from({ length: 200 }, (_, i) => `2024-${i},${Math.sin(i / 5).toFixed(4)},${Math.cos(i / 7).toFixed(4)},x`).join('\n')}\n`,
);
const losses = (dir: string) =>
  readFileSync(scratch.path(`${dir}/loss.csv`), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(',')[1]));

describe('stacked-rnn train --data', () => {
  test('a text trains Embedding -> LSTM -> Linear, stores the vocabulary, and sample continues it', () => {
    const r = cli(
      'train',
      '--data',
      corpus,
      '--cell',
      'lstm',
      '--hidden',
      '24',
      '--steps',
      '120',
      '--out',
      scratch.path('lm'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Embedding\(29, 32\) -> 2-layer LSTM -> Linear, hidden 24: 120 steps/);
    const { tensors, metadata } = readSafetensors(readFileSync(scratch.path('lm/model.safetensors')));
    assert.equal(metadata.task, 'text');
    assert.equal(JSON.parse(metadata.vocab as string).length, 29);
    for (const name of ['emb.weight', 'rnn.weight_ih_l0', 'rnn.weight_hh_l1', 'head.weight', 'head.bias']) {
      assert.ok(tensors.has(name), `PyTorch's name ${name}`);
    }
    const l = losses('lm');
    assert.ok((l.at(-1) as number) < (l[0] as number) / 5, `the loss falls: ${l[0]} -> ${l.at(-1)}`);
    const s = cli(
      'sample',
      '--model',
      scratch.path('lm/model.safetensors'),
      '--prime',
      'The quick',
      '--length',
      '30',
      '--temperature',
      '0',
    );
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stdout, /^The quick brown fox/);
  });

  test('--init with our text checkpoint goes on from its weights and vocabulary', () => {
    const r = cli(
      'train',
      '--data',
      corpus,
      '--init',
      scratch.path('lm/model.safetensors'),
      '--steps',
      '5',
      '--out',
      scratch.path('lm2'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok((losses('lm2')[0] as number) < (losses('lm')[0] as number) / 5);
  });

  test('--init with a PyTorch .pt character model and its vocab.json starts from its loss, not from scratch', () => {
    const text = scratch.path('pt.txt');
    writeFileSync(text, 'The quick brown fox jumps over the lazy dog. The end, then: a new start!\n'.repeat(10));
    const r = cli('train', '--data', text, '--init', LM, '--vocab', VOCAB, '--steps', '3', '--out', scratch.path('pt'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Embedding\(33, 8\) -> 2-layer LSTM -> Linear, hidden 12/);
    assert.ok((losses('pt')[0] as number) < 2, `a trained model's loss, not ln(33) = 3.5: ${losses('pt')[0]}`);
  });

  test('--init of another width names the flag that matches the file, before writing anything', () => {
    const r = cli('train', '--data', corpus, '--init', LM, '--hidden', '5', '--out', scratch.path('never'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /hint: pass --hidden 12/);
    assert.equal(cli('inspect', scratch.path('never/model.safetensors')).status, 1);
  });

  test('a CSV trains next-step regression on its numeric columns, leaving out the date and the label', () => {
    const r = cli('train', '--data', csv, '--cell', 'gru', '--steps', '60', '--out', scratch.path('ser'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2-layer GRU on 2 column\(s\) \(temp, load\) -> Linear/);
    const { metadata } = readSafetensors(readFileSync(scratch.path('ser/model.safetensors')));
    assert.equal(metadata.task, 'series');
    assert.deepEqual(JSON.parse(metadata.columns as string), ['temp', 'load']);
    assert.equal(JSON.parse(metadata.mean as string).length, 2);
    const l = losses('ser');
    assert.ok((l.at(-1) as number) < (l[0] as number) / 10);
  });

  test('--init with our series checkpoint goes on from its weights', () => {
    const r = cli(
      'train',
      '--data',
      csv,
      '--init',
      scratch.path('ser/model.safetensors'),
      '--steps',
      '2',
      '--out',
      scratch.path('ser2'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok((losses('ser2')[0] as number) < (losses('ser')[0] as number) / 10);
  });

  test('refusals: --embedding without --data, --compare-layers with --data, a sequence longer than the data', () => {
    assert.match(cli('train', '--embedding', '8').stderr, /--embedding goes with --data/);
    assert.match(cli('train', '--data', corpus, '--compare-layers', '1,2').stderr, /with --data train one depth/);
    const tiny = scratch.path('tiny.txt');
    writeFileSync(tiny, 'abcdef');
    assert.match(
      cli('train', '--data', tiny, '--out', scratch.path('t')).stderr,
      /--seq-len 48 needs 49 characters, the data has 6/,
    );
  });

  test('a file that is not UTF-8 text is refused in one line', () => {
    const bin = scratch.path('bin.txt');
    writeFileSync(bin, Uint8Array.of(0xff, 0xfe, 0x00, 0x81));
    assert.match(cli('train', '--data', bin).stderr, /is not UTF-8 text/);
  });
});

describe('data files', () => {
  test('a text gives its sorted characters, code points counted whole', () => {
    const d = textData('ba🙂ab');
    assert.deepEqual(d.vocab, ['a', 'b', '🙂']);
    assert.deepEqual([...d.codes], [1, 0, 2, 0, 1]);
  });

  test('a CSV without a header names its columns 0, 1 and standardises each', () => {
    const d = seriesData('1,10\n2,20\n3,30\n');
    assert.deepEqual(d.columns, ['0', '1']);
    assert.deepEqual(d.mean, [2, 20]);
    assert.ok(Math.abs((d.values[0] as number) + Math.sqrt(1.5)) < 1e-12);
  });

  test('a missing number in a numeric column is refused, naming the line and column', () => {
    assert.throws(() => seriesData('a,b\n1,2\n3,\n5,6\n7,8\n'), /CSV line 3, column 'b': "" is not a number/);
  });

  test('a CSV with no numeric column is refused, listing its columns', () => {
    assert.throws(() => seriesData('name,city\nx,y\nz,w\n'), /no numeric column \(columns: name, city\)/);
  });
});
