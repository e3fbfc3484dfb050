// Bounded-cache attention, parallel form: softmax attention under the causal mask of what the cache keeps
// (policy.ts). q, k, v [B, H, T, d_h] → y [B, H, T, d_h]:
//
//   y_t = Σ_{s ∈ keep(t)} softmax_s(q_t·k_s/√d_h) v_s,    keep(t) = cache at step t ∪ {t}
//
// recency and sink keep a fixed set per t (one [T, T] mask); H2O's set depends on the attention itself, so the
// selection is computed causally, token by token, from the raw scores (read back from the device: policy.ts's
// h2oVisible) and then applied as a constant mask: the model trains with exactly the cache's selection, and no
// gradient flows through the choice. O(T²) like full attention (the point is the state, not the speed).
import * as tf from '@tensorflow/tfjs';
import { cachedConstant } from '../shared/constants.js';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { h2oVisible, staticVisible, type CachePolicy } from './policy.js';

const NEG = -1e9;

/** Additive [T, T] mask of a fixed policy: 0 where visible, −1e9 elsewhere (a kept constant per backend and shape). */
function staticMaskBias(p: CachePolicy, T: number): tf.Tensor2D {
  return cachedConstant(`cache-policy-mask:${p.kind}:${p.size}:${p.sink}:${T}`, () => {
    const bias = new Float32Array(T * T);
    for (let t = 0; t < T; t++) for (let s = 0; s < T; s++) if (!staticVisible(p, t, s)) bias[t * T + s] = NEG;
    return tf.tensor2d(bias, [T, T]);
  });
}

/** H2O's mask on a backend that cannot read scores back synchronously (webgpu: accel/webgpu/h2oMask.ts). */
export const h2oMaskOp = fastOp<(p: CachePolicy, scores: tf.Tensor4D) => tf.Tensor4D>('boundedCache.h2oMask');

/** The additive mask [B, H, T, T] of H2O's causal selection, from the raw scores [B, H, T, T] (the reference: read back). */
export function h2oMaskBias(p: CachePolicy, scores: tf.Tensor4D): tf.Tensor4D {
  const [B, H, T] = scores.shape;
  const data = scores.dataSync();
  const visible = new Uint8Array(B * H * T * T);
  for (let bh = 0; bh < B * H; bh++) h2oVisible(p, data.subarray(bh * T * T, (bh + 1) * T * T), T, visible, bh * T * T);
  const bias = new Float32Array(visible.length);
  for (let i = 0; i < visible.length; i++) if (!visible[i]) bias[i] = NEG;
  return tf.tensor4d(bias, [B, H, T, T]);
}

/** q, k, v [B, H, T, d_h] → y [B, H, T, d_h]; `dropAttention` is applied to the weights (training dropout). */
export function boundedCacheAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, p: CachePolicy, dropAttention: (a: tf.Tensor) => tf.Tensor = (a) => a): tf.Tensor4D {
  return tf.tidy(() => {
    const T = q.shape[2];
    const scores = tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3])) as tf.Tensor4D;
    const bias = p.kind === 'h2o' ? (fastForm(h2oMaskOp, tf.getBackend()) ?? h2oMaskBias)(p, scores) : staticMaskBias(p, T);
    return tf.matMul(dropAttention(tf.softmax(tf.add(scores, bias))), v) as tf.Tensor4D;
  });
}
