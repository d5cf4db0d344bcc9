/**
 * Ten steps of Adam, AdamW and SGD against torch.optim 1.13 live (/usr/bin/python3), through whatever path the
 * library takes by default: float32 parameters in the kernel (test/optim-kernel.test.ts checks that path against
 * the JavaScript steps bit for bit), float64 ones in JavaScript. Each step's parameters are compared: float32
 * within float32 rounding of the parameters' scale, float64 within 1e-12. The float32 parameters total more
 * than 64K elements, so the native kernel's threads take them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Generator } from '../src/random.js';
import { type DType, type Tensor, tensor } from '../src/tensor.js';
import { Adam, AdamW, type Param, SGD } from '../src/train/optim.js';
import { FLOAT64_TOLERANCE, flatError } from './helpers/compare.js';
import { assertTorch, PYTHON, torchSkip } from './helpers/torch.js';

const STEPS = 10;
const SIZES: Record<DType, number[]> = { float32: [3, 257, 65600], float64: [3, 257, 4100] };
/**
 * float32: PyTorch's vectorized kernels fuse some multiply-adds where its scalar tails do not, and the two
 * trajectories differ by a rounding here and there; 2 float32 ulps of the scale (measured: at most 1.2e-7, one
 * ulp, for Adam and AdamW; SGD's are torch's exactly; float64 at most 3.3e-16).
 */
const TOLERANCE: Record<DType, number> = { float32: 2 * 2 ** -23, float64: FLOAT64_TOLERANCE };

interface Case {
  optimizer: 'adam' | 'adamw' | 'sgd';
  /** torch's keyword arguments */
  options: Record<string, number | boolean | number[]>;
}

const CASES: Case[] = [
  { optimizer: 'adam', options: { lr: 1e-2 } },
  { optimizer: 'adam', options: { lr: 3e-3, weight_decay: 0.1, amsgrad: true, maximize: true } },
  { optimizer: 'adamw', options: { lr: 1e-2, weight_decay: 0.05, betas: [0.8, 0.99], eps: 1e-6 } },
  { optimizer: 'sgd', options: { lr: 0.1, weight_decay: 0.01 } },
  { optimizer: 'sgd', options: { lr: 0.05, momentum: 0.9, dampening: 0.3, maximize: true } },
  { optimizer: 'sgd', options: { lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 1e-3 } },
];

// Reads each case's initial parameters and gradients (float64 bytes, float32 values), steps torch's optimizer on
// them in the case's dtype (the gradient of parameter 1 is None at step 4) and writes every step's parameters.
const SCRIPT = `
import json, sys, torch
d = sys.argv[1]
spec = json.load(open(d + '/spec.json'))
for k, c in enumerate(spec['cases']):
    dtype = getattr(torch, c['dtype'])
    sizes = c['sizes']
    total = sum(sizes)
    data = torch.from_file(d + '/in%d.bin' % k, size=total * (spec['steps'] + 1), dtype=torch.float64)
    chunks = lambda flat: list(flat.to(dtype).split(sizes))
    params = [torch.nn.Parameter(p.clone()) for p in chunks(data[:total])]
    cls = {'adam': torch.optim.Adam, 'adamw': torch.optim.AdamW, 'sgd': torch.optim.SGD}[c['optimizer']]
    opt = cls(params, **c['options'])
    out = []
    for s in range(spec['steps']):
        grads = chunks(data[total * (s + 1):total * (s + 2)])
        for i, (p, g) in enumerate(zip(params, grads)):
            p.grad = None if (s == 3 and i == 1) else g.clone()
        opt.step()
        out.append(torch.cat([p.detach().reshape(-1) for p in params]).to(torch.float64))
    torch.cat(out).numpy().tofile(d + '/out%d.bin' % k)
`;

const ourOptions = (o: Case['options']) =>
  Object.fromEntries(Object.entries(o).map(([k, v]) => [k === 'weight_decay' ? 'weightDecay' : k, v]));

function make(c: Case, params: Param[]) {
  const o = ourOptions(c.options);
  if (c.optimizer === 'sgd') return new SGD(params, o as { lr: number });
  return c.optimizer === 'adam' ? new Adam(params, o) : new AdamW(params, o);
}

describe('ten optimizer steps are torch.optim 1.13 steps', { skip: torchSkip() }, () => {
  const runs = (['float32', 'float64'] as const).flatMap((dtype) => CASES.map((c) => ({ ...c, dtype })));
  const dir = mkdtempSync(join(tmpdir(), 'optim-torch-'));
  const inputs = runs.map((c, k) => {
    const total = SIZES[c.dtype].reduce((a, b) => a + b, 0);
    const g = new Generator(50 + k);
    const all = new Float32Array(total * (STEPS + 1));
    g.uniform(all, -1, 1);
    writeFileSync(join(dir, `in${k}.bin`), new Float64Array(all));
    return all;
  });
  let torchOut: Float64Array[] = [];

  test('torch steps the same parameters and gradients', () => {
    assertTorch();
    const spec = { steps: STEPS, cases: runs.map((c) => ({ ...c, sizes: SIZES[c.dtype] })) };
    writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec));
    const r = spawnSync(PYTHON, ['-c', SCRIPT, dir], { encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    torchOut = runs.map((_, k) => new Float64Array(readFileSync(join(dir, `out${k}.bin`)).buffer.slice(0)));
    rmSync(dir, { recursive: true, force: true });
  });

  runs.forEach((c, k) => {
    test(`${c.optimizer} ${JSON.stringify(c.options)} ${c.dtype}: every step's parameters`, () => {
      assert.ok(torchOut[k], 'torch ran');
      const sizes = SIZES[c.dtype];
      const total = sizes.reduce((a, b) => a + b, 0);
      const data = inputs[k] as Float32Array;
      const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
      const chunk = (s: number, i: number) => {
        const at = s * total + (offsets[i] as number);
        return tensor(data.subarray(at, at + (sizes[i] as number)), [sizes[i] as number], c.dtype);
      };
      const values = sizes.map((_, i) => chunk(0, i));
      const grads: (Tensor | null)[] = sizes.map(() => null);
      const params: Param[] = values.map((value, i) => ({
        value,
        get grad() {
          return grads[i] ?? null;
        },
      }));
      const opt = make(c, params);
      for (let s = 0; s < STEPS; s++) {
        sizes.forEach((_, i) => {
          grads[i] = s === 3 && i === 1 ? null : chunk(s + 1, i);
        });
        opt.step();
        values.forEach((v, i) => {
          const at = s * total + (offsets[i] as number);
          const want = (torchOut[k] as Float64Array).subarray(at, at + (sizes[i] as number));
          const e = flatError(v.data, want);
          assert.ok(e <= TOLERANCE[c.dtype], `step ${s + 1}, params[${i}]: ${e}`);
        });
      }
    });
  });
});
