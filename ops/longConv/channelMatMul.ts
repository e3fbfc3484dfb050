// Batched matrix product a[i] · b[i] over a leading batch (the per-channel products of the blocked long conv).
// This is tf.matMul; a backend may register a faster form in core/fastForms.ts (tfjs-backend-wasm multiplies a
// batch with a plain loop: accel/wasm/channelMatMul.ts runs it as 2-D products instead). The fast form is only
// asked for a real batch (n > 1, equal batch sizes). No gradient: it is only used inside custom-gradient ops.
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';

export const channelMatMulOp = fastOp<(a: tf.Tensor3D, b: tf.Tensor3D, transposeA: boolean, transposeB: boolean) => tf.Tensor3D>('channelMatMul');

/** a [n, M, K] (or [n, K, M] with transposeA), b [n, K, N] (or [n, N, K]) → [n, M, N]. */
export function channelMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeA = false, transposeB = false): tf.Tensor3D {
  const fast = a.shape[0] === 1 || a.shape[0] !== b.shape[0] ? undefined : fastForm(channelMatMulOp, tf.getBackend());
  return fast ? fast(a, b, transposeA, transposeB) : tf.matMul(a, b, transposeA, transposeB);
}
