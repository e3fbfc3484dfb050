// Training check (shared by tests/linearAttention*.train.test.ts) for the recall-capable mixers of the linear-attention family: on an easy MQAR (L 64, 4 kv
// pairs, vocab 128, d 64, 2 layers), a short run of the project's own pipeline (resolveRunConfig + runOne, wasm
// backend) must clearly beat chance. Values are drawn from [64, 128), so guessing gets 1/64 ≈ 0.016; a
// 2-layer model without long-range mixing (sliding window w 1) stays there (measured 0.009–0.02 with this
// recipe), while these mixers reach 0.13–0.20 after 96 steps. The threshold is 5× chance.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import type { RunConfigInput } from '../runners/config.js';
import { resolveRunConfig, runOne } from '../runners/run.js';

const CHANCE = 1 / 64;

let backend: BackendInfo;
beforeAll(async () => {
  backend = await initBackend('wasm');
});

function mqarRun(label: string, layers: RunConfigInput['model']['layers']): RunConfigInput {
  return {
    label,
    data: { task: 'mqar', common: { vocabSize: 128, seqLen: 64, numKvPairs: 4 }, train: [{ count: 2048 }], test: [{ count: 256 }], seed: 1 },
    // learned positions: without BaseConv's short conv in front, they let a layer pair each key with its value
    model: { dModel: 64, nLayers: 2, layers, positionEmbeddings: true, embeddingDropout: 0 },
    train: { epochs: 3, batchSize: 64, evalBatchSize: 128, lr: 3e-3 },
    seed: 0,
  };
}

/** One mixer of the family: a test file of its own, so that the three runs (~30 s each on 2 cores) spread over the workers. */
export function linearAttentionLearns(label: string, layers: RunConfigInput['model']['layers']): void {
  describe('linear-attention family learns MQAR (wasm, a few seconds of training each)', () => {
    it(`${label} clearly beats chance`, async () => {
      const started = performance.now();
      const { record } = await runOne(resolveRunConfig(mqarRun(label, [...layers])), { backend });
      const seconds = (performance.now() - started) / 1000;
      console.log(`${label}: test accuracy ${record.testAccuracy.toFixed(3)} (chance ${CHANCE.toFixed(3)}), ${record.steps} steps, ${record.msPerStep.toFixed(0)} ms/step, ${seconds.toFixed(0)} s`);
      expect(record.status).not.toBe('diverged');
      expect(record.steps).toBe(96);
      expect(record.testAccuracy).toBeGreaterThan(5 * CHANCE);
    }, 600_000);
  });
}
