// The diagonal scan h_t = a_t ⊙ h_{t−1} + b_t as a plain per-step loop: the reference of parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { checkShapes } from './common.js';

/** Reference: the same recurrence as a plain per-step loop of tfjs ops (tfjs's own gradients). */
export function scanNaive(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  checkShapes(a, b);
  return tf.tidy(() => {
    const T = b.shape[1]!;
    const at = (x: tf.Tensor, t: number) => x.slice(x.shape.map((_, i) => (i === 1 ? t : 0)), x.shape.map((n, i) => (i === 1 ? 1 : n)));
    const hs: tf.Tensor[] = [];
    let h: tf.Tensor = tf.zeros(at(b, 0).shape); // h_{−1} = 0
    for (let t = 0; t < T; t++) {
      h = tf.add(tf.mul(at(a, t), h), at(b, t));
      hs.push(h);
    }
    return tf.concat(hs, 1);
  });
}
