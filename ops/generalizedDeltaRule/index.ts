// The generalized delta rule (RWKV-7's state update): chunked form (chunk.ts), per-token reference (naive.ts), step
// view (step.ts). `generalizedDeltaRule` runs a backend's fused form (accel/webgpu/generalizedDeltaRule.ts,
// registered in core/fastForms.ts) while its lever is on and the form accepts the shape, else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { OPS_LAYOUT, throughOpsLayout, type HeadLayouts } from '../shared/heads.js';
import { generalizedDeltaRuleChunked } from './chunk.js';

export { generalizedDeltaRuleChunked } from './chunk.js';
export { generalizedDeltaRuleNaive } from './naive.js';
export { generalizedDeltaRuleStep } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const generalizedDeltaRuleOp = fastOp<(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, layouts: HeadLayouts) => tf.Tensor4D | undefined>('generalizedDeltaRule');

/**
 * r, w, k, a, b [B, H, T, d_k], v [B, H, T, d_v] (w ≤ 0) → o [B, H, T, d_v] (as `generalizedDeltaRuleChunked`); with
 * `layouts`, the inputs in layouts.input and o in layouts.output (ops/shared/heads.ts): the chunked form gets its
 * inputs transposed to [B, H, T, ·] and its output transposed back.
 */
export function generalizedDeltaRule(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, chunkSize = 8, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D {
  const fast = fastForm(generalizedDeltaRuleOp, tf.getBackend())?.(r, w, k, v, a, b, layouts);
  if (fast) return fast;
  return throughOpsLayout(layouts, [r, w, k, v, a, b], (rh, wh, kh, vh, ah, bh) => generalizedDeltaRuleChunked(rh, wh, kh, vh, ah, bh, chunkSize));
}
