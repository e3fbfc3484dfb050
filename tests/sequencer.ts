// Test-file order for the workers: longest first (LPT scheduling), so that they finish together. A clean CI
// checkout has no vitest timing cache, and vitest would otherwise start some 20–50 s files last, leaving one worker
// to run them alone. The seconds below are one quiet local run of the suite on this 2-core machine
// (`.ci/run` in a clean clone at a8fecb4, its JSON reports, 2026-12-02 05:54 UTC; the projects' scripts run apart
// and each is ordered by these); files not listed (a few seconds each) go after, in vitest's order.
// Re-measure when a file's time changes a lot: a stale entry only costs balance, never correctness.
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SECONDS: Record<string, number> = {
  'recurrentMixers.mamba.train.test.ts': 79,
  'search.sweep.test.ts': 68,
  // in the system project since 2026-12-03 (its local run that day: 57 s each beside the other system files)
  'campaignMerge.test.ts': 57,
  'checkThenStretch.test.ts': 57,
  'convMixers.train.test.ts': 66,
  'reliability.test.ts': 66,
  'concurrency.test.ts': 63,
  'recurrentMixers.train.test.ts': 47,
  'linearAttention.jrtRnn.train.test.ts': 46,
  'webgpu-longConv.test.ts': 45,
  'linearAttention.based.train.test.ts': 43,
  'rwkv7.train.test.ts': 39,
  'gpu-equiv.test.ts': 36,
  'plot.test.ts': 35,
  'queue.test.ts': 35,
  'm2.train.test.ts': 31,
  'addArch.test.ts': 30,
  'boundedCache.train.test.ts': 28,
  'reliability.failures.test.ts': 28,
  'webgpu-kernels.test.ts': 28,
  'memory.test.ts': 25,
  'scatterbrain.train.test.ts': 25,
  'attention.train.test.ts': 24,
  'mamba2.train.test.ts': 24,
  'stack.test.ts': 23,
  'memory.sweep.test.ts': 22,
  'stack.sweep.test.ts': 22,
  'webgpu-stack.test.ts': 21,
  'invariants.test.ts': 20,
  'gpu-faults.test.ts': 19,
  'report.test.ts': 18,
  'cli.output.test.ts': 17,
  'gatedDeltaNet.train.test.ts': 17,
  'layers.test.ts': 13,
  'determinism.test.ts': 12,
  'webgpu-deltaRule.test.ts': 12,
  'webgpu-rmsNorm.test.ts': 12,
  'cli.errors.test.ts': 11,
  'webgpu-generalizedDeltaRule.test.ts': 11,
  'webgpu-selectiveScan.test.ts': 10,
  'presets.icll.test.ts': 9,
  'webgpu-gla.test.ts': 9,
  'webgpu-linearAttention.test.ts': 7,
  'webgpu-projections.test.ts': 7,
  'checkPending.test.ts': 6,
  'cli.test.ts': 6,
  'cpuprofTop.test.ts': 6,
  'presets.test.ts': 6,
  'sweep.resume.test.ts': 6,
};

const weight = (spec: TestSpecification) => SECONDS[spec.moduleId.split('/tests/').pop() ?? ''] ?? 0;

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...(await super.sort(files))].sort((a, b) => weight(b) - weight(a)); // stable: vitest's order among the unlisted
  }
}
