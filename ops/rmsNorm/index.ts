// RMSNorm and L2 normalisation over the last axis: one op, two reductions (mean of squares, sum of squares).
// `rmsNormNaive` / `l2NormalizeNaive` (naive.ts) are the plain-tfjs reference; a backend's fused kernel
// (accel/webgpu/rmsNorm.ts), registered by accel/webgpu/index.ts in core/fastForms.ts's registry, replaces them while its lever is on and it accepts
// the shape (it may decline: undefined, and the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { mulByRun } from '../shared/runAxis.js';
import { L2_NORM_EPS, l2NormalizeNaive, RMS_NORM_EPS, rmsNormNaive } from './naive.js';

export { L2_NORM_EPS, l2NormalizeNaive, RMS_NORM_EPS, rmsNormNaive } from './naive.js';

/** How the row statistic is taken: 'mean' of squares (RMSNorm) or 'sum' of squares (L2 normalisation). */
export type RmsNormMode = 'mean' | 'sum';

/**
 * The fast form's signature (with its own gradient): x [..., d], weight [d] or undefined, eps, mode →
 * y = x / √(stat(x²) + eps) ⊙ weight; undefined: declined.
 */
export const rmsNormOp = fastOp<(x: tf.Tensor, weight: tf.Tensor | undefined, eps: number, mode: RmsNormMode) => tf.Tensor | undefined>('rmsNorm');

/**
 * RMSNorm over the last axis: x / √(mean(x²) + eps) ⊙ weight (weight undefined: none). A stack of R runs
 * (engine/stack.ts): x [R·B, ..., d], weight [R, d] — every row normalised at once, then each run's weight.
 */
export function rmsNorm(x: tf.Tensor, weight?: tf.Tensor, eps = RMS_NORM_EPS): tf.Tensor {
  if (weight?.rank === 2) return tf.tidy(() => mulByRun(rmsNorm(x, undefined, eps), weight));
  return fastForm(rmsNormOp, tf.getBackend())?.(x, weight, eps, 'mean') ?? rmsNormNaive(x, weight, eps);
}

/** L2 normalisation over the last axis: x · rsqrt(Σx² + eps). */
export function l2Normalize(x: tf.Tensor, eps = L2_NORM_EPS): tf.Tensor {
  return fastForm(rmsNormOp, tf.getBackend())?.(x, undefined, eps, 'sum') ?? l2NormalizeNaive(x, eps);
}
