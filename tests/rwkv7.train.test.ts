// RWKV-7 learns an easy MQAR clearly above chance (wasm, tests/mqarCheck.ts: L 64, K 4, V 128, d 64, one layer,
// defaults: 4 heads, chunk 8, fla's gate and bonus). Measured with this recipe (seed 0, 2-core machine shared with
// other jobs): 0.795 after 120 steps of batch 16 at lr 5e-3 (17–25 s, 135–200 ms/step with the load), chance 0.016. It takes off between
// 80 and 120 steps: after 80 steps 0.174 at lr 5e-3, 0.006 at 1e-2; at lr 1e-2, 0.926 after 120 steps and 0.902
// after 160. The trajectory is sensitive to rounding: with chunks of 16 (same model, same data) lr 1e-2 gave 0.305
// after 160 steps, lr 5e-3 0.805 after 120.
import { beforeAll, describe, it } from 'vitest';
import { useBackend } from './helpers.js';
import { CHANCE, mqarCheck } from './mqarCheck.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('rwkv7 learns an easy MQAR clearly above chance (wasm)', () => {
  it('defaults: > 20 × chance (0.31) after 120 steps', async () => {
    await mqarCheck('rwkv7', { params: {}, examples: 1920, batch: 16, lr: 5e-3, bar: 20 * CHANCE });
  });
});
