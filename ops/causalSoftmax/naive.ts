// The causal softmax of attention scores in plain tfjs: softmax(s · scale + causal mask) over the last axis — the
// three ops causal attention's reference ran on its [.., T, T] scores (ops/causalAttention/naive.ts), kept here as the
// reference of the fused form (accel/webgpu/causalSoftmax.ts). The band form (a query sees itself and the w keys
// before it) is the same three ops with the sliding window's band mask (architectures/slidingWindow.ts, 'masked').
import * as tf from '@tensorflow/tfjs';
import { causalMaskBias } from '../causalAttention/naive.js';
import { cachedConstant } from '../shared/constants.js';

/** s [.., T, T] (queries × keys) → softmax(s · scale + mask) over keys, 0 above the diagonal. */
export function causalSoftmaxNaive(scores: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => tf.softmax(tf.add(tf.mul(scores, scale), causalMaskBias(scores.shape[scores.rank - 1]!))));
}

/** Additive band mask [T, T]: 0 where i − w ≤ j ≤ i, −1e9 elsewhere, built anew (references that check the cached one). */
export function buildBandMask(seqLen: number, window: number): tf.Tensor2D {
  return tf.tidy(() => {
    const i = tf.range(0, seqLen, 1, 'int32').reshape([seqLen, 1]);
    const j = tf.range(0, seqLen, 1, 'int32').reshape([1, seqLen]);
    const visible = tf.logicalAnd(tf.lessEqual(j, i), tf.greaterEqual(j, tf.sub(i, window)));
    return tf.where(visible, tf.zeros([seqLen, seqLen]), tf.fill([seqLen, seqLen], -1e9)) as tf.Tensor2D;
  });
}

/** The band mask, cached per T and w (a constant). */
export function bandMaskBias(seqLen: number, window: number): tf.Tensor2D {
  return cachedConstant(`band-mask:${seqLen}:${window}`, () => buildBandMask(seqLen, window));
}

/** s [.., T, T] → softmax(s · scale + band mask) over keys: query i sees keys i − w … i, 0 elsewhere. */
export function bandSoftmaxNaive(scores: tf.Tensor, scale: number, window: number): tf.Tensor {
  return tf.tidy(() => tf.softmax(tf.add(tf.mul(scores, scale), bandMaskBias(scores.shape[scores.rank - 1]!, window))));
}
