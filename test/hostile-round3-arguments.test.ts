/**
 * Issue 25, past its list: every exported function and class, and every public method of the modules, checks
 * its arguments. Called with null, undefined, {} and other wrong values, each either works or throws an RnnError,
 * never a TypeError or RangeError from inside.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as library from '../src/index.js';

const { RnnError } = library;

/** Abstract bases, constructed only through their subclasses. */
const ABSTRACT = new Set(['RNNBase', 'HiddenStateModule']);
/** Methods TypeScript keeps protected or private (not part of the API). */
const INTERNAL = new Set(['constructor', 'directionArrays', 'splitLayers', 'initParameters', 'plainStep']);

const WRONG: unknown[][] = [[null], [undefined], [{}], [null, null], [[], null], [5, 'x']];

/** "name(args): TypeError: ..." for each call that threw something other than an RnnError. */
function strays(name: string, call: (args: unknown[]) => unknown, argsList: unknown[][] = WRONG): string[] {
  const out: string[] = [];
  for (const args of argsList) {
    try {
      call(args);
    } catch (err) {
      if (!(err instanceof RnnError)) {
        const shown = args.map((a) => (a instanceof library.Tensor ? 'Tensor' : (JSON.stringify(a) ?? 'undefined')));
        out.push(`${name}(${shown.join(', ')}): ${(err as Error)?.constructor?.name}: ${(err as Error)?.message}`);
      }
    }
  }
  return out;
}

describe('wrong arguments to the exports', () => {
  test('every exported function and class throws an RnnError, not a TypeError', () => {
    const found: string[] = [];
    for (const [name, value] of Object.entries(library)) {
      if (typeof value !== 'function' || ABSTRACT.has(name)) continue;
      const isClass = /^class\s/.test(Function.prototype.toString.call(value));
      const f = value as (...a: unknown[]) => unknown;
      found.push(
        ...strays(name, (args) =>
          isClass ? new (f as unknown as new (...a: unknown[]) => unknown)(...args) : f(...args),
        ),
      );
    }
    assert.deepEqual(found, []);
  });

  test('every public method of the modules, the trainer and a tensor does too', () => {
    const { RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell, Linear, Embedding, Trainer, Adam, SGD, randn } = library;
    const t = randn([2, 3], { generator: 1 });
    const rnn = new RNN({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const objects: Record<string, object> = {
      rnn,
      lstm: new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      gru: new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      rnnCell: new RNNCell({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      lstmCell: new LSTMCell({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      gruCell: new GRUCell({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      linear: new Linear({ inFeatures: 2, outFeatures: 3, seed: 1 }),
      embedding: new Embedding({ numEmbeddings: 4, embeddingDim: 2, seed: 1 }),
      trainer: new Trainer({ ...library.defaultConfig('sine'), steps: 1, hidden: 4, batch: 2, seqLen: 12 }),
      adam: new Adam(library.parametersOf(rnn), { lr: 0.1 }),
      sgd: new SGD(library.parametersOf(rnn), { lr: 0.1 }),
      tensor: t,
    };
    const found: string[] = [];
    for (const [name, o] of Object.entries(objects)) {
      const methods = new Set<string>();
      for (let p = Object.getPrototypeOf(o); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
        for (const m of Object.getOwnPropertyNames(p)) {
          const d = Object.getOwnPropertyDescriptor(p, m);
          if (d && typeof d.value === 'function' && !INTERNAL.has(m)) methods.add(m);
        }
      }
      for (const m of methods) {
        const f = (o as Record<string, (...a: unknown[]) => unknown>)[m] as (...a: unknown[]) => unknown;
        found.push(...strays(`${name}.${m}`, (args) => f.apply(o, args), [...WRONG, [t, null], [t, 5]]));
      }
    }
    assert.deepEqual(found, []);
  });
});
