// Mamba-2's state space dual (SSD; Dao & Gu 2024, arXiv 2405.21060), per head, state h [N, P]:
//
//   h_t = exp(a_t) h_{t−1} + b_t v_tᵀ,   o_t = h_tᵀ c_t,     a_t = Δ_t A ≤ 0 one scalar per head and token
//
// (the mixer passes v_t = Δ_t x_t, b_t = B_t, c_t = C_t). Unrolled, o_t = Σ_{s≤t} exp(a_{s+1} + … + a_t) (c_t·b_s) v_s:
// a causal linear attention whose mask is the 1-semiseparable matrix L_ts = exp(Σ_{s<r≤t} a_r).
// Chunked form (`ssdChunked`, the four steps of mamba_ssm's ssd_minimal), chunks of C tokens, b̄_t = Σ_{r≤t, same chunk} a_r:
//
//   1 intra-chunk (diagonal blocks):   o_t = Σ_{s≤t, same chunk} (c_t·b_s) exp(b̄_t − b̄_s) v_s
//   2 chunk states:                    H_c = Σ_{s in c} exp(b̄_C − b̄_s) b_s v_sᵀ
//   3 carry across chunks:             S_c = exp(b̄_C) S_{c−1} + H_c     — the diagonal scan (ops/scan/, fused on webgpu)
//   4 state to output:                 o_t += exp(b̄_t) S_{c−1}ᵀ c_t
//
// Every exponent sums log decays over a forward stretch of time (≤ 0): nothing overflows (the upper triangle of
// the intra-chunk mask is exp(diff − 1e30) = 0, an add rather than a where). Gradients: tfjs's own and the scan's.
// `ssdNaive` (naive.ts) is the per-token recurrence of `ssdStep` (step.ts), the tests' reference and the step view.
import * as tf from '@tensorflow/tfjs';
import { timeChunks } from '../shared/timeChunks.js';
import { scan } from '../scan/index.js';

/** [C, C] additive constant: 0 where s ≤ t, −1e30 above the diagonal (exp → 0). */
function causalBias(C: number): tf.Tensor2D {
  const m = new Float32Array(C * C);
  for (let t = 0; t < C; t++) for (let s = t + 1; s < C; s++) m[t * C + s] = -1e30;
  return tf.tensor2d(m, [C, C]);
}

/**
 * c, b [B, H, T, N], v [B, H, T, P], a [B, H, T] (≤ 0) → o [B, H, T, P]. The tail is padded with b = 0, a = 0 (no
 * write, no decay), which changes nothing before it.
 */
export function ssdChunked(c: tf.Tensor4D, b: tf.Tensor4D, v: tf.Tensor4D, a: tf.Tensor3D, chunkSize = 32): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, N] = b.shape;
    const P = v.shape[3];
    const chunks = timeChunks(B, H, T, chunkSize); // [G, C, ·]: (B, H, n) batched
    const { C, n, G } = chunks;
    const BH = B * H;
    const cc = chunks.split<tf.Tensor3D>(c);
    const bc = chunks.split<tf.Tensor3D>(b);
    const vc = chunks.split<tf.Tensor3D>(v);
    const cum = tf.cumsum(chunks.split(a), 1); // b̄, [G, C] (cumsum on the last axis)
    const cumLast = cum.slice([0, C - 1], [G, 1]); // [G, 1]

    // 1: intra-chunk, (c_t·b_s) exp(b̄_t − b̄_s) for s ≤ t
    const L = tf.exp(tf.add(tf.sub(cum.reshape([G, C, 1]), cum.reshape([G, 1, C])), causalBias(C)));
    const intra = tf.matMul(tf.mul(tf.matMul(cc, bc, false, true), L), vc); // [G, C, P]
    // 2: each chunk's own state
    const written = tf.matMul(tf.mul(bc, tf.exp(tf.sub(cumLast, cum)).reshape([G, C, 1])), vc, true, false).reshape([BH, n, N, P]);
    // 3: carried across chunks by the diagonal scan; S_{c−1} = the state before chunk c
    const states = scan(tf.exp(cumLast).reshape([BH, n, 1, 1]), written); // [B·H, n, N, P]
    const before = n > 1 ? tf.pad(states.slice([0, 0, 0, 0], [BH, n - 1, N, P]), [[0, 0], [1, 0], [0, 0], [0, 0]]) : tf.zerosLike(states);
    // 4: the carried state read by each token
    const inter = tf.matMul(tf.mul(cc, tf.exp(cum).reshape([G, C, 1])), before.reshape([G, N, P]));

    return chunks.merge(tf.add(intra, inter), P);
  });
}
