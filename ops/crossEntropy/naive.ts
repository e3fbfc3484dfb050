// The two plain-tfjs references of softmax cross-entropy on integer labels:
//   tiedHeadCrossEntropyNaive   what every backend without a fused kernel trains with: the tied-head logits and
//                               loss_i = logsumexp(h_i Eᵀ) − h_i·E[label_i] (no one-hot of the vocabulary;
//                               logsumexp differentiated as softmax: logSumExpLast)
//   softmaxCrossEntropyNaive    the same loss from given logits [M, V] (a one-hot target): the reference the fused
//                               kernel (accel/webgpu/crossEntropy.ts) is tested against, loss and gradient
import * as tf from '@tensorflow/tfjs';

/**
 * logsumexp over the last axis, differentiated as softmax(x) = exp(x − logsumexp x). tf.logSumExp's own gradient runs
 * through its max shift — an Equal of x [M, V] against its row maxima — although that term is zero in exact
 * arithmetic; tfjs-wasm runs that broadcast Equal at ~10 M elements/s (100 of a 266-ms Hyena step at B32, V 8192).
 */
export const logSumExpLast = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const value = tf.logSumExp(x, -1);
  save([x, value]);
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, lse] = saved as [tf.Tensor, tf.Tensor];
      return tf.mul(tf.expandDims(dy, -1), tf.exp(tf.sub(sx, tf.expandDims(lse, -1))));
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as <T extends tf.Tensor>(x: T) => tf.Tensor;

/**
 * hidden [M, d] (supervised rows only), embedding [V, d] (tied head), labels [M] int32 → mean loss (scalar)
 * and the logits [M, V] for accuracy.
 */
export function tiedHeadCrossEntropyNaive(hidden: tf.Tensor2D, embedding: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Scalar; logits: tf.Tensor2D } {
  const logits = tf.matMul(hidden, embedding, false, true) as tf.Tensor2D;
  const loss = tf.tidy(() => {
    const lse = logSumExpLast(logits);
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
    return tf.mean(tf.sub(logSumExpLast(logits), target)) as tf.Scalar;
  });
}
