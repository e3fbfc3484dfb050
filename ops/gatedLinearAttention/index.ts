// Gated linear attention (GLA): chunked form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
// `gla` runs a backend's fused form (accel/webgpu/gla.ts, registered in core/fastForms.ts) while its lever is on and
// the form accepts the shape, else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { OPS_LAYOUT, throughOpsLayout, type HeadLayouts } from '../shared/heads.js';
import { glaChunked } from './chunk.js';

export { glaChunked } from './chunk.js';
export { glaNaive } from './naive.js';
export { glaStep } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const glaOp = fastOp<(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D, layouts: HeadLayouts) => tf.Tensor4D | undefined>('gla');

/**
 * q, k, g [B, H, T, d_k], v [B, H, T, d_v] → o [B, H, T, d_v] (arguments as `glaChunked`); with `layouts`, the inputs
 * in layouts.input and o in layouts.output (ops/shared/heads.ts).
 */
export function gla(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D, chunkSize = 16, layouts: HeadLayouts = OPS_LAYOUT): tf.Tensor4D {
  const fast = fastForm(glaOp, tf.getBackend())?.(q, k, v, g, layouts);
  if (fast) return fast;
  return throughOpsLayout(layouts, [q, k, v, g], (qh, kh, vh, gh) => glaChunked(qh, kh, vh, gh, chunkSize));
}
