// Monarch Mixer (M2; Fu et al., arXiv 2310.12109), its causal sequence mixer as HazyResearch/m2 computes it
// (bert/src/mm/monarch_mixer_sequence_mixer.py, MonarchMixerSequenceMixing with bidirectional=False; filter from
// bert/src/mm/hyena_utils.py):
//   (x1, x2, v) = split(shortConv₃(Mon_in(u)))           in projection d → 3d; depthwise causal conv (3 taps) on all 3d
//   v ← v ⊙ x1                                            pre-gating
//   y = (h ∗ v + β ⊙ v) ⊙ x2                              causal long conv (FFT of size 2L in the reference: zero
//                                                          padding makes it causal), β = the filter's bias ~ N(0, 1)
//   [residualLongConv: y ← y + (h₂ ∗ u + β₂ ⊙ u)          a second long conv on the layer's input, own filter]
//   out = Mon_out(y)                                      out projection d → d
// Implicit filter h[t, c] = MLP(PosEmb(t))[c] · exp(−t̂·|δ_c|) (HyenaFilter): PosEmb = [t̂, cos, sin] (emb_dim 3
// by default, ops/implicitFilter/ — identical to the reference's PositionalEmbedding), MLP = Linear(emb, order) → Sin
// → (Linear(order, order) → Sin) × 2 → Linear(order, d, no bias), Sin(x) = sin(ω ⊙ x) with ONE learned ω (the same
// `act` module appended three times) initialised to hyena_w = 10 (M2's default; Hyena's zoology filter uses 1);
// order 16 (MonarchMixerSequenceMixing's default; the BERT recipes use 128 with emb_dim 5); δ a constant window
// (ExponentialModulation, modulation_lr 0: fast 0.3, slow 1.5, target 1e-2 — the same as Hyena's).
//
// Monarch-factored projections. The reference's sequence mixer has NO Monarch factorisation in the sequence
// dimension: its sequence mixing is the FFT long convolution above (the paper's Monarch-as-DFT is only how the
// FFT is computed; flash_mm.py's FlashMMSequenceMixing is a fused CUDA path of the same block: rfft long convs,
// dense linears), and its in_linear / out_linear are dense
// nn.Linear. M2 puts its Monarch matrices in the channel mixing: BertGatedLinearUnitMLP's BlockdiagLinear (one
// block-diagonal factor, nblocks 4, optional channel shuffle). Here, as the issue asks ("Monarch-factored mixing"),
// the mixer's own projections are Monarch linears (projection: 'monarch', default) — block-diagonal × permutation ×
// block-diagonal × permutation, m2's blockdiag_butterfly_multiply (ops/monarch/, tested against its dense
// equivalent) with the shapes of fly's MonarchLinear: k = l = nblocks, for n → m features w1 [k, n/k, n/k],
// w2 [k, m/k, n/k] when n < m, else w1 [k, m/k, n/k], w2 [k, m/k, m/k]; plus a bias [m]. projection: 'dense' is
// exactly the reference's module. The long convolution is ops/longConv/ (blocked Toeplitz; same numbers as the
// reference's FFT conv up to rounding).
//
// Differences from the reference, all stated:
// - Projections Monarch by default (above); nblocks must divide d (and 3d).
// - Init: this codebase's — dense linears N(0, 0.02) with zero bias, out projection N(0, 0.02/√(2·n_layers)); a
//   Monarch linear w1 ~ N(0, 1/(n/k)) and w2 ~ N(0, std²·n/r) so that its output variance equals a dense N(0, std)
//   layer's (the reference: torch defaults, kaiming-uniform). Filter MLP N(0, 0.02) (reference: torch defaults).
//   Short conv: torch Conv1d's U(±1/√3) (as the reference). β ~ N(0, 1) (as the reference).
// - One optimiser for everything: the reference gives the filter MLP lr 1e-3 / wd 0.1 and the positional table
//   lr 1e-5 (here the table is a constant).
// - hyena_training_additions (input LayerNorm, dropout on v and on the output) not built; `dropout` here is the
//   dropout on the pre-gated v only (default 0, as the reference's default). Filter dropout: unused in the
//   reference too. bidirectional: not built (this is the causal mixer).
// Recurrent view: the short conv's window (3d·(k−1) floats) and every past pre-gated v (d·L_s), plus every past
// input u when residualLongConv (d·L_s): measured 6d + d·L_s (+ d·L_s). Paper-style (zoology's, like Hyena): d·L_s
// (2·d·L_s with the residual long conv).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { exponentialDecayWindow, positionalEmbedding } from '../ops/implicitFilter/index.js';
import { longConv, longConvStep } from '../ops/longConv/index.js';
import { monarch } from '../ops/monarch/index.js';
import { shortConv, shortConvStep } from '../ops/shortConv/index.js';
import { defineMixer, type Linear, type ParamFactory } from './mixer.js';
import { scaledSin } from '../ops/scaledSin/index.js';
import { linearApply } from '../ops/linear/index.js';

const params = z
  .object({
    filterOrder: z.number().int().positive().default(16).describe('width of the implicit filter MLP (hyena_filter_order)'),
    embDim: z.number().int().min(3).default(3).describe('positional embedding width of the filter (odd, ≥ 3; hyena_emb_dim); an even value is rejected at build'),
    innerMlps: z.number().int().min(0).default(2).describe('hidden (order → order, Sin) layers of the filter MLP'),
    sinFreq: z.number().positive().default(10).describe('initial frequency ω of the filter Sin (hyena_w)'),
    shortFilterOrder: z.number().int().min(1).default(3).describe('taps of the short conv on the 3d projections'),
    projection: z.enum(['monarch', 'dense']).default('monarch').describe("in/out projections: Monarch-factored or dense (the reference's nn.Linear)"),
    nblocks: z.number().int().positive().default(4).describe('blocks per Monarch factor (monarch_mlp_nblocks)'),
    residualLongConv: z.boolean().default(false).describe('add a second long conv of the input u (residual_long_conv)'),
    dropout: z.number().min(0).max(1).default(0).describe('dropout on the pre-gated v'),
  })
  .strict();

/** A Monarch linear n → m (fly's MonarchLinear shapes), initialised to match a dense N(0, std) layer's output variance. */
function monarchLinear(make: ParamFactory, name: string, n: number, m: number, k: number, std: number): Linear {
  if (n % k !== 0 || m % k !== 0) throw new Error(`m2: nblocks ${k} must divide the projection sizes ${n} and ${m}`);
  const [s1, s2] = n < m ? [[k, n / k, n / k], [k, m / k, n / k]] : [[k, m / k, n / k], [k, m / k, m / k]];
  const std1 = 1 / Math.sqrt(s1[2]!);
  const std2 = std * Math.sqrt(n / s2[2]!);
  const w1 = make.param(`${name}.blkdiag1`, s1, std1) as tf.Variable<tf.Rank.R3>;
  const w2 = make.param(`${name}.blkdiag2`, s2, std2) as tf.Variable<tf.Rank.R3>;
  const bias = make.param(`${name}.bias`, [m], 'zeros');
  return { weight: w1, bias, apply: (x) => tf.add(monarch(x, w1, w2), bias) };
}

export default defineMixer({
  name: 'm2',
  description: 'Monarch Mixer (M2) causal sequence mixer: short conv, gating, implicit long conv, Monarch projections',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const Ls = ctx.maxSeqLen;
    const k = p.shortFilterOrder;
    const E = p.embDim;

    const proj = (name: string, n: number, m: number, std: number): Linear =>
      p.projection === 'monarch' ? monarchLinear(make, name, n, m, p.nblocks, std) : make.linear(name, n, m, { std });
    const inProj = proj('in_linear', d, 3 * d, 0.02);
    const bound = 1 / Math.sqrt(k);
    const wSeed = make.seed();
    const bSeed = make.seed();
    const shortWeight = make.param('short_filter.weight', [k, 3 * d], (t) => t.randomUniform([k, 3 * d], -bound, bound, 'float32', wSeed)) as tf.Tensor2D;
    const shortBias = make.param('short_filter.bias', [3 * d], (t) => t.randomUniform([3 * d], -bound, bound, 'float32', bSeed)) as tf.Tensor1D;

    const emb = positionalEmbedding(Ls, E); // [Ls, E], constant
    const window = exponentialDecayWindow(Ls, d); // [Ls, d], constant

    /** One HyenaFilter: its MLP, Sin frequency and bias β; `taps(length)` → h [d, length]. */
    const makeFilter = (name: string) => {
      const mlp = [make.linear(`${name}.implicit_filter.0`, E, p.filterOrder)];
      for (let i = 0; i < p.innerMlps; i++) mlp.push(make.linear(`${name}.implicit_filter.${i + 1}`, p.filterOrder, p.filterOrder));
      const mlpOut = make.linear(`${name}.implicit_filter.out`, p.filterOrder, d, { bias: false });
      const freq = make.param(`${name}.sin.freq`, [p.filterOrder], (t) => t.fill([p.filterOrder], p.sinFreq));
      const bias = make.param(`${name}.bias`, [d], 1.0);
      const taps = (length: number): tf.Tensor2D =>
        tf.tidy(() => {
          let a: tf.Tensor = emb.slice([0, 0], [length, E]);
          for (const layer of mlp) a = scaledSin(linearApply(a, layer.weight), freq, layer.bias);
          return tf.transpose(tf.mul(mlpOut.apply(a), window.slice([0, 0], [length, d]))) as tf.Tensor2D;
        });
      return { taps, bias };
    };
    const filter = makeFilter('filter_fn');
    const filter2 = p.residualLongConv ? makeFilter('filter_fn2') : undefined;
    const outProj = proj('out_linear', d, d, make.outputStd);

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const T = x.shape[1];
          const [x1, x2, v0] = tf.split(shortConv(inProj.apply(x) as tf.Tensor3D, shortWeight, shortBias), 3, 2) as tf.Tensor3D[];
          let v = tf.mul(v0, x1) as tf.Tensor3D;
          if (opts.training && p.dropout > 0) v = tf.dropout(v, p.dropout, undefined, opts.dropoutSeed) as tf.Tensor3D;
          let y = tf.mul(tf.add(longConv(v, filter.taps(T)), tf.mul(v, filter.bias)), x2);
          if (filter2) y = tf.add(y, tf.add(longConv(x, filter2.taps(T)), tf.mul(x, filter2.bias)));
          return outProj.apply(y) as tf.Tensor3D;
        });
      },
      initState(batch) {
        const state: Record<string, tf.Tensor> = {
          shortWindow: tf.zeros([batch, k - 1, 3 * d]), // past projections, oldest first
          history: tf.zeros([batch, Ls, d]), // every past pre-gated v
        };
        if (filter2) state.inputHistory = tf.zeros([batch, Ls, d]); // every past input u
        return state;
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const short = shortConvStep(state.shortWindow as tf.Tensor3D, inProj.apply(x) as tf.Tensor2D, shortWeight, shortBias);
          const [x1, x2, v0] = tf.split(short.y, 3, 1) as tf.Tensor2D[];
          const v = tf.mul(v0, x1) as tf.Tensor2D;
          const conv = longConvStep(state.history as tf.Tensor3D, v, filter.taps(position + 1), position);
          let y = tf.mul(tf.add(conv.y, tf.mul(v, filter.bias)), x2);
          const next: Record<string, tf.Tensor> = { shortWindow: short.window, history: conv.history };
          if (filter2) {
            const conv2 = longConvStep(state.inputHistory as tf.Tensor3D, x, filter2.taps(position + 1), position);
            y = tf.add(y, tf.add(conv2.y, tf.mul(x, filter2.bias)));
            next.inputHistory = conv2.history;
          }
          return { y: outProj.apply(y) as tf.Tensor2D, state: next };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const d = ctx.dModel;
    const convs = p.residualLongConv ? 2 : 1;
    return { measured: 3 * d * (p.shortFilterOrder - 1) + convs * d * ctx.maxSeqLen, paper: convs * d * ctx.maxSeqLen };
  },
});
