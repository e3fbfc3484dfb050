// DeltaNet (Schlag et al. 2021; Yang et al. 2024, arXiv 2406.06484), the layer of flash-linear-attention's
// fla/layers/delta_net.py as zoology's delta_net.py wraps it, per head h (H heads of d_k = key_dim/H, d_v):
//
//   q, k, v = SiLU(conv_k(x W_q)), SiLU(conv_k(x W_k)), SiLU(conv_k(x W_v))   short causal convs (k = 4, no bias)
//   q ← q/‖q‖ · d_k^{-1/2},  k ← k/‖k‖                                        (L2 norm per head)
//   β = sigmoid(x W_β)                                                        one writing strength per head
//   S_t = S_{t−1} − β_t k_t (k_tᵀ S_{t−1} − v_tᵀ),   o_t = S_tᵀ q_t               the delta rule, S [d_k, d_v]
//   y = concat_h(RMSNorm(o_h) ⊙ w_norm) W_o
//
// The parallel forward is the chunked WY form (ops/deltaRule/): everything inside chunks of
// `chunkSize` tokens runs batched, and a loop over the T/chunkSize chunks carries S (on WebGPU with the `delta`
// lever on: the fused recurrence of accel/webgpu/deltaRule.ts instead). The step view holds S
// (H·d_k·d_v floats) and the three conv windows ((2·key_dim + value_dim)·(k−1)); zoology's state_size()
// counts H·d_k·d_v only. Init: linears N(0, 0.02) (o_proj 0.02/√(2·n_layers)), convs PyTorch's U(±1/√k).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer, type MixerContext } from './mixer.js';
import { deltaRule, deltaRuleStep } from '../ops/deltaRule/index.js';
import { rmsNorm, shortConv, shortConvStep, silu, splitHeads } from './nn.js';
import { l2Normalize } from '../ops/rmsNorm/index.js';
import { projections } from '../ops/projections/index.js';

const params = z
  .object({
    numHeads: z.number().int().positive().default(4).describe('heads (fla / zoology default 4)'),
    expandK: z.number().positive().default(1).describe('key_dim = expandK · d_model'),
    expandV: z.number().positive().default(1).describe('value_dim = expandV · d_model'),
    convKernel: z.number().int().min(2).default(4).describe('width of the short convs on q, k, v'),
    chunkSize: z.number().int().positive().default(16).describe('tokens per chunk of the parallel (WY) form'),
  })
  .strict();

export type DeltaNetParams = z.output<typeof params>;

export function deltaNetDims(p: DeltaNetParams, ctx: MixerContext) {
  const keyDim = Math.round(ctx.dModel * p.expandK);
  const valueDim = Math.round(ctx.dModel * p.expandV);
  if (Math.abs(keyDim - ctx.dModel * p.expandK) > 1e-9 || Math.abs(valueDim - ctx.dModel * p.expandV) > 1e-9)
    throw new Error(`deltanet: expandK·d and expandV·d must be whole numbers (d_model ${ctx.dModel})`);
  if (keyDim % p.numHeads !== 0 || valueDim % p.numHeads !== 0)
    throw new Error(`deltanet: key_dim ${keyDim} and value_dim ${valueDim} must be divisible by numHeads ${p.numHeads}`);
  return { H: p.numHeads, keyDim, valueDim, dk: keyDim / p.numHeads, dv: valueDim / p.numHeads, k: p.convKernel };
}

export default defineMixer({
  name: 'deltanet',
  description: 'DeltaNet: delta-rule linear attention with short convs, chunked WY parallel form',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { H, keyDim, valueDim, dk, dv, k } = deltaNetDims(p, ctx);
    const qProj = make.linear('q_proj', d, keyDim, { bias: false });
    const kProj = make.linear('k_proj', d, keyDim, { bias: false });
    const vProj = make.linear('v_proj', d, valueDim, { bias: false });
    const bProj = make.linear('b_proj', d, H, { bias: false });
    const bound = 1 / Math.sqrt(k);
    const conv = (name: string, width: number) => make.param(`${name}.weight`, [k, width], (t) => t.randomUniform([k, width], -bound, bound, 'float32', make.seed())) as tf.Variable<tf.Rank.R2>;
    const qConv = conv('q_conv1d', keyDim);
    const kConv = conv('k_conv1d', keyDim);
    const vConv = conv('v_conv1d', valueDim);
    const normWeight = make.param('o_norm.weight', [dv], 'ones');
    const oProj = make.linear('o_proj', valueDim, d, { bias: false, std: make.outputStd });
    const qScale = dk ** -0.5;

    /** Per-head q, k (head width d_k last) normalised. */
    const prepare = (q: tf.Tensor, kk: tf.Tensor) => ({ q: tf.mul(l2Normalize(q), qScale), k: l2Normalize(kk) });
    const output = (o: tf.Tensor, lead: number[]) => oProj.apply(rmsNorm(o, normWeight).reshape([...lead, valueDim]));

    return {
      forward(x) {
        return tf.tidy(() => {
          const [B, T] = x.shape;
          // heads split by a reshape, [B, T, H, ·] (β [B, T, H]), and o [B, T, H, d_v]: the op moves the heads if it must
          const heads = (y: tf.Tensor) => splitHeads(y, H, true);
          // x's four maps at once (one matmul on the GPU with lever fusedProjections), in the order the reference uses x
          const [qx, kx, vx, bx] = projections(x, [qProj, kProj, vProj, bProj]);
          const { q, k: kk } = prepare(heads(silu(shortConv(qx as tf.Tensor3D, qConv))), heads(silu(shortConv(kx as tf.Tensor3D, kConv))));
          const v = heads(silu(shortConv(vx as tf.Tensor3D, vConv)));
          const beta = tf.sigmoid(bx!) as tf.Tensor3D;
          const o = deltaRule(q as tf.Tensor4D, kk as tf.Tensor4D, v, beta, p.chunkSize, { input: 'bthd', output: 'bthd' });
          return output(o, [B, T]) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return {
          qConv: tf.zeros([batch, k - 1, keyDim]),
          kConv: tf.zeros([batch, k - 1, keyDim]),
          vConv: tf.zeros([batch, k - 1, valueDim]),
          S: tf.zeros([batch, H, dk, dv]),
        };
      },
      step(state, x) {
        return tf.tidy(() => {
          const B = x.shape[0];
          const qc = shortConvStep(state.qConv as tf.Tensor3D, qProj.apply(x) as tf.Tensor2D, qConv);
          const kc = shortConvStep(state.kConv as tf.Tensor3D, kProj.apply(x) as tf.Tensor2D, kConv);
          const vc = shortConvStep(state.vConv as tf.Tensor3D, vProj.apply(x) as tf.Tensor2D, vConv);
          const { q, k: kk } = prepare(silu(qc.y).reshape([B, H, dk]), silu(kc.y).reshape([B, H, dk]));
          const v = silu(vc.y).reshape([B, H, dv]);
          const beta = tf.sigmoid(bProj.apply(x)) as tf.Tensor2D; // [B, H]
          const r = deltaRuleStep(state.S as tf.Tensor4D, q as tf.Tensor3D, kk as tf.Tensor3D, v as tf.Tensor3D, beta);
          return { y: output(r.o, [B]) as tf.Tensor2D, state: { qConv: qc.window, kConv: kc.window, vConv: vc.window, S: r.S } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { H, keyDim, valueDim, dk, dv, k } = deltaNetDims(p, ctx);
    const memory = H * dk * dv;
    // zoology's DeltaNet.state_size(): num_heads·head_k_dim·head_v_dim (the short-conv windows not counted)
    return { measured: memory + (2 * keyDim + valueDim) * (k - 1), paper: memory };
  },
});
