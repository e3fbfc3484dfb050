// BASED's Taylor feature map fused (accel/webgpu/taylorMap.ts, lever `taylorMap`) against the reference
// (ops/taylorMap/naive.ts: selection matmuls, products, a concat): φ bit for bit and dx within float32 rounding at
// f 1, 2, 5, 16, 24 and 40 and several leading shapes, with the outputs poisoned (NaN) first; one dispatch each way; the
// reference with the lever off and past TAYLOR_MAP_MAX_F; tiny BASED and JRT-RNN training steps agree with the lever
// on and off. A gradient that counts the diagonal pair once lies far outside the same bar (a kernel with that error,
// and one with a wrong pair walk, failed these tests when tried by hand). Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { TAYLOR_MAP_GRAD_KERNEL, TAYLOR_MAP_KERNEL, TAYLOR_MAP_MAX_F } from '../accel/webgpu/taylorMap.js';
import { taylorFeatureSize, taylorMap, taylorMapNaive } from '../ops/taylorMap/index.js';

const device = await webgpuDevice('webgpu-taylorMap');

let seed = 29000;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);
const BAR = 2e-6;
const SHAPES = [[1, 1], [3, 2], [2, 7, 5], [2, 1, 9, 16], [3, 40, 24], [2, 3, 40]];

describe.skipIf(!device)(`fused Taylor feature map on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('φ is the reference bit for bit and dx within rounding at every f and shape; one dispatch each way (taylorMapConst off and on)', async () => {
    for (const [shape, constOn] of [...SHAPES.map((s) => [s, false] as const), ...SHAPES.map((s) => [s, true] as const)]) {
      setFastPath({ taylorMapConst: constOn });
      const f = shape[shape.length - 1]!;
      const wide = [...shape.slice(0, -1), taylorFeatureSize(f)];
      const [x, w] = [randn(shape), randn(wide)];
      const both = (op: (t: tf.Tensor) => tf.Tensor) => [op(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), w)))(x)];
      await poison([wide, shape]);
      const before = new Map(dispatchCounts);
      const got = both(taylorMap);
      await got[1]!.data();
      expect([dispatchesSince(before, 'TaylorMap'), dispatchesSince(before, 'TaylorMapGrad')], `[${shape}]`).toEqual([2, 1]); // the value, then again under tf.grad
      const ref = both(taylorMapNaive);
      expect(got[0]!.shape).toEqual(wide);
      expect(Array.from(await got[0]!.data()), `[${shape}] φ`).toEqual(Array.from(await ref[0]!.data()));
      expect((await errors(got[1]!, ref[1]!)).rel, `[${shape}] dx`).toBeLessThan(BAR);
      tf.dispose([x, w, ...got, ...ref]);
    }
    setFastPath({ taylorMapConst: true });
  });

  it('lever taylorMapConst: the closed-form pair at every f up to TAYLOR_MAP_MAX_F — φ bit for bit, dx as the loop form', async () => {
    // every pair of every f ≤ 64 (a row of φ holds them all): the quadratic's root lands on each row of the triangle,
    // its float rounding corrected at the rows' starts; a wrong row or pair changes φ's value there
    for (let f = 1; f <= TAYLOR_MAP_MAX_F; f++) {
      const x = randn([2, f]);
      const ref = taylorMapNaive(x);
      const got = taylorMap(x);
      expect(Array.from(await got.data()), `f ${f}`).toEqual(Array.from(await ref.data()));
      tf.dispose([x, ref, got]);
    }
    // the backward with f baked in adds the same terms in the same order as with f a uniform
    for (const f of [3, 24, 64]) {
      const x = randn([5, f]);
      const w = randn([5, taylorFeatureSize(f)]);
      const grad = () => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(taylorMap(t), w)))(x);
      const on = grad();
      setFastPath({ taylorMapConst: false });
      const off = grad();
      setFastPath({ taylorMapConst: true });
      expect((await errors(on, off)).rel, `f ${f}`).toBeLessThan(BAR);
      tf.dispose([x, w, on, off]);
    }
  });

  it('the reference runs with the lever off and past TAYLOR_MAP_MAX_F', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const x = randn([2, 3]);
    expect((await kernelsOf(() => taylorMap(x))).has(TAYLOR_MAP_KERNEL)).toBe(true);
    setFastPath({ taylorMap: false });
    const off = await kernelsOf(() => tf.grad((t: tf.Tensor) => tf.sum(taylorMap(t)))(x));
    expect([off.has(TAYLOR_MAP_KERNEL), off.has(TAYLOR_MAP_GRAD_KERNEL)]).toEqual([false, false]);
    setFastPath({ taylorMap: true });
    const wideX = randn([1, TAYLOR_MAP_MAX_F + 1]);
    expect((await kernelsOf(() => taylorMap(wideX))).has(TAYLOR_MAP_KERNEL)).toBe(false);
    tf.dispose([x, wideX]);
  });

  it('the bar separates: a gradient that counts the diagonal pair once lies far outside it, the fused one within', async () => {
    // d/dx_a of c·x_a² is 2c·x_a; the same gradient with c·x_a is off by c·x_a·dφ at every a
    const f = 6;
    const x = randn([4, f]);
    const w = randn([4, taylorFeatureSize(f)]);
    const grad = (op: (t: tf.Tensor) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), w)))(x);
    const ref = grad(taylorMapNaive);
    // the diagonal pairs of row a sit at 1 + f + q(a, a); their weight once more, c_aa·x_a·w, is the missing half
    const diag = Array.from({ length: f }, (_, a) => 1 + f + a * f - (a * (a - 1)) / 2);
    const wDiag = tf.gather(w, tf.tensor1d(diag, 'int32'), 1);
    const once = tf.sub(ref, tf.mul(tf.mul(wDiag, x), 1 / (Math.SQRT2 * Math.sqrt(f))));
    expect((await errors(grad(taylorMap), ref)).rel).toBeLessThan(BAR);
    expect((await errors(once, ref)).rel).toBeGreaterThan(100 * BAR);
    tf.dispose([x, w, ref, wDiag, once]);
  });

  it('tiny BASED and JRT-RNN training steps: lever taylorMap on and off give the same loss and gradients', async () => {
    const based = await expectLeverStepAgrees('taylorMap', [{ mixer: 'based', params: { featureDim: 4 } }], { seqLen: 12, kernels: [TAYLOR_MAP_KERNEL, TAYLOR_MAP_GRAD_KERNEL], label: 'based' });
    const jrt = await expectLeverStepAgrees('taylorMap', [{ mixer: 'jrt-rnn', params: { featureDim: 4 } }], { seqLen: 12, prefixLength: 5, kernels: [TAYLOR_MAP_KERNEL, TAYLOR_MAP_GRAD_KERNEL], label: 'jrt-rnn' });
    console.log(`taylorMap lever: based loss rel ${based.lossRel.toExponential(2)}, gradients ${based.worstGradRel.toExponential(2)}; jrt-rnn ${jrt.lossRel.toExponential(2)}, ${jrt.worstGradRel.toExponential(2)}`);
  });
});
