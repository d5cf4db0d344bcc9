/**
 * The command with nn.LSTM and nn.GRU files: the module is read off the file (inside a bigger model too), runs
 * with the library's numbers, and every way an input or an option disagrees with the file is one clear line.
 * PyTorch's own files through the command are in parity-live.test.ts and grad-cli-live.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { GRU, LSTM, randn, type Tensor, writePtStateDict } from '../src/index.js';
import { readSafetensors, toFloat } from '../src/io/safetensors.js';
import { cli, saveSafetensors, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('cli-cells');
after(tmp.cleanup);

// A projected LSTM inside a bigger model (as torch.save(model.state_dict()) writes it), and a bare GRU.
const lstm = new LSTM({ inputSize: 3, hiddenSize: 5, numLayers: 2, projSize: 2, seed: 3, dtype: 'float64' }).eval();
const gru = new GRU({ inputSize: 3, hiddenSize: 4, bidirectional: true, seed: 4, dtype: 'float64' }).eval();
const model = Object.fromEntries(Object.entries(lstm.stateDict()).map(([k, t]) => [`enc.lstm.${k}`, t]));
const lstmFile = tmp.path('model.pt');
writeFileSync(lstmFile, writePtStateDict({ ...model, 'head.weight': randn([1, 2], { dtype: 'float64' }) }));
const gruFile = saveSafetensors(tmp.path('gru.safetensors'), gru.stateDict());

const x = randn([4, 2, 3], { generator: 5, dtype: 'float64' }); // (L, N, I)
const h0 = randn([2, 2, 2], { generator: 6, dtype: 'float64' }); // (K*D, N, P)
const c0 = randn([2, 2, 5], { generator: 7, dtype: 'float64' }); // (K*D, N, H)

function readOut(path: string): Record<string, Tensor> {
  const { tensors } = readSafetensors(new Uint8Array(readFileSync(path)));
  return Object.fromEntries([...tensors].map(([k, raw]) => [k, toFloat(raw)]));
}

function fails(args: string[], message: RegExp): void {
  const r = cli(...args);
  assert.equal(r.status, 1, `expected exit 1, got ${r.status}: ${r.stdout}`);
  assert.match(r.stderr, /^stacked-rnn: error: /);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('stacked-rnn with nn.LSTM and nn.GRU files', () => {
  test('inspect names the module, where it was found, and prints it as PyTorch does', () => {
    const r = cli('inspect', lstmFile);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /model\.pt: nn\.LSTM state dict at prefix 'enc\.lstm\.'\n {2}LSTM\(3, 5, proj_size=2, num_layers=2\)\n/,
    );
    assert.match(r.stdout, /weight_hr_l1 {2}\(2, 5\)/);
    assert.match(r.stdout, /1 other tensor\(s\) .*'head\.weight'/);
    const g = cli('inspect', gruFile);
    assert.match(g.stdout, /nn\.GRU state dict\n {2}GRU\(3, 4, bidirectional=True\)\n/);
  });

  test('run gives the LSTM output, h_n and c_n of the library, from h0 and c0', () => {
    const input = saveSafetensors(tmp.path('x.safetensors'), { input: x, h0, c0 });
    const out = tmp.path('y.safetensors');
    const r = cli('run', '--weights', lstmFile, '--input', input, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^2-layer LSTM \(3 -> 5, proj 2\) from prefix 'enc\.lstm\.': wrote output \[4, 2, 2\] and h_n \[2, 2, 2\], c_n \[2, 2, 5\]/,
    );
    const [output, [hN, cN]] = lstm.forward(x, [h0, c0]);
    const got = readOut(out);
    assert.deepEqual(Array.from(got.output?.data ?? []), Array.from(output.data));
    assert.deepEqual(Array.from(got.h_n?.data ?? []), Array.from(hN.data));
    assert.deepEqual(Array.from(got.c_n?.data ?? []), Array.from(cN.data));
  });

  test("run writes grad.c0 and the projection's gradient when the input holds grad_c_n", () => {
    const gradCN = randn([2, 2, 5], { generator: 8, dtype: 'float64' });
    const input = saveSafetensors(tmp.path('xg.safetensors'), { input: x, h0, c0, grad_c_n: gradCN });
    const out = tmp.path('yg.safetensors');
    const r = cli('run', '--weights', lstmFile, '--input', input, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const m = new LSTM({ ...lstm.options, seed: 0 });
    m.loadStateDict(lstm.stateDict());
    m.eval().forward(x, [h0, c0], { requiresGrad: true });
    const want = m.backward(null, [null, gradCN]);
    const got = readOut(out);
    assert.deepEqual(Array.from(got['grad.c0']?.data ?? []), Array.from(want.c0?.data ?? []));
    assert.deepEqual(Array.from(got['grad.weight_hr_l1']?.data ?? []), Array.from(m.grad('weight_hr_l1').data));
  });

  test('--cell states the module, and a file holding another is refused in one line', () => {
    const input = saveSafetensors(tmp.path('x2.safetensors'), { input: x });
    assert.equal(
      cli('run', '--weights', gruFile, '--input', input, '--out', tmp.path('o.json'), '--cell', 'gru').status,
      0,
    );
    fails(
      ['run', '--weights', gruFile, '--input', input, '--out', tmp.path('o2.json'), '--cell', 'lstm'],
      /holds an nn\.GRU \(weight_hh_l0 is \[12, 4\]\), not an nn\.LSTM/,
    );
    fails(['inspect', lstmFile, '--cell', 'rnn'], /holds an nn\.LSTM .*not an nn\.RNN/);
    fails(['inspect', gruFile, '--cell', 'mlp'], /Unknown cell 'mlp'\. Select from 'rnn', 'lstm' or 'gru'/);
  });

  test("an LSTM's state is a pair: h0 without c0 is refused", () => {
    const input = saveSafetensors(tmp.path('x3.safetensors'), { input: x, h0 });
    fails(
      ['run', '--weights', lstmFile, '--input', input, '--out', tmp.path('o3.json')],
      /an LSTM takes its initial state as a pair: .* holds 'h0' but no 'c0'/,
    );
  });

  test('c0 or grad_c_n for a GRU, which has no c, is refused', () => {
    const input = saveSafetensors(tmp.path('x4.safetensors'), { input: x, c0: randn([2, 2, 4]) });
    fails(
      ['run', '--weights', gruFile, '--input', input, '--out', tmp.path('o4.json')],
      /holds 'c0', but an nn\.GRU has no c/,
    );
  });

  test("--nonlinearity relu with an LSTM or GRU is refused: it is nn.RNN's", () => {
    const input = saveSafetensors(tmp.path('x5.safetensors'), { input: x });
    fails(
      ['run', '--weights', gruFile, '--input', input, '--out', tmp.path('o5.json'), '--nonlinearity', 'relu'],
      /--nonlinearity is nn\.RNN's; .* holds an nn\.GRU/,
    );
  });
});
