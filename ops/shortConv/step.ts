// The short causal convolution one token at a time (the mixers' step view).
import * as tf from '@tensorflow/tfjs';

/**
 * Recurrent view: the state is the last k−1 inputs [B, k−1, d] (d·(k−1) floats per example).
 * Returns y_t [B, d] and the shifted window.
 */
export function shortConvStep(window: tf.Tensor3D, x: tf.Tensor2D, weight: tf.Tensor2D, bias?: tf.Tensor1D): { y: tf.Tensor2D; window: tf.Tensor3D } {
  return tf.tidy(() => {
    const [B, km1, d] = window.shape;
    const full = tf.concat([window, x.reshape([B, 1, d])], 1); // [B, k, d], oldest first
    let y: tf.Tensor = tf.sum(tf.mul(full, weight.reshape([1, km1 + 1, d])), 1);
    if (bias) y = tf.add(y, bias);
    return { y: y as tf.Tensor2D, window: full.slice([0, 1, 0], [B, km1, d]) as tf.Tensor3D };
  });
}
