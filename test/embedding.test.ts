/**
 * Embedding against nn.Embedding: test/fixtures/embedding/init.json and lookup.json, written by
 * scripts/make_embedding_fixtures.py. The initialisation, the lookup and the gradient are each compared bit for
 * bit: none of them rounds differently from PyTorch (the gradient sums the same rows in the same order).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { RnnError } from '../src/errors.js';
import { IntTensor } from '../src/int-tensor.js';
import { Embedding, type EmbeddingOptions } from '../src/nn/embedding.js';
import { Generator } from '../src/random.js';
import { type DType, type NestedArray, type Tensor, tensor } from '../src/tensor.js';
import type { Flat } from './helpers/compare.js';

interface InitCase {
  seed: number;
  numEmbeddings: number;
  embeddingDim: number;
  paddingIdx: number | null;
  normalizedPaddingIdx: number | null;
  dtype: DType;
  weight: Flat;
}

interface LookupCase {
  numEmbeddings: number;
  embeddingDim: number;
  paddingIdx: number | null;
  dtype: DType;
  weight: Flat;
  ids: NestedArray;
  output: Flat;
  gradOutput: Flat;
  gradWeight: Flat;
  // two backward passes: the gradient after the first, and the second pass's ids and gradient
  gradWeightFirst?: Flat;
  ids2?: NestedArray;
  gradOutput2?: Flat;
}

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./fixtures/embedding/${name}`, import.meta.url), 'utf8')) as unknown;
const init = fixture('init.json') as {
  cases: InitCase[];
  sequences: { seed: number; tables: Omit<InitCase, 'seed' | 'normalizedPaddingIdx'>[] }[];
};
const lookups = (fixture('lookup.json') as { cases: LookupCase[] }).cases;

const toTensor = (f: Flat, dtype: DType) => tensor(Array.from(f.data), f.shape, dtype);

/** Bit for bit: same shape, and every element the same number (compared as the dtype holds it). */
function assertExact(got: Tensor, want: Flat, what: string): void {
  assert.deepEqual([...got.shape], [...want.shape], `${what}: shape`);
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) {
    worst = Math.max(worst, Math.abs((got.data[i] as number) - (want.data[i] as number)));
  }
  assert.equal(worst, 0, `${what}: max difference ${worst}`);
  assert.deepEqual(Array.from(got.data), Array.from(want.data), what);
}

function options(c: Omit<InitCase, 'seed' | 'normalizedPaddingIdx' | 'weight'>): EmbeddingOptions {
  return { numEmbeddings: c.numEmbeddings, embeddingDim: c.embeddingDim, paddingIdx: c.paddingIdx, dtype: c.dtype };
}

function loaded(c: LookupCase): Embedding {
  const emb = new Embedding({ ...options(c), seed: 0 });
  emb.loadStateDict({ weight: toTensor(c.weight, c.dtype) });
  return emb;
}

/** The ids as an int64 IntTensor. */
function int64(ids: NestedArray): IntTensor {
  const t = tensor(ids, undefined, 'float64');
  return new IntTensor(
    BigInt64Array.from(t.data, (v) => BigInt(v)),
    t.shape,
  );
}

const describeTable = (c: Omit<InitCase, 'seed' | 'normalizedPaddingIdx' | 'weight'>) =>
  `Embedding(${c.numEmbeddings}, ${c.embeddingDim}${c.paddingIdx === null ? '' : `, padding_idx=${c.paddingIdx}`}, ${c.dtype})`;

describe('Embedding initialisation', () => {
  for (const c of init.cases) {
    test(`${describeTable(c)} with seed ${c.seed} has the weight of nn.Embedding after torch.manual_seed, bit for bit`, () => {
      const emb = new Embedding({ ...options(c), seed: c.seed });
      assertExact(emb.parameter('weight'), c.weight, 'weight');
      assert.equal(emb.paddingIdx, c.normalizedPaddingIdx);
    });
  }

  for (const s of init.sequences) {
    test(`tables made one after another from one Generator(${s.seed}) match nn.Embedding after one manual_seed`, () => {
      const g = new Generator(s.seed);
      for (const [i, c] of s.tables.entries()) {
        assertExact(new Embedding({ ...options(c), seed: g }).parameter('weight'), c.weight, `table ${i}`);
      }
    });
  }

  test('has the one parameter weight (V, E)', () => {
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 0 });
    assert.deepEqual(
      emb.namedParameters().map(([n, p]) => [n, [...p.shape]]),
      [['weight', [5, 3]]],
    );
  });
});

describe('Embedding forward and backward', () => {
  for (const c of lookups) {
    const shape = tensor(c.ids, undefined, 'float64').shape;
    const what = `${describeTable(c)} on ids of shape [${shape.join(', ')}]`;
    const twice = c.ids2 !== undefined;

    test(`${what} looks up the rows nn.Embedding looks up`, () => {
      assertExact(loaded(c).forward(c.ids), c.output, 'output');
    });

    test(`${what} has the weight gradient of nn.Embedding${twice ? ' over two backward passes' : ''}, bit for bit`, () => {
      const emb = loaded(c);
      emb.forward(c.ids, { requiresGrad: true });
      emb.backward(toTensor(c.gradOutput, c.dtype));
      if (c.ids2 !== undefined && c.gradOutput2 && c.gradWeightFirst) {
        assertExact(emb.grad('weight'), c.gradWeightFirst, 'grad weight after the first backward');
        emb.forward(c.ids2, { requiresGrad: true });
        emb.backward(toTensor(c.gradOutput2, c.dtype));
      }
      assertExact(emb.grad('weight'), c.gradWeight, 'grad weight');
    });
  }

  test('takes an int64 or int32 IntTensor as it takes nested arrays', () => {
    const c = lookups[1] as LookupCase;
    const emb = loaded(c);
    const ids = int64(c.ids);
    assertExact(emb.forward(ids), c.output, 'int64 ids');
    assertExact(emb.forward(new IntTensor(Int32Array.from(ids.data, Number), ids.shape)), c.output, 'int32 ids');
  });

  test('leaves the padding row with a zero gradient, however often the padding id occurs', () => {
    const c = lookups[1] as LookupCase;
    const emb = loaded(c);
    emb.forward(c.ids, { requiresGrad: true });
    emb.backward(toTensor(c.gradOutput, c.dtype));
    const E = c.embeddingDim;
    const row = emb.grad('weight').data.subarray(0, E);
    assert.ok(
      row.every((v) => v === 0),
      `padding row gradient ${row}`,
    );
  });

  test('looks up the padding row as it is, not as zeros (PyTorch only keeps its gradient at zero)', () => {
    const emb = new Embedding({ numEmbeddings: 3, embeddingDim: 2, paddingIdx: 1, seed: 0 });
    emb.loadStateDict({ weight: tensor([0, 1, 2, 3, 4, 5], [3, 2]) });
    assert.deepEqual(Array.from(emb.forward([1]).data), [2, 3]);
  });

  test('accumulates into grad(weight) over backward passes until zeroGrad', () => {
    const c = lookups[0] as LookupCase;
    const emb = loaded(c);
    for (let i = 0; i < 2; i++) {
      emb.forward(c.ids, { requiresGrad: true });
      emb.backward(toTensor(c.gradOutput, c.dtype));
    }
    const doubled = { shape: c.gradWeight.shape, data: Array.from(c.gradWeight.data, (v) => 2 * v) };
    assertExact(emb.grad('weight'), doubled, 'grad weight after two passes');
    emb.zeroGrad();
    assert.ok(emb.grad('weight').data.every((v) => v === 0));
  });

  test('gives an empty output for empty ids', () => {
    const emb = new Embedding({ numEmbeddings: 3, embeddingDim: 2, seed: 0 });
    assert.deepEqual([...emb.forward([]).shape], [0, 2]);
    assert.deepEqual([...emb.forward([[], []]).shape], [2, 0, 2]);
  });

  test('makes float64 tables and outputs with dtype float64', () => {
    const emb = new Embedding({ numEmbeddings: 3, embeddingDim: 2, dtype: 'float64', seed: 0 });
    assert.equal(emb.parameter('weight').dtype, 'float64');
    assert.equal(emb.forward([0, 2]).dtype, 'float64');
  });
});

/** The RnnError `fn` throws, failing when it throws nothing or something else. */
function thrown(fn: () => unknown): RnnError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof RnnError, `expected an RnnError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an RnnError, nothing was thrown');
}

describe('Embedding refuses', () => {
  const emb = () => new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 0 });

  test("a padding_idx outside -V..V-1, in PyTorch's words", () => {
    for (const paddingIdx of [5, 6, -6]) {
      const e = thrown(() => new Embedding({ numEmbeddings: 5, embeddingDim: 3, paddingIdx }));
      assert.equal(e.message, 'Padding_idx must be within num_embeddings');
      assert.equal(e.got, paddingIdx);
    }
  });

  test('a negative padding_idx counted from the end, as PyTorch normalises it', () => {
    assert.equal(new Embedding({ numEmbeddings: 5, embeddingDim: 3, paddingIdx: -1, seed: 0 }).paddingIdx, 4);
    assert.equal(new Embedding({ numEmbeddings: 5, embeddingDim: 3, paddingIdx: -5, seed: 0 }).paddingIdx, 0);
  });

  test('sizes that are not integers or are negative', () => {
    assert.match(
      thrown(() => new Embedding({ numEmbeddings: 2.5, embeddingDim: 3 })).message,
      /num_embeddings should be of type int/,
    );
    assert.match(thrown(() => new Embedding({ numEmbeddings: 5, embeddingDim: -1 })).message, /negative dimension -1/);
    assert.match(
      thrown(() => new Embedding({ numEmbeddings: 5, embeddingDim: 3, paddingIdx: 0.5 })).message,
      /padding_idx should be of type int/,
    );
  });

  test("an id past the table, in PyTorch's words, naming the id, where it is and the valid range", () => {
    const e = thrown(() =>
      emb().forward([
        [0, 1],
        [5, 2],
      ]),
    );
    assert.match(e.message, /^index out of range in self: id 5 at ids\[1\]\[0\]/);
    assert.equal(e.expected, '0 <= id < 5');
    assert.equal(e.got, 5);
  });

  test('a negative id, which PyTorch does not count from the end', () => {
    assert.match(thrown(() => emb().forward([-1])).message, /^index out of range in self: id -1 at ids\[0\]/);
    assert.match(
      thrown(() => emb().forward(new IntTensor(BigInt64Array.of(2n, -(2n ** 63n)), [2]))).message,
      /id -9223372036854775808 at ids\[1\]/,
    );
  });

  test('an out-of-range id in an int64 IntTensor, exactly, past 2^53', () => {
    const e = thrown(() => emb().forward(new IntTensor(BigInt64Array.of(2n ** 60n + 1n), [1])));
    assert.equal(e.got, '1152921504606846977');
  });

  test("a non-integer id, in PyTorch's words for a float index tensor", () => {
    const e = thrown(() => emb().forward([0, 1.5]));
    assert.match(
      e.message,
      /^Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got the non-integer 1.5 at ids\[1\]/,
    );
  });

  test('a float Tensor of ids, as PyTorch refuses a FloatTensor', () => {
    const e = thrown(() => emb().forward(tensor([0, 1]) as never));
    assert.match(e.message, /but got torch.FloatTensor instead \(while checking arguments for embedding\)/);
  });

  test('a gradient of the wrong shape, and a backward without a recorded forward', () => {
    const e = emb();
    e.forward([1, 2]);
    assert.match(thrown(() => e.backward(tensor(new Array(6).fill(1), [2, 3]))).message, /requiresGrad: true/);
    e.forward([1, 2], { requiresGrad: true });
    assert.match(thrown(() => e.backward(tensor([1, 1, 1]))).message, /expected \[2, 3\], got \[3\]/);
  });

  test('max_norm, scale_grad_by_freq and sparse, which it does not implement', () => {
    for (const [key, value, name] of [
      ['maxNorm', 1, 'max_norm'],
      ['scaleGradByFreq', true, 'scale_grad_by_freq'],
      ['sparse', true, 'sparse'],
      ['normType', 1, 'norm_type'],
    ] as const) {
      const e = thrown(() => new Embedding({ numEmbeddings: 5, embeddingDim: 3, [key]: value } as never));
      assert.equal(e.code, 'unsupported');
      assert.match(e.message, new RegExp(`${name} is not supported`));
    }
    // the defaults are accepted
    new Embedding({
      numEmbeddings: 5,
      embeddingDim: 3,
      maxNorm: null,
      normType: 2,
      scaleGradByFreq: false,
      sparse: false,
    });
  });
});
