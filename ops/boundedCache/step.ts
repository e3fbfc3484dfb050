// Bounded-cache attention one token at a time: the cache itself, C slots of keys and values per head (policy.ts says
// which entry a new token evicts). recency and sink write to a slot fixed by the position (a ring buffer, with the
// sink slots never overwritten); H2O also holds each entry's position and accumulated attention, and evicts by them.
import * as tf from '@tensorflow/tfjs';
import { staticSlot, type CachePolicy } from './policy.js';

const NEG = -1e9;

/** The cache: keys, values [B, H, S, d_h]; H2O adds pos (−1 = empty) and acc, [B, H, S]. */
export type CacheState = { keys: tf.Tensor4D; values: tf.Tensor4D; pos?: tf.Tensor3D; acc?: tf.Tensor3D };

/**
 * H2O's choice, read from the values (no gradient through it): per (example, head) the slot with the smallest
 * accumulated score among entries at positions ≤ `newest` (older than the recent window); ties: the oldest. → [B, H, S] one-hot.
 */
function h2oEvict(acc: tf.Tensor, pos: tf.Tensor, newest: number): tf.Tensor {
  const [B, H, S] = acc.shape as [number, number, number];
  const a = acc.dataSync();
  const ps = pos.dataSync();
  const oneHot = new Float32Array(B * H * S);
  for (let r = 0; r < B * H; r++) {
    let e = -1;
    for (let i = r * S; i < (r + 1) * S; i++) {
      if (ps[i]! > newest) continue;
      if (e < 0 || a[i]! < a[e]! || (a[i] === a[e] && ps[i]! < ps[e]!)) e = i;
    }
    oneHot[e] = 1;
  }
  return tf.tensor3d(oneHot, [B, H, S]);
}

/** An empty cache of `slots` entries per head. */
export function initCache(batch: number, heads: number, slots: number, headDim: number, p: CachePolicy): CacheState {
  const cache: CacheState = { keys: tf.zeros([batch, heads, slots, headDim]), values: tf.zeros([batch, heads, slots, headDim]) };
  if (p.kind === 'h2o') {
    cache.pos = tf.fill([batch, heads, slots], -1) as tf.Tensor3D;
    cache.acc = tf.zeros([batch, heads, slots]);
  }
  return cache;
}

/** One token at position t: q, k, v [B, H, d_h] → y [B, H, d_h] and the cache with t written in. */
export function boundedCacheStep(cache: CacheState, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, t: number, p: CachePolicy): { y: tf.Tensor3D; cache: CacheState } {
  return tf.tidy(() => {
    const [B, H, dh] = q.shape;
    const S = cache.keys.shape[2];
    if (t >= S && S < p.size) throw new Error(`bounded-cache: position ${t} beyond the longest sequence (${S}) the cache was sized for`);
    const scale = 1 / Math.sqrt(dh);
    const slotScores = tf.mul(tf.matMul(cache.keys, q.reshape([B, H, dh, 1])).reshape([B, H, S]), scale);
    // empty slots are masked: fixed policies fill slots 0 … t−1 first; H2O marks them with pos −1
    const emptyBias =
      p.kind === 'h2o'
        ? tf.mul(tf.sub(tf.cast(tf.greaterEqual(cache.pos!, 0), 'float32'), 1), -NEG)
        : tf.tensor1d(Array.from({ length: S }, (_, s) => (s < t ? 0 : NEG))).reshape([1, 1, S]);
    const own = tf.mul(tf.sum(tf.mul(q, k), -1, true), scale); // [B, H, 1]
    const w = tf.softmax(tf.concat([tf.add(slotScores, emptyBias), own], 2)); // [B, H, S + 1]
    const wSlots = w.slice([0, 0, 0], [B, H, S]);
    const wOwn = w.slice([0, 0, S], [B, H, 1]);
    const y = tf.add(tf.matMul(wSlots.reshape([B, H, 1, S]), cache.values).reshape([B, H, dh]), tf.mul(wOwn, v)) as tf.Tensor3D;

    // the slot token t goes to: [B, H, S] one-hot
    let slot: tf.Tensor;
    let acc: tf.Tensor | undefined;
    if (p.kind !== 'h2o') slot = tf.oneHot(tf.tensor1d([staticSlot(p, t)], 'int32'), S).reshape([1, 1, S]);
    else {
      acc = tf.add(cache.acc!, wSlots); // every cached entry gains the weight the query gave it
      if (t < S) slot = tf.oneHot(tf.tensor1d([t], 'int32'), S).reshape([1, 1, S]);
      else slot = h2oEvict(acc, cache.pos!, t - p.recent);
    }
    const keep = tf.sub(1, slot);
    const write = (old: tf.Tensor4D, x: tf.Tensor3D) => tf.add(tf.mul(old, keep.expandDims(3)), tf.mul(slot.expandDims(3), x.reshape([B, H, 1, dh]))) as tf.Tensor4D;
    const next: CacheState = { keys: write(cache.keys, k), values: write(cache.values, v) };
    if (p.kind === 'h2o') {
      next.pos = tf.add(tf.mul(cache.pos!, keep), tf.mul(slot, t)) as tf.Tensor3D;
      next.acc = tf.add(tf.mul(acc!, keep), tf.mul(slot, wOwn)) as tf.Tensor3D;
    }
    return { y, cache: next };
  });
}
