// ops/scan/: the parallel diagonal scan against the per-step reference (forward and gradients),
// a finite-difference check of its custom gradient, and its numerical range.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { scan, scanNaive, scanParallel } from '../ops/scan/index.js';
import { randn, relativeError, useBackend, worstFiniteDifference } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

/** a ∈ (0, 1): sigmoid of a normal draw (spread so that some decays are near 0 and some near 1). */
function decays(shape: number[], seed: number): tf.Tensor {
  return tf.sigmoid(randn(shape, seed, 2.5));
}

/** L = Σ h ⊙ w for a fixed random w, and its gradients with respect to a and b. */
function lossAndGrads(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, a: tf.Tensor, b: tf.Tensor, w: tf.Tensor) {
  const g = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(f(x, y), w)));
  const [da, db] = g([a, b]);
  return { loss: tf.sum(tf.mul(f(a, b), w)), da: da!, db: db! };
}

describe('scan (parallel diagonal recurrence)', () => {
  it('computes h_t = a_t h_{t−1} + b_t: a hand-checked case', async () => {
    // a = [0.5, 0.5, 0.25], b = [1, 2, 4] → h = [1, 2.5, 4.625]
    const a = tf.tensor3d([0.5, 0.5, 0.25], [1, 3, 1]);
    const b = tf.tensor3d([1, 2, 4], [1, 3, 1]);
    expect(Array.from(await scan(a, b).data())).toEqual([1, 2.5, 4.625]);
  });

  it.each([1, 2, 3, 7, 8, 16, 33])('matches the per-step reference in value and gradient at T = %i', async (T) => {
    const shape = [2, T, 3, 4];
    const a = decays(shape, 10 + T);
    const b = randn(shape, 20 + T);
    const w = randn(shape, 30 + T);
    expect(await relativeError(scan(a, b), scanNaive(a, b))).toBeLessThan(1e-5);
    const fast = lossAndGrads(scan, a, b, w);
    const ref = lossAndGrads(scanNaive, a, b, w);
    expect(await relativeError(fast.da, ref.da)).toBeLessThan(1e-4);
    expect(await relativeError(fast.db, ref.db)).toBeLessThan(1e-4);
    // the gradient is not trivially zero (at T = 1, a_0 multiplies h_{−1} = 0: its gradient is exactly 0)
    if (T > 1) expect(tf.norm(fast.da).dataSync()[0]!).toBeGreaterThan(1e-3);
    else expect(tf.norm(fast.da).dataSync()[0]!).toBe(0);
  });

  it('broadcasts a over trailing axes (GLA: a [.., d_k, 1], b [.., d_k, d_v]) and sums its gradient back', async () => {
    const a = decays([2, 9, 3, 1], 41);
    const b = randn([2, 9, 3, 5], 42);
    const w = randn([2, 9, 3, 5], 43);
    const aFull = tf.broadcastTo(a, [2, 9, 3, 5]);
    expect(await relativeError(scan(a, b), scanNaive(aFull, b))).toBeLessThan(1e-5);
    const fast = lossAndGrads(scan, a, b, w);
    const ref = lossAndGrads((x, y) => scanNaive(tf.broadcastTo(x, [2, 9, 3, 5]), y), a, b, w);
    expect(fast.da.shape).toEqual([2, 9, 3, 1]);
    expect(await relativeError(fast.da, ref.da)).toBeLessThan(1e-4);
    expect(await relativeError(fast.db, ref.db)).toBeLessThan(1e-4);
  });

  it('has the right gradient by finite differences (cpu, float32)', async () => {
    const shape = [1, 6, 2];
    const a = decays(shape, 51);
    const b = randn(shape, 52);
    const w = randn(shape, 53);
    const { da, db } = lossAndGrads(scan, a, b, w);
    const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(scanParallel(x, y), w));
    expect(await worstFiniteDifference(a, da, (x) => loss(x, b), 1e-2)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(b, db, (y) => loss(a, y), 1e-2)).toBeLessThan(1e-2);
  });

  it('stays finite and exact over long sequences with tiny and unit decays (no log-space ratios)', async () => {
    const T = 300;
    // decays spanning e^-60 … 1, including exact zeros and ones
    const logA = tf.mul(tf.abs(randn([1, T, 4], 61)), -20);
    const a = tf.concat([tf.exp(logA), tf.zeros([1, T, 1]), tf.ones([1, T, 1])], 2);
    const b = randn([1, T, 6], 62);
    const h = scan(a, b);
    const values = await h.data();
    expect(values.every(Number.isFinite)).toBe(true);
    expect(await relativeError(h, scanNaive(a, b))).toBeLessThan(1e-5);
    // a ≡ 1 is a cumulative sum; a ≡ 0 gives back b
    expect(await relativeError(h.slice([0, 0, 5], [1, T, 1]), tf.cumsum(b.slice([0, 0, 5], [1, T, 1]), 1))).toBeLessThan(1e-5);
    expect(await relativeError(h.slice([0, 0, 4], [1, T, 1]), b.slice([0, 0, 4], [1, T, 1]))).toBe(0);
  });

  it('rejects mismatched shapes', () => {
    expect(() => scan(tf.ones([1, 4, 2]), tf.ones([1, 5, 2]))).toThrow(/length/);
    expect(() => scan(tf.ones([1, 4, 3]), tf.ones([1, 4, 2]))).toThrow(/broadcast/);
  });
});
