// Monarch matmul, the fast form (HazyResearch/m2 blockdiag_butterfly_multiply_reference version 2 / the bmm form of
// BlockdiagButterflyMultiply): two batched matmuls over the blocks with reshapes and transposes between them — no
// dense n × m matrix. O(N·(n·q + k·q·s)) multiply-adds against O(N·n·m) dense. Stock tfjs gradients.
import * as tf from '@tensorflow/tfjs';
import { monarchShapes } from './naive.js';

/** x [..., n] → [..., m]; w1 [k, q, p], w2 [l, s, r], l·r = k·q (see naive.ts for the formula). */
export function monarch(x: tf.Tensor, w1: tf.Tensor3D, w2: tf.Tensor3D): tf.Tensor {
  return tf.tidy(() => {
    const { k, p, l, s, r, n, m } = monarchShapes(w1, w2);
    if (x.shape[x.rank - 1] !== n) throw new Error(`monarch: x has ${x.shape[x.rank - 1]} features, w1 takes ${n}`);
    const lead = x.shape.slice(0, -1);
    const xb = tf.transpose(x.reshape([-1, k, p]), [1, 0, 2]); // [k, N, p]
    const h = tf.matMul(xb, w1, false, true); // [k, N, q]
    // (k q) flattened per row, read as (r l), blocks of w2 take the l index: → [l, N, r]
    const hb = tf.transpose(tf.transpose(h, [1, 0, 2]).reshape([-1, r, l]), [2, 0, 1]);
    const y = tf.matMul(hb, w2, false, true); // [l, N, s]
    return tf.transpose(y, [1, 2, 0]).reshape([...lead, m]); // (s l) order
  });
}
