// BaseConv (Arora et al., Zoology, arXiv 2312.04927; zoology/mixers/base_conv.py): a gated convolution
//   y = (u W + b) ⊙ conv(u) + u                       (the + u is zoology's inner residual: `residual`)
//   short:  conv(u) = h ∗ u + b_h                    depthwise causal conv, k taps (torch Conv1d with bias)
//   long:   conv(u) = h ∗ u + u + b_h                 h [d, L] over the whole sequence; zoology's fft_conv adds
//                                                     the input (a unit skip) and has no bias: b_h starts at 0,
//                                                     so at init this is exactly zoology's, with b_h learned;
//                                                     under block 'zoology' there is no b_h (zoology's module)
//     explicit h: d×L weights ~ N(0, 1) (zoology's LongConvolution: torch.randn)
//     implicit h = MLP(PosEmb(t)): PosEmb = [t, cos, sin] (ops/implicitFilter/), MLP 3→16→ReLU→d
// causal: false is JRT's non-causal baseline: the conv wraps around (circular), every output sees every token.
// Recurrent view (causal only): short keeps the last k−1 inputs (d·(k−1) floats; zoology counts d·k), long keeps
// every past input (d·L_s, as zoology counts).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { positionalEmbedding } from '../ops/implicitFilter/index.js';
import { circularLongConv, longConv, longConvStep } from '../ops/longConv/index.js';
import { shortConv, shortConvStep } from '../ops/shortConv/index.js';
import { addByRun } from './nn.js';
import { defineMixer } from './mixer.js';

const IMPLICIT_HIDDEN = 16;
const EMB_DIM = 3;

const params = z
  .object({
    convType: z.enum(['short', 'long']).default('short').describe("'short': k-tap depthwise conv; 'long': a filter as long as the sequence"),
    kernelSize: z.number().int().min(1).max(1024).default(3).describe('taps of the short conv'),
    filter: z.enum(['explicit', 'implicit']).default('implicit').describe('long conv filter: explicit d×L weights, or implicit MLP(PosEmb(t))'),
    causal: z.boolean().default(true).describe('false: circular (non-causal) conv, JRT’s non-causal baseline'),
    residual: z.boolean().default(true).describe('zoology’s inner residual: + u'),
  })
  .strict();

export default defineMixer({
  name: 'baseconv',
  description: 'BaseConv: (u W + b) ⊙ (h ∗ u + b_h) + u, short or long (explicit/implicit) conv',
  params,
  // the short conv's taps and bias take a run axis (ops/shortConv), the projection is make.linear (engine/stack.ts);
  // the causal long conv takes each run's filter [R, d, L] (ops/longConv), built per run by the implicit MLP
  stackable: (p) => p.convType === 'short' || p.causal,
  isCausal: (p) => p.causal,
  create(p, ctx, make) {
    const d = ctx.dModel;
    const Ls = ctx.maxSeqLen;
    const projection = make.linear('projection', d, d);

    // torch Conv1d's default init, which zoology keeps: U(±1/√fan_in), fan_in = k for a depthwise conv
    const k = p.kernelSize;
    const bound = 1 / Math.sqrt(k);
    const shortWeight =
      p.convType === 'short'
        ? (() => {
            const seed = make.seed();
            return make.param('conv.weight', [k, d], (t) => t.randomUniform([k, d], -bound, bound, 'float32', seed));
          })()
        : undefined;
    const biasSeed = make.seed();
    const convBias =
      p.convType === 'short'
        ? make.param('conv.bias', [d], (t) => t.randomUniform([d], -bound, bound, 'float32', biasSeed))
        : ctx.block === 'zoology'
          ? undefined
          : make.param('conv.bias', [d], 'zeros');
    const explicitFilter = p.convType === 'long' && p.filter === 'explicit' ? make.param('conv.filter', [d, Ls], 1.0) : undefined;
    const implicit =
      p.convType === 'long' && p.filter === 'implicit'
        ? { z: positionalEmbedding(Ls, EMB_DIM), fc1: make.linear('conv.mlp.0', EMB_DIM, IMPLICIT_HIDDEN), fc2: make.linear('conv.mlp.2', IMPLICIT_HIDDEN, d) }
        : undefined;

    /** The long filter's first `length` taps, [d, length]; a stack of R runs: each run's, [R, d, length]. */
    const longFilter = (length: number): tf.Tensor2D | tf.Tensor3D =>
      tf.tidy(() => {
        if (explicitFilter) return (explicitFilter.rank === 3 ? explicitFilter.slice([0, 0, 0], [-1, d, length]) : explicitFilter.slice([0, 0], [d, length])) as tf.Tensor2D | tf.Tensor3D;
        const { z: emb, fc1, fc2 } = implicit!;
        const positions = emb.slice([0, 0], [length, EMB_DIM]);
        if (fc1.weight.rank === 3) {
          // a stack: the same positions through each run's MLP (make.linear batches the runs over the first axis)
          const runs = fc1.weight.shape[0]!;
          const h = fc2.apply(tf.relu(fc1.apply(tf.tile(positions.expandDims(0), [runs, 1, 1])))); // [R, length, d]
          return tf.transpose(h, [0, 2, 1]) as tf.Tensor3D;
        }
        const h = fc2.apply(tf.relu(fc1.apply(positions))); // [length, d]
        return tf.transpose(h) as tf.Tensor2D;
      });

    const conv = (x: tf.Tensor3D): tf.Tensor =>
      tf.tidy(() => {
        if (shortWeight) return shortConv(x, shortWeight as tf.Tensor2D, convBias as tf.Tensor1D, { circular: !p.causal });
        const T = x.shape[1];
        const h = longFilter(T);
        // (a stack is causal: stackable says so; the circular conv takes one filter)
        const y = p.causal ? longConv(x, h) : circularLongConv(x, h as tf.Tensor2D);
        const withSkip = tf.add(y, x);
        return convBias ? addByRun(withSkip, convBias) : withSkip;
      });

    return {
      forward(x) {
        return tf.tidy(() => {
          const y = tf.mul(projection.apply(x), conv(x));
          return (p.residual ? tf.add(y, x) : y) as tf.Tensor3D;
        });
      },
      initState(batch): Record<string, tf.Tensor> {
        if (shortWeight) return { window: tf.zeros([batch, k - 1, d]) };
        return { history: tf.zeros([batch, Ls, d]) };
      },
      step(state, x, position) {
        if (!p.causal) throw new Error('baseconv: a non-causal (circular) conv has no recurrent view');
        return tf.tidy(() => {
          let c: tf.Tensor;
          let next: Record<string, tf.Tensor>;
          if (shortWeight) {
            const out = shortConvStep(state.window as tf.Tensor3D, x, shortWeight as tf.Tensor2D, convBias as tf.Tensor1D);
            c = out.y;
            next = { window: out.window };
          } else {
            const out = longConvStep(state.history as tf.Tensor3D, x, longFilter(position + 1) as tf.Tensor2D, position);
            c = convBias ? tf.add(tf.add(out.y, x), convBias) : tf.add(out.y, x);
            next = { history: out.history };
          }
          const y = tf.mul(projection.apply(x), c);
          return { y: (p.residual ? tf.add(y, x) : y) as tf.Tensor2D, state: next };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const d = ctx.dModel;
    // a non-causal conv has no recurrent view; its count is that of the causal conv with the same filter
    if (p.convType === 'short') return { measured: d * (p.kernelSize - 1), paper: d * p.kernelSize };
    return { measured: d * ctx.maxSeqLen, paper: d * ctx.maxSeqLen };
  },
});
