// SiLU and the SiLU gate, elementwise: x · σ(x) and y · silu(z) (naive.ts). A backend's fused kernels
// (accel/webgpu/silu.ts, lever `silu`) replace them while their lever is on — forward one dispatch, backward one — in
// place of tfjs's Sigmoid and Multiply forward and their five-op gradients; they may decline (undefined: the
// reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { siluGateNaive, siluNaive } from './naive.js';

export { siluGateNaive, siluNaive } from './naive.js';

/** The fast forms' signatures (each with its own gradient); undefined: declined. */
export const siluOp = fastOp<(x: tf.Tensor) => tf.Tensor | undefined>('silu');
export const siluGateOp = fastOp<(y: tf.Tensor, z: tf.Tensor) => tf.Tensor | undefined>('siluGate');

/** x · σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return fastForm(siluOp, tf.getBackend())?.(x) ?? siluNaive(x);
}

/** y · silu(z), y and z of one shape. */
export function siluGate(y: tf.Tensor, z: tf.Tensor): tf.Tensor {
  return fastForm(siluGateOp, tf.getBackend())?.(y, z) ?? siluGateNaive(y, z);
}
