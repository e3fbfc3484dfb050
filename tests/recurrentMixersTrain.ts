// Short training checks on wasm (shared by tests/recurrentMixers*.train.test.ts, split so the runs spread over the
// test workers): Mamba, DeltaNet, GLA and RWKV-4 each learn an easy MQAR (L 64, 4 key-value
// pairs, V 128, d 64) clearly above chance through the project's own training path (resolveRunConfig + runOne).
// Chance = 1/(V/2) ≈ 0.016, a uniform guess among the value tokens. One layer: each of these mixers sees the
// previous token inside the layer (short conv / token shift), so one layer can tie a key to its value.
// Measured with exactly these recipes (seed 0, 2-core machine shared with other jobs): deltanet 0.78 (80 steps,
// ~10 s), gla 0.23 (160 steps, ~11 s), mamba 0.18 (320 steps, ~20 s), rwkv 0.18 (160 steps, ~9 s).
// Mamba and GLA start slowly: with two layers and lr 3e-3 they take off after ~300–400 steps (GLA reached
// 0.52 after 1,120 steps; Mamba 0.19 after 640 steps of batch 8, then over-fits a 640-example train set).
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveRunConfig, runOne } from '../runners/run.js';
import { useBackend } from './helpers.js';

const VOCAB = 128;
const CHANCE = 1 / (VOCAB / 2);

beforeAll(async () => {
  await useBackend('wasm');
});

interface Case {
  params: Record<string, unknown>;
  /** training examples (one epoch: steps = examples / batch) */
  examples: number;
  batch: number;
  lr: number;
  /** test accuracy it must beat */
  bar: number;
}

const CASES: [string, Case][] = [
  ['deltanet', { params: {}, examples: 1280, batch: 16, lr: 1e-2, bar: 20 * CHANCE }],
  // one head (as the MQAR presets give attention and Based) with fla's optional short conv on q, k, v
  ['gla', { params: { numHeads: 1, shortConv: true }, examples: 2560, batch: 16, lr: 1e-2, bar: 6 * CHANCE }],
  // N 8 (based-fig2's smallest) and batch 8: more steps per second; Mamba needs steps more than batch
  ['mamba', { params: { stateDim: 8 }, examples: 2560, batch: 8, lr: 1e-2, bar: 5 * CHANCE }],
  ['rwkv', { params: {}, examples: 2560, batch: 16, lr: 1e-2, bar: 5 * CHANCE }],
];

/** The checks of these mixers (names of CASES), as one describe block. */
export function recurrentMixersLearn(names: string[]): void {
  const cases = CASES.filter(([name]) => names.includes(name));
  if (cases.length !== names.length) throw new Error(`recurrentMixersLearn: unknown mixer in ${names.join(', ')}`);
  describe('recurrent mixers learn an easy MQAR clearly above chance (wasm)', () => {
    it.each(cases)('%s', async (mixer, c) => {
      const config = resolveRunConfig({
        label: mixer,
        data: {
          task: 'mqar',
          common: { vocabSize: VOCAB, seqLen: 64, numKvPairs: 4 },
          train: [{ count: c.examples }],
          test: [{ count: 128 }],
        },
        model: { dModel: 64, nLayers: 1, layers: [{ mixer, params: c.params }], embeddingDropout: 0 },
        train: { epochs: 1, batchSize: c.batch, lr: c.lr },
        seed: 0,
      });
      const started = performance.now();
      const { record } = await runOne(config, { backend: { backend: 'wasm', device: 'test' } });
      const seconds = (performance.now() - started) / 1000;
      console.log(`${mixer}: test accuracy ${record.testAccuracy.toFixed(3)} (chance ${CHANCE.toFixed(3)}), ${record.steps} steps, ${record.msPerStep.toFixed(0)} ms/step, ${seconds.toFixed(0)} s`);
      expect(record.status).not.toBe('diverged');
      expect(record.steps).toBe(c.examples / c.batch);
      expect(record.testAccuracy, `${mixer}: test accuracy ${record.testAccuracy.toFixed(3)} vs chance ${CHANCE.toFixed(4)}`).toBeGreaterThan(c.bar);
    });
  });
}
