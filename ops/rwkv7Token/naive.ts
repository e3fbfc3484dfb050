// The plain-tfjs references of RWKV-7's per-token parts around its recurrence (architectures/rwkv7.ts; fla's
// RWKV7Attention), per head h of d_k channels (channel h·d_k + i of a [.., d] tensor):
//
//   keys    w = −e^{−½} σ(wLogit)           log decay
//           α = σ(aLogit)                   in-context learning rate
//           k = k0 ⊙ (1 + (α − 1) ⊙ k_a)     write key
//           κ̂ = L2norm_head(k0 ⊙ k_k)        removal key; a = −κ̂, b = κ̂ ⊙ α        → w, k, a, b [.., H, d_k]
//   output  y = (o + (Σ_i r_i k_i r_k,i) v) ⊙ g   GroupNorm's output, the "bonus", the output gate → [.., H·d_k]
//
// The ops the mixer wrote before the op existed, in their order, so the CPU backends train the same numbers.
import * as tf from '@tensorflow/tfjs';
import { l2Normalize } from '../rmsNorm/index.js';

/** w = −e^{−½} σ(·): the decay e^w stays in (0.545, 1). */
export const RWKV7_DECAY_SCALE = Math.exp(-0.5);

export interface Rwkv7Keys {
  w: tf.Tensor;
  k: tf.Tensor;
  a: tf.Tensor;
  b: tf.Tensor;
}

/** wLogit, aLogit, k0 [.., d]; kK, kA [d]; H heads → w, k, a, b [.., H, d/H]. */
export function rwkv7KeysNaive(wLogit: tf.Tensor, aLogit: tf.Tensor, k0: tf.Tensor, kK: tf.Tensor, kA: tf.Tensor, H: number): Rwkv7Keys {
  const lead = k0.shape.slice(0, -1);
  const heads = (y: tf.Tensor) => y.reshape([...lead, H, k0.shape[k0.rank - 1]! / H]);
  const w = tf.mul(tf.sigmoid(wLogit), -RWKV7_DECAY_SCALE);
  const iclr = tf.sigmoid(aLogit); // α
  const kappa = l2Normalize(heads(tf.mul(k0, kK))); // κ̂ = kk · rsqrt(Σkk² + 1e-6)
  const k = tf.mul(k0, tf.add(1, tf.mul(tf.sub(iclr, 1), kA)));
  return { w: heads(w), k: heads(k), a: tf.neg(kappa), b: tf.mul(kappa, heads(iclr)) };
}

/** o, r, k, v [.., H, d_k]; rK [H, d_k]; g [.., H·d_k] → (o + (Σ r ⊙ k ⊙ r_k) v) ⊙ g [.., H·d_k]. */
export function rwkv7OutputNaive(o: tf.Tensor, r: tf.Tensor, k: tf.Tensor, v: tf.Tensor, rK: tf.Tensor, g: tf.Tensor): tf.Tensor {
  const bonus = tf.mul(tf.sum(tf.mul(tf.mul(r, k), rK), -1, true), v);
  return tf.mul(tf.add(o, bonus).reshape(g.shape), g);
}
