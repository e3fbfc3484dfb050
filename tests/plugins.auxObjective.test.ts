// A plugin declares an auxiliary training objective through the one hook every mixer has (Mixer.auxObjective):
// a tiny plugin-style mixer (built by a factory of the PluginApi, registered like `--plugin`) whose objective is
// weight × mean(h²) of the model's final hidden states changes the training loss by exactly that, once per layer,
// or once per model when it names itself `shared`.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { PluginApi, Tensor2D, Tensor3D } from '../index.js';
import { initBackend } from '../engine/backend.js';
import { LanguageModel } from '../engine/model.js';
import { pluginApi } from '../engine/plugins.js';
import { registerMixer } from '../engine/registry.js';
import { batchesOf, createOptimizer, supervised, trainStep } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';

/** The plugin file's default export: a linear map, and an auxiliary objective read from the model's outputs. */
const auxProbe = ({ tf, z, defineMixer }: PluginApi) =>
  defineMixer({
    name: 'aux-probe',
    description: 'test plugin: a linear map with an auxiliary objective weight × mean(h²)',
    params: z.object({ auxWeight: z.number().min(0).default(0), shared: z.boolean().default(false) }).strict(),
    create(p, ctx, make) {
      const proj = make.linear('proj', ctx.dModel, ctx.dModel);
      return {
        forward: (x) => proj.apply(x) as Tensor3D,
        initState: () => ({}),
        step: (state, x) => ({ y: proj.apply(x) as Tensor2D, state }),
        auxObjective: () => (p.auxWeight > 0 ? { ...(p.shared ? { shared: 'aux-probe' } : {}), loss: (out) => tf.mul(tf.mean(tf.square(out.hidden)), p.auxWeight) } : undefined),
      };
    },
    stateFloats: () => ({ measured: 0, paper: 0 }),
  });

beforeAll(async () => {
  await initBackend('cpu');
  registerMixer(await auxProbe(pluginApi));
});

describe('a plugin mixer with an auxiliary objective', () => {
  const { train } = buildSplits({ task: 'mqar', common: { vocabSize: 64 }, train: [{ seqLen: 32, numKvPairs: 4, count: 16 }], test: [{ seqLen: 32, numKvPairs: 4, count: 8 }] }, 0);
  const [batch] = batchesOf(train, 16);
  const sup = supervised(batch!.segment, batch!.start, batch!.size);
  const build = (params: Record<string, unknown>) => new LanguageModel({ vocabSize: 64, dModel: 16, nLayers: 2, maxSeqLen: 32, layers: [{ mixer: 'aux-probe', params }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
  /** The first training step's loss (trainStep's value, before its update) and the aux value mean(h²) at init. */
  async function firstStep(params: Record<string, unknown>) {
    const model = build(params);
    const optimizer = createOptimizer(model, { weightDecay: 0.1 });
    const value = trainStep(model, optimizer, batch!, sup, 1e-3, 11);
    const loss = (await value.data())[0]!;
    value.dispose();
    optimizer.dispose();
    model.dispose();
    // no dropout anywhere: the eval forward of a fresh model (same seed) gives the training forward's hidden states
    const fresh = build(params);
    const T = batch!.segment.seqLen;
    const aux = tf.tidy(() => {
      const tokens = tf.tensor2d(batch!.segment.inputs.subarray(0, 16 * T), [16, T], 'int32');
      return tf.mean(tf.square(fresh.forward(tokens, { training: false, prefixLength: batch!.segment.prefixLength }))).dataSync()[0]!;
    });
    fresh.dispose();
    return { loss, aux };
  }

  it('adds exactly weight × its aux value: once per layer, once per model when shared', async () => {
    const base = await firstStep({});
    const perLayer = await firstStep({ auxWeight: 0.3 });
    const shared = await firstStep({ auxWeight: 0.3, shared: true });
    // the same parameters (the hyperparameters do not touch the init), so the same aux value
    expect(perLayer.aux).toBe(base.aux);
    expect(base.aux).toBeGreaterThan(0.9); // after the final LayerNorm (γ 1, β 0): mean(h²) ≈ 1
    expect(base.aux).toBeLessThan(1.01);
    // two layers, each its own objective: 2 × 0.3 × aux; shared: 0.3 × aux (float32 sums of numbers near 4: 2e-6)
    expect(Math.abs(perLayer.loss - base.loss - 2 * 0.3 * base.aux)).toBeLessThan(2e-6);
    expect(Math.abs(shared.loss - base.loss - 0.3 * base.aux)).toBeLessThan(2e-6);
  });
});
