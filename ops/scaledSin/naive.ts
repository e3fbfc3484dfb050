// The Sin activation of the implicit-filter MLPs (Hyena, M2; zoology's Sin module): y = sin(ω ⊙ x) with a learned
// frequency ω per column, the plain-tfjs reference — the multiply and sin the mixers wrote before the op existed,
// so the CPU backends train the same numbers. x [L, W] with ω [W]; a stack of R runs: x [R, L, W] with ω [R, 1, W].
import * as tf from '@tensorflow/tfjs';

export function scaledSinNaive(x: tf.Tensor, omega: tf.Tensor): tf.Tensor {
  return tf.sin(tf.mul(omega, x));
}
