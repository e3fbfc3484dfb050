// Linear attention with a pluggable feature map φ (Katharopoulos et al. 2020; zoology's Based mixer):
//   q = x W_q, k = x W_k  (f per head),  v = x W_v  (d/H per head)
//   causal:      y_i = Σ_{j≤i} φ(q_i)·φ(k_j) v_j / (Σ_{j≤i} φ(q_i)·φ(k_j) + eps)
//   non-causal:  the same sums over the whole input (JRT's non-causal baseline, `causal: false`)
//   out = y W_o   (no biases, as zoology's Based)
// Recurrent view: S = Σ φ(k_j)ᵀ v_j [H, F, d/H] and z = Σ φ(k_j) [H, F] per example, so the state is
// (d + H)·F floats: measured and zoology's formula agree (Taylor: F = 1 + f + f(f+1)/2, the upper triangle).
// Feature maps: architectures/featureMaps.ts. Hedgehog's distillation loss (optional, `distillWeight`) is computed
// by the training forward and added to the training loss through the auxiliary-objective hook (auxObjective).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { causalLinearAttention, linearAttentionNonCausal, linearAttentionStep, linearAttentionZeroState, type LinearAttentionState } from '../ops/linearAttention/index.js';
import { createFeatureMaps, featureMapSchema, featureSize, type FeatureMap } from './featureMaps.js';
import { defineMixer, type Mixer, type MixerContext, type ParamFactory, type StateFloats } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';
import { projections } from '../ops/projections/index.js';

export const linearAttentionParams = z
  .object({
    featureMap: featureMapSchema.default('taylor').describe("φ: 'taylor' | 'poselu' | 'relu' | 'performer' | 'cosformer' | 'hedgehog'"),
    featureDim: z.number().int().min(1).default(16).describe('f: query/key width per head (before φ)'),
    numHeads: z.number().int().min(1).default(1).describe('heads (d_model must be divisible by it)'),
    causal: z.boolean().default(true).describe('false = sums over the whole input (non-causal baseline)'),
    randomFeatures: z.number().int().min(1).default(256).describe("performer only: m random features (zoology's expanded_dim)"),
    distillWeight: z.number().min(0).default(0).describe('hedgehog only: weight of the attention-distillation loss (0 = off)'),
  })
  .strict();
export type LinearAttentionParams = z.output<typeof linearAttentionParams>;

/** Hedgehog's distillation targets must not train q and k: identity forward, zero gradient. */
const stopGradient = tf.customGrad(((x: tf.Tensor) => ({ value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as unknown as Parameters<typeof tf.customGrad>[0]) as (
  x: tf.Tensor,
) => tf.Tensor;

/**
 * Hedgehog's attention distillation (arXiv 2402.04347, eq. 5): soft cross-entropy from softmax attention
 * softmax(q kᵀ/√f) (the teacher) to the linear attention weights φ(q_i)·φ(k_j) / Σ_j' φ(q_i)·φ(k_j'), both
 * causal when the layer is. q and k enter through a stop-gradient, so only the feature-map MLPs learn from it.
 * q, k [B, H, T, f] → scalar (mean over B, H, T).
 */
export function hedgehogDistillationLoss(q: tf.Tensor4D, k: tf.Tensor4D, maps: { q: FeatureMap; k: FeatureMap }, causal: boolean): tf.Scalar {
  return tf.tidy(() => {
    const T = q.shape[2];
    const f = q.shape[3];
    const qs = stopGradient(q) as tf.Tensor4D;
    const ks = stopGradient(k) as tf.Tensor4D;
    const mask = causal ? tf.linalg.bandPart(tf.ones([T, T]), -1, 0) : tf.ones([T, T]);
    const logits = tf.add(tf.div(tf.matMul(qs, ks, false, true), Math.sqrt(f)), tf.mul(tf.sub(1, mask), -1e9));
    const teacher = stopGradient(tf.softmax(logits));
    const scores = tf.mul(tf.matMul(maps.q.apply(qs, 0), maps.k.apply(ks, 0), false, true), mask);
    const student = tf.div(scores, tf.add(tf.sum(scores, -1, true), 1e-12));
    return tf.neg(tf.mean(tf.sum(tf.mul(teacher, tf.log(tf.add(student, 1e-12))), -1))) as tf.Scalar;
  });
}

export function checkHeads(name: string, dModel: number, numHeads: number): void {
  if (dModel % numHeads !== 0) throw new Error(`${name}: d_model ${dModel} is not divisible by numHeads ${numHeads}`);
}

/** Shared by `linear-attention` and its `based` alias. */
export function createLinearAttention(name: string, p: LinearAttentionParams, ctx: MixerContext, make: ParamFactory): Mixer {
  const d = ctx.dModel;
  checkHeads(name, d, p.numHeads);
  const H = p.numHeads;
  const f = p.featureDim;
  const dh = d / H;
  const projQ = make.linear('proj_q', d, f * H, { bias: false });
  const projK = make.linear('proj_k', d, f * H, { bias: false });
  const projV = make.linear('proj_v', d, d, { bias: false });
  // zoology's _init_weights rescales only modules named out_proj / fc2 / output_linear.0: Based's proj_o keeps 0.02
  const projO = make.linear('proj_o', d, d, { bias: false, std: ctx.block === 'zoology' ? 0.02 : make.outputStd });
  const maps = createFeatureMaps(p.featureMap, { featureDim: f, numHeads: H, randomFeatures: p.randomFeatures, maxSeqLen: ctx.maxSeqLen }, make);
  const F = maps.q.size;
  const distill = p.featureMap === 'hedgehog' && p.distillWeight > 0;
  let aux: tf.Tensor | undefined;

  return {
    forward(x, opts) {
      if (aux && !aux.isDisposed) aux.dispose();
      aux = undefined;
      return tf.tidy(() => {
        const [B, T] = x.shape;
        // x's three maps at once (one matmul on the GPU with lever fusedProjections), in the order the reference uses x
        const [qx, kx, vx] = projections(x, [projQ, projK, projV]);
        const q = splitHeads(qx!, H);
        const k = splitHeads(kx!, H);
        const v = splitHeads(vx!, H);
        const phiQ = maps.q.apply(q, 0);
        const phiK = maps.k.apply(k, 0);
        const pairScore = maps.q.pairScore && maps.q === maps.k ? { q, k, score: maps.q.pairScore } : undefined;
        const y = p.causal ? causalLinearAttention(phiQ, phiK, v, { pairScore }) : linearAttentionNonCausal(phiQ, phiK, v);
        if (opts.training && distill) aux = tf.keep(tf.mul(hedgehogDistillationLoss(q, k, maps, p.causal), p.distillWeight));
        return projO.apply(mergeHeads(y)) as tf.Tensor3D;
      });
    },
    auxObjective() {
      // the loss of this step's training forward (which runs after this call, before `loss`)
      return distill ? { loss: () => (aux && !aux.isDisposed ? aux : undefined) } : undefined;
    },
    initState(batch) {
      const { kv, k } = linearAttentionZeroState(batch, H, F, dh);
      return { kv, k };
    },
    step(state, x, position) {
      if (!p.causal) throw new Error(`${name}: the non-causal variant (causal: false) reads the whole input and has no recurrent step view`);
      return tf.tidy(() => {
        const B = x.shape[0];
        const q = projQ.apply(x).reshape([B, H, 1, f]) as tf.Tensor4D;
        const k = projK.apply(x).reshape([B, H, 1, f]) as tf.Tensor4D;
        const v = projV.apply(x).reshape([B, H, dh]) as tf.Tensor3D;
        const phiQ = maps.q.apply(q, position).reshape([B, H, F]) as tf.Tensor3D;
        const phiK = maps.k.apply(k, position).reshape([B, H, F]) as tf.Tensor3D;
        const out = linearAttentionStep(state as unknown as LinearAttentionState, phiQ, phiK, v);
        return { y: projO.apply(out.y.reshape([B, d])) as tf.Tensor2D, state: { kv: out.state.kv, k: out.state.k } };
      });
    },
  };
}

/** S [H, F, d/H] + z [H, F] = (d + H)·F floats per example: what the step view holds and zoology's formula. */
export function linearAttentionStateFloats(p: Pick<LinearAttentionParams, 'featureMap' | 'featureDim' | 'numHeads' | 'randomFeatures'>, ctx: MixerContext): StateFloats {
  const F = featureSize(p.featureMap, p.featureDim, p.randomFeatures);
  const floats = (ctx.dModel + p.numHeads) * F;
  return { measured: floats, paper: floats };
}

export default defineMixer({
  name: 'linear-attention',
  description: 'linear attention with a feature map (taylor = BASED, poselu, relu, performer, cosformer, hedgehog); state (d+H)·F',
  params: linearAttentionParams,
  isCausal: (p) => p.causal,
  // projections through make.linear; Hedgehog's feature maps are parameters of their own (not stacked yet)
  stackable: (p) => p.featureMap !== 'hedgehog',
  create: (p, ctx, make) => createLinearAttention('linear-attention', p, ctx, make),
  stateFloats: linearAttentionStateFloats,
});
