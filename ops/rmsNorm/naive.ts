// RMSNorm and L2 normalisation over the last axis in plain tfjs ops (tfjs's own gradients): the reference, and the
// path every backend takes while no fast form is on. These are the formulas the mixers inlined before this op
// existed (architectures/nn.ts, engine/model.ts, deltaNet.ts, gatedDeltaNet.ts, rwkv7.ts's κ̂), op for op, so their
// values are unchanged.
import * as tf from '@tensorflow/tfjs';

/** RMSNorm's eps (fla / mamba_ssm). */
export const RMS_NORM_EPS = 1e-5;
/** L2 normalisation's eps (fla's l2norm: DeltaNet's and Gated DeltaNet's q, k; RWKV-7's κ̂). */
export const L2_NORM_EPS = 1e-6;

/** x / √(mean(x²) + eps) ⊙ weight over the last axis (no weight: x / √(mean(x²) + eps)). */
export function rmsNormNaive(x: tf.Tensor, weight: tf.Tensor | undefined, eps = RMS_NORM_EPS): tf.Tensor {
  return tf.tidy(() => {
    const normed = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    return weight ? tf.mul(normed, weight) : normed;
  });
}

/** x · rsqrt(Σx² + eps) over the last axis. */
export function l2NormalizeNaive(x: tf.Tensor, eps = L2_NORM_EPS): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), eps))));
}
