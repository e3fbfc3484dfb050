// The delta rule (DeltaNet): chunked WY form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
// `deltaRule` runs a backend's fused form (accel/webgpu/deltaRule.ts, registered in core/fastForms.ts) while its
// lever is on and the form accepts the shape, else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { OPS_LAYOUT, throughOpsLayout, type HeadLayouts } from '../shared/heads.js';
import { deltaRuleChunked } from './chunk.js';

export { deltaRuleChunked } from './chunk.js';
export { deltaRuleNaive } from './naive.js';
export { deltaRuleStep } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const deltaRuleOp = fastOp<(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, layouts: HeadLayouts) => tf.Tensor4D | undefined>('deltaRule');

/**
 * q, k [B, H, T, d_k], v [B, H, T, d_v], beta [B, H, T] → o [B, H, T, d_v] (arguments as `deltaRuleChunked`); with
 * `layouts`, the inputs in layouts.input (β [B, T, H] for 'bthd') and o in layouts.output (ops/shared/heads.ts).
 */
export function deltaRule(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, chunkSize = 16, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D {
  const fast = fastForm(deltaRuleOp, tf.getBackend())?.(q, k, v, beta, layouts);
  if (fast) return fast;
  return throughOpsLayout(layouts, [q, k, v, beta], (qh, kh, vh, bh) => deltaRuleChunked(qh, kh, vh, bh, chunkSize));
}
