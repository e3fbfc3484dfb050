// The causal softmax of attention scores: softmax(s · scale + causal mask) over the keys of each query (naive.ts). A
// backend's fused form (accel/webgpu/causalSoftmax.ts, lever `causalSoftmax`) replaces its three ops forward and the
// softmax gradient's four (and the scale's) backward by one dispatch each, one pass over the [.., T, T] scores each
// way where tfjs makes eight; it may decline (undefined: the reference runs). The band form (the sliding window's
// masked scores: query i sees keys i − w … i) has its own lever, `bandSoftmax`, and the same kernels.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { bandSoftmaxNaive, causalSoftmaxNaive } from './naive.js';

export { bandMaskBias, bandSoftmaxNaive, buildBandMask, causalSoftmaxNaive } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const causalSoftmaxOp = fastOp<(scores: tf.Tensor, scale: number) => tf.Tensor | undefined>('causalSoftmax');
export const bandSoftmaxOp = fastOp<(scores: tf.Tensor, scale: number, window: number) => tf.Tensor | undefined>('bandSoftmax');

/** scores [.., T, T] → softmax(scores · scale + causal mask) over the last axis. */
export function causalSoftmax(scores: tf.Tensor, scale: number): tf.Tensor {
  return fastForm(causalSoftmaxOp, tf.getBackend())?.(scores, scale) ?? causalSoftmaxNaive(scores, scale);
}

/** scores [.., T, T] → softmax(scores · scale + band mask) over the last axis: query i sees keys i − w … i. */
export function bandSoftmax(scores: tf.Tensor, scale: number, window: number): tf.Tensor {
  return fastForm(bandSoftmaxOp, tf.getBackend())?.(scores, scale, window) ?? bandSoftmaxNaive(scores, scale, window);
}
