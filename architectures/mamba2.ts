// Mamba-2 (Dao & Gu 2024, arXiv 2405.21060), the Mamba2 block of mamba_ssm's mamba2.py as zoology's mamba2.py
// uses it (ngroups 1, no extra MLP part), with E = expand·d inner channels in H = E/P heads of P = headDim:
//
//   z, xBC, Δ_r = split(u W_in)                          z [E], xBC [E + 2N], Δ_r [H]   (no bias)
//   x, B_t, C_t = split(SiLU(conv_k(xBC)))               depthwise causal conv (k = 4, bias) on x, B and C together
//   Δ = softplus(Δ_r + b_Δ),   A = −exp(A_log)           one step Δ and one decay A per head (scalar, not [E, N])
//   h_t = exp(Δ_t A) h_{t−1} + Δ_t B_t x_tᵀ                h [N, P] per head: the SSD recurrence (ops/ssd/)
//   y_t = h_tᵀ C_t + D ⊙ x_t                              D per head, init 1
//   out = RMSNorm(y ⊙ SiLU(z)) W_out                      gated RMSNorm over E (norm_before_gate = False)
//
// The parallel forward is SSD's chunked form (ops/ssd/: quadratic inside chunks of `chunkSize`, the diagonal scan of
// ops/scan/ across them). State per layer: paper = zoology's Mamba2.state_size(), 2·d·N (= E·N at expand 2);
// measured from the step view: the SSM state H·P·N = E·N plus the conv window (E + 2N)·(k − 1).
// Init as mamba_ssm: A = U(1, 16) per head (A_log = log A), b_Δ = softplus⁻¹(Δ₀) with Δ₀ log-uniform in
// [dtMin, dtMax] (floor 1e-4), D = 1, conv PyTorch's default U(±1/√k), norm weight 1. Under block 'zoology' (zoology's
// Mamba2Block: add → RMSNorm → mixer, like its MambaBlock; engine/model.ts gives it to 'mamba' and 'mamba2'), the init
// is zoology's _init_weights 'Mamba' branch, which 'Mamba2Block' also takes: in_proj keeps torch's default
// U(±1/√d), out_proj is re-drawn as kaiming_uniform(a=√5)/√n_layers = U(±1/√(E·n_layers)). Under 'prenorm': the
// linears N(0, 0.02), out_proj 0.02/√(2·n_layers). Chunk 32 by default (mamba_ssm's 256 is tuned for its
// fused kernel; here the intra-chunk matrices cost C² per head and token block).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer } from './mixer.js';
import { ssd, ssdStep } from '../ops/ssd/index.js';
import { rmsNorm, shortConv, shortConvStep, silu } from './nn.js';

const params = z
  .object({
    stateDim: z.number().int().positive().default(128).describe('N, SSM state size per head channel (d_state; mamba_ssm default 128)'),
    headDim: z.number().int().positive().default(64).describe('P, channels per head (headdim); H = expand·d / P'),
    expand: z.number().int().positive().default(2).describe('E = expand · d_model inner channels'),
    convKernel: z.number().int().min(2).default(4).describe('width of the causal depthwise conv on x, B, C (d_conv)'),
    dtMin: z.number().positive().default(0.001).describe('smallest initial step Δ'),
    dtMax: z.number().positive().default(0.1).describe('largest initial step Δ'),
    chunkSize: z.number().int().positive().default(32).describe('tokens per chunk of the SSD parallel form'),
  })
  .strict()
  .refine((p) => p.dtMin <= p.dtMax, { message: 'dtMin must not exceed dtMax', path: ['dtMin'] });

export type Mamba2Params = z.output<typeof params>;

export function mamba2Dims(p: Mamba2Params, dModel: number) {
  const E = p.expand * dModel;
  if (E % p.headDim !== 0) throw new Error(`mamba2: expand·d_model ${E} must be divisible by headDim ${p.headDim}`);
  return { E, N: p.stateDim, P: p.headDim, H: E / p.headDim, k: p.convKernel, convWidth: E + 2 * p.stateDim };
}

export default defineMixer({
  name: 'mamba2',
  description: 'Mamba-2 (SSD): scalar decay per head, state N×headDim per head, conv 4, gated RMSNorm; chunked form',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { E, N, P, H, k, convWidth } = mamba2Dims(p, d);
    const zoology = ctx.block === 'zoology';
    const inWidth = 2 * E + 2 * N + H;
    const inProj = zoology ? make.linear('in_proj', d, inWidth, { bias: false, uniform: 1 / Math.sqrt(d) }) : make.linear('in_proj', d, inWidth, { bias: false });
    const convBound = 1 / Math.sqrt(k); // PyTorch Conv1d default, fan_in = k for a depthwise conv
    const convWeight = make.param('conv1d.weight', [k, convWidth], (t) => t.randomUniform([k, convWidth], -convBound, convBound, 'float32', make.seed())) as tf.Variable<tf.Rank.R2>;
    const convBias = make.param('conv1d.bias', [convWidth], (t) => t.randomUniform([convWidth], -convBound, convBound, 'float32', make.seed())) as tf.Variable<tf.Rank.R1>;
    const dtBias = make.param('dt_bias', [H], (t) =>
      t.tidy(() => {
        const u = t.randomUniform([H], 0, 1, 'float32', make.seed());
        const dt0 = t.maximum(t.exp(t.add(t.mul(u, Math.log(p.dtMax) - Math.log(p.dtMin)), Math.log(p.dtMin))), 1e-4);
        return t.add(dt0, t.log(t.neg(t.expm1(t.neg(dt0))))); // softplus⁻¹(Δ₀)
      }),
    );
    const aLog = make.param('A_log', [H], (t) => t.log(t.randomUniform([H], 1, 16, 'float32', make.seed())));
    const skipD = make.param('D', [H], 'ones');
    const normWeight = make.param('norm.weight', [E], 'ones');
    const outProj = zoology ? make.linear('out_proj', E, d, { bias: false, uniform: 1 / Math.sqrt(E * ctx.nLayers) }) : make.linear('out_proj', E, d, { bias: false, std: make.outputStd });

    /** The input projection split, xBC before its conv. */
    const project = (u: tf.Tensor, axis: number) => tf.split(inProj.apply(u), [E, convWidth, H], axis) as [tf.Tensor, tf.Tensor, tf.Tensor];
    /** Δ [..., H] and the log decay a = Δ·A [..., H]. */
    const steps = (dtRaw: tf.Tensor) => {
      const dt = tf.softplus(tf.add(dtRaw, dtBias));
      return { dt, a: tf.mul(dt, tf.neg(tf.exp(aLog))) };
    };
    /** y [..., E] (SSD readout plus the D skip) → the gated norm and the out projection. */
    const output = (y: tf.Tensor, zGate: tf.Tensor) => outProj.apply(rmsNorm(tf.mul(y, silu(zGate)), normWeight));

    return {
      forward(u) {
        return tf.tidy(() => {
          const [Bsz, T] = u.shape;
          const [zGate, xBCraw, dtRaw] = project(u, 2);
          const [x, Bm, Cm] = tf.split(silu(shortConv(xBCraw as tf.Tensor3D, convWeight, convBias)), [E, N, N], 2);
          const { dt, a } = steps(dtRaw);
          const xh = x!.reshape([Bsz, T, H, P]).transpose([0, 2, 1, 3]); // [B, H, T, P]
          const dtH = dt.transpose([0, 2, 1]); // [B, H, T]
          const v = tf.mul(xh, dtH.reshape([Bsz, H, T, 1])) as tf.Tensor4D; // Δ x
          // ngroups 1: B, C shared by the heads — broadcast by adding zeros, whose gradient is one Sum over the heads
          // (tfjs differentiates a tf.tile by a Slice and an Add per head)
          const perHead = (m: tf.Tensor) => tf.add(m.reshape([Bsz, 1, T, N]), tf.zeros([1, H, 1, 1])) as tf.Tensor4D;
          const y = tf.add(ssd(perHead(Cm!), perHead(Bm!), v, a.transpose([0, 2, 1]) as tf.Tensor3D, p.chunkSize), tf.mul(xh, skipD.reshape([1, H, 1, 1])));
          return output(y.transpose([0, 2, 1, 3]).reshape([Bsz, T, E]), zGate) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { conv: tf.zeros([batch, k - 1, convWidth]), ssm: tf.zeros([batch, H, N, P]) };
      },
      step(state, u) {
        return tf.tidy(() => {
          const Bsz = u.shape[0];
          const [zGate, xBCraw, dtRaw] = project(u, 1);
          const conv = shortConvStep(state.conv as tf.Tensor3D, xBCraw as tf.Tensor2D, convWeight, convBias);
          const [x, Bm, Cm] = tf.split(silu(conv.y), [E, N, N], 1);
          const { dt, a } = steps(dtRaw); // [B, H]
          const xh = x!.reshape([Bsz, H, P]);
          const perHead = (m: tf.Tensor) => tf.tile(m.reshape([Bsz, 1, N]), [1, H, 1]) as tf.Tensor3D;
          const r = ssdStep(state.ssm as tf.Tensor4D, perHead(Cm!), perHead(Bm!), tf.mul(xh, dt.reshape([Bsz, H, 1])) as tf.Tensor3D, a as tf.Tensor2D);
          const y = tf.add(r.o, tf.mul(xh, skipD.reshape([1, H, 1]))).reshape([Bsz, E]);
          return { y: output(y, zGate) as tf.Tensor2D, state: { conv: conv.window, ssm: r.S } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { E, N, k, convWidth } = mamba2Dims(p, ctx.dModel);
    // zoology's Mamba2.state_size(): 2·d_model·d_state (the conv window not counted)
    return { measured: E * N + convWidth * (k - 1), paper: 2 * ctx.dModel * N };
  },
});
