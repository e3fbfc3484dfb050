// LayerNorm over the last axis. `layerNormNaive` is the plain-tfjs reference; backends may register a fused
// kernel (engine/kernels) which `layerNorm` uses when present.
import * as tf from '@tensorflow/tfjs';

export const LAYER_NORM_EPS = 1e-5;

export function layerNormNaive(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true);
    const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
    return tf.add(tf.mul(normed, gamma), beta);
  });
}

type LayerNormImpl = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor;
const fused = new Map<string, LayerNormImpl>();

/** Register a fused LayerNorm (with its own gradient) for a backend, e.g. 'webgpu'. */
export function registerFusedLayerNorm(backend: string, impl: LayerNormImpl): void {
  fused.set(backend, impl);
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = LAYER_NORM_EPS): tf.Tensor {
  const impl = fused.get(tf.getBackend());
  return impl ? impl(x, gamma, beta, eps) : layerNormNaive(x, gamma, beta, eps);
}
