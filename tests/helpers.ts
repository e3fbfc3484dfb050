// Shared helpers for tests: a backend once per file, random tensors, max relative error.
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
