// Mamba (Gu & Dao 2023, arXiv 2312.00752), the Mamba-1 block of mamba_ssm's mamba_simple.py, as zoology uses it:
//
//   x, z = split(u W_in)                                  u [B, T, d] → x, z [B, T, E], E = expand·d
//   x = SiLU(conv_k(x))                                   depthwise causal short conv (kernel k = 4, bias)
//   Δ_r, B_t, C_t = split(x W_x)                          [R], [N], [N] per token   (R = dt_rank)
//   Δ = softplus(Δ_r W_Δ + b_Δ)                           [B, T, E]
//   A = −exp(A_log)                                       [E, N], S4D-real init A_log[e, n] = log(n + 1)
//   h_t = exp(Δ_t A) ⊙ h_{t−1} + (Δ_t x_t) B_tᵀ            h [E, N]: the selective scan
//   y_t = h_t C_t + D ⊙ x_t                               D "skip", init 1
//   out = (y ⊙ SiLU(z)) W_out
//
// The scan, readout included, is ops/selectiveScan: fused on webgpu (accel/webgpu/selectiveScan.ts, lever
// selectiveScan: h stays on chip), else in parallel over T from plain tfjs ops (ops/scan/; long sequences in
// blocks of time with the state carried, to bound the memory of h [B, T, E, N]). The step view holds the conv window (E·(k−1)
// floats) and h (E·N floats); zoology's state_size() counts 2·d·N (= E·N at expand 2) and ignores the window.
// Init: linear weights N(0, 0.02), out_proj N(0, 0.02/√(2·n_layers)) (zoology's _init_weights); the conv is
// PyTorch's default U(±1/√k); b_Δ = softplus⁻¹(Δ₀) with Δ₀ log-uniform in [dtMin, dtMax] (mamba_simple).
// Under block 'zoology' (zoology's MambaBlock models, whose _init_weights takes its 'Mamba' branch), the init is
// zoology's exactly: every Linear keeps torch's default U(±1/√fan_in) (in_proj, x_proj; dt_proj U(±R^−½)),
// out_proj is re-drawn as kaiming_uniform(a=√5)/√n_layers = U(±1/√(E·n_layers)), b_Δ keeps Mamba's init
// (marked _no_reinit).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { defineMixer } from './mixer.js';
import { linearApply } from '../ops/linear/index.js';
import { selectiveScan } from '../ops/selectiveScan/index.js';
import { mulByRun, shortConv, shortConvStep, silu, siluGate } from './nn.js';

const params = z
  .object({
    stateDim: z.number().int().positive().default(16).describe('N, SSM state size per channel (d_state)'),
    expand: z.number().int().positive().default(2).describe('E = expand · d_model inner channels'),
    convKernel: z.number().int().min(2).default(4).describe('width of the causal depthwise short conv (d_conv)'),
    dtRank: z.union([z.literal('auto'), z.number().int().positive()]).default('auto').describe("rank R of Δ's projection; 'auto' = ceil(d/16)"),
    dtMin: z.number().positive().default(0.001).describe('smallest initial step Δ'),
    dtMax: z.number().positive().default(0.1).describe('largest initial step Δ'),
    timeBlock: z
      .union([z.literal('auto'), z.number().int().positive()])
      .default('auto')
      .describe("tokens per parallel-scan block (memory bound of the parallel forward); 'auto' keeps B·block·E·N ≤ 16M floats"),
  })
  .strict()
  .refine((p) => p.dtMin <= p.dtMax, { message: 'dtMin must not exceed dtMax', path: ['dtMin'] });

export type MambaParams = z.output<typeof params>;

export function mambaDims(p: MambaParams, dModel: number) {
  return { E: p.expand * dModel, N: p.stateDim, R: p.dtRank === 'auto' ? Math.ceil(dModel / 16) : p.dtRank, k: p.convKernel };
}

export default defineMixer({
  name: 'mamba',
  description: 'Mamba-1 selective SSM (expand 2, short conv 4, d_state N), parallel scan',
  params,
  // A, D, Δ's bias and the conv take a run axis (ops/selectiveScan: every form reads each example's run's A;
  // ops/shortConv, ops/linear; engine/stack.ts)
  stackable: () => true,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const { E, N, R, k } = mambaDims(p, d);
    const zoology = ctx.block === 'zoology';
    const inProj = zoology ? make.linear('in_proj', d, 2 * E, { bias: false, uniform: 1 / Math.sqrt(d) }) : make.linear('in_proj', d, 2 * E, { bias: false });
    const convBound = 1 / Math.sqrt(k); // PyTorch Conv1d default, fan_in = k for a depthwise conv
    const convWeight = make.param('conv1d.weight', [k, E], (t) => t.randomUniform([k, E], -convBound, convBound, 'float32', make.seed())) as tf.Variable<tf.Rank.R2>;
    const convBias = make.param('conv1d.bias', [E], (t) => t.randomUniform([E], -convBound, convBound, 'float32', make.seed())) as tf.Variable<tf.Rank.R1>;
    const xProj = zoology ? make.linear('x_proj', E, R + 2 * N, { bias: false, uniform: 1 / Math.sqrt(E) }) : make.linear('x_proj', E, R + 2 * N, { bias: false });
    const dtWeight = zoology ? make.linear('dt_proj', R, E, { bias: false, uniform: 1 / Math.sqrt(R) }).weight : make.param('dt_proj.weight', [R, E], 0.02);
    const dtBias = make.param('dt_proj.bias', [E], (t) =>
      t.tidy(() => {
        // Δ₀ = exp(U·(log dtMax − log dtMin) + log dtMin) ≥ 1e-4;  b = Δ₀ + log(−expm1(−Δ₀)) = softplus⁻¹(Δ₀)
        const u = t.randomUniform([E], 0, 1, 'float32', make.seed());
        const dt0 = t.maximum(t.exp(t.add(t.mul(u, Math.log(p.dtMax) - Math.log(p.dtMin)), Math.log(p.dtMin))), 1e-4);
        return t.add(dt0, t.log(t.neg(t.expm1(t.neg(dt0)))));
      }),
    );
    const aLog = make.param('A_log', [E, N], (t) => t.log(t.tile(t.range(1, N + 1, 1, 'float32').reshape([1, N]), [E, 1])));
    const skipD = make.param('D', [E], 'ones');
    const outProj = zoology ? make.linear('out_proj', E, d, { bias: false, uniform: 1 / Math.sqrt(E * ctx.nLayers) }) : make.linear('out_proj', E, d, { bias: false, std: make.outputStd });

    /** From the conv'd inner activations x [..., E]: Δ [..., E], B and C [..., N]. */
    const selection = (x: tf.Tensor) => {
      const [dtLow, B, C] = tf.split(xProj.apply(x), [R, N, N], -1);
      const dt = tf.softplus(linearApply(dtLow!, dtWeight, dtBias));
      return { dt, B: B!, C: C! };
    };
    const A = () => tf.neg(tf.exp(aLog)); // [E, N]

    return {
      forward(u) {
        return tf.tidy(() => {
          const [xIn, gate] = tf.split(inProj.apply(u), 2, 2);
          const x = silu(shortConv(xIn as tf.Tensor3D, convWeight, convBias)); // [B, T, E]
          const { dt, B, C } = selection(x);
          // h [B, T, E, N] is never needed whole: the fused form (webgpu, lever selectiveScan) keeps it on chip; the
          // blocked form materialises it a block of time at a time
          const readout = selectiveScan(x as tf.Tensor3D, dt as tf.Tensor3D, A() as tf.Tensor2D, B as tf.Tensor3D, C as tf.Tensor3D, p.timeBlock === 'auto' ? undefined : p.timeBlock);
          // D per channel; a stack's D [R, E] (engine/stack.ts) multiplies its own run's rows
          const y = tf.add(readout, mulByRun(x, skipD));
          return outProj.apply(siluGate(y, gate!)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { conv: tf.zeros([batch, k - 1, E]), ssm: tf.zeros([batch, E, N]) };
      },
      step(state, u) {
        return tf.tidy(() => {
          const Bsz = u.shape[0];
          const [xIn, gate] = tf.split(inProj.apply(u), 2, 1);
          const conv = shortConvStep(state.conv as tf.Tensor3D, xIn as tf.Tensor2D, convWeight, convBias);
          const x = silu(conv.y); // [B, E]
          const { dt, B, C } = selection(x);
          const dt3 = dt.reshape([Bsz, E, 1]);
          const ssm = tf.add(tf.mul(tf.exp(tf.mul(dt3, A())), state.ssm!), tf.mul(tf.mul(dt3, x.reshape([Bsz, E, 1])), B.reshape([Bsz, 1, N])));
          const y = tf.add(tf.sum(tf.mul(ssm, C.reshape([Bsz, 1, N])), 2), tf.mul(x, skipD));
          return { y: outProj.apply(siluGate(y, gate!)) as tf.Tensor2D, state: { conv: conv.window, ssm } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const { E, N, k } = mambaDims(p, ctx.dModel);
    // zoology's Mamba.state_size(): 2·d_model·d_state (its expand is 2; written as E·N here), conv window not counted
    return { measured: E * (k - 1) + E * N, paper: E * N };
  },
});
