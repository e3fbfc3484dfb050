// Several linear maps of one input — a mixer's q, k, v, gate projections of the same x: y_i = x W_i (+ b_i). The
// reference applies each in turn (ops/linear's linearApply), in the order given: tfjs sums x's gradients in reverse
// order of its uses, so the order is in the bits of a run.
import type * as tf from '@tensorflow/tfjs';
import { linearApply } from '../linear/index.js';

/** One map: W [in, out] (or a stack's [R, in, out]) and an optional bias [out] ([R, out]). */
export interface Projection {
  weight: tf.Tensor;
  bias?: tf.Tensor;
}

/** x [..., in] → [x W_i + b_i for each map], each [..., out_i]. */
export function projectionsNaive(x: tf.Tensor, maps: readonly Projection[]): tf.Tensor[] {
  return maps.map((m) => linearApply(x, m.weight, m.bias));
}
