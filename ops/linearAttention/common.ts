// The types, constants and shape checks every form of linear attention shares (chunk.ts, naive.ts, step.ts,
// nonCausal.ts), and the exclusive cumulative sum the chunked and naive forms take.
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

/**
 * Exclusive cumulative sum along `axis`. tfjs 4.22's Cumsum gradient permutes wrongly for a non-last axis,
 * so the summed axis is moved last and back.
 */
export function exclusiveCumsum(x: tf.Tensor, axis: number): tf.Tensor {
  const rank = x.rank;
  if (axis === rank - 1) return tf.cumsum(x, axis, true);
  const perm = [...Array(rank).keys()].filter((a) => a !== axis).concat(axis);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return tf.transpose(tf.cumsum(tf.transpose(x, perm), rank - 1, true), inverse);
}

export function checkShapes(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, v: tf.Tensor4D, initial?: LinearAttentionState, pairScore?: PairScore, shared?: SharedKeys): void {
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
