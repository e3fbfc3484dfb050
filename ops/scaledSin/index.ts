// The implicit-filter MLPs' Sin activation y = sin(ω ⊙ x), ω a learned frequency per column (naive.ts). A backend's
// fused kernels (accel/webgpu/scaledSin.ts, lever `scaledSin`) replace it while their lever is on — one dispatch
// forward, one backward (dx and dω together) — in place of Multiply and Sin and their gradients' Cos, Multiplies and
// Sum (about 7 dispatches an activation; Hyena runs 3 a layer); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { scaledSinNaive } from './naive.js';

export { scaledSinNaive } from './naive.js';

/** The fast form's signature (with its own gradient); undefined: declined. */
export const scaledSinOp = fastOp<(x: tf.Tensor, omega: tf.Tensor) => tf.Tensor | undefined>('scaledSin');

/** sin(ω ⊙ x): x [L, W] with ω [W], or a stack's x [R, L, W] with ω [R, 1, W]. */
export function scaledSin(x: tf.Tensor, omega: tf.Tensor): tf.Tensor {
  return fastForm(scaledSinOp, tf.getBackend())?.(x, omega) ?? scaledSinNaive(x, omega);
}
