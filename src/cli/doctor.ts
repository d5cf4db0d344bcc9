/**
 * `stacked-rnn doctor`: which kernel runs the models here, on what, where its binary came from, and what to do
 * when the fast one is missing (the library's kernelInfo()).
 */
import type { Command } from 'commander';
import { type KernelInfo, kernelInfo } from '../kernels/info.js';

export function doctorText(info: KernelInfo, node: string): string {
  const threads = `${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  const lines = [`kernel    ${info.kernel} (${info.isa}, ${threads})`, `platform  ${info.platform}, Node.js ${node}`];
  if (info.binary)
    lines.push(
      `binary    ${info.binary.origin === 'prebuilt' ? 'prebuilt' : 'built from source'}: ${info.binary.path}`,
    );
  if (info.nativeUnavailable) lines.push(`native    unavailable: ${info.nativeUnavailable}`);
  if (info.advice) lines.push(`to do     ${info.advice}`);
  return lines.join('\n');
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('show the kernel in use (native, WebAssembly or reference), its threads and where it came from')
    .option('--json', "print kernelInfo()'s object as JSON")
    .action((opts: { json?: boolean }) => {
      const info = kernelInfo();
      process.stdout.write(`${opts.json ? JSON.stringify(info, null, 2) : doctorText(info, process.version)}\n`);
    });
}
