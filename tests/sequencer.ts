// Test-file order for two workers: longest first (LPT scheduling), so that the two finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`npx vitest run --reporter=json`, 2026-11-29); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'reliability.test.ts': 53,
  'convMixers.train.test.ts': 44,
  'search.sweep.test.ts': 38,
  'linearAttention.train.test.ts': 34,
  'memory.test.ts': 34,
  'recurrentMixers.train.test.ts': 30,
  'linearAttention.jrtRnn.train.test.ts': 28,
  'queue.test.ts': 27,
  'recurrentMixers.mamba.train.test.ts': 26,
  'boundedCache.train.test.ts': 25,
  'linearAttention.based.train.test.ts': 24,
  'plot.test.ts': 21,
  'm2.train.test.ts': 20,
  'scatterbrain.train.test.ts': 20,
  'rwkv7.train.test.ts': 18,
  'mamba2.train.test.ts': 18,
  'train.test.ts': 14,
  'concurrency.test.ts': 13,
  'gatedDeltaNet.train.test.ts': 13,
  'gpu-faults.test.ts': 10,
  'reliability.failures.test.ts': 9,
  'cli.output.test.ts': 8,
  'report.test.ts': 8,
  'invariants.test.ts': 7,
  'gpu-equiv.test.ts': 6,
  'sweep.resume.test.ts': 6,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
