// Gated linear attention (Yang et al. 2023, arXiv 2312.06635), the layer of flash-linear-attention's
// fla/layers/gla.py as zoology's gla.py wraps it, per head h (H heads, d_k = key_dim/H, d_v = value_dim/H):
//
//   q, k, v = x W_q, x W_k, x W_v                    (optionally SiLU(short conv) each, fla's use_short_conv)
//   g = logsigmoid(x W_g1 W_g2 + b_g) / τ           low-rank (16) forget-gate logits, τ = 16: g ≤ 0 per key channel
//   S_t = diag(exp g_t) S_{t−1} + k_t v_tᵀ,   o_t = S_tᵀ q_t · d_k^{-1/2}          S [d_k, d_v]
//   y = concat_h(RMSNorm(o_h) ⊙ w_norm ⊙ SiLU(x W_r)) W_o                          output gate (swish)
//
// The parallel forward is the chunked form (ops/gatedLinearAttention/), whose chunk-to-chunk carry is
// the diagonal scan of ops/scan/. The step view holds S (H·d_k·d_v floats) plus the conv windows
// when enabled; zoology's state_size() counts key_dim·head_v_dim = H·d_k·d_v plus fla's ShortConvolution
// state (width·k each). Init: linears N(0, 0.02), biases 0 (zoology's _init_weights), o_proj
// 0.02/√(2·n_layers), convs PyTorch's U(±1/√k). fla's defaults: expand_k 0.5, expand_v 1, 4 heads.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer, type MixerContext, type MixerState } from './mixer.js';
import { gla, glaStep } from '../ops/gatedLinearAttention/index.js';
import { rmsNorm, shortConv, shortConvStep, silu, splitHeads } from './nn.js';
import { projections } from '../ops/projections/index.js';

const params = z
  .object({
    numHeads: z.number().int().positive().default(4).describe('heads (fla / zoology default 4)'),
    expandK: z.number().positive().default(0.5).describe('key_dim = expandK · d_model'),
    expandV: z.number().positive().default(1).describe('value_dim = expandV · d_model'),
    gateLowRankDim: z.number().int().positive().default(16).describe('rank of the forget-gate projection'),
    gateLogitNormalizer: z.number().positive().default(16).describe('τ: gate logits are logsigmoid(·)/τ'),
    outputGate: z.boolean().default(true).describe('multiply the normed output by SiLU(x W_r)'),
    shortConv: z.boolean().default(false).describe('SiLU(short causal conv) on q, k, v (fla use_short_conv)'),
    convKernel: z.number().int().min(2).default(4).describe('width of those short convs'),
    chunkSize: z.number().int().positive().default(16).describe('tokens per chunk of the parallel form'),
  })
  .strict();

export type GlaParams = z.output<typeof params>;

export function glaDims(p: GlaParams, ctx: MixerContext) {
  const keyDim = Math.round(ctx.dModel * p.expandK);
  const valueDim = Math.round(ctx.dModel * p.expandV);
  if (Math.abs(keyDim - ctx.dModel * p.expandK) > 1e-9 || Math.abs(valueDim - ctx.dModel * p.expandV) > 1e-9)
    throw new Error(`gla: expandK·d and expandV·d must be whole numbers (d_model ${ctx.dModel})`);
  if (keyDim % p.numHeads !== 0 || valueDim % p.numHeads !== 0)
    throw new Error(`gla: key_dim ${keyDim} and value_dim ${valueDim} must be divisible by numHeads ${p.numHeads}`);
  return { H: p.numHeads, keyDim, valueDim, dk: keyDim / p.numHeads, dv: valueDim / p.numHeads, k: p.convKernel };
}

/** log σ(x) = −softplus(−x). (tf.logSigmoid's gradient reads its freed input on the wasm backend.) */
const logSigmoid = (x: tf.Tensor) => tf.neg(tf.softplus(tf.neg(x)));

export default defineMixer({
  name: 'gla',
  description: 'gated linear attention (low-rank forget gate, output gate), chunked parallel form',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { H, keyDim, valueDim, dk, dv, k } = glaDims(p, ctx);
    const qProj = make.linear('q_proj', d, keyDim, { bias: false });
    const kProj = make.linear('k_proj', d, keyDim, { bias: false });
    const vProj = make.linear('v_proj', d, valueDim, { bias: false });
    const gateDown = make.linear('gk_proj.0', d, p.gateLowRankDim, { bias: false });
    const gateUp = make.linear('gk_proj.1', p.gateLowRankDim, keyDim); // with bias
    const outGate = p.outputGate ? make.linear('g_proj', d, valueDim, { bias: false }) : undefined;
    const bound = 1 / Math.sqrt(k);
    const conv = (name: string, width: number) => make.param(`${name}.weight`, [k, width], (t) => t.randomUniform([k, width], -bound, bound, 'float32', make.seed())) as tf.Variable<tf.Rank.R2>;
    const convs = p.shortConv ? { q: conv('q_conv1d', keyDim), k: conv('k_conv1d', keyDim), v: conv('v_conv1d', valueDim) } : undefined;
    const normWeight = make.param('g_norm.weight', [dv], 'ones');
    const oProj = make.linear('o_proj', valueDim, d, { bias: false, std: make.outputStd });
    const qScale = dk ** -0.5;

    /** The log forget gate from x's low-rank projection x W_down. */
    const forgetGate = (down: tf.Tensor) => tf.div(logSigmoid(gateUp.apply(down)), p.gateLogitNormalizer);
    /** o [.., H, d_v] → y [.., d], the output gate from x W_g. */
    const output = (o: tf.Tensor, gx: tf.Tensor | undefined, lead: number[]) => {
      let y = rmsNorm(o, normWeight).reshape([...lead, valueDim]);
      if (gx) y = tf.mul(y, silu(gx));
      return oProj.apply(y);
    };

    return {
      forward(x) {
        return tf.tidy(() => {
          const [B, T] = x.shape;
          // x's maps at once (one matmul on the GPU with lever fusedProjections), in the order the reference uses x
          const [qx, kx, vx, down, gx] = projections(x, [qProj, kProj, vProj, gateDown, ...(outGate ? [outGate] : [])]);
          let q = qx as tf.Tensor3D;
          let kk = kx as tf.Tensor3D;
          let v = vx as tf.Tensor3D;
          if (convs) {
            q = silu(shortConv(q, convs.q)) as tf.Tensor3D;
            kk = silu(shortConv(kk, convs.k)) as tf.Tensor3D;
            v = silu(shortConv(v, convs.v)) as tf.Tensor3D;
          }
          // heads split by a reshape, [B, T, H, ·], and o [B, T, H, d_v]: the op moves the heads if it must
          const heads = (y: tf.Tensor) => splitHeads(y, H, true);
          const o = gla(heads(tf.mul(q, qScale)), heads(kk), heads(v), heads(forgetGate(down!)), p.chunkSize, { input: 'bthd', output: 'bthd' });
          return output(o, gx, [B, T]) as tf.Tensor3D;
        });
      },
      initState(batch) {
        const state: MixerState = { S: tf.zeros([batch, H, dk, dv]) };
        if (convs) {
          state.qConv = tf.zeros([batch, k - 1, keyDim]);
          state.kConv = tf.zeros([batch, k - 1, keyDim]);
          state.vConv = tf.zeros([batch, k - 1, valueDim]);
        }
        return state;
      },
      step(state, x) {
        return tf.tidy(() => {
          const B = x.shape[0];
          let q = qProj.apply(x) as tf.Tensor2D;
          let kk = kProj.apply(x) as tf.Tensor2D;
          let v = vProj.apply(x) as tf.Tensor2D;
          const next: MixerState = {};
          if (convs) {
            const qc = shortConvStep(state.qConv as tf.Tensor3D, q, convs.q);
            const kc = shortConvStep(state.kConv as tf.Tensor3D, kk, convs.k);
            const vc = shortConvStep(state.vConv as tf.Tensor3D, v, convs.v);
            [q, kk, v] = [silu(qc.y), silu(kc.y), silu(vc.y)] as tf.Tensor2D[];
            Object.assign(next, { qConv: qc.window, kConv: kc.window, vConv: vc.window });
          }
          const heads = (t: tf.Tensor, w: number) => t.reshape([B, H, w]) as tf.Tensor3D;
          const r = glaStep(state.S as tf.Tensor4D, heads(tf.mul(q, qScale), dk), heads(kk, dk), heads(v, dv), heads(forgetGate(gateDown.apply(x)), dk));
          next.S = r.S;
          return { y: output(r.o, outGate?.apply(x), [B]) as tf.Tensor2D, state: next };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { H, keyDim, valueDim, dk, dv, k } = glaDims(p, ctx);
    const memory = H * dk * dv;
    const convWidths = p.shortConv ? 2 * keyDim + valueDim : 0;
    // zoology's GatedLinearAttention.state_size(): key_dim·head_v_dim + Σ ShortConvolution.state_size (width·k)
    return { measured: memory + convWidths * (k - 1), paper: memory + convWidths * k };
  },
});
