// Causal multi-head softmax attention (Vaswani et al.), as zoology's MHA:
//   q, k, v = x W_qkv;  A = softmax(q kᵀ/√d_h + causal mask);  y = dropout(A) v W_o
// Recurrent view: a KV cache of the longest test length, so the state is 2·d·L_s floats.
import * as tf from '@tensorflow/tfjs';
import { causalAttention, causalMaskBias } from '../ops/causalAttention/index.js';
import { z } from 'zod';
import { defineMixer } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';

const params = z
  .object({
    numHeads: z.number().int().positive().default(1).describe('attention heads'),
    dropout: z.number().min(0).max(1).default(0.1).describe('dropout on attention weights'),
  })
  .strict();

// the mask lives with the op (ops/causalAttention/naive.ts); re-exported for the mixers and tests that use it
export { causalMaskBias };

export default defineMixer({
  name: 'attention',
  description: 'causal softmax multi-head attention (KV cache state)',
  params,
  // projections through make.linear, dropout through ops/dropout, every leading axis a batch (engine/stack.ts)
  stackable: () => true,
  create(p, ctx, make) {
    const d = ctx.dModel;
    if (d % p.numHeads !== 0) throw new Error(`attention: d_model ${d} is not divisible by numHeads ${p.numHeads}`);
    const H = p.numHeads;
    const dh = d / H;
    const qkv = make.linear('Wqkv', d, 3 * d);
    const out = make.linear('out_proj', d, d, { std: make.outputStd });
    const scale = 1 / Math.sqrt(dh);

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const [q, k, v] = tf.split(qkv.apply(x), 3, 2);
          // ops/causalAttention: a fused flash-style kernel where one is registered (lever `attention`), else the
          // full [T, T] scores with the additive causal mask
          const rate = opts.training ? p.dropout : 0;
          const y = mergeHeads(causalAttention(splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), scale, rate, opts.dropoutSeed ?? 0));
          return out.apply(y) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { keys: tf.zeros([batch, ctx.maxSeqLen, d]), values: tf.zeros([batch, ctx.maxSeqLen, d]) };
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const B = x.shape[0];
          const L = ctx.maxSeqLen;
          if (position >= L) throw new Error(`attention: position ${position} beyond the KV cache (${L})`);
          const [q, k, v] = tf.split(qkv.apply(x), 3, 1);
          // write row `position` of the cache
          const slot = tf.oneHot(tf.tensor1d([position], 'int32'), L).reshape([1, L, 1]);
          const keys = tf.add(tf.mul(state.keys, tf.sub(1, slot)), tf.mul(slot, k.reshape([B, 1, d])));
          const values = tf.add(tf.mul(state.values, tf.sub(1, slot)), tf.mul(slot, v.reshape([B, 1, d])));
          const qh = q.reshape([B, H, 1, dh]);
          const kh = keys.reshape([B, L, H, dh]).transpose([0, 2, 1, 3]);
          const vh = values.reshape([B, L, H, dh]).transpose([0, 2, 1, 3]);
          const visible = tf.less(tf.range(0, L, 1, 'int32'), position + 1).reshape([1, 1, 1, L]);
          const scores = tf.where(visible, tf.mul(tf.matMul(qh, kh, false, true), scale), tf.fill([1, 1, 1, L], -1e9));
          const y = tf.matMul(tf.softmax(scores), vh).reshape([B, d]);
          return { y: out.apply(y) as tf.Tensor2D, state: { keys, values } };
        });
      },
    };
  },
  stateFloats(_p, ctx) {
    const floats = 2 * ctx.dModel * ctx.maxSeqLen;
    return { measured: floats, paper: floats };
  },
});
