// Constants of an op (masks, selector matrices): built once per tfjs backend and key, kept out of every tidy, and
// built again only if something disposed them (a test's tf.disposeVariables, a backend switch's reset).
import * as tf from '@tensorflow/tfjs';

const cache = new Map<string, tf.Tensor>();

/** The tensor `build` makes for `key` on the current backend, made once (inside a tidy) and kept. */
export function cachedConstant<T extends tf.Tensor>(key: string, build: () => T): T {
  const full = `${tf.getBackend()}:${key}`;
  let t = cache.get(full) as T | undefined;
  if (!t || t.isDisposed) cache.set(full, (t = tf.keep(tf.tidy(build))));
  return t;
}
