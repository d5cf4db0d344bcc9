/**
 * What the learner controls, its bounds, and its round trip through the URL hash (so a view can be shared).
 *
 * Letters as in the library: L sequence, N batch, I input, H hidden, P proj_size, D directions, K layers.
 * A value the page cannot use (H = 0, H = 500, P >= H, a word) is brought into range, and a note says so: the
 * learner must never see a different network than the one asked for without being told.
 */
import type { CellKind, Nonlinearity } from '../../src/index.js';

export interface Settings {
  /** nn.RNN, nn.LSTM or nn.GRU */
  cell: CellKind;
  /** L */
  seqLen: number;
  /** N */
  batch: number;
  /** n: the batch row the grid shows, 0..N-1 */
  element: number;
  /** I */
  inputSize: number;
  /** H */
  hiddenSize: number;
  /** P: the LSTM's proj_size, 0 for none (always 0 for the other cells) */
  projSize: number;
  /** K */
  numLayers: number;
  bidirectional: boolean;
  /** The RNN's f (the LSTM and GRU have fixed sigmoid and tanh) */
  nonlinearity: Nonlinearity;
  seed: number;
}

export type NumericKey =
  | 'seqLen'
  | 'batch'
  | 'element'
  | 'inputSize'
  | 'hiddenSize'
  | 'projSize'
  | 'numLayers'
  | 'seed';

/** Inclusive bounds. Small on purpose: every number is on screen. */
export const LIMITS: Record<NumericKey, readonly [number, number]> = {
  seqLen: [1, 12],
  batch: [1, 4],
  element: [0, 3],
  inputSize: [1, 8],
  hiddenSize: [1, 8],
  projSize: [0, 7],
  numLayers: [1, 6],
  seed: [0, 2 ** 32 - 1],
};

export const DEFAULTS: Readonly<Settings> = {
  cell: 'RNN',
  seqLen: 4,
  batch: 2,
  element: 0,
  inputSize: 2,
  hiddenSize: 3,
  projSize: 0,
  numLayers: 3,
  bidirectional: false,
  nonlinearity: 'tanh',
  seed: 0,
};

const HASH_KEYS: Record<keyof Settings, string> = {
  cell: 'cell',
  seqLen: 'L',
  batch: 'N',
  element: 'n',
  inputSize: 'I',
  hiddenSize: 'H',
  projSize: 'P',
  numLayers: 'K',
  bidirectional: 'bi',
  nonlinearity: 'f',
  seed: 'seed',
};

/** How each number is named in notes: the letter and PyTorch's argument. */
export const NAMES: Record<NumericKey, string> = {
  seqLen: 'L (sequence length)',
  batch: 'N (batch size)',
  element: 'n (batch row)',
  inputSize: 'I (input_size)',
  hiddenSize: 'H (hidden_size)',
  projSize: 'P (proj_size)',
  numLayers: 'K (num_layers)',
  seed: 'the seed',
};

const CELLS: Record<string, CellKind> = { rnn: 'RNN', lstm: 'LSTM', gru: 'GRU' };

/** `value` as an integer within the key's bounds, or undefined when it is not an integer at all. */
export function clampSetting(key: NumericKey, value: number): number | undefined {
  if (!Number.isFinite(value) || !Number.isInteger(value)) return undefined;
  const [lo, hi] = LIMITS[key];
  return Math.min(hi, Math.max(lo, value));
}

/** The note for a number brought into range, or for one that is not a whole number. */
export function rangeNote(key: NumericKey, raw: string, used: number): string {
  const [lo, hi] = LIMITS[key];
  const why = key === 'seed' ? `seeds are 0 to ${hi}` : `the page draws every number, so it takes ${lo} to ${hi}`;
  return clampSetting(key, Number(raw)) === undefined
    ? `${NAMES[key]} = '${raw}' is not a whole number: kept ${used}.`
    : `${NAMES[key]} = ${raw} is out of range (${why}): using ${used}.`;
}

/**
 * Keeps the settings consistent: the shown batch row inside the batch, and proj_size only on an LSTM and below
 * hidden_size (PyTorch's own rule). Returns the notes for what it had to change.
 */
export function normalize(s: Settings): { settings: Settings; notes: string[] } {
  const notes: string[] = [];
  const out = { ...s, element: Math.min(s.element, s.batch - 1) };
  if (out.cell !== 'LSTM') out.projSize = 0;
  if (out.projSize >= out.hiddenSize) {
    notes.push(
      `proj_size must be smaller than hidden_size (PyTorch's rule), so P = ${out.projSize} with H = ${out.hiddenSize} is ${out.hiddenSize - 1}${out.hiddenSize === 1 ? ' (no projection)' : ''}.`,
    );
    out.projSize = out.hiddenSize - 1;
  }
  return { settings: out, notes };
}

/** The settings a hash asks for, and a note for each value the page could not use as written. */
export function fromHash(hash: string): { settings: Settings; notes: string[] } {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const out: Settings = { ...DEFAULTS };
  const notes: string[] = [];
  for (const key of Object.keys(HASH_KEYS) as (keyof Settings)[]) {
    const raw = params.get(HASH_KEYS[key]);
    if (raw === null) continue;
    if (key === 'bidirectional') out.bidirectional = raw === '1';
    else if (key === 'nonlinearity') out.nonlinearity = raw === 'relu' ? 'relu' : 'tanh';
    else if (key === 'cell') {
      const cell = CELLS[raw.toLowerCase()];
      if (cell) out.cell = cell;
      else notes.push(`cell = '${raw}' is not one of rnn, lstm, gru: showing nn.RNN.`);
    } else {
      const v = clampSetting(key, Number(raw));
      if (v !== undefined) out[key] = v;
      if (v === undefined || v !== Number(raw)) notes.push(rangeNote(key, raw, out[key]));
    }
  }
  const normal = normalize(out);
  return { settings: normal.settings, notes: [...notes, ...normal.notes] };
}

export function toHash(s: Settings): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(HASH_KEYS) as (keyof Settings)[]) {
    const v = s[key];
    if (v === DEFAULTS[key]) continue;
    params.set(
      HASH_KEYS[key],
      typeof v === 'boolean' ? (v ? '1' : '0') : key === 'cell' ? String(v).toLowerCase() : String(v),
    );
  }
  const text = params.toString();
  return text ? `#${text}` : '';
}
