// Feature maps: each against its defining identity (Taylor's 1 + s + s²/2, cosFormer's cos(π/2·(i−j)/M)
// decomposition, Performer's formula and orthogonal projection, Hedgehog's softmax at identity init).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cosformerFeatures, createFeatureMaps, featureSize, hedgehogFeatures, orthogonalGaussian, performerFeatures, taylorFeatures, taylorFeatureSize } from '../architectures/featureMaps.js';
import { ParamStore } from '../engine/params.js';
import { randn, relativeError, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

describe('Taylor feature map (BASED)', () => {
  it.each([1, 2, 5, 16])('f=%i: exactly 1 + f + f(f+1)/2 features and φ(q)·φ(k) = 1 + s + s²/2, s = q·k/√f', async (f) => {
    expect(taylorFeatureSize(f)).toBe(1 + f + (f * (f + 1)) / 2);
    const q = randn([7, f], 1, 1.5);
    const k = randn([7, f], 2, 1.5);
    const phiQ = taylorFeatures(q);
    const phiK = taylorFeatures(k);
    expect(phiQ.shape).toEqual([7, taylorFeatureSize(f)]);
    const dot = tf.sum(tf.mul(phiQ, phiK), 1);
    const s = tf.div(tf.sum(tf.mul(q, k), 1), Math.sqrt(f));
    const expected = tf.add(tf.add(1, s), tf.div(tf.square(s), 2));
    expect(await relativeError(dot, expected)).toBeLessThan(1e-5);
  });

  it('keeps leading dimensions and matches the full (f²) BASED map on inner products', async () => {
    const f = 4;
    const x = randn([2, 3, 5, f], 3);
    const y = randn([2, 3, 5, f], 4);
    const full = (t: tf.Tensor) => {
      // zoology TaylorExp.forward: [1, x/f^{1/4}, vec(x xᵀ)/(√2·√f)]
      const outer = tf.mul(t.expandDims(-1), t.expandDims(-2)).reshape([2, 3, 5, f * f]);
      return tf.concat([tf.onesLike(t.slice([0, 0, 0, 0], [2, 3, 5, 1])), tf.div(t, Math.pow(f, 0.25)), tf.div(outer, Math.SQRT2 * Math.sqrt(f))], -1);
    };
    const ours = tf.sum(tf.mul(taylorFeatures(x), taylorFeatures(y)), -1);
    const theirs = tf.sum(tf.mul(full(x), full(y)), -1);
    expect(taylorFeatures(x).shape).toEqual([2, 3, 5, 15]);
    expect(await relativeError(ours, theirs)).toBeLessThan(1e-5);
  });
});

describe('Performer random features', () => {
  it('zoology orthogonal_gaussian: orthonormal rows inside each d×d block, scaled by 1/√(m/d); deterministic per seed', () => {
    const [m, d] = [10, 4];
    const w = orthogonalGaussian(m, d, 7);
    expect(Array.from(w)).toEqual(Array.from(orthogonalGaussian(m, d, 7)));
    expect(Array.from(w)).not.toEqual(Array.from(orthogonalGaussian(m, d, 8)));
    const scale = 1 / Math.sqrt(Math.floor(m / d) + (m % d) / d);
    const row = (i: number) => Array.from(w.subarray(i * d, (i + 1) * d));
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    for (let block = 0; block < Math.ceil(m / d); block++)
      for (let i = block * d; i < Math.min(m, (block + 1) * d); i++)
        for (let j = block * d; j < Math.min(m, (block + 1) * d); j++) expect(dot(row(i), row(j))).toBeCloseTo(i === j ? scale * scale : 0, 5);
  });

  it('φ(x) = exp(ω x′ − |x′|²/2)/√m with x′ = x/f^{1/4}, and φ(q)·φ(k) estimates exp(q·k/√f) up to zoology\'s row scale', async () => {
    const [m, f] = [6, 3];
    const omega = orthogonalGaussian(m, f, 3);
    const x = randn([5, f], 9);
    const phi = performerFeatures(x, tf.tensor2d(omega, [m, f]).transpose());
    const xs = (await x.array()) as number[][];
    const got = (await phi.array()) as number[][];
    for (let n = 0; n < 5; n++) {
      const xp = xs[n]!.map((v) => v / Math.pow(f, 0.25));
      const half = xp.reduce((s, v) => s + v * v, 0) / 2;
      for (let r = 0; r < m; r++) {
        const proj = xp.reduce((s, v, i) => s + v * omega[r * f + i]!, 0);
        expect(got[n]![r]!).toBeCloseTo(Math.exp(proj - half) / Math.sqrt(m), 5);
      }
    }
  });

  it('uses one fixed projection for queries and keys, and no trainable parameter', () => {
    const store = new ParamStore(1, 2);
    const maps = createFeatureMaps('performer', { featureDim: 4, numHeads: 2, randomFeatures: 8, maxSeqLen: 16 }, store.scope('p'));
    expect(maps.q).toBe(maps.k);
    expect(maps.q.size).toBe(8);
    expect(store.variables.length).toBe(0);
    store.dispose();
  });
});

describe('CosFormer', () => {
  it('φ(q_i)·φ(k_j) = relu(q_i)·relu(k_j)·cos(π/2·(i−j)/M), positions given by the offset', async () => {
    const [T, f, M] = [6, 3, 20];
    const q = randn([1, 1, T, f], 5) as tf.Tensor4D;
    const k = randn([1, 1, T, f], 6) as tf.Tensor4D;
    const offset = 4;
    const scores = (await tf.matMul(cosformerFeatures(q, offset, M), cosformerFeatures(k, offset, M), false, true).array()) as number[][][][];
    const rq = (await tf.relu(q).array()) as number[][][][];
    const rk = (await tf.relu(k).array()) as number[][][][];
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) {
        const dot = rq[0]![0]![i]!.reduce((s, v, c) => s + v * rk[0]![0]![j]![c]!, 0);
        expect(scores[0]![0]![i]![j]!).toBeCloseTo(dot * Math.cos(((Math.PI / 2) * (i - j)) / M), 5);
      }
    // the step view's single position equals the same row of the parallel form
    const row = cosformerFeatures(q.slice([0, 0, 2, 0], [1, 1, 1, f]), offset + 2, M);
    expect(await relativeError(row, cosformerFeatures(q, offset, M).slice([0, 0, 2, 0], [1, 1, 1, 2 * f]))).toBeLessThan(1e-6);
  });
});

describe('Hedgehog', () => {
  it('softmax over [xW + b, −(xW + b)]: identity init gives softmax([x, −x]); separate learned maps for q and k', async () => {
    const store = new ParamStore(1, 2);
    const maps = createFeatureMaps('hedgehog', { featureDim: 3, numHeads: 2, randomFeatures: 1, maxSeqLen: 8 }, store.scope('h'));
    expect(maps.q).not.toBe(maps.k);
    expect(store.variables.map((v) => v.shape)).toEqual([[2, 3, 3], [2, 3], [2, 3, 3], [2, 3]]);
    const x = randn([2, 2, 5, 3], 8) as tf.Tensor4D;
    const phi = maps.q.apply(x);
    expect(phi.shape).toEqual([2, 2, 5, 6]);
    expect(await relativeError(phi, tf.softmax(tf.concat([x, tf.neg(x)], 3)))).toBeLessThan(1e-6);
    // a non-identity weight acts per head
    const w = randn([2, 3, 3], 9) as tf.Tensor3D;
    const b = randn([2, 3], 10) as tf.Tensor2D;
    const head1 = tf.add(tf.matMul(x.slice([0, 1, 0, 0], [2, 1, 5, 3]).reshape([10, 3]), w.slice([1, 0, 0], [1, 3, 3]).reshape([3, 3])), b.slice([1, 0], [1, 3]));
    const expected = tf.softmax(tf.concat([head1, tf.neg(head1)], 1));
    expect(await relativeError(hedgehogFeatures(x, w, b).slice([0, 1, 0, 0], [2, 1, 5, 6]).reshape([10, 6]), expected)).toBeLessThan(1e-5);
    store.dispose();
  });
});

describe('simple maps and sizes', () => {
  it('poselu = elu + 1 and relu floored at 1e-12 are positive; sizes per map', async () => {
    const store = new ParamStore(1, 2);
    const x = randn([1, 1, 4, 5], 11) as tf.Tensor4D;
    const elu = createFeatureMaps('poselu', { featureDim: 5, numHeads: 1, randomFeatures: 1, maxSeqLen: 4 }, store.scope('a')).q.apply(x);
    expect(await relativeError(elu, tf.add(tf.elu(x), 1))).toBeLessThan(1e-7);
    const relu = createFeatureMaps('relu', { featureDim: 5, numHeads: 1, randomFeatures: 1, maxSeqLen: 4 }, store.scope('b')).q.apply(x);
    expect(tf.min(relu).dataSync()[0]!).toBeCloseTo(1e-12, 15);
    expect(await relativeError(relu, tf.maximum(tf.relu(x), 1e-12))).toBe(0);
    expect([featureSize('taylor', 16, 0), featureSize('poselu', 16, 0), featureSize('relu', 16, 0), featureSize('performer', 16, 64), featureSize('cosformer', 16, 0), featureSize('hedgehog', 16, 0)]).toEqual([153, 16, 16, 64, 32, 32]);
    store.dispose();
  });
});
