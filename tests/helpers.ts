// Shared helpers for tests: a backend once per file, random tensors, max relative error, finite differences.
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../engine/backend.js';
import { maxRelativeError } from '../engine/mixerChecks.js';

export async function useBackend(name: BackendChoice = 'cpu'): Promise<void> {
  await initBackend(name);
}

export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** max |a − b| / (max |b| + tiny): one number to compare against a stated tolerance (engine/mixerChecks.ts's measure). */
export async function relativeError(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = await Promise.all([a.data(), b.data()]);
  return maxRelativeError(x, y);
}

/**
 * Central finite differences of the scalar `f` at every element of `x` (step `eps`) against the analytic gradient:
 * the worst |numeric − analytic| / (|analytic| + 0.1) — absolute near zero, relative elsewhere.
 */
export async function worstFiniteDifference(x: tf.Tensor, analytic: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor, eps: number): Promise<number> {
  const base = x.dataSync();
  const g = await analytic.data();
  let worst = 0;
  for (let i = 0; i < base.length; i++) {
    const plus = Float32Array.from(base);
    const minus = Float32Array.from(base);
    plus[i]! += eps;
    minus[i]! -= eps;
    const numeric = (f(tf.tensor(plus, x.shape)).dataSync()[0]! - f(tf.tensor(minus, x.shape)).dataSync()[0]!) / (2 * eps);
    worst = Math.max(worst, Math.abs(numeric - g[i]!) / (Math.abs(g[i]!) + 1e-1));
  }
  return worst;
}
