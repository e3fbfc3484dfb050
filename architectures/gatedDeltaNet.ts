// Gated DeltaNet (Yang, Kautz & Hatamizadeh 2024, arXiv 2412.06464), the layer of flash-linear-attention's
// fla/layers/gated_deltanet.py as zoology's gated_delta_net.py wraps it, per head h (H heads of d_k = d/H,
// d_v = expandV·d_k):
//
//   q, k, v = SiLU(conv_k(x W_q)), SiLU(conv_k(x W_k)), SiLU(conv_k(x W_v))   short causal convs (k = 4, no bias)
//   q ← q/‖q‖ · d_k^{-1/2},  k ← k/‖k‖                                        (L2 norm per head)
//   β = sigmoid(x W_β)                                                        writing strength per head
//   g = −exp(A_log) · softplus(x W_a + b_Δ)                                   log decay per head (Mamba-2's gate)
//   S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ,  α_t = exp(g_t)      the gated delta rule, S [d_k, d_v]
//   o_t = S_tᵀ q_t
//   y = concat_h(RMSNorm(o_h) ⊙ w_norm ⊙ SiLU(x W_g)) W_o                      (fla's FusedRMSNormSwishGate)
//
// The parallel forward is the chunked WY form with decay (ops/gatedDeltaRule/): batched within chunks of
// `chunkSize` tokens, a loop over the T/chunkSize chunks carries S (on WebGPU with the `delta` lever on: the fused
// recurrence of accel/webgpu/deltaRule.ts instead).
// State per layer: paper (zoology's state_size()) H·d_k·d_v = 2·d²/H at expandV 2; measured from the step view: S
// plus the three conv windows, H·d_k·d_v + (2·d + expandV·d)·(k − 1).
// Init (fla): linears N(0, 0.02) (o_proj 0.02/√(2·n_layers)), convs PyTorch's U(±1/√k), A = U(0, 16) per head
// (A_log = log A), b_Δ = softplus⁻¹(Δ₀) with Δ₀ log-uniform in [0.001, 0.1] (floor 1e-4), RMSNorm weight 1.
// zoology's wrapper also makes a per-head D that its forward never reads: left out (it would get no gradient).
// Heads default to 4, as DeltaNet here (fla's 6 divides none of the presets' widths).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer, type MixerContext } from './mixer.js';
import { gatedDeltaRule, gatedDeltaRuleStep } from '../ops/gatedDeltaRule/index.js';
import { linearApply } from '../ops/linear/index.js';
import { projections } from '../ops/projections/index.js';
import { rmsNorm, shortConv, shortConvStep, silu, splitHeads } from './nn.js';
import { l2Normalize } from '../ops/rmsNorm/index.js';

const params = z
  .object({
    numHeads: z.number().int().positive().default(4).describe('heads H; d_k = d_model / H'),
    expandV: z.number().positive().default(2).describe('d_v = expandV · d_k (fla / zoology default 2)'),
    convKernel: z.number().int().min(2).default(4).describe('width of the short convs on q, k, v'),
    outputGate: z.boolean().default(true).describe("output gate SiLU(x W_g) after the norm (fla's use_gate)"),
    chunkSize: z.number().int().positive().default(16).describe('tokens per chunk of the parallel (WY) form'),
  })
  .strict();

export type GatedDeltaNetParams = z.output<typeof params>;

const DT_MIN = 0.001;
const DT_MAX = 0.1;
const DT_FLOOR = 1e-4;

export function gatedDeltaNetDims(p: GatedDeltaNetParams, ctx: MixerContext) {
  const H = p.numHeads;
  if (ctx.dModel % H !== 0) throw new Error(`gated-deltanet: d_model ${ctx.dModel} must be divisible by numHeads ${H}`);
  const dk = ctx.dModel / H;
  const dv = dk * p.expandV;
  if (Math.abs(dv - Math.round(dv)) > 1e-9) throw new Error(`gated-deltanet: expandV · d_k (${dk}) must be a whole number`);
  return { H, dk, dv: Math.round(dv), keyDim: H * dk, valueDim: H * Math.round(dv), k: p.convKernel };
}

export default defineMixer({
  name: 'gated-deltanet',
  description: 'Gated DeltaNet: delta rule with a Mamba-2 decay gate, short convs, output gate; chunked WY form',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { H, keyDim, valueDim, dk, dv, k } = gatedDeltaNetDims(p, ctx);
    const qProj = make.linear('q_proj', d, keyDim, { bias: false });
    const kProj = make.linear('k_proj', d, keyDim, { bias: false });
    const vProj = make.linear('v_proj', d, valueDim, { bias: false });
    const aProj = make.linear('a_proj', d, H, { bias: false });
    const bProj = make.linear('b_proj', d, H, { bias: false });
    const aLog = make.param('A_log', [H], (t) => t.log(t.randomUniform([H], 0, 16, 'float32', make.seed())));
    const dtBias = make.param('dt_bias', [H], (t) =>
      t.tidy(() => {
        const u = t.randomUniform([H], 0, 1, 'float32', make.seed());
        const dt0 = t.maximum(t.exp(t.add(t.mul(u, Math.log(DT_MAX) - Math.log(DT_MIN)), Math.log(DT_MIN))), DT_FLOOR);
        return t.add(dt0, t.log(t.neg(t.expm1(t.neg(dt0))))); // softplus⁻¹(Δ₀)
      }),
    );
    const bound = 1 / Math.sqrt(k);
    const conv = (name: string, width: number) => make.param(`${name}.weight`, [k, width], (t) => t.randomUniform([k, width], -bound, bound, 'float32', make.seed())) as tf.Variable<tf.Rank.R2>;
    const qConv = conv('q_conv1d', keyDim);
    const kConv = conv('k_conv1d', keyDim);
    const vConv = conv('v_conv1d', valueDim);
    const gProj = p.outputGate ? make.linear('g_proj', d, valueDim, { bias: false }) : undefined;
    const normWeight = make.param('o_norm.weight', [dv], 'ones');
    const oProj = make.linear('o_proj', valueDim, d, { bias: false, std: make.outputStd });
    const qScale = dk ** -0.5;

    /** From the projections x W_b and x W_a + dt_bias [..., H]: β = σ(·) and the log decay g = −exp(A_log) · softplus(·). */
    const gates = (bx: tf.Tensor, ax: tf.Tensor) => ({ beta: tf.sigmoid(bx), g: tf.mul(tf.neg(tf.exp(aLog)), tf.softplus(ax)) });
    /** o [..., H, d_v] → y [..., d]: per-head RMSNorm, the output gate (from x W_g), the out projection. */
    const output = (o: tf.Tensor, gx: tf.Tensor | undefined, lead: number[]) => {
      let normed = rmsNorm(o, normWeight);
      if (gx) normed = tf.mul(normed, silu(gx.reshape([...lead, H, dv])));
      return oProj.apply(normed.reshape([...lead, valueDim]));
    };

    return {
      forward(x) {
        return tf.tidy(() => {
          const [B, T] = x.shape;
          // heads split by a reshape, [B, T, H, ·] (β, g [B, T, H]), and o [B, T, H, d_v]: the op moves the heads if it must
          const heads = (y: tf.Tensor) => splitHeads(y, H, true);
          // x's six maps at once (one matmul on the GPU with lever fusedProjections), in the order the reference uses x
          const [qx, kx, vx, bx, ax, gx] = projections(x, [qProj, kProj, vProj, bProj, { weight: aProj.weight, bias: dtBias }, ...(gProj ? [gProj] : [])]);
          const q = tf.mul(l2Normalize(heads(silu(shortConv(qx as tf.Tensor3D, qConv)))), qScale) as tf.Tensor4D;
          const kk = l2Normalize(heads(silu(shortConv(kx as tf.Tensor3D, kConv)))) as tf.Tensor4D;
          const v = heads(silu(shortConv(vx as tf.Tensor3D, vConv)));
          const { beta, g } = gates(bx!, ax!);
          const o = gatedDeltaRule(q, kk, v, beta as tf.Tensor3D, g as tf.Tensor3D, p.chunkSize, { input: 'bthd', output: 'bthd' });
          return output(o, gx, [B, T]) as tf.Tensor3D;
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
          const q = tf.mul(l2Normalize(silu(qc.y).reshape([B, H, dk])), qScale) as tf.Tensor3D;
          const kk = l2Normalize(silu(kc.y).reshape([B, H, dk])) as tf.Tensor3D;
          const v = silu(vc.y).reshape([B, H, dv]) as tf.Tensor3D;
          const { beta, g } = gates(bProj.apply(x), linearApply(x, aProj.weight, dtBias));
          const r = gatedDeltaRuleStep(state.S as tf.Tensor4D, q, kk, v, beta as tf.Tensor2D, g as tf.Tensor2D);
          return { y: output(r.o, gProj?.apply(x), [B]) as tf.Tensor2D, state: { qConv: qc.window, kConv: kc.window, vConv: vc.window, S: r.S } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { H, keyDim, valueDim, dk, dv, k } = gatedDeltaNetDims(p, ctx);
    const memory = H * dk * dv;
    // zoology's GatedDeltaNet.state_size(): num_heads·head_k_dim·head_v_dim (the short-conv windows not counted)
    return { measured: memory + (2 * keyDim + valueDim) * (k - 1), paper: memory };
  },
});
