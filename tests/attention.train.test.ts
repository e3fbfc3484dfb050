// A tiny attention model learns MQAR on the CPU (wasm; project learn, `npm run test:learn`) — the end-to-end check that the
// tasks, model, loss, optimizer and evaluation fit together. Attention gets the BASED recipe's short conv in
// layer 0 (zoology's based-fig2 configuration): pure attention must first learn a previous-token head from
// position embeddings, which takes far more steps than a CI machine has.
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, type BackendInfo } from '../engine/backend.js';
import { resolveRunConfig, runOne } from '../runners/run.js';

let backend: BackendInfo;
beforeAll(async () => {
  backend = await initBackend('wasm');
});

describe('training', () => {
  it('attention learns MQAR (L 32, 4 kv pairs) to > 0.9 test accuracy', async () => {
    const config = resolveRunConfig({
      label: 'attention',
      data: {
        task: 'mqar',
        common: { vocabSize: 64 },
        train: [{ seqLen: 32, numKvPairs: 4, count: 4000 }],
        test: [{ seqLen: 32, numKvPairs: 4, count: 300 }],
        seed: 0,
      },
      model: {
        dModel: 32,
        nLayers: 2,
        layers: [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, { mixer: 'attention' }],
      },
      train: { epochs: 8, batchSize: 32, evalBatchSize: 150, lr: 3e-3 },
      seed: 0,
    });
    const { record, curve } = await runOne(config, { backend });
    expect(record.testAccuracy).toBeGreaterThan(0.9);
    // it learned: the first epoch was far from solved, and the loss fell
    expect(curve[0]!.validation.accuracy).toBeLessThan(0.5);
    expect(curve[curve.length - 1]!.trainLoss).toBeLessThan(curve[0]!.trainLoss);
    // per-slice accuracy is reported and agrees with the total for a single slice
    expect(Object.keys(record.testSlices)).toEqual(['L32-K4']);
    expect(record.testSlices['L32-K4']).toBeCloseTo(record.testAccuracy, 10);
    expect(record.backend).toBe('wasm');
  });
});
