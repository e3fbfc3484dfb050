// Bounded-cache attention: causal softmax attention (zoology's MHA: q, k, v = x W_qkv; y = softmax(q kᵀ/√d_h) v W_o)
// whose KV cache holds at most C earlier tokens, under an eviction policy (ops/boundedCache/policy.ts):
//
//   y_t = Σ_{s ∈ cache_t ∪ {t}} softmax_s(q_t·k_s/√d_h) v_s W_o,     |cache_t| ≤ C
//
//   recency  evict the oldest: the last C tokens (= sliding-window attention, w = C)
//   sink     StreamingLLM (Xiao et al. 2023, arXiv 2309.17453): the first `sinkTokens` tokens stay, the rest by recency
//   h2o      H2O (Zhang et al. 2023, arXiv 2306.14048): evict the entry with the smallest accumulated attention
//            (Σ of the weights every query so far gave it), the `recentTokens` newest excepted; ties: the oldest
//
// Trained with the same selection as a causal mask (no gradient through the choice): the parallel forward computes
// H2O's evictions causally from its own attention scores and masks exactly what the cache would have dropped, so the
// step view (the cache itself) reproduces it. This puts KV-cache compression on the recall-vs-state axis of the
// recurrent mixers.
// State per layer: paper 2·d·C (keys and values); measured from the step view 2·d·min(C, L_s) for recency and sink
// (the slot of each position follows from the position), plus 2·H·min(C, L_s) for H2O (each entry's position and
// accumulated score). Init as attention (zoology's MHA): Wqkv N(0, 0.02) with bias, out_proj 0.02/√(2·n_layers).
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { dropout } from '../ops/dropout/index.js';
import { boundedCacheAttention, boundedCacheStep, initCache, type CachePolicy, type CacheState } from '../ops/boundedCache/index.js';
import { defineMixer, type MixerContext } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';

const params = z
  .object({
    cacheSize: z.number().int().min(1).default(64).describe('C: most earlier tokens the KV cache holds'),
    policy: z.enum(['recency', 'sink', 'h2o']).default('h2o').describe('eviction: recency (sliding window), sink (StreamingLLM: sinks + recency), h2o (accumulated attention + recent)'),
    sinkTokens: z.number().int().min(1).default(4).describe('sink: the first tokens never evicted (StreamingLLM: 4); < cacheSize'),
    recentTokens: z.number().int().min(1).optional().describe('h2o: the newest tokens never evicted (H2O: half the budget; default ⌈C/2⌉); ≤ cacheSize'),
    numHeads: z.number().int().min(1).default(1).describe('attention heads (H2O evicts per head)'),
    dropout: z.number().min(0).max(1).default(0.1).describe('dropout on attention weights'),
  })
  .strict()
  .refine((p) => p.policy !== 'sink' || p.sinkTokens < p.cacheSize, { message: 'sinkTokens must be smaller than cacheSize', path: ['sinkTokens'] })
  .refine((p) => p.recentTokens === undefined || p.recentTokens <= p.cacheSize, { message: 'recentTokens must not exceed cacheSize', path: ['recentTokens'] });

export type BoundedCacheParams = z.output<typeof params>;

export function cachePolicy(p: BoundedCacheParams): CachePolicy {
  return { kind: p.policy, size: p.cacheSize, sink: p.sinkTokens, recent: p.recentTokens ?? Math.ceil(p.cacheSize / 2) };
}

/** Slots the step view holds: C, or the longest sequence when that is shorter (such a cache never evicts). */
const slotsOf = (p: BoundedCacheParams, ctx: MixerContext) => Math.min(p.cacheSize, ctx.maxSeqLen);

export default defineMixer({
  name: 'bounded-cache',
  description: 'softmax attention with a KV cache of at most C tokens: eviction by recency, sink + recency (StreamingLLM) or H2O',
  params,
  create(p, ctx, make) {
    const d = ctx.dModel;
    if (d % p.numHeads !== 0) throw new Error(`bounded-cache: d_model ${d} is not divisible by numHeads ${p.numHeads}`);
    const H = p.numHeads;
    const dh = d / H;
    const policy = cachePolicy(p);
    const slots = slotsOf(p, ctx);
    const qkv = make.linear('Wqkv', d, 3 * d);
    const out = make.linear('out_proj', d, d, { std: make.outputStd });

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const [q, k, v] = tf.split(qkv.apply(x), 3, 2);
          const drop = opts.training && p.dropout > 0 ? (a: tf.Tensor) => dropout(a, p.dropout, opts.dropoutSeed ?? 0) : undefined;
          const y = boundedCacheAttention(splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), policy, drop);
          return out.apply(mergeHeads(y)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return initCache(batch, H, slots, dh, policy);
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const B = x.shape[0];
          const [q, k, v] = tf.split(qkv.apply(x), 3, 1).map((t) => t.reshape([B, H, dh]) as tf.Tensor3D);
          const r = boundedCacheStep(state as CacheState, q!, k!, v!, position, policy);
          return { y: out.apply(r.y.reshape([B, d])) as tf.Tensor2D, state: r.cache };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    const slots = slotsOf(p, ctx);
    const kv = 2 * ctx.dModel * slots;
    return { measured: p.policy === 'h2o' ? kv + 2 * p.numHeads * slots : kv, paper: 2 * ctx.dModel * p.cacheSize };
  },
});
