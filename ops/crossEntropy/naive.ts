// The two plain-tfjs references of softmax cross-entropy on integer labels:
//   tiedHeadCrossEntropyNaive   what every backend without a fused kernel trains with: the tied-head logits and
//                               loss_i = logsumexp(h_i Eᵀ) − h_i·E[label_i] (no one-hot of the vocabulary)
//   softmaxCrossEntropyNaive    the same loss from given logits [M, V] (a one-hot target): the reference the fused
//                               kernel (accel/webgpu/crossEntropy.ts) is tested against, loss and gradient
import * as tf from '@tensorflow/tfjs';

/**
 * hidden [M, d] (supervised rows only), embedding [V, d] (tied head), labels [M] int32 → mean loss (scalar)
 * and the logits [M, V] for accuracy.
 */
export function tiedHeadCrossEntropyNaive(hidden: tf.Tensor2D, embedding: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Scalar; logits: tf.Tensor2D } {
  const logits = tf.matMul(hidden, embedding, false, true) as tf.Tensor2D;
  const loss = tf.tidy(() => {
    const lse = tf.logSumExp(logits, 1);
    const target = tf.sum(tf.mul(hidden, tf.gather(embedding, labels)), 1);
    return tf.mean(tf.sub(lse, target)) as tf.Scalar;
  });
  return { loss, logits };
}

/** Mean softmax cross-entropy of logits [M, V] against integer labels [M]: (1/M) Σ_i (logsumexp_j z_ij − z_{i, y_i}). */
export function softmaxCrossEntropyNaive(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const V = logits.shape[1];
    const target = tf.sum(tf.mul(logits, tf.oneHot(labels, V)), 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), target)) as tf.Scalar;
  });
}
