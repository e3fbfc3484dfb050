// Shape checks shared by the forms of the diagonal scan (parallel.ts, naive.ts).
import * as tf from '@tensorflow/tfjs';

export function checkShapes(a: tf.Tensor, b: tf.Tensor): void {
  if (a.rank !== b.rank || a.rank < 2) throw new Error(`scan: a [${a.shape}] and b [${b.shape}] need equal rank ≥ 2`);
  if (a.shape[1] !== b.shape[1]) throw new Error(`scan: a [${a.shape}] and b [${b.shape}] differ in length (axis 1)`);
  a.shape.forEach((n, i) => {
    if (n !== 1 && n !== b.shape[i]) throw new Error(`scan: a [${a.shape}] does not broadcast to b [${b.shape}]`);
  });
}
