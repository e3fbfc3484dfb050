// The implicit-filter MLPs' Sin activation fused (accel/webgpu/scaledSin.ts, lever `scaledSin`) against the reference
// (ops/scaledSin/naive.ts: tf.sin of tf.mul): y, dx and dω within float32 rounding at [L, W] with ω [W] and a stack's
// [R, L, W] with ω [R, 1, W], with the outputs poisoned (NaN) first; one dispatch each way; other shapes decline to the
// reference; tiny Hyena and M2 training steps agree with the lever on and off. A dω summed over the wrong axis lies
// far outside the same bar (a kernel with its cos dropped failed these tests when tried by hand). Runs on a real GPU or
// on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { SCALED_SIN_BIAS_GRAD_KERNEL, SCALED_SIN_BIAS_KERNEL, SCALED_SIN_GRAD_KERNEL, SCALED_SIN_KERNEL } from '../accel/webgpu/scaledSin.js';
import { scaledSin, scaledSinNaive } from '../ops/scaledSin/index.js';

const device = await webgpuDevice('webgpu-scaledSin');

let seed = 31000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [x shape, ω shape]: one run, a short and a long filter; a stack of 3 runs
const CASES: Array<[number[], number[]]> = [
  [[1, 1], [1]],
  [[7, 5], [5]],
  [[300, 64], [64]],
  [[3, 20, 16], [3, 1, 16]],
  // 160 (run, column) threads: the backward over three workgroups
  [[2, 30, 80], [2, 1, 80]],
];

describe.skipIf(!device)(`fused Sin activation on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('y, dx and dω match sin(ω ⊙ x) for one run and a stack; one dispatch each way', async () => {
    for (const [xs, ws] of CASES) {
      const [x, omega, g] = [randn(xs, 2), randn(ws), randn(xs)];
      const f = (op: typeof scaledSin) => [op(x, omega), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), g)))([x, omega])];
      await poison([xs, xs, ws]);
      const before = new Map(dispatchCounts);
      const got = f(scaledSin);
      await got[2]!.data();
      expect([dispatchesSince(before, 'ScaledSin'), dispatchesSince(before, 'ScaledSinGrad')], `[${xs}]`).toEqual([2, 1]); // the value, then again under tf.grads
      const ref = f(scaledSinNaive);
      for (let i = 0; i < 3; i++) {
        expect(got[i]!.shape).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `[${xs}] ${['y', 'dx', 'dω'][i]}`).toBeLessThan(BAR);
      }
      tf.dispose([x, omega, g, ...got, ...ref]);
    }
  });

  it('other shapes and the lever off run the reference', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const [x, w3, w43, x243] = [randn([4, 3]), randn([3]), randn([4, 3]), randn([2, 4, 3])];
    expect((await kernelsOf(() => scaledSin(x, w3))).has(SCALED_SIN_KERNEL)).toBe(true);
    expect((await kernelsOf(() => scaledSin(x, w43))).has(SCALED_SIN_KERNEL)).toBe(false); // ω not per column
    expect((await kernelsOf(() => scaledSin(x243, w3))).has(SCALED_SIN_KERNEL)).toBe(false); // a stack needs [R, 1, W]
    setFastPath({ scaledSin: false });
    const off = await kernelsOf(() => tf.grad((t: tf.Tensor) => tf.sum(scaledSin(t, w3)))(x));
    expect([off.has(SCALED_SIN_KERNEL), off.has(SCALED_SIN_GRAD_KERNEL)]).toEqual([false, false]);
    setFastPath({ scaledSin: true });
    tf.dispose([x, w3, w43, x243]);
  });

  it('the bar separates: dω summed over columns instead of rows lies far outside it, the fused one within', async () => {
    const [x, omega, g] = [randn([30, 8]), randn([8]), randn([30, 8])];
    const dOmega = (op: typeof scaledSin) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), g)))([x, omega])[1]!;
    const ref = dOmega(scaledSinNaive);
    const du = tf.mul(g, tf.cos(tf.mul(omega, x)));
    const wrong = tf.sum(tf.mul(du, x), 1).slice([0], [8]); // a sum along the other axis
    const fused = dOmega(scaledSin);
    expect((await errors(fused, ref)).rel).toBeLessThan(BAR);
    expect((await errors(wrong, ref)).rel).toBeGreaterThan(100 * BAR);
    tf.dispose([x, omega, g, ref, du, wrong, fused]);
  });

  it('tiny Hyena and M2 training steps: lever scaledSin on and off give the same loss and gradients', async () => {
    setFastPath({ sinBias: false }); // the bias added before the kernels (lever sinBias off), so scaledSin alone is compared
    const hyena = await expectLeverStepAgrees('scaledSin', [{ mixer: 'hyena' }], { seqLen: 12, kernels: [SCALED_SIN_KERNEL, SCALED_SIN_GRAD_KERNEL], label: 'hyena' });
    const m2 = await expectLeverStepAgrees('scaledSin', [{ mixer: 'm2' }], { seqLen: 12, kernels: [SCALED_SIN_KERNEL, SCALED_SIN_GRAD_KERNEL], label: 'm2' });
    setFastPath({ sinBias: true });
    console.log(`scaledSin lever: hyena loss rel ${hyena.lossRel.toExponential(2)}, gradients ${hyena.worstGradRel.toExponential(2)}; m2 ${m2.lossRel.toExponential(2)}, ${m2.worstGradRel.toExponential(2)}`);
  });

  it('with the bias (lever sinBias): y, dx, dω and db match sin(ω ⊙ (x + b)) for one run and a stack; one dispatch each way', async () => {
    for (const [xs, ws] of CASES) {
      const bs = xs.length === 2 ? [xs[1]!] : [xs[0]!, xs[2]!];
      const [x, omega, bias, g] = [randn(xs, 2), randn(ws), randn(bs), randn(xs)];
      const f = (op: typeof scaledSin) => [op(x, omega, bias), ...tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(op(a, b, c), g)))([x, omega, bias])];
      await poison([xs, xs, ws, bs]);
      const before = new Map(dispatchCounts);
      const got = f(scaledSin);
      await got[3]!.data();
      expect([dispatchesSince(before, 'ScaledSinBias'), dispatchesSince(before, 'ScaledSinBiasGrad'), dispatchesSince(before, 'ScaledSin')], `[${xs}]`).toEqual([2, 1, 0]);
      const ref = f(scaledSinNaive);
      for (let i = 0; i < 4; i++) {
        expect(got[i]!.shape).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `[${xs}] ${['y', 'dx', 'dω', 'db'][i]}`).toBeLessThan(BAR);
      }
      tf.dispose([x, omega, bias, g, ...got, ...ref]);
    }
    // lever off: the bias added first, then the Sin kernel alone
    setFastPath({ sinBias: false });
    const [x, omega, bias] = [randn([5, 4]), randn([4]), randn([4])];
    const before = new Map(dispatchCounts);
    const y = scaledSin(x, omega, bias);
    await y.data();
    expect([dispatchesSince(before, 'ScaledSinBias'), dispatchesSince(before, 'ScaledSin')]).toEqual([0, 1]);
    const ref = scaledSinNaive(x, omega, bias);
    expect((await errors(y, ref)).rel).toBeLessThan(BAR);
    setFastPath({ sinBias: true });
    tf.dispose([x, omega, bias, y, ref]);
  });

  it('tiny Hyena and M2 training steps: lever sinBias on and off give the same loss and gradients', async () => {
    const kernels = [SCALED_SIN_BIAS_KERNEL, SCALED_SIN_BIAS_GRAD_KERNEL];
    const hyena = await expectLeverStepAgrees('sinBias', [{ mixer: 'hyena' }], { seqLen: 12, kernels, label: 'hyena' });
    const m2 = await expectLeverStepAgrees('sinBias', [{ mixer: 'm2' }], { seqLen: 12, kernels, label: 'm2' });
    console.log(`sinBias lever: hyena loss rel ${hyena.lossRel.toExponential(2)}, gradients ${hyena.worstGradRel.toExponential(2)}; m2 ${m2.lossRel.toExponential(2)}, ${m2.worstGradRel.toExponential(2)}`);
  });
});
