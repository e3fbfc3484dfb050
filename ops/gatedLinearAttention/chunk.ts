// Gated linear attention (GLA; Yang et al. 2023, arXiv 2312.06635), per head, state S [d_k, d_v]:
//
//   S_t = diag(exp g_t) S_{t−1} + k_t v_tᵀ,    o_t = S_tᵀ q_t,     g_t ≤ 0 (log forget gates, per key channel)
//
// Parallel form (`glaChunked`, fla's chunk_gla): chunks of C tokens, b_t = Σ_{s≤t, same chunk} g_s, b_C its last:
//
//   intra:  o_t += Σ_{s≤t} [Σ_i q_{t,i} k_{s,i} exp(b_{t,i} − b_{s,i})] v_s        (exponent ≤ 0 for s ≤ t only)
//   inter:  o_t += (q_t ⊙ exp b_t)ᵀ S_{c−1}                                         (b_t ≤ 0)
//   carry:  S_c = diag(exp b_C) S_{c−1} + Σ_s (k_s ⊙ exp(b_C − b_s)) v_sᵀ            (b_C − b_s ≤ 0)
//
// Every exponent is a sum of log gates over a forward stretch of time, so ≤ 0: nothing overflows however
// small the gates get (the q·exp(b), k·exp(−b) factorisation would overflow within a chunk). The carry is a
// diagonal scan over the T/C chunks on the [d_k, d_v] state (ops/scan/). Gradients: tfjs's own (and
// the scan's custom gradient). `glaNaive` (naive.ts) is the per-token recurrence of `glaStep`
// (step.ts) the tests compare against.
import * as tf from '@tensorflow/tfjs';
import { timeChunks } from '../shared/timeChunks.js';
import { scan } from '../scan/index.js';

/** [C, C, 1] additive constant: 0 where s ≤ t, −1e30 above the diagonal (exp → 0; an add, not a where:
 * tfjs-wasm broadcasts a where's operands with a slow tile). */
function causalBias(C: number): tf.Tensor {
  const m = new Float32Array(C * C);
  for (let t = 0; t < C; t++) for (let s = t + 1; s < C; s++) m[t * C + s] = -1e30;
  return tf.tensor3d(m, [C, C, 1]);
}

/**
 * q, k, g [B, H, T, d_k], v [B, H, T, d_v] (q already scaled) → o [B, H, T, d_v]. The tail is padded with
 * k = 0, g = 0 (no write, no decay), which changes nothing before it.
 */
export function glaChunked(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, g: tf.Tensor4D, chunkSize = 16): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dk] = q.shape;
    const dv = v.shape[3];
    const chunks = timeChunks(B, H, T, chunkSize); // [G, C, ·]: (B, H, n) batched
    const { C, n, G } = chunks;
    const qc = chunks.split<tf.Tensor3D>(q);
    const kc = chunks.split<tf.Tensor3D>(k);
    const vc = chunks.split<tf.Tensor3D>(v);
    const b = tf.cumsum(chunks.split(g).transpose([0, 2, 1]), 2).transpose([0, 2, 1]) as tf.Tensor3D; // within-chunk Σ g, [G, C, d_k] (cumsum on the last axis: tfjs mis-shapes its gradient on others)
    const bLast = b.slice([0, C - 1, 0], [G, 1, dk]); // [G, 1, d_k]

    // intra-chunk: decay[t, s, i] = exp(b_t,i − b_s,i) for s ≤ t, 0 above the diagonal
    const diff = tf.sub(b.reshape([G, C, 1, dk]), b.reshape([G, 1, C, dk])); // [G, C, C, d_k]
    const decay = tf.exp(tf.add(diff, causalBias(C))); // masked: exp(diff − 1e30) = 0, whatever diff
    const scores = tf.sum(tf.mul(tf.mul(qc.reshape([G, C, 1, dk]), kc.reshape([G, 1, C, dk])), decay), 3) as tf.Tensor3D; // [G, C, C]
    const intra = tf.matMul(scores, vc);

    // chunk states S_c = diag(exp b_C) S_{c−1} + (k ⊙ exp(b_C − b))ᵀ v: a diagonal scan over the n chunks
    const written = tf.matMul(tf.mul(kc, tf.exp(tf.sub(bLast, b))), vc, true, false).reshape([B * H, n, dk, dv]);
    const states = scan(tf.exp(bLast).reshape([B * H, n, dk, 1]), written); // [B·H, n, d_k, d_v]
    const before = tf.pad(states.slice([0, 0, 0, 0], [B * H, n - 1, dk, dv]), [[0, 0], [1, 0], [0, 0], [0, 0]]); // S_{c−1}
    const inter = tf.matMul(tf.mul(qc, tf.exp(b)), before.reshape([G, dk, dv]));

    return chunks.merge(tf.add(intra, inter), dv);
  });
}
