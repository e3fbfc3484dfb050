// LayerNorm over the last axis. `layerNormNaive` (naive.ts) is the plain-tfjs reference; a backend's fused kernel
// (accel/webgpu/layerNorm.ts), registered in core/fastForms.ts, replaces it while its lever is on.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

export { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

/** The fast form's signature (with its own gradient). */
export const layerNormOp = fastOp<(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor>('layerNorm');

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  const impl = fastForm(layerNormOp, tf.getBackend());
  return impl ? impl(x, gamma, beta, eps) : layerNormNaive(x, gamma, beta, eps);
}
