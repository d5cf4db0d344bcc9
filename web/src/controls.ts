/**
 * The settings bar: sizes, options and seed. Every change recomputes the page at once (live update). Sizes that
 * a loaded state dict or a typed-in input fixes are shown but locked.
 */
import { el } from './dom.js';
import { clampSetting, LIMITS, type Settings } from './settings.js';

type NumberKey = 'seqLen' | 'batch' | 'element' | 'inputSize' | 'hiddenSize' | 'numLayers' | 'seed';

export interface Locks {
  /** Sizes come from loaded weights: I, H, K and bidirectional. */
  architecture: boolean;
  /** L, N and I come from a typed-in input. */
  input: boolean;
}

export interface ControlsView {
  root: HTMLElement;
  update(settings: Settings, locks: Locks): void;
}

const FIELDS: { key: NumberKey; letter: string; name: string; hint: string }[] = [
  { key: 'seqLen', letter: 'L', name: 'sequence length', hint: 'time steps' },
  { key: 'batch', letter: 'N', name: 'batch size', hint: 'sequences at once' },
  { key: 'element', letter: 'n', name: 'batch row', hint: 'which sequence the grid shows' },
  { key: 'inputSize', letter: 'I', name: 'input_size', hint: 'features of x_t' },
  { key: 'hiddenSize', letter: 'H', name: 'hidden_size', hint: 'features of h' },
  { key: 'numLayers', letter: 'K', name: 'num_layers', hint: 'stacked layers' },
];

export function controlsView(onChange: (patch: Partial<Settings>) => void): ControlsView {
  const inputs = new Map<NumberKey, HTMLInputElement>();
  const numberInput = (key: NumberKey, wide = false): HTMLInputElement => {
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
      if (v !== undefined && (inRange || final)) onChange({ [key]: v });
      input.setAttribute('aria-invalid', String(!inRange && !final && raw !== ''));
    };
    input.addEventListener('input', () => apply(false));
    input.addEventListener('change', () => apply(true));
    inputs.set(key, input);
    return input;
  };
  const numberField = (key: NumberKey, letter: string, name: string, hint: string) =>
    el(
      'div',
      { class: 'field', title: hint },
      el('label', { for: `ctl-${key}` }, el('span', { class: 'letter' }, letter), el('span', { class: 'fname' }, name)),
      numberInput(key),
      el('span', { class: 'sr-only', id: `ctl-${key}-hint` }, hint),
    );

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
  const code = el('code', { class: 'torch-code', 'data-testid': 'torch-code' });

  const root = el(
    'form',
    { class: 'controls', 'aria-label': 'Network settings', onsubmit: (e: Event) => e.preventDefault() },
    ...FIELDS.map((f) => numberField(f.key, f.letter, f.name, f.hint)),
    el(
      'div',
      { class: 'field' },
      el(
        'label',
        { for: 'ctl-nonlinearity' },
        el('span', { class: 'letter' }, 'f'),
        el('span', { class: 'fname' }, 'nonlinearity'),
      ),
      nonlinearity,
    ),
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

  function update(s: Settings, locks: Locks): void {
    for (const [key, input] of inputs) {
      if (document.activeElement !== input || input.value === '') input.value = String(s[key]);
      const byWeights = locks.architecture && (key === 'inputSize' || key === 'hiddenSize' || key === 'numLayers');
      const byInput = locks.input && (key === 'seqLen' || key === 'batch' || key === 'inputSize');
      input.disabled = byWeights || byInput;
      input.title = byWeights ? 'set by the loaded weights' : byInput ? 'set by your input' : '';
    }
    (inputs.get('element') as HTMLInputElement).max = String(s.batch - 1);
    const seed = inputs.get('seed') as HTMLInputElement;
    seed.disabled = locks.architecture && locks.input; // nothing random is left
    reseed.disabled = seed.disabled;
    bidirectional.checked = s.bidirectional;
    bidirectional.disabled = locks.architecture;
    nonlinearity.value = s.nonlinearity;
    const args = [
      String(s.inputSize),
      String(s.hiddenSize),
      `num_layers=${s.numLayers}`,
      s.nonlinearity === 'relu' ? `nonlinearity='relu'` : '',
      s.bidirectional ? 'bidirectional=True' : '',
      'dtype=torch.float64',
    ].filter(Boolean);
    const rnn = `rnn = nn.RNN(${args.join(', ')})`;
    const x = `torch.randn(${s.seqLen}, ${s.batch}, ${s.inputSize}, dtype=torch.float64)`;
    code.textContent =
      locks.architecture || locks.input
        ? `In PyTorch: ${rnn}${locks.architecture ? '; rnn.load_state_dict(your file)' : ''}; output, h_n = rnn(x)   # x: (${s.seqLen}, ${s.batch}, ${s.inputSize})`
        : `The same numbers in PyTorch: torch.manual_seed(${s.seed}); ${rnn}; x = ${x}; output, h_n = rnn(x)`;
  }

  return { root: el('div', { class: 'controls-wrap' }, root, code), update };
}
