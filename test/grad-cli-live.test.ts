/**
 * `stacked-rnn run` with grad_output / grad_h_n (and the LSTM's c0 / grad_c_n) against live PyTorch autograd:
 * fresh random RNNs, LSTMs (with and without proj_size) and GRUs each run (the seed is printed; STACKED_RNN_SEED
 * replays), through the built CLI, every option the CLI takes.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { Generator, readSafetensors, type Tensor, toFloat } from '../src/index.js';
import { type GatedModuleCase, type GatedTorchResult, randomGatedCase } from './helpers/cells.js';
import { cli, saveSafetensors, scratchDir } from './helpers/cli.js';
import type { Flat } from './helpers/compare.js';
import {
  asTensor,
  describeGradCase,
  type Grads,
  judgeGrads,
  type RnnCase,
  randomRnnCase,
  torchGrads,
} from './helpers/grad.js';
import { torchSkip } from './helpers/torch.js';

const seed = process.env.STACKED_RNN_SEED ? Number(process.env.STACKED_RNN_SEED) : Math.floor(Math.random() * 2 ** 31);
const g = new Generator(seed);
const fixed = { masks: false, dropout: 0 } as const;
const cases: (RnnCase | GatedModuleCase)[] = [
  ...Array.from({ length: 6 }, (_, i) => randomRnnCase(g, { dtype: i % 2 ? 'float32' : 'float64', fixed })),
  ...Array.from({ length: 4 }, (_, i) =>
    randomGatedCase(g, { cell: 'LSTM', dtype: i % 2 ? 'float32' : 'float64', fixed: { ...fixed, proj: i < 2 } }),
  ),
  ...Array.from({ length: 2 }, (_, i) =>
    randomGatedCase(g, { cell: 'GRU', dtype: i % 2 ? 'float32' : 'float64', fixed }),
  ),
];
const gated = (c: RnnCase | GatedModuleCase): c is GatedModuleCase => 'cell' in c.config;
const describe_ = (c: RnnCase | GatedModuleCase): string =>
  gated(c)
    ? `a ${c.config.numLayers}-layer ${c.config.cell}${c.config.projSize ? ` (proj_size ${c.config.projSize})` : ''}${c.lengths ? ' with lengths' : ''}`
    : describeGradCase(c);
const skip = torchSkip();
const tmp = scratchDir('grad-cli');
after(tmp.cleanup);

const flatOf = (t: Tensor): Flat => ({ shape: [...t.shape], data: Array.from(t.data) });

describe(`run --grad-output against live PyTorch autograd (seed ${seed})`, { skip }, () => {
  const reference = skip ? [] : torchGrads<RnnCase | GatedModuleCase, GatedTorchResult>(cases);
  cases.forEach((c, i) => {
    const dtype = c.config.dtype;
    test(`writes the gradients of ${describe_(c)} (${dtype}, case ${i})`, () => {
      const weights = saveSafetensors(
        tmp.path(`w${i}.safetensors`),
        Object.fromEntries(Object.entries(c.stateDict).map(([k, f]) => [k, asTensor(f, dtype)])),
      );
      const json = i % 4 === 1;
      const input = tmp.path(json ? `x${i}.json` : `x${i}.safetensors`);
      const tensors: Record<string, Tensor> = {
        input: asTensor(c.input, dtype),
        grad_output: asTensor(c.gradOutput, dtype),
      };
      if (c.h0) tensors.h0 = asTensor(c.h0, dtype);
      if (c.gradHN) tensors.grad_h_n = asTensor(c.gradHN, dtype);
      if (gated(c) && c.c0) tensors.c0 = asTensor(c.c0, dtype);
      if (gated(c) && c.gradCN) tensors.grad_c_n = asTensor(c.gradCN, dtype);
      if (json) {
        const nested = Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, t.tolist()]));
        writeFileSync(input, JSON.stringify(c.lengths ? { ...nested, lengths: c.lengths } : nested));
      } else {
        saveSafetensors(
          input,
          c.lengths ? { ...tensors, lengths: { dtype: 'I32', shape: [c.lengths.length], data: c.lengths } } : tensors,
        );
      }
      const out = tmp.path(`y${i}.safetensors`);
      const flags = [
        ...(gated(c) ? ['--cell', c.config.cell.toLowerCase()] : ['--nonlinearity', c.config.nonlinearity]),
        '--dtype',
        dtype,
        ...(c.config.batchFirst ? ['--batch-first'] : []),
      ];
      const r = cli('run', '--weights', weights, '--input', input, '--out', out, ...flags);
      assert.equal(r.status, 0, r.stderr);
      const written = readSafetensors(new Uint8Array(readFileSync(out))).tensors;
      const grads: Grads = { h0: null, ...(gated(c) && c.config.cell === 'LSTM' ? { c0: null } : {}) };
      for (const [name, raw] of written) {
        if (name.startsWith('grad.')) grads[name.slice(5)] = flatOf(toFloat(raw));
      }
      const verdict = judgeGrads(dtype, grads, reference[i] as (typeof reference)[number]);
      assert.ok(verdict.ok, verdict.message);
    });
  });
});
