// The fused SiLU and SiLU gate (accel/webgpu/silu.ts, lever `silu`) against the plain ops (ops/silu/naive.ts): values
// and gradients at several shapes with the outputs poisoned (NaN) first, large and small inputs (σ saturates both
// ways), one dispatch forward and one backward for each, the reference with the lever off; and tiny Mamba and
// DeltaNet training steps agree with the lever on and off. A kernel whose gradient drops the x(1 − σ) term fails the
// same bar. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { SILU_GATE_GRAD_KERNEL, SILU_GATE_KERNEL, SILU_GRAD_KERNEL, SILU_KERNEL } from '../accel/webgpu/silu.js';
import { silu, siluGate, siluGateNaive, siluNaive } from '../ops/silu/index.js';

const device = await webgpuDevice('webgpu-silu');

let seed = 17000;
// std 4: σ near 0 and near 1 as well as in between
const randn = (shape: number[], std = 4) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
const SHAPES = [[1], [3, 7], [2, 64, 128], [5, 1000]];

describe.skipIf(!device)(`fused SiLU and SiLU gate on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('silu: value and gradient match x·σ(x) at every shape; one dispatch each way; the plain ops with the lever off', async () => {
    for (const shape of SHAPES) {
      const x = randn(shape);
      const w = randn(shape, 1);
      const f = (op: (t: tf.Tensor) => tf.Tensor) => [op(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), w)))(x)];
      await poison([shape]);
      const before = new Map(dispatchCounts);
      const got = f(silu);
      await got[1]!.data();
      const ran = (n: string) => (dispatchCounts.get(n) ?? 0) - (before.get(n) ?? 0);
      expect([ran('Silu'), ran('SiluGrad')], `${shape}`).toEqual([2, 1]); // the value, then again under tf.grad
      const ref = f(siluNaive);
      for (let i = 0; i < 2; i++) expect((await errors(got[i]!, ref[i]!)).rel, `[${shape}] ${i ? 'dx' : 'y'}`).toBeLessThan(BAR);
      tf.dispose([x, w, ...got, ...ref]);
    }
    setFastPath({ silu: false });
    const kernels = new Set((await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(silu(t)))(tf.ones([4])))).kernelNames);
    expect([kernels.has(SILU_KERNEL), kernels.has(SILU_GRAD_KERNEL), kernels.has('Sigmoid')]).toEqual([false, false, true]);
    setFastPath({ silu: true });
  });

  it('siluGate: value and both gradients match y·silu(z); one dispatch each way; declines mismatched shapes', async () => {
    for (const shape of SHAPES) {
      const y = randn(shape);
      const z = randn(shape);
      const w = randn(shape, 1);
      const f = (op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => [op(y, z), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(op(a, b), w)))([y, z])];
      await poison([shape, shape]);
      const before = new Map(dispatchCounts);
      const got = f(siluGate);
      await got[2]!.data();
      const ran = (n: string) => (dispatchCounts.get(n) ?? 0) - (before.get(n) ?? 0);
      expect([ran('SiluGate'), ran('SiluGateGrad')], `${shape}`).toEqual([2, 1]);
      const ref = f(siluGateNaive);
      for (let i = 0; i < 3; i++) expect((await errors(got[i]!, ref[i]!)).rel, `[${shape}] ${['o', 'dy', 'dz'][i]}`).toBeLessThan(BAR);
      tf.dispose([y, z, w, ...got, ...ref]);
    }
    // y [2, 3] against z [3] (a broadcast): the fused form declines, the plain ops broadcast
    const kernels = new Set((await tf.profile(() => siluGate(tf.ones([2, 3]), tf.ones([3])))).kernelNames);
    expect([kernels.has(SILU_GATE_KERNEL), kernels.has(SILU_GATE_GRAD_KERNEL)]).toEqual([false, false]);
    expect(siluGate(tf.ones([2, 3]), tf.ones([3])).shape).toEqual([2, 3]);
  });

  it("mutation check: a gradient without the x(1 − σ) term fails the bar", async () => {
    const x = randn([3, 50]);
    const dropped = tf.sigmoid(x); // dσx/dx with the x(1 − σ) term dropped
    const fused = tf.grad((t: tf.Tensor) => tf.sum(silu(t)))(x);
    const ref = tf.grad((t: tf.Tensor) => tf.sum(siluNaive(t)))(x);
    expect((await errors(fused, ref)).rel).toBeLessThan(BAR);
    expect((await errors(dropped, ref)).rel).toBeGreaterThan(100 * BAR);
    tf.dispose([x, dropped, fused, ref]);
  });

  it('tiny Mamba and DeltaNet training steps: lever silu on and off give the same loss and gradients', async () => {
    const mamba = await expectLeverStepAgrees('silu', [{ mixer: 'mamba', params: { stateDim: 8 } }], { seqLen: 12, kernels: [SILU_KERNEL, SILU_GRAD_KERNEL, SILU_GATE_KERNEL, SILU_GATE_GRAD_KERNEL], label: 'mamba' });
    const delta = await expectLeverStepAgrees('silu', [{ mixer: 'deltanet' }], { seqLen: 12, kernels: [SILU_KERNEL, SILU_GRAD_KERNEL], label: 'deltanet' });
    console.log(`silu lever: mamba loss rel ${mamba.lossRel.toExponential(2)}, gradients ${mamba.worstGradRel.toExponential(2)}; deltanet ${delta.lossRel.toExponential(2)}, ${delta.worstGradRel.toExponential(2)}`);
  });
});
