/**
 * Prepared weights are freed with their module: a process that makes, runs and drops 40 LSTMs of 2 MB of
 * prepared panels each ends, after a garbage collection, holding no more than a few of them (run in a child
 * process with --expose-gc, on the native kernel where it loads, and on the WebAssembly kernel, whose freed blocks
 * are reused rather than the memory growing).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { nativeKernel } from '../src/kernels/native.js';

const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

/** Runs the loop in a child on `backend`; returns [bytes one module prepares, growth after 40 modules]. */
function growth(backend: string, measure: 'external' | 'wasm'): [number, number] {
  const script = `
    const { LSTM, randn, getKernel } = await import(${JSON.stringify(INDEX)});
    const { wasmExports } = await import(${JSON.stringify(fileURLToPath(new URL('../src/kernels/wasm/wasm.ts', import.meta.url)))});
    const x = randn([2, 1, 256]);
    const used = () => ${measure === 'wasm' ? 'wasmExports.memory.buffer.byteLength' : 'process.memoryUsage().external'};
    const one = () => { const m = new LSTM({ inputSize: 256, hiddenSize: 256, backend: '${backend}' }); m.forward(x); return m.preparedBytes; };
    const bytes = one();
    for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
    const before = used();
    for (let i = 0; i < 40; i++) { one(); if (i % 5 === 4) { global.gc(); await new Promise((r) => setTimeout(r, 10)); } }
    for (let i = 0; i < 3; i++) { global.gc(); await new Promise((r) => setTimeout(r, 10)); }
    console.log(JSON.stringify([bytes, used() - before]));
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as [number, number];
}

test('the native kernel frees a dropped module’s prepared weights', {
  skip: !nativeKernel && 'no native addon',
}, () => {
  const [bytes, grown] = growth('native', 'external');
  assert.ok(bytes > 2_000_000, `one module prepares ${bytes} bytes`);
  assert.ok(grown < 5 * bytes, `40 modules left ${grown} bytes held (${(grown / bytes).toFixed(1)} modules' worth)`);
});

test('the WebAssembly kernel reuses a dropped module’s blocks instead of growing its memory', () => {
  const [bytes, grown] = growth('wasm', 'wasm');
  assert.ok(bytes > 2_000_000, `one module prepares ${bytes} bytes`);
  assert.ok(
    grown < 5 * bytes,
    `40 modules grew the memory by ${grown} bytes (${(grown / bytes).toFixed(1)} modules' worth)`,
  );
});
