/**
 * `stacked-rnn demo`: the notebook this project started from, end to end, with the mistake fixed and shown.
 */
import type { Command } from 'commander';
import { RnnError } from '../errors.js';
import { Generator } from '../random.js';
import { mistakenForward, rnnForward, type TraceEvent } from '../rnn/functional.js';
import { RNN } from '../rnn/rnn.js';
import { randn, type Tensor, tensor } from '../tensor.js';
import { parseInteger } from './options.js';

const vec = (row: readonly number[]) => `[${row.map((v) => (v < 0 ? '' : ' ') + v.toFixed(4)).join(', ')}]`;

function maxAbsDiff(a: Tensor, b: Tensor): number {
  let m = 0;
  a.data.forEach((v, i) => {
    m = Math.max(m, Math.abs(v - (b.data[i] as number)));
  });
  return m;
}

/** `name = tensor(...)` with continuation lines shifted so the columns stay aligned, as in a notebook. */
const assign = (name: string, t: Tensor) =>
  `   ${name} = ${String(t)
    .split('\n')
    .map((line, i) => (i === 0 || line === '' ? line : ' '.repeat(name.length + 6) + line))
    .join('\n')}`;

export function demoText(seed: number): string {
  const out: string[] = [];
  const say = (s = '') => out.push(s);

  say('1. The formula: for layer l at time t');
  say('     h_t^l = tanh( h_t^{l-1} W_ih^l^T + b_ih^l + h_{t-1}^l W_hh^l^T + b_hh^l ),   h_t^0 = x_t');
  say('   Layer l > 0 reads the output sequence of layer l-1, never x_t, and each layer keeps its own state.');
  say();

  const g = new Generator(seed);
  const rnn = new RNN({ inputSize: 2, hiddenSize: 3, numLayers: 2, seed: g }).eval();
  const x = randn([3, 3, 2], { generator: g }); // (L, N, I)
  say(
    `2. A 2-layer RNN, input_size=2, hidden_size=3 (as torch.manual_seed(${seed}); rnn = nn.RNN(2, 3, num_layers=2))`,
  );
  say(
    `   parameters: ${rnn
      .namedParameters()
      .map(([n, p]) => `${n} (${p.shape.join(', ')})`)
      .join(', ')}`,
  );
  say('   x = torch.randn(3, 3, 2)   # (L, N, I): 3 steps, batch of 3, 2 features');
  say(assign('x', x));
  const [output, hN] = rnn.forward(x);
  say(
    '   output, h_n = rnn(x)       # output (L, N, H) is the last layer at every step; h_n (K, N, H) every layer at the end',
  );
  say(assign('output', output));
  say(assign('h_n', hN));
  say();

  // The proof runs in float64: chained float32 RNNs must round layer 0's output to a float32 tensor between
  // them, which the stacked forward does not (it rounds once, at the end), so float32 differs in the last bit.
  const rnn64 = new RNN({ ...rnn.options, dtype: 'float64', seed: 0 }).eval();
  rnn64.loadStateDict(rnn.stateDict());
  const x64 = x.to('float64');
  const [output64, hN64] = rnn64.forward(x64);
  const [rnn0, rnn1] = rnn64.split() as [RNN, RNN];
  const [out0, h0] = rnn0.eval().forward(x64);
  const [out1, h1] = rnn1.eval().forward(out0);
  const hCat = tensor([...h0.data, ...h1.data], [2, 3, 3], 'float64');
  say('3. The same network as two single-layer RNNs, weights copied (weight_ih_l1 becomes rnn1.weight_ih_l0)');
  say('   out0, h0 = rnn0(x)         # rnn0 = nn.RNN(2, 3): layer 0');
  say("   out1, h1 = rnn1(out0)      # rnn1 = nn.RNN(3, 3): layer 1 reads layer 0's output sequence");
  say(`   max |output - out1|             = ${maxAbsDiff(output64, out1)}`);
  say(`   max |h_n - cat([h0, h1])|       = ${maxAbsDiff(hN64, hCat)}`);
  say("   (in float64; in float32 the chained pair rounds layer 0's output to float32 in between, one ulp apart)");
  say();

  say('4. By hand, step by step (rnnForward), batch element 0:');
  const trace = (e: TraceEvent) => {
    if (e.kind === 'step-start') {
      say(`   processing x_${e.t} = ${vec(Array.from(x.data.subarray(e.t * 6, e.t * 6 + 2)))}`);
      return;
    }
    const src = e.layer === 0 ? `x_${e.t}` : `h_${e.t}^${e.layer - 1}`;
    const pre = (e.inputPart[0] as number[]).map((v, j) => v + ((e.hiddenPart[0] as number[])[j] as number));
    say(
      `     layer ${e.layer}: input ${src} = ${vec(e.input[0] as number[])}, h_${e.t - 1}^${e.layer} = ${vec(e.hPrev[0] as number[])}`,
    );
    say(`              ${src} W_ih^T + b_ih = ${vec(e.inputPart[0] as number[])}`);
    say(`              h W_hh^T + b_hh  = ${vec(e.hiddenPart[0] as number[])}`);
    say(`              h_${e.t}^${e.layer} = tanh(${vec(pre)}) = ${vec(e.h[0] as number[])}`);
  };
  const [byHand, byHandHN] = rnnForward(x, rnn.stateDict(), { trace });
  say(`   max |output - by hand| = ${maxAbsDiff(output, byHand)},  max |h_n - by hand| = ${maxAbsDiff(hN, byHandHN)}`);
  say();

  say("5. The classic mistake (the notebook's first try, and PyTorch's docstring pseudo-code): x_t fed to every layer");
  say('   for t: for l: h[l] = tanh(x[t] @ W_ih[l].T + b_ih[l] + h[l] @ W_hh[l].T + b_hh[l])');
  try {
    mistakenForward(x, rnn.stateDict());
    say('   it ran (unexpected)');
  } catch (err) {
    if (!(err instanceof RnnError)) throw err;
    say(`   RuntimeError: ${err.message}`);
    say("   why: weight_ih_l1 has shape (3, 3): layer 1 expects the 3 features of layer 0's output, and x_t has 2.");
  }
  const square = new RNN({ inputSize: 3, hiddenSize: 3, numLayers: 2, seed: g }).eval();
  const x3 = randn([3, 3, 3], { generator: g });
  const [right] = square.forward(x3);
  const [wrong] = mistakenForward(x3, square.stateDict());
  say('   With input_size == hidden_size (3) the same mistake runs, and is silently wrong:');
  say(`   max |right - mistaken| = ${maxAbsDiff(right, wrong).toFixed(4)} on a (3, 3, 3) input`);
  return out.join('\n');
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the notebook in the terminal: formula, a 2-layer RNN, the split proof, a traced forward, the classic mistake',
    )
    .option('--seed <s>', 'seed, as torch.manual_seed', parseInteger('--seed', 0, 2 ** 32 - 1), 0)
    .action((opts: { seed: number }) => {
      process.stdout.write(`${demoText(opts.seed)}\n`);
    });
}
