/**
 * The training step (forward recorded + backward of output.sum()) of stacked-rnn against PyTorch, with peak
 * memory: each contender runs in its own process, on the configurations C and D (or those given).
 *
 *   node --import tsx bench/train-step.ts [--configs CD] [--kernel native]
 *
 * PyTorch runs in its best setting here (torch.set_num_threads(1); OpenBLAS uses both cores inside each product),
 * stacked-rnn with the kernel given. For each: the median ms of steps within about 3 s, the process's RSS before
 * the first step (model, input and runtime loaded) and its peak RSS over all steps, and the bytes of activations
 * kept for the backward: PyTorch's saved tensors (counted by storage through saved_tensors_hooks) and stacked-rnn's
 * tape (`rnn.tapeBytes`). Weights and input are random, not shared: only times and memory are compared here
 * (bench/run.ts compares outputs on PyTorch's weights).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CONFIGS: Record<string, number[]> = {
  C: [256, 32, 128, 256, 3],
  D: [128, 128, 512, 512, 4],
};

const TORCH = `
import json, resource, statistics, sys, time, torch
L, N, I, H, K = (int(v) for v in sys.argv[1:6])
torch.set_num_threads(1)
torch.manual_seed(0)
rnn = torch.nn.RNN(I, H, num_layers=K)
x = torch.randn(L, N, I)
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def current():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 2**20
before = current()
saved = {}
def pack(t):
    s = t.storage()
    saved[s.data_ptr()] = s.size() * t.element_size()
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    rnn(x)[0].sum().backward()
def step():
    rnn.zero_grad()
    rnn(x)[0].sum().backward()
times = []
start = time.perf_counter()
while len(times) < 3 or (time.perf_counter() - start < 3 and len(times) < 50):
    t0 = time.perf_counter(); step(); times.append((time.perf_counter() - t0) * 1000)
print(json.dumps({"ms": statistics.median(times), "reps": len(times), "before_mb": before, "peak_mb": rss(), "kept_mb": sum(saved.values()) / 2**20}))
`;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

/** The stacked-rnn side, run in a child process (this file with --child). */
async function child(): Promise<void> {
  const { RNN } = await import('../src/rnn/rnn.js');
  const { Tensor } = await import('../src/tensor.js');
  const { Generator } = await import('../src/random.js');
  const [L, N, I, H, K] = process.argv.slice(3, 8).map(Number) as [number, number, number, number, number];
  const rnn = new RNN({ inputSize: I, hiddenSize: H, numLayers: K, backend: process.argv[8] as string });
  const x = new Float32Array(L * N * I);
  new Generator(0).uniform(x, -1, 1);
  const input = new Tensor(x, [L, N, I]);
  const ones = new Tensor(new Float32Array(L * N * H).fill(1), [L, N, H]);
  const current = () => process.memoryUsage.rss() / 2 ** 20;
  const before = current();
  const step = () => {
    rnn.zeroGrad();
    rnn.forward(input, null, { requiresGrad: true });
    const kept = rnn.tapeBytes;
    rnn.backward(ones, null, { inputGrad: false }); // like PyTorch, whose x does not require grad
    return kept;
  };
  const kept = step();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < 3000 && times.length < 50)) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const peak = process.resourceUsage().maxRSS / 1024;
  const ms = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ ms, reps: times.length, before_mb: before, peak_mb: peak, kept_mb: kept / 2 ** 20 }));
}

function run(cmd: string, args: string[]): Record<string, number> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: fileURLToPath(new URL('..', import.meta.url)) });
  const line = (r.stdout ?? '').trim().split('\n').at(-1) ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${cmd} failed:\n${(r.stderr ?? '').slice(-2000)}`);
  return JSON.parse(line) as Record<string, number>;
}

async function main(): Promise<void> {
  const kernel = flag('--kernel', 'native');
  const f = (v: number | undefined) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  console.log(
    `| config | L, N, I, H, K | stacked-rnn ${kernel} ms | PyTorch ms | PyTorch / ours | kept MB ours / PyTorch | peak - before MB ours / PyTorch | peak MB ours / PyTorch |`,
  );
  console.log('|---|---|---|---|---|---|---|---|');
  for (const name of flag('--configs', 'CD').split('')) {
    const dims = CONFIGS[name];
    if (!dims) throw new Error(`unknown configuration '${name}': choose from ${Object.keys(CONFIGS).join('')}`);
    const sizes = dims.map(String);
    const torch = run('/usr/bin/python3', ['-c', TORCH, ...sizes]);
    const ours = run(process.execPath, [
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      '--child',
      ...sizes,
      kernel,
    ]);
    const grow = (r: Record<string, number>) => (r.peak_mb as number) - (r.before_mb as number);
    console.log(
      `| ${name} | ${dims.join(', ')} | ${f(ours.ms)} | ${f(torch.ms)} | ${((torch.ms as number) / (ours.ms as number)).toFixed(2)}x | ${f(ours.kept_mb)} / ${f(torch.kept_mb)} | ${f(grow(ours))} / ${f(grow(torch))} | ${f(ours.peak_mb)} / ${f(torch.peak_mb)} |`,
    );
  }
}

if (process.argv[2] === '--child') await child();
else await main();
