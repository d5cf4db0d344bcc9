/**
 * The proof, run: the K-layer network as K single-layer modules (`rnn.split()`, weights copied) chained, each
 * reading the previous one's output sequence, and the difference to the K-layer output (and final states),
 * which is 0. The same for nn.RNN, nn.LSTM and nn.GRU: only the cell inside each part differs.
 */
import { el } from './dom.js';
import type { Run } from './model.js';
import { moduleCall } from './python.js';
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
  const { cell, L, N, I, K, D, P, x, split } = run;
  const n = run.settings.element;
  const F = D * P;
  const scale = run.hScale;
  const name = `nn.${cell}`;
  const plural = `${cell}${K > 1 ? 's' : ''}`;
  const chain = el('ol', { class: 'chain', 'aria-label': `The single-layer ${cell}s, chained` });
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
    const names = [
      'weight_ih',
      'weight_hh',
      ...(run.module.bias ? ['bias_ih', 'bias_hh'] : []),
      ...(P < run.H ? ['weight_hr'] : []),
    ];
    chain.append(
      el('li', { class: 'chain-arrow', 'aria-hidden': 'true' }, '\u2192'),
      el(
        'li',
        { class: 'chain-box', 'data-testid': `split-part-${k}` },
        el('div', { class: 'chain-title' }, `part ${k}`),
        el(
          'code',
          { class: 'chain-code' },
          moduleCall({ ...run.settings, inputSize: part.inputSize, numLayers: 1, bias: part.bias }),
        ),
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
  const ok = split.outputDiff === 0 && split.hNDiff === 0 && (split.cNDiff ?? 0) === 0;
  return el(
    'div',
    { class: 'split' },
    el(
      'p',
      {},
      el('code', {}, 'rnn.split()'),
      ` returns ${K} single-layer ${plural} with the weights copied: the stack's `,
      el('code', {}, 'weight_ih_l1'),
      ' becomes the second one\u2019s ',
      el('code', {}, 'weight_ih_l0'),
      cell === 'LSTM'
        ? ', and so on. Chained, each reading the whole output sequence (its h) of the one before and keeping its own c, they are the same network.'
        : ', and so on. Chained, each reading the whole output sequence of the one before, they are the same network.',
    ),
    el('div', { class: 'chain-scroll' }, chain),
    el(
      'div',
      { class: `verdict ${ok ? 'good' : 'bad'}` },
      el(
        'div',
        {},
        el(
          'span',
          { class: 'verdict-label' },
          'max |output of the chain \u2212 output of the ',
          `${K}-layer ${cell}| = `,
        ),
        el('b', { 'data-testid': 'split-diff' }, fmtDiff(split.outputDiff)),
      ),
      el(
        'div',
        {},
        el('span', { class: 'verdict-label' }, 'max |h_n of the parts, concatenated \u2212 h_n| = '),
        el('b', { 'data-testid': 'split-hn-diff' }, fmtDiff(split.hNDiff)),
      ),
      split.cNDiff === null
        ? null
        : el(
            'div',
            {},
            el('span', { class: 'verdict-label' }, 'max |c_n of the parts, concatenated \u2212 c_n| = '),
            el('b', { 'data-testid': 'split-cn-diff' }, fmtDiff(split.cNDiff)),
          ),
    ),
    el(
      'pre',
      { class: 'code' },
      el(
        'code',
        {},
        [
          `const parts = rnn.split();  // ${K} x ${name}(..., num_layers=1), weights copied`,
          'let y = x;                  // (L, N, I)',
          'for (const part of parts) [y] = part.forward(y);',
          '// y equals rnn.forward(x)[0] bit for bit (in float64, as on this page)',
        ].join('\n'),
      ),
    ),
  );
}
