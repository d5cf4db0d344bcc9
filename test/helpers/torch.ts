/**
 * Real PyTorch for the live parity tests: whether it is there, and running scripts/torch_rnn.py or a script over a
 * list of cases.
 *
 * Torch lives in /usr/bin/python3 (not the `python3` on PATH; STACKED_RNN_PYTHON names another interpreter).
 * Without it the live tests skip and say why, unless STACKED_RNN_REQUIRE_TORCH=1 (set in CI), where a missing
 * torch is a failure rather than a silent skip.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = process.env.STACKED_RNN_PYTHON || '/usr/bin/python3';
export const TORCH_RNN_SCRIPT = fileURLToPath(new URL('../../scripts/torch_rnn.py', import.meta.url));
export const REQUIRE_TORCH = process.env.STACKED_RNN_REQUIRE_TORCH === '1';

export interface TorchStatus {
  available: boolean;
  /** torch.__version__ when available. */
  version?: string;
  /** Why not, when not. */
  reason?: string;
}

let cached: TorchStatus | undefined;

/** Asks `/usr/bin/python3 -c "import torch"` once per process. */
export function torchStatus(): TorchStatus {
  if (cached) return cached;
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) {
    cached = { available: false, reason: `cannot run ${PYTHON}: ${r.error.message}` };
  } else if (r.status !== 0) {
    const last = r.stderr.trim().split('\n').pop() ?? `exit status ${r.status}`;
    cached = { available: false, reason: `${PYTHON} cannot import torch: ${last}` };
  } else {
    cached = { available: true, version: r.stdout.trim() };
  }
  return cached;
}

/**
 * The `skip` option for tests that need torch: false when they should run (torch present, or required so that
 * its absence fails them), else the reason.
 */
export function torchSkip(): string | false {
  const s = torchStatus();
  if (s.available || REQUIRE_TORCH) return false;
  return `PyTorch is not available (${s.reason}); set STACKED_RNN_REQUIRE_TORCH=1 to make this a failure`;
}

/** Throws unless torch is importable; call it first in tests that were not skipped. */
export function assertTorch(): void {
  const s = torchStatus();
  if (!s.available) {
    throw new Error(
      `STACKED_RNN_REQUIRE_TORCH=1 but PyTorch is not available: ${s.reason}. Install torch for ${PYTHON}.`,
    );
  }
}

/**
 * Runs `SCRIPT DIR` on `cases` written to DIR/cases.json, DIR a new temporary folder, and returns DIR, where the
 * script wrote its answers (the caller removes it); throws with the script's stderr when it fails.
 */
export function runTorchCases(script: string, prefix: string, cases: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, 'cases.json'), JSON.stringify(cases));
  const r = spawnSync(PYTHON, [script, dir], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${script} failed (status ${r.status}):\n${r.stderr}`);
  return dir;
}

/** Runs `torch_rnn.py COMMAND DIR...` (see the script); throws with its stderr when it fails. */
export function runTorchRnn(command: 'init' | 'reference' | 'make', dirs: readonly string[]): void {
  const r = spawnSync(PYTHON, [TORCH_RNN_SCRIPT, command, ...dirs], { encoding: 'utf8', timeout: 300_000 });
  if (r.error) throw new Error(`${PYTHON} ${TORCH_RNN_SCRIPT} ${command}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${PYTHON} ${TORCH_RNN_SCRIPT} ${command} failed (status ${r.status}):\n${r.stderr}`);
  }
}
