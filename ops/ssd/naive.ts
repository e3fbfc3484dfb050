// Mamba-2's SSD token by token: the reference of chunk.ts.
import * as tf from '@tensorflow/tfjs';
import { tokenByToken } from '../shared/tokenLoop.js';
import { ssdStep } from './step.js';

/** Reference: the recurrence token by token (same arguments as `ssdChunked`). */
export function ssdNaive(c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D): tf.Tensor4D {
  return tokenByToken([c, b, v, a], b.shape[3], v.shape[3], (h, [ct, bt, vt, at]) => ssdStep(h, ct as tf.Tensor3D, bt as tf.Tensor3D, vt as tf.Tensor3D, at as tf.Tensor2D));
}
