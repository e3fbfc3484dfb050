// Linear attention over feature-mapped queries and keys (Katharopoulos et al. 2020; zoology's Based mixer):
//
//   causal:      y_i = φ(q_i)·S_i / (φ(q_i)·z_i + eps),  S_i = S_0 + Σ_{j≤i} φ(k_j)ᵀ v_j,  z_i = z_0 + Σ_{j≤i} φ(k_j)
//   non-causal:  the same with the sums over the whole sequence (JRT's non-causal baseline)
//
// Shapes: φq, φk [B, H, T, F], v [B, H, T, dv] → y [B, H, T, dv]; the state is S [B, H, F, dv], z [B, H, F].
// (S_0, z_0) is an optional initial state (what a prefill left behind). `shared` keys and values are seen by
// every position (JRT-RNN's encoder over the prefix): S_0 = Σ_m φ(k_e,m)ᵀ v_e,m, z_0 = Σ_m φ(k_e,m).
//
// `causalLinearAttentionChunked` is the chunked form (flash-linear-attention's `chunk` algorithm): split time into
// chunks of C tokens; inside a chunk a masked C×C quadratic form, across chunks the state at each chunk start
// (exclusive cumulative sum of the per-chunk Σ φ(k)ᵀv). It holds T/C copies of the F×dv state, not T, and
// costs O(T·C·(F + dv) + T·F·dv). With a `pairScore` (Taylor: φ(q)·φ(k) = 1 + s + s²/2 of s = q·k/√f) the
// C×C scores come from q kᵀ over f instead of F (fla's parallel_based); shared keys are read in whichever
// of the two forms is cheaper: as scores q k_eᵀ [T, M] (O(T·M·(f + dv))) or through their state (O(T·F·dv)).
// Built from tfjs ops, so tfjs differentiates it. `causalLinearAttentionNaive` (naive.ts) is zoology's literal
// formula (a cumulative sum over [B, H, T, F, dv]): the reference the tests compare against, forward and gradients.
import * as tf from '@tensorflow/tfjs';
import { cachedConstant } from '../shared/constants.js';
import { checkShapes, LINEAR_ATTENTION_CHUNK, LINEAR_ATTENTION_EPS, exclusiveCumsum, type LinearAttentionOptions } from './common.js';
import { linearAttentionState } from './step.js';

/** 0/1 lower-triangular [C, C] incl. the diagonal (a constant, cached per backend and size). */
function lowerTriangle(size: number): tf.Tensor2D {
  return cachedConstant(`lower-triangle:${size}`, () => tf.linalg.bandPart(tf.ones([size, size]), -1, 0) as tf.Tensor2D);
}

/** Chunked causal linear attention: φq, φk [B, H, T, F], v [B, H, T, dv] → y [B, H, T, dv]. */
export function causalLinearAttentionChunked(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial, opts.pairScore, opts.shared);
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    const [B, H, T, F] = phiQ.shape;
    const dv = v.shape[3];
    const C = Math.max(1, Math.min(opts.chunkSize ?? LINEAR_ATTENTION_CHUNK, T));
    const N = Math.ceil(T / C);
    const pad = N * C - T;
    // Zero padding at the end: a zero φ(k) adds nothing to any sum, the padded outputs are sliced off.
    // Batch and heads are merged so that every tensor has rank ≤ 4 (wasm's rank-5 kernels are very slow).
    const BH = B * H;
    const chunks = (t: tf.Tensor4D, width: number) => (pad > 0 ? tf.pad(t, [[0, 0], [0, 0], [0, pad], [0, 0]]) : t).reshape([BH, N, C, width]);
    const q = chunks(phiQ, F);
    const k = chunks(phiK, F);
    const vc = chunks(v, dv);

    // Inside a chunk: A = tril(φq φkᵀ), numerator A v, denominator A·1.
    const pair = opts.pairScore;
    const similarity = pair ? pair.score(tf.matMul(chunks(pair.q, pair.q.shape[3]), chunks(pair.k, pair.k.shape[3]), false, true)) : tf.matMul(q, k, false, true);
    const scores = tf.mul(similarity, lowerTriangle(C)); // [BH, N, C, C]
    let num: tf.Tensor = tf.matMul(scores, vc); // [BH, N, C, dv]
    let den: tf.Tensor = tf.sum(scores, -1, true); // [BH, N, C, 1]

    // Across chunks: the state at the start of chunk n is Σ_{m<n} φk_mᵀ v_m (+ S_0, below).
    if (N > 1) {
      const prevKv = exclusiveCumsum(tf.matMul(k, vc, true, false), 1); // [BH, N, F, dv]
      const prevK = exclusiveCumsum(tf.sum(k, 2), 1); // [BH, N, F]
      num = tf.add(num, tf.matMul(q, prevKv));
      den = tf.add(den, tf.matMul(q, prevK.expandDims(-1)));
    }
    // Shared keys (the prefix every position sees): as a [T, M] score matrix when that is cheaper than their state.
    let initial = opts.initial;
    const shared = opts.shared;
    if (shared) {
      const M = shared.phiK.shape[2];
      const raw = pair && shared.k ? { q: pair.q, k: shared.k } : undefined;
      const width = raw ? raw.q.shape[3] : F;
      if (N * C * M * (width + dv) < (M + N * C) * F * dv) {
        const qs = raw ? raw.q : phiQ;
        const qFlat = (pad > 0 ? tf.pad(qs, [[0, 0], [0, 0], [0, pad], [0, 0]]) : qs).reshape([BH, N * C, width]);
        const ks = (raw ? raw.k : shared.phiK).reshape([BH, M, width]);
        const crossScores = raw ? pair!.score(tf.matMul(qFlat, ks, false, true)) : tf.matMul(qFlat, ks, false, true); // [BH, N·C, M]
        num = tf.add(num, tf.matMul(crossScores, shared.v.reshape([BH, M, dv])).reshape([BH, N, C, dv]));
        den = tf.add(den, tf.sum(crossScores, -1, true).reshape([BH, N, C, 1]));
      } else {
        initial = linearAttentionState(shared.phiK, shared.v, initial);
      }
    }
    // The initial state reaches every position alike: one [T, F] × [F, dv] product per (batch, head).
    if (initial) {
      const qFlat = q.reshape([BH, N * C, F]);
      num = tf.add(num, tf.matMul(qFlat, initial.kv.reshape([BH, F, dv])).reshape([BH, N, C, dv]));
      den = tf.add(den, tf.matMul(qFlat, initial.k.reshape([BH, F, 1])).reshape([BH, N, C, 1]));
    }
    const y = tf.div(num, tf.add(den, eps)).reshape([B, H, N * C, dv]);
    return (pad > 0 ? y.slice([0, 0, 0, 0], [B, H, T, dv]) : y) as tf.Tensor4D;
  });
}
