// RWKV's token shift with its per-channel mixes for x [B, T, d] and each μ_c [d] (x' the previous token's x; a stack's
// μ_c [R, d]): RWKV-7's x + (x' − x) ⊙ μ_c or RWKV-4's x ⊙ μ_c + x' ⊙ (1 − μ_c) (naive.ts). A backend's fused kernels
// (accel/webgpu/tokenShift.ts, lever `tokenShift`) replace it while their lever is on — a group of up to three mixes
// one dispatch forward and three backward, in place of the pad, slice, multiplies and adds and their gradients (~50
// dispatches a layer of RWKV-7's six mixes, ~45 of RWKV-4's three); they may decline (undefined: the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { tokenShiftMixNaive, type TokenShiftForm } from './naive.js';

export { mixWithPrevious, tokenShiftMixNaive, type TokenShiftForm } from './naive.js';

/** The fast form's signature (with its own gradients); undefined: declined. */
export const tokenShiftOp = fastOp<(x: tf.Tensor3D, mus: tf.Tensor[], form: TokenShiftForm) => tf.Tensor3D[] | undefined>('tokenShift');

/** Each μ_c's mix of x [B, T, d] with its previous tokens (x'_t = x_{t−1}, x'_0 = 0): one [B, T, d] tensor per μ_c. */
export function tokenShiftMix(x: tf.Tensor3D, mus: tf.Tensor[], form: TokenShiftForm = 'rwkv7'): tf.Tensor3D[] {
  return fastForm(tokenShiftOp, tf.getBackend())?.(x, mus, form) ?? tokenShiftMixNaive(x, mus, form);
}
