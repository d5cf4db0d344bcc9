/**
 * The install and package contract (issue 11): a fresh `npm ci` never installs the benchmark's peers, engines says
 * what the code and its dependencies need, and the published tarball holds everything its README, docs, source
 * maps and native build point at.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));
const pkg = json('package.json');
const PEERS = ['onnxruntime-node', '@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm'];

/** The files `npm pack` would put in the tarball (scripts off: dist is what the test run's build made). */
function packed(): Set<string> {
  // under `npm test` the npm running it, else the one on PATH
  const npm = process.env.npm_execpath;
  const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const r = npm?.endsWith('.js')
    ? spawnSync(process.execPath, [npm, ...args], { cwd: ROOT, encoding: 'utf8' })
    : spawnSync('npm', args, { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path));
}
const files = packed();

/** Whether version v (x.y.z) satisfies an npm range made of ||, spaces (and), >=, >, <, <=, ^, ~, = and x/*. */
function satisfies(v: string, range: string): boolean {
  const num = (s: string) => s.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN));
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0) ? -1 : 1;
    return 0;
  };
  const have = num(v);
  return range.split('||').some((alt) =>
    alt
      .replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1')
      .trim()
      .split(/\s+/)
      .every((c) => {
        const [, op = '', ver = ''] = /^(>=|<=|>|<|\^|~|=)?v?(.*)$/.exec(c) ?? [];
        const parts = num(ver);
        const fixed = parts.findIndex((p) => Number.isNaN(p)); // 1.x, 1.*, 1: a range over the rest
        const base = parts.map((p) => (Number.isNaN(p) ? 0 : p));
        if (op === '>=') return cmp(have, base) >= 0;
        if (op === '>') return cmp(have, base) > 0;
        if (op === '<') return cmp(have, base) < 0;
        if (op === '<=') return cmp(have, base) <= 0;
        const n = op === '^' ? Math.max(1, base.findIndex((p) => p !== 0) + 1) : op === '~' ? 2 : fixed < 0 ? 3 : fixed;
        const free = fixed >= 0 && fixed < n ? fixed : n; // how many leading parts must match
        return cmp(have, base) >= 0 && have.slice(0, free).every((p, i) => p === base[i]);
      }),
  );
}

test('the npm range check reads the forms package locks use', () => {
  assert.ok(satisfies('20.19.0', '^20.19.0 || >=22.12.0'));
  assert.ok(!satisfies('20.18.3', '^20.19.0 || >=22.12.0'));
  assert.ok(!satisfies('22.11.0', '^20.19.0 || >=22.12.0'));
  assert.ok(satisfies('24.0.0', '^20.19.0 || >=22.12.0'));
  assert.ok(!satisfies('20.19.0', '>=22.12.0'));
  assert.ok(satisfies('20.19.0', '>= 0.4'));
  assert.ok(satisfies('20.19.0', '6.* || 8.* || >= 10.*'));
  assert.ok(!satisfies('9.1.0', '6.* || 8.* || >= 10.*'));
  assert.ok(satisfies('22.12.0', '^10 || ^12 || >=14'));
  assert.ok(!satisfies('11.0.0', '^10 || ^12 || >=14'));
});

test('a fresh npm ci installs none of the benchmark peers: bench/package.json holds them', () => {
  const named = { ...pkg.dependencies, ...pkg.devDependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies };
  for (const peer of PEERS) {
    assert.equal(named[peer], undefined, `${peer} is in the root package.json`);
    assert.equal(json('package-lock.json').packages[`node_modules/${peer}`], undefined, `${peer} is in the root lock`);
    assert.ok(json('bench/package.json').dependencies[peer], `${peer} is missing from bench/package.json`);
  }
});

test('engines admits exactly the Node versions that require() ES modules without a flag', () => {
  assert.equal(pkg.engines.node, '^20.19.0 || >=22.12.0');
});

test('no locked dependency asks for a newer Node than engines admits (npm ci would warn EBADENGINE)', () => {
  // the first release engines admits on each line, and a current line
  const oldest = ['20.19.0', '22.12.0', '24.0.0'];
  type Entry = { engines?: { node?: unknown }; optional?: boolean };
  for (const [path, entry] of Object.entries(json('package-lock.json').packages as Record<string, Entry>)) {
    const wanted = entry.engines?.node;
    if (path === '' || typeof wanted !== 'string' || entry.optional) continue; // optional: platform binaries
    for (const v of oldest) assert.ok(satisfies(v, wanted), `${path} wants node ${wanted}, which excludes ${v}`);
  }
});

test('every relative link in README.md and the shipped docs points at a file the package ships', () => {
  const docs = [
    'README.md',
    ...readdirSync(join(ROOT, 'docs')).flatMap((f) => (f.endsWith('.md') ? [`docs/${f}`] : [])),
  ];
  let links = 0;
  for (const doc of docs) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const [, target = ''] of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      if (/^[a-z][a-z+.-]*:/i.test(target) || target.startsWith('#')) continue; // a URL or an anchor here
      const path = posix.normalize(posix.join(posix.dirname(doc), decodeURI(target.split('#')[0] as string)));
      assert.ok(files.has(path), `${doc} links ${target}, which the package does not ship`);
      links++;
    }
  }
  assert.ok(links >= 5, `only ${links} relative links found: is the link pattern still right?`);
});

test('every source map and declaration map in the package names sources the package ships', (t) => {
  const maps = [...files].filter((f) => f.startsWith('dist/') && f.endsWith('.map'));
  if (maps.length === 0) return t.skip('dist is not built (npm test builds it first)');
  assert.ok(
    maps.some((m) => m.endsWith('.d.ts.map')),
    'no declaration maps',
  );
  for (const map of maps) {
    const { sources, sourceRoot = '' } = json(map) as { sources: string[]; sourceRoot?: string };
    for (const source of sources) {
      const path = posix.normalize(posix.join(posix.dirname(map), sourceRoot, source));
      assert.ok(files.has(path), `${map} names ${source}, which the package does not ship`);
    }
  }
});

test('the package ships its LICENSE, its entry points and every file the native build compiles', () => {
  assert.equal(pkg.license, 'MIT');
  assert.match(
    readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
    /^MIT License\n\nCopyright \(c\) 2026 the stacked-rnn contributors\n/,
  );
  const wanted = ['LICENSE', 'README.md', 'package.json', 'native/build.mjs', 'native/binding.gyp'];
  const strip = (p: string) => p.replace(/^\.\//, '');
  wanted.push(strip(pkg.main), strip(pkg.types), ...Object.values(pkg.bin as Record<string, string>).map(strip));
  const gyp = json('native/binding.gyp') as { targets: { sources: string[] }[] };
  const sources = gyp.targets.flatMap((target) => target.sources.map((s) => `native/${s}`));
  // and every header they include, transitively
  for (let i = 0; i < sources.length; i++) {
    const text = readFileSync(join(ROOT, sources[i] as string), 'utf8');
    for (const [, header] of text.matchAll(/^#include "([^"]+)"/gm)) {
      const path = posix.join(dirname(sources[i] as string), header as string);
      if (!sources.includes(path)) sources.push(path);
    }
  }
  for (const f of [...wanted, ...sources]) assert.ok(files.has(f), `the package does not ship ${f}`);
});
