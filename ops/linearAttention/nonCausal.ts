// Non-causal linear attention (JRT's non-causal baseline): every position reads the whole sequence's state.
import * as tf from '@tensorflow/tfjs';
import { checkShapes, LINEAR_ATTENTION_EPS, type LinearAttentionOptions } from './common.js';
import { linearAttentionState } from './step.js';

/** Non-causal linear attention (sums over the whole sequence), plus an optional initial state. */
export function linearAttentionNonCausal(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial);
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    const { kv, k } = linearAttentionState(phiK, v, opts.initial);
    const num = tf.matMul(phiQ, kv); // [B, H, T, dv]
    const den = tf.matMul(phiQ, k.expandDims(-1)); // [B, H, T, 1]
    return tf.div(num, tf.add(den, eps)) as tf.Tensor4D;
  });
}
