// Test-file order for two workers: longest first (LPT scheduling), so that the two finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`.ci/run` in a clean clone, its JSON report, 2026-11-29 06:25 UTC); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'reliability.test.ts': 53,
  'convMixers.train.test.ts': 39,
  'recurrentMixers.train.test.ts': 30,
  'search.sweep.test.ts': 30,
  'linearAttention.based.train.test.ts': 29,
  'linearAttention.jrtRnn.train.test.ts': 28,
  'recurrentMixers.mamba.train.test.ts': 26,
  'm2.train.test.ts': 20,
  'rwkv7.train.test.ts': 20,
  'boundedCache.train.test.ts': 19,
  'memory.test.ts': 19,
  'scatterbrain.train.test.ts': 19,
  'stack.test.ts': 19,
  'mamba2.train.test.ts': 18,
  'plot.test.ts': 16,
  'gatedDeltaNet.train.test.ts': 13,
  'train.test.ts': 13,
  'queue.test.ts': 12,
  'cli.output.test.ts': 10,
  'stack.sweep.test.ts': 10,
  'gpu-faults.test.ts': 9,
  'reliability.failures.test.ts': 9,
  'report.test.ts': 9,
  'gpu-equiv.test.ts': 7,
  'webgpu-stack.test.ts': 7,
  'concurrency.test.ts': 5,
  'invariants.test.ts': 5,
  'webgpu-rmsNorm.test.ts': 5,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
