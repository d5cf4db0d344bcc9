import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { IntTensor, RNN, randn, type Tensor, tensor, writePtStateDict } from '../src/index.js';
import { readSafetensors, toFloat } from '../src/io/safetensors.js';
import { cli, saveSafetensors, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('cli');
after(tmp.cleanup);

const rnn = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2, seed: 7 }).eval();
const weights = saveSafetensors(tmp.path('weights.safetensors'), rnn.stateDict());
const x = randn([4, 3, 2], { generator: 1 }); // (L, N, I)

function readOut(path: string): Record<string, Tensor> {
  const { tensors } = readSafetensors(new Uint8Array(readFileSync(path)));
  return Object.fromEntries([...tensors].map(([k, raw]) => [k, toFloat(raw)]));
}

/** Asserts a clean failure: non-zero exit, one error line (plus an optional hint), no stack trace, no output file. */
function assertCleanFailure(args: string[], message: RegExp, out?: string): void {
  const before = readdirSync(tmp.dir).length;
  const r = cli(...args);
  assert.notEqual(r.status, 0, `expected a failure, got exit 0: ${r.stdout}`);
  assert.match(r.stderr, message);
  assert.match(r.stderr, /^stacked-rnn: error: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('hint: ') && !l.startsWith('  '));
  assert.equal(lines.length, 1, `one error line, got:\n${r.stderr}`);
  if (out) assert.equal(existsSync(out), false, 'no output file is left behind');
  assert.equal(readdirSync(tmp.dir).length, before, 'no temporary file is left behind');
}

describe('stacked-rnn demo', () => {
  const r = cli('demo', '--seed', '0');

  test('runs the notebook and exits 0', () => {
    assert.equal(r.status, 0, r.stderr);
  });

  test('prints the formula, the network, the split proof, the trace and the mistake', () => {
    for (const part of [
      '1. The formula',
      '2. A 2-layer RNN',
      '3. The same network as two single-layer RNNs',
      '4. By hand',
      '5. The classic mistake',
    ]) {
      assert.ok(r.stdout.includes(part), part);
    }
    assert.match(r.stdout, /processing x_0/);
    assert.match(r.stdout, /tensor\(\[\[\[/);
  });

  test('shows zero difference between the 2-layer RNN, the chained single layers and the hand-written forward', () => {
    assert.match(r.stdout, /max \|output - out1\|\s+= 0\n/);
    assert.match(r.stdout, /max \|h_n - cat\(\[h0, h1\]\)\|\s+= 0\n/);
    assert.match(r.stdout, /max \|output - by hand\| = 0,/);
  });

  test("shows the mistake's shape error in PyTorch's words", () => {
    assert.match(r.stdout, /mat1 and mat2 shapes cannot be multiplied \(3x2 and 3x3\)/);
  });

  test('rejects a seed that is not a non-negative integer', () => {
    const bad = cli('demo', '--seed', 'abc');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--seed must be an integer/);
  });
});

describe('stacked-rnn run', () => {
  test('writes output and h_n equal to the library forward (safetensors in, safetensors out)', () => {
    const input = saveSafetensors(tmp.path('x.safetensors'), { input: x });
    const out = tmp.path('y.safetensors');
    const r = cli('run', '--weights', weights, '--input', input, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const [output, hN] = rnn.forward(x);
    const got = readOut(out);
    assert.deepEqual(got.output?.shape, [4, 3, 5]);
    assert.deepEqual(Array.from(got.output?.data ?? []), Array.from(output.data));
    assert.deepEqual(Array.from(got.h_n?.data ?? []), Array.from(hN.data));
    assert.equal(got.output?.dtype, 'float32');
  });

  test('computes in float64 when the input is F64', () => {
    const x64 = x.to('float64');
    const input = saveSafetensors(tmp.path('x64.safetensors'), { input: x64 });
    const out = tmp.path('y64.safetensors');
    assert.equal(cli('run', '--weights', weights, '--input', input, '--out', out).status, 0);
    const rnn64 = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2, dtype: 'float64' }).eval();
    rnn64.loadStateDict(rnn.stateDict());
    const got = readOut(out);
    assert.equal(got.output?.dtype, 'float64');
    assert.deepEqual(Array.from(got.output?.data ?? []), Array.from(rnn64.forward(x64)[0].data));
  });

  test('reads and writes JSON, with h0 and lengths', () => {
    const h0 = randn([2, 3, 5], { generator: 2 });
    const input = tmp.path('x.json');
    writeFileSync(input, JSON.stringify({ input: x.tolist(), h0: h0.tolist(), lengths: [4, 1, 2] }));
    const out = tmp.path('y.json');
    const r = cli('run', '--weights', weights, '--input', input, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    const got = JSON.parse(readFileSync(out, 'utf8')) as { output: number[][][]; h_n: number[][][] };
    const rnn64 = new RNN({ inputSize: 2, hiddenSize: 5, numLayers: 2, dtype: 'float64' }).eval();
    rnn64.loadStateDict(rnn.stateDict());
    const [output] = rnn64.forward(x.to('float64'), h0.to('float64'), { lengths: [4, 1, 2] });
    assert.deepEqual(tensor(got.output).shape, [4, 3, 5]);
    assert.deepEqual(got.output, output.tolist());
    assert.deepEqual(got.output[3]?.[1], [0, 0, 0, 0, 0], 'padded steps are zero');
  });

  test('finds the prefix of an RNN saved as a submodule on its own, and takes --prefix', () => {
    const sd = Object.fromEntries(Object.entries(rnn.stateDict()).map(([k, v]) => [`rnn.${k}`, v]));
    const prefixed = saveSafetensors(tmp.path('prefixed.safetensors'), { ...sd, 'head.weight': randn([1, 5]) });
    const input = saveSafetensors(tmp.path('xp.safetensors'), { input: x });
    for (const extra of [[], ['--prefix', 'rnn.'], ['--prefix', 'rnn']]) {
      const out = tmp.path(`yp${extra.length}.safetensors`);
      const r = cli('run', '--weights', prefixed, '--input', input, '--out', out, ...extra);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(Array.from(readOut(out).output?.data ?? []), Array.from(rnn.forward(x)[0].data));
    }
  });

  describe("fails cleanly, with PyTorch's words, and writes nothing", () => {
    const out = tmp.path('never.safetensors');
    const inputWith = (
      name: string,
      tensors: Record<string, Tensor | { dtype: 'I64'; shape: number[]; data: number[] }>,
    ) => saveSafetensors(tmp.path(`${name}.safetensors`), tensors);
    const run = (input: string, ...extra: string[]) => [
      'run',
      '--weights',
      weights,
      '--input',
      input,
      '--out',
      out,
      ...extra,
    ];

    test('on a 4-D input', () => {
      assertCleanFailure(
        run(inputWith('rank4', { input: randn([2, 4, 3, 2]) })),
        /RNN: Expected input to be 2D or 3D, got 4D tensor instead/,
        out,
      );
    });
    test('on the wrong feature size', () => {
      assertCleanFailure(
        run(inputWith('feat', { input: randn([4, 3, 7]) })),
        /input.size\(-1\) must be equal to input_size. Expected 2, got 7/,
        out,
      );
    });
    test('on a misshapen h0', () => {
      assertCleanFailure(
        run(inputWith('h0', { input: x, h0: randn([2, 2, 5]) })),
        /Expected hidden size \(2, 3, 5\), got \[2, 2, 5\]/,
        out,
      );
    });
    test('on lengths out of range', () => {
      const lengths = { dtype: 'I64' as const, shape: [3], data: [4, 9, 1] };
      assertCleanFailure(
        run(inputWith('len9', { input: x, lengths })),
        /lengths\[1\] = 9 is larger than the sequence length 4/,
        out,
      );
      const zero = { dtype: 'I64' as const, shape: [3], data: [4, 0, 1] };
      assertCleanFailure(
        run(inputWith('len0', { input: x, lengths: zero })),
        /Length of all samples has to be greater than 0/,
        out,
      );
    });
    test('on the wrong number of lengths', () => {
      const lengths = { dtype: 'I64' as const, shape: [2], data: [4, 1] };
      assertCleanFailure(
        run(inputWith('len2', { input: x, lengths })),
        /Expected `len\(lengths\)` to be equal to batch_size, but got 2 \(batch_size=3\)/,
        out,
      );
    });
    test('on an empty sequence', () => {
      assertCleanFailure(
        run(inputWith('empty', { input: randn([0, 3, 2]) })),
        /Expected sequence length to be larger than 0 in RNN/,
        out,
      );
    });
    test('on an unknown nonlinearity', () => {
      assertCleanFailure(
        run(inputWith('ok', { input: x }), '--nonlinearity', 'sigmoid'),
        /Unknown nonlinearity 'sigmoid'. Select from 'tanh' or 'relu'./,
        out,
      );
    });
    test('on missing, unexpected and misshapen weights, naming them', () => {
      const sd = rnn.stateDict();
      const { bias_hh_l1: _, ...missing } = sd;
      const w1 = saveSafetensors(tmp.path('w-missing.safetensors'), missing);
      assertCleanFailure(
        ['run', '--weights', w1, '--input', inputWith('ok2', { input: x }), '--out', out],
        /missing bias_hh_l1/,
        out,
      );
      const w2 = saveSafetensors(tmp.path('w-extra.safetensors'), { ...sd, weight_hh_l7: randn([5, 5]) });
      assertCleanFailure(
        ['run', '--weights', w2, '--input', inputWith('ok3', { input: x }), '--out', out],
        /unexpected weight_hh_l7/,
        out,
      );
      const w3 = saveSafetensors(tmp.path('w-shape.safetensors'), { ...sd, weight_hh_l1: randn([5, 4]) });
      assertCleanFailure(
        ['run', '--weights', w3, '--input', inputWith('ok4', { input: x }), '--out', out],
        /weight_hh_l1: expected \[5, 5\], got \[5, 4\]/,
        out,
      );
    });
    test('on a truncated weights file', () => {
      const bytes = readFileSync(weights);
      const cut = tmp.path('truncated.safetensors');
      writeFileSync(cut, bytes.subarray(0, bytes.length - 10));
      assertCleanFailure(
        ['run', '--weights', cut, '--input', inputWith('ok5', { input: x }), '--out', out],
        /safetensors/i,
        out,
      );
    });
    test('on a header that claims more bytes than the file has', () => {
      const liar = tmp.path('liar.safetensors');
      const bytes = new Uint8Array(16);
      new DataView(bytes.buffer).setBigUint64(0, 1n << 40n, true);
      writeFileSync(liar, bytes);
      assertCleanFailure(
        ['run', '--weights', liar, '--input', inputWith('ok6', { input: x }), '--out', out],
        /header/i,
        out,
      );
    });
    test('on a missing file', () => {
      assertCleanFailure(
        ['run', '--weights', tmp.path('nope.safetensors'), '--input', inputWith('ok7', { input: x }), '--out', out],
        /No such file/,
        out,
      );
    });
    test('on corrupt JSON input', () => {
      const bad = tmp.path('bad.json');
      writeFileSync(bad, '{"input": [[1, 2], [3');
      assertCleanFailure(run(bad), /JSON/i, out);
    });
    test('on JSON that is not an object of tensors, naming what it got', () => {
      const arr = tmp.path('arr.json');
      writeFileSync(arr, '[1, 2]');
      assertCleanFailure(run(arr), /tensor JSON must be an object of named tensors/, out);
      const text = tmp.path('text.json');
      writeFileSync(text, 'not json\n');
      assertCleanFailure(run(text), /tensor JSON does not parse/, out);
    });
    test('on an input file without `input`', () => {
      assertCleanFailure(run(inputWith('noinput', { x })), /unexpected tensor\(s\)|no tensor named 'input'/, out);
    });
  });
});

describe('stacked-rnn inspect', () => {
  test('reads the architecture and parameter count off the weights', () => {
    const r = cli('inspect', weights);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /input_size=2, hidden_size=5, num_layers=2, bidirectional=False, bias=True/);
    assert.match(r.stdout, new RegExp(`${rnn.parameterCount} parameters in 8 tensors`));
  });
});

describe('PyTorch .pt files in the command', () => {
  const fixtures = new URL('./fixtures/pt/', import.meta.url).pathname;

  test('run reads a torch.save state dict and gives the library forward of the same weights', () => {
    // the weights as torch.load saw them (test/fixtures/pt/expected.json), not as our reader reads them
    const saw = JSON.parse(readFileSync(`${fixtures}expected.json`, 'utf8')).files['rnn.pt'].tensors as Record<
      string,
      { shape: number[]; values: number[] }
    >;
    const sd = Object.fromEntries(Object.entries(saw).map(([k, t]) => [k, tensor(t.values, t.shape)]));
    const [H, I] = (sd.weight_ih_l0 as Tensor).shape as [number, number]; // 2 layers, bidirectional
    const library = new RNN({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 0 }).eval();
    library.loadStateDict(sd);
    const x = randn([5, 2, I], { generator: 4 });
    const [output, hN] = library.forward(x);
    const input = saveSafetensors(tmp.path('pt-x.safetensors'), { input: x });
    const viaSafetensors = tmp.path('pt-converted.safetensors');
    assert.equal(cli('convert', `${fixtures}rnn.pt`, viaSafetensors).status, 0);
    for (const weights of [`${fixtures}rnn.pt`, viaSafetensors]) {
      const out = tmp.path(`pt-out-${weights === viaSafetensors ? 'converted' : 'pt'}.safetensors`);
      const r = cli('run', '--weights', weights, '--input', input, '--out', out);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(Array.from(readOut(out).output?.data ?? []), Array.from(output.data), weights);
      assert.deepEqual(Array.from(readOut(out).h_n?.data ?? []), Array.from(hN.data), weights);
    }
  });

  test('convert writes .pt that reads back to the same tensors', () => {
    const pt = tmp.path('roundtrip.pt');
    const back = tmp.path('roundtrip.safetensors');
    assert.equal(cli('convert', weights, pt).status, 0);
    assert.equal(cli('convert', pt, back).status, 0);
    const got = readOut(back);
    for (const [name, t] of Object.entries(rnn.stateDict())) {
      assert.deepEqual(Array.from(got[name]?.data ?? []), Array.from(t.data), name);
    }
  });

  test('a checkpoint with one state dict needs no --key, and the command says which key it took', () => {
    const r = cli('inspect', `${fixtures}checkpoint.pt`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /checkpoint\.pt: nn\.RNN state dict at key 'model' \(the only state dict in the file\)\n/);
    assert.equal(cli('inspect', `${fixtures}checkpoint.pt`, '--key', 'model').status, 0);
  });

  test('a Lightning checkpoint runs with no flags: the state dict at state_dict, the RNN at model.rnn.', () => {
    const out = tmp.path('lightning-out.safetensors');
    const input = saveSafetensors(tmp.path('lightning-x.safetensors'), { input: randn([5, 2, 3], { generator: 5 }) });
    const r = cli('run', '--weights', `${fixtures}lightning.pt`, '--input', input, '--out', out);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /from key 'state_dict' \(also in the file: 'callbacks\.ModelCheckpoint.*; --key chooses\), prefix 'model\.rnn\.':/,
    );
  });

  test('DistributedDataParallel and torch.compile state dicts run with no flags, their prefixes found', () => {
    const input = saveSafetensors(tmp.path('wrapped-x.safetensors'), { input: randn([5, 2, 3], { generator: 6 }) });
    for (const [file, where] of [
      ['ddp.pt', "key 'model_state_dict' (the only state dict in the file), prefix 'module.rnn.'"],
      ['compiled.pt', "prefix '_orig_mod.'"],
    ]) {
      const r = cli(
        'run',
        '--weights',
        `${fixtures}${file}`,
        '--input',
        input,
        '--out',
        tmp.path(`${file}.safetensors`),
      );
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes(`from ${where}:`), r.stdout);
    }
  });

  test('a checkpoint with several state dicts lists their keys and hints at --key, never at options.key', () => {
    assertCleanFailure(
      ['inspect', `${fixtures}two-models.pt`],
      /the file holds 2 state dicts, under the keys 'generator', 'discriminator'; choose one by its key\n/,
    );
    const r = cli('inspect', `${fixtures}two-models.pt`);
    assert.match(r.stderr, /\nhint: choose one with --key, e.g. --key generator\n$/);
    assert.doesNotMatch(r.stderr, /options\.key|\{ key/);
    assert.equal(cli('inspect', `${fixtures}two-models.pt`, '--key', 'discriminator').status, 0);
  });

  test('a model with several RNNs lists their prefixes and hints at --prefix', () => {
    assertCleanFailure(['inspect', `${fixtures}two-rnns.pt`], /under the prefixes 'encoder\.', 'decoder\.'/);
    assert.match(
      cli('inspect', `${fixtures}two-rnns.pt`).stderr,
      /\nhint: choose one with --prefix, e.g. --prefix encoder\.\n$/,
    );
    assert.equal(cli('inspect', `${fixtures}two-rnns.pt`, '--prefix', 'decoder').status, 0);
  });

  test("a model's integer buffers (num_batches_tracked) do not stop its RNN from loading", () => {
    const sd: Record<string, Tensor | IntTensor> = {};
    for (const [k, t] of Object.entries(rnn.stateDict())) sd[`rnn.${k}`] = t;
    sd['bn.num_batches_tracked'] = new IntTensor(BigInt64Array.of(7n), []);
    const path = tmp.path('with-buffers.pt');
    writeFileSync(path, writePtStateDict(sd));
    const r = cli('inspect', path);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 other tensor\(s\) in the state dict belong to other modules: 'bn\.num_batches_tracked'/);
  });

  test('an RNN parameter stored as integers is refused, named', () => {
    const sd: Record<string, Tensor | IntTensor> = { ...rnn.stateDict() };
    sd.bias_hh_l1 = new IntTensor(new BigInt64Array(5), [5]);
    const path = tmp.path('int-param.pt');
    writeFileSync(path, writePtStateDict(sd));
    assertCleanFailure(['inspect', path], /int-param\.pt: 'bias_hh_l1' hold\(s\) integers, not weights\n/);
  });

  test('--key with a safetensors file says keys are for .pt checkpoints', () => {
    assertCleanFailure(
      ['inspect', weights, '--key', 'model'],
      /a key selects a nested state dict in a \.pt checkpoint; this is a safetensors file\n/,
    );
  });

  test('a pickle that would run code is refused, and nothing is written', () => {
    const out = tmp.path('evil-out.safetensors');
    const input = saveSafetensors(tmp.path('evil-x.safetensors'), { input: x });
    assertCleanFailure(
      ['run', '--weights', `${fixtures}evil-reduce.pt`, '--input', input, '--out', out],
      /Unsupported global: GLOBAL posix.system/,
      out,
    );
  });

  test('the legacy (pre-zip) format gets a re-save hint', () => {
    assertCleanFailure(['inspect', `${fixtures}legacy.pt`], /legacy .pt format: re-save with a current PyTorch/);
  });

  test('convert refuses an output whose format it cannot tell', () => {
    assertCleanFailure(['convert', weights, tmp.path('weights.bin')], /cannot tell the output format/);
  });
});
