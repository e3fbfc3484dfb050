// Softmax cross-entropy on integer labels, computed only at supervised positions. Never builds a one-hot
// tensor of the vocabulary: loss_i = logsumexp(h_i Eᵀ) − h_i·E[label_i] (naive.ts). A backend's fused softmax
// cross-entropy over the logits (accel/webgpu/crossEntropy.ts), registered in core/fastForms.ts, replaces the
// loss while its lever is on; the logits are the same matmul either way.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { tiedHeadCrossEntropyNaive } from './naive.js';

export { softmaxCrossEntropyNaive, tiedHeadCrossEntropyNaive } from './naive.js';

/** The fast form's signature: mean loss of logits [M, V] against int32 labels [M] (its own gradient). */
export const softmaxCrossEntropyOp = fastOp<(logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Scalar>('crossEntropy');

/**
 * hidden [M, d] (supervised rows only), embedding [V, d] (tied head), labels [M] int32 → mean loss (scalar)
 * and the logits [M, V] for accuracy.
 */
export function tiedHeadCrossEntropy(hidden: tf.Tensor2D, embedding: tf.Tensor2D, labels: tf.Tensor1D): { loss: tf.Scalar; logits: tf.Tensor2D } {
  const impl = fastForm(softmaxCrossEntropyOp, tf.getBackend());
  if (!impl) return tiedHeadCrossEntropyNaive(hidden, embedding, labels);
  const logits = tf.matMul(hidden, embedding, false, true) as tf.Tensor2D;
  return { loss: impl(logits, labels), logits };
}
