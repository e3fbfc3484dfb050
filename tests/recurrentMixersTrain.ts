// Short training checks on wasm (shared by tests/recurrentMixers*.train.test.ts, split so the runs spread over the
// test workers): Mamba, DeltaNet, GLA and RWKV-4 each learn an easy MQAR (L 64, 4 key-value
// pairs, V 128, d 64) clearly above chance through the project's own training path (resolveRunConfig + runOne).
// Chance = 1/(V/2) ≈ 0.016, a uniform guess among the value tokens. One layer: each of these mixers sees the
// previous token inside the layer (short conv / token shift), so one layer can tie a key to its value.
// Measured with exactly these recipes (seed 0, 2-core machine shared with other jobs): deltanet 0.78 (80 steps,
// ~10 s), gla 0.23 (160 steps, ~11 s), mamba 0.18 (320 steps, ~20 s), rwkv 0.18 (160 steps, ~9 s).
// Mamba and GLA start slowly: with two layers and lr 3e-3 they take off after ~300–400 steps (GLA reached
// 0.52 after 1,120 steps; Mamba 0.19 after 640 steps of batch 8, then over-fits a 640-example train set).
import { beforeAll, describe, it } from 'vitest';
import { CHANCE, mqarCheck, type MqarCase } from './mqarCheck.js';
import { useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const CASES: [string, MqarCase][] = [
  ['deltanet', { params: {}, examples: 1280, batch: 16, lr: 1e-2, bar: 20 * CHANCE }],
  // one head (as the MQAR presets give attention and Based) with fla's optional short conv on q, k, v
  ['gla', { params: { numHeads: 1, shortConv: true }, examples: 2560, batch: 16, lr: 1e-2, bar: 6 * CHANCE }],
  // N 8 (based-fig2's smallest) and batch 8: more steps per second; Mamba needs steps more than batch
  ['mamba', { params: { stateDim: 8 }, examples: 2560, batch: 8, lr: 1e-2, bar: 5 * CHANCE }],
  ['rwkv', { params: {}, examples: 2560, batch: 16, lr: 1e-2, bar: 5 * CHANCE }],
];

/** The checks of these mixers (names of CASES), as one describe block: the MQAR check of tests/mqarCheck.ts. */
export function recurrentMixersLearn(names: string[]): void {
  const cases = CASES.filter(([name]) => names.includes(name));
  if (cases.length !== names.length) throw new Error(`recurrentMixersLearn: unknown mixer in ${names.join(', ')}`);
  describe('recurrent mixers learn an easy MQAR clearly above chance (wasm)', () => {
    it.each(cases)('%s', async (mixer, c) => {
      await mqarCheck(mixer, c);
    });
  });
}
