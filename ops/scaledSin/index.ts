// The implicit-filter MLPs' Sin activation y = sin(ω ⊙ x), ω a learned frequency per column (naive.ts). A backend's
// fused kernels (accel/webgpu/scaledSin.ts, lever `scaledSin`) replace it while their lever is on — one dispatch
// forward, one backward (dx and dω together) — in place of Multiply and Sin and their gradients' Cos, Multiplies and
// Sum (about 7 dispatches an activation; Hyena runs 3 a layer); they may decline (undefined: the reference runs). The
// preceding linear layer's bias may come with x (sin(ω ⊙ (x + b))): with lever `sinBias` the fused kernels add it too
// (its Add and its gradient's Sum gone), else it is added first.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { scaledSinNaive } from './naive.js';

export { addBias, scaledSinNaive } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const scaledSinOp = fastOp<(x: tf.Tensor, omega: tf.Tensor, bias?: tf.Tensor) => tf.Tensor | undefined>('scaledSin');

/**
 * sin(ω ⊙ (x + b)): x [L, W] with ω [W] (and b [W]), or a stack's x [R, L, W] with ω [R, 1, W] (and b [R, W]); b is
 * the preceding linear layer's bias, optional.
 */
export function scaledSin(x: tf.Tensor, omega: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  return fastForm(scaledSinOp, tf.getBackend())?.(x, omega, bias) ?? scaledSinNaive(x, omega, bias);
}
