// Hyena, order 2 (Poli et al., arXiv 2302.10866), as zoology's zoology/mixers/hyena.py (1 head, 1 block):
//   (x1, x2, v) = split(shortConv₃(u W_in + b_in))       in_proj d → 3d, depthwise causal conv (3 taps) on all 3d
//   v ← v ⊙ x1                                            pre-gating (then dropout)
//   v ← h ∗ v + β ⊙ v                                     long causal conv, β = the filter's bias ~ N(0, 1)
//   y = (v ⊙ x2) W_out + b_out
// Implicit filter h[t, c] = MLP(PosEmb(t))[c] · exp(−t̂·|δ_c|):
//   PosEmb = [t̂, cos, sin] (emb_dim 3, ops/implicitFilter/), t̂ = t/(L_s − 1)
//   MLP = Linear(3, 64) → Sin → (Linear(64, 64) → Sin) × 2 → Linear(64, d, no bias)
//   Sin(x) = sin(ω ⊙ x) with a learned frequency ω (init 1) — ONE module shared by the three activations in
//   zoology (the same `act` object is appended three times), so one ω here too.
//   δ: a fixed exponential-decay window (ExponentialModulation, registered with lr 0 in zoology).
// Init as zoology: all Linear N(0, 0.02) with zero biases, out_proj N(0, 0.02/√(2·n_layers)), the short conv
// torch Conv1d's U(±1/√3) (weights and bias). zoology trains the filter MLP with its own lr 1e-3 and no weight
// decay, and the PosEmb table with lr 1e-5 — but zoology's Trainer ignores those per-parameter settings (one AdamW
// over model.parameters()), so in zoology the PosEmb table z is an ordinary trained parameter. Under block
// 'zoology' it is one here too (initialised to the table); under 'prenorm' it is a constant.
// Recurrent view: the short conv's window (3d·(k−1) floats, k = 3) and every past pre-gated v for the long conv
// (d·L_s): measured 6d + d·L_s. Paper (zoology's state_size): d·L_s.
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { dropout } from '../ops/dropout/index.js';
import { exponentialDecayWindow, positionalEmbedding } from '../ops/implicitFilter/index.js';
import { longConv, longConvStep } from '../ops/longConv/index.js';
import { shortConv, shortConvStep } from '../ops/shortConv/index.js';
import { defineMixer } from './mixer.js';
import { mulByRun } from './nn.js';
import { scaledSin } from '../ops/scaledSin/index.js';
import { linearApply } from '../ops/linear/index.js';

const EMB_DIM = 3;

const params = z
  .object({
    filterOrder: z.number().int().positive().default(64).describe('width of the implicit filter MLP'),
    innerMlps: z.number().int().min(0).default(2).describe('hidden (width → width, Sin) layers of the filter MLP'),
    shortFilterOrder: z.number().int().min(1).default(3).describe('taps of the short conv on the 3d projections'),
    dropout: z.number().min(0).max(1).default(0).describe('dropout on the pre-gated v'),
  })
  .strict();

export default defineMixer({
  name: 'hyena',
  description: 'Hyena (order 2): short conv, gating, implicit long conv with decay window',
  params,
  // a stack's own parameters carry the run axis: the short conv's taps (ops/shortConv), the filter MLP (make.linear,
  // each run's positions through its own MLP), ω and β by run, and the long conv takes each run's filter
  // (ops/longConv); dropout through ops/dropout, which draws each run's mask as the run alone would
  stackable: () => true,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const Ls = ctx.maxSeqLen;
    const width = p.filterOrder;
    const k = p.shortFilterOrder;

    const inProj = make.linear('in_proj', d, 3 * d);
    const bound = 1 / Math.sqrt(k);
    const wSeed = make.seed();
    const bSeed = make.seed();
    const shortWeight = make.param('short_filter.weight', [k, 3 * d], (t) => t.randomUniform([k, 3 * d], -bound, bound, 'float32', wSeed)) as tf.Tensor2D;
    const shortBias = make.param('short_filter.bias', [3 * d], (t) => t.randomUniform([3 * d], -bound, bound, 'float32', bSeed)) as tf.Tensor1D;

    const emb = ctx.block === 'zoology' ? make.param('filter.pos_emb.z', [Ls, EMB_DIM], () => positionalEmbedding(Ls, EMB_DIM)) : positionalEmbedding(Ls, EMB_DIM); // [Ls, 3]
    const window = exponentialDecayWindow(Ls, d); // [Ls, d], constant
    const mlp = [make.linear('filter.mlp.0', EMB_DIM, width)];
    for (let i = 0; i < p.innerMlps; i++) mlp.push(make.linear(`filter.mlp.${i + 1}`, width, width));
    const mlpOut = make.linear('filter.mlp.out', width, d, { bias: false });
    const freq = make.param('filter.sin.freq', [width], 'ones');
    const filterBias = make.param('filter.bias', [d], 1.0);
    const outProj = make.linear('out_proj', d, d, { std: make.outputStd });

    /** h [d, length]: the implicit filter's first `length` taps; a stack of R runs: each run's, [R, d, length]. */
    const filter = (length: number): tf.Tensor2D | tf.Tensor3D =>
      tf.tidy(() => {
        const runs = freq.rank === 2 ? freq.shape[0]! : 1;
        if (runs === 1) {
          let a: tf.Tensor = emb.slice([0, 0], [length, EMB_DIM]);
          for (const layer of mlp) a = scaledSin(linearApply(a, layer.weight), freq, layer.bias);
          const h = tf.mul(mlpOut.apply(a), window.slice([0, 0], [length, d])); // [length, d]
          return tf.transpose(h) as tf.Tensor2D;
        }
        // each run's positions (its own table under block 'zoology') through its own MLP and ω: [R, length, ·]
        let a: tf.Tensor = emb.rank === 3 ? emb.slice([0, 0, 0], [runs, length, EMB_DIM]) : tf.tile(emb.slice([0, 0], [length, EMB_DIM]).expandDims(0), [runs, 1, 1]);
        const omega = freq.reshape([runs, 1, width]);
        for (const layer of mlp) a = scaledSin(linearApply(a, layer.weight), omega, layer.bias);
        const h = tf.mul(mlpOut.apply(a), window.slice([0, 0], [length, d])); // [R, length, d]
        return tf.transpose(h, [0, 2, 1]) as tf.Tensor3D;
      });

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const T = x.shape[1];
          const [x1, x2, v0] = tf.split(shortConv(inProj.apply(x) as tf.Tensor3D, shortWeight, shortBias), 3, 2) as tf.Tensor3D[];
          let v = tf.mul(v0, x1) as tf.Tensor3D;
          if (opts.training && p.dropout > 0) v = dropout(v, p.dropout, opts.dropoutSeed ?? 0) as tf.Tensor3D;
          const mixed = tf.add(longConv(v, filter(T)), mulByRun(v, filterBias));
          return outProj.apply(tf.mul(mixed, x2)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return {
          shortWindow: tf.zeros([batch, k - 1, 3 * d]), // past projections, oldest first
          history: tf.zeros([batch, Ls, d]), // every past pre-gated v
        };
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const short = shortConvStep(state.shortWindow as tf.Tensor3D, inProj.apply(x) as tf.Tensor2D, shortWeight, shortBias);
          const [x1, x2, v0] = tf.split(short.y, 3, 1) as tf.Tensor2D[];
          const v = tf.mul(v0, x1) as tf.Tensor2D;
          const conv = longConvStep(state.history as tf.Tensor3D, v, filter(position + 1) as tf.Tensor2D, position);
          const mixed = tf.add(conv.y, tf.mul(v, filterBias));
          return { y: outProj.apply(tf.mul(mixed, x2)) as tf.Tensor2D, state: { shortWindow: short.window, history: conv.history } };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const d = ctx.dModel;
    return { measured: 3 * d * (p.shortFilterOrder - 1) + d * ctx.maxSeqLen, paper: d * ctx.maxSeqLen };
  },
});
