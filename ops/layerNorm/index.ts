// LayerNorm over the last axis. `layerNormNaive` (naive.ts) is the plain-tfjs reference; a backend's fused kernel
// (accel/webgpu/layerNorm.ts), registered in core/fastForms.ts, replaces it while its lever is on.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { addByRun, mulByRun } from '../shared/runAxis.js';
import { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

export { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

/** The fast form's signature (with its own gradient). */
export const layerNormOp = fastOp<(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor>('layerNorm');

/**
 * LayerNorm of x [..., d] with gamma, beta [d]; a stack of R runs (engine/stack.ts): x [R·B, ..., d], gamma, beta
 * [R, d] — the fast form takes the run axis itself (each row its run's gamma, beta; each run's own gradients).
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  const impl = fastForm(layerNormOp, tf.getBackend());
  if (impl) return impl(x, gamma, beta, eps);
  if (gamma.rank === 2) {
    // the reference with a run axis: every row normalised at once, then the runs' affine maps as two broadcast ops
    const d = gamma.shape[1]!;
    return tf.tidy(() => addByRun(mulByRun(layerNormNaive(x, tf.fill([d], 1), tf.fill([d], 0), eps), gamma), beta));
  }
  return layerNormNaive(x, gamma, beta, eps);
}
