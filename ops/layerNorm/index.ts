// LayerNorm over the last axis. `layerNormNaive` (naive.ts) is the plain-tfjs reference; a backend's fused kernel
// (accel/webgpu/layerNorm.ts), registered in core/fastForms.ts, replaces it while its lever is on.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

export { LAYER_NORM_EPS, layerNormNaive } from './naive.js';

/** The fast form's signature (with its own gradient). */
export const layerNormOp = fastOp<(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor>('layerNorm');

/** LayerNorm of x [..., d] with gamma, beta [d]; a stack of R runs (engine/stack.ts): x [R·B, ..., d], gamma, beta [R, d]. */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  const impl = fastForm(layerNormOp, tf.getBackend());
  if (gamma.rank === 2) {
    // each run's rows with its own gamma, beta: the fused kernel normalises every row at once (with gamma 1, beta 0:
    // it takes one gamma), the runs' affine maps follow as two broadcast ops — a count of dispatches that R leaves alone
    const [runs, d] = gamma.shape as [number, number];
    return tf.tidy(() => {
      if (!impl) return layerNormNaive(x.reshape([runs, -1, d]), gamma.reshape([runs, 1, d]), beta.reshape([runs, 1, d]), eps).reshape(x.shape);
      const normed = impl(x, tf.fill([d], 1), tf.fill([d], 0), eps).reshape([runs, -1, d]);
      return tf.add(tf.mul(normed, gamma.reshape([runs, 1, d])), beta.reshape([runs, 1, d])).reshape(x.shape);
    });
  }
  return impl ? impl(x, gamma, beta, eps) : layerNormNaive(x, gamma, beta, eps);
}
