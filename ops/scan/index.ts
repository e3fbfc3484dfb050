// The diagonal linear recurrence h_t = a_t ⊙ h_{t−1} + b_t (Mamba's selective scan, GLA's chunk carry).
// `scan` runs a backend's fused form (accel/webgpu/scan.ts, registered in core/fastForms.ts) while its lever is
// on, else the parallel form of plain tfjs ops (parallel.ts); scanNaive (naive.ts) is the per-step reference.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { checkShapes } from './common.js';
import { scan as scanParallelWithGrad } from './parallel.js';

export { scanParallel } from './parallel.js';
export { scanNaive } from './naive.js';

/** The fast form's signature: a broadcasting to b [B, T, ...], with its own gradient. */
export const scanOp = fastOp<(a: tf.Tensor, b: tf.Tensor) => tf.Tensor>('scan');

/** h_t = a_t ⊙ h_{t−1} + b_t over axis 1 (h_{−1} = 0), a broadcasting to b; differentiable in a and b. */
export function scan(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  checkShapes(a, b);
  const impl = fastForm(scanOp, tf.getBackend());
  return impl ? impl(a, b) : scanParallelWithGrad(a, b);
}
