// The fused causal softmax of attention scores (accel/webgpu/causalSoftmax.ts, lever `causalSoftmax`) against its
// reference (ops/causalSoftmax/naive.ts: Multiply, Add of the −1e9 mask, Softmax): values and gradients at lengths
// below, at and above the workgroup's 64 threads, scores large enough that an unshifted exp overflows, outputs
// poisoned (NaN) first; exact zeros above the diagonal; one dispatch each way; the reference with the lever off; and
// causal attention's scores path (the flash form off) through it — a tiny attention model's step agrees with the
// lever on and off. The band form (lever bandSoftmax: query i sees keys i − w … i) likewise, and the sliding window's
// masked form through it. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { BAND_SOFTMAX_GRAD_KERNEL, BAND_SOFTMAX_KERNEL, bandSoftmaxWebGpu, CAUSAL_SOFTMAX_GRAD_KERNEL, CAUSAL_SOFTMAX_KERNEL, causalSoftmaxWebGpu } from '../accel/webgpu/causalSoftmax.js';
import { bandSoftmax, bandSoftmaxNaive, causalSoftmax, causalSoftmaxNaive } from '../ops/causalSoftmax/index.js';

const device = await webgpuDevice('webgpu-causalSoftmax');

let seed = 29000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [lead, T, std]: T under, at and over the 64 threads of a row's workgroup; std 30 with scale 1: exp(x) overflows unshifted
const CASES: Array<[number[], number, number]> = [[[2, 1], 1, 1], [[1, 2], 5, 1], [[2, 1], 64, 1], [[1, 1], 130, 30], [[3], 17, 4]];

describe.skipIf(!device)(`fused causal softmax on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath({ ...allLevers(true), attention: false }));
  afterAll(() => releaseGpu());

  /**
   * Value and gradient of `fast` against `naive` on [lead, T, T] scores (outputs poisoned first), one `kernel` dispatch
   * each way, exact zeros (value and gradient) outside the keys row i sees, each row summing to 1.
   */
  async function expectSoftmaxForm(label: string, lead: number[], T: number, std: number, kernel: string, fast: (t: tf.Tensor) => tf.Tensor, naive: (t: tf.Tensor) => tf.Tensor, visible: (i: number, j: number) => boolean) {
    const s = randn([...lead, T, T], std);
    const w = randn([...lead, T, T]);
    const f = (op: (t: tf.Tensor) => tf.Tensor) => [op(s), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(op(t), w)))(s)];
    await poison([[...lead, T, T]]);
    const before = new Map(dispatchCounts);
    const got = f(fast);
    await got[1]!.data();
    const ran = (n: string) => (dispatchCounts.get(n) ?? 0) - (before.get(n) ?? 0);
    expect([ran(kernel), ran(`${kernel}Grad`)], label).toEqual([2, 1]); // the value, then again under tf.grad
    const ref = f(naive);
    for (let i = 0; i < 2; i++) expect((await errors(got[i]!, ref[i]!)).rel, `${label} ${i ? 'ds' : 'y'}`).toBeLessThan(BAR);
    const [y, ds] = (await Promise.all(got.map((t) => t.data()))) as Float32Array[];
    for (let r = 0; r < y!.length / T; r++) {
      const i = r % T;
      let total = 0;
      for (let j = 0; j < T; j++) {
        if (!visible(i, j)) expect([y![r * T + j], ds![r * T + j]], `${label} row ${r} col ${j}`).toEqual([0, 0]);
        else total += y![r * T + j]!;
      }
      expect(Math.abs(total - 1), `${label} row ${r} sum`).toBeLessThan(1e-5);
    }
    tf.dispose([s, w, ...got, ...ref]);
  }

  it('value and gradient within rounding of the reference at every shape, zeros above the diagonal, one dispatch each way', async () => {
    for (const [lead, T, std] of CASES) {
      const scale = std > 10 ? 1 : 1 / Math.sqrt(8);
      await expectSoftmaxForm(`[${lead}] T ${T} std ${std}`, lead, T, std, 'CausalSoftmax', (t) => causalSoftmax(t, scale), (t) => causalSoftmaxNaive(t, scale), (i, j) => j <= i);
    }
  });

  it('declines what are not square float32 scores; the plain ops with the lever off', async () => {
    const x = randn([2, 4, 5]);
    const before = dispatchCounts.get('CausalSoftmax') ?? 0;
    const y = causalSoftmax(tf.zeros([2, 5, 5]), 1);
    expect(dispatchCounts.get('CausalSoftmax') ?? 0).toBe(before + 1);
    expect(causalSoftmaxWebGpu(x, 1)).toBeUndefined(); // keys ≠ queries: not causal scores, declined
    expect(causalSoftmaxWebGpu(tf.zeros([3, 3], 'int32'), 1)).toBeUndefined();
    setFastPath({ causalSoftmax: false });
    const kernels = new Set((await tf.profile(() => tf.grad((t: tf.Tensor) => tf.sum(causalSoftmax(t, 0.5)))(tf.ones([1, 4, 4])))).kernelNames);
    expect([kernels.has(CAUSAL_SOFTMAX_KERNEL), kernels.has(CAUSAL_SOFTMAX_GRAD_KERNEL), kernels.has('Softmax')]).toEqual([false, false, true]);
    setFastPath({ causalSoftmax: true });
    tf.dispose([x, y]);
  });

  it("a tiny attention model's training step (the flash form off): the same loss and gradients with the lever on and off", async () => {
    await expectLeverStepAgrees('causalSoftmax', [{ mixer: 'attention' }, { mixer: 'attention' }], { kernels: [CAUSAL_SOFTMAX_KERNEL, CAUSAL_SOFTMAX_GRAD_KERNEL] });
  });

  // the band form (lever bandSoftmax): [lead, T, window] — windows of 0, under, at and over the 64 threads, and one
  // past the row (every earlier key: the causal softmax's values)
  const BANDS: Array<[number[], number, number]> = [[[2, 1], 9, 0], [[1, 2], 17, 3], [[2], 130, 40], [[1], 130, 64], [[1], 130, 70], [[3], 12, 20]];
  it('band form: value and gradient within rounding of the reference, exact zeros outside the band, one dispatch each way', async () => {
    const scale = 1 / Math.sqrt(8);
    for (const [lead, T, window] of BANDS) {
      await expectSoftmaxForm(`[${lead}] T ${T} w ${window}`, lead, T, 4, 'BandSoftmax', (t) => bandSoftmax(t, scale, window), (t) => bandSoftmaxNaive(t, scale, window), (i, j) => j <= i && j >= i - window);
    }
    const z = tf.zeros([2, 4, 4]);
    expect(bandSoftmaxWebGpu(z, 1, 1.5)).toBeUndefined(); // a window that is not a whole number: declined
    z.dispose();
  });

  it("band form: a tiny sliding-window model's training step (its masked form, w 3 of T 10) the same with the lever on and off", async () => {
    await expectLeverStepAgrees('bandSoftmax', [{ mixer: 'sliding-window', params: { windowSize: 3, form: 'masked' } }, { mixer: 'sliding-window', params: { windowSize: 3, form: 'masked' } }], { kernels: [BAND_SOFTMAX_KERNEL, BAND_SOFTMAX_GRAD_KERNEL] });
  });
});
