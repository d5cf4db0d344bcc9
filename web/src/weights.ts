/**
 * Your own weights and input: an nn.RNN, nn.LSTM or nn.GRU state dict dropped on the page (safetensors, or a
 * torch.save'd .pt), read by the library's readers, and an input typed as JSON. A state dict fixes the cell and
 * the sizes (read off the shapes by `inferArchitecture`: the cell from weight_hh_l0's rows per column, proj_size
 * from weight_hr_l0); the RNN's nonlinearity is not stored in one, so it stays a control.
 */

import { type RnnArchitecture, RnnError, type Tensor, tensor } from '../../src/index.js';
import { detectFormat, notATensorFile } from '../../src/io/detect.js';
import { readJsonTensors } from '../../src/io/json-tensors.js';
import { IntTensor, readPtSelection } from '../../src/io/pt/index.js';
import { setEntry } from '../../src/io/record.js';
import { readSafetensors, toFloat } from '../../src/io/safetensors.js';
import { architectureOf, selectPrefix } from '../../src/io/state-dict.js';
import { el } from './dom.js';

export interface LoadedWeights {
  name: string;
  /** The key of the state dict in a .pt checkpoint, when the file is one. */
  key: string | undefined;
  prefix: string;
  arch: RnnArchitecture;
  tensors: Record<string, Tensor>;
}

/** A choice the reader could not make alone: several state dicts in a checkpoint, or several RNNs in a model. */
export interface WeightsChoice {
  option: 'key' | 'prefix';
  candidates: string[];
}

/** The choice an error asks for (from its `data`), if any. */
export function choiceOf(e: unknown): WeightsChoice | null {
  if (!(e instanceof RnnError)) return null;
  const { option, candidates } = e.data ?? {};
  if ((option !== 'key' && option !== 'prefix') || !Array.isArray(candidates) || candidates.length < 2) return null;
  return { option, candidates: candidates.map(String) };
}

/** Largest typed-in input: the grid has a column per step and shows one batch row at a time. */
export const MAX_INPUT = { L: 24, N: 8 } as const;

/** The most bytes a dropped .pt file's tensors may take: twice the page's 64 MB file limit (float16 doubles). */
export const PAGE_PT_BYTES = 128 * 1024 * 1024;

/**
 * Reads a state dict file's bytes (.pt, safetensors or JSON, told by its first bytes) into float tensors, finds
 * the RNN in it as the command does (the state dict of a checkpoint by its key, the RNN of a model by its
 * prefix), and sizes it. `choice` answers a question an earlier read raised (see choiceOf).
 */
export function readWeights(
  name: string,
  bytes: Uint8Array,
  choice: { key?: string; prefix?: string } = {},
): LoadedWeights {
  const all: Record<string, Tensor> = {};
  let key: string | undefined;
  const format = detectFormat(bytes, name);
  if (format === 'unknown') throw notATensorFile(bytes, bytes.length);
  if (format === 'pt') {
    // The page's own bound on what a .pt file may unfold into (its networks are small): checked from the shapes
    // before a tensor is built, so a kilobyte of expand views is refused at once rather than after seconds.
    const limits = { maxBytes: PAGE_PT_BYTES };
    const selection = readPtSelection(bytes, choice.key === undefined ? { limits } : { key: choice.key, limits });
    key = selection.key;
    for (const [k, t] of selection.tensors) if (!(t instanceof IntTensor)) setEntry(all, k, t);
  } else if (format === 'json') {
    for (const [k, t] of readJsonTensors(new TextDecoder().decode(bytes)))
      setEntry(all, k, tensor(t.values, t.shape, 'float64'));
  } else {
    for (const [k, raw] of readSafetensors(bytes).tensors) {
      if (raw.dtype !== 'I64' && raw.dtype !== 'I32') setEntry(all, k, toFloat(raw));
    }
  }
  const { prefix, sd } = selectPrefix(all, choice.prefix);
  return { name, key, prefix, arch: architectureOf(sd), tensors: sd };
}

/** Parses a typed-in input: JSON nested arrays of shape (L, I) or (L, N, I), returned as (L, N, I). */
export function parseInput(text: string): Tensor {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RnnError('invalid_argument', `the input is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) {
    throw new RnnError('invalid_argument', 'the input must be nested arrays of numbers, (L, I) or (L, N, I)');
  }
  const x = tensor(value as number[][], undefined, 'float64');
  if (x.ndim !== 2 && x.ndim !== 3) {
    throw new RnnError('shape_mismatch', `the input must be 2-D (L, I) or 3-D (L, N, I), got ${x.ndim}-D`, {
      expected: [2, 3],
      got: x.ndim,
    });
  }
  const [L, N, I] =
    x.ndim === 2 ? [x.shape[0] as number, 1, x.shape[1] as number] : (x.shape as [number, number, number]);
  if (L < 1 || N < 1 || I < 1) throw new RnnError('shape_mismatch', 'the input has an empty dimension');
  if (L > MAX_INPUT.L || N > MAX_INPUT.N) {
    throw new RnnError(
      'invalid_argument',
      `the page shows at most ${MAX_INPUT.L} steps and ${MAX_INPUT.N} sequences, got L = ${L}, N = ${N}`,
    );
  }
  if ([...x.data].some((v) => !Number.isFinite(v))) {
    throw new RnnError('invalid_argument', 'the input must hold finite numbers');
  }
  return x.reshape([L, N, I]);
}

/** x (L, N, I) as JSON, one line per step, 4 decimals: a starting point to edit. */
export function inputToJson(x: Tensor): string {
  const [L, N, I] = x.shape as [number, number, number];
  const lines: string[] = [];
  for (let t = 0; t < L; t++) {
    const rows: string[] = [];
    for (let n = 0; n < N; n++) {
      const row = Array.from(x.data.subarray((t * N + n) * I, (t * N + n + 1) * I)).map((v) => Number(v.toFixed(4)));
      rows.push(JSON.stringify(row));
    }
    lines.push(`  [${rows.join(', ')}]`);
  }
  return `[\n${lines.join(',\n')}\n]`;
}

export interface WeightsHandlers {
  loadFile(file: File): void;
  /** Answers the question of `WeightsStatus.choice`: the state dict or the RNN to use. */
  choose(option: 'key' | 'prefix', value: string): void;
  resetWeights(): void;
  useInput(text: string): void;
  randomInput(): void;
  currentInput(): string;
}

export interface WeightsStatus {
  weights: LoadedWeights | null;
  customInput: boolean;
  weightsMessage: { kind: 'info' | 'error'; text: string } | null;
  /** Several state dicts or RNNs in the last file: one button for each. */
  choice: WeightsChoice | null;
  inputMessage: { kind: 'info' | 'error'; text: string } | null;
}

/** Where in the file the RNN was: " (state dict 'model', under 'rnn.')". */
function where(w: LoadedWeights): string {
  const parts = [w.key === undefined ? '' : `state dict '${w.key}'`, w.prefix ? `under '${w.prefix}'` : ''];
  const text = parts.filter(Boolean).join(', ');
  return text ? ` (${text})` : '';
}

export interface WeightsView {
  root: HTMLElement;
  update(status: WeightsStatus): void;
}

export function weightsView(h: WeightsHandlers): WeightsView {
  const file = el('input', {
    id: 'weights-file',
    'data-testid': 'weights-file',
    type: 'file',
    accept: '.safetensors,.pt,.pth,.bin',
    class: 'visually-hidden',
  });
  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (f) h.loadFile(f);
    file.value = '';
  });
  const drop = el(
    'label',
    { class: 'dropzone', for: 'weights-file', 'data-testid': 'weights-drop' },
    el('span', { class: 'drop-big' }, 'Drop an nn.RNN, nn.LSTM or nn.GRU state dict here'),
    el('span', { class: 'drop-small' }, '.safetensors or .pt \u00b7 or click to choose a file'),
  );
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  // The drop itself is handled by the page (a file dropped anywhere loads); here it only ends the highlight.
  drop.addEventListener('drop', () => drop.classList.remove('over'));
  const weightsStatus = el('p', { class: 'status', 'data-testid': 'weights-status', 'aria-live': 'polite' });
  const choices = el('div', { class: 'button-row', 'data-testid': 'weights-choices', hidden: true });
  const reset = el(
    'button',
    { type: 'button', class: 'secondary', 'data-testid': 'weights-reset', onclick: () => h.resetWeights() },
    'Back to random weights',
  );

  const area = el('textarea', {
    id: 'input-json',
    'data-testid': 'input-json',
    rows: 8,
    spellcheck: 'false',
    placeholder: '[[0.5, -1.0], [0.25, 0.75], [1.0, 0.0]]   (L, I) or (L, N, I)',
  });
  const inputStatus = el('p', { class: 'status', 'data-testid': 'input-status', 'aria-live': 'polite' });
  const toGrid = el('a', { href: '#grid-section', class: 'to-grid' }, 'Step through it \u2191');
  const buttons = el(
    'div',
    { class: 'button-row' },
    el(
      'button',
      { type: 'button', 'data-testid': 'input-use', onclick: () => h.useInput(area.value) },
      'Use this input',
    ),
    el(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': 'input-copy',
        onclick: () => (area.value = h.currentInput()),
      },
      'Copy the current x here',
    ),
    el(
      'button',
      { type: 'button', class: 'secondary', 'data-testid': 'input-random', onclick: () => h.randomInput() },
      'Random input',
    ),
  );

  const root = el(
    'div',
    { class: 'weights' },
    el(
      'div',
      { class: 'weights-col' },
      el('h3', {}, 'Weights'),
      file,
      drop,
      weightsStatus,
      choices,
      reset,
      el('p', { class: 'muted' }, 'Save one from PyTorch:'),
      el(
        'pre',
        { class: 'code' },
        el(
          'code',
          {},
          'rnn = torch.nn.LSTM(4, 8, num_layers=2)  # or nn.RNN, nn.GRU\nfrom safetensors.torch import save_file\nsave_file(rnn.state_dict(), "rnn.safetensors")\n# or: torch.save(rnn.state_dict(), "rnn.pt")',
        ),
      ),
    ),
    el(
      'div',
      { class: 'weights-col' },
      el('h3', {}, el('label', { for: 'input-json' }, 'Input x as JSON')),
      area,
      buttons,
      inputStatus,
      toGrid,
    ),
  );

  function update(s: WeightsStatus): void {
    const w = s.weights;
    const message =
      s.weightsMessage ??
      (w
        ? {
            kind: 'info' as const,
            text: `Using ${w.name}${where(w)}: an nn.${w.arch.cell}, ${w.arch.numLayers} layer(s), input_size ${w.arch.inputSize}, hidden_size ${w.arch.hiddenSize}${w.arch.projSize ? `, proj_size ${w.arch.projSize}` : ''}${w.arch.bidirectional ? ', bidirectional' : ''}${w.arch.bias ? '' : ', no bias'}. The cell and sizes follow the file${w.arch.cell === 'RNN' ? '; the nonlinearity is not stored in a state dict, so set it above' : ''}.`,
          }
        : { kind: 'info' as const, text: 'Using random weights from the seed.' });
    weightsStatus.textContent = message.text;
    weightsStatus.className = `status ${message.kind}`;
    const c = s.choice;
    choices.replaceChildren(
      ...(c?.candidates ?? []).map((value, i) =>
        el(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'data-testid': `weights-choice-${i}`,
            onclick: () => h.choose(c?.option ?? 'key', value),
          },
          c?.option === 'prefix' ? `the RNN at '${value}'` : `the state dict '${value}'`,
        ),
      ),
    );
    choices.hidden = c === null;
    reset.hidden = !w;
    const im = s.inputMessage ?? {
      kind: 'info' as const,
      text: s.customInput ? 'Using your input: L and N follow it.' : 'Using a random input from the seed.',
    };
    inputStatus.textContent = im.text;
    inputStatus.className = `status ${im.kind}`;
    toGrid.hidden = !w && !s.customInput;
  }

  return { root, update };
}
