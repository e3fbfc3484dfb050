// JRT-RNN: prefix linear attention (Just read twice, arXiv 2407.05483; HazyResearch/prefix-linear-attention).
// The input is split into a prefix of length M (read non-causally, "encoder") and the whole sequence (read
// causally, "decoder"). Shared q; k_e, v_e on the prefix; k_d, v_d on every token:
//   S_e = Σ_{j<M} φ(k_e,j)ᵀ v_e,j,   z_e = Σ_{j<M} φ(k_e,j)
//   y_i = φ(q_i)·[Σ_{j≤i} φ(k_d,j)ᵀ v_d,j + S_e] / (φ(q_i)·[Σ_{j≤i} φ(k_d,j) + z_e] + eps)
// for every position, prefix included; out = y W_o. Taylor feature map (f 16) by default, no biases.
// Recurrent view = "prefill the prefix in parallel, then step": `prefill(x[:, :M])` returns the prefix outputs
// and the state S_e + Σ_{j<M} φ(k_d,j)ᵀ v_d,j (and its z); `step` then adds one decoder token at a time, like
// linear attention. After the prefix the state is one linear-attention state: (d + H)·F floats, BASED's formula.
// Stepping from position 0 without a prefill is pure decoder linear attention (prefix length 0).
// Training objective (the paper's, optional: `prefixMlm: { rate, weight }` in the model config, 15% and 0.25 there):
// a masked-token loss on the prefix, through the mixer's auxiliary-objective hook (Mixer.auxObjective). Each step,
// every prefix position t < M is masked with probability `rate` (drawn from the step's seed): the model reads the
// mask token 0 there, and
//   loss = LM loss (next tokens at the supervised positions, on the masked inputs)
//        + weight · mean_{masked (b, t)} CE(h_{b,t} Eᵀ, original token_{b,t})
// with h the final hidden states and E the tied embedding. A model-level objective: however many JRT-RNN layers a
// model has, it counts once (`shared`).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { prefixMaskSeed, Rng } from '../core/prng.js';
import { causalLinearAttention, linearAttentionState, linearAttentionStep, linearAttentionZeroState, type LinearAttentionState, type SharedKeys } from '../ops/linearAttention/index.js';
import { createFeatureMaps, featureMapSchema } from './featureMaps.js';
import { checkHeads, linearAttentionStateFloats } from './linearAttention.js';
import { defineMixer, type AuxBatch, type AuxObjective, type Mixer } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';
import { projections } from '../ops/projections/index.js';

const params = z
  .object({
    featureMap: featureMapSchema.default('taylor').describe('φ (taylor as JRT-RNN; others for ablations)'),
    featureDim: z.number().int().min(1).default(16).describe('f: query/key width per head (before φ)'),
    numHeads: z.number().int().min(1).default(1).describe('heads (d_model must be divisible by it)'),
    randomFeatures: z.number().int().min(1).default(256).describe('performer only: m random features'),
  })
  .strict();

/** The model config's `prefixMlm` (engine/config.ts modelSchema, where its defaults live). */
export interface PrefixMlm {
  rate: number;
  weight: number;
}

/** Prefix positions to mask for the masked-token objective: the masked inputs and what to predict there. */
export interface PrefixMasking {
  tokens: Int32Array;
  rows: Int32Array;
  labels: Int32Array;
  weight: number;
}

/** The mask token: 0, the blank of MQAR, which never occurs in a task's prefix (MQAR's kv block, SD's sets). */
export const MASK_TOKEN = 0;

/**
 * Pick each prefix position (t < prefixLength) with probability `rate`, deterministically from `seed`; replace
 * it by MASK_TOKEN and predict the original token there.
 */
export function prefixMasking(batch: AuxBatch, rate: number, weight: number, seed: number): PrefixMasking {
  const T = batch.seqLen;
  const M = Math.min(batch.prefixLength, T);
  const tokens = batch.tokens.slice();
  const rng = new Rng(seed >>> 0);
  const rows: number[] = [];
  const labels: number[] = [];
  for (let b = 0; b < batch.batchSize; b++)
    for (let t = 0; t < M; t++)
      if (rng.nextFloat() < rate) {
        rows.push(b * T + t);
        labels.push(tokens[b * T + t]!);
        tokens[b * T + t] = MASK_TOKEN;
      }
  return { tokens, rows: Int32Array.from(rows), labels: Int32Array.from(labels), weight };
}

/** The masked-token objective of one masking: feed its tokens, add weight × the head's cross-entropy at its rows. */
export function prefixMlmObjective(masking: PrefixMasking): AuxObjective {
  return {
    shared: 'jrt-rnn.prefix-mlm',
    tokens: masking.tokens,
    loss: (out) => (masking.rows.length === 0 ? undefined : tf.mul(out.crossEntropy(masking.rows, masking.labels), masking.weight)),
  };
}

/** A JRT-RNN layer: a mixer whose (in the interface optional) prefill is always there. */
export type PrefixMixer = Mixer & Required<Pick<Mixer, 'prefill'>>;

export default defineMixer({
  name: 'jrt-rnn',
  description: 'JRT-RNN prefix linear attention (non-causal over the prefix, causal after), Taylor map; state (d+H)·F',
  params,
  usesPrefix: true,
  create(p, ctx, make): PrefixMixer {
    const d = ctx.dModel;
    checkHeads('jrt-rnn', d, p.numHeads);
    const H = p.numHeads;
    const f = p.featureDim;
    const dh = d / H;
    const projQ = make.linear('proj_q', d, f * H, { bias: false });
    const projK = make.linear('proj_k', d, f * H, { bias: false });
    const projV = make.linear('proj_v', d, d, { bias: false });
    const projKEnc = make.linear('proj_k_enc', d, f * H, { bias: false });
    const projVEnc = make.linear('proj_v_enc', d, d, { bias: false });
    const projO = make.linear('out_proj', d, d, { bias: false, std: make.outputStd });
    const maps = createFeatureMaps(p.featureMap, { featureDim: f, numHeads: H, randomFeatures: p.randomFeatures, maxSeqLen: ctx.maxSeqLen }, make);
    const F = maps.q.size;
    const mlm = ctx.model?.prefixMlm as PrefixMlm | undefined;

    /** Everything the parallel form needs: decoder q, k, v over x, and the encoder keys/values over x[:, :M]. */
    function project(x: tf.Tensor3D, prefix: number) {
      const [B, T] = x.shape;
      // x's three maps at once (one matmul on the GPU with lever fusedProjections), in the order the reference uses x
      const [qx, kx, vx] = projections(x, [projQ, projK, projV]);
      const q = splitHeads(qx!, H);
      const k = splitHeads(kx!, H);
      const phiQ = maps.q.apply(q, 0);
      const phiK = maps.k.apply(k, 0);
      const v = splitHeads(vx!, H);
      const pairScore = maps.q.pairScore && maps.q === maps.k ? { q, k, score: maps.q.pairScore } : undefined;
      let encoder: SharedKeys | undefined;
      if (prefix > 0) {
        const xe = x.slice([0, 0, 0], [B, prefix, d]);
        const [kex, vex] = projections(xe, [projKEnc, projVEnc]);
        const ke = splitHeads(kex!, H);
        encoder = { phiK: maps.k.apply(ke, 0), v: splitHeads(vex!, H), k: ke };
      }
      return { phiQ, phiK, v, encoder, pairScore };
    }

    /** The parallel form: decoder linear attention with the encoder's keys seen by every position. */
    function attend(x: tf.Tensor3D, projected: ReturnType<typeof project>): tf.Tensor3D {
      const { phiQ, phiK, v, encoder, pairScore } = projected;
      const y = causalLinearAttention(phiQ, phiK, v, { shared: encoder, pairScore });
      return projO.apply(mergeHeads(y)) as tf.Tensor3D;
    }

    return {
      forward(x, opts) {
        return tf.tidy(() => attend(x, project(x, Math.max(0, Math.min(opts.prefixLength ?? 0, x.shape[1])))));
      },
      prefill(x) {
        const M = x.shape[1];
        if (M < 1) throw new Error('jrt-rnn: prefill needs the prefix (at least one token)');
        return tf.tidy(() => {
          const projected = project(x, M);
          const { phiK, v, encoder } = projected;
          // the decoder's sums over the prefix plus the encoder's: one linear-attention state
          const state = linearAttentionState(phiK, v, linearAttentionState(encoder!.phiK, encoder!.v));
          return { y: attend(x, projected), state: { kv: state.kv, k: state.k } };
        });
      },
      auxObjective(batch) {
        if (!mlm || batch.prefixLength <= 0) return undefined;
        return prefixMlmObjective(prefixMasking(batch, mlm.rate, mlm.weight, prefixMaskSeed(batch.seed)));
      },
      initState(batch) {
        const { kv, k } = linearAttentionZeroState(batch, H, F, dh);
        return { kv, k };
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const B = x.shape[0];
          const phiQ = maps.q.apply(projQ.apply(x).reshape([B, H, 1, f]) as tf.Tensor4D, position).reshape([B, H, F]) as tf.Tensor3D;
          const phiK = maps.k.apply(projK.apply(x).reshape([B, H, 1, f]) as tf.Tensor4D, position).reshape([B, H, F]) as tf.Tensor3D;
          const v = projV.apply(x).reshape([B, H, dh]) as tf.Tensor3D;
          const out = linearAttentionStep(state as unknown as LinearAttentionState, phiQ, phiK, v);
          return { y: projO.apply(out.y.reshape([B, d])) as tf.Tensor2D, state: { kv: out.state.kv, k: out.state.k } };
        });
      },
    };
  },
  stateFloats: (p, ctx) => linearAttentionStateFloats(p, ctx),
});
