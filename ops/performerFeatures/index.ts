// Performer's positive random features in Scatterbrain's cosh form, from the projections dash = x' ωᵀ [N, f/2]
// (naive.ts): queries exp(u − max u) + ε, keys exp((u − |x'|²/2) − shift), u = [dash, −dash]. A backend's fused kernels
// (accel/webgpu/performerFeatures.ts, lever `performerFeatures`) replace them while their lever is on — one dispatch
// forward and one backward each, in place of the concat, negation, max, exponentials, squares and sums and their
// gradients (~20 dispatches a feature map, two a layer); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { performerKeyFeaturesNaive, performerQueryFeaturesNaive } from './naive.js';

export { performerKeyFeaturesNaive, performerQueryFeaturesNaive } from './naive.js';

/** The fast forms' signatures (with their own gradients); undefined: declined. */
export const performerQueryOp = fastOp<(dash: tf.Tensor2D, eps: number) => tf.Tensor2D | undefined>('performerQueryFeatures');
export const performerKeyOp = fastOp<(dash: tf.Tensor2D, xs: tf.Tensor2D, shift: number) => tf.Tensor2D | undefined>('performerKeyFeatures');

/** φq = exp(u − max u) + ε per row, u = [dash, −dash]: dash [N, h] → [N, 2h]. */
export function performerQueryFeatures(dash: tf.Tensor2D, eps: number): tf.Tensor2D {
  return fastForm(performerQueryOp, tf.getBackend())?.(dash, eps) ?? performerQueryFeaturesNaive(dash, eps);
}

/** φk = exp((u − |xs|²/2) − shift) per row, u = [dash, −dash]: dash [N, h], xs [N, d_h] → [N, 2h]. */
export function performerKeyFeatures(dash: tf.Tensor2D, xs: tf.Tensor2D, shift: number): tf.Tensor2D {
  return fastForm(performerKeyOp, tf.getBackend())?.(dash, xs, shift) ?? performerKeyFeaturesNaive(dash, xs, shift);
}
