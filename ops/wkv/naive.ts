// WKV token by token: the reference of parallel.ts.
import * as tf from '@tensorflow/tfjs';
import { wkvInitState, wkvStep } from './step.js';

/** Reference: the recurrence token by token (same arguments as `wkvParallel`). */
export function wkvNaive(w: tf.Tensor1D, u: tf.Tensor1D, k: tf.Tensor3D, v: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const [B, T, C] = k.shape;
    let state = wkvInitState(B, C);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const r = wkvStep(state, w, u, k.slice([0, t, 0], [B, 1, C]).reshape([B, C]) as tf.Tensor2D, v.slice([0, t, 0], [B, 1, C]).reshape([B, C]) as tf.Tensor2D);
      ys.push(r.y);
      state = r.state;
    }
    return tf.stack(ys, 1) as tf.Tensor3D;
  });
}
