// RWKV's token shift with its mixes fused (accel/webgpu/tokenShift.ts, lever `tokenShift`) against the reference
// (ops/tokenShift/naive.ts: pad, slice and the multiplies and adds): every mix and the gradients of x and of each μ
// within float32 rounding, in both forms (RWKV-7's, RWKV-4's) and for a stack of runs (μ [R, d]), with the outputs
// poisoned (NaN) first, for one to seven mixes (groups of three, the last group smaller), T = 1 (no previous token),
// several batch rows (the shift must not cross them) and more rows than one block of dμ's first pass; the dispatch
// count; the lever off runs the reference; tiny RWKV-7 and RWKV-4 steps agree with the lever on and off. Runs on a real GPU or on
// lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { TOKEN_SHIFT_GRAD_KERNEL, TOKEN_SHIFT_ROWS, tokenShiftKernel } from '../accel/webgpu/tokenShift.js';
import { tokenShiftMix, tokenShiftMixNaive, type TokenShiftForm } from '../ops/tokenShift/index.js';

const device = await webgpuDevice('webgpu-tokenShift');

let seed = 41000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [B, T, d, mixes, form, runs R (μ [R, d] when R > 1)]
const CASES: Array<[number, number, number, number, TokenShiftForm, number]> = [
  [1, 1, 3, 1, 'rwkv7', 1],
  [2, 5, 4, 2, 'rwkv7', 1],
  [3, 7, 10, 3, 'rwkv7', 1],
  [2, 9, 16, 6, 'rwkv7', 1], // RWKV-7's six: two groups of three
  [1, 4, 5, 7, 'rwkv7', 1], // groups of 3, 3 and 1
  [3, 100, 8, 4, 'rwkv7', 1], // 300 rows: dμ's first pass over three blocks, the last one short
  [2, 9, 16, 3, 'rwkv4', 1], // RWKV-4's three
  [1, 1, 3, 2, 'rwkv4', 1],
  [6, 50, 8, 3, 'rwkv4', 3], // a stack of 3 runs, 2 rows (100 tokens) each: its dμ blocks never cross a run
  [4, 70, 5, 4, 'rwkv7', 2], // 140 rows a run: two dμ blocks each, the second short
  [4, 70, 5, 3, 'rwkv4', 2],
];

describe.skipIf(!device)(`fused token shift on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('every mix and the gradients of x and each μ match the reference; dispatches: one forward and three backward a group of three', async () => {
    expect(TOKEN_SHIFT_ROWS).toBeLessThan(300); // the last case spans several blocks
    for (const [B, T, d, C, form, R] of CASES) {
      const x = randn([B, T, d]) as tf.Tensor3D;
      const mus = Array.from({ length: C }, () => randn(R > 1 ? [R, d] : [d]));
      const cotangents = mus.map(() => randn([B, T, d]));
      const loss = (op: typeof tokenShiftMix) => (xv: tf.Tensor, ...mv: tf.Tensor[]) =>
        tf.addN(op(xv as tf.Tensor3D, mv, form).map((y, c) => tf.sum(tf.mul(y, cotangents[c]!))));
      const all = (op: typeof tokenShiftMix) => [...op(x, mus, form), ...tf.grads(loss(op))([x, ...mus])];
      await poison(Array.from({ length: 2 * C + 1 }, () => [B, T, d]));
      const before = new Map(dispatchCounts);
      const got = all(tokenShiftMix);
      await got[got.length - 1]!.data();
      const groups = Math.ceil(C / 3);
      const label = `[${B}, ${T}, ${d}] × ${C} ${form}${R > 1 ? ` R ${R}` : ''}`;
      // the values, then again under tf.grads; each group's backward: dx, dμ's partials, dμ
      expect([dispatchesSince(before, 'TokenShift'), dispatchesSince(before, 'TokenShiftDx'), dispatchesSince(before, 'TokenShiftDmuPartials'), dispatchesSince(before, 'TokenShiftDmu')], label).toEqual([2 * groups, groups, groups, groups]);
      const ref = all(tokenShiftMixNaive);
      const names = [...mus.map((_, c) => `y${c}`), 'dx', ...mus.map((_, c) => `dμ${c}`)];
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, `${label} ${names[i]}`).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `${label} ${names[i]}`).toBeLessThan(BAR);
      }
      tf.dispose([x, ...mus, ...cotangents, ...got, ...ref]);
    }
  });

  it('the shift stays inside each sequence: the first token of every batch row mixes with zero', async () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6], [2, 3, 1]);
    const [y] = tokenShiftMix(x, [tf.tensor1d([0.5])]);
    // y_t = x_t + (x_{t−1} − x_t)/2: row 0 → 0.5, 1.5, 2.5; row 1 starts again from 0 → 2, 4.5, 5.5
    expect(Array.from(await y!.data())).toEqual([0.5, 1.5, 2.5, 2, 4.5, 5.5]);
    tf.dispose([x, y!]);
  });

  it('a run alone and a stack of one take the kernel; the lever off runs the reference', async () => {
    const kernelsOf = async (f: () => tf.Tensor[]) => new Set((await tf.profile(() => f())).kernelNames);
    const x = randn([2, 4, 3]) as tf.Tensor3D;
    const [mu, stackOfOne] = [randn([3]), randn([1, 3])];
    expect((await kernelsOf(() => tokenShiftMix(x, [mu]))).has(tokenShiftKernel(1))).toBe(true);
    expect((await kernelsOf(() => tokenShiftMix(x, [mu, stackOfOne], 'rwkv4'))).has(tokenShiftKernel(2, 'rwkv4'))).toBe(true);
    setFastPath({ tokenShift: false });
    expect((await kernelsOf(() => tokenShiftMix(x, [mu]))).has(tokenShiftKernel(1))).toBe(false);
    setFastPath({ tokenShift: true });
    tf.dispose([x, mu, stackOfOne]);
  });

  it('a tiny RWKV-7 training step: lever tokenShift on and off give the same loss and gradients', async () => {
    const result = await expectLeverStepAgrees('tokenShift', [{ mixer: 'rwkv7', params: { numHeads: 2 } }, { mixer: 'rwkv7', params: { numHeads: 2 } }], {
      seqLen: 9,
      kernels: [tokenShiftKernel(3), TOKEN_SHIFT_GRAD_KERNEL],
    });
    console.log(`tokenShift lever: rwkv7 loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
  });

  it('a tiny RWKV-4 training step: lever tokenShift on and off give the same loss and gradients', async () => {
    const result = await expectLeverStepAgrees('tokenShift', [{ mixer: 'rwkv' }, { mixer: 'rwkv' }], { seqLen: 9, kernels: [tokenShiftKernel(3, 'rwkv4'), TOKEN_SHIFT_GRAD_KERNEL] });
    console.log(`tokenShift lever: rwkv loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
  });
});
