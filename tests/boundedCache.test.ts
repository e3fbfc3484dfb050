// Bounded-cache attention beyond the generic suite (tests/mixers.test.ts runs it with H2O): what each eviction policy
// keeps, on hand-made scores; the parallel masked form == the cache stepped token by token (values, gradients,
// central finite differences) for every policy; recency == sliding-window attention, a cache as long as the sequence
// == causal attention; the generic checks for recency and sink too; state sizes and hyperparameters.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import boundedCacheDef, { cachePolicy } from '../architectures/boundedCache.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { causalMaskBias } from '../architectures/attention.js';
import { slidingWindowAttentionNaive } from '../architectures/slidingWindow.js';
import { boundedCacheAttention, boundedCacheNaive, h2oVisible, staticVisible, type CachePolicy } from '../ops/boundedCache/index.js';
import { MIXER_CHECKS, runMixerCheck } from '../engine/mixerChecks.js';
import { UserInputError } from '../engine/errors.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend, worstFiniteDifference } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const boundedCache: MixerDefinition = boundedCacheDef;
const policy = (kind: CachePolicy['kind'], size: number, extra: Partial<CachePolicy> = {}): CachePolicy => ({ kind, size, sink: 1, recent: 1, ...extra });
const seen = (visible: (s: number) => boolean, t: number) => Array.from({ length: t + 1 }, (_, s) => s).filter(visible);

describe('what each policy keeps (C = 2, the query at t = 5)', () => {
  // scores: every query attends strongly to token 1 (score 10), all else 0
  const T = 6;
  const scores = new Float32Array(T * T);
  for (let t = 1; t < T; t++) scores[t * T + 1] = 10;

  it('recency: the last C tokens, {3, 4} and itself', () => {
    expect(seen((s) => staticVisible(policy('recency', 2), 5, s), 5)).toEqual([3, 4, 5]);
  });
  it('sink (1 sink): token 0 and the last C − 1, {0, 4} and itself', () => {
    expect(seen((s) => staticVisible(policy('sink', 2), 5, s), 5)).toEqual([0, 4, 5]);
  });
  it('h2o (recent 1): the heavy hitter 1 stays, the newest earlier token beside it: {1, t − 1} and itself, at every t ≥ 3', () => {
    const visible = new Uint8Array(T * T);
    h2oVisible(policy('h2o', 2), scores, T, visible);
    for (let t = 3; t < T; t++) expect(seen((s) => visible[t * T + s] === 1, t)).toEqual([1, t - 1, t]);
    // t = 2 still sees the full cache {0, 1} (the first eviction, of token 0, follows its step); before that everything
    expect(seen((s) => visible[2 * T + s] === 1, 2)).toEqual([0, 1, 2]);
    expect(seen((s) => visible[T + s] === 1, 1)).toEqual([0, 1]);
  });
  it('h2o with recent = C is recency', () => {
    const visible = new Uint8Array(T * T);
    h2oVisible(policy('h2o', 2, { recent: 2 }), scores, T, visible);
    expect(seen((s) => visible[5 * T + s] === 1, 5)).toEqual([3, 4, 5]);
  });
});

describe('parallel masked form == the cache stepped token by token', () => {
  it.each([
    ['recency', 3, {}],
    ['sink', 4, { sink: 2 }],
    ['sink', 3, { sink: 1 }],
    ['h2o', 3, { recent: 1 }],
    ['h2o', 5, { recent: 2 }],
    ['h2o', 4, { recent: 4 }],
  ] as const)('%s C = %i %o: T = 13, 2 heads: outputs agree to 1e-5, gradients of q, k, v to 1e-4', async (kind, size, extra) => {
    const p = policy(kind, size, extra);
    const [B, H, T, dh] = [2, 2, 13, 4];
    const q = randn([B, H, T, dh], 1, 1.5) as tf.Tensor4D;
    const k = randn([B, H, T, dh], 2, 1.5) as tf.Tensor4D;
    const v = randn([B, H, T, dh], 3) as tf.Tensor4D;
    expect(await relativeError(boundedCacheAttention(q, k, v, p), boundedCacheNaive(q, k, v, p))).toBeLessThan(1e-5);
    const w = randn([B, H, T, dh], 4);
    const lossOf = (f: (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D), w));
    const gPar = tf.grads(lossOf((a, b, c) => boundedCacheAttention(a, b, c, p)))([q, k, v]);
    const gRef = tf.grads(lossOf((a, b, c) => boundedCacheNaive(a, b, c, p)))([q, k, v]);
    for (let i = 0; i < 3; i++) expect(await relativeError(gPar[i]!, gRef[i]!), `gradient ${'qkv'[i]}`).toBeLessThan(1e-4);
  });

  it('h2o evicts differently from recency on these inputs (the test above is not recency in disguise)', async () => {
    const q = randn([2, 2, 13, 4], 1, 1.5) as tf.Tensor4D;
    const k = randn([2, 2, 13, 4], 2, 1.5) as tf.Tensor4D;
    const v = randn([2, 2, 13, 4], 3) as tf.Tensor4D;
    expect(await relativeError(boundedCacheAttention(q, k, v, policy('h2o', 3)), boundedCacheAttention(q, k, v, policy('recency', 3)))).toBeGreaterThan(1e-2);
  });

  it('recency == sliding-window attention with w = C; C ≥ T == causal attention (1e-6)', async () => {
    const q = randn([1, 2, 11, 4], 5) as tf.Tensor4D;
    const k = randn([1, 2, 11, 4], 6) as tf.Tensor4D;
    const v = randn([1, 2, 11, 4], 7) as tf.Tensor4D;
    expect(await relativeError(boundedCacheAttention(q, k, v, policy('recency', 3)), slidingWindowAttentionNaive(q, k, v, 3))).toBeLessThan(1e-6);
    const causal = tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 0.5), causalMaskBias(11))), v);
    for (const kind of ['recency', 'sink', 'h2o'] as const) expect(await relativeError(boundedCacheAttention(q, k, v, policy(kind, 11)), causal)).toBeLessThan(1e-6);
  });

  it('h2o: gradients of q and k by central finite differences (the selection held fixed by small steps; worst < 1e-2)', async () => {
    const p = policy('h2o', 3);
    const [q, k, v] = [randn([1, 1, 8, 2], 11) as tf.Tensor4D, randn([1, 1, 8, 2], 12) as tf.Tensor4D, randn([1, 1, 8, 2], 13) as tf.Tensor4D];
    const w = randn([1, 1, 8, 2], 14);
    const loss = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.sum(tf.mul(boundedCacheAttention(a, b, v, p), w));
    const [dq, dk] = tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a as tf.Tensor4D, b as tf.Tensor4D))([q, k]);
    expect(await worstFiniteDifference(q, dq!, (x) => loss(x as tf.Tensor4D, k), 1e-3)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(k, dk!, (x) => loss(q, x as tf.Tensor4D), 1e-3)).toBeLessThan(1e-2);
  });
});

describe('bounded-cache mixer', () => {
  it.each([
    ['recency', { policy: 'recency', cacheSize: 3 }],
    ['sink', { policy: 'sink', cacheSize: 4, sinkTokens: 2 }],
    ['h2o, default recent ⌈C/2⌉', { policy: 'h2o', cacheSize: 4 }],
  ])('passes the generic checks with %s (C < T = 8: the cache evicts)', (_name, raw) => {
    for (const c of MIXER_CHECKS) {
      const r = runMixerCheck(boundedCache, c.id, { params: { ...raw, numHeads: 2, dropout: 0 }, batch: 2, seqLen: 8, dModel: 16 });
      expect(r.status, `${r.check}: ${r.detail}`).toBe(c.id === 'aux' ? 'skip' : 'pass'); // no auxiliary objective
    }
  });

  it('state: paper 2·d·C; measured 2·d·min(C, L_s), + 2·H·min(C, L_s) for H2O (positions and scores)', () => {
    const stateOf = (raw: Record<string, unknown>, d: number, L: number) => boundedCache.stateFloats(resolveMixerParams(boundedCache, raw), { dModel: d, maxSeqLen: L, layerIndex: 0, nLayers: 2 });
    expect(stateOf({ policy: 'recency', cacheSize: 32 }, 64, 256)).toEqual({ paper: 4096, measured: 4096 });
    expect(stateOf({ policy: 'sink', cacheSize: 32 }, 64, 256)).toEqual({ paper: 4096, measured: 4096 });
    expect(stateOf({ policy: 'h2o', cacheSize: 32 }, 64, 256)).toEqual({ paper: 4096, measured: 4096 + 64 });
    expect(stateOf({ policy: 'h2o', cacheSize: 32, numHeads: 4 }, 64, 256)).toEqual({ paper: 4096, measured: 4096 + 256 });
    expect(stateOf({ policy: 'recency', cacheSize: 512 }, 64, 256)).toEqual({ paper: 65536, measured: 32768 }); // never evicts
  });

  it('hyperparameters are strict and validated; recent defaults to ⌈C/2⌉ (H2O splits its budget evenly)', () => {
    expect(() => resolveMixerParams(boundedCache, { policy: 'lru' })).toThrow(UserInputError);
    expect(() => resolveMixerParams(boundedCache, { cacheSize: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(boundedCache, { policy: 'sink', cacheSize: 4, sinkTokens: 4 })).toThrow(/sinkTokens/);
    expect(() => resolveMixerParams(boundedCache, { recentTokens: 65 })).toThrow(/recentTokens/);
    expect(() => resolveMixerParams(boundedCache, { window: 8 })).toThrow(UserInputError);
    expect(cachePolicy(resolveMixerParams(boundedCacheDef, { cacheSize: 7 }) as never)).toEqual({ kind: 'h2o', size: 7, sink: 4, recent: 4 });
  });
});
