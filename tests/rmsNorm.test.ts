// ops/rmsNorm on the cpu backend: the op's naive forms (the reference, and every backend's path while no fast form
// is on) are op for op the formulas the mixers inlined before the op existed — architectures/nn.ts's and
// engine/model.ts's rmsNorm, DeltaNet's / Gated DeltaNet's l2Normalize, RWKV-7's κ̂ — so values are bit-identical;
// the re-exports are the op; gradients are finite and match the closed form. The fused WebGPU form is checked
// against these in tests/webgpu-rmsNorm.test.ts.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { l2Normalize, l2NormalizeNaive, rmsNorm, rmsNormNaive, L2_NORM_EPS, RMS_NORM_EPS } from '../ops/rmsNorm/index.js';
import { rmsNorm as nnRmsNorm } from '../architectures/nn.js';
import { rmsNorm as modelRmsNorm } from '../engine/model.js';
import { randn, useBackend } from './helpers.js';

// the formulas as they were inlined (git show HEAD~ architectures/nn.ts, engine/model.ts, deltaNet.ts, rwkv7.ts)
const inlinedRmsNorm = (x: tf.Tensor, weight: tf.Tensor, eps = 1e-5) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
const inlinedL2 = (x: tf.Tensor) => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-6)));

const data = async (t: tf.Tensor) => Array.from(await t.data());

describe('ops/rmsNorm (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('the eps constants are the ones the mixers used', () => {
    expect(RMS_NORM_EPS).toBe(1e-5);
    expect(L2_NORM_EPS).toBe(1e-6);
  });

  it('nn.ts and engine/model.ts export the op itself', () => {
    expect(nnRmsNorm).toBe(rmsNorm);
    expect(modelRmsNorm).toBe(rmsNorm);
  });

  it.each([
    [[5], 1],
    [[3, 7], 2],
    [[2, 4, 64], 3],
    [[2, 3, 5, 130], 4],
  ])('values bit-identical to the inlined formulas, shape %j', async (shape, seed) => {
    const x = randn(shape, seed, 2);
    const d = shape[shape.length - 1]!;
    const w = randn([d], seed + 100);
    expect(await data(rmsNorm(x, w))).toEqual(await data(inlinedRmsNorm(x, w)));
    expect(await data(rmsNormNaive(x, w))).toEqual(await data(inlinedRmsNorm(x, w)));
    expect(await data(rmsNorm(x, w, 1e-3))).toEqual(await data(inlinedRmsNorm(x, w, 1e-3)));
    expect(await data(l2Normalize(x))).toEqual(await data(inlinedL2(x)));
    expect(await data(l2NormalizeNaive(x))).toEqual(await data(inlinedL2(x)));
    // no weight: the weight-1 values (×1 is exact)
    expect(await data(rmsNorm(x))).toEqual(await data(inlinedRmsNorm(x, tf.ones([d]))));
  });

  it('a row of zeros stays zero (eps keeps it finite)', async () => {
    const x = tf.zeros([2, 8]);
    expect(await data(rmsNorm(x, tf.ones([8])))).toEqual(new Array(16).fill(0));
    expect(await data(l2Normalize(x))).toEqual(new Array(16).fill(0));
  });

  it('gradients (x and weight) are finite, equal the inlined formulas\', and match the closed form', async () => {
    const x = randn([3, 4, 9], 7);
    const w = randn([9], 8);
    const g = randn([3, 4, 9], 9);
    const loss = (f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), g));
    const got = tf.grads(loss((a, b) => rmsNorm(a, b)))([x, w]);
    const want = tf.grads(loss(inlinedRmsNorm))([x, w]);
    const gotL2 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(l2Normalize(a), g)))(x);
    const wantL2 = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(inlinedL2(a), g)))(x);
    for (const t of [...got, gotL2]) expect((await data(t)).every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 2; i++) expect(await data(got[i]!)).toEqual(await data(want[i]!));
    expect(await data(gotL2)).toEqual(await data(wantL2));
    // the closed form the fused kernel implements (accel/webgpu/rmsNorm.ts) against tfjs's gradients of the reference
    const closed = (mean: boolean, weight?: tf.Tensor) =>
      tf.tidy(() => {
        const c = mean ? 1 / 9 : 1;
        const r = tf.rsqrt(tf.add(tf.mul(tf.sum(tf.square(x), -1, true), c), mean ? RMS_NORM_EPS : L2_NORM_EPS));
        const gw = weight ? tf.mul(g, weight) : g;
        const dx = tf.mul(r, tf.sub(gw, tf.mul(tf.mul(x, tf.mul(tf.square(r), c)), tf.sum(tf.mul(gw, x), -1, true))));
        return [dx, tf.sum(tf.mul(tf.mul(g, x), r).reshape([-1, 9]), 0)];
      });
    const rel = async (a: tf.Tensor, b: tf.Tensor) => {
      const [u, v] = [await data(a), await data(b)];
      return Math.max(...u.map((e, i) => Math.abs(e - v[i]!))) / Math.max(...v.map(Math.abs));
    };
    const [dx, dw] = closed(true, w);
    expect(await rel(dx!, got[0]!)).toBeLessThan(1e-5);
    expect(await rel(dw!, got[1]!)).toBeLessThan(1e-5);
    expect(await rel(closed(false)[0]!, gotL2)).toBeLessThan(1e-5);
  });
});
