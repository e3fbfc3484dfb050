// Scatterbrain learns an easy MQAR clearly above chance (wasm, tests/mqarCheck.ts: L 64, K 4, V 128, d 64) after a
// short BaseConv (k 3) as in the BASED recipe and zoology's figure-2 Hybrid [conv, SBLocalAttention].
// Measured with this recipe (seed 0, 2-core machine shared with other jobs): w 16, f 32 reached 0.119 after 160 steps
// (18 s; chance 0.016); w 4, f 32 0.037. For scale, tests/boundedCache.train.test.ts's recency cache of 16 (the same
// window, no low-rank part) reached 0.039 with the same recipe: the Performer sums over the tokens that left the
// window carry the recall. Bar: 4 × chance (0.0625), about half the measured accuracy.
import { beforeAll, describe, it } from 'vitest';
import { useBackend } from './helpers.js';
import { CHANCE, mqarCheck, type MqarCase } from './mqarCheck.js';

const recipe = (params: Record<string, unknown>, bar: number): MqarCase => ({
  params: { ...params, dropout: 0 },
  before: [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }],
  examples: 2560,
  batch: 16,
  lr: 1e-2,
  bar,
});

beforeAll(async () => {
  await useBackend('wasm');
});

describe('scatterbrain learns an easy MQAR clearly above chance (wasm)', () => {
  it('w 16, f 32: > 4 × chance (0.0625) after 160 steps', async () => {
    await mqarCheck('scatterbrain', recipe({ windowSize: 16, featureDim: 32 }, 4 * CHANCE));
  });
});
