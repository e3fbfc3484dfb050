// Depthwise causal short convolution: the whole sequence (conv.ts, the reference) and one token at a time (step.ts).
// `shortConv` runs a backend's fused form (accel/webgpu/shortConv.ts, registered in core/fastForms.ts) while its
// lever is on and the form accepts the shape (the causal and the circular form each under its own lever), else
// the reference.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { shortConv as shortConvReference } from './conv.js';

export { shortConvReference };
export { shortConvStep } from './step.js';

/**
 * The fast form's signature (with its own gradient): x [B, T, d], weight [k, d], bias [d]? → y, or a stack's weight
 * [R, k, d], bias [R, d]; undefined: declined.
 */
export const shortConvOp = fastOp<(x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D) => tf.Tensor3D | undefined>('shortConv');
/** The circular (non-causal) form's fast form: the same signature. */
export const circularShortConvOp = fastOp<(x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D) => tf.Tensor3D | undefined>('shortConv (circular)');

/**
 * x [B, T, d], weight [k, d] (tap k−1 multiplies the current token), bias [d]? → [B, T, d] (as conv.ts's shortConv);
 * a stack of runs: weight [R, k, d], bias [R, d].
 */
export function shortConv(x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D, opts: { circular?: boolean } = {}): tf.Tensor3D {
  const fast = fastForm(opts.circular ? circularShortConvOp : shortConvOp, tf.getBackend())?.(x, weight, bias);
  return fast ?? shortConvReference(x, weight, bias, opts);
}
