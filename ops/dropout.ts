// Dropout whose mask is a counter-based hash of (seed, element index), computed where the tensor lives:
//   keep_i = u_i ≥ rate,  u_i = hash(seed, i) / 2^24 ∈ [0, 1),   y = x ⊙ keep / (1 − rate)
//   ∂y/∂x = keep / (1 − rate): the gradient is the same dropout applied to dy (same seed, same mask).
// Why: tf.dropout draws its uniforms in JavaScript (tf.randomUniform loops over every element with seedrandom)
// and uploads them: at the zoology reference shapes that is 4.2M numbers per attention layer per step at
// batch 64 (~45 ms of host time each on a 2-core machine, ×4 at batch 256) — more than the rest of the step.
// On webgpu `dropout` is one dispatch forward and one backward (engine/kernels/webgpu/dropout.ts); elsewhere it
// is tf.dropout itself, so the CPU path's results are unchanged. `hashDropoutNaive` is the plain-tfjs
// reference of the hashed mask (mask built in JavaScript from the same hash), used by the tests. The hash is
// core/prng.ts lowbias32 (one module for every hash and seed).
import * as tf from '@tensorflow/tfjs';
import { lowbias32 } from '../core/prng.js';

type DropoutImpl = (x: tf.Tensor, rate: number, seed: number) => tf.Tensor;
const fused = new Map<string, DropoutImpl>();

/** Register a fused dropout for a backend (undefined: remove it). */
export function registerFusedDropout(backend: string, impl: DropoutImpl | undefined): void {
  if (impl) fused.set(backend, impl);
  else fused.delete(backend);
}

/** Dropout with rate `rate`; the mask is a function of `seed` (deterministic per step). */
export function dropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  if (rate <= 0) return x.clone();
  const impl = fused.get(tf.getBackend());
  return impl ? impl(x, rate, seed) : tf.dropout(x, rate, undefined, seed);
}

/** u_i ∈ [0, 1) of element i for `seed` (24 random bits, exactly representable in f32). */
export function dropoutUniform(seed: number, i: number): number {
  return (lowbias32((i + lowbias32(seed >>> 0)) >>> 0) >>> 8) / 16777216;
}

/** Reference: the hashed mask built in JavaScript, applied with plain tfjs ops (differentiable by tfjs). */
export function hashDropoutNaive(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  const mask = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) mask[i] = dropoutUniform(seed, i) >= rate ? 1 : 0;
  return tf.tidy(() => tf.div(tf.mul(x, tf.tensor(mask, x.shape)), 1 - rate));
}
