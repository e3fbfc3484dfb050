// RWKV's token shift with its per-channel mixes, x^c = x + (x' − x) ⊙ μ_c for x [B, T, d] and each μ_c [d] (x' the
// previous token's x; naive.ts). A backend's fused kernels (accel/webgpu/tokenShift.ts, lever `tokenShift`) replace it
// while their lever is on — for RWKV-7's six mixes two dispatches forward and about seven backward, in place of the
// pad, slice, subtract, six multiplies and adds and their gradients (~50 dispatches a layer); they may decline
// (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { tokenShiftMixNaive } from './naive.js';

export { mixWithPrevious, previousTokens, tokenShiftMixNaive } from './naive.js';

/** The fast form's signature (with its own gradients); undefined: declined. */
export const tokenShiftOp = fastOp<(x: tf.Tensor3D, mus: tf.Tensor[]) => tf.Tensor3D[] | undefined>('tokenShift');

/** x + (x' − x) ⊙ μ_c for each μ_c [d], x [B, T, d] (x'_t = x_{t−1}, x'_0 = 0): one [B, T, d] tensor per μ_c. */
export function tokenShiftMix(x: tf.Tensor3D, mus: tf.Tensor[]): tf.Tensor3D[] {
  return fastForm(tokenShiftOp, tf.getBackend())?.(x, mus) ?? tokenShiftMixNaive(x, mus);
}
