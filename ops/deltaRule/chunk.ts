// The delta rule (DeltaNet; Schlag et al. 2021, Yang et al. 2024 arXiv 2406.06484), per head, state S [d_k, d_v]:
//
//   S_t = S_{t−1} − β_t k_t (k_tᵀ S_{t−1} − v_tᵀ) = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,    o_t = S_tᵀ q_t
//
// Parallel form (`deltaRuleChunked`, fla's chunk_delta_rule / naive delta_rule_chunkwise): within a chunk of C
// tokens starting from S₀, S_t = S₀ + Σ_{s≤t} k_s u_sᵀ with pseudo-values u_t = β_t (v_t − S_{t−1}ᵀ k_t), i.e.
//
//   (I + L) U = diag(β) V − diag(β) K S₀,    L = strictly-lower(diag(β) K Kᵀ)
//   U = T·(βV) − T·(βK)·S₀,   T = (I + L)⁻¹                                   (the WY / UT transform)
//   O = Q S₀ + lower(Q Kᵀ) U,   S_next = S₀ + Kᵀ U
//
// T is the inverse of a unit lower-triangular matrix: with N = −L nilpotent (N^C = 0),
//   T = Σ_{j<C} N^j = (I + N)(I + N²)(I + N⁴)⋯     — ⌈log₂C⌉ batched matmuls, no triangular solve needed.
// Everything within chunks is batched over all chunks at once; only the state carry S₀ → S_next runs as a
// loop over the T/C chunks (S enters through a matrix product, not a diagonal scan). Gradients: tfjs's own.
// `deltaRuleNaive` (naive.ts) is the per-token recurrence of `deltaRuleStep` (step.ts), the reference for the tests
// and the mixer's step view.
import * as tf from '@tensorflow/tfjs';
import { timeChunks } from '../shared/timeChunks.js';

/** [C, C] constants: 1 strictly below the diagonal (or on and below it). */
function lowerMask(C: number, inclusive: boolean): tf.Tensor2D {
  const m = new Float32Array(C * C);
  for (let t = 0; t < C; t++) for (let s = 0; s < C; s++) if (s < t || (inclusive && s === t)) m[t * C + s] = 1;
  return tf.tensor2d(m, [C, C]);
}

/**
 * q, k [B, H, T, d_k], v [B, H, T, d_v], beta [B, H, T] (q, k already normalised and q scaled) → o [B, H, T, d_v].
 * Chunks of `chunkSize` (the tail is zero-padded: k = 0 leaves S unchanged, so padding changes nothing).
 */
export function deltaRuleChunked(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, chunkSize = 16): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dk] = q.shape;
    const dv = v.shape[3];
    const chunks = timeChunks(B, H, T, chunkSize); // [G, C, ·]: (B, H, n) batched
    const { C, n, G } = chunks;
    const qc = chunks.split<tf.Tensor3D>(q);
    const kc = chunks.split<tf.Tensor3D>(k);
    const bc = chunks.split(beta).reshape([G, C, 1]);
    const kBeta = tf.mul(kc, bc);
    const vBeta = tf.mul(chunks.split(v), bc);

    // T = (I + L)⁻¹ = Π (I + N^{2^i}),  N = −strictly-lower(β K Kᵀ)
    const eye = tf.eye(C);
    const N = tf.neg(tf.mul(tf.matMul(kBeta, kc, false, true), lowerMask(C, false)));
    let power: tf.Tensor = N;
    let inverse: tf.Tensor = tf.add(eye, N);
    for (let span = 2; span < C; span *= 2) {
      power = tf.matMul(power as tf.Tensor3D, power as tf.Tensor3D);
      inverse = tf.matMul(inverse as tf.Tensor3D, tf.add(eye, power) as tf.Tensor3D);
    }
    const W = tf.matMul(inverse as tf.Tensor3D, kBeta).reshape([B * H, n, C * dk]); // T·(βK)
    const U = tf.matMul(inverse as tf.Tensor3D, vBeta).reshape([B * H, n, C * dv]); // T·(βV)
    const scores = tf.mul(tf.matMul(qc, kc, false, true), lowerMask(C, true)).reshape([B * H, n, C * C]); // lower(Q Kᵀ)
    const qn = qc.reshape([B * H, n, C * dk]);
    const kn = kc.reshape([B * H, n, C * dk]);

    // chunk i of x [B·H, n, C·w] as [B·H, C, w] (rank-3 slices: tfjs-wasm is slow on higher ranks)
    const chunk = (x: tf.Tensor, i: number) => x.slice([0, i, 0], [B * H, 1, x.shape[2]!]).reshape([B * H, C, x.shape[2]! / C]) as tf.Tensor3D;
    let S: tf.Tensor3D = tf.zeros([B * H, dk, dv]);
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const u = tf.sub(chunk(U, i), tf.matMul(chunk(W, i), S)); // pseudo-values given S₀
      outs.push(tf.add(tf.matMul(chunk(qn, i), S), tf.matMul(chunk(scores, i), u)));
      S = tf.add(S, tf.matMul(chunk(kn, i), u, true, false));
    }
    return chunks.merge(tf.concat(outs, 1), dv);
  });
}
