// The generalized delta rule (RWKV-7 "Goose"; Peng et al. 2025, arXiv 2503.14456), per head, state S [d_k, d_v]:
//
//   S_t = (diag(exp w_t) + b_t a_tᵀ) S_{t−1} + k_t v_tᵀ,    o_t = S_tᵀ r_t,    w_t ≤ 0 per key channel
//
// i.e. S_t = diag(exp w_t) S_{t−1} + k_t v_tᵀ + b_t u_tᵀ with the removed row u_t = S_{t−1}ᵀ a_t. w = 0, a = −k,
// b = β k is DeltaNet's delta rule (ops/deltaRule/); a scalar w with the same a, b the gated one (ops/gatedDeltaRule/).
//
// Parallel form (`generalizedDeltaRuleChunked`; the algebra of fla's chunk_dplr_delta_rule, written here with
// pairwise decays as GLA's chunk.ts): chunks of C tokens from S₀, with the within-chunk cumulative log decay
// Γ_t = Σ_{s≤t} w_s (a vector over d_k; Γ_{t−1} the exclusive sum) and, for a pair s, t, the decayed products
//
//   Mab_ts = Σ_i a_ti b_si e^{Γ_{t−1,i} − Γ_si},  Mak likewise with k  (s < t: the state a_t reads is S_{t−1})
//   Prb_ts = Σ_i r_ti b_si e^{Γ_ti − Γ_si},       Prk likewise with k  (s ≤ t: o_t reads S_t)
//
//   U = Ã S₀ + Mak V + Mab U    →   U = T (Ã S₀ + Mak V),   T = (I − Mab)⁻¹ = (I + N)(I + N²)(I + N⁴)⋯, N = Mab
//   O = R̃ S₀ + Prk V + Prb U,   S_next = diag(e^{Γ_C}) S₀ + K̄ᵀ V + B̄ᵀ U
//
// with Ã = A ⊙ e^{Γ_{t−1}}, R̃ = R ⊙ e^{Γ_t}, K̄ = K ⊙ e^{Γ_C − Γ}, B̄ = B ⊙ e^{Γ_C − Γ}. U is affine in S₀
// (U = W S₀ + U₀, W = T Ã, U₀ = T Mak V), so each chunk is an affine map of the state, computed for all chunks at
// once:
//
//   o_c = (R̃ + Prb W) S₀ + (Prk V + Prb U₀),     S_next = (diag(e^{Γ_C}) + B̄ᵀ W) S₀ + (K̄ᵀ V + B̄ᵀ U₀)
//
// and the carry over the T/C chunks is a loop of two [d_k]-wide matrix products. Every exponent is a sum of log
// decays over a forward stretch of time (≤ 0), the pairwise ones masked with an added −1e30 above (on) the
// diagonal: nothing overflows however strong the decay (the q·e^{Γ}, k·e^{−Γ} factorisation would). The price is
// [C, C, d_k] pairwise tensors per chunk (as GLA), which is why small chunks win: forward + backward on wasm (2-core
// shared machine), B 16, H 4, T 64, d_k = d_v = 16: chunk 8 114 ms, 4 146, 16 157, per-token loop (naive.ts) 201;
// B 4, T 256: chunk 8 149 ms, 4 266, 16 191, per-token 537. Gradients: tfjs's own. `generalizedDeltaRuleNaive` (naive.ts)
// is the per-token recurrence of `generalizedDeltaRuleStep` (step.ts), the reference of the tests and the mixer's
// step view.
import * as tf from '@tensorflow/tfjs';
import { timeChunks } from '../shared/timeChunks.js';

/** [C, C, 1] additive constant: 0 where s < t (or s ≤ t when inclusive), −1e30 elsewhere (exp → 0; an add, not a where). */
function causalBias(C: number, inclusive: boolean): tf.Tensor {
  const m = new Float32Array(C * C);
  for (let t = 0; t < C; t++) for (let s = 0; s < C; s++) if (s > t || (!inclusive && s === t)) m[t * C + s] = -1e30;
  return tf.tensor3d(m, [C, C, 1]);
}

/** For x [G, C, d_k] and decay [G, C, C, d_k]: y ↦ Σ_i x_ti y_si decay_tsi, [G, C, d_k] → [G, C, C]. */
function pairs(x: tf.Tensor, decay: tf.Tensor, ys: tf.Tensor[]): tf.Tensor3D[] {
  const [G, C, dk] = x.shape as [number, number, number];
  const xd = tf.mul(x.reshape([G, C, 1, dk]), decay);
  return ys.map((y) => tf.sum(tf.mul(xd, y.reshape([G, 1, C, dk])), 3) as tf.Tensor3D);
}

/**
 * r, w, k, a, b [B, H, T, d_k], v [B, H, T, d_v] (w ≤ 0, the log decay) → o [B, H, T, d_v]. Chunks of `chunkSize`;
 * the tail is zero-padded (k = a = b = 0, w = 0: no write, no removal, no decay).
 */
export function generalizedDeltaRuleChunked(r: tf.Tensor4D, w: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor4D, b: tf.Tensor4D, chunkSize = 8): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dk] = r.shape;
    const dv = v.shape[3];
    const chunks = timeChunks(B, H, T, chunkSize); // [G, C, ·]: (B, H, n) batched
    const { C, n, G } = chunks;
    const [rc, wc, kc, ac, bc] = [r, w, k, a, b].map((x) => chunks.split<tf.Tensor3D>(x));
    const vc = chunks.split<tf.Tensor3D>(v);
    // Γ_t (inclusive) and Γ_{t−1} (exclusive) within the chunk, [G, C, d_k] (cumsum on the last axis: tfjs mis-shapes its gradient on others)
    const gIn = tf.cumsum(wc!.transpose([0, 2, 1]), 2).transpose([0, 2, 1]);
    const gEx = tf.sub(gIn, wc!);
    const gLast = gIn.slice([0, C - 1, 0], [G, 1, dk]); // Γ_C [G, 1, d_k]

    const strict = tf.exp(tf.add(tf.sub(gEx.reshape([G, C, 1, dk]), gIn.reshape([G, 1, C, dk])), causalBias(C, false))); // e^{Γ_{t−1} − Γ_s}, s < t
    const inclusive = tf.exp(tf.add(tf.sub(gIn.reshape([G, C, 1, dk]), gIn.reshape([G, 1, C, dk])), causalBias(C, true))); // e^{Γ_t − Γ_s}, s ≤ t
    const [Mab, Mak] = pairs(ac!, strict, [bc!, kc!]);
    const [Prb, Prk] = pairs(rc!, inclusive, [bc!, kc!]);

    // T = (I − Mab)⁻¹ = Π (I + N^{2^i}),  N = Mab strictly lower (nilpotent)
    const eye = tf.eye(C);
    let power: tf.Tensor3D = Mab!;
    let inverse = tf.add(eye, Mab!) as tf.Tensor3D;
    for (let span = 2; span < C; span *= 2) {
      power = tf.matMul(power, power);
      inverse = tf.matMul(inverse, tf.add(eye, power) as tf.Tensor3D);
    }
    const W = tf.matMul(inverse, tf.mul(ac!, tf.exp(gEx)) as tf.Tensor3D); // T Ã  [G, C, d_k]
    const U0 = tf.matMul(inverse, tf.matMul(Mak!, vc)); // T Mak V  [G, C, d_v]
    const outOfState = tf.add(tf.mul(rc!, tf.exp(gIn)), tf.matMul(Prb!, W)); // R̃ + Prb W  [G, C, d_k]
    const outOfChunk = tf.add(tf.matMul(Prk!, vc), tf.matMul(Prb!, U0)); // Prk V + Prb U₀  [G, C, d_v]
    const toEnd = tf.exp(tf.sub(gLast, gIn)); // e^{Γ_C − Γ}
    const kBar = tf.mul(kc!, toEnd) as tf.Tensor3D;
    const bBar = tf.mul(bc!, toEnd) as tf.Tensor3D;
    const transition = tf.add(tf.mul(tf.eye(dk), tf.exp(gLast).reshape([G, dk, 1])), tf.matMul(bBar, W, true, false)); // diag(e^{Γ_C}) + B̄ᵀ W  [G, d_k, d_k]
    const written = tf.add(tf.matMul(kBar, vc, true, false), tf.matMul(bBar, U0, true, false)); // K̄ᵀ V + B̄ᵀ U₀  [G, d_k, d_v]

    // chunk i of x [B·H, n, rows·cols] as [B·H, rows, cols] (rank-3 slices: tfjs-wasm is slow on higher ranks)
    const BH = B * H;
    const flat = (x: tf.Tensor, rows: number, cols: number) => ({ x: x.reshape([BH, n, rows * cols]), rows, cols });
    const chunk = ({ x, rows, cols }: ReturnType<typeof flat>, i: number) => x.slice([0, i, 0], [BH, 1, rows * cols]).reshape([BH, rows, cols]) as tf.Tensor3D;
    const [Q, O, A, X] = [flat(outOfState, C, dk), flat(outOfChunk, C, dv), flat(transition, dk, dk), flat(written, dk, dv)];
    let S: tf.Tensor3D = tf.zeros([BH, dk, dv]);
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < n; i++) {
      outs.push(tf.add(tf.matMul(chunk(Q, i), S), chunk(O, i)));
      S = tf.add(tf.matMul(chunk(A, i), S), chunk(X, i));
    }
    return chunks.merge(tf.concat(outs, 1), dv);
  });
}
