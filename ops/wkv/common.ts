// What the parallel and the step form of WKV share: the empty log scale and the readout with the bonus term.
import * as tf from '@tensorflow/tfjs';

/** A log scale that behaves like −∞ (e^{−1e30 − x} = 0) without producing NaNs in sums. */
export const EMPTY = -1e30;

/** wkv_t from the scaled state of the tokens before t (m, a, b) and the current token's bonus term. */
export function readout(m: tf.Tensor, a: tf.Tensor, b: tf.Tensor, u: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor {
  const uk = tf.add(u, k);
  const top = tf.maximum(m, uk);
  const wState = tf.exp(tf.sub(m, top));
  const wNow = tf.exp(tf.sub(uk, top));
  return tf.div(tf.add(tf.mul(a, wState), tf.mul(v, wNow)), tf.add(tf.mul(b, wState), wNow));
}
