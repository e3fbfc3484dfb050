// The generalized delta rule one token at a time (RWKV-7 "Goose"; Peng et al. 2025, arXiv 2503.14456; fla's
// fused_recurrent_rwkv7 / fused_recurrent_dplr_delta_rule), per head, state S [d_k, d_v]:
//
//   S_t = (diag(exp w_t) + b_t a_tᵀ) S_{t−1} + k_t v_tᵀ,    o_t = S_tᵀ r_t
//
// w_t ≤ 0 is the log decay per key channel, a_t and b_t the low-rank transition (RWKV-7: a = −κ̂, b = κ̂ ⊙ α with
// κ̂ the normalised removal key and α the in-context learning rate; the delta rule is w = 0, a = −k, b = β k). fla
// writes the same recurrence on Sᵀ [d_v, d_k]: S_t = S_{t−1}(diag(w_t) + a_tᵀ b_t) + v_tᵀ k_t.
import * as tf from '@tensorflow/tfjs';

/**
 * One token: S [B, H, d_k, d_v], r_t, w_t, k_t, a_t, b_t [B, H, d_k], v_t [B, H, d_v] → o_t [B, H, d_v] and S_t.
 * The removal b_t (a_tᵀ S_{t−1}) reads the state before this token's decay, as fla's kernels.
 */
export function generalizedDeltaRuleStep(
  S: tf.Tensor4D,
  r: tf.Tensor3D,
  w: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  a: tf.Tensor3D,
  b: tf.Tensor3D,
): { o: tf.Tensor3D; S: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, H, dk] = k.shape;
    const dv = v.shape[2];
    const col = (x: tf.Tensor3D) => x.reshape([B, H, dk, 1]) as tf.Tensor4D;
    const removed = tf.matMul(S, col(a), true, false).reshape([B, H, 1, dv]); // (a_tᵀ S_{t−1}) as a row
    const decayed = tf.mul(S, tf.exp(col(w))); // diag(exp w_t) S_{t−1}
    const next = tf.add(tf.add(decayed, tf.matMul(col(b), removed as tf.Tensor4D)), tf.matMul(col(k), v.reshape([B, H, 1, dv]) as tf.Tensor4D)) as tf.Tensor4D;
    const o = tf.matMul(next, col(r), true, false).reshape([B, H, dv]) as tf.Tensor3D;
    return { o, S: next };
  });
}
