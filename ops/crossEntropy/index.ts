// Softmax cross-entropy on integer labels, computed only at supervised positions. Never builds a one-hot
// tensor of the vocabulary: loss_i = logsumexp(h_i Eᵀ) − h_i·E[label_i] (naive.ts). A backend's fused softmax
// cross-entropy over the logits (accel/webgpu/crossEntropy.ts), registered in core/fastForms.ts, replaces the
// loss while its lever is on; the logits are the same matmul either way.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { logSumExpLast, tiedHeadCrossEntropyNaive } from './naive.js';

export { logSumExpLast, softmaxCrossEntropyNaive, tiedHeadCrossEntropyNaive } from './naive.js';

/** The fast form's signature: mean loss of logits [M, V] against int32 labels [M] (its own gradient). */
export const softmaxCrossEntropyOp = fastOp<(logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Scalar>('crossEntropy');

/** A stack's fast form: logits [R·M, V] and labels [R·M] of R runs (runs outermost) → each run's mean loss [R]. */
export const softmaxCrossEntropyByRunOp = fastOp<(logits: tf.Tensor2D, labels: tf.Tensor1D, runs: number) => tf.Tensor1D>('crossEntropyByRun');

/**
 * A stack of R runs' losses through their own tied heads: hidden [R, M, d] (each run's supervised rows), embedding
 * [R, V, d], labels [M] int32 (the runs share their data) → each run's mean loss [R]; the logits are one batched
 * matMul either way.
 */
export function stackedTiedHeadCrossEntropy(hidden: tf.Tensor3D, embedding: tf.Tensor3D, labels: tf.Tensor1D): tf.Tensor1D {
  const [R, M] = hidden.shape;
  const logits = tf.matMul(hidden, embedding, false, true) as tf.Tensor3D; // [R, M, V]
  const impl = fastForm(softmaxCrossEntropyByRunOp, tf.getBackend());
  if (impl) return impl(logits.reshape([R * M, -1]) as tf.Tensor2D, R === 1 ? labels : (tf.tile(labels, [R]) as tf.Tensor1D), R);
  // the reference: loss_ri = logsumexp(h_ri E_rᵀ) − h_ri·E_r[label_i], each run's mean
  const target = tf.sum(tf.mul(hidden, tf.gather(embedding, labels, 1)), 2);
  return tf.mean(tf.sub(logSumExpLast(logits), target), 1) as tf.Tensor1D;
}

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
