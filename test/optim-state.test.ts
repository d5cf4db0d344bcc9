/**
 * Optimizer state in torch.optim's layout: SGD, Adam and AdamW against torch 1.13
 * (test/fixtures/train/optim-state.json, written by scripts/torch_optim_state.py). Ours after two steps has
 * torch's state_dict(); torch's state after two steps, loaded into a fresh optimizer, continues torch's trajectory;
 * AdamW's steps are torch's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { PtTuple } from '../src/io/pt/write-object.js';
import { type DType, Tensor, tensor } from '../src/tensor.js';
import { Adam, AdamW, type Param, SGD } from '../src/train/optim.js';
import { type Flat, flatError } from './helpers/compare.js';

interface Case {
  optimizer: 'sgd' | 'adam' | 'adamw';
  options: Record<string, unknown>;
  dtype: DType;
  initial: Flat[];
  grads: (Flat | null)[][];
  trajectory: Flat[][];
  state: { state: Record<string, Record<string, Flat | number | null>>; param_groups: Record<string, unknown>[] };
}

const { cases } = JSON.parse(readFileSync(new URL('fixtures/train/optim-state.json', import.meta.url), 'utf8')) as {
  cases: Case[];
};

const toTensor = (f: Flat, dtype: DType) => tensor(Array.from(f.data), f.shape, dtype);

/** torch's keyword options as ours. */
function ourOptions(o: Record<string, unknown>): Record<string, unknown> {
  const names: Record<string, string> = { weight_decay: 'weightDecay' };
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [names[k] ?? k, v]));
}

function make(c: Case, params: Param[], options = ourOptions(c.options)): SGD | Adam | AdamW {
  if (c.optimizer === 'sgd') return new SGD(params, options as { lr: number });
  return c.optimizer === 'adam' ? new Adam(params, options) : new AdamW(params, options);
}

/** Parameters with settable gradients. */
function paramsOf(values: Tensor[]): { params: Param[]; setGrads: (g: (Flat | null)[]) => void } {
  const grads: (Tensor | null)[] = values.map(() => null);
  const params = values.map((value, i) => ({
    value,
    get grad() {
      return grads[i] ?? null;
    },
  }));
  return {
    params,
    setGrads: (g) => g.forEach((f, i) => (grads[i] = f === null ? null : toTensor(f, values[i]?.dtype ?? 'float64'))),
  };
}

const tolerance = (dtype: DType) => (dtype === 'float32' ? 1e-6 : 1e-12);
const title = (c: Case) => `${c.optimizer} ${JSON.stringify(c.options)} ${c.dtype}`;

/** A stateDict's value as the fixture writes it: tensors {shape, data}, 0-d tensors numbers, tuples lists. */
function plain(v: unknown): unknown {
  if (v instanceof Tensor) return v.ndim === 0 ? v.data[0] : { shape: [...v.shape], data: Array.from(v.data) };
  if (v instanceof PtTuple) return v.items.map(plain);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), plain(x)]));
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

function assertClose(got: unknown, want: unknown, tol: number, where: string): void {
  if (want !== null && typeof want === 'object' && 'data' in want) {
    const g = got as Flat;
    assert.deepEqual(g.shape, (want as Flat).shape, where);
    assert.ok(flatError(g.data, (want as Flat).data) <= tol, `${where}: ${flatError(g.data, (want as Flat).data)}`);
  } else if (want !== null && typeof want === 'object') {
    assert.deepEqual(Object.keys(got as object).sort(), Object.keys(want).sort(), where);
    for (const [k, w] of Object.entries(want))
      assertClose((got as Record<string, unknown>)[k], w, tol, `${where}.${k}`);
  } else assert.deepEqual(got, want, where);
}

describe('optimizer state dicts in torch.optim layout', () => {
  for (const c of cases) {
    test(`${title(c)}: two steps give torch's state_dict()`, () => {
      const { params, setGrads } = paramsOf(c.initial.map((f) => toTensor(f, c.dtype)));
      const opt = make(c, params);
      for (const g of c.grads.slice(0, 2)) {
        setGrads(g);
        opt.step();
      }
      assertClose(plain(opt.stateDict()), c.state, tolerance(c.dtype), 'state_dict');
    });

    test(`${title(c)}: torch's state after two steps resumes torch's next two steps`, () => {
      const values = (c.trajectory[1] as Flat[]).map((f) => toTensor(f, c.dtype));
      const { params, setGrads } = paramsOf(values);
      const opt = make(c, params, c.optimizer === 'sgd' ? { lr: 9 } : { lr: 9, weightDecay: 0.7 });
      // The fixture's state as readPtObject would give it: tensors, step numbers, betas a list.
      const state = Object.fromEntries(
        Object.entries(c.state.state).map(([k, entry]) => [
          k,
          Object.fromEntries(
            Object.entries(entry).map(([name, v]) => [
              name,
              v !== null && typeof v === 'object' ? toTensor(v, c.dtype) : v,
            ]),
          ),
        ]),
      );
      opt.loadStateDict({ state, param_groups: c.state.param_groups });
      for (let s = 2; s < 4; s++) {
        setGrads(c.grads[s] as (Flat | null)[]);
        opt.step();
        (c.trajectory[s] as Flat[]).forEach((want, i) => {
          const e = flatError(values[i]?.data as ArrayLike<number>, want.data);
          assert.ok(e <= tolerance(c.dtype), `step ${s + 1} param ${i}: ${e}`);
        });
      }
    });
  }

  test("AdamW's default weight decay is torch's 1e-2", () => {
    const p = tensor([1, 2]);
    assert.equal(new AdamW([{ value: p, grad: p }]).weightDecay, 0.01);
  });

  test('a state dict for another number of parameters is refused in torch words', () => {
    const p = tensor([1, 2]);
    const opt = new Adam([{ value: p, grad: p }]);
    assert.throws(
      () => opt.loadStateDict({ state: {}, param_groups: [{ params: [0, 1] }] }),
      (e: unknown) => e instanceof RnnError && /doesn't match the size of optimizer's group/.test(e.message),
    );
  });

  test('a state tensor of the wrong size is refused, naming it', () => {
    const p = tensor([1, 2]);
    const opt = new Adam([{ value: p, grad: p }]);
    const bad = { step: 1, exp_avg: tensor([1, 2, 3]), exp_avg_sq: tensor([1, 2]) };
    assert.throws(
      () => opt.loadStateDict({ state: { 0: bad }, param_groups: [{ params: [0] }] }),
      /state\[0\]\['exp_avg'\] has 3 elements, the parameter 2/,
    );
  });

  test('something that is not an optimizer state dict is refused', () => {
    const p = tensor([1, 2]);
    assert.throws(() => new SGD([{ value: p, grad: p }], { lr: 1 }).loadStateDict({ model: {} }), /'param_groups'/);
  });
});
