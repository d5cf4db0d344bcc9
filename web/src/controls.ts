/**
 * The settings bar: the cell, sizes, options and seed. Every change recomputes the page at once (live update).
 * Sizes that a loaded state dict or a typed-in input fixes are shown but locked. Under it, the PyTorch program
 * that gives the page's numbers, and a note whenever a value typed in had to be brought into range.
 */
import type { CellKind } from '../../src/index.js';
import { el } from './dom.js';
import { forwardTargets, moduleCall } from './python.js';
import { clampSetting, LIMITS, type NumericKey, rangeNote, type Settings } from './settings.js';

export interface Locks {
  /** Sizes come from loaded weights: the cell, I, H, P, K and bidirectional. */
  architecture: boolean;
  /** L, N and I come from a typed-in input. */
  input: boolean;
}

export interface ControlsView {
  root: HTMLElement;
  /** `notes`: what the page changed in what was asked for (out of range, P >= H), shown until the next change. */
  update(settings: Settings, locks: Locks, notes: readonly string[]): void;
}

const FIELDS: { key: NumericKey; letter: string; name: string; hint: string }[] = [
  { key: 'seqLen', letter: 'L', name: 'sequence length', hint: 'time steps' },
  { key: 'batch', letter: 'N', name: 'batch size', hint: 'sequences at once' },
  { key: 'element', letter: 'n', name: 'batch row', hint: 'which sequence the grid shows' },
  { key: 'inputSize', letter: 'I', name: 'input_size', hint: 'features of x_t' },
  { key: 'hiddenSize', letter: 'H', name: 'hidden_size', hint: 'features of h (of c and of each gate, for the LSTM)' },
  { key: 'projSize', letter: 'P', name: 'proj_size', hint: "the LSTM's h is projected to P features (0: none)" },
  { key: 'numLayers', letter: 'K', name: 'num_layers', hint: 'stacked layers' },
];

const CELL_NAMES: Record<CellKind, string> = { RNN: 'nn.RNN', LSTM: 'nn.LSTM', GRU: 'nn.GRU' };

/** `onChange(patch, note)`: `note` says how a typed value was brought into range. */
export function controlsView(onChange: (patch: Partial<Settings>, note?: string) => void): ControlsView {
  const inputs = new Map<NumericKey, HTMLInputElement>();
  const numberInput = (key: NumericKey, wide = false): HTMLInputElement => {
    const [lo, hi] = LIMITS[key];
    const input = el('input', {
      id: `ctl-${key}`,
      'data-testid': `ctl-${key}`,
      type: 'number',
      min: lo,
      max: hi,
      step: 1,
      inputmode: 'numeric',
      class: wide ? 'wide' : undefined,
      'aria-describedby': `ctl-${key}-hint`,
    });
    const apply = (final: boolean) => {
      const raw = input.value.trim();
      const v = raw === '' ? undefined : clampSetting(key, Number(raw));
      const inRange = v !== undefined && v === Number(raw);
      if (v !== undefined && inRange) onChange({ [key]: v });
      else if (final && raw !== '') {
        // Leaving the field with a value the page cannot use: bring it into range, and say so.
        const used = v ?? Number(input.dataset.last);
        onChange({ [key]: used }, rangeNote(key, raw, used));
      }
      input.setAttribute('aria-invalid', String(!inRange && !final && raw !== ''));
    };
    input.addEventListener('input', () => apply(false));
    input.addEventListener('change', () => apply(true));
    inputs.set(key, input);
    return input;
  };
  const fields = new Map<NumericKey, HTMLElement>();
  const numberField = (key: NumericKey, letter: string, name: string, hint: string) =>
    el(
      'div',
      { class: 'field', title: hint, 'data-field': key },
      el('label', { for: `ctl-${key}` }, el('span', { class: 'letter' }, letter), el('span', { class: 'fname' }, name)),
      numberInput(key),
      el('span', { class: 'sr-only', id: `ctl-${key}-hint` }, hint),
    );

  const cell = el(
    'select',
    { id: 'ctl-cell', 'data-testid': 'ctl-cell' },
    ...(['RNN', 'LSTM', 'GRU'] as const).map((c) => el('option', { value: c }, CELL_NAMES[c])),
  );
  cell.addEventListener('change', () => onChange({ cell: cell.value as CellKind }));
  const bidirectional = el('input', { id: 'ctl-bidirectional', 'data-testid': 'ctl-bidirectional', type: 'checkbox' });
  bidirectional.addEventListener('change', () => onChange({ bidirectional: bidirectional.checked }));
  const nonlinearity = el(
    'select',
    { id: 'ctl-nonlinearity', 'data-testid': 'ctl-nonlinearity' },
    el('option', { value: 'tanh' }, 'tanh'),
    el('option', { value: 'relu' }, 'relu'),
  );
  nonlinearity.addEventListener('change', () =>
    onChange({ nonlinearity: nonlinearity.value === 'relu' ? 'relu' : 'tanh' }),
  );
  const reseed = el(
    'button',
    {
      type: 'button',
      class: 'ghost',
      'data-testid': 'ctl-reseed',
      title: 'new random seed',
      onclick: () => onChange({ seed: Math.floor(Math.random() * 100000) }),
    },
    'new',
  );
  const codeLabel = el('span', { class: 'torch-label' });
  const code = el('code', { 'data-testid': 'torch-code' });
  const note = el('p', { class: 'settings-note', 'data-testid': 'settings-note', role: 'status', hidden: true });

  const nonlinearityField = el(
    'div',
    { class: 'field' },
    el(
      'label',
      { for: 'ctl-nonlinearity' },
      el('span', { class: 'letter' }, 'f'),
      el('span', { class: 'fname' }, 'nonlinearity'),
    ),
    nonlinearity,
  );
  const root = el(
    'form',
    { class: 'controls', 'aria-label': 'Network settings', onsubmit: (e: Event) => e.preventDefault() },
    el(
      'div',
      { class: 'field', title: 'which recurrent module' },
      el('label', { for: 'ctl-cell' }, el('span', { class: 'fname' }, 'module')),
      cell,
    ),
    ...FIELDS.map((f) => {
      const field = numberField(f.key, f.letter, f.name, f.hint);
      fields.set(f.key, field);
      return field;
    }),
    nonlinearityField,
    el(
      'div',
      { class: 'field check' },
      el(
        'label',
        { for: 'ctl-bidirectional' },
        el('span', { class: 'letter' }, 'D'),
        el('span', { class: 'fname' }, 'bidirectional'),
      ),
      bidirectional,
    ),
    el(
      'div',
      { class: 'field seed' },
      el('label', { for: 'ctl-seed' }, el('span', { class: 'letter' }, '#'), el('span', { class: 'fname' }, 'seed')),
      el('div', { class: 'seed-row' }, numberInput('seed', true), reseed),
      el('span', { class: 'sr-only', id: 'ctl-seed-hint' }, 'seeds the weights, then x'),
    ),
  );

  function update(s: Settings, locks: Locks, notes: readonly string[]): void {
    for (const [key, input] of inputs) {
      input.dataset.last = String(s[key]);
      if (document.activeElement !== input || input.value === '' || notes.length) input.value = String(s[key]);
      const byWeights =
        locks.architecture &&
        (key === 'inputSize' || key === 'hiddenSize' || key === 'projSize' || key === 'numLayers');
      const byInput = locks.input && (key === 'seqLen' || key === 'batch' || key === 'inputSize');
      input.disabled = byWeights || byInput;
      input.title = byWeights ? 'set by the loaded weights' : byInput ? 'set by your input' : '';
    }
    (inputs.get('element') as HTMLInputElement).max = String(s.batch - 1);
    const seed = inputs.get('seed') as HTMLInputElement;
    seed.disabled = locks.architecture && locks.input; // nothing random is left
    reseed.disabled = seed.disabled;
    (inputs.get('projSize') as HTMLInputElement).max = String(Math.max(0, s.hiddenSize - 1));
    bidirectional.checked = s.bidirectional;
    bidirectional.disabled = locks.architecture;
    cell.value = s.cell;
    cell.disabled = locks.architecture;
    cell.title = locks.architecture ? 'set by the loaded weights' : '';
    nonlinearity.value = s.nonlinearity;
    // Each cell shows only its own options: f is the RNN's, proj_size the LSTM's.
    nonlinearityField.hidden = s.cell !== 'RNN';
    (fields.get('projSize') as HTMLElement).hidden = s.cell !== 'LSTM';
    const rnn = `rnn = ${moduleCall({ ...s, float64: true })}`;
    const x = `torch.randn(${s.seqLen}, ${s.batch}, ${s.inputSize}, dtype=torch.float64)`;
    const run = `${forwardTargets(s.cell)} = rnn(x)`;
    if (locks.architecture || locks.input) {
      codeLabel.textContent = 'In PyTorch:';
      code.textContent = `${rnn}${locks.architecture ? '; rnn.load_state_dict(your file)' : ''}; ${run}   # x: (${s.seqLen}, ${s.batch}, ${s.inputSize})`;
    } else {
      codeLabel.textContent = 'The same numbers in PyTorch:';
      code.textContent = `torch.manual_seed(${s.seed}); ${rnn}; x = ${x}; ${run}`;
    }
    note.hidden = notes.length === 0;
    note.textContent = notes.join(' ');
  }

  const snippet = el('p', { class: 'torch-code' }, codeLabel, ' ', code);
  return { root: el('div', { class: 'controls-wrap' }, root, snippet, note), update };
}
