// Linear attention's causal normalisers, over every earlier token and over those `lag` or more back (naive.ts has the
// formula). A backend's fused kernels (accel/webgpu/causalNormalisers.ts, lever `causalNormalisers`) replace the
// reference while their lever is on — the prefix sums in one walk, both dot products in one pass, and their gradients
// in two, in place of the cumsum and its transposes, the shift, the products and sums (~26 dispatches a Scatterbrain
// layer); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { causalNormalisersNaive, type Normalisers } from './naive.js';

export { causalNormalisersNaive, normaliser, prefixSums, shiftedInTime, type Normalisers } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const causalNormalisersOp = fastOp<(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number) => Normalisers | undefined>('causalNormalisers');

/** D_i = φq_i·Σ_{j≤i} φk_j and (lag < T) D^lag_i = φq_i·Σ_{j≤i−lag} φk_j: φq, φk [B, H, T, F] → [B, H, T, 1] each. */
export function causalNormalisers(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number): Normalisers {
  return causalNormalisersFused(phiQ, phiK, lag) ?? causalNormalisersNaive(phiQ, phiK, lag);
}

/**
 * The backend's fused form alone, or undefined (lever off, or declined): for a caller that composes the reference's
 * pieces in an order of its own (Scatterbrain keeps its bits that way).
 */
export function causalNormalisersFused(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number): Normalisers | undefined {
  if (phiK.shape.join() !== phiQ.shape.join()) throw new Error(`causal normalisers: φk [${phiK.shape}] differs from φq [${phiQ.shape}]`);
  if (!Number.isInteger(lag) || lag < 1) throw new Error(`causal normalisers: lag ${lag} is not a whole number ≥ 1`);
  return fastForm(causalNormalisersOp, tf.getBackend())?.(phiQ, phiK, lag);
}
