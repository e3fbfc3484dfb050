// Linear attention over feature-mapped queries and keys: chunked causal form (chunk.ts), zoology's formula
// (naive.ts), non-causal (nonCausal.ts) and the recurrent view (step.ts). `causalLinearAttention` runs a backend's
// fused form (accel/webgpu/linearAttention.ts, registered in core/fastForms.ts) while its lever is on and the form
// accepts the call (no initial state), else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { causalLinearAttentionChunked } from './chunk.js';
import { checkShapes, type LinearAttentionOptions } from './common.js';

export { LINEAR_ATTENTION_CHUNK, LINEAR_ATTENTION_EPS, type LinearAttentionOptions, type LinearAttentionState, type PairScore, type SharedKeys } from './common.js';
export { causalLinearAttentionChunked } from './chunk.js';
export { causalLinearAttentionNaive } from './naive.js';
export { linearAttentionNonCausal } from './nonCausal.js';
export { linearAttentionState, linearAttentionStep, linearAttentionZeroState } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const causalLinearAttentionOp = fastOp<(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions) => tf.Tensor4D | undefined>('causalLinearAttention');

/** Causal linear attention: φq, φk [B, H, T, F], v [B, H, T, dv] → y [B, H, T, dv] (arguments as `causalLinearAttentionChunked`). */
export function causalLinearAttention(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial, opts.pairScore, opts.shared);
  return fastForm(causalLinearAttentionOp, tf.getBackend())?.(phiQ, phiK, v, opts) ?? causalLinearAttentionChunked(phiQ, phiK, v, opts);
}
