// Linear attention's causal normalisers over every earlier token and over the tokens `lag` or more back — Scatterbrain's
// low-rank part (architectures/scatterbrain.ts) divides by them:
//
//   D_i = φq_i · Σ_{j ≤ i} φk_j,        D^lag_i = φq_i · Σ_{j ≤ i − lag} φk_j   (0 while i < lag)
//
// This is the reference, in tfjs's ops as the mixer always took them: the prefix sums z by an exclusive cumsum plus the
// keys, the lagged sums z shifted by a pad and a slice. The pieces are exported too, so that the mixer can keep its own
// order of ops on this path (tfjs sums a tensor's gradients in reverse order of its uses: the order is in the bits).
import * as tf from '@tensorflow/tfjs';
import { exclusiveCumsum } from '../linearAttention/common.js';

/** D [B, H, T, 1], and D^lag [B, H, T, 1] when lag < T (else there is no token that far back). */
export interface Normalisers {
  D: tf.Tensor4D;
  lagged?: tf.Tensor4D;
}

/** z_i = Σ_{j ≤ i} φk_j along T: [B, H, T, F]. */
export const prefixSums = (phiK: tf.Tensor4D): tf.Tensor4D => tf.add(exclusiveCumsum(phiK, 2), phiK) as tf.Tensor4D;

/** φq_i · z_i: [B, H, T, F] twice → [B, H, T, 1]. */
export const normaliser = (phiQ: tf.Tensor4D, z: tf.Tensor4D): tf.Tensor4D => tf.sum(tf.mul(phiQ, z), -1, true) as tf.Tensor4D;

/** x moved `lag` steps later along T, zeros in front: [B, H, T, ·] (a pad and a slice). */
export const shiftedInTime = (x: tf.Tensor4D, lag: number): tf.Tensor4D => {
  const [B, H, T, C] = x.shape;
  return tf.pad(x, [[0, 0], [0, 0], [lag, 0], [0, 0]]).slice([0, 0, 0, 0], [B, H, T, C]) as tf.Tensor4D;
};

/** φq, φk [B, H, T, F] → D and (lag < T) D^lag. */
export function causalNormalisersNaive(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number): Normalisers {
  return tf.tidy(() => {
    const z = prefixSums(phiK);
    const D = normaliser(phiQ, z);
    return lag >= phiK.shape[2] ? { D } : { D, lagged: normaliser(phiQ, shiftedInTime(z, lag)) };
  });
}
