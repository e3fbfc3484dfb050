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
  // the reference would broadcast a mismatched call silently
  const rows = [...a.shape.slice(0, 3), 1].join();
  const bad = local.shape.join() !== a.shape.join() || D.shape.join() !== rows || (lagged && (lagged.a.shape.join() !== a.shape.join() || lagged.D.shape.join() !== rows));
  if (bad) throw new Error(`scatterbrain join: local [${local.shape}], a [${a.shape}], D [${D.shape}]${lagged ? `, a_lag [${lagged.a.shape}], D_lag [${lagged.D.shape}]` : ''}: expected [B, H, T, d_h] and [B, H, T, 1]`);
  return fastForm(scatterbrainCombineOp, tf.getBackend())?.(local, a, D, lagged, k) ?? scatterbrainCombineNaive(local, a, D, lagged, k);
}
