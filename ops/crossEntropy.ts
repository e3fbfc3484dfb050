// Softmax cross-entropy on integer labels, computed only at supervised positions. Never builds a one-hot
// tensor of the vocabulary: loss_i = logsumexp(h_i Eᵀ) − h_i·E[label_i].
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

type CrossEntropyImpl = (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Scalar;
const fused = new Map<string, CrossEntropyImpl>();

/** Register a fused softmax cross-entropy over logits [M, V] with integer labels, for a backend (undefined: remove it). */
export function registerFusedCrossEntropy(backend: string, impl: CrossEntropyImpl | undefined): void {
  if (impl) fused.set(backend, impl);
  else fused.delete(backend);
}

export function tiedHeadCrossEntropy(hidden: tf.Tensor2D, embedding: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Scalar; logits: tf.Tensor2D } {
  const impl = fused.get(tf.getBackend());
  if (!impl) return tiedHeadCrossEntropyNaive(hidden, embedding, labels);
  const logits = tf.matMul(hidden, embedding, false, true) as tf.Tensor2D;
  return { loss: impl(logits, labels), logits };
}
