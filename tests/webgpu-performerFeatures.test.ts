// Scatterbrain's Performer features fused (accel/webgpu/performerFeatures.ts, lever `performerFeatures`) against the
// reference (ops/performerFeatures/naive.ts: concat, negation, max, exponentials, squares and sums): the query and key
// features and the gradients of their inputs within float32 rounding, outputs poisoned (NaN) first, over several row
// counts and widths, including a row whose maximum is tied (the max's gradient goes to every tied entry, as tfjs's);
// one dispatch each way; other inputs decline; a tiny Scatterbrain step agrees with the lever on and off. Runs on a
// real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { PERFORMER_KEY_GRAD_KERNEL, PERFORMER_KEY_KERNEL, PERFORMER_MAX_HALF, PERFORMER_QUERY_GRAD_KERNEL, PERFORMER_QUERY_KERNEL } from '../accel/webgpu/performerFeatures.js';
import { performerKeyFeatures, performerKeyFeaturesNaive, performerQueryFeatures, performerQueryFeaturesNaive } from '../ops/performerFeatures/index.js';

const device = await webgpuDevice('webgpu-performerFeatures');

let seed = 52000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [rows N, h = f/2, d_h]
const CASES: Array<[number, number, number]> = [
  [1, 1, 1],
  [7, 4, 3],
  [130, 12, 16], // the mixer's default f 24; rows over three workgroups
  [33, 32, 64],
];

describe.skipIf(!device)(`fused Performer features on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('query and key features and the gradients of dash and x\' match the reference; one dispatch each way', async () => {
    for (const [N, h, dh] of CASES) {
      const xs = randn([N, dh], 0.5) as tf.Tensor2D;
      const dash = randn([N, h], 2) as tf.Tensor2D;
      const g = randn([N, 2 * h]);
      const shift = 0.5 * Math.log(2 * h) + 0.3;
      const eps = 1e-4 / Math.sqrt(2 * h);
      const query = (op: typeof performerQueryFeatures) => [op(dash, eps), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor2D, eps), g)))(dash)];
      const key = (op: typeof performerKeyFeatures) => [op(dash, xs, shift), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor2D, b as tf.Tensor2D, shift), g)))([dash, xs])];
      await poison([[N, 2 * h], [N, h], [N, dh]]);
      const before = new Map(dispatchCounts);
      const got = [...query(performerQueryFeatures), ...key(performerKeyFeatures)];
      await got[got.length - 1]!.data();
      const label = `[${N}, ${h}] d_h ${dh}`;
      expect([dispatchesSince(before, 'PerformerQuery'), dispatchesSince(before, 'PerformerQueryGrad'), dispatchesSince(before, 'PerformerKey'), dispatchesSince(before, 'PerformerKeyGrad')], label).toEqual([2, 1, 2, 1]);
      const ref = [...query(performerQueryFeaturesNaive), ...key(performerKeyFeaturesNaive)];
      const names = ['φq', 'dφq/ddash', 'φk', 'dφk/ddash', "dφk/dx'"];
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, `${label} ${names[i]}`).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `${label} ${names[i]}`).toBeLessThan(BAR);
      }
      tf.dispose([xs, dash, g, ...got, ...ref]);
    }
  });

  it("a tied maximum: the max's gradient reaches every tied entry, as tfjs's", async () => {
    // row 0: u = [2, −1, −2, 1] has one max; row 1: dash [2, −2] gives u = [2, −2, −2, 2], the max 2 twice
    const dash = tf.tensor2d([2, -1, 2, -2], [2, 2]);
    const g = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]);
    const grad = (op: typeof performerQueryFeatures) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a as tf.Tensor2D, 0.01), g)))(dash);
    let got!: tf.Tensor;
    const ran = new Set((await tf.profile(() => (got = grad(performerQueryFeatures)))).kernelNames);
    expect(ran.has(PERFORMER_QUERY_GRAD_KERNEL)).toBe(true); // the fused gradient, not the reference twice
    const ref = grad(performerQueryFeaturesNaive);
    expect((await errors(got, ref)).rel).toBeLessThan(BAR);
    tf.dispose([dash, g, got, ref]);
  });

  it('other inputs and the lever off run the reference', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const [dash, wide, xs] = [randn([4, 3]), randn([2, PERFORMER_MAX_HALF + 1]), randn([4, 5])] as tf.Tensor2D[];
    expect((await kernelsOf(() => performerQueryFeatures(dash!, 0.01))).has(PERFORMER_QUERY_KERNEL)).toBe(true);
    expect((await kernelsOf(() => performerKeyFeatures(dash!, xs!, 1))).has(PERFORMER_KEY_KERNEL)).toBe(true);
    expect((await kernelsOf(() => performerQueryFeatures(wide!, 0.01))).has(PERFORMER_QUERY_KERNEL)).toBe(false); // past h's limit
    expect((await kernelsOf(() => performerKeyFeatures(wide!, randn([2, 5]) as tf.Tensor2D, 1))).has(PERFORMER_KEY_KERNEL)).toBe(false); // and for keys
    setFastPath({ performerFeatures: false });
    expect((await kernelsOf(() => performerQueryFeatures(dash!, 0.01))).has(PERFORMER_QUERY_KERNEL)).toBe(false);
    setFastPath({ performerFeatures: true });
    tf.dispose([dash!, wide!, xs!]);
  });

  it('a tiny Scatterbrain training step: lever performerFeatures on and off give the same loss and gradients', async () => {
    const result = await expectLeverStepAgrees('performerFeatures', [{ mixer: 'scatterbrain', params: { windowSize: 3, featureDim: 8 } }], {
      seqLen: 9,
      kernels: [PERFORMER_QUERY_KERNEL, PERFORMER_QUERY_GRAD_KERNEL, PERFORMER_KEY_KERNEL, PERFORMER_KEY_GRAD_KERNEL],
    });
    console.log(`performerFeatures lever: scatterbrain loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
  });
});
