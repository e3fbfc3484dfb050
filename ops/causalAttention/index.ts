// Causal softmax attention: per-head reference in plain tfjs (naive.ts) and, on a backend that registers one
// (accel/webgpu/attention.ts, lever `attention`, through core/fastForms.ts), a fused flash-style form that never
// builds the [T, T] scores. With dropout the fused form applies ops/dropout's hashed mask (hash of seed and the
// element's index in the [B, H, T, T] weights), so it is used only where the reference's dropout is that same
// hashed mask (ops/dropout's fast form is on); otherwise, or when the form declines a shape, the reference runs.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { causalSoftmax } from '../causalSoftmax/index.js';
import { dropout, dropoutOp, stackedRuns } from '../dropout/index.js';
import { causalAttentionNaive } from './naive.js';

export { causalAttentionNaive, causalMaskBias } from './naive.js';

type CausalAttention = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate: number, seed: number) => tf.Tensor4D | undefined;

/** The fast form's signature (with its own gradient); undefined: declined, the reference runs. */
export const causalAttentionOp = fastOp<CausalAttention>('causalAttention');

/**
 * q, k, v [B, H, T, d_h] → softmax(q kᵀ · scale + causal mask) (dropped out at `rate` with `seed`: training) v,
 * [B, H, T, d_h]; differentiable in q, k, v.
 */
export function causalAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate = 0, seed = 0): tf.Tensor4D {
  const backend = tf.getBackend();
  const fused = fastForm(causalAttentionOp, backend);
  // the fused mask hashes the element's index over all of [B, H, T, T]; a stack of runs (ops/dropout's
  // withStackedRuns) draws each run's mask over its own rows, so stacked dropout runs the reference
  const sameDropout = rate <= 0 || (fastForm(dropoutOp, backend) !== undefined && stackedRuns() === 1);
  return (fused && sameDropout ? fused(q, k, v, scale, rate, seed) : undefined) ?? causalAttentionScores(q, k, v, scale, rate, seed);
}

/**
 * The reference's computation through the full [T, T] scores, its softmax by ops/causalSoftmax (whose fused form a
 * backend may run: one pass over the scores each way): what causal attention runs when the flash form is off or declines.
 */
export function causalAttentionScores(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, scale: number, rate = 0, seed = 0): tf.Tensor4D {
  return tf.tidy(() => {
    let attn = causalSoftmax(tf.matMul(q, k, false, true), scale);
    if (rate > 0) attn = dropout(attn, rate, seed);
    return tf.matMul(attn, v) as tf.Tensor4D;
  });
}
