/** Running the built `stacked-rnn` command as a user would, and a scratch directory per test file. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type WritableTensor, writeSafetensors } from '../../src/io/safetensors.js';

export const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function scratchDir(name: string): { dir: string; path: (f: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `stacked-rnn-${name}-`));
  return { dir, path: (f) => join(dir, f), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function saveSafetensors(path: string, tensors: Record<string, WritableTensor>): string {
  writeFileSync(path, writeSafetensors(tensors));
  return path;
}
