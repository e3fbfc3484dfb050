// The delta rule one token at a time: S_t = S_{t−1} − β_t k_t (k_tᵀ S_{t−1} − v_tᵀ), o_t = S_tᵀ q_t.
import * as tf from '@tensorflow/tfjs';

/** One token: S [B, H, d_k, d_v], q_t, k_t [B, H, d_k], v_t [B, H, d_v], β_t [B, H] → o_t [B, H, d_v] and S_t. */
export function deltaRuleStep(S: tf.Tensor4D, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, beta: tf.Tensor2D): { o: tf.Tensor3D; S: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, H, dk] = k.shape;
    const dv = v.shape[2];
    const kCol = k.reshape([B, H, dk, 1]);
    const predicted = tf.matMul(S, kCol, true, false).reshape([B, H, dv]); // S_{t−1}ᵀ k_t
    const u = tf.mul(tf.sub(v, predicted), beta.reshape([B, H, 1])); // β (v − Sᵀk)
    const next = tf.add(S, tf.matMul(kCol, u.reshape([B, H, 1, dv]))) as tf.Tensor4D;
    const o = tf.matMul(next, q.reshape([B, H, dk, 1]), true, false).reshape([B, H, dv]) as tf.Tensor3D;
    return { o, S: next };
  });
}
