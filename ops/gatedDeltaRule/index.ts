// The gated delta rule (Gated DeltaNet): chunked WY form with decay (chunk.ts), per-token reference (naive.ts),
// step view (step.ts). `gatedDeltaRule` runs a backend's fused form (accel/webgpu/deltaRule.ts, registered in
// core/fastForms.ts) while its lever is on and the form accepts the shape, else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { OPS_LAYOUT, throughOpsLayout, type HeadLayouts } from '../shared/heads.js';
import { gatedDeltaRuleChunked } from './chunk.js';

export { gatedDeltaRuleChunked } from './chunk.js';
export { gatedDeltaRuleNaive } from './naive.js';
export { gatedDeltaRuleStep } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const gatedDeltaRuleOp = fastOp<(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D, layouts: HeadLayouts) => tf.Tensor4D | undefined>('gatedDeltaRule');

/**
 * q, k [B, H, T, d_k], v [B, H, T, d_v], beta, g [B, H, T] (g ≤ 0) → o [B, H, T, d_v] (as `gatedDeltaRuleChunked`);
 * with `layouts`, the inputs in layouts.input (β, g [B, T, H] for 'bthd') and o in layouts.output (ops/shared/heads.ts).
 */
export function gatedDeltaRule(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D, chunkSize = 16, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D {
  const fast = fastForm(gatedDeltaRuleOp, tf.getBackend())?.(q, k, v, beta, g, layouts);
  if (fast) return fast;
  return throughOpsLayout(layouts, [q, k, v, beta, g], (qh, kh, vh, bh, gh) => gatedDeltaRuleChunked(qh, kh, vh, bh, gh, chunkSize));
}
