// Gated DeltaNet learns an easy MQAR clearly above chance (wasm, tests/mqarCheck.ts: L 64, K 4, V 128, d 64, one
// layer). Measured with this recipe (seed 0, 2-core machine shared with other jobs): 0.754 after 80 steps (16 s),
// chance 0.016. The recipe leaves out fla's output gate: with it (the default) the same 80 steps stay at chance
// (0.014) and it takes off later — 0.102 after 160 steps of batch 8 (28 s), 0.148 after 160 of batch 16 (52 s) —
// too slow for this check; the gated form is covered by the generic suite and tests/gatedDeltaNet.test.ts.
import { beforeAll, describe, it } from 'vitest';
import { useBackend } from './helpers.js';
import { CHANCE, mqarCheck } from './mqarCheck.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('gated-deltanet learns an easy MQAR clearly above chance (wasm)', () => {
  it('without the output gate: > 20 × chance (0.31) after 80 steps', async () => {
    await mqarCheck('gated-deltanet', { params: { outputGate: false }, examples: 1280, batch: 16, lr: 1e-2, bar: 20 * CHANCE });
  });
});
