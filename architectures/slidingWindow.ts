// Sliding-window softmax attention (zoology's SlidingAttn; BASED's window layers):
//   q, k, v = x W_qkv;  A_ij = softmax_j(q_i·k_j/√d_h) over i − w ≤ j ≤ i;  y = dropout(A) v W_o
// As zoology's mask (and flash-attn's window_size=(w, 0) used by BASED), a token sees itself and the w tokens
// before it. Recurrent view: a ring buffer of the previous w keys and values — the current token's own k, v
// come from its input — so the state is 2·d·w floats (capped at 2·d·L_s when the window exceeds the longest
// sequence: a window that long is plain causal attention and never needs more).
// Parallel form: a banded computation in blocks of w queries, each attending to its own block and the one
// before (O(T·w) instead of O(T²)); or (form 'masked') the full T×T scores with the band masked — the same function,
// in attention's few ops, which a host-bound step prefers at short T: unset, the form is 'masked' up to T =
// MASKED_FORM_UP_TO and 'blocked' beyond. `slidingWindowAttentionNaive` is the plain masked T×T reference.
import * as tf from '@tensorflow/tfjs';
import { dropout } from '../ops/dropout/index.js';
import { cachedConstant } from '../ops/shared/constants.js';
import { bandSoftmax, buildBandMask } from '../ops/causalSoftmax/index.js';
import { z } from 'zod';
import { causalMaskBias } from './attention.js';
import { defineMixer } from './mixer.js';
import { mergeHeads, splitHeads } from './nn.js';

export type SlidingWindowForm = 'blocked' | 'masked';

/**
 * Longest sequence for which an unset form is 'masked'. On an H200 at d 128, L 256 (bench/RESULTS.md "GLA fused, and
 * the B256 host wait, 2026-11-30"), masked against blocked: sliding window B64 4.9 vs 6.4 ms a step, B256 10.7 vs
 * 15.2; Scatterbrain 16.2 vs 23.0 and 23.1 vs 26.7. Longer sequences were not measured; the T² scores grow past the
 * band's T·w work there, so they keep the blocked form.
 */
export const MASKED_FORM_UP_TO = 256;

const params = z
  .object({
    windowSize: z.number().int().min(1).default(64).describe('w: a token attends to itself and the w tokens before it'),
    numHeads: z.number().int().min(1).default(1).describe('attention heads'),
    dropout: z.number().min(0).max(1).default(0.1).describe('dropout on attention weights'),
    // optional without a default, so that a config that does not name it keeps its run id (runners/config.ts runId
    // hashes the resolved params: a defaulted new key would rename every sliding-window run already recorded)
    form: z
      .enum(['blocked', 'masked'])
      .optional()
      .describe(`parallel form (unset: 'masked' for sequences up to ${MASKED_FORM_UP_TO} tokens, else 'blocked'): 'blocked' (blocks of w queries against their block and the one before, O(T·w)) or 'masked' (one T×T score matrix with the band masked, O(T²) but attention's few ops: for short sequences where a step is host-bound); the same function`),
  })
  .strict();

const NEG = -1e9;

/** Plain reference: q, k, v [B, H, T, dh] → softmax over the band, as a full T×T masked matrix. */
export function slidingWindowAttentionNaive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, window: number): tf.Tensor4D {
  return tf.tidy(() => {
    const T = q.shape[2];
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(q.shape[3])), buildBandMask(T, window));
    return tf.matMul(tf.softmax(scores), v) as tf.Tensor4D;
  });
}

/**
 * Additive mask [w, 2w] for the blocked form: query r of block n (position n·w + r) against key c of the
 * concatenation [block n−1, block n] (position (n−1)·w + c) is visible iff r ≤ c ≤ w + r.
 */
function blockMaskBias(window: number): tf.Tensor2D {
  return cachedConstant(`block-mask:${window}`, () => {
    const r = tf.range(0, window, 1, 'int32').reshape([window, 1]);
    const c = tf.range(0, 2 * window, 1, 'int32').reshape([1, 2 * window]);
    const visible = tf.logicalAnd(tf.greaterEqual(c, r), tf.lessEqual(c, tf.add(r, window)));
    return tf.where(visible, tf.zeros([window, 2 * window]), tf.fill([window, 2 * window], NEG)) as tf.Tensor2D;
  });
}

/** The parallel form a sequence of T tokens runs: the one asked for, else by MASKED_FORM_UP_TO. */
export function slidingWindowForm(T: number, form?: SlidingWindowForm): SlidingWindowForm {
  return form ?? (T <= MASKED_FORM_UP_TO ? 'masked' : 'blocked');
}

/**
 * Banded attention weights and values: q, k, v [B, H, T, dh] → y [B, H, T, dh] in O(T·w) (`form` 'blocked'), or
 * as one masked T×T matrix ('masked'; unset: slidingWindowForm). `dropAttention` is applied to the weights
 * (training dropout).
 */
export function slidingWindowAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, window: number, dropAttention: (a: tf.Tensor) => tf.Tensor = (a) => a, form?: SlidingWindowForm): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, H, T, dh] = q.shape;
    const scale = 1 / Math.sqrt(dh);
    if (window >= T - 1) {
      // the window covers every earlier token: plain causal attention
      const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), scale), causalMaskBias(T));
      return tf.matMul(dropAttention(tf.softmax(scores)), v) as tf.Tensor4D;
    }
    if (slidingWindowForm(T, form) === 'masked') {
      // the band masked out of the full matrix (ops/causalSoftmax's band form: one dispatch each way where fused)
      return tf.matMul(dropAttention(bandSoftmax(tf.matMul(q, k, false, true), scale, window)), v) as tf.Tensor4D;
    }
    const w = window;
    const N = Math.ceil(T / w);
    // Batch and heads merged, time padded to N·w: every tensor has rank ≤ 4 (wasm's rank-5 slices are slow).
    const BH = B * H;
    const qb = tf.pad(q.reshape([BH, T, dh]), [[0, 0], [0, N * w - T], [0, 0]]).reshape([BH, N, w, dh]);
    // keys of block n: [block n−1, block n] → [BH, N, 2w, dh]; block −1 is zero padding (masked below)
    const blockPairs = (t: tf.Tensor4D) => {
      const padded = tf.pad(t.reshape([BH, T, dh]), [[0, 0], [w, N * w - T], [0, 0]]); // [BH, (N+1)·w, dh]
      const previous = padded.slice([0, 0, 0], [BH, N * w, dh]).reshape([BH, N, w, dh]);
      const current = padded.slice([0, w, 0], [BH, N * w, dh]).reshape([BH, N, w, dh]);
      return tf.concat([previous, current], 2);
    };
    const kk = blockPairs(k);
    const vv = blockPairs(v);
    // block 0 has no block before it: hide its first w keys
    const firstBlock = tf.concat([tf.fill([1, w], NEG), tf.zeros([1, w])], 1).reshape([1, 1, 1, 2 * w]);
    const blockBias = N > 1 ? tf.concat([firstBlock, tf.zeros([1, N - 1, 1, 2 * w])], 1) : firstBlock;
    const scores = tf.add(tf.add(tf.mul(tf.matMul(qb, kk, false, true), scale), blockMaskBias(w)), blockBias);
    const y = tf.matMul(dropAttention(tf.softmax(scores)), vv).reshape([B, H, N * w, dh]);
    return y.slice([0, 0, 0, 0], [B, H, T, dh]) as tf.Tensor4D;
  });
}

export default defineMixer({
  name: 'sliding-window',
  description: 'sliding-window softmax attention (a token sees itself and w before it), ring-buffer state 2·d·w',
  params,
  // projections through make.linear, dropout through ops/dropout, every leading axis a batch (engine/stack.ts)
  stackable: () => true,
  create(p, ctx, make) {
    const d = ctx.dModel;
    if (d % p.numHeads !== 0) throw new Error(`sliding-window: d_model ${d} is not divisible by numHeads ${p.numHeads}`);
    const H = p.numHeads;
    const dh = d / H;
    const w = p.windowSize;
    const qkv = make.linear('Wqkv', d, 3 * d);
    const out = make.linear('out_proj', d, d, { std: make.outputStd });
    const scale = 1 / Math.sqrt(dh);
    // ring buffer of the previous S tokens' keys and values
    const S = Math.min(w, ctx.maxSeqLen);

    return {
      forward(x, opts) {
        return tf.tidy(() => {
          const [B, T] = x.shape;
          const [q, k, v] = tf.split(qkv.apply(x), 3, 2);
          const drop = opts.training && p.dropout > 0 ? (a: tf.Tensor) => dropout(a, p.dropout, opts.dropoutSeed ?? 0) : undefined;
          const y = slidingWindowAttention(splitHeads(q, H), splitHeads(k, H), splitHeads(v, H), w, drop, p.form);
          return out.apply(mergeHeads(y)) as tf.Tensor3D;
        });
      },
      initState(batch) {
        return { keys: tf.zeros([batch, S, d]), values: tf.zeros([batch, S, d]) };
      },
      step(state, x, position) {
        return tf.tidy(() => {
          const B = x.shape[0];
          if (S < w && position >= ctx.maxSeqLen) throw new Error(`sliding-window: position ${position} beyond the longest sequence (${ctx.maxSeqLen}) the buffer was sized for`);
          const [q, k, v] = tf.split(qkv.apply(x), 3, 1);
          // attend over the buffer (slots holding positions max(0, t−S) … t−1: slot s is filled iff s < t) and the token itself
          const keys = tf.concat([state.keys!, k.reshape([B, 1, d])], 1).reshape([B, S + 1, H, dh]).transpose([0, 2, 1, 3]);
          const values = tf.concat([state.values!, v.reshape([B, 1, d])], 1).reshape([B, S + 1, H, dh]).transpose([0, 2, 1, 3]);
          const filled = tf.concat([tf.less(tf.range(0, S, 1, 'int32'), position), tf.tensor1d([true], 'bool')], 0).reshape([1, 1, 1, S + 1]);
          const scores = tf.where(filled, tf.mul(tf.matMul(q.reshape([B, H, 1, dh]), keys, false, true), scale), tf.fill([1, 1, 1, S + 1], NEG));
          const y = tf.matMul(tf.softmax(scores), values).reshape([B, d]);
          // the token's k, v replace the oldest entry (position t − S)
          const slot = tf.cast(tf.equal(tf.range(0, S, 1, 'int32'), position % S), 'float32').reshape([1, S, 1]);
          const keep = tf.sub(1, slot);
          return {
            y: out.apply(y) as tf.Tensor2D,
            state: { keys: tf.add(tf.mul(state.keys!, keep), tf.mul(slot, k.reshape([B, 1, d]))), values: tf.add(tf.mul(state.values!, keep), tf.mul(slot, v.reshape([B, 1, d]))) },
          };
        });
      },
    };
  },
  stateFloats(p, ctx) {
    return { measured: 2 * ctx.dModel * Math.min(p.windowSize, ctx.maxSeqLen), paper: 2 * ctx.dModel * p.windowSize };
  },
});
