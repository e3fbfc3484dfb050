// Mamba-2 learns an easy MQAR clearly above chance (wasm, tests/mqarCheck.ts: L 64, K 4, V 128, d 64, one layer).
// Measured with this recipe (seed 0, 2-core machine shared with other jobs): 0.252 after 320 steps of batch 8 (30 s),
// chance 0.016. Like Mamba-1 (tests/recurrentMixers.train.test.ts) it starts slowly: 0.080 after 240 steps, 0.057
// after 160 (batch 8), 0.023 after 80 of batch 16. N 16, the default headDim 64 (2 heads), one chunk of 64 (the
// chunk size changes the summation order only; tests/mamba2.test.ts checks chunked == per-token).
import { beforeAll, describe, it } from 'vitest';
import { useBackend } from './helpers.js';
import { CHANCE, mqarCheck } from './mqarCheck.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('mamba2 learns an easy MQAR clearly above chance (wasm)', () => {
  it('N 16: > 8 × chance (0.125) after 320 steps', async () => {
    await mqarCheck('mamba2', { params: { stateDim: 16, chunkSize: 64 }, examples: 2560, batch: 8, lr: 1e-2, bar: 8 * CHANCE });
  });
});
