// The causal softmax of attention scores in plain tfjs: softmax(s · scale + causal mask) over the last axis — the
// three ops causal attention's reference ran on its [.., T, T] scores (ops/causalAttention/naive.ts), kept here as the
// reference of the fused form (accel/webgpu/causalSoftmax.ts).
import * as tf from '@tensorflow/tfjs';
import { causalMaskBias } from '../causalAttention/naive.js';

/** s [.., T, T] (queries × keys) → softmax(s · scale + mask) over keys, 0 above the diagonal. */
export function causalSoftmaxNaive(scores: tf.Tensor, scale: number): tf.Tensor {
  return tf.tidy(() => tf.softmax(tf.add(tf.mul(scores, scale), causalMaskBias(scores.shape[scores.rank - 1]!))));
}
