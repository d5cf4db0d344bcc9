/**
 * What the learner controls, its bounds, and its round trip through the URL hash (so a view can be shared).
 *
 * Letters as in the library: L sequence, N batch, I input, H hidden, D directions, K layers.
 */
import type { Nonlinearity } from '../../src/index.js';

export interface Settings {
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
  /** K */
  numLayers: number;
  bidirectional: boolean;
  nonlinearity: Nonlinearity;
  seed: number;
}

type NumericKey = 'seqLen' | 'batch' | 'element' | 'inputSize' | 'hiddenSize' | 'numLayers' | 'seed';

/** Inclusive bounds. Small on purpose: every number is on screen. */
export const LIMITS: Record<NumericKey, readonly [number, number]> = {
  seqLen: [1, 12],
  batch: [1, 4],
  element: [0, 3],
  inputSize: [1, 8],
  hiddenSize: [1, 8],
  numLayers: [1, 6],
  seed: [0, 2 ** 32 - 1],
};

export const DEFAULTS: Readonly<Settings> = {
  seqLen: 4,
  batch: 2,
  element: 0,
  inputSize: 2,
  hiddenSize: 3,
  numLayers: 3,
  bidirectional: false,
  nonlinearity: 'tanh',
  seed: 0,
};

const HASH_KEYS: Record<keyof Settings, string> = {
  seqLen: 'L',
  batch: 'N',
  element: 'n',
  inputSize: 'I',
  hiddenSize: 'H',
  numLayers: 'K',
  bidirectional: 'bi',
  nonlinearity: 'f',
  seed: 'seed',
};

/** `value` as an integer within the key's bounds, or undefined when it is not an integer at all. */
export function clampSetting(key: NumericKey, value: number): number | undefined {
  if (!Number.isFinite(value) || !Number.isInteger(value)) return undefined;
  const [lo, hi] = LIMITS[key];
  return Math.min(hi, Math.max(lo, value));
}

/** Keeps the shown batch row inside the batch. */
export function normalize(s: Settings): Settings {
  return { ...s, element: Math.min(s.element, s.batch - 1) };
}

export function fromHash(hash: string): Settings {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const out: Settings = { ...DEFAULTS };
  for (const key of Object.keys(HASH_KEYS) as (keyof Settings)[]) {
    const raw = params.get(HASH_KEYS[key]);
    if (raw === null) continue;
    if (key === 'bidirectional') out.bidirectional = raw === '1';
    else if (key === 'nonlinearity') out.nonlinearity = raw === 'relu' ? 'relu' : 'tanh';
    else {
      const v = clampSetting(key, Number(raw));
      if (v !== undefined) out[key] = v;
    }
  }
  return normalize(out);
}

export function toHash(s: Settings): string {
  const params = new URLSearchParams();
  for (const key of Object.keys(HASH_KEYS) as (keyof Settings)[]) {
    const v = s[key];
    if (v === DEFAULTS[key]) continue;
    params.set(HASH_KEYS[key], typeof v === 'boolean' ? (v ? '1' : '0') : String(v));
  }
  const text = params.toString();
  return text ? `#${text}` : '';
}
