// Scatterbrain's window part and low-rank part joined (naive.ts has the formula). A backend's fused kernels
// (accel/webgpu/scatterbrainCombine.ts, lever `scatterbrainCombine`) replace the reference while their lever is on —
// one dispatch forward and one backward in place of the sums, products, clamp and ratio and their gradients (~40
// dispatches a layer); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { scatterbrainCombineNaive, type CombineConstants, type Lagged } from './naive.js';

export { ratio, scatterbrainCombineNaive, type CombineConstants, type Lagged } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const scatterbrainCombineOp = fastOp<(local: tf.Tensor4D, a: tf.Tensor4D, D: tf.Tensor4D, lagged: Lagged | undefined, k: CombineConstants) => tf.Tensor4D | undefined>('scatterbrainCombine');

/** y = local + ((1 − c)·a·(D + ε) + c·a_lag·(D_lag + ε)) / max((1 − c)·D + c·D_lag, m) (naive.ts). */
export function scatterbrainCombine(local: tf.Tensor4D, a: tf.Tensor4D, D: tf.Tensor4D, lagged: Lagged | undefined, k: CombineConstants): tf.Tensor4D {
  return fastForm(scatterbrainCombineOp, tf.getBackend())?.(local, a, D, lagged, k) ?? scatterbrainCombineNaive(local, a, D, lagged, k);
}
