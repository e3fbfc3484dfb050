// Causal softmax attention in plain tfjs: the reference of the fused form (accel/webgpu/attention.ts), and exactly
// the computation architectures/attention.ts ran before the op existed (full [T, T] scores, an additive mask).
import * as tf from '@tensorflow/tfjs';
import { cachedConstant } from '../shared/constants.js';
import { dropout } from '../dropout/index.js';

/** Additive causal mask [T, T]: 0 on and below the diagonal, -1e9 above. Cached per T (a constant). */
export function causalMaskBias(seqLen: number): tf.Tensor2D {
  return cachedConstant(`causal-mask:${seqLen}`, () => tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([seqLen, seqLen]), -1, 0)), -1e9) as tf.Tensor2D);
}

/**
 * Reference: q, k, v [B, H, T, d_h] → softmax(q kᵀ · scale + causal mask), dropped out at `rate` (ops/dropout with
 * `seed`; rate 0: none), times v → [B, H, T, d_h].
 */
export function causalAttentionNaive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate = 0, seed = 0): tf.Tensor4D {
  return tf.tidy(() => {
    const T = q.shape[2];
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), causalMaskBias(T));
    let attn = tf.softmax(scores);
    if (rate > 0) attn = dropout(attn, rate, seed);
    return tf.matMul(attn, v) as tf.Tensor4D;
  });
}
