// The gated delta rule token by token: the reference of chunk.ts.
import * as tf from '@tensorflow/tfjs';
import { tokenByToken } from '../shared/tokenLoop.js';
import { gatedDeltaRuleStep } from './step.js';

/** Reference: the recurrence token by token (same arguments as `gatedDeltaRuleChunked`). */
export function gatedDeltaRuleNaive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D): tf.Tensor4D {
  return tokenByToken([q, k, v, beta, g], q.shape[3], v.shape[3], (S, [qt, kt, vt, bt, gt]) =>
    gatedDeltaRuleStep(S, qt as tf.Tensor3D, kt as tf.Tensor3D, vt as tf.Tensor3D, bt as tf.Tensor2D, gt as tf.Tensor2D),
  );
}
