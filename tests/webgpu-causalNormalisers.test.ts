// Linear attention's causal normalisers fused (accel/webgpu/causalNormalisers.ts, lever `causalNormalisers`) against
// the reference (ops/causalNormalisers/naive.ts: exclusive cumsum with its transposes, the shift's pad and slice,
// products and sums): D, D^lag and the gradients of φq and φk within float32 rounding, outputs poisoned (NaN) first,
// at lags from 1 to T − 1 and several shapes; two kernel dispatches forward and two backward; a lag past the sequence,
// and the lever off, run the reference; a tiny Scatterbrain step agrees with the lever on and off. Runs on a real GPU
// or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { CAUSAL_NORMALISERS_GRAD_KERNEL, CAUSAL_NORMALISERS_KERNEL } from '../accel/webgpu/causalNormalisers.js';
import { causalNormalisers, causalNormalisersNaive } from '../ops/causalNormalisers/index.js';

const device = await webgpuDevice('webgpu-causalNormalisers');

let seed = 54000;
// positive features, as the Performer's are
const features = (shape: number[]) => tf.exp(tf.randomNormal(shape, 0, 1, 'float32', seed++));
const BAR = 2e-6;
// [B, H, T, F, lag]
const CASES: Array<[number, number, number, number, number]> = [
  [1, 1, 2, 1, 1],
  [2, 1, 9, 5, 4],
  [3, 2, 40, 24, 17], // the mixer's default f 24; sequences over several workgroups
  [1, 1, 70, 32, 69], // only the last token reaches back
];

describe.skipIf(!device)(`fused causal normalisers on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('D, D^lag and the gradients of φq, φk match the reference; two dispatches each way', async () => {
    for (const [B, H, T, F, lag] of CASES) {
      const shape = [B, H, T, F];
      const [q, k] = [features(shape), features(shape)] as tf.Tensor4D[];
      const [gD, gL] = [tf.randomNormal([B, H, T, 1], 0, 1, 'float32', seed++), tf.randomNormal([B, H, T, 1], 0, 1, 'float32', seed++)];
      const run = (op: typeof causalNormalisers) => {
        const value = op(q!, k!, lag);
        const f = (a: tf.Tensor, b: tf.Tensor) => {
          const n = op(a as tf.Tensor4D, b as tf.Tensor4D, lag);
          return tf.add(tf.sum(tf.mul(n.D, gD)), tf.sum(tf.mul(n.lagged!, gL)));
        };
        return [value.D, value.lagged!, ...tf.grads(f)([q!, k!])];
      };
      await poison([shape, [B, H, T, 2]]);
      const before = new Map(dispatchCounts);
      const got = run(causalNormalisers);
      await got[got.length - 1]!.data();
      const label = `[${shape}] lag ${lag}`;
      // the forward twice (alone, and under tf.grads), the gradient once
      expect([dispatchesSince(before, 'CausalNormalisersPrefix'), dispatchesSince(before, 'CausalNormalisers'), dispatchesSince(before, 'CausalNormalisersGradQ'), dispatchesSince(before, 'CausalNormalisersGradK')], label).toEqual([2, 2, 1, 1]);
      const ref = run(causalNormalisersNaive);
      const names = ['D', 'D^lag', 'dφq', 'dφk'];
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, `${label} ${names[i]}`).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `${label} ${names[i]}`).toBeLessThan(BAR);
      }
      // before the lag, nothing reaches back
      expect(Array.from((await got[1]!.data()).slice(0, Math.min(lag, T))).every((x) => x === 0), `${label}: D^lag before the lag`).toBe(true);
      tf.dispose([q!, k!, gD, gL, ...got, ...ref]);
    }
  });

  it('a lag past the sequence, and the lever off, run the reference', async () => {
    const kernelsOf = async (f: () => tf.Tensor) => new Set((await tf.profile(f)).kernelNames);
    const [q, k] = [features([1, 1, 6, 3]), features([1, 1, 6, 3])] as tf.Tensor4D[];
    expect((await kernelsOf(() => causalNormalisers(q!, k!, 2).D)).has(CAUSAL_NORMALISERS_KERNEL)).toBe(true);
    const past = causalNormalisers(q!, k!, 6);
    expect(past.lagged).toBeUndefined();
    expect((await kernelsOf(() => causalNormalisers(q!, k!, 6).D)).has(CAUSAL_NORMALISERS_KERNEL)).toBe(false);
    setFastPath({ causalNormalisers: false });
    expect((await kernelsOf(() => causalNormalisers(q!, k!, 2).D)).has(CAUSAL_NORMALISERS_KERNEL)).toBe(false);
    setFastPath({ causalNormalisers: true });
    expect(() => causalNormalisers(q!, k!, 0)).toThrow(/lag 0 is not a whole number ≥ 1/);
    tf.dispose([q!, k!, past.D]);
  });

  it('a tiny Scatterbrain training step: lever causalNormalisers on and off give the same loss and gradients', async () => {
    const result = await expectLeverStepAgrees('causalNormalisers', [{ mixer: 'scatterbrain', params: { windowSize: 3, featureDim: 8 } }], {
      seqLen: 9,
      kernels: [CAUSAL_NORMALISERS_KERNEL, CAUSAL_NORMALISERS_GRAD_KERNEL],
    });
    console.log(`causalNormalisers lever: scatterbrain loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
  });
});
