// `npm run bench`: the step benchmark (bench/step.ts) with shapes that fit the machine, plus the PyTorch
// comparator (bench/torch_step.py) when python3 has torch. With a hardware WebGPU adapter: the zoology reference
// shapes (d 128, L 256, V 8192, batch 64 and 256), stock and fast path. Without one: wasm (or cpu) and small
// shapes, so that it finishes in a minute or two. Extra arguments go to bench/step.ts and override these.
//   npm run bench                      # auto
//   npm run bench -- --backend cpu --steps 3
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { releaseGpu } from '../engine/backend.js';
import { DEFAULTS, parseArgs, runBench, type BenchArgs } from './step.js';

async function hasHardwareGpu(): Promise<boolean> {
  try {
    const { create, globals } = (await import('webgpu')) as unknown as { create(o: string[]): { requestAdapter(): Promise<{ info?: Record<string, string>; isFallbackAdapter?: boolean } | null> }; globals: object };
    Object.assign(globalThis, globals);
    const gpu = create(DEFAULTS.dawn);
    const adapter = await gpu.requestAdapter();
    const text = Object.values(adapter?.info ?? {}).join(' ');
    const ok = !!adapter && !adapter.isFallbackAdapter && !/llvmpipe|lavapipe|swiftshader|software|null/i.test(text);
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    return ok;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const extra = process.argv.slice(2);
  const gpu = await hasHardwareGpu();
  const base: string[] = gpu
    ? ['--backend', 'webgpu', '--variants', 'stock,fast', '--profile']
    : ['--backend', 'wasm', '--batches', '8', '--seq-len', '64', '--d-model', '64', '--vocab', '512', '--kv', '4', '--steps', '3', '--warmup', '1'];
  const args: BenchArgs = parseArgs([...base, ...extra]);
  const dir = mkdtempSync(join(tmpdir(), 'recallbench-bench-'));
  const torchJson = join(dir, 'torch.json');
  const probe = spawnSync('python3', ['-c', 'import torch'], { stdio: 'ignore' });
  if (probe.status === 0) {
    const torchArgs = ['bench/torch_step.py', '--mixers', args.mixers.join(','), '--batches', args.batches.join(','), '--seq-len', String(args.seqLen), '--d-model', String(args.dModel), '--vocab', String(args.vocab), '--kv', String(args.kv), '--steps', String(Math.max(args.steps, 10)), '--out', torchJson];
    const r = spawnSync('python3', torchArgs, { stdio: 'inherit' });
    if (r.status === 0) args.torch = torchJson;
  } else {
    console.log('(python3 has no torch here: no PyTorch comparison; run bench/torch_step.py on the GPU host)');
  }
  if (!gpu) console.log('(no hardware WebGPU adapter: small shapes on the CPU; the GPU numbers come from the GPU host, see bench/RESULTS.md)');
  await runBench(args);
  releaseGpu();
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
