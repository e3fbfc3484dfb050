// The generalized delta rule (RWKV-7's state update): chunked form (chunk.ts), per-token reference (naive.ts), step
// view (step.ts). No backend has a fused form of it yet: `generalizedDeltaRule` is the chunked form everywhere.
import type * as tf from '@tensorflow/tfjs';
import { generalizedDeltaRuleChunked } from './chunk.js';

export { generalizedDeltaRuleChunked } from './chunk.js';
export { generalizedDeltaRuleNaive } from './naive.js';
export { generalizedDeltaRuleStep } from './step.js';

/** r, w, k, a, b [B, H, T, d_k], v [B, H, T, d_v] (w ≤ 0) → o [B, H, T, d_v] (as `generalizedDeltaRuleChunked`). */
export function generalizedDeltaRule(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, chunkSize = 8): tf.Tensor4D {
  return generalizedDeltaRuleChunked(r, w, k, v, a, b, chunkSize);
}
