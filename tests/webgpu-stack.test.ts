// Stacked runs on WebGPU with the default fast path (engine/stack.ts; tests/stack.test.ts checks the CPU): a stacked
// step's loss and every gradient slice equal the run's step alone on the same device — dropout on, so the fused
// hashed dropout must draw each run's mask over the run's own elements, and the fused layerNorm, cross-entropy and
// AdamW must decline or serve the stacked shapes. Lavapipe after `eval "$(bash .ci/setup-webgpu.sh)"`, or a GPU.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { LanguageModel, type ModelConfig } from '../engine/model.js';
import { AdamW } from '../engine/optimizer.js';
import { stackStepLoss } from '../engine/stack.js';
import { batchesOf, stepLoss, supervised } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';
import { errors, webgpuDevice } from './webgpuKit.js';

const device = await webgpuDevice('webgpu-stack');

const config = (block: 'prenorm' | 'zoology'): ModelConfig => ({
  dModel: 16, nLayers: 2, layers: [{ mixer: 'attention', params: { numHeads: 2, dropout: 0.1 } }, { mixer: 'sliding-window', params: { windowSize: 4, dropout: 0.1 } }],
  mlp: true, positionEmbeddings: true, embeddingDropout: 0.1, residualDropout: 0.1, vocabSize: 32, maxSeqLen: 16, seed: 5, block,
}) as ModelConfig;

describe.skipIf(!device)(`stacked runs on WebGPU (${device})`, () => {
  afterAll(() => releaseGpu());

  for (const block of ['prenorm', 'zoology'] as const) {
    it(`${block}: a stack of 3 — its loss is 3× the run's, every gradient slice and every updated parameter the run's`, async () => {
      const data = buildSplits({ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 64 }], test: [{ seqLen: 16, numKvPairs: 2, count: 8 }] }, 3);
      const batch = batchesOf(data.train, 32)[1]!;
      const sup = supervised(batch.segment, batch.start, batch.size);
      // alone: loss, gradients, and the parameters after one AdamW step at lr 1e-2 (one model at a time: tfjs names)
      const one = new LanguageModel(config(block));
      const solo = tf.variableGrads(() => stepLoss(one, batch, sup, 11), one.variables);
      const names = one.variables.map((v) => v.name);
      const soloOpt = new AdamW(one.variables, { weightDecay: 0.1 });
      soloOpt.apply(names.map((n) => solo.grads[n]!), 1e-2);
      const soloAfter = one.variables.map((v) => tf.clone(v));
      soloOpt.dispose();
      one.dispose();
      // the stack: runs at lr 1e-3, 1e-2, 3e-2 — run 1's update must be the run's alone
      const three = new LanguageModel(config(block), { runs: 3 });
      try {
        const stack = tf.variableGrads(() => stackStepLoss(three, batch, sup, 11).total, three.variables);
        expect((await errors(stack.value, tf.mul(solo.value, 3))).rel).toBeLessThan(1e-5);
        const stackOpt = new AdamW(three.variables, { weightDecay: 0.1 });
        stackOpt.apply(three.variables.map((v) => stack.grads[v.name]!), [1e-3, 1e-2, 3e-2]);
        let worst = 0;
        for (const [i, name] of names.entries()) {
          const g = solo.grads[name]!;
          const s = stack.grads[three.variables[i]!.name]!;
          const sliceOf = (t: tf.Tensor, r: number) => tf.squeeze(tf.slice(t, [r, ...g.shape.map(() => 0)], [1, ...g.shape]), [0]);
          for (let r = 0; r < 3; r++) {
            const e = (await errors(sliceOf(s, r), g)).rel;
            worst = Math.max(worst, e);
            expect(e, `${name} gradient, run ${r}`).toBeLessThan(1e-5);
          }
          // Adam divides by √v̂: where a gradient is ~0 the two forms' rounding differs by a fraction of a step, so the
          // bar is 1 % of one step's size (lr 1e-2), not a relative one
          expect((await errors(sliceOf(three.variables[i]!, 1), soloAfter[i]!)).abs, `${name} after the step, run 1`).toBeLessThan(1e-4);
        }
        console.log(`webgpu stack (${block}): worst gradient slice rel error ${worst.toExponential(2)}`);
        tf.dispose([solo.value, stack.value, ...Object.values(solo.grads), ...Object.values(stack.grads), ...soloAfter]);
        stackOpt.dispose();
      } finally {
        three.dispose();
      }
    }, 120_000);
  }
});
