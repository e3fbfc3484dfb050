// LayerNorm over the last axis. `layerNormNaive` (naive.ts) is the plain-tfjs reference; a backend's fused kernel
// (accel/webgpu/layerNorm.ts), registered in core/fastForms.ts, replaces it while its lever is on.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { addByRun, mulByRun } from '../shared/runAxis.js';
import { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

export { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

/** The fast form's signature (with its own gradient). */
export const layerNormOp = fastOp<(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor>('layerNorm');

/** LayerNorm of x [..., d] with gamma, beta [d]; a stack of R runs (engine/stack.ts): x [R·B, ..., d], gamma, beta [R, d]. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  const impl = fastForm(layerNormOp, tf.getBackend());
  if (gamma.rank === 2) {
    // each run's rows with its own gamma, beta: every row normalised at once (gamma 1, beta 0: the fused kernel takes
    // one gamma), then the runs' affine maps as two broadcast ops — a count of dispatches that R leaves alone
    const d = gamma.shape[1]!;
    return tf.tidy(() => {
      const [one, zero] = [tf.fill([d], 1), tf.fill([d], 0)];
      const normed = impl ? impl(x, one, zero, eps) : layerNormNaive(x, one, zero, eps);
      return addByRun(mulByRun(normed, gamma), beta);
    });
  }
  return impl ? impl(x, gamma, beta, eps) : layerNormNaive(x, gamma, beta, eps);
}
