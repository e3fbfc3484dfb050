// The AdamW parameter update: the plain-tfjs reference (naive.ts), or a backend's fused in-place update
// (accel/webgpu/adamw.ts) registered in core/fastForms.ts, which may decline (then the reference runs).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { adamWUpdateNaive, type AdamWStep } from './naive.js';

export { adamWUpdateNaive, type AdamWStep } from './naive.js';

/** The fast form: updates params and moments in place exactly as the reference would; returns false to decline. */
export const adamWOp = fastOp<(params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], step: AdamWStep) => boolean>('adamw');

export function adamWUpdate(params: tf.Variable[], m: tf.Variable[], v: tf.Variable[], grads: tf.Tensor[], step: AdamWStep): void {
  const fused = fastForm(adamWOp, tf.getBackend());
  if (fused && fused(params, m, v, grads, step)) return;
  adamWUpdateNaive(params, m, v, grads, step);
}
