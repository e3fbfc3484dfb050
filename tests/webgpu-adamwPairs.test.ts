// Lever adamwPairs (accel/webgpu/adamw.ts): two parameters a dispatch. Same bits as one parameter a dispatch (the
// lever off, itself tested against the reference in webgpu-kernels.test.ts), in ⌈P/2⌉ dispatches for P parameters,
// and a whole training step of a model the same with it on and off. Runs on lavapipe (.ci/setup-webgpu.sh).
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { AdamW } from '../engine/optimizer.js';
import { LanguageModel } from '../engine/model.js';
import { batchesOf, createOptimizer, supervised, trainStep } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';
import { adamwPairForms, adamWWebGpu } from '../accel/webgpu/adamw.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { setFastPath } from '../accel/webgpu/index.js';
import { webgpuDevice } from './webgpuKit.js';

const device = await webgpuDevice('webgpu-adamwPairs');

let seed = 9100;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

/**
 * Five parameters: a vec4 pair ([8, 4] and [16]), a scalar pair ([7] — not whole vec4s — and [3, 5], with [12]
 * between them in the list: whole vec4s pair with each other) and [12] left alone; the second of the scalar pair
 * without weight decay, so the two halves' decay factors differ.
 */
const SHAPES = [[8, 4], [7], [16], [3, 5], [12]];
const decays = (v: tf.Variable) => !v.name.startsWith('p3_'); // [3, 5]

/** `steps` AdamW updates of copies of `init` with adamwPairs on or off; the parameters and moments after, and the dispatches a step. */
async function train(pairs: boolean, init: tf.Tensor[], grads: tf.Tensor[][]): Promise<{ values: Float32Array[]; perStep: number; pairForms: { vec4: number; scalar: number } }> {
  const vars = init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `p${i}_${pairs}_${seed++}`)));
  const opt = new AdamW(vars, { weightDecay: 0.1, decays });
  setFastPath({ adamw: true, adamwPairs: pairs });
  const before = dispatchCounts.get('AdamW') ?? 0;
  const formsBefore = { ...adamwPairForms };
  for (const [step, g] of grads.entries()) {
    opt.stepCount += 1;
    const t = opt.stepCount;
    const weightDecays = vars.map((v) => (decays(v) ? 0.1 : 0));
    expect(adamWWebGpu(vars, opt.m, opt.v, g, { lr: 1e-2 * (step + 1), beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 1 - 0.9 ** t, c2: 1 - 0.999 ** t, weightDecays })).toBe(true);
  }
  const perStep = ((dispatchCounts.get('AdamW') ?? 0) - before) / grads.length;
  const pairForms = { vec4: (adamwPairForms.vec4 - formsBefore.vec4) / grads.length, scalar: (adamwPairForms.scalar - formsBefore.scalar) / grads.length };
  const values = await Promise.all([...vars, ...opt.m, ...opt.v].map((t) => t.data() as Promise<Float32Array>));
  opt.dispose();
  vars.forEach((v) => v.dispose());
  return { values, perStep, pairForms };
}

describe.skipIf(!device)('lever adamwPairs: two parameters a dispatch', () => {
  afterAll(() => {
    setFastPath({ adamwPairs: false });
    releaseGpu();
  });

  it('the same bits as one parameter a dispatch, for a vec4 pair, a scalar pair and one alone, in 3 dispatches a step for 5', async () => {
    const init = SHAPES.map((s) => randn(s));
    const grads = [0, 1, 2].map(() => SHAPES.map((s) => randn(s, 0.5)));
    const single = await train(false, init, grads);
    const paired = await train(true, init, grads);
    expect(single.perStep).toBe(5);
    expect(paired.perStep).toBe(3);
    expect(paired.pairForms).toEqual({ vec4: 1, scalar: 1 }); // [8, 4] with [16] as vec4s, not with [7] as scalars
    expect(single.pairForms).toEqual({ vec4: 0, scalar: 0 });
    expect(paired.values.length).toBe(15);
    for (const [i, got] of paired.values.entries()) {
      expect(Array.from(got), `tensor ${i} (parameters, then m, then v)`).toEqual(Array.from(single.values[i]!));
    }
    // and the parameters moved (a kernel that wrote nothing would match a single form that wrote nothing too)
    const start = await Promise.all(init.map((t) => t.data()));
    for (const [i, s] of start.entries()) expect(Math.max(...Array.from(s).map((x, j) => Math.abs(x - single.values[i]![j]!)))).toBeGreaterThan(1e-3);
    tf.dispose([...init, ...grads.flat()]);
  });

  it('a training step of a model: the same loss and parameters with it on and off, half the AdamW dispatches', async () => {
    const { train } = buildSplits({ task: 'mqar', common: { vocabSize: 64 }, train: [{ seqLen: 32, numKvPairs: 4, count: 8 }], test: [{ seqLen: 32, numKvPairs: 4, count: 8 }] }, 0);
    const [batch] = batchesOf(train, 8);
    const sup = supervised(batch!.segment, batch!.start, batch!.size);
    const after: Float32Array[][] = [];
    const losses: number[] = [];
    let vec4Params = 0;
    let otherParams = 0;
    const dispatchesPerStep: number[] = [];
    for (const pairs of [false, true]) {
      setFastPath({ adamw: true, adamwPairs: pairs });
      const model = new LanguageModel({ vocabSize: 64, dModel: 16, nLayers: 2, maxSeqLen: 32, layers: [{ mixer: 'attention', params: { numHeads: 2 } }, { mixer: 'based', params: { featureDim: 4 } }], positionEmbeddings: true, mlp: true, embeddingDropout: 0, residualDropout: 0, seed: 5 });
      const opt = createOptimizer(model, { weightDecay: 0.1 });
      const before = dispatchCounts.get('AdamW') ?? 0;
      for (let step = 0; step < 2; step++) {
        const loss = trainStep(model, opt, batch!, sup, 3e-3, step + 1);
        losses.push((await loss.data())[0]!);
        loss.dispose();
      }
      dispatchesPerStep.push(((dispatchCounts.get('AdamW') ?? 0) - before) / 2);
      after.push(await Promise.all(model.variables.map((v) => v.data() as Promise<Float32Array>)));
      if (!pairs) expect(dispatchesPerStep[0]).toBe(model.variables.length);
      vec4Params = model.variables.filter((v) => v.size % 4 === 0).length;
      otherParams = model.variables.length - vec4Params;
      opt.dispose();
      model.dispose();
    }
    expect(vec4Params).toBeGreaterThan(1); // (at d 16 every parameter is whole vec4s: the mixed case is the test above)
    expect(dispatchesPerStep[1]).toBe(Math.ceil(vec4Params / 2) + Math.ceil(otherParams / 2));
    expect(losses.slice(2)).toEqual(losses.slice(0, 2));
    expect(after[1]!.length).toBe(after[0]!.length);
    for (const [i, got] of after[1]!.entries()) expect(Array.from(got), `parameter ${i}`).toEqual(Array.from(after[0]![i]!));
  });
});
