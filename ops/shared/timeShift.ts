// x [B, T, R] moved one step along time, zero-filled: the previous step's value at each t (later = false: x_{t−1},
// x_{−1} = 0) or the next one's (later = true: x_{t+1}, x_T = 0). RWKV's token shift (ops/tokenShift) and the
// parallel scan's odd/even steps (ops/scan/parallel.ts) both take it.
import * as tf from '@tensorflow/tfjs';

export function timeShift(x: tf.Tensor3D, later = false): tf.Tensor3D {
  const [B, T, R] = x.shape;
  if (T === 1) return tf.zerosLike(x);
  return tf.pad(x.slice([0, later ? 1 : 0, 0], [B, T - 1, R]), [[0, 0], later ? [0, 1] : [1, 0], [0, 0]]);
}
