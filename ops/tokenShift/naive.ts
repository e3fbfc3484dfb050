// RWKV's token shift with its per-channel mixes (RWKV-7, fla's RWKV7Attention): from x [B, T, d] and its shifted
// copy x'_t = x_{t−1} (x'_0 = 0), one mixed input per μ_c [d]:
//
//   x^c = x + (x' − x) ⊙ μ_c
//
// the plain-tfjs reference — the pad, slice, subtract, multiplies and adds the mixer wrote before the op existed, in
// the same order, so the CPU backends train the same numbers.
import * as tf from '@tensorflow/tfjs';

/** x + (prev − x) ⊙ μ_c for each μ_c: prev is x's previous token (the recurrent step passes its carried one). */
export function mixWithPrevious(x: tf.Tensor, prev: tf.Tensor, mus: tf.Tensor[]): tf.Tensor[] {
  const delta = tf.sub(prev, x);
  return mus.map((mu) => tf.add(x, tf.mul(delta, mu)));
}

/** The shifted copy of x [B, T, d]: x'_t = x_{t−1}, x'_0 = 0. */
export function previousTokens(x: tf.Tensor3D): tf.Tensor3D {
  const [B, T, d] = x.shape;
  return tf.pad(x.slice([0, 0, 0], [B, T - 1, d]), [[0, 0], [1, 0], [0, 0]]);
}

export function tokenShiftMixNaive(x: tf.Tensor3D, mus: tf.Tensor[]): tf.Tensor3D[] {
  return mixWithPrevious(x, previousTokens(x), mus) as tf.Tensor3D[];
}
