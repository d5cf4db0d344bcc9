/**
 * The classic mistake, run for real: `mistakenForward`, the notebook's hand-written loop (and PyTorch's docstring
 * pseudo-code) that feeds x_t to every layer, for whichever cell is shown. When layer 1's weight_ih cannot take
 * x_t (input_size differs from the width of h) it throws the shape error PyTorch would; when it can, it runs and
 * gives wrong numbers, shown beside the right ones.
 */
import type { CellKind } from '../../src/index.js';
import { append, el } from './dom.js';
import type { Run } from './model.js';
import type { Settings } from './settings.js';
import { fmtDiff, scaleOf, vector } from './vector.js';

/** The hand-written loop of each cell, as a notebook would write it; the flagged line is the bug. */
function loop(cell: CellKind, f: string, projected: boolean): [string, string][] {
  const head: [string, string][] = [
    ['for t in range(seq_len):', ''],
    ['    for layer in range(num_layers):', ''],
  ];
  const tail: [string, string][] = [['    output.append(h[-1])', '']];
  if (cell === 'RNN') {
    return [
      ...head,
      [`        h[layer] = torch.${f}(`, ''],
      ['            x[t] @ weight_ih[layer].T + bias_ih[layer]', 'bug'],
      ['            + h[layer] @ weight_hh[layer].T + bias_hh[layer])', ''],
      ...tail,
    ];
  }
  if (cell === 'LSTM') {
    return [
      ...head,
      ['        i, f, g, o = (x[t] @ weight_ih[layer].T + bias_ih[layer]', 'bug'],
      ['            + h[layer] @ weight_hh[layer].T + bias_hh[layer]).chunk(4, 1)', ''],
      ['        c[layer] = f.sigmoid() * c[layer] + i.sigmoid() * g.tanh()', ''],
      [`        h[layer] = o.sigmoid() * c[layer].tanh()${projected ? ' @ weight_hr[layer].T' : ''}`, ''],
      ...tail,
    ];
  }
  return [
    ...head,
    ['        ur, uz, un = (x[t] @ weight_ih[layer].T + bias_ih[layer]).chunk(3, 1)', 'bug'],
    ['        vr, vz, vn = (h[layer] @ weight_hh[layer].T + bias_hh[layer]).chunk(3, 1)', ''],
    ['        r, z = (ur + vr).sigmoid(), (uz + vz).sigmoid()', ''],
    ['        n = (un + r * vn).tanh()', ''],
    ['        h[layer] = (1 - z) * n + z * h[layer]', ''],
    ...tail,
  ];
}

function loopCode(run: Run): HTMLElement {
  const code = el('code', {});
  for (const [line, kind] of loop(run.cell, run.settings.nonlinearity, run.P < run.H)) {
    code.append(el('span', { class: kind ? 'line bug' : 'line' }, line), '\n');
  }
  return el(
    'div',
    { class: 'mistake-code' },
    el('p', { class: 'muted' }, "The notebook's hand-written forward (PyTorch's docstring has the same loop):"),
    el('pre', { class: 'code' }, code),
    el(
      'p',
      { class: 'muted' },
      `The fix: layer l > 0 reads the layer below at the same step${run.cell === 'LSTM' ? ' (its h; c never leaves its layer)' : ''}.`,
    ),
    el(
      'pre',
      { class: 'code fix' },
      el(
        'code',
        {},
        `${run.cell === 'RNN' ? '            ' : '        ... = ('}(x[t] if layer == 0 else h[layer - 1]) @ weight_ih[layer].T ...`,
      ),
    ),
  );
}

function action(label: string, testid: string, onClick: () => void): HTMLElement {
  return el('button', { type: 'button', class: 'secondary', 'data-testid': testid, onclick: onClick }, label);
}

export function mistakePanel(run: Run, locked: boolean, change: (patch: Partial<Settings>) => void): HTMLElement {
  const { cell, L, N, I, P, G, H, K, output, mistake } = run;
  const call = `nn.${cell}`;
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
        `At t = 0, layer 1 multiplies x_0, (N, I) = (${N}, ${I}), by weight_ih_l1\u1d40, which is (${P}, ${G * H}): `,
        `layer 1 is built to read layer 0's ${P < H ? 'P' : 'H'} = ${P} features, not the ${I} features of x.`,
      ),
      locked
        ? null
        : action(`Set input_size = ${P < H ? 'proj_size' : 'hidden_size'} = ${P} to see it run`, 'mistake-equal', () =>
            change({ inputSize: P }),
          ),
    );
  } else {
    const F = P;
    const scale = run.hScale === 1 ? 1 : scaleOf([output.data, mistake.wrong.data]);
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
          el('th', { class: 'mt-cell mt-head' }, `${call} (right)`),
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
            `input_size = ${P < H ? 'proj_size' : 'hidden_size'} = ${P}, so the shapes fit and the loop runs, but ${K === 2 ? 'layer 1 computes' : `layers 1 to ${K - 1} compute`} from x_t instead of from the layer below:`,
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
          : action(`Make input_size differ (I = ${P === 1 ? 2 : P - 1})`, 'mistake-differ', () =>
              change({ inputSize: P === 1 ? 2 : P - 1 }),
            ),
    );
  }
  return el('div', { class: 'mistake' }, loopCode(run), result);
}
