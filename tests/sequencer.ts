// Test-file order for the workers: longest first (LPT scheduling), so that they finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`.ci/run` in a clean clone, its JSON report, 2026-11-30 01:23 UTC; the two projects, unit and learn, run apart
// and each is ordered by these); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'reliability.test.ts': 76,
  'recurrentMixers.mamba.train.test.ts': 63,
  'convMixers.train.test.ts': 52,
  'concurrency.test.ts': 40,
  'plot.test.ts': 40,
  'linearAttention.jrtRnn.train.test.ts': 36,
  'recurrentMixers.train.test.ts': 34,
  'search.sweep.test.ts': 33,
  'stack.test.ts': 32,
  'queue.test.ts': 26,
  'memory.test.ts': 26,
  'linearAttention.based.train.test.ts': 26,
  'm2.train.test.ts': 23,
  'rwkv7.train.test.ts': 21,
  'boundedCache.train.test.ts': 20,
  'report.test.ts': 19,
  'attention.train.test.ts': 19,
  'scatterbrain.train.test.ts': 19,
  'webgpu-longConv.test.ts': 18,
  'mamba2.train.test.ts': 18,
  'reliability.failures.test.ts': 18,
  'webgpu-stack.test.ts': 17,
  'gatedDeltaNet.train.test.ts': 15,
  'cli.output.test.ts': 15,
  'webgpu-kernels.test.ts': 15,
  'gpu-faults.test.ts': 15,
  'gpu-equiv.test.ts': 12,
  'invariants.test.ts': 12,
  'stack.sweep.test.ts': 10,
  'webgpu-rmsNorm.test.ts': 8,
  'webgpu-selectiveScan.test.ts': 7,
  'layers.test.ts': 7,
  'webgpu-deltaRule.test.ts': 6,
  'determinism.test.ts': 6,
  'cli.errors.test.ts': 6,
  'webgpu-linearAttention.test.ts': 6,
  'presets.icll.test.ts': 6,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
