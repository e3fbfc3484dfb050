// Dropout whose mask is a counter-based hash of (seed, element index), computed where the tensor lives:
//   keep_i = u_i ≥ rate,  u_i = hash(seed, i) / 2^24 ∈ [0, 1),   y = x ⊙ keep / (1 − rate)
//   ∂y/∂x = keep / (1 − rate): the gradient is the same dropout applied to dy (same seed, same mask).
// Why: tf.dropout draws its uniforms in JavaScript (tf.randomUniform loops over every element with seedrandom)
// and uploads them: at the zoology reference shapes that is 4.2M numbers per attention layer per step at
// batch 64 (~45 ms of host time each on a 2-core machine, ×4 at batch 256) — more than the rest of the step.
// On webgpu `dropout` is one dispatch forward and one backward (accel/webgpu/dropout.ts, reached through core/fastForms.ts); elsewhere it
// is tf.dropout itself, so the CPU path's results are unchanged. `hashDropoutNaive` is the plain-tfjs
// reference of the hashed mask (mask built in JavaScript from the same hash), used by the tests. The hash is
// core/prng.ts lowbias32 (one module for every hash and seed).
import * as tf from '@tensorflow/tfjs';
import { fastForm, fastOp } from '../../core/fastForms.js';

export { dropoutUniform, hashDropoutNaive } from './naive.js';

/** The fast form's signature: x, rate, seed → the dropped-out x (its own gradient). */
export const dropoutOp = fastOp<(x: tf.Tensor, rate: number, seed: number) => tf.Tensor>('dropout');

/** Dropout with rate `rate`; the mask is a function of `seed` (deterministic per step). */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x.clone();
  const impl = fastForm(dropoutOp, tf.getBackend());
  return impl ? impl(x, rate, seed) : tf.dropout(x, rate, undefined, seed);
}
