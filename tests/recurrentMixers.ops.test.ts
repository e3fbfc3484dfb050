// The parallel forms of the delta rule, gated linear attention and RWKV-4's WKV against their per-token
// recurrences, in value and in gradient, on random inputs (ops/deltaRule/, gatedLinearAttention/,
// wkv/).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { deltaRuleChunked, deltaRuleNaive } from '../ops/deltaRule/index.js';
import { glaChunked, glaNaive } from '../ops/gatedLinearAttention/index.js';
import { wkvNaive, wkvParallel } from '../ops/wkv/index.js';
import { randn, relativeError, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const l2 = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));

function gradsOf(f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], w: tf.Tensor): tf.Tensor[] {
  return tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(...xs), w)))(inputs);
}

describe('delta rule: chunked WY form == per-token recurrence', () => {
  it.each([
    [1, 4],
    [7, 4],
    [8, 4],
    [13, 8],
    [16, 16],
    [20, 32],
  ])('T = %i, chunk %i: outputs and gradients agree', async (T, chunk) => {
    const [B, H, dk, dv] = [2, 2, 4, 3];
    // the mixer's inputs: q, k L2-normalised (q scaled), β ∈ (0, 1)
    const q = tf.mul(l2(randn([B, H, T, dk], 1)), dk ** -0.5) as tf.Tensor4D;
    const k = l2(randn([B, H, T, dk], 2)) as tf.Tensor4D;
    const v = randn([B, H, T, dv], 3) as tf.Tensor4D;
    const beta = tf.sigmoid(randn([B, H, T], 4)) as tf.Tensor3D;
    const fast = deltaRuleChunked(q, k, v, beta, chunk);
    const ref = deltaRuleNaive(q, k, v, beta);
    expect(fast.shape).toEqual([B, H, T, dv]);
    expect(await relativeError(fast, ref)).toBeLessThan(1e-5);

    const w = randn([B, H, T, dv], 5);
    const gFast = gradsOf((a, b, c, d) => deltaRuleChunked(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor3D, chunk), [q, k, v, beta], w);
    const gRef = gradsOf((a, b, c, d) => deltaRuleNaive(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor3D), [q, k, v, beta], w);
    for (let i = 0; i < 4; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${'qkvβ'[i]}`).toBeLessThan(1e-4);
      if (T > 1 || i !== 3) expect(tf.norm(gRef[i]!).dataSync()[0]!).toBeGreaterThan(1e-4);
    }
  });

  it('with β = 1 and orthonormal keys it stores and recalls values exactly (the delta rule overwrites)', async () => {
    // keys e_0, e_1, e_0 again: the third write replaces the first value; querying e_0 returns it
    const k = tf.tensor4d([1, 0, 0, 1, 1, 0], [1, 1, 3, 2]);
    const v = tf.tensor4d([5, 7, -2], [1, 1, 3, 1]);
    const q = k;
    const beta = tf.ones([1, 1, 3]) as tf.Tensor3D;
    expect(Array.from(await deltaRuleChunked(q, k, v, beta, 2).data())).toEqual([5, 7, -2]);
  });
});

describe('gated linear attention: chunked form == per-token recurrence', () => {
  it.each([
    [1, 4],
    [9, 4],
    [16, 8],
    [21, 16],
  ])('T = %i, chunk %i: outputs and gradients agree', async (T, chunk) => {
    const [B, H, dk, dv] = [2, 2, 3, 4];
    const q = randn([B, H, T, dk], 11, 0.5) as tf.Tensor4D;
    const k = randn([B, H, T, dk], 12) as tf.Tensor4D;
    const v = randn([B, H, T, dv], 13) as tf.Tensor4D;
    const g = tf.logSigmoid(randn([B, H, T, dk], 14, 2)) as tf.Tensor4D; // ≤ 0
    const fast = glaChunked(q, k, v, g, chunk);
    expect(await relativeError(fast, glaNaive(q, k, v, g))).toBeLessThan(1e-5);

    const w = randn([B, H, T, dv], 15);
    const gFast = gradsOf((a, b, c, d) => glaChunked(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor4D, chunk), [q, k, v, g], w);
    const gRef = gradsOf((a, b, c, d) => glaNaive(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor4D), [q, k, v, g], w);
    for (let i = 0; i < 4; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${'qkvg'[i]}`).toBeLessThan(1e-4);
      if (T > 1 || i !== 3) expect(tf.norm(gRef[i]!).dataSync()[0]!).toBeGreaterThan(1e-4);
    }
  });

  it('stays finite with very strong forgetting inside a chunk (no exp(−b) factorisation)', async () => {
    const [B, H, T, dk, dv] = [1, 1, 32, 2, 2];
    const q = randn([B, H, T, dk], 21) as tf.Tensor4D;
    const k = randn([B, H, T, dk], 22) as tf.Tensor4D;
    const v = randn([B, H, T, dv], 23) as tf.Tensor4D;
    const g = tf.fill([B, H, T, dk], -30) as tf.Tensor4D; // cumulative −960 within one chunk of 32
    const o = glaChunked(q, k, v, g, 32);
    expect((await o.data()).every(Number.isFinite)).toBe(true);
    expect(await relativeError(o, glaNaive(q, k, v, g))).toBeLessThan(1e-5);
    const [dg] = gradsOf((x) => glaChunked(q, k, v, x as tf.Tensor4D, 32), [g], randn([B, H, T, dv], 24));
    expect((await dg!.data()).every(Number.isFinite)).toBe(true);
  });
});

describe("RWKV-4 WKV: associative-scan form == per-token stable recurrence", () => {
  /** The formula itself in float64, for one channel: Σ_{i<t} e^{−(t−1−i)w + k_i} v_i + e^{u+k_t} v_t over the same with v = 1. */
  function wkvFormula(w: number, u: number, k: number[], v: number[]): number[] {
    return k.map((kt, t) => {
      let num = Math.exp(u + kt) * v[t]!;
      let den = Math.exp(u + kt);
      for (let i = 0; i < t; i++) {
        const e = Math.exp(-(t - 1 - i) * w + k[i]!);
        num += e * v[i]!;
        den += e;
      }
      return num / den;
    });
  }

  it('matches the formula on a small case', async () => {
    const k = [0.5, -1, 2, 0.1, 1.5];
    const v = [1, -2, 0.5, 3, -1];
    const y = await wkvParallel(tf.tensor1d([0.7]), tf.tensor1d([-0.3]), tf.tensor3d(k, [1, 5, 1]), tf.tensor3d(v, [1, 5, 1])).data();
    const expected = wkvFormula(0.7, -0.3, k, v);
    expected.forEach((e, i) => expect(y[i]!).toBeCloseTo(e, 5));
  });

  it('T = 1, 2: outputs agree (w only acts from the third token on)', async () => {
    for (const T of [1, 2]) {
      const w = tf.exp(randn([4], 36)) as tf.Tensor1D;
      const u = randn([4], 37) as tf.Tensor1D;
      const k = randn([2, T, 4], 38, 2) as tf.Tensor3D;
      const v = randn([2, T, 4], 39) as tf.Tensor3D;
      expect(await relativeError(wkvParallel(w, u, k, v), wkvNaive(w, u, k, v))).toBeLessThan(1e-5);
    }
  });

  it.each([3, 7, 16, 19])('T = %i: outputs and gradients agree', async (T) => {
    const [B, C] = [2, 5];
    const w = tf.exp(randn([C], 31)) as tf.Tensor1D;
    const u = randn([C], 32) as tf.Tensor1D;
    const k = randn([B, T, C], 33, 2) as tf.Tensor3D;
    const v = randn([B, T, C], 34) as tf.Tensor3D;
    expect(await relativeError(wkvParallel(w, u, k, v), wkvNaive(w, u, k, v))).toBeLessThan(1e-5);
    const x = randn([B, T, C], 35);
    const gFast = gradsOf((a, b, c, d) => wkvParallel(a as tf.Tensor1D, b as tf.Tensor1D, c as tf.Tensor3D, d as tf.Tensor3D), [w, u, k, v], x);
    const gRef = gradsOf((a, b, c, d) => wkvNaive(a as tf.Tensor1D, b as tf.Tensor1D, c as tf.Tensor3D, d as tf.Tensor3D), [w, u, k, v], x);
    for (let i = 0; i < 4; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${['w', 'u', 'k', 'v'][i]}`).toBeLessThan(1e-4);
      expect(tf.norm(gRef[i]!).dataSync()[0]!).toBeGreaterThan(1e-5);
    }
  });

  it('stays finite where e^k overflows fp32 (k up to ±200) and with fast decays', async () => {
    const T = 40;
    const k = tf.mul(randn([1, T, 3], 41), 100) as tf.Tensor3D;
    const v = randn([1, T, 3], 42) as tf.Tensor3D;
    const w = tf.tensor1d([0.01, 5, 80]);
    const u = tf.tensor1d([0, 3, -3]);
    const y = wkvParallel(w, u, k, v);
    expect((await y.data()).every(Number.isFinite)).toBe(true);
    expect(await relativeError(y, wkvNaive(w, u, k, v))).toBeLessThan(1e-5);
    const [dk] = gradsOf((x) => wkvParallel(w, u, x as tf.Tensor3D, v), [k], randn([1, T, 3], 43));
    expect((await dk!.data()).every(Number.isFinite)).toBe(true);
  });
});
