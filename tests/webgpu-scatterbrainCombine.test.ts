// Scatterbrain's window and low-rank parts joined (accel/webgpu/scatterbrainCombine.ts, lever `scatterbrainCombine`)
// against the reference (ops/scatterbrainCombine/naive.ts: the sums, products, clamp and ratio in tfjs's ops): the
// output and the gradients of all five inputs within float32 rounding, outputs poisoned (NaN) first, over several
// shapes; normalisers spanning decades, and rows clamped at m (where the clamp passes no gradient to D, D_lag); one
// dispatch each way; without the lagged part, or with the lever off, the reference runs; a tiny Scatterbrain step
// agrees with the lever on and off. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`);
// skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { SCATTERBRAIN_COMBINE_GRAD_KERNEL, SCATTERBRAIN_COMBINE_KERNEL } from '../accel/webgpu/scatterbrainCombine.js';
import { scatterbrainCombine, scatterbrainCombineNaive, type CombineConstants } from '../ops/scatterbrainCombine/index.js';

const device = await webgpuDevice('webgpu-scatterbrainCombine');

let seed = 53000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [B, H, T, d_h]
const CASES: Array<[number, number, number, number]> = [
  [1, 1, 1, 1],
  [2, 1, 9, 5],
  [3, 2, 40, 16], // rows over several workgroups
  [1, 1, 70, 64],
];

/** Normalisers as the mixer's are: positive, over many decades (exponential key features), some rows ≤ m. */
function normalisers(shape: number[], clampedEvery: number): tf.Tensor4D {
  const rows = shape.reduce((x, y) => x * y, 1);
  const values = Float32Array.from({ length: rows }, (_, r) => (r % clampedEvery === clampedEvery - 1 ? 1e-30 : Math.exp(((r * 7919) % 41) - 20)));
  return tf.tensor4d(values, shape as [number, number, number, number]);
}

describe.skipIf(!device)(`fused Scatterbrain join on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('the output and the gradients of local, a, D, a_lag, D_lag match the reference; one dispatch each way', async () => {
    for (const [B, H, T, dh] of CASES) {
      const shape = [B, H, T, dh];
      const rowShape = [B, H, T, 1];
      const k: CombineConstants = { c: 1 / Math.sqrt(dh), eps: 1, minNormaliser: 1e-24 };
      const [local, g] = [randn(shape), randn(shape)] as tf.Tensor4D[];
      // every fifth row clamped: g = (1 − c)·D + c·D_lag ≤ m there. a = v·D/(D + ε), as the op's N/(D + ε) with
      // N ≈ D·v: small where D is (else the clamped ratio would overflow the gradient's sums in float32)
      const D = normalisers(rowShape, 5);
      const DLag = tf.mul(normalisers(rowShape, 5), 0.3) as tf.Tensor4D;
      const a = tf.mul(randn(shape), tf.div(D, tf.add(D, k.eps))) as tf.Tensor4D;
      const aLag = tf.mul(randn(shape), tf.div(DLag, tf.add(DLag, k.eps))) as tf.Tensor4D;
      const run = (op: typeof scatterbrainCombine) => {
        const f = (l: tf.Tensor, x: tf.Tensor, d: tf.Tensor, xl: tf.Tensor, dl: tf.Tensor) =>
          tf.sum(tf.mul(op(l as tf.Tensor4D, x as tf.Tensor4D, d as tf.Tensor4D, { a: xl as tf.Tensor4D, D: dl as tf.Tensor4D }, k), g));
        return [op(local!, a!, D, { a: aLag!, D: DLag }, k), ...tf.grads(f)([local!, a!, D, aLag!, DLag])];
      };
      await poison([shape, rowShape]);
      const before = new Map(dispatchCounts);
      const got = run(scatterbrainCombine);
      await got[got.length - 1]!.data();
      const label = `[${shape}]`;
      // the value twice (once alone, once under tf.grads), the gradient once
      expect([dispatchesSince(before, 'ScatterbrainCombine'), dispatchesSince(before, 'ScatterbrainCombineGrad')], label).toEqual([2, 1]);
      const ref = run(scatterbrainCombineNaive);
      const names = ['y', 'dlocal', 'da', 'dD', 'da_lag', 'dD_lag'];
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, `${label} ${names[i]}`).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `${label} ${names[i]}`).toBeLessThan(BAR);
      }
      // row by row too: dD and dD_lag span ~17 decades over the rows (∝ d_h / b), so an error confined to the rows of
      // large D would hide under the largest rows' size in the whole-tensor measure
      const [Dv, Lv] = [await D.data(), await DLag.data()];
      for (const i of [3, 5]) {
        const [g, r] = [await got[i]!.data(), await ref[i]!.data()];
        for (let row = 0; row < g.length; row++) {
          const b = Math.max((1 - k.c) * Dv[row]! + k.c * Lv[row]!, k.minNormaliser);
          expect(Math.abs(g[row]! - r[row]!) / Math.max(Math.abs(r[row]!), dh / b), `${label} ${names[i]} row ${row}`).toBeLessThan(2e-5);
        }
      }
      tf.dispose([local!, a!, aLag!, g!, D, DLag, ...got, ...ref]);
    }
  });

  it('a mismatched call is refused (the reference would broadcast it)', () => {
    const k: CombineConstants = { c: 0.5, eps: 1, minNormaliser: 1e-24 };
    const [x, D] = [tf.zeros([1, 1, 4, 2]), tf.ones([1, 1, 4, 1])] as tf.Tensor4D[];
    expect(() => scatterbrainCombine(x!, x!, tf.ones([1, 1, 4, 2]) as tf.Tensor4D, undefined, k)).toThrow(/scatterbrain join: .*D \[1,1,4,2\]/);
    expect(() => scatterbrainCombine(tf.zeros([1, 1, 4, 3]) as tf.Tensor4D, x!, D!, undefined, k)).toThrow(/local \[1,1,4,3\]/);
    tf.dispose([x!, D!]);
  });

  it('without the lagged part, and with the lever off, the reference runs', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const k: CombineConstants = { c: 0.25, eps: 1, minNormaliser: 1e-24 };
    const [local, a, aLag] = [randn([1, 1, 6, 4]), randn([1, 1, 6, 4]), randn([1, 1, 6, 4])] as tf.Tensor4D[];
    const D = normalisers([1, 1, 6, 1], 4);
    expect((await kernelsOf(() => scatterbrainCombine(local!, a!, D, { a: aLag!, D }, k))).has(SCATTERBRAIN_COMBINE_KERNEL)).toBe(true);
    expect((await kernelsOf(() => scatterbrainCombine(local!, a!, D, undefined, k))).has(SCATTERBRAIN_COMBINE_KERNEL)).toBe(false);
    setFastPath({ scatterbrainCombine: false });
    expect((await kernelsOf(() => scatterbrainCombine(local!, a!, D, { a: aLag!, D }, k))).has(SCATTERBRAIN_COMBINE_KERNEL)).toBe(false);
    setFastPath({ scatterbrainCombine: true });
    tf.dispose([local!, a!, aLag!, D]);
  });

  it('a tiny Scatterbrain training step: lever scatterbrainCombine on and off give the same loss and gradients', async () => {
    const result = await expectLeverStepAgrees('scatterbrainCombine', [{ mixer: 'scatterbrain', params: { windowSize: 3, featureDim: 8 } }], {
      seqLen: 9,
      kernels: [SCATTERBRAIN_COMBINE_KERNEL, SCATTERBRAIN_COMBINE_GRAD_KERNEL],
    });
    console.log(`scatterbrainCombine lever: scatterbrain loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
  });
});
