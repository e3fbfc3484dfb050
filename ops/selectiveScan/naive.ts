// Mamba's selective scan as a plain per-token loop of tfjs ops: the reference of blocked.ts and of the fused forms.
// (mamba_ssm's selective_scan_ref without the D skip and the z gate, which stay in architectures/mamba.ts.)
import * as tf from '@tensorflow/tfjs';
import { checkShapes } from './common.js';

/**
 * y_t[e] = Σ_n C_t[n] h_t[e, n],  h_t[e, n] = exp(Δ_t[e] A[e, n]) h_{t−1}[e, n] + Δ_t[e] B_t[n] x_t[e]  (h_{−1} = 0);
 * tfjs's own gradients.
 */
export function selectiveScanNaive(x: tf.Tensor3D, dt: tf.Tensor3D, A: tf.Tensor2D, B: tf.Tensor3D, C: tf.Tensor3D): tf.Tensor3D {
  const { Bsz, T, E, N } = checkShapes(x, dt, A, B, C);
  return tf.tidy(() => {
    const at = (v: tf.Tensor3D, t: number) => v.slice([0, t, 0], [Bsz, 1, v.shape[2]]).reshape([Bsz, v.shape[2]]);
    let h: tf.Tensor = tf.zeros([Bsz, E, N]);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const d = at(dt, t).reshape([Bsz, E, 1]);
      h = tf.add(tf.mul(tf.exp(tf.mul(d, A)), h), tf.mul(tf.mul(d, at(x, t).reshape([Bsz, E, 1])), at(B, t).reshape([Bsz, 1, N])));
      ys.push(tf.sum(tf.mul(h, at(C, t).reshape([Bsz, 1, N])), 2).reshape([Bsz, 1, E]));
    }
    return tf.concat(ys, 1) as tf.Tensor3D;
  });
}
