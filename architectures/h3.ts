// H3 (Fu et al., "Hungry Hungry Hippos", arXiv 2212.14052), as zoology's zoology/mixers/h3/h3.py:
//   q, k, v = u W_q, u W_k, u W_v                               (+ biases)
//   k ← shiftSSM(k) + D_k ⊙ k                                   shift SSM = an N-tap causal FIR per channel
//   kv = k ⊙ v                                                  head_dim 1
//   kv[h, i, j] = k[h, i] · v[h, j]                             head_dim p > 1: per-head outer products (H = d/p)
//   z = diagSSM ∗ kv + D ⊙ kv                                   S4D per head h (ops/ssmKernel/), state N
//   y = q ⊙ z            (head_dim 1),   y[h, j] = Σ_i q[h, i] · z[h, i, j]   (head_dim p)
//                        (zoology orders y's channels (j, h); here (h, j): W_o absorbs the permutation)
//   out = y W_o + b_o
// Both convolutions run through the long-conv op (ops/longConv/): the shift SSM's kernel is its N taps
// (zero beyond), the diagonal SSM's kernel comes from the Vandermonde product.
// Recurrent view: the shift SSM holds the last min(N, L_s) − 1 raw k's (a window; the current k arrives with the
// token), the diagonal SSM n = N/2 complex modes for each of its d·p channels (kv has H·p² = d·p channels, all of
// head h sharing SSM h). Measured: d·(min(N, L_s) − 1) + d·p·N floats. Paper (zoology's state_size): d·N — it
// ignores the shift state and the ×p of head_dim > 1.
// Init as zoology: projections N(0, 0.02) with zero biases (its output_linear is not named out_proj, so it keeps
// 0.02), shift taps U(±1/√N) (torch's kaiming_uniform(a=√5) of the [H, 1, N] tensor), D_k and D ~ N(0, 1).
// zoology also learns the shift SSM's B (= e₁ at init); only its correlation with the taps enters the kernel and
// the step, so the taps alone parameterise the FIR here (same function class).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { headContract, headOuter } from '../ops/headProduct/index.js';
import { longConv } from '../ops/longConv/index.js';
import { shortConvStep } from '../ops/shortConv/index.js';
import { s4dDiscretize, s4dKernel, s4dParams, s4dStep } from '../ops/ssmKernel/index.js';
import { defineMixer } from './mixer.js';
import { mulByRun } from './nn.js';

const params = z
  .object({
    stateDim: z
      .number()
      .int()
      .min(2)
      .default(64)
      .refine((n) => n % 2 === 0, 'stateDim must be even (N/2 complex modes and their conjugates)')
      .describe('N: state size of the diagonal SSM per channel, and the taps of the shift SSM'),
    headDim: z.number().int().positive().default(1).describe('head dimension p: kv is a p×p outer product per head'),
    dtMin: z.number().positive().default(1e-3).describe('smallest initial SSM step Δ'),
    dtMax: z.number().positive().default(1e-1).describe('largest initial SSM step Δ'),
  })
  .strict()
  .refine((p) => p.dtMin <= p.dtMax, { message: 'dtMin must not exceed dtMax', path: ['dtMin'] });

/** Taps the shift SSM can use on sequences of at most L_s tokens. */
function shiftTaps(N: number, maxSeqLen: number): number {
  return Math.min(N, maxSeqLen);
}

export default defineMixer({
  name: 'h3',
  description: 'H3: shift-SSM keys, diagonal-SSM (S4D) over k⊙v, gated by q',
  params,
  // a stack's own parameters carry the run axis: the shift taps and D's (each run's filter through ops/longConv,
  // D by run), the S4D parameters (the kernel of R runs' H channels computed as one of R·H channels: every
  // operation of it is per channel), the projections (make.linear)
  stackable: () => true,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const P = p.headDim;
    if (d % P !== 0) throw new Error(`h3: d_model ${d} is not divisible by headDim ${P}`);
    const H = d / P;
    const N = p.stateDim;
    const n = N / 2;
    const G = P * P; // kv channels per head
    const taps = shiftTaps(N, ctx.maxSeqLen);

    const qkv = make.linear('qkv', d, 3 * d);
    const shiftSeed = make.seed();
    const bound = 1 / Math.sqrt(N);
    // shift[c, s] multiplies k_{t−s}; only the first min(N, L_s) taps can ever reach an output
    const shift = make.param('shift.taps', [d, taps], (t) => t.randomUniform([d, taps], -bound, bound, 'float32', shiftSeed));
    const shiftD = make.param('shift.D', [d], 1.0);
    const ssm = s4dParams(make, 'ssm', H, N, { dtMin: p.dtMin, dtMax: p.dtMax });
    const D = make.param('D', [H], 1.0);
    const out = make.linear('output_linear', d, d);

    /** kv [.., d·P] from k, v [.., d] (head-major: channel (h, i, j) = h·P² + i·P + j); ops/headProduct. */
    const outer = (k: tf.Tensor, v: tf.Tensor): tf.Tensor => headOuter(k, v, P);
    /** y [.., d] from q [.., d] and z [.., d·P]: Σ_i q[h, i]·z[h, i, j]; ops/headProduct. */
    const contract = (q: tf.Tensor, zz: tf.Tensor): tf.Tensor => headContract(q, zz, P);
    /** per-head values repeated over the head's P² kv channels: [H, ...] → [H·P², ...]; a stack's [R, H, ...] (H on `axis` 1) → [R, H·P², ...] */
    const perChannel = (t: tf.Tensor, axis = 0): tf.Tensor => {
      if (G === 1) return t;
      const [lead, rest] = [t.shape.slice(0, axis), t.shape.slice(axis + 1)];
      return tf.mul(t.reshape([...lead, H, 1, ...rest]), tf.ones([...lead.map(() => 1), 1, G, ...rest.map(() => 1)])).reshape([...lead, H * G, ...rest]);
    };
    /** The S4D kernel [H, T]; a stack's [R, H, T], as the kernel of R·H channels (each channel's own parameters). */
    const ssmKernel = (T: number): tf.Tensor => {
      if (ssm.logDt.rank === 1) return s4dKernel(ssm, T);
      const R = ssm.logDt.shape[0]!;
      const flat = (v: tf.Tensor) => v.reshape([R * H, ...v.shape.slice(2)]) as unknown as tf.Variable;
      const channels = { logDt: flat(ssm.logDt), logNegAReal: flat(ssm.logNegAReal), aImag: flat(ssm.aImag), cRe: flat(ssm.cRe), cIm: flat(ssm.cIm) };
      return s4dKernel(channels, T).reshape([R, H, T]);
    };

    return {
      forward(x) {
        return tf.tidy(() => {
          const [B, T] = x.shape;
          const [q, k, v] = tf.split(qkv.apply(x), 3, 2) as tf.Tensor3D[];
          // shift SSM: an FIR with `taps` taps — a long conv whose kernel is zero beyond them (ops/longConv takes the
          // short kernel as that)
          const used = Math.min(taps, T);
          const stacked = shift.rank === 3; // a stack of runs: [R, d, taps], each run's
          const shiftKernel = (stacked ? shift.slice([0, 0, 0], [-1, d, used]) : shift.slice([0, 0], [d, used])) as tf.Tensor2D | tf.Tensor3D;
          const kShifted = tf.add(longConv(k, shiftKernel), mulByRun(k, shiftD));
          const kv = outer(kShifted, v) as tf.Tensor3D; // [B, T, d·P]
          const headAxis = stacked ? 1 : 0;
          const kernel = perChannel(ssmKernel(T), headAxis) as tf.Tensor2D | tf.Tensor3D; // [(R,) d·P, T]
          const zz = tf.add(longConv(kv, kernel), mulByRun(kv, perChannel(D, headAxis)));
          void B;
          return out.apply(contract(q, zz)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return {
          shift: tf.zeros([batch, taps - 1, d]), // past raw k's, oldest first
          ssmRe: tf.zeros([batch, H, G, n]),
          ssmIm: tf.zeros([batch, H, G, n]),
        };
      },
      step(state, x) {
        return tf.tidy(() => {
          const B = x.shape[0];
          const [q, k, v] = tf.split(qkv.apply(x), 3, 1) as tf.Tensor2D[];
          // shortConvStep's weight [taps, d] has its last row on the current token: the taps reversed in time
          const weight = tf.reverse(tf.transpose(shift), 0) as tf.Tensor2D;
          const shifted = shortConvStep(state.shift as tf.Tensor3D, k, weight);
          const kShifted = tf.add(shifted.y, tf.mul(k, shiftD));
          const kv = outer(kShifted, v).reshape([B, H, G]) as tf.Tensor3D;
          const next = s4dStep(s4dDiscretize(ssm), state.ssmRe as tf.Tensor4D, state.ssmIm as tf.Tensor4D, kv);
          const zz = tf.add(next.y, tf.mul(kv, D.reshape([1, H, 1]))).reshape([B, H * G]);
          const y = out.apply(contract(q, zz)) as tf.Tensor2D;
          return { y, state: { shift: shifted.window, ssmRe: next.stateRe, ssmIm: next.stateIm } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const d = ctx.dModel;
    return {
      measured: d * (shiftTaps(p.stateDim, ctx.maxSeqLen) - 1) + d * p.headDim * p.stateDim,
      paper: d * p.stateDim,
    };
  },
});
