// The short MQAR training check of the recurrent and issue-15 mixers (tests/recurrentMixersTrain.ts,
// tests/*.train.test.ts): an easy MQAR (L 64, 4 key-value pairs, V 128, d 64, one layer unless a case puts layers
// before it, one epoch) through the project's own training path (resolveRunConfig + runOne) on wasm.
// Chance = 1/(V/2) ≈ 0.016, a uniform guess among the value tokens.
import { expect } from 'vitest';
import { resolveRunConfig, runOne } from '../runners/run.js';

export const VOCAB = 128;
export const CHANCE = 1 / (VOCAB / 2);

export interface MqarCase {
  params: Record<string, unknown>;
  /** training examples (one epoch: steps = examples / batch) */
  examples: number;
  batch: number;
  lr: number;
  /** test accuracy it must beat */
  bar: number;
  /** layers before the mixer under test (the BASED recipe's short BaseConv for attention-like mixers); none: one layer */
  before?: { mixer: string; params?: Record<string, unknown> }[];
}

/** Train one case and assert it beats its bar; returns the test accuracy. Call after useBackend('wasm'). */
export async function mqarCheck(mixer: string, c: MqarCase): Promise<number> {
  const config = resolveRunConfig({
    label: mixer,
    data: {
      task: 'mqar',
      common: { vocabSize: VOCAB, seqLen: 64, numKvPairs: 4 },
      train: [{ count: c.examples }],
      test: [{ count: 128 }],
    },
    model: { dModel: 64, nLayers: 1 + (c.before?.length ?? 0), layers: [...(c.before ?? []), { mixer, params: c.params }], embeddingDropout: 0 },
    train: { epochs: 1, batchSize: c.batch, lr: c.lr },
    seed: 0,
  });
  const started = performance.now();
  const { record } = await runOne(config, { backend: { backend: 'wasm', device: 'test' } });
  const seconds = (performance.now() - started) / 1000;
  console.log(`${mixer} ${JSON.stringify(c.params)}: test accuracy ${record.testAccuracy.toFixed(3)} (chance ${CHANCE.toFixed(3)}), ${record.steps} steps, ${record.msPerStep.toFixed(0)} ms/step, ${seconds.toFixed(0)} s`);
  expect(record.status).not.toBe('diverged');
  expect(record.steps).toBe(c.examples / c.batch);
  expect(record.testAccuracy, `${mixer}: test accuracy ${record.testAccuracy.toFixed(3)} vs chance ${CHANCE.toFixed(4)}`).toBeGreaterThan(c.bar);
  return record.testAccuracy;
}
