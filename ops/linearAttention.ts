// Linear attention over feature-mapped queries and keys (Katharopoulos et al. 2020; zoology's Based mixer):
//
//   causal:      y_i = φ(q_i)·S_i / (φ(q_i)·z_i + eps),  S_i = S_0 + Σ_{j≤i} φ(k_j)ᵀ v_j,  z_i = z_0 + Σ_{j≤i} φ(k_j)
//   non-causal:  the same with the sums over the whole sequence (JRT's non-causal baseline)
//
// Shapes: φq, φk [B, H, T, F], v [B, H, T, dv] → y [B, H, T, dv]; the state is S [B, H, F, dv], z [B, H, F].
// (S_0, z_0) is an optional initial state (what a prefill left behind). `shared` keys and values are seen by
// every position (JRT-RNN's encoder over the prefix): S_0 = Σ_m φ(k_e,m)ᵀ v_e,m, z_0 = Σ_m φ(k_e,m).
//
// `causalLinearAttention` is the chunked form (flash-linear-attention's `chunk` algorithm): split time into
// chunks of C tokens; inside a chunk a masked C×C quadratic form, across chunks the state at each chunk start
// (exclusive cumulative sum of the per-chunk Σ φ(k)ᵀv). It holds T/C copies of the F×dv state, not T, and
// costs O(T·C·(F + dv) + T·F·dv). With a `pairScore` (Taylor: φ(q)·φ(k) = 1 + s + s²/2 of s = q·k/√f) the
// C×C scores come from q kᵀ over f instead of F (fla's parallel_based); shared keys are read in whichever
// of the two forms is cheaper: as scores q k_eᵀ [T, M] (O(T·M·(f + dv))) or through their state (O(T·F·dv)).
// Built from tfjs ops, so tfjs differentiates it. `causalLinearAttentionNaive` is zoology's literal formula (a
// cumulative sum over [B, H, T, F, dv]): the reference the tests compare against, forward and gradients.
import * as tf from '@tensorflow/tfjs';

/** zoology's Based / BASED / JRT: eps in the denominator. */
export const LINEAR_ATTENTION_EPS = 1e-12;
/** Default chunk length of the chunked causal form. */
export const LINEAR_ATTENTION_CHUNK = 64;

/** Recurrent state of linear attention: S = Σ φ(k)ᵀv [B, H, F, dv] and z = Σ φ(k) [B, H, F]. */
export interface LinearAttentionState {
  kv: tf.Tensor4D;
  k: tf.Tensor3D;
}

export interface LinearAttentionOptions {
  eps?: number;
  /** Chunk length of the chunked causal form (ignored by the naive and non-causal forms). */
  chunkSize?: number;
  /** (S_0, z_0): added to every position's sums. */
  initial?: LinearAttentionState;
  /**
   * When φ(q)·φ(k) is a function of q·k (Taylor: 1 + s + s²/2), the raw q, k [B, H, T, f] and that function:
   * the chunked form then builds its C×C scores from q kᵀ over f instead of φq φkᵀ over F (fla's parallel_based).
   * The cross-chunk part still uses φq, φk.
   */
  pairScore?: PairScore;
  /** Keys and values every position sees: φk_e [B, H, M, F], v_e [B, H, M, dv], and raw k_e [B, H, M, f] for pairScore. */
  shared?: SharedKeys;
}

export interface SharedKeys {
  phiK: tf.Tensor4D;
  v: tf.Tensor4D;
  k?: tf.Tensor4D;
}

export interface PairScore {
  q: tf.Tensor4D;
  k: tf.Tensor4D;
  /** q·k → φ(q)·φ(k), elementwise. */
  score: (qk: tf.Tensor) => tf.Tensor;
}

/** 0/1 lower-triangular [C, C] incl. the diagonal (a constant, cached per backend and size). */
const triangleCache = new Map<string, tf.Tensor2D>();
function lowerTriangle(size: number): tf.Tensor2D {
  const key = `${tf.getBackend()}:${size}`;
  let mask = triangleCache.get(key);
  if (!mask || mask.isDisposed) {
    mask = tf.keep(tf.tidy(() => tf.linalg.bandPart(tf.ones([size, size]), -1, 0)) as tf.Tensor2D);
    triangleCache.set(key, mask);
  }
  return mask;
}

/**
 * Exclusive cumulative sum along `axis`. tfjs 4.22's Cumsum gradient permutes wrongly for a non-last axis,
 * so the summed axis is moved last and back.
 */
function exclusiveCumsum(x: tf.Tensor, axis: number): tf.Tensor {
  const rank = x.rank;
  if (axis === rank - 1) return tf.cumsum(x, axis, true);
  const perm = [...Array(rank).keys()].filter((a) => a !== axis).concat(axis);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return tf.transpose(tf.cumsum(tf.transpose(x, perm), rank - 1, true), inverse);
}

function checkShapes(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, initial?: LinearAttentionState, pairScore?: PairScore, shared?: SharedKeys): void {
  const [B, H, T, F] = phiQ.shape;
  if (phiK.shape.join() !== phiQ.shape.join()) throw new Error(`linear attention: φk [${phiK.shape}] differs from φq [${phiQ.shape}]`);
  if (v.shape[0] !== B || v.shape[1] !== H || v.shape[2] !== T) throw new Error(`linear attention: v [${v.shape}] does not match φq [${phiQ.shape}]`);
  if (pairScore && (pairScore.q.shape.slice(0, 3).join() !== [B, H, T].join() || pairScore.k.shape.join() !== pairScore.q.shape.join()))
    throw new Error(`linear attention: pairScore q [${pairScore.q.shape}], k [${pairScore.k.shape}] do not match φq [${phiQ.shape}]`);
  if (shared) {
    const M = shared.phiK.shape[2];
    if (shared.phiK.shape.join() !== [B, H, M, F].join() || shared.v.shape.join() !== [B, H, M, v.shape[3]].join()) throw new Error(`linear attention: shared φk [${shared.phiK.shape}], v [${shared.v.shape}] do not match φq [${phiQ.shape}], v [${v.shape}]`);
  }
  if (initial) {
    const dv = v.shape[3];
    if (initial.kv.shape.join() !== [B, H, F, dv].join()) throw new Error(`linear attention: initial S [${initial.kv.shape}], expected [${[B, H, F, dv]}]`);
    if (initial.k.shape.join() !== [B, H, F].join()) throw new Error(`linear attention: initial z [${initial.k.shape}], expected [${[B, H, F]}]`);
  }
}

/** Chunked causal linear attention: φq, φk [B, H, T, F], v [B, H, T, dv] → y [B, H, T, dv]. */
export function causalLinearAttention(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
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

/** zoology's formula: y = Σ_F φq·cumsum(φk ⊗ v) / (Σ_F φq·cumsum(φk) + eps), over [B, H, T, F, dv]. */
export function causalLinearAttentionNaive(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial, undefined, opts.shared);
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    const [B, H, , F] = phiQ.shape;
    const dv = v.shape[3];
    const q = phiQ.expandDims(-1); // [B, H, T, F, 1]
    const outer = tf.mul(phiK.expandDims(-1), v.expandDims(-2)); // [B, H, T, F, dv]
    // inclusive cumsum over time = exclusive cumsum + the current term (see exclusiveCumsum on tfjs' gradient)
    let kv: tf.Tensor = tf.add(exclusiveCumsum(outer, 2), outer);
    let kSum: tf.Tensor = tf.add(exclusiveCumsum(phiK, 2), phiK); // [B, H, T, F]
    const initial = opts.shared ? linearAttentionState(opts.shared.phiK, opts.shared.v, opts.initial) : opts.initial;
    if (initial) {
      kv = tf.add(kv, initial.kv.reshape([B, H, 1, F, dv]));
      kSum = tf.add(kSum, initial.k.reshape([B, H, 1, F]));
    }
    const num = tf.sum(tf.mul(q, kv), 3); // [B, H, T, dv]
    const den = tf.sum(tf.mul(phiQ, kSum), 3, true); // [B, H, T, 1]
    return tf.div(num, tf.add(den, eps)) as tf.Tensor4D;
  });
}

/** Non-causal linear attention (sums over the whole sequence), plus an optional initial state. */
export function linearAttentionNonCausal(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, opts: LinearAttentionOptions = {}): tf.Tensor4D {
  checkShapes(phiQ, phiK, v, opts.initial);
  const eps = opts.eps ?? LINEAR_ATTENTION_EPS;
  return tf.tidy(() => {
    const { kv, k } = linearAttentionState(phiK, v, opts.initial);
    const num = tf.matMul(phiQ, kv); // [B, H, T, dv]
    const den = tf.matMul(phiQ, k.expandDims(-1)); // [B, H, T, 1]
    return tf.div(num, tf.add(den, eps)) as tf.Tensor4D;
  });
}

/** The state after a whole sequence: S = S_0 + Σ_t φk_tᵀ v_t, z = z_0 + Σ_t φk_t. */
export function linearAttentionState(phiK: tf.Tensor4D, v: tf.Tensor4D, initial?: LinearAttentionState): LinearAttentionState {
  return tf.tidy(() => {
    let kv: tf.Tensor = tf.matMul(phiK, v, true, false); // [B, H, F, dv]
    let k: tf.Tensor = tf.sum(phiK, 2); // [B, H, F]
    if (initial) {
      kv = tf.add(kv, initial.kv);
      k = tf.add(k, initial.k);
    }
    return { kv: kv as tf.Tensor4D, k: k as tf.Tensor3D };
  });
}

/** A fresh (zero) state. */
export function linearAttentionZeroState(batch: number, heads: number, features: number, valueDim: number): LinearAttentionState {
  return { kv: tf.zeros([batch, heads, features, valueDim]), k: tf.zeros([batch, heads, features]) };
}

/**
 * One token of the recurrent view: φq, φk [B, H, F], v [B, H, dv]:
 *   S ← S + φkᵀ v;  z ← z + φk;  y = φq·S / (φq·z + eps)   → y [B, H, dv] and the new state.
 */
export function linearAttentionStep(state: LinearAttentionState, phiQ: tf.Tensor3D, phiK: tf.Tensor3D, v: tf.Tensor3D, eps = LINEAR_ATTENTION_EPS): { y: tf.Tensor3D; state: LinearAttentionState } {
  return tf.tidy(() => {
    const kv = tf.add(state.kv, tf.mul(phiK.expandDims(-1), v.expandDims(-2))) as tf.Tensor4D;
    const k = tf.add(state.k, phiK) as tf.Tensor3D;
    const q = phiQ.expandDims(2); // [B, H, 1, F]
    const num = tf.matMul(q, kv).squeeze([2]); // [B, H, dv]
    const den = tf.sum(tf.mul(phiQ, k), -1, true); // [B, H, 1]
    return { y: tf.div(num, tf.add(den, eps)) as tf.Tensor3D, state: { kv, k } };
  });
}
