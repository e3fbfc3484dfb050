// Test-file order for two workers: longest first (LPT scheduling), so that the two finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`.ci/run` in a clean clone, its JSON report, 2026-11-29 03:58 UTC); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'reliability.test.ts': 50,
  'convMixers.train.test.ts': 48,
  'search.sweep.test.ts': 34,
  'linearAttention.based.train.test.ts': 34,
  'linearAttention.jrtRnn.train.test.ts': 33,
  'recurrentMixers.train.test.ts': 32,
  'memory.test.ts': 29,
  'recurrentMixers.mamba.train.test.ts': 26,
  'queue.test.ts': 25,
  'train.test.ts': 22,
  'boundedCache.train.test.ts': 19,
  'm2.train.test.ts': 18,
  'rwkv7.train.test.ts': 18,
  'scatterbrain.train.test.ts': 17,
  'plot.test.ts': 16,
  'stack.test.ts': 16,
  'stack.sweep.test.ts': 9,
  'mamba2.train.test.ts': 16,
  'concurrency.test.ts': 14,
  'gatedDeltaNet.train.test.ts': 12,
  'reliability.failures.test.ts': 11,
  'gpu-faults.test.ts': 10,
  'report.test.ts': 10,
  'cli.output.test.ts': 10,
  'gpu-equiv.test.ts': 9,
  'invariants.test.ts': 6,
  'sweep.resume.test.ts': 5,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
