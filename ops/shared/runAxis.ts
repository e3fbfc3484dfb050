// A stack of R runs (engine/stack.ts) folds its runs into the first axis, runs outermost: x [R·B, ..., d], run r's
// rows first-axis r·B .. r·B + B − 1. A per-channel parameter of a stack is [R, d], each run's own: these apply it to
// its own run's rows (the ops' stacked forms — layerNorm, rmsNorm, shortConv — and mixers' own parameters), or
// repeat it once per example for an op that takes a parameter per example (selectiveScan's A, wkv's w and u).
import * as tf from '@tensorflow/tfjs';

/** x [R·B, ..., d] ⊙ w [R, d]: each run's rows scaled by its own w; a run alone's w [d] broadcasts as usual. */
export function mulByRun(x: tf.Tensor, w: tf.Tensor): tf.Tensor {
  if (w.rank === 1) return tf.mul(x, w);
  const [runs, d] = w.shape as [number, number];
  return tf.mul(x.reshape([runs, -1, d]), w.reshape([runs, 1, d])).reshape(x.shape);
}

/** A stack's per-run tensor [R, ...] repeated for each of its runs' examples: [examples, ...], example b its run's (b / (examples/R)). */
export function byExample(t: tf.Tensor, examples: number): tf.Tensor {
  const [runs, ...rest] = t.shape;
  return tf.tile(t.reshape([runs!, 1, ...rest]), [1, examples / runs!, ...rest.map(() => 1)]).reshape([examples, ...rest]);
}

/** x [R·B, ..., d] + b [R, d]: each run's rows shifted by its own b; a run alone's b [d] broadcasts as usual. */
export function addByRun(x: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (b.rank === 1) return tf.add(x, b);
  const [runs, d] = b.shape as [number, number];
  return tf.add(x.reshape([runs, -1, d]), b.reshape([runs, 1, d])).reshape(x.shape);
}
