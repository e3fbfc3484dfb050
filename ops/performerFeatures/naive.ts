// Performer's positive random features in Scatterbrain's cosh form (zoology's SBPerformerFeatures; the mixer is
// architectures/scatterbrain.ts), from the projections dash = x' ωᵀ [N, h] of rows x' [N, d_h] onto h = f/2 random
// directions, u = [dash, −dash] [N, f]:
//
//   queries  φq = exp(u − max_r u_r) + ε                     (ε: SBPerformerFeatures' 1e-4 / √f)
//   keys     φk = exp((u − |x'|²/2) − shift)                 (shift: ½ log f + κ, the mixer's fixed key shift)
//
// the plain-tfjs reference — the concat, negation, max, exponentials and sums the mixer wrote before the op existed,
// in the same order, so the CPU backends train the same numbers.
import * as tf from '@tensorflow/tfjs';

/** u = [dash, −dash]. */
const cosh = (dash: tf.Tensor2D) => tf.concat([dash, tf.neg(dash)], 1);

export function performerQueryFeaturesNaive(dash: tf.Tensor2D, eps: number): tf.Tensor2D {
  const u = cosh(dash);
  return tf.add(tf.exp(tf.sub(u, tf.max(u, -1, true))), eps);
}

export function performerKeyFeaturesNaive(dash: tf.Tensor2D, xs: tf.Tensor2D, shift: number): tf.Tensor2D {
  const u = cosh(dash);
  const halfNorm = tf.mul(tf.sum(tf.square(xs), 1, true), 0.5);
  return tf.exp(tf.sub(tf.sub(u, halfNorm), shift)) as tf.Tensor2D;
}
