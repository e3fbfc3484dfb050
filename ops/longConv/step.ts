// The long causal convolution one token at a time (the mixers' step view).
import * as tf from '@tensorflow/tfjs';

/**
 * Recurrent view of the long conv: the state is every past input, history [B, Lmax, d] (slot p holds u_p),
 * d·Lmax floats per example. Writes x [B, d] at `position` and returns y_p = Σ_{s≤p} h[:, s] ⊙ u_{p−s}.
 */
export function longConvStep(history: tf.Tensor3D, x: tf.Tensor2D, h: tf.Tensor2D, position: number): { y: tf.Tensor2D; history: tf.Tensor3D } {
  return tf.tidy(() => {
    const [B, Lmax, d] = history.shape;
    if (position >= Lmax) throw new Error(`longConvStep: position ${position} beyond the history (${Lmax})`);
    if (h.shape[1] < position + 1) throw new Error(`longConvStep: filter length ${h.shape[1]} < ${position + 1}`);
    const slot = tf.oneHot(tf.tensor1d([position], 'int32'), Lmax).reshape([1, Lmax, 1]);
    const next = tf.add(tf.mul(history, tf.sub(1, slot)), tf.mul(slot, x.reshape([B, 1, d]))) as tf.Tensor3D;
    // taps aligned with the slots: slot j (j ≤ p) meets h[:, p − j]; later slots meet 0
    const taps = tf.reverse(h.slice([0, 0], [d, position + 1]), 1);
    const aligned = tf.pad(tf.transpose(taps), [
      [0, Lmax - position - 1],
      [0, 0],
    ]); // [Lmax, d]
    const y = tf.sum(tf.mul(next, aligned), 1) as tf.Tensor2D;
    return { y, history: next };
  });
}
