/**
 * Issue 25, files: a kilobyte .pt of expand views is refused from its shapes before it is materialised (items 9
 * and 10), `inspect` refuses what `run` refuses (13), `sample` says what a wrong file is in one line (14, 17), a
 * FIFO given as --weights is read again (20), and the explain server refuses two Host headers (22). The .pt
 * fixtures are made by scripts/make_round3_fixtures.py with PyTorch.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { totalmem } from 'node:os';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { explainCommand } from '../src/cli/explain.js';
import { RNN, RnnError, Tensor } from '../src/index.js';
import { readPtSelection } from '../src/io/pt/index.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { readWeights } from '../web/src/weights.js';
import { CLI, cli, scratchDir } from './helpers/cli.js';

const tmp = scratchDir('round3-files');
after(tmp.cleanup);
const FIXTURES = fileURLToPath(new URL('./fixtures/round3/', import.meta.url));
const fixture = (name: string) => `${FIXTURES}${name}`;

/** Exit 1 with one error line (and a hint), matching `message`. */
function failsInOneLine(r: { status: number | null; stderr: string }, message: RegExp): void {
  assert.equal(r.status, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.match(lines[0] as string, /^stacked-rnn: error: /);
  assert.match(lines[0] as string, message);
  assert.ok(lines.length === 1 || (lines.length === 2 && lines[1]?.startsWith('hint: ')), r.stderr);
}

/** `cli` under a 4 GB address-space cap: the files took 5.7 GB; refused from their shapes, they need little. */
function cliCapped(...args: string[]): { status: number | null; stderr: string; stdout: string } {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const r = spawnSync('bash', ['-c', `ulimit -v 4000000 && exec '${process.execPath}' '${CLI}' ${quoted}`], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('item 9: a .pt file of stride-0 expand views', () => {
  const x3 = tmp.path('x3.json');
  writeFileSync(x3, JSON.stringify({ input: [[[1, 2, 3]]] }));
  test('as --weights (an LSTM of 44000 x 11000 weights in 1.6 KB) is refused in one line, in bounded memory', () => {
    const r = cliCapped('run', '--weights', fixture('expanded-lstm.pt'), '--input', x3, '--out', tmp.path('y.json'));
    failsInOneLine(
      r,
      /expanded-lstm\.pt: 'weight_ih_l0': a tensor of size \[44000, 11000\] repeats the 1 element\(s\) of its storage .* into 1\.8 GiB; the limit for such views is 16\.0 MiB/,
    );
  });
  test('as --input (268 MB from 768 bytes) is refused, and nothing is written', () => {
    const out = tmp.path('y2.safetensors');
    const r = cliCapped(
      'run',
      '--weights',
      fixture('rnn-1-2.pt'),
      '--input',
      fixture('expanded-input.pt'),
      '--out',
      out,
    );
    failsInOneLine(r, /expanded-input\.pt: 'input': a tensor of size \[8192, 8192, 1\] repeats/);
    assert.throws(() => readFileSync(out), /ENOENT/);
  });
  test('the library reads such a view when the caller lifts the limit, with the values torch.load gives', () => {
    const bytes = readFileSync(fixture('expanded-input.pt'));
    assert.throws(
      () => readPtSelection(bytes),
      (e: unknown) => e instanceof RnnError && e.code === 'unsupported',
    );
    const { tensors } = readPtSelection(bytes, { limits: { maxExpandedBytes: 2 ** 29 } });
    const input = tensors.get('input');
    assert.ok(input !== undefined);
    assert.deepEqual([...input.shape], [8192, 8192, 1]);
    assert.equal((input.data as Float32Array)[12345], Math.fround(0.01));
  });
  test('inspect refuses it too, before materialising', () => {
    failsInOneLine(cliCapped('inspect', fixture('expanded-lstm.pt')), /repeats the 1 element/);
  });
});

describe('item 10: the same file dropped on the explainer page', () => {
  test('is refused from its shapes at once, not after seconds of materialising', () => {
    const started = performance.now();
    assert.throws(
      () => readWeights('expanded-lstm.pt', readFileSync(fixture('expanded-lstm.pt'))),
      /a tensor of size \[44000, 11000\] (repeats|needs)/,
    );
    assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`);
  });
});

describe('item 13: inspect on a state dict whose proj_size is not below hidden_size', () => {
  test('refuses it as run does, instead of printing LSTM(3, 5, proj_size=7)', () => {
    const r = cli('inspect', fixture('proj-too-big.pt'));
    failsInOneLine(r, /proj_size 7 must be smaller than hidden_size 5/);
    assert.doesNotMatch(r.stdout, /proj_size=7/);
  });
});

/** A chars checkpoint from `train`, with its metadata or tensors edited. */
function editedCheckpoint(name: string, edit: (meta: Record<string, string>, t: Map<string, unknown>) => void) {
  const dir = tmp.path(`ckpt-${name}`);
  assert.equal(cli('train', '--task', 'chars', '--steps', '1', '--hidden', '8', '--out', dir).status, 0);
  const { tensors, metadata } = readSafetensors(readFileSync(`${dir}/model.safetensors`));
  edit(metadata, tensors);
  const path = tmp.path(`${name}.safetensors`);
  writeFileSync(path, writeSafetensors(Object.fromEntries(tensors) as never, metadata));
  return path;
}

describe('item 14: sample on a checkpoint that contradicts itself', () => {
  test("metadata 'cell' that disagrees with the tensors is one line", () => {
    const path = editedCheckpoint('cell', (meta) => {
      meta.cell = 'LSTM';
    });
    failsInOneLine(
      cli('sample', '--checkpoint', path),
      /metadata disagrees with its tensors: 'cell' is LSTM but the tensors hold RNN/,
    );
  });
  test('a head.bias of [5, 7] is one line', () => {
    const path = editedCheckpoint('bias', (_, t) => {
      t.set('head.bias', { dtype: 'F32', shape: [5, 7], data: new Float32Array(35) });
    });
    failsInOneLine(cli('sample', '--checkpoint', path), /head\.bias has shape \[5, 7\]/);
  });
});

// sample reads PyTorch models too (issue 24): a file that holds none is named, with what it holds instead
describe('item 17: sample on a file that is no model names the file and what it is', () => {
  const cases: [string, string, RegExp][] = [
    [
      'a .pt of a bare RNN',
      fileURLToPath(new URL('./fixtures/pt/rnn.pt', import.meta.url)),
      /: the state dict is a bare recurrent module: no embedding or head/,
    ],
    [
      'a CSV',
      'data.csv',
      /: neither a PyTorch \.pt file nor a safetensors file \(nor JSON\): it starts with "a,b\\n1,2\\n"/,
    ],
    ['a JSON file', 'data.json', /: not an nn\.RNN, nn\.LSTM or nn\.GRU state dict/],
    [
      'a text file',
      'notes.txt',
      /: neither a PyTorch \.pt file nor a safetensors file \(nor JSON\): it starts with "hello\\n"/,
    ],
  ];
  writeFileSync(tmp.path('data.csv'), 'a,b\n1,2\n');
  writeFileSync(tmp.path('data.json'), '{"x": [1, 2]}');
  writeFileSync(tmp.path('notes.txt'), 'hello\n');
  for (const [what, file, message] of cases) {
    test(`${what}`, () => {
      const path = file.startsWith('/') ? file : tmp.path(file);
      const r = cli('sample', '--checkpoint', path);
      failsInOneLine(r, message);
      assert.ok(r.stderr.includes(`error: ${path}: `), r.stderr);
      assert.doesNotMatch(r.stderr, /header claims/);
    });
  }
});

describe('item 20: --weights given as a named FIFO', () => {
  test('is read from its writer, once, instead of hanging', async () => {
    const fifo = tmp.path('weights.fifo');
    execFileSync('mkfifo', [fifo]);
    const x = tmp.path('x-fifo.json');
    writeFileSync(x, JSON.stringify({ input: [[[1, 2, 3]]] }));
    // a writer that feeds the FIFO once and closes it at once (the data read before the FIFO is opened), as a
    // program writing its output there does: a reader that opens the FIFO twice finds no writer the second time
    const src = fileURLToPath(new URL('./fixtures/pt/rnn.pt', import.meta.url));
    const writer = spawn('python3', [
      '-c',
      'import os, sys; d = open(sys.argv[1], "rb").read(); f = os.open(sys.argv[2], os.O_WRONLY); os.write(f, d); os.close(f)',
      src,
      fifo,
    ]);
    const r = await new Promise<{ status: number | null; stderr: string }>((done) => {
      const c = spawn(process.execPath, [
        CLI,
        'run',
        '--weights',
        fifo,
        '--input',
        x,
        '--out',
        tmp.path('y-fifo.json'),
      ]);
      let stderr = '';
      c.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      c.on('close', (status) => {
        clearTimeout(timer);
        done({ status, stderr });
      });
    });
    writer.kill();
    assert.equal(r.status, 0, `exit ${r.status} (null: killed after 30 s): ${r.stderr}`);
  });
});

describe('item 22: the explain server and two Host headers', () => {
  /** The status line of a raw request with these header lines. */
  function statusOf(port: number, headers: string[]): Promise<string> {
    return new Promise((done, fail) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET / HTTP/1.1\r\n${headers.join('\r\n')}\r\nConnection: close\r\n\r\n`);
      });
      let text = '';
      socket.on('data', (d) => (text += d));
      socket.on('end', () => done(text.split('\r\n')[0] as string));
      socket.on('error', fail);
    });
  }
  test('answers 400 to its own Host followed by another, and 200 to its own alone', async () => {
    const dir = tmp.path('web');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(`${dir}/index.html`, '<!doctype html><title>t</title>');
    const server = await explainCommand({ root: dir, port: 0, open: false, log: () => {} });
    try {
      const own = `Host: 127.0.0.1:${server.port}`;
      assert.match(await statusOf(server.port, [own]), /^HTTP\/1\.1 200/);
      assert.match(await statusOf(server.port, [own, 'Host: attacker.example']), /^HTTP\/1\.1 400/);
      assert.match(await statusOf(server.port, ['Host: attacker.example', own]), /^HTTP\/1\.1 400/);
    } finally {
      await server.close();
    }
  });
});

describe('past the list: run on an input whose forward would not fit in memory', () => {
  test('is refused in one line naming the estimate, before the forward', (t) => {
    // an RNN(1, 2048) (16 MiB of weights) on 4,000,000 rows of one feature (16 MB): about 130 GB of outputs
    const H = 2048;
    const rows = 4_000_000;
    const bytes = rows * (H + 3 * H) * 4;
    if (bytes <= totalmem()) {
      t.skip('this machine has the memory');
      return;
    }
    const rnn = new RNN({ inputSize: 1, hiddenSize: H, seed: 1 });
    const weights = tmp.path('wide.safetensors');
    writeFileSync(weights, writeSafetensors(rnn.stateDict()));
    const input = tmp.path('long.safetensors');
    writeFileSync(input, writeSafetensors({ input: new Tensor(new Float32Array(rows), [rows, 1, 1]) }));
    const out = tmp.path('wide-out.safetensors');
    const r = cliCapped('run', '--weights', weights, '--input', input, '--out', out);
    failsInOneLine(
      r,
      /running this 1-layer RNN of hidden size 2048 on .* needs about \d+(\.\d)? GiB of memory; this machine has/,
    );
    assert.throws(() => readFileSync(out), /ENOENT/);
  });
});
