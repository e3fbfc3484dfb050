// The generalized delta rule token by token: the reference of chunk.ts.
import * as tf from '@tensorflow/tfjs';
import { tokenByToken } from '../shared/tokenLoop.js';
import { generalizedDeltaRuleStep } from './step.js';

/** Reference: the recurrence token by token (same arguments as `generalizedDeltaRuleChunked`). */
export function generalizedDeltaRuleNaive(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D {
  return tokenByToken([r, w, k, v, a, b], r.shape[3], v.shape[3], (S, [rt, wt, kt, vt, at, bt]) =>
    generalizedDeltaRuleStep(S, rt as tf.Tensor3D, wt as tf.Tensor3D, kt as tf.Tensor3D, vt as tf.Tensor3D, at as tf.Tensor3D, bt as tf.Tensor3D),
  );
}
