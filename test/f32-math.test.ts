/**
 * core.h's float32 exp, sigmoid and tanh (the GRU's r and z gates, issue 26), through native/test/f32math.cc built
 * with the C++ compiler at hand: within 2 ulp of float64 libm rounded to float32 (exp and tanh within 1) on every
 * 97th float32 bit pattern (44 million inputs: the harness runs all 2^32 when given stride 1), and the same bits at
 * 4 lanes (SSE, the width of WebAssembly and NEON) as at 8 (AVX2 + FMA, with -ffp-contract=fast: the products kept
 * unfused). Skips where no compiler runs (the library itself never needs one).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../native/test/f32math.cc', import.meta.url));
const CXX = process.env.CXX || 'c++';
const dir = mkdtempSync(join(tmpdir(), 'stacked-rnn-f32math-'));
const base = ['-O2', '-std=gnu++17', '-Wno-psabi', '-ffp-contract=fast', SOURCE, '-o'];
const builds = {
  'AVX2, 8 lanes': ['-mavx2', '-mfma'],
  'SSE, 4 lanes': ['-DRNN_VBYTES=16'],
} as const;

function compile(name: string, flags: readonly string[]): string | null {
  const out = join(dir, name.replace(/\W+/g, '-'));
  const r = spawnSync(CXX, [...flags, ...base, out], { encoding: 'utf8' });
  return r.status === 0 ? out : null;
}

const x64 = process.arch === 'x64';
const skip = !x64
  ? 'an x64 check (AVX2 and SSE builds)'
  : !compile('probe', builds['SSE, 4 lanes'])
    ? `no ${CXX}`
    : false;

interface Line {
  worst: number;
  hash: string;
}

function run(binary: string): Record<string, Line> {
  const r = spawnSync(binary, ['97'], { encoding: 'utf8', timeout: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines: Record<string, Line> = {};
  for (const line of r.stdout.trim().split('\n')) {
    const m = /^(\S+)\s.*worst (\d+) ulp.*hash ([0-9a-f]+)$/.exec(line);
    assert.ok(m, line);
    lines[m[1] as string] = { worst: Number(m[2]), hash: m[3] as string };
  }
  return lines;
}

describe("core.h's float32 exp, sigmoid and tanh", { skip }, () => {
  after(() => rmSync(dir, { recursive: true, force: true }));
  const results: Record<string, Record<string, Line>> = {};

  for (const [name, flags] of Object.entries(builds)) {
    test(`${name}: exp(-|x|) and tanh within 1 ulp, the sigmoid within 2, on every 97th float32`, () => {
      const binary = compile(name, flags);
      assert.ok(binary, `${CXX} failed on ${SOURCE}`);
      const r = run(binary);
      results[name] = r;
      assert.ok((r['exp(-|x|)'] as Line).worst <= 1, `exp: ${(r['exp(-|x|)'] as Line).worst} ulp`);
      assert.ok((r.tanh as Line).worst <= 1, `tanh: ${(r.tanh as Line).worst} ulp`);
      assert.ok((r.sigmoid as Line).worst <= 2, `sigmoid: ${(r.sigmoid as Line).worst} ulp`);
    });
  }

  test('the 4-lane and 8-lane builds give the same bits', () => {
    const [a, b] = [results['AVX2, 8 lanes'], results['SSE, 4 lanes']];
    assert.ok(a && b, 'both builds ran');
    for (const f of Object.keys(a)) assert.equal(a[f]?.hash, b[f]?.hash, f);
  });
});
