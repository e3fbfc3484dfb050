// Mamba's selective scan: plain-tfjs blocked form (blocked.ts, through ops/scan), per-token reference (naive.ts).
// `selectiveScan` runs a backend's fused form (accel/webgpu/selectiveScan.ts, registered in core/fastForms.ts)
// while its lever is on and the form accepts the shape, else the blocked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { selectiveScanBlocked } from './blocked.js';
import { checkShapes } from './common.js';

export { selectiveScanBlocked, SCAN_BLOCK_FLOATS, timeBlockFor } from './blocked.js';
export { selectiveScanNaive } from './naive.js';

type SelectiveScan = (x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D | tf.Tensor3D, B: tf.Tensor3D, C: tf.Tensor3D) => tf.Tensor3D | undefined;

/** The fast form's signature (with its own gradient); undefined: declined, the blocked form runs. */
export const selectiveScanOp = fastOp<SelectiveScan>('selectiveScan');

/**
 * x, Δ [B, T, E] (Δ already softplus'ed), A [E, N] (negative), B, C [B, T, N] → y [B, T, E] with
 * y_t = h_t C_t, h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) B_tᵀ (h_{−1} = 0); differentiable in all five.
 * `timeBlock`: tokens per block of the blocked form (undefined: its memory bound decides; the fused form has none).
 */
export function selectiveScan(x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D | tf.Tensor3D, B: tf.Tensor3D, C: tf.Tensor3D, timeBlock?: number): tf.Tensor3D {
  checkShapes(x, dt, A, B, C); // a stack's A [R, E, N] (engine/stack.ts) too: every form takes it
  return fastForm(selectiveScanOp, tf.getBackend())?.(x, dt, A, B, C) ?? selectiveScanBlocked(x, dt, A, B, C, timeBlock);
}
