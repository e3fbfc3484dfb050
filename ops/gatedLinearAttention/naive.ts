// Gated linear attention token by token: the reference of chunk.ts.
import * as tf from '@tensorflow/tfjs';
import { tokenByToken } from '../shared/tokenLoop.js';
import { glaStep } from './step.js';

/** Reference: the recurrence token by token (same arguments as `glaChunked`). */
export function glaNaive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D): tf.Tensor4D {
  return tokenByToken([q, k, v, g], q.shape[3], v.shape[3], (S, [qt, kt, vt, gt]) => glaStep(S, qt as tf.Tensor3D, kt as tf.Tensor3D, vt as tf.Tensor3D, gt as tf.Tensor3D));
}
