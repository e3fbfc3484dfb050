// The hashed dropout mask built in JavaScript: the reference of the GPU dropout (accel/webgpu/dropout.ts).
import * as tf from '@tensorflow/tfjs';
import { lowbias32 } from '../../core/prng.js';

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
