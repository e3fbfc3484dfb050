// Mamba-2's state space dual (SSD) one token at a time, per head: h_t = exp(a_t) h_{t−1} + b_t v_tᵀ,  o_t = h_tᵀ c_t.
import * as tf from '@tensorflow/tfjs';

/** One token: h [B, H, N, P], c_t, b_t [B, H, N], v_t [B, H, P], a_t [B, H] (≤ 0) → o_t [B, H, P] and h_t. */
export function ssdStep(h: tf.Tensor4D, c: tf.Tensor3D, b: tf.Tensor3D, v: tf.Tensor3D, a: tf.Tensor2D): { o: tf.Tensor3D; S: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, H, N] = b.shape;
    const P = v.shape[2];
    const next = tf.add(tf.mul(h, tf.exp(a).reshape([B, H, 1, 1])), tf.matMul(b.reshape([B, H, N, 1]), v.reshape([B, H, 1, P]))) as tf.Tensor4D;
    const o = tf.matMul(next, c.reshape([B, H, N, 1]), true, false).reshape([B, H, P]) as tf.Tensor3D;
    return { o, S: next };
  });
}
