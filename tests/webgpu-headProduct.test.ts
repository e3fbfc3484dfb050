// The fused per-head products of H3 (accel/webgpu/headProduct.ts, lever `headProduct`) against the broadcasting
// reference (ops/headProduct/naive.ts): values and gradients at head_dim 2, 3 and 4 and several lead shapes, with the
// outputs poisoned (NaN) first, one dispatch forward and one backward for each, the reference with the lever off or at
// head_dim 1; a tiny H3 training step (head_dim 2) agrees with the lever on and off. A contraction that sums the
// wrong index lies far outside the same bar (a kernel with that index swapped failed these tests when tried by hand). Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped
// without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { HEAD_CONTRACT_GRAD_KERNEL, HEAD_CONTRACT_KERNEL, HEAD_OUTER_GRAD_KERNEL, HEAD_OUTER_KERNEL } from '../accel/webgpu/headProduct.js';
import { headContract, headContractNaive, headOuter, headOuterNaive } from '../ops/headProduct/index.js';

const device = await webgpuDevice('webgpu-headProduct');

let seed = 23000;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);
const BAR = 2e-6;
// [lead…, H·P] and P: one row, H3's [B, T, d], a head of one, P 3 and 4 (loops past 2)
const CASES: Array<[number[], number]> = [
  [[1, 2], 2],
  [[2, 5, 8], 2],
  [[3, 2], 2],
  [[2, 7, 12], 3],
  [[4, 3, 16], 4],
];

describe.skipIf(!device)(`fused per-head products on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  type Product = (a: tf.Tensor, b: tf.Tensor, P: number) => tf.Tensor;
  // each product: its fused and reference forms, which inputs and output are wide ([.., H·P²]), its kernels' dispatch
  // names and what its three results are
  const PRODUCTS: Array<{ name: string; fused: Product; naive: Product; wide: [boolean, boolean, boolean]; kernels: [string, string]; results: string[] }> = [
    { name: 'headOuter', fused: headOuter, naive: headOuterNaive, wide: [false, false, true], kernels: ['HeadOuter', 'HeadOuterGrad'], results: ['kv', 'dk', 'dv'] },
    { name: 'headContract', fused: headContract, naive: headContractNaive, wide: [false, true, false], kernels: ['HeadContract', 'HeadContractGrad'], results: ['y', 'dq', 'dz'] },
  ];

  for (const { name, fused, naive, wide: [aWide, bWide, outWide], kernels, results } of PRODUCTS) {
    it(`${name}: the value and both gradients match the broadcasting reference; one dispatch each way`, async () => {
      for (const [narrow, P] of CASES) {
        const wide = [...narrow.slice(0, -1), narrow[narrow.length - 1]! * P];
        const shape = (isWide: boolean) => (isWide ? wide : narrow);
        const [a, b, w] = [randn(shape(aWide)), randn(shape(bWide)), randn(shape(outWide))];
        const f = (op: Product) => [op(a, b, P), ...tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(op(x, y, P), w)))([a, b])];
        await poison([shape(outWide), shape(aWide), shape(bWide)]);
        const before = new Map(dispatchCounts);
        const got = f(fused);
        await got[2]!.data();
        expect(kernels.map((k) => dispatchesSince(before, k)), `[${narrow}] P ${P}`).toEqual([2, 1]); // the value, then again under tf.grads
        const ref = f(naive);
        for (let i = 0; i < 3; i++) {
          expect(got[i]!.shape).toEqual(ref[i]!.shape);
          expect((await errors(got[i]!, ref[i]!)).rel, `[${narrow}] P ${P} ${results[i]}`).toBeLessThan(BAR);
        }
        tf.dispose([a, b, w, ...got, ...ref]);
      }
    });
  }

  it('the reference runs with the lever off and at head_dim 1; mismatched shapes are refused', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const [k, v] = [randn([2, 6]), randn([2, 6])];
    expect((await kernelsOf(() => headOuter(k, v, 2))).has(HEAD_OUTER_KERNEL)).toBe(true);
    expect((await kernelsOf(() => headOuter(k, v, 1))).has(HEAD_OUTER_KERNEL)).toBe(false); // P 1: the elementwise product
    setFastPath({ headProduct: false });
    const off = await kernelsOf(() => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(headContract(a, headOuter(a, b, 2), 2)))([k, v])[0]!);
    expect([HEAD_OUTER_KERNEL, HEAD_OUTER_GRAD_KERNEL, HEAD_CONTRACT_KERNEL, HEAD_CONTRACT_GRAD_KERNEL].some((n) => off.has(n))).toBe(false);
    setFastPath({ headProduct: true });
    expect(() => headOuter(k, randn([2, 4]), 2)).toThrow(/^headOuter: shapes \[2,6\] and \[2,4\] do not pair \(head_dim 2\)$/);
    expect(() => headContract(k, randn([2, 6]), 2)).toThrow(/^headContract: shapes \[2,6\] and \[2,6\] do not pair \(head_dim 2\)$/);
    expect(() => headOuter(k, v, 4)).toThrow(/^headOuter: width 6 is not a multiple of head_dim 4$/);
    tf.dispose([k, v]);
  });

  it('the bar separates: a contraction over the other index (Σ_j q_j z_ij) lies far outside it, the fused one within', async () => {
    const [q, z] = [randn([3, 8]), randn([3, 16])];
    const wrong = tf.sum(tf.mul(q.reshape([3, 4, 1, 2]), z.reshape([3, 4, 2, 2])), -1).reshape([3, 8]);
    const ref = headContractNaive(q, z, 2);
    expect((await errors(headContract(q, z, 2), ref)).rel).toBeLessThan(BAR);
    expect((await errors(wrong, ref)).rel).toBeGreaterThan(100 * BAR);
    tf.dispose([q, z, wrong, ref]);
  });

  it('a tiny H3 training step (head_dim 2): lever headProduct on and off give the same loss and gradients', async () => {
    const e = await expectLeverStepAgrees('headProduct', [{ mixer: 'h3', params: { stateDim: 8, headDim: 2 } }], { seqLen: 12, kernels: [HEAD_OUTER_KERNEL, HEAD_OUTER_GRAD_KERNEL, HEAD_CONTRACT_KERNEL, HEAD_CONTRACT_GRAD_KERNEL] });
    console.log(`headProduct lever, H3 head_dim 2: loss rel ${e.lossRel.toExponential(2)}, gradients ${e.worstGradRel.toExponential(2)}`);
  });
});
