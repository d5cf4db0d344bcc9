/**
 * The proof, run: the K-layer network as K single-layer RNNs (`rnn.split()`, weights copied) chained, each
 * reading the previous one's output sequence, and the difference to the K-layer output, which is 0.
 */
import { el } from './dom.js';
import type { Run } from './model.js';
import { color, fmtDiff, scaleOf } from './vector.js';

/** A small (features x time) picture of one output sequence for batch row n. */
function thumb(data: ArrayLike<number>, L: number, N: number, F: number, n: number, scale: number): HTMLElement {
  const grid = el('div', { class: 'thumb', 'aria-hidden': 'true' });
  grid.style.gridTemplateColumns = `repeat(${L}, 1fr)`;
  for (let j = 0; j < F; j++) {
    for (let t = 0; t < L; t++) {
      const sq = el('span', {});
      sq.style.background = color(data[(t * N + n) * F + j] as number, scale);
      grid.append(sq);
    }
  }
  return grid;
}

export function splitPanel(run: Run): HTMLElement {
  const { L, N, I, H, K, D, x, split } = run;
  const n = run.settings.element;
  const F = D * H;
  const scale = run.settings.nonlinearity === 'tanh' ? 1 : scaleOf(split.outputs.map((o) => o.data));
  const bi = D === 2 ? ', bidirectional=True' : '';
  const chain = el('ol', { class: 'chain', 'aria-label': 'The single-layer RNNs, chained' });
  chain.append(
    el(
      'li',
      { class: 'chain-box input' },
      el('div', { class: 'chain-title' }, 'x'),
      el('div', { class: 'chain-shape' }, `(${L}, ${N}, ${I})`),
      thumb(x.data, L, N, I, n, scaleOf([x.data])),
    ),
  );
  split.parts.forEach((part, k) => {
    const names = ['weight_ih', 'weight_hh', ...(run.rnn.bias ? ['bias_ih', 'bias_hh'] : [])];
    chain.append(
      el('li', { class: 'chain-arrow', 'aria-hidden': 'true' }, '\u2192'),
      el(
        'li',
        { class: 'chain-box', 'data-testid': `split-part-${k}` },
        el('div', { class: 'chain-title' }, `part ${k}`),
        el('code', { class: 'chain-code' }, `nn.RNN(${part.inputSize}, ${H}${bi})`),
        el(
          'div',
          { class: 'chain-weights', title: names.map((w) => `${w}_l0 \u2190 ${w}_l${k}`).join('\n') },
          `weight_*_l0 \u2190 weight_*_l${k}`,
        ),
        thumb(split.outputs[k]?.data ?? [], L, N, F, n, scale),
        el('div', { class: 'chain-shape' }, `output (${L}, ${N}, ${F}): layer ${k}'s row`),
      ),
    );
  });
  const ok = split.outputDiff === 0 && split.hNDiff === 0;
  return el(
    'div',
    { class: 'split' },
    el(
      'p',
      {},
      el('code', {}, 'rnn.split()'),
      ` returns ${K} single-layer RNN${K > 1 ? 's' : ''} with the weights copied: the stack's `,
      el('code', {}, 'weight_ih_l1'),
      ' becomes the second one\u2019s ',
      el('code', {}, 'weight_ih_l0'),
      ', and so on. Chained, each reading the whole output sequence of the one before, they are the same network.',
    ),
    el('div', { class: 'chain-scroll' }, chain),
    el(
      'div',
      { class: `verdict ${ok ? 'good' : 'bad'}` },
      el(
        'div',
        {},
        el('span', { class: 'verdict-label' }, 'max |output of the chain \u2212 output of the ', `${K}-layer RNN| = `),
        el('b', { 'data-testid': 'split-diff' }, fmtDiff(split.outputDiff)),
      ),
      el(
        'div',
        {},
        el('span', { class: 'verdict-label' }, 'max |h_n of the parts, concatenated \u2212 h_n| = '),
        el('b', { 'data-testid': 'split-hn-diff' }, fmtDiff(split.hNDiff)),
      ),
    ),
    el(
      'pre',
      { class: 'code' },
      el(
        'code',
        {},
        [
          `const parts = rnn.split();  // ${K} x nn.RNN(..., num_layers=1), weights copied`,
          'let y = x;                  // (L, N, I)',
          'for (const part of parts) [y] = part.forward(y);',
          '// y equals rnn.forward(x)[0] bit for bit (in float64, as on this page)',
        ].join('\n'),
      ),
    ),
  );
}
