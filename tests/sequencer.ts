// Test-file order for two workers: longest first (LPT scheduling), so that the two finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`.ci/run` in a clean clone, its JSON report, 2026-11-29 08:10 UTC); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'reliability.test.ts': 50,
  'convMixers.train.test.ts': 38,
  'recurrentMixers.train.test.ts': 33,
  'search.sweep.test.ts': 31,
  'linearAttention.jrtRnn.train.test.ts': 28,
  'stack.test.ts': 25,
  'linearAttention.based.train.test.ts': 25,
  'recurrentMixers.mamba.train.test.ts': 24,
  'concurrency.test.ts': 19,
  'm2.train.test.ts': 19,
  'memory.test.ts': 18,
  'rwkv7.train.test.ts': 18,
  'boundedCache.train.test.ts': 18,
  'scatterbrain.train.test.ts': 18,
  'mamba2.train.test.ts': 17,
  'plot.test.ts': 16,
  'train.test.ts': 14,
  'gatedDeltaNet.train.test.ts': 14,
  'queue.test.ts': 12,
  'report.test.ts': 12,
  'gpu-faults.test.ts': 12,
  'reliability.failures.test.ts': 10,
  'stack.sweep.test.ts': 9,
  'cli.output.test.ts': 9,
  'webgpu-kernels.test.ts': 9,
  'invariants.test.ts': 8,
  'webgpu-stack.test.ts': 8,
  'gpu-equiv.test.ts': 8,
  'determinism.test.ts': 6,
  'webgpu-rmsNorm.test.ts': 6,
  'webgpu-linearAttention.test.ts': 5,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
