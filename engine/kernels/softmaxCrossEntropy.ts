// Mean softmax cross-entropy of logits [M, V] against integer labels [M]:
//   loss = (1/M) Σ_i (logsumexp_j z_ij − z_{i, y_i})
// `softmaxCrossEntropyNaive` is the plain-tfjs reference (differentiable by tfjs); on webgpu the fused kernels
// of engine/kernels/webgpu/crossEntropy.ts compute the same with three dispatches (forward + backward).
import * as tf from '@tensorflow/tfjs';

export function softmaxCrossEntropyNaive(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[1];
    const target = tf.sum(tf.mul(logits, tf.oneHot(labels, V)), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), target)) as tf.Scalar;
  });
}
