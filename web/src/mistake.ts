/**
 * The classic mistake, run for real: `mistakenForward`, the notebook's hand-written loop (and PyTorch's docstring
 * pseudo-code) that feeds x_t to every layer. With input_size != hidden_size it throws the shape error PyTorch
 * would; with them equal it runs and gives wrong numbers, shown beside the right ones.
 */
import { append, el } from './dom.js';
import type { Run } from './model.js';
import type { Settings } from './settings.js';
import { fmtDiff, scaleOf, vector } from './vector.js';

const loop = (f: string) => [
  ['for t in range(seq_len):', ''],
  ['    for layer in range(num_layers):', ''],
  [`        h[layer] = torch.${f}(`, ''],
  ['            x[t] @ weight_ih[layer].T + bias_ih[layer]', 'bug'],
  ['            + h[layer] @ weight_hh[layer].T + bias_hh[layer])', ''],
  ['    output.append(h[-1])', ''],
];

function loopCode(f: string): HTMLElement {
  const code = el('code', {});
  for (const [line, kind] of loop(f)) {
    code.append(el('span', { class: kind ? 'line bug' : 'line' }, line), '\n');
  }
  return el(
    'div',
    { class: 'mistake-code' },
    el('p', { class: 'muted' }, "The notebook's hand-written forward (PyTorch's docstring has the same loop):"),
    el('pre', { class: 'code' }, code),
    el('p', { class: 'muted' }, 'The fix: layer l > 0 reads the layer below at the same step.'),
    el(
      'pre',
      { class: 'code fix' },
      el('code', {}, '            (x[t] if layer == 0 else h[layer - 1]) @ weight_ih[layer].T ...'),
    ),
  );
}

function action(label: string, testid: string, onClick: () => void): HTMLElement {
  return el('button', { type: 'button', class: 'secondary', 'data-testid': testid, onclick: onClick }, label);
}

export function mistakePanel(run: Run, locked: boolean, change: (patch: Partial<Settings>) => void): HTMLElement {
  const { L, N, I, H, K, output, mistake } = run;
  const n = run.settings.element;
  const result = el('div', { class: 'mistake-result', 'data-testid': 'mistake-result' });

  if (mistake.kind === 'bidirectional') {
    append(
      result,
      el('p', { class: 'result-text' }, 'The hand-written loop is unidirectional: it has no reverse pass to compare.'),
      locked
        ? null
        : action('Turn bidirectional off', 'mistake-unidirectional', () => change({ bidirectional: false })),
    );
  } else if (mistake.kind === 'error') {
    append(
      result,
      el('p', { class: 'result-text' }, el('code', {}, 'mistakenForward(x, rnn.stateDict())'), ' ran and threw:'),
      el(
        'pre',
        { class: 'error-box', 'data-testid': 'mistake-error', role: 'alert' },
        `RnnError: ${mistake.error.message}`,
      ),
      el(
        'p',
        { class: 'result-text' },
        `At t = 0, layer 1 multiplies x_0, (N, I) = (${N}, ${I}), by weight_ih_l1\u1d40, which is (${H}, ${H}): `,
        `layer 1 is built to read layer 0's H = ${H} features, not the ${I} features of x.`,
      ),
      locked
        ? null
        : action(`Set input_size = hidden_size = ${H} to see it run`, 'mistake-equal', () => change({ inputSize: H })),
    );
  } else {
    const F = H;
    const scale = run.settings.nonlinearity === 'tanh' ? 1 : scaleOf([output.data, mistake.wrong.data]);
    const table = el(
      'table',
      { class: 'mistake-table' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          el('th', { class: 'mt-cell mt-head' }, 't'),
          el('th', { class: 'mt-cell mt-head' }, 'hand-written (wrong)'),
          el('th', { class: 'mt-cell mt-head' }, 'nn.RNN (right)'),
          el('th', { class: 'mt-cell mt-head' }, 'wrong \u2212 right'),
        ),
      ),
    );
    const body = el('tbody', {});
    for (let t = 0; t < L; t++) {
      const slice = (d: ArrayLike<number>) => Array.from(d).slice((t * N + n) * F, (t * N + n + 1) * F);
      body.append(
        el(
          'tr',
          {},
          el('th', { scope: 'row', class: 'mt-cell' }, String(t)),
          el(
            'td',
            { class: 'mt-cell' },
            vector(slice(mistake.wrong.data), { digits: 4, scale, testid: `mistake-wrong-${t}` }),
          ),
          el(
            'td',
            { class: 'mt-cell' },
            vector(slice(output.data), { digits: 4, scale, testid: `mistake-right-${t}` }),
          ),
          el(
            'td',
            { class: 'mt-cell' },
            vector(
              slice(mistake.wrong.data).map((v, j) => v - (slice(output.data)[j] as number)),
              { digits: 4, scale },
            ),
          ),
        ),
      );
    }
    table.append(body);
    append(
      result,
      K === 1
        ? el(
            'p',
            { class: 'result-text' },
            'With one layer the loop is right: layer 0 is the one layer that should read x_t. The mistake needs num_layers \u2265 2.',
          )
        : el(
            'p',
            { class: 'result-text' },
            `input_size = hidden_size = ${H}, so the shapes fit and the loop runs, but ${K === 2 ? 'layer 1 computes' : `layers 1 to ${K - 1} compute`} from x_t instead of from the layer below:`,
          ),
      table,
      el(
        'div',
        { class: `verdict ${mistake.maxDiff === 0 ? 'good' : 'bad'}` },
        el('span', { class: 'verdict-label' }, 'max |wrong \u2212 right| = '),
        el('b', { 'data-testid': 'mistake-diff' }, fmtDiff(mistake.maxDiff)),
      ),
      locked
        ? null
        : K === 1
          ? action('Add a layer', 'mistake-add-layer', () => change({ numLayers: 2 }))
          : action(`Make input_size differ (I = ${H === 1 ? 2 : H - 1})`, 'mistake-differ', () =>
              change({ inputSize: H === 1 ? 2 : H - 1 }),
            ),
    );
  }
  return el('div', { class: 'mistake' }, loopCode(run.settings.nonlinearity), result);
}
