// Memory estimates through the CLI, as sweeps in processes of their own (split from tests/memory.test.ts, which keeps
// the estimates, the planning and the buffer pool in process): a sweep refused before any run starts, a dry run's
// plan, a sweep that plans its lanes and trains, and a sweep whose runs' estimates are measured in a child process
// so that nothing a mixer caches at module level is built on the estimate's probe backend. Each test starts the CLI
// (bundled: tests/cliRunner.ts), which starts its own estimate process and, with lanes, a process per run — a
// system test (project `system`, vitest.config.ts), cpu backend.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bundleCli, runCli } from './cliRunner.js';

beforeAll(() => bundleCli());

describe('refusal through the CLI', () => {
  const grid = ['sweep', '--backend', 'cpu', '--arch', 'attention', '--d-model', '8', '--lr', '0.01', '--setting', '16:2', '--vocab-size', '32', '--train-examples', '32', '--test-examples', '16', '--epochs', '1', '--batch-size', '16'];

  it('a sweep with a run that cannot fit exits 2 with one line naming the run, its estimate and what is free, before any run starts', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-mem-')), 'refused');
    const r = runCli([...grid, '--gpu-memory', '0.25', '--out', out], { bundled: true });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('recallbench:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^recallbench: run attention d8 lr0\.01 \([0-9a-f]{16}\) needs an estimated [\d.]+ (MiB|GiB) \(measured: .*\) of GPU memory, but --gpu-memory 0\.25 has 256 MiB free of 256 MiB \(230 MiB usable\)/);
    expect(existsSync(out)).toBe(false);
  });

  it('a dry run with --gpu-memory prints what the sweep would plan, and trains nothing', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-mem-')), 'dry');
    const r = runCli([...grid, '--gpu-memory', '4', '--dry-run', '--out', out], { bundled: true });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^memory: runs ≈ [\d.]+ (MiB|GiB)–[\d.]+ (MiB|GiB) \(measured\); --gpu-memory 4 has 4\.00 GiB free .* packed by each run's estimate$/m);
    expect(existsSync(join(out, 'runs.jsonl'))).toBe(false);
  });

  it('with enough memory the same sweep plans its lanes and trains', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'rb-mem-')), 'fits');
    const r = runCli([...grid, '--gpu-memory', '4', '--out', out], { bundled: true });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/sweep: memory: runs ≈ [\d.]+ (MiB|GiB)–[\d.]+ (MiB|GiB) \(measured\); --gpu-memory 4 has 4\.00 GiB free of 4\.00 GiB \(3\.60 GiB usable\) → up to 3 run\(s\) per GPU \(auto, at most 8\), packed by each run's estimate/);
    expect(existsSync(join(out, 'runs.jsonl'))).toBe(true);
  });
});

describe('estimates never touch a training process', () => {
  // The probe backend computes nothing, so a tensor that a mixer computes once and caches at module level would hold
  // garbage if it were first built while estimating, in the process that then trains (explicit --concurrency 1
  // trains in process). The built-in mixers key such caches by backend; a plugin need not: the estimate runs in a child.
  const plugin = join(mkdtempSync(join(tmpdir(), 'rb-mem-plugin-')), 'cached-scale.mjs');
  writeFileSync(
    plugin,
    `const scales = new Map();
export default ({ tf, z }) => ({
  name: 'cached-scale', description: 'a linear map times a constant cached per width (computed by ops)', params: z.object({}).strict(), causal: true,
  create(p, ctx, make) {
    const w = make.linear('W', ctx.dModel, ctx.dModel);
    const scale = () => { if (!scales.has(ctx.dModel)) scales.set(ctx.dModel, tf.keep(tf.add(tf.zeros([ctx.dModel]), 1.5))); return scales.get(ctx.dModel); };
    return { forward: (x) => tf.mul(w.apply(x), scale()), initState: () => ({}), step: (s, x) => ({ y: tf.mul(w.apply(x), scale()), state: s }) };
  },
  stateFloats: () => ({ measured: 0, paper: 0 }),
});
`,
  );

  it('an in-process sweep that estimated its runs trains exactly as one that did not', () => {
    const grid = ['sweep', '--backend', 'cpu', '--concurrency', '1', '--plugin', plugin, '--arch', 'cached-scale', '--d-model', '24', '--lr', '0.01', '--setting', '32:4', '--vocab-size', '64', '--train-examples', '32', '--test-examples', '16', '--epochs', '2', '--batch-size', '16', '--quiet'];
    const dir = mkdtempSync(join(tmpdir(), 'rb-mem-'));
    const plain = runCli([...grid, '--out', join(dir, 'plain')], { bundled: true });
    const estimated = runCli([...grid, '--gpu-memory', '4', '--out', join(dir, 'estimated')], { bundled: true });
    expect([plain.status, estimated.status]).toEqual([0, 0]);
    const outcome = (folder: string) =>
      readFileSync(join(dir, folder, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => {
        const r = JSON.parse(l) as { id: string; testAccuracy: number; validationAccuracy: number };
        const curve = JSON.parse(readFileSync(join(dir, folder, 'curves', `${r.id}.json`), 'utf8')) as Array<{ trainLoss: number; test: { loss: number } }>;
        return { id: r.id, test: r.testAccuracy, validation: r.validationAccuracy, losses: curve.map((e) => [e.trainLoss, e.test.loss]) };
      });
    expect(outcome('plain')).toHaveLength(1);
    expect(outcome('estimated')).toEqual(outcome('plain'));
  });
});

describe("a preset's own stack size through the CLI", () => {
  // a preset with "stack": the sweep on webgpu takes it (and says so), --stack overrides it, the CPU backends ignore it
  const dir = mkdtempSync(join(tmpdir(), 'rb-preset-stack-'));
  const preset = join(dir, 'tiny-stacked.json');
  writeFileSync(preset, JSON.stringify({
    name: 'tiny-stacked',
    data: [{ label: 'L16', task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 32 }], test: [{ seqLen: 16, numKvPairs: 2, count: 16 }] }],
    architectures: [{ label: 'attention', layers: [{ mixer: 'attention' }] }],
    dModels: [8],
    learningRates: [0.001, 0.01],
    train: { epochs: 1, batchSize: 16 },
    stack: 2,
  }));
  const line = /^stack: 2, tiny-stacked's own \(its "stack", measured on a GPU; --stack 1 trains each run alone\)$/m;

  it('webgpu: the preset\'s stack, said in one line; --stack 1 and the cpu backend: none', () => {
    const dry = (...flags: string[]) => runCli(['sweep', preset, '--dry-run', '--out', join(dir, 'out'), ...flags], { bundled: true });
    const webgpu = dry('--backend', 'webgpu');
    expect(webgpu.status, webgpu.stderr).toBe(0);
    expect(webgpu.stdout).toMatch(line);
    for (const r of [dry('--backend', 'webgpu', '--stack', '1'), dry('--backend', 'cpu')]) {
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/^stack: /m);
    }
  });
});
