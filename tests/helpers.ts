// Shared helpers for tests: a backend once per file, random tensors, max relative error.
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../engine/backend.js';

export async function useBackend(name: BackendChoice = 'cpu'): Promise<void> {
  await initBackend(name);
}

export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** max |a − b| / (max |b| + tiny): one number to compare against a stated tolerance. */
export async function relativeError(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const [x, y] = await Promise.all([a.data(), b.data()]);
  if (x.length !== y.length) throw new Error(`size mismatch ${x.length} vs ${y.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < x.length; i++) {
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return diff / (scale + 1e-12);
}
