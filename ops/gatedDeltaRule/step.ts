// The gated delta rule one token at a time (Gated DeltaNet; Yang, Kautz & Hatamizadeh 2024, arXiv 2412.06464):
//
//   S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,   α_t = exp(g_t),   o_t = S_tᵀ q_t
//
// = decay the state by α_t, then the plain delta-rule write (ops/deltaRule/step.ts) on the decayed state.
import * as tf from '@tensorflow/tfjs';
import { deltaRuleStep } from '../deltaRule/step.js';

/** One token: S [B, H, d_k, d_v], q_t, k_t [B, H, d_k], v_t [B, H, d_v], β_t, g_t [B, H] (g ≤ 0) → o_t [B, H, d_v] and S_t. */
export function gatedDeltaRuleStep(S: tf.Tensor4D, q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, beta: tf.Tensor2D, g: tf.Tensor2D): { o: tf.Tensor3D; S: tf.Tensor4D } {
  return tf.tidy(() => {
    const [B, H] = beta.shape;
    const decayed = tf.mul(S, tf.exp(g).reshape([B, H, 1, 1])) as tf.Tensor4D;
    return deltaRuleStep(decayed, q, k, v, beta);
  });
}
