// Bounded-cache attention token by token through the cache (step.ts): the reference of the parallel masked form.
import * as tf from '@tensorflow/tfjs';
import type { CachePolicy } from './policy.js';
import { boundedCacheStep, initCache } from './step.js';

/** Reference: q, k, v [B, H, T, d_h] → y [B, H, T, d_h], each token through a cache of min(C, T) slots. */
export function boundedCacheNaive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, p: CachePolicy): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dh] = q.shape;
    const at = (x: tf.Tensor4D, t: number) => x.slice([0, 0, t, 0], [B, H, 1, dh]).reshape([B, H, dh]) as tf.Tensor3D;
    let cache = initCache(B, H, Math.min(p.size, T), dh, p);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const r = boundedCacheStep(cache, at(q, t), at(k, t), at(v, t), t, p);
      ys.push(r.y);
      cache = r.cache;
    }
    return tf.stack(ys, 2) as tf.Tensor4D;
  });
}
