// The gated delta rule (Gated DeltaNet; Yang, Kautz & Hatamizadeh 2024, arXiv 2412.06464), per head, S [d_k, d_v]:
//
//   S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,   α_t = exp(g_t) ∈ (0, 1],   o_t = S_tᵀ q_t
//
// i.e. S_t = α_t S_{t−1} + k_t u_tᵀ with the pseudo-value u_t = β_t (v_t − (α_t S_{t−1})ᵀ k_t). g = 0 is DeltaNet's
// delta rule (ops/deltaRule/), β k = 0 Mamba-2's scalar-decay recurrence.
//
// Parallel form (`gatedDeltaRuleChunked`, fla's chunk_gated_delta_rule): chunks of C tokens from S₀, with the
// within-chunk cumulative log decay b_t = Σ_{s≤t} g_s and D_ts = exp(b_t − b_s) for s ≤ t (0 above the diagonal):
//
//   S_t = e^{b_t} S₀ + Σ_{s≤t} D_ts k_s u_sᵀ,   so   (I + L) U = diag(β) V − diag(β e^b) K S₀,
//   L = strictly-lower(diag(β) (K Kᵀ ⊙ D))
//   U = T·(βV) − T·(β e^b K)·S₀,   T = (I + L)⁻¹ = (I + N)(I + N²)(I + N⁴)⋯,  N = −L   (the WY / UT transform)
//   O = (Q ⊙ e^b) S₀ + (Q Kᵀ ⊙ D) U,   S_next = e^{b_C} S₀ + (K ⊙ e^{b_C − b})ᵀ U
//
// Every exponent is a sum of log gates over a forward stretch of time (≤ 0): nothing overflows, however strong the
// forgetting (D's upper triangle is exp(diff − 1e30) = 0, an add rather than a where, as in GLA's chunk.ts).
// Within chunks everything is batched; the carry S₀ → S_next is a loop over the T/C chunks (a matrix product, not
// a diagonal scan). Gradients: tfjs's own. `gatedDeltaRuleNaive` (naive.ts) is the per-token recurrence of
// `gatedDeltaRuleStep` (step.ts), the reference of the tests and the mixer's step view.
import * as tf from '@tensorflow/tfjs';
import { timeChunks } from '../shared/timeChunks.js';

/** [C, C] constants: `below` where s < t (or s ≤ t when inclusive), `above` elsewhere. */
function triangle(C: number, inclusive: boolean, below: number, above: number): tf.Tensor2D {
  const m = new Float32Array(C * C).fill(above);
  for (let t = 0; t < C; t++) for (let s = 0; s < C; s++) if (s < t || (inclusive && s === t)) m[t * C + s] = below;
  return tf.tensor2d(m, [C, C]);
}

/**
 * q, k [B, H, T, d_k], v [B, H, T, d_v], beta, g [B, H, T] (q, k already normalised and q scaled; g ≤ 0, the log
 * decay) → o [B, H, T, d_v]. Chunks of `chunkSize`; the tail is zero-padded (k = 0, g = 0: no write, no decay).
 */
export function gatedDeltaRuleChunked(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, beta: tf.Tensor3D, g: tf.Tensor3D, chunkSize = 16): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dk] = q.shape;
    const dv = v.shape[3];
    const chunks = timeChunks(B, H, T, chunkSize); // [G, C, ·]: (B, H, n) batched
    const { C, n, G } = chunks;
    const qc = chunks.split<tf.Tensor3D>(q);
    const kc = chunks.split<tf.Tensor3D>(k);
    const vc = chunks.split<tf.Tensor3D>(v);
    const bc = chunks.split(beta).reshape([G, C, 1]);
    const b = tf.cumsum(chunks.split(g), 1); // within-chunk Σ g (cumsum on the last axis), [G, C]
    const bLast = b.slice([0, C - 1], [G, 1]); // [G, 1]
    const eb = tf.exp(b).reshape([G, C, 1]);

    // D_ts = exp(b_t − b_s) on and below the diagonal, 0 above
    const D = tf.exp(tf.add(tf.sub(b.reshape([G, C, 1]), b.reshape([G, 1, C])), triangle(C, true, 0, -1e30))); // [G, C, C]
    const kBeta = tf.mul(kc, bc);
    // T = (I + L)⁻¹ = Π (I + N^{2^i}),  N = −strictly-lower(β (K Kᵀ ⊙ D))
    const eye = tf.eye(C);
    const N = tf.neg(tf.mul(tf.mul(tf.matMul(kBeta, kc, false, true), D), triangle(C, false, 1, 0)));
    let power: tf.Tensor = N;
    let inverse: tf.Tensor = tf.add(eye, N);
    for (let span = 2; span < C; span *= 2) {
      power = tf.matMul(power as tf.Tensor3D, power as tf.Tensor3D);
      inverse = tf.matMul(inverse as tf.Tensor3D, tf.add(eye, power) as tf.Tensor3D);
    }
    const BH = B * H;
    const W = tf.matMul(inverse as tf.Tensor3D, tf.mul(kBeta, eb) as tf.Tensor3D).reshape([BH, n, C * dk]); // T·(β e^b K)
    const U = tf.matMul(inverse as tf.Tensor3D, tf.mul(vc, bc) as tf.Tensor3D).reshape([BH, n, C * dv]); // T·(βV)
    const scores = tf.mul(tf.matMul(qc, kc, false, true), D).reshape([BH, n, C * C]); // Q Kᵀ ⊙ D
    const qDecay = tf.mul(qc, eb).reshape([BH, n, C * dk]); // Q ⊙ e^b
    const kDecay = tf.mul(kc, tf.exp(tf.sub(bLast, b)).reshape([G, C, 1])).reshape([BH, n, C * dk]); // K ⊙ e^{b_C − b}
    const chunkDecay = tf.exp(bLast).reshape([BH, n, 1]); // e^{b_C}

    // chunk i of x [B·H, n, C·w] as [B·H, C, w] (rank-3 slices: tfjs-wasm is slow on higher ranks)
    const chunk = (x: tf.Tensor, i: number) => x.slice([0, i, 0], [BH, 1, x.shape[2]!]).reshape([BH, C, x.shape[2]! / C]) as tf.Tensor3D;
    let S: tf.Tensor3D = tf.zeros([BH, dk, dv]);
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      const u = tf.sub(chunk(U, i), tf.matMul(chunk(W, i), S)); // pseudo-values given S₀
      outs.push(tf.add(tf.matMul(chunk(qDecay, i), S), tf.matMul(chunk(scores, i), u)));
      S = tf.add(tf.mul(S, chunkDecay.slice([0, i, 0], [BH, 1, 1])), tf.matMul(chunk(kDecay, i), u, true, false));
    }
    return chunks.merge(tf.concat(outs, 1), dv);
  });
}
