// Mamba-2's state space dual (SSD): chunked form (chunk.ts), per-token reference (naive.ts), step view (step.ts).
// `ssd` runs a backend's fused form (accel/webgpu/gla.ts: GLA's kernel with one decay per head, registered in
// core/fastForms.ts) while its lever is on and the form accepts the shape, else the chunked form.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';
import { ssdChunked } from './chunk.js';

export { ssdChunked } from './chunk.js';
export { ssdNaive } from './naive.js';
export { ssdStep } from './step.js';

/** The fast form's signature (with its own gradient); undefined: declined, the chunked form runs. */
export const ssdOp = fastOp<(c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D) => tf.Tensor4D | undefined>('ssd');

/** c, b [B, H, T, N], v [B, H, T, P], a [B, H, T] (≤ 0) → o [B, H, T, P] (arguments as `ssdChunked`). */
export function ssd(c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D, chunkSize = 32): tf.Tensor4D {
  return fastForm(ssdOp, tf.getBackend())?.(c, b, v, a) ?? ssdChunked(c, b, v, a, chunkSize);
}
