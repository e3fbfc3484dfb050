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

/** The fast form's signature: x, rate, seed, runs (the stack's, 1 alone) → the dropped-out x (its own gradient). */
export const dropoutOp = fastOp<(x: tf.Tensor, rate: number, seed: number, runs: number) => tf.Tensor>('dropout');

let runsInStack = 1;

/**
 * Run `fn` (a forward pass) for a stack of `runs` runs folded into the first axis, runs outermost (engine/stack.ts):
 * every dropout mask inside is then drawn per run, each exactly as that run alone would draw it (same seed, the
 * run's own element indices), so a stacked run trains as it would alone.
 */
export function withStackedRuns<T>(runs: number, fn: () => T): T {
  const outer = runsInStack;
  runsInStack = runs;
  try {
    return fn();
  } finally {
    runsInStack = outer;
  }
}

/** The number of runs folded into the first axis of the forward pass in progress (1: a run alone). */
export function stackedRuns(): number {
  return runsInStack;
}

/** Dropout with rate `rate`; the mask is a function of `seed` (deterministic per step). */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x.clone();
  const impl = fastForm(dropoutOp, tf.getBackend());
  // the hashed form takes the stack in one dispatch (each element hashed by its index within its run)
  if (impl) return impl(x, rate, seed, runsInStack);
  if (runsInStack === 1) return tf.dropout(x, rate, undefined, seed);
  return tf.tidy(() => tf.concat(tf.split(x, runsInStack, 0).map((run) => tf.dropout(run, rate, undefined, seed)), 0));
}
