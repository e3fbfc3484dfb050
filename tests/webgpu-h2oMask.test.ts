// H2O's cache selection on WebGPU (accel/webgpu/h2oMask.ts) against its reference (ops/boundedCache policy.ts
// h2oVisible, which the tfjs-cpu path runs after a synchronous read-back that webgpu cannot do in Node): the mask,
// element for element, at shapes that exercise eviction (T ≫ C), a recent window wider than one, repeated keys
// (exact ties: the oldest goes) and an unwritten-buffer poison; then bounded-cache attention with 'h2o' trains on
// webgpu (forward and gradients equal to the same attention under the reference's mask). Runs on a real GPU or on
// lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { webgpuDevice } from './webgpuKit.js';
import { fastForms } from '../core/fastForms.js';
import { H2O_WORKGROUP_MAX_C, h2oLanes, h2oMaskWebGpu } from '../accel/webgpu/h2oMask.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { setFastPath } from '../accel/webgpu/index.js';
import { boundedCacheAttention, h2oVisible, type CachePolicy } from '../ops/boundedCache/index.js';

const device = await webgpuDevice('webgpu-h2oMask');

const policy = (size: number, recent: number): CachePolicy => ({ kind: 'h2o', size, sink: 0, recent });

/** The reference mask from scores read back (what h2oMaskBias computes on tfjs-cpu). */
async function referenceMask(p: CachePolicy, scores: tf.Tensor4D): Promise<Float32Array> {
  const [B, H, T] = scores.shape;
  const data = await scores.data();
  const visible = new Uint8Array(B * H * T * T);
  for (let bh = 0; bh < B * H; bh++) h2oVisible(p, data.subarray(bh * T * T, (bh + 1) * T * T), T, visible, bh * T * T);
  return Float32Array.from(visible, (v) => (v ? 0 : -1e9));
}

/**
 * Scores whose every earlier key gets weight 0 (−1e4 below the diagonal, 0 on it): each entry's accumulated score
 * is exactly its own weight, 1, so every eviction is an exact tie — broken by age (the oldest goes), in fp32 and f64
 * alike. Then H2O keeps the newest C tokens: it must equal recency.
 */
function scoresWithTies(B: number, H: number, T: number): tf.Tensor4D {
  return tf.tidy(() => tf.tile(tf.sub(tf.mul(tf.eye(T), 1e4), 1e4).reshape([1, 1, T, T]), [B, H, 1, 1]) as tf.Tensor4D);
}

describe.skipIf(!device)(`H2O cache selection on WebGPU (${device ?? 'no adapter'})`, () => {
  afterAll(() => releaseGpu());

  it('is registered without a lever (the reference cannot run on webgpu)', () => {
    expect(fastForms().filter((r) => r.op === 'boundedCache.h2oMask')).toEqual([{ op: 'boundedCache.h2oMask', backend: 'webgpu', lever: undefined, kind: 'impl' }]);
  });

  it('the mask equals the reference element for element (eviction, recent window, exact ties, poisoned pool)', async () => {
    const cases: Array<{ shape: [number, number, number]; p: CachePolicy; ties: boolean }> = [
      { shape: [2, 3, 37], p: policy(4, 1), ties: false },
      { shape: [3, 1, 50], p: policy(8, 3), ties: false },
      { shape: [2, 2, 40], p: policy(6, 2), ties: true },
      { shape: [1, 1, 5], p: policy(8, 1), ties: false }, // never full: plain causal attention
    ];
    let seed = 7100;
    for (const { shape, p, ties } of cases) {
      const [B, H, T] = shape;
      // leave NaN buffers of the mask's size in the pool: an element the kernels fail to write reads NaN
      const poison = tf.fill([B, H, T, T], NaN);
      await poison.data();
      poison.dispose();
      const scores = ties ? scoresWithTies(B, H, T) : (tf.mul(tf.randomNormal([B, H, T, T], 0, 1, 'float32', seed), 3) as tf.Tensor4D);
      seed += 2;
      const mask = h2oMaskWebGpu(p, scores);
      const [got, want] = await Promise.all([mask.data(), referenceMask(p, scores)]);
      let differ = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) differ++;
      expect(differ, `${shape} C ${p.size} recent ${p.recent}`).toBe(0);
      // it evicts (a query late in the sequence sees at most C + 1 keys) unless T ≤ C
      const lastRow = Array.from(got.subarray(T * T - T, T * T)).filter((v) => v === 0).length;
      expect(lastRow).toBe(Math.min(T, p.size + 1));
      tf.dispose([scores, mask]);
    }
  });

  it('lever h2oWorkgroup: a workgroup per (example, head) gives the one-thread walk\'s mask element for element, and the reference\'s', async () => {
    // C 4 and 6 (one slot a thread, idle threads past C), 8 with recent 3; C 300: WG 256, two slots a thread, the
    // second half-empty (slots 256..299 on threads 0..43), with a recent window short enough that those slots are
    // evicted too; ties; a cache that never fills; scores of magnitude ~180, where a softmax not shifted by the
    // cache's true max overflows (exp past 88) and the accumulated scores, so the evictions, go wrong — there fp32
    // underflows weights to exact zeros, whose ties f64 does not have, so that case is held to the thread's walk only
    expect([4, 6, 64, 300, 512].map((C) => h2oLanes(C))).toEqual([{ WG: 4, S: 1 }, { WG: 8, S: 1 }, { WG: 64, S: 1 }, { WG: 256, S: 2 }, { WG: 256, S: 2 }]);
    const cases: Array<{ shape: [number, number, number]; p: CachePolicy; ties: boolean; scale?: number }> = [
      { shape: [2, 3, 37], p: policy(4, 1), ties: false },
      { shape: [3, 1, 50], p: policy(8, 3), ties: false },
      { shape: [2, 2, 40], p: policy(6, 2), ties: true },
      { shape: [1, 1, 5], p: policy(8, 1), ties: false },
      { shape: [1, 2, 360], p: policy(300, 10), ties: false },
      { shape: [2, 2, 45], p: policy(8, 2), ties: false, scale: 60 }, // not against the reference (above)
    ];
    let seed = 7500;
    const counts = () => ['H2oMask', 'H2oMaskWorkgroup'].map((n) => dispatchCounts.get(n) ?? 0);
    for (const { shape, p, ties, scale } of cases) {
      const [B, H, T] = shape;
      const scores = ties ? scoresWithTies(B, H, T) : (tf.mul(tf.randomNormal([B, H, T, T], 0, 1, 'float32', seed), scale ?? 3) as tf.Tensor4D);
      seed += 2;
      const serial = h2oMaskWebGpu(p, scores);
      let parallel: tf.Tensor4D;
      const before = counts();
      try {
        setFastPath({ h2oWorkgroup: true });
        const poison = tf.fill([B, H, T, T], NaN);
        await poison.data();
        poison.dispose();
        parallel = h2oMaskWebGpu(p, scores);
      } finally {
        setFastPath({ h2oWorkgroup: false });
      }
      expect(counts().map((n, i) => n - before[i]!), 'the workgroup walk ran, not the thread').toEqual([0, 1]);
      const [got, one, want] = await Promise.all([parallel.data(), serial.data(), referenceMask(p, scores)]);
      expect(Array.from(got), `${shape} C ${p.size} recent ${p.recent}: workgroup vs thread`).toEqual(Array.from(one));
      let differ = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) differ++;
      if (scale === undefined) expect(differ, `${shape} C ${p.size} recent ${p.recent}: vs reference`).toBe(0);
      const lastRow = Array.from(got.subarray(T * T - T, T * T)).filter((v) => v === 0).length;
      expect(lastRow).toBe(Math.min(T, p.size + 1));
      tf.dispose([scores, serial, parallel]);
    }
    expect(H2O_WORKGROUP_MAX_C).toBe(2048);
  });

  it("bounded-cache attention with 'h2o' runs forward and backward on webgpu, equal to attention under the reference's mask", async () => {
    const p = policy(5, 2);
    const [B, H, T, dh] = [2, 2, 24, 8];
    const q = tf.randomNormal([B, H, T, dh], 0, 1, 'float32', 7301) as tf.Tensor4D;
    const k = tf.randomNormal([B, H, T, dh], 0, 1, 'float32', 7302) as tf.Tensor4D;
    const v = tf.randomNormal([B, H, T, dh], 0, 1, 'float32', 7303) as tf.Tensor4D;
    const w = tf.randomNormal([B, H, T, dh], 0, 1, 'float32', 7304);
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(dh)) as tf.Tensor4D;
    const bias = tf.tensor4d(await referenceMask(p, scores), [B, H, T, T]);
    const withMask = (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) => tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(a, b, false, true), 1 / Math.sqrt(dh)), bias)), c);
    const loss = (f: (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), w));
    const [y, yRef] = [boundedCacheAttention(q, k, v, p), withMask(q, k, v)];
    const [gs, gsRef] = [tf.grads(loss((a, b, c) => boundedCacheAttention(a, b, c, p)))([q, k, v]), tf.grads(loss(withMask))([q, k, v])];
    const maxRel = async (a: tf.Tensor, b: tf.Tensor) => {
      const [x, r] = await Promise.all([a.data(), b.data()]);
      let d = 0;
      let s = 0;
      for (let i = 0; i < r.length; i++) (d = Math.max(d, Number.isFinite(x[i]!) ? Math.abs(x[i]! - r[i]!) : Infinity)), (s = Math.max(s, Math.abs(r[i]!)));
      return d / s;
    };
    expect(await maxRel(y, yRef)).toBeLessThan(1e-5);
    for (let i = 0; i < 3; i++) expect(await maxRel(gs[i]!, gsRef[i]!)).toBeLessThan(1e-4);
    // and the selection matters here: full causal attention differs
    const causal = boundedCacheAttention(q, k, v, { kind: 'recency', size: T, sink: 0, recent: 1 });
    expect(await maxRel(y, causal)).toBeGreaterThan(1e-2);
  });
});
