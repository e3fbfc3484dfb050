// The long causal convolution as T shifted multiply-adds: the reference of blocked.ts.
import * as tf from '@tensorflow/tfjs';

/** Plain-tfjs reference: y = Σ_s h[:, s] ⊙ (u shifted right by s), T shifted multiply-adds (stock gradients). */
export function longConvNaive(u: tf.Tensor3D, h: tf.Tensor2D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, d] = u.shape;
    let y: tf.Tensor = tf.mul(u, h.slice([0, 0], [d, 1]).reshape([d]));
    for (let s = 1; s < T; s++) {
      const shifted = tf.pad(u.slice([0, 0, 0], [B, T - s, d]), [
        [0, 0],
        [s, 0],
        [0, 0],
      ]);
      y = tf.add(y, tf.mul(shifted, h.slice([0, s], [d, 1]).reshape([d])));
    }
    return y as tf.Tensor3D;
  });
}
