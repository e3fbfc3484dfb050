// The Sin activation of the implicit-filter MLPs (Hyena, M2; zoology's Sin module): y = sin(ω ⊙ x) with a learned
// frequency ω per column, the plain-tfjs reference — the multiply and sin the mixers wrote before the op existed,
// so the CPU backends train the same numbers. x [L, W] with ω [W]; a stack of R runs: x [R, L, W] with ω [R, 1, W].
// With a bias b (the preceding linear layer's, moved here so that a fused form can add it: lever `sinBias`):
// sin(ω ⊙ (x + b)), b [W] (a stack's [R, W]).
import * as tf from '@tensorflow/tfjs';

export function scaledSinNaive(x: tf.Tensor, omega: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return tf.sin(tf.mul(omega, bias ? addBias(x, bias) : x));
}

/**
 * x + b, the bias of the linear layer before the activation (as ops/linear adds it): b [W] on x [L, W], a stack's
 * b [R, W] on x [R, L, W] (each run's own).
 */
export function addBias(x: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return bias.rank === 1 ? tf.add(x, bias) : tf.add(x, bias.reshape([bias.shape[0]!, 1, -1]));
}
