// Scatterbrain (Chen, Dao et al. 2021, arXiv 2110.15343) in zoology's form (zoology/mixers/scatterbrain/attn.py,
// `SBLocalAttention`, the "scatter-brain" rows of BASED's figure 2): local window attention plus Performer
// low-rank attention on the rest, the low-rank part's double counting inside the window removed.
//
//   q, k, v = x W_qkv (bias);  per head d_h = d/H, c = 1/√d_h;  W(i) = {j : i − w ≤ j ≤ i} (zoology's mask)
//   A_ij    = softmax_{j ∈ W(i)}(c·q_i·k_j)                                 local softmax (dropout on A)
//   φq(x)   = exp(u − max_r u_r) + ε/√m,  φk(x) = exp(u − |x'|²/2 − ½ log m − κ),  u = [x' ωᵀ, −x' ωᵀ],  x' = x·c^{1/2}
//             (SBPerformerFeatures: the cosh variant, m = f features from f/2 rows ω, ε = 1e-4)
//   N_i     = Σ_{j≤i} (φq_i·φk_j) v_j,   D_i = Σ_{j≤i} φq_i·φk_j            Performer over every earlier token
//   N^W_i   = Σ_{j∈W(i)} (φq_i·φk_j) v_j, D^W_i = Σ_{j∈W(i)} φq_i·φk_j      its part inside the window
//   y_i     = Σ_{j∈W(i)} A_ij v_j + (N_i − c·N^W_i) / max(D_i − c·D^W_i, 1e-24);   out = y W_o (bias)
//
// The normalisers, read off zoology's code: it computes a shared log-normaliser logZ = logaddexp(lse_W(c·q·k),
// log(D − c·D^W)) but applies it as softmax(local − logZ), and softmax is shift-invariant, so the local part is
// normalised by its own window sum; the low-rank part is scaled by exp(global_scale − global_log_normalization)
// = 1/(D − c·D^W), its own mass. The two parts therefore do not share one normaliser in zoology (the original
// Scatterbrain's exp(QK − logZ) does); we implement zoology's. The window correction is c·φq·φk (zoology's
// `global_qk` multiplies the feature scores by softmax_scale) while N, D are not scaled: also zoology's. All
// per-query and global scales of φ (zoology's log-scales) cancel in the ratio.
//
// Stated differences from zoology, each to make the mixer a causal recurrence whose step view equals its forward:
//  - ω (gaussian_orthogonal_random_matrix, scaling 0: orthonormal rows times χ_{d_h} norms) is drawn once at
//    init from the layer's seed and kept fixed (a constant, not trained), as Performer at inference. (zoology's
//    SBPerformerFeatures draws on the first forward only — its redraw period is set to π — but on every fresh
//    module, and from torch's global generator.)
//  - zoology stabilises keys by the maximum over the whole sequence and then adds ε/√m, which makes a key's
//    feature depend on later tokens. Here keys take a fixed shift κ = max(0, max_r |ω_r|²/2 − 40) (so the
//    exponent, ≤ |ω_r|²/2 − κ, stays ≤ 40) and no ε; the queries keep zoology's per-token max and ε.
//  - masks are exact (−1e9 / zeros) instead of −10000 then a clamp of the featurised scores at 0.
// Parallel form: the local part is slidingWindowAttention (blocked, O(T·w); or masked, param form, unset by the sequence's length); N, D come from the chunked causal
// linear attention op (ops/linearAttention, no new kernel) over all tokens and over the tokens lagged by w + 1
// (N − c·N^W = (1 − c)·N + c·N^{lag}, as N^W = N − N^{lag}); the two parts are joined by ops/scatterbrainCombine.
// Recurrent view: a ring buffer of the previous w keys and values (the window) and the Performer sums over the
// tokens that have left it, S = Σ_{j ≤ t−w−1} φk_jᵀ v_j [H, m, d_h] and z = Σ φk_j [H, m]. State per layer:
//   paper (zoology's state_size)  2·w·d + H·d_h·f + H·f
//   measured from the step view   2·min(w, L_s)·d + H·d_h·f + H·f  (the buffer capped at the longest sequence)
// Init as zoology's SBLocalAttention in its TransformerBlock: Wqkv N(0, 0.02) with bias, out_proj
// N(0, 0.02/√(2·n_layers)) with bias; dropout 0.1 on the local softmax; one head, f = 24 by default.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { hashSeeds, Rng } from '../core/prng.js';
import { dropout } from '../ops/dropout/index.js';
import { causalLinearAttention } from '../ops/linearAttention/index.js';
import { performerKeyFeatures, performerQueryFeatures } from '../ops/performerFeatures/index.js';
import { scatterbrainCombine, type Lagged } from '../ops/scatterbrainCombine/index.js';
import { causalNormalisersFused, normaliser, prefixSums, shiftedInTime } from '../ops/causalNormalisers/index.js';
import { orthogonalGaussian } from './featureMaps.js';
import { defineMixer } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';
import { MASKED_FORM_UP_TO, slidingWindowAttention, type SlidingWindowForm } from './slidingWindow.js';

const params = z
  .object({
    windowSize: z.number().int().min(1).default(64).describe('w: the local softmax sees the token and the w tokens before it'),
    featureDim: z.number().int().min(2).multipleOf(2).default(24).describe('f: Performer random features per head (cosh map: f/2 random rows)'),
    numHeads: z.number().int().min(1).default(1).describe('heads (d_model must be divisible by it)'),
    dropout: z.number().min(0).max(1).default(0.1).describe('dropout on the local attention weights'),
    // optional without a default: a defaulted new key would change every recorded run's id (tests/campaign-ids.test.ts)
    form: z.enum(['blocked', 'masked']).optional().describe(`the local part's parallel form (unset: 'masked' up to ${MASKED_FORM_UP_TO} tokens, else 'blocked'; architectures/slidingWindow.ts form): 'masked' computes it in attention's few ops, the same function`),
  })
  .strict();

export type ScatterbrainParams = z.output<typeof params>;

/** SBPerformerFeatures' ε (added to the query features after their max is subtracted). */
export const SB_FEATURE_EPS = 1e-4;
/** zoology's clamp of the low-rank normaliser. */
export const SB_MIN_NORMALISER = 1e-24;
/** The key exponent is kept ≤ this (κ below). */
const MAX_KEY_EXPONENT = 40;
/** eps handed to the linear attention op, which returns N/(D + eps): 1 keeps (D + eps)² in its gradient away from 0. */
const OP_EPS = 1;
const NEG = -1e9;

/** The fixed Performer projection of one layer: ωᵀ [d_h, f/2] and the key shift κ. */
export interface SbProjection {
  omegaT: tf.Tensor2D;
  kappa: number;
}

/**
 * gaussian_orthogonal_random_matrix(f/2, d_h, scaling=0): orthonormal rows (blocks of d_h, QR of Gaussians; here
 * the project's seeded Gram–Schmidt) each times the norm of a fresh Gaussian vector of length d_h. Rows [f/2, d_h].
 */
export function sbProjection(featureDim: number, headDim: number, seed: number): { omega: Float32Array; rows: number; kappa: number } {
  const rows = featureDim / 2;
  const omega = orthogonalGaussian(rows, headDim, seed);
  const undo = Math.sqrt(Math.floor(rows / headDim) + (rows % headDim) / headDim); // orthogonalGaussian's 1/√(m/d)
  const rng = new Rng(hashSeeds(seed, 'scatterbrain-row-norms'));
  let kappa = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let i = 0; i < headDim; i++) {
      const g = Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
      sq += g * g;
    }
    const norm = Math.sqrt(sq) * undo;
    let rowSq = 0;
    for (let i = 0; i < headDim; i++) {
      omega[r * headDim + i]! *= norm;
      rowSq += omega[r * headDim + i]! ** 2;
    }
    kappa = Math.max(kappa, rowSq / 2 - MAX_KEY_EXPONENT);
  }
  return { omega, rows, kappa };
}

/** x' = x·d_h^{−1/4} as rows [N, d_h] and its projections x' ωᵀ [N, f/2] (u = [x' ωᵀ, −x' ωᵀ]: ops/performerFeatures). */
function project(x: tf.Tensor, proj: SbProjection): { dash: tf.Tensor2D; xs: tf.Tensor2D; lead: number[]; m: number } {
  const dh = x.shape[x.rank - 1]!;
  const xs = tf.mul(x.reshape([-1, dh]), Math.pow(dh, -0.25)) as tf.Tensor2D;
  const dash = tf.matMul(xs, proj.omegaT) as tf.Tensor2D;
  return { dash, xs, lead: x.shape.slice(0, -1), m: 2 * dash.shape[1]! };
}

/** φq(x) = exp(u − max_r u_r) + ε/√m (SBPerformerFeatures.forward_queries without its log-scale, which cancels). */
export function sbQueryFeatures(x: tf.Tensor, proj: SbProjection): tf.Tensor {
  return tf.tidy(() => {
    const { dash, lead, m } = project(x, proj);
    return performerQueryFeatures(dash, SB_FEATURE_EPS / Math.sqrt(m)).reshape([...lead, m]);
  });
}

/** φk(x) = exp(u − |x'|²/2 − ½ log m − κ): forward_keys with a fixed shift κ instead of the sequence maximum. */
export function sbKeyFeatures(x: tf.Tensor, proj: SbProjection): tf.Tensor {
  return tf.tidy(() => {
    const { dash, xs, lead, m } = project(x, proj);
    return performerKeyFeatures(dash, xs, 0.5 * Math.log(m) + proj.kappa).reshape([...lead, m]);
  });
}

/**
 * The parallel form: q, k, v [B, H, T, d_h] → y [B, H, T, d_h] (before W_o). `dropAttention` acts on the local
 * softmax weights, as zoology's dropout.
 */
export function scatterbrainAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, window: number, proj: SbProjection, dropAttention?: (a: tf.Tensor) => tf.Tensor, form?: SlidingWindowForm): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dh] = q.shape;
    const c = 1 / Math.sqrt(dh);
    const eps = OP_EPS;
    const local = slidingWindowAttention(q, k, v, window, dropAttention, form);
    const phiQ = sbQueryFeatures(q, proj) as tf.Tensor4D;
    const phiK = sbKeyFeatures(k, proj) as tf.Tensor4D;
    // D = φq·Σ_{j≤i} φk_j over every earlier token, and over the tokens j ≤ i − w − 1 (lag w + 1 < T): fused, or
    // the reference's pieces in this order — D, then a, then D^lag — which is the order of φq's gradient sums, so that
    // a run without the fused form keeps the bits it always had
    const lag = window + 1;
    const fused = causalNormalisersFused(phiQ, phiK, lag);
    const z = fused ? undefined : prefixSums(phiK);
    const D = fused?.D ?? normaliser(phiQ, z!);
    // the op returns N/(D + eps): scatterbrainCombine takes N back from it
    const a = causalLinearAttention(phiQ, phiK, v, { eps });
    let lagged: Lagged | undefined;
    if (lag < T) {
      // keys, values (and the key sums) shifted by w + 1
      const Dlag = fused?.lagged ?? normaliser(phiQ, shiftedInTime(z!, lag));
      lagged = { a: causalLinearAttention(phiQ, shiftedInTime(phiK, lag), shiftedInTime(v, lag), { eps }), D: Dlag };
    }
    return scatterbrainCombine(local, a, D, lagged, { c, eps, minNormaliser: SB_MIN_NORMALISER });
  });
}

/** Buffer slots the step view holds: w, or the longest sequence when that is shorter (nothing ever leaves). */
const slotsOf = (p: ScatterbrainParams, maxSeqLen: number) => Math.min(p.windowSize, maxSeqLen);

export default defineMixer({
  name: 'scatterbrain',
  description: 'Scatterbrain (zoology SBLocalAttention): window softmax + Performer on the rest, state 2·w·d + H·(d/H)·f + H·f',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    if (d % p.numHeads !== 0) throw new Error(`scatterbrain: d_model ${d} is not divisible by numHeads ${p.numHeads}`);
    const H = p.numHeads;
    const dh = d / H;
    const w = p.windowSize;
    const F = p.featureDim;
    const c = 1 / Math.sqrt(dh);
    const qkv = make.linear('Wqkv', d, 3 * d);
    const out = make.linear('out_proj', d, d, { std: make.outputStd });
    const drawn = sbProjection(F, dh, make.seed());
    // a constant (not a Variable): never trained, shared by the heads as zoology's one feature map per layer
    const proj: SbProjection = { omegaT: tf.keep(tf.tidy(() => tf.tensor2d(drawn.omega, [drawn.rows, dh]).transpose()) as tf.Tensor2D), kappa: drawn.kappa };
    const S = slotsOf(p, ctx.maxSeqLen);

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const [q, k, v] = tf.split(qkv.apply(x), 3, 2);
          const drop = opts.training && p.dropout > 0 ? (a: tf.Tensor) => dropout(a, p.dropout, opts.dropoutSeed ?? 0) : undefined;
          const y = scatterbrainAttention(splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), w, proj, drop, p.form);
          return out.apply(mergeHeads(y)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { keys: tf.zeros([batch, S, d]), values: tf.zeros([batch, S, d]), kv: tf.zeros([batch, H, F, dh]), k: tf.zeros([batch, H, F]) };
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const B = x.shape[0];
          if (S < w && position >= ctx.maxSeqLen) throw new Error(`scatterbrain: position ${position} beyond the longest sequence (${ctx.maxSeqLen}) the buffer was sized for`);
          const [q, k, v] = tf.split(qkv.apply(x), 3, 1);
          const qh = q.reshape([B, H, 1, dh]);
          // the window: buffer slots (positions max(0, t−S) … t−1; slot s filled iff s < t) and the token itself
          const keys = tf.concat([state.keys!, k.reshape([B, 1, d])], 1).reshape([B, S + 1, H, dh]).transpose([0, 2, 1, 3]);
          const values = tf.concat([state.values!, v.reshape([B, 1, d])], 1).reshape([B, S + 1, H, dh]).transpose([0, 2, 1, 3]);
          const filled = tf.concat([tf.less(tf.range(0, S, 1, 'int32'), position), tf.tensor1d([true], 'bool')], 0).reshape([1, 1, 1, S + 1]);
          const scores = tf.where(filled, tf.mul(tf.matMul(qh, keys, false, true), c), tf.fill([1, 1, 1, S + 1], NEG));
          const local = tf.matMul(tf.softmax(scores), values); // [B, H, 1, dh]
          // Performer: inside the window from the buffer's keys, outside from the sums (S, z)
          const phiQ = sbQueryFeatures(qh, proj); // [B, H, 1, F]
          const inWindow = tf.mul(tf.matMul(phiQ, sbKeyFeatures(keys, proj), false, true), tf.cast(filled, 'float32')); // [B, H, 1, S+1]
          const Nw = tf.matMul(inWindow, values);
          const Dw = tf.sum(inWindow, -1, true);
          const Nlag = tf.matMul(phiQ, state.kv!);
          const Dlag = tf.matMul(phiQ, state.k!.reshape([B, H, F, 1]));
          const GN = tf.add(Nlag, tf.mul(Nw, 1 - c));
          const GD = tf.add(Dlag, tf.mul(Dw, 1 - c));
          const y = tf.add(local, tf.div(GN, tf.maximum(GD, SB_MIN_NORMALISER))).reshape([B, d]);
          // the token's k, v replace the oldest entry (position t − S), which joins the Performer sums once it existed
          const slot = tf.cast(tf.equal(tf.range(0, S, 1, 'int32'), position % S), 'float32').reshape([1, S, 1]);
          const keep = tf.sub(1, slot);
          // (clones: the caller may dispose the old state)
          let kv: tf.Tensor = tf.clone(state.kv!);
          let kSum: tf.Tensor = tf.clone(state.k!);
          if (position >= S) {
            const oldK = tf.sum(tf.mul(state.keys!, slot), 1).reshape([B, H, 1, dh]);
            const oldV = tf.sum(tf.mul(state.values!, slot), 1).reshape([B, H, 1, dh]);
            const phiOld = sbKeyFeatures(oldK, proj); // [B, H, 1, F]
            kv = tf.add(kv, tf.matMul(phiOld, oldV, true, false));
            kSum = tf.add(kSum, phiOld.reshape([B, H, F]));
          }
          return {
            y: out.apply(y) as tf.Tensor2D,
            state: {
              keys: tf.add(tf.mul(state.keys!, keep), tf.mul(slot, k.reshape([B, 1, d]))),
              values: tf.add(tf.mul(state.values!, keep), tf.mul(slot, v.reshape([B, 1, d]))),
              kv,
              k: kSum,
            },
          };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const d = ctx.dModel;
    const H = p.numHeads;
    const lowRank = H * (d / H) * p.featureDim + H * p.featureDim;
    return { measured: 2 * d * slotsOf(p, ctx.maxSeqLen) + lowRank, paper: 2 * p.windowSize * d + lowRank };
  },
});
