// Gated linear attention one token at a time: S_t = diag(exp g_t) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t.
import * as tf from '@tensorflow/tfjs';

/** One token: S [B, H, d_k, d_v], q_t, k_t, g_t [B, H, d_k], v_t [B, H, d_v] → o_t [B, H, d_v] and S_t. */
export function glaStep(S: tf.Tensor4D, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, g: tf.Tensor3D): { o: tf.Tensor3D; S: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, H, dk] = k.shape;
    const dv = v.shape[2];
    const next = tf.add(tf.mul(tf.exp(g).reshape([B, H, dk, 1]), S), tf.matMul(k.reshape([B, H, dk, 1]), v.reshape([B, H, 1, dv]))) as tf.Tensor4D;
    const o = tf.matMul(next, q.reshape([B, H, dk, 1]), true, false).reshape([B, H, dv]) as tf.Tensor3D;
    return { o, S: next };
  });
}
