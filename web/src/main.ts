/**
 * The explainer page: state, wiring and keyboard. Each change of settings, weights or input recomputes one
 * `Run` (model.ts, all library calls) and rebuilds the panels; each step only moves highlights.
 */
import './styles.css';
import { RnnError, type Tensor } from '../../src/index.js';
import { controlsView } from './controls.js';
import { byId, replace } from './dom.js';
import { formulaPanel } from './formula.js';
import { type GridView, gridView } from './grid.js';
import { type HeatmapView, heatmapView } from './heatmap.js';
import { followPointer, refreshHighlight } from './highlight.js';
import { mistakePanel } from './mistake.js';
import { compute, type Run } from './model.js';
import { productsPanel } from './products.js';
import { followReadout } from './readout.js';
import { clampSetting, fromHash, normalize, rangeNote, type Settings, toHash } from './settings.js';
import { splitPanel } from './split.js';
import { stepPanel, stepSummary } from './step.js';
import {
  choiceOf,
  inputToJson,
  type LoadedWeights,
  parseInput,
  readWeights,
  type WeightsChoice,
  weightsView,
} from './weights.js';

/** What the page draws in full; bigger networks belong to `stacked-rnn run`. */
const PAGE_LIMITS = { hiddenSize: 64, numLayers: 8, inputSize: 64, fileBytes: 64 * 1024 * 1024 };

type Message = { kind: 'info' | 'error'; text: string } | null;

const initial = fromHash(location.hash);
const state = {
  settings: initial.settings,
  /** What the page changed in what was asked for, said under the settings until the next change. */
  notes: initial.notes,
  weights: null as LoadedWeights | null,
  x: null as Tensor | null,
  step: 0,
  run: null as Run | null,
  weightsMessage: null as Message,
  inputMessage: null as Message,
  /** The last file read, kept while the page asks which of its state dicts or RNNs to use. */
  pending: null as { name: string; bytes: Uint8Array; choice: { key?: string; prefix?: string } } | null,
  choice: null as WeightsChoice | null,
};

let grid: GridView | null = null;
let heat: HeatmapView | null = null;

const controls = controlsView((patch, note) => change(patch, note));
replace(byId('controls'), controls.root);

const weights = weightsView({
  loadFile: (file) => void loadFile(file),
  choose: (option, value) => {
    const p = state.pending;
    if (p) useBytes(p.name, p.bytes, { ...p.choice, [option]: value });
  },
  resetWeights: () => {
    state.weights = null;
    state.weightsMessage = null;
    state.choice = null;
    state.pending = null;
    backWithinLimits();
    recompute();
  },
  useInput: (text) => {
    try {
      const x = parseInput(text);
      const want = state.run?.I ?? state.settings.inputSize;
      if (x.size(-1) !== want) {
        throw new RnnError(
          'shape_mismatch',
          `input.size(-1) must be equal to input_size. Expected ${want}, got ${x.size(-1)}`,
        );
      }
      state.x = x;
      state.inputMessage = null;
      recompute();
    } catch (e) {
      state.inputMessage = { kind: 'error', text: messageOf(e) };
      updateWeightsPanel();
    }
  },
  randomInput: () => {
    state.x = null;
    state.inputMessage = null;
    backWithinLimits();
    recompute();
  },
  currentInput: () => (state.run ? inputToJson(state.run.x) : ''),
});
replace(byId('weights'), weights.root);

function messageOf(e: unknown): string {
  // A hint written for the library's callers (`{ key: ... }`, `options.`) means nothing on the page.
  if (e instanceof RnnError)
    return e.hint && !/options\.|\{ \w+:/.test(e.hint) ? `${e.message} (${e.hint})` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Back to what the controls allow, after loaded weights or a typed-in input set sizes beyond them (a file may hold
 * H = 64; the controls go to 8): clamps, and notes each change. Sizes still fixed by loaded weights are left to
 * them, so nothing is noted about a value that stays in effect.
 */
function backWithinLimits(): void {
  const s = { ...state.settings };
  const notes: string[] = [];
  const keys = [
    'seqLen',
    'batch',
    ...(state.weights ? [] : (['inputSize', 'hiddenSize', 'projSize', 'numLayers'] as const)),
  ] as const;
  for (const key of keys) {
    const v = clampSetting(key, s[key]) ?? s[key];
    if (v !== s[key]) notes.push(rangeNote(key, String(s[key]), v));
    s[key] = v;
  }
  const normal = normalize(s);
  state.settings = normal.settings;
  state.notes = [...notes, ...normal.notes];
}

function change(patch: Partial<Settings>, note?: string): void {
  const { settings, notes } = normalize({ ...state.settings, ...patch });
  state.settings = settings;
  state.notes = note ? [note, ...notes] : notes;
  recompute();
}

function updateWeightsPanel(): void {
  weights.update({
    weights: state.weights,
    customInput: state.x !== null,
    weightsMessage: state.weightsMessage,
    choice: state.choice,
    inputMessage: state.inputMessage,
  });
}

async function loadFile(file: File): Promise<void> {
  if (file.size > PAGE_LIMITS.fileBytes) {
    state.weightsMessage = {
      kind: 'error',
      text: `${file.name} is ${file.size} bytes; the page takes files up to 64 MB`,
    };
    state.choice = null;
    updateWeightsPanel();
    return;
  }
  useBytes(file.name, new Uint8Array(await file.arrayBuffer()), {});
}

/** Reads weights from a file's bytes; `choice` picks a state dict or an RNN when the file holds several. */
function useBytes(name: string, bytes: Uint8Array, choice: { key?: string; prefix?: string }): void {
  state.pending = null;
  state.choice = null;
  try {
    const loaded = readWeights(name, bytes, choice);
    const { hiddenSize, numLayers, inputSize } = loaded.arch;
    if (hiddenSize > PAGE_LIMITS.hiddenSize || numLayers > PAGE_LIMITS.numLayers || inputSize > PAGE_LIMITS.inputSize) {
      throw new RnnError(
        'unsupported',
        `the page draws every number, so it takes hidden_size and input_size up to 64 and up to 8 layers; this file has input_size ${inputSize}, hidden_size ${hiddenSize}, ${numLayers} layers`,
        { hint: 'use `stacked-rnn run` for big networks' },
      );
    }
    state.weights = loaded;
    state.weightsMessage = null;
    state.notes = [];
    if (state.x && state.x.size(-1) !== inputSize) {
      state.inputMessage = {
        kind: 'info',
        text: `Your input has ${state.x.size(-1)} features but ${name} takes input_size ${inputSize}: using a random input.`,
      };
      state.x = null;
    }
    recompute();
  } catch (e) {
    const asked = choiceOf(e);
    if (asked) {
      // The file holds several state dicts (or RNNs): ask, with a button for each, instead of failing.
      state.pending = { name, bytes, choice };
      state.choice = asked;
      const what = asked.option === 'key' ? 'state dicts' : 'RNNs';
      state.weightsMessage = { kind: 'info', text: `${name} holds ${asked.candidates.length} ${what}: which one?` };
    } else {
      state.weightsMessage = { kind: 'error', text: `${name}: ${messageOf(e)}` };
    }
    updateWeightsPanel();
  }
}

function setStep(i: number): void {
  const run = state.run;
  if (!run) return;
  state.step = Math.max(0, Math.min(run.steps.length - 1, i));
  grid?.setStep(state.step);
  heat?.setStep(state.step);
  replace(byId('step'), stepPanel(run, state.step));
  byId('announce').textContent = stepSummary(run, state.step);
  const wasOpen = byId('products').querySelector('details')?.open ?? true;
  const products = productsPanel(run, state.step);
  products.open = wasOpen;
  replace(byId('products'), products);
  byId<HTMLButtonElement>('step-prev').disabled = state.step === 0;
  byId<HTMLButtonElement>('step-first').disabled = state.step === 0;
  byId<HTMLButtonElement>('step-next').disabled = state.step === run.steps.length - 1;
  byId<HTMLButtonElement>('step-last').disabled = state.step === run.steps.length - 1;
  if (state.step === run.steps.length - 1) stopPlaying();
  refreshHighlight(); // the step panels are new: mark the symbol being pointed at in them again
}

function showError(text: string | null): void {
  const box = byId('error');
  box.hidden = text === null;
  box.textContent = text ?? '';
}

function recompute(): void {
  let run: Run;
  try {
    run = compute(state.settings, {
      ...(state.weights ? { weights: { name: state.weights.name, tensors: state.weights.tensors } } : {}),
      ...(state.x ? { x: state.x } : {}),
    });
  } catch (e) {
    showError(`Could not run the network: ${messageOf(e)}`);
    return;
  }
  showError(null);
  state.run = run;
  state.settings = run.settings;
  const locked = state.weights !== null || state.x !== null;
  controls.update(run.settings, { architecture: state.weights !== null, input: state.x !== null }, state.notes);
  byId('split-cell').textContent = `${run.cell}s`;
  const formula = formulaPanel(run);
  replace(byId('formula'), formula.formulas);
  replace(byId('glossary'), ...formula.glossary);
  grid = gridView(run, setStep);
  replace(byId('grid'), grid.root);
  heat = heatmapView(run, (i, n) => {
    if (n === state.settings.element) {
      setStep(i);
    } else {
      state.step = i;
      change({ element: n });
    }
  });
  replace(byId('heatmaps'), heat.root);
  replace(byId('split'), splitPanel(run));
  replace(byId('mistake'), mistakePanel(run, locked, change));
  updateWeightsPanel();
  const summary = `${run.K} layer${run.K > 1 ? 's' : ''} \u00d7 ${run.L} step${run.L > 1 ? 's' : ''}${run.D === 2 ? ' \u00d7 2 directions' : ''}`;
  byId('grid-summary').textContent = summary;
  if (!locked) history.replaceState(null, '', toHash(run.settings) || location.pathname);
  setStep(state.step);
}

// Stepping: buttons, keys, and a play loop.
let timer: number | null = null;
function stopPlaying(): void {
  if (timer !== null) window.clearInterval(timer);
  timer = null;
  const play = byId('step-play');
  play.setAttribute('aria-pressed', 'false');
  play.textContent = 'Play';
}
function togglePlay(): void {
  if (timer !== null) {
    stopPlaying();
    return;
  }
  const run = state.run;
  if (!run) return;
  if (state.step === run.steps.length - 1) setStep(0);
  timer = window.setInterval(() => setStep(state.step + 1), 900);
  const play = byId('step-play');
  play.setAttribute('aria-pressed', 'true');
  play.textContent = 'Pause';
}

byId('step-first').addEventListener('click', () => setStep(0));
byId('step-prev').addEventListener('click', () => setStep(state.step - 1));
byId('step-next').addEventListener('click', () => setStep(state.step + 1));
byId('step-last').addEventListener('click', () => setStep(Number.MAX_SAFE_INTEGER));
byId('step-play').addEventListener('click', togglePlay);

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
  if ((e.target as Element | null)?.closest?.('input, textarea, select, [contenteditable="true"]')) return;
  const moves: Record<string, () => number> = {
    ArrowRight: () => state.step + 1,
    n: () => state.step + 1,
    ArrowLeft: () => state.step - 1,
    p: () => state.step - 1,
    Home: () => 0,
    End: () => Number.MAX_SAFE_INTEGER,
  };
  const move = moves[e.key];
  if (!move) return;
  e.preventDefault();
  stopPlaying();
  setStep(move());
});

// Formula symbols: pointing at one (hover or focus) highlights what it is on screen (highlight.ts); a vector
// drawn as colours shows its numbers when pointed at (readout.ts).
followPointer();
followReadout();

// A file dropped anywhere loads as weights (and never navigates away from the page).
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  const f = e.dataTransfer?.files[0];
  if (f) void loadFile(f);
});

window.addEventListener('hashchange', () => {
  if (state.weights || state.x) return;
  ({ settings: state.settings, notes: state.notes } = fromHash(location.hash));
  recompute();
});

recompute();
document.documentElement.dataset.ready = 'true';
