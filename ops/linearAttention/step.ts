// The recurrent view of linear attention: the state after a sequence (a prefill), a zero state, one token.
import * as tf from '@tensorflow/tfjs';
import { LINEAR_ATTENTION_EPS, type LinearAttentionState } from './common.js';

/** The state after a whole sequence: S = S_0 + Σ_t φk_tᵀ v_t, z = z_0 + Σ_t φk_t. */
export function linearAttentionState(phiK: tf.Tensor4D, v: tf.Tensor4D, initial?: LinearAttentionState): LinearAttentionState {
  return tf.tidy(() => {
    let kv: tf.Tensor = tf.matMul(phiK, v, true, false); // [B, H, F, dv]
    let k: tf.Tensor = tf.sum(phiK, 2); // [B, H, F]
    if (initial) {
      kv = tf.add(kv, initial.kv);
      k = tf.add(k, initial.k);
    }
    return { kv: kv as tf.Tensor4D, k: k as tf.Tensor3D };
  });
}

/** A fresh (zero) state. */
export function linearAttentionZeroState(batch: number, heads: number, features: number, valueDim: number): LinearAttentionState {
  return { kv: tf.zeros([batch, heads, features, valueDim]), k: tf.zeros([batch, heads, features]) };
}

/**
 * One token of the recurrent view: φq, φk [B, H, F], v [B, H, dv]:
 *   S ← S + φkᵀ v;  z ← z + φk;  y = φq·S / (φq·z + eps)   → y [B, H, dv] and the new state.
 */
export function linearAttentionStep(state: LinearAttentionState, phiQ: tf.Tensor3D, phiK: tf.Tensor3D, v: tf.Tensor3D, eps = LINEAR_ATTENTION_EPS): { y: tf.Tensor3D; state: LinearAttentionState } {
  return tf.tidy(() => {
    const kv = tf.add(state.kv, tf.mul(phiK.expandDims(-1), v.expandDims(-2))) as tf.Tensor4D;
    const k = tf.add(state.k, phiK) as tf.Tensor3D;
    const q = phiQ.expandDims(2); // [B, H, 1, F]
    const num = tf.matMul(q, kv).squeeze([2]); // [B, H, dv]
    const den = tf.sum(tf.mul(phiQ, k), -1, true); // [B, H, 1]
    return { y: tf.div(num, tf.add(den, eps)) as tf.Tensor3D, state: { kv, k } };
  });
}
