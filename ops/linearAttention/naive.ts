// Causal linear attention as zoology writes it: the reference of chunk.ts.
import * as tf from '@tensorflow/tfjs';
import { checkShapes, exclusiveCumsum, LINEAR_ATTENTION_EPS, type LinearAttentionOptions } from './common.js';
import { linearAttentionState } from './step.js';

/** zoology's formula: y = Σ_F φq·cumsum(φk ⊗ v) / (Σ_F φq·cumsum(φk) + eps), over [B, H, T, F, dv]. */
export function causalLinearAttentionNaive(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial, undefined, opts.shared);
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    const [B, H, , F] = phiQ.shape;
    const dv = v.shape[3];
    const q = phiQ.expandDims(-1); // [B, H, T, F, 1]
    const outer = tf.mul(phiK.expandDims(-1), v.expandDims(-2)); // [B, H, T, F, dv]
    // inclusive cumsum over time = exclusive cumsum + the current term (see exclusiveCumsum on tfjs' gradient)
    let kv: tf.Tensor = tf.add(exclusiveCumsum(outer, 2), outer);
    let kSum: tf.Tensor = tf.add(exclusiveCumsum(phiK, 2), phiK); // [B, H, T, F]
    const initial = opts.shared ? linearAttentionState(opts.shared.phiK, opts.shared.v, opts.initial) : opts.initial;
    if (initial) {
      kv = tf.add(kv, initial.kv.reshape([B, H, 1, F, dv]));
      kSum = tf.add(kSum, initial.k.reshape([B, H, 1, F]));
    }
    const num = tf.sum(tf.mul(q, kv), 3); // [B, H, T, dv]
    const den = tf.sum(tf.mul(phiQ, kSum), 3, true); // [B, H, T, 1]
    return tf.div(num, tf.add(den, eps)) as tf.Tensor4D;
  });
}
