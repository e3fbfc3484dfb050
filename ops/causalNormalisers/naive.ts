// Linear attention's causal normalisers over every earlier token and over the tokens `lag` or more back — Scatterbrain's
// low-rank part (architectures/scatterbrain.ts) divides by them:
//
//   D_i = φq_i · Σ_{j ≤ i} φk_j,        D^lag_i = φq_i · Σ_{j ≤ i − lag} φk_j   (0 while i < lag)
//
// This is the reference: tfjs's ops in the order the mixer always took them (the prefix sums z by an exclusive cumsum
// plus the keys, the lagged sums z shifted by a pad and a slice), so a CPU run keeps its bits.
import * as tf from '@tensorflow/tfjs';
import { exclusiveCumsum } from '../linearAttention/common.js';

/** D [B, H, T, 1], and D^lag [B, H, T, 1] when lag < T (else there is no token that far back). */
export interface Normalisers {
  D: tf.Tensor4D;
  lagged?: tf.Tensor4D;
}

/** φq, φk [B, H, T, F] → D and (lag < T) D^lag. */
export function causalNormalisersNaive(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number): Normalisers {
  return tf.tidy(() => {
    const [B, H, T, F] = phiK.shape;
    const zK = tf.add(exclusiveCumsum(phiK, 2), phiK) as tf.Tensor4D; // Σ_{j≤i} φk_j
    const D = tf.sum(tf.mul(phiQ, zK), -1, true) as tf.Tensor4D;
    if (lag >= T) return { D };
    const zLag = tf.pad(zK, [[0, 0], [0, 0], [lag, 0], [0, 0]]).slice([0, 0, 0, 0], [B, H, T, F]);
    return { D, lagged: tf.sum(tf.mul(phiQ, zLag), -1, true) as tf.Tensor4D };
  });
}
