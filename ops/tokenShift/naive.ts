// RWKV's token shift with its per-channel mixes: from x [B, T, d] and its shifted copy x'_t = x_{t−1} (x'_0 = 0), one
// mixed input per μ_c [d], in either paper's form —
//
//   rwkv7 (RWKV-7, fla's RWKV7Attention):   x^c = x + (x' − x) ⊙ μ_c
//   rwkv4 (RWKV-4, zoology's RWKVTimeMixer): x^c = x ⊙ μ_c + x' ⊙ (1 − μ_c)
//
// the plain-tfjs reference — the pad, slice and the multiplies and adds each mixer wrote before the op existed, in the
// same order, so the CPU backends train the same numbers. A stack of R runs (ops/shared/runAxis.ts): x [R·B, T, d]
// with μ_c [R, d], each run's rows mixed by its own μ (RWKV-4 stacks; RWKV-7 does not).
import * as tf from '@tensorflow/tfjs';
import { mulByRun } from '../shared/runAxis.js';
import { timeShift } from '../shared/timeShift.js';

export type TokenShiftForm = 'rwkv7' | 'rwkv4';

/** Each μ_c's mix of x with prev, x's previous token (the recurrent step passes its carried one). */
export function mixWithPrevious(x: tf.Tensor, prev: tf.Tensor, mus: tf.Tensor[], form: TokenShiftForm = 'rwkv7'): tf.Tensor[] {
  if (form === 'rwkv4') return mus.map((mu) => tf.add(mulByRun(x, mu), mulByRun(prev, tf.sub(1, mu))));
  const delta = tf.sub(prev, x);
  return mus.map((mu) => tf.add(x, mulByRun(delta, mu)));
}

export function tokenShiftMixNaive(x: tf.Tensor3D, mus: tf.Tensor[], form: TokenShiftForm = 'rwkv7'): tf.Tensor3D[] {
  return mixWithPrevious(x, timeShift(x), mus, form) as tf.Tensor3D[];
}
