// Depthwise causal convolution over time with a short kernel (BaseConv, Hyena, Mamba, DeltaNet):
//   y[b, t, c] = Σ_{j<k} w[j, c] · x[b, t − (k−1) + j, c]  (+ bias[c]),  x[·, <0, ·] = 0.
// Built from k shifted slices: differentiable with tfjs's own gradients, O(B·T·d·k). The non-causal
// (circular) variant wraps around instead of padding with zeros (JRT's non-causal baseline).
import * as tf from '@tensorflow/tfjs';
import { addByRun, mulByRun } from '../shared/runAxis.js';

/**
 * x [B, T, d], weight [k, d] (tap k−1 multiplies the current token), bias [d]? → [B, T, d]. A stack of R runs
 * (engine/stack.ts): x [R·B, T, d], weight [R, k, d], bias [R, d] — each run's rows with its own taps.
 */
export function shortConv(x: tf.Tensor3D, weight: tf.Tensor2D | tf.Tensor3D, bias?: tf.Tensor1D | tf.Tensor2D, opts: { circular?: boolean } = {}): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, d] = x.shape;
    const runs = weight.rank === 3 ? weight.shape[0]! : 1;
    const k = weight.shape[weight.rank - 2]!;
    const padded = opts.circular ? tf.concat([circularTail(x, k - 1), x], 1) : tf.pad(x, [[0, 0], [k - 1, 0], [0, 0]]);
    // tap j of x's window: w[j] [d], or a stack's w[:, j] [R, d] on each run's own rows
    const tap = (j: number) => {
      const window = padded.slice([0, j, 0], [B, T, d]);
      return runs === 1 ? tf.mul(window, weight.slice([j, 0], [1, d]).reshape([d])) : mulByRun(window, weight.slice([0, j, 0], [runs, 1, d]).reshape([runs, d]));
    };
    let y: tf.Tensor = tap(0);
    for (let j = 1; j < k; j++) y = tf.add(y, tap(j));
    if (bias) y = addByRun(y, bias);
    return y as tf.Tensor3D;
  });
}

/** The n tokens before t = 0 of a circular sequence: its last n, wrapping more than once when n > T. */
function circularTail(x: tf.Tensor3D, n: number): tf.Tensor3D {
  const [B, T, d] = x.shape;
  const wraps = Math.ceil(n / T);
  const repeated = wraps <= 1 ? x : tf.concat(Array.from({ length: wraps }, () => x), 1);
  return repeated.slice([0, wraps * T - n, 0], [B, n, d]);
}
