// Gated DeltaNet beyond the generic suite (tests/mixers.test.ts): the chunked gated delta rule against its per-token
// recurrence (values, gradients, finite differences), its two limits (g = 0 is DeltaNet's delta rule; very strong
// forgetting stays finite), the state sizes in both conventions, hyperparameter validation and fla's gate init.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import gatedDeltaNetDef from '../architectures/gatedDeltaNet.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { deltaRuleChunked } from '../ops/deltaRule/index.js';
import { gatedDeltaRuleChunked, gatedDeltaRuleNaive } from '../ops/gatedDeltaRule/index.js';
import { UserInputError } from '../engine/errors.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend, worstFiniteDifference } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const l2 = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));

/** The mixer's inputs to the op: q, k L2-normalised (q scaled), β ∈ (0, 1), g = −softplus(·) ≤ 0. */
function inputs(B: number, H: number, T: number, dk: number, dv: number, seed: number) {
  return {
    q: tf.mul(l2(randn([B, H, T, dk], seed)), dk ** -0.5) as tf.Tensor4D,
    k: l2(randn([B, H, T, dk], seed + 1)) as tf.Tensor4D,
    v: randn([B, H, T, dv], seed + 2) as tf.Tensor4D,
    beta: tf.sigmoid(randn([B, H, T], seed + 3)) as tf.Tensor3D,
    g: tf.neg(tf.softplus(randn([B, H, T], seed + 4, 1.5))) as tf.Tensor3D,
  };
}

describe('gated delta rule: chunked WY form == per-token recurrence', () => {
  it.each([
    [1, 4],
    [7, 4],
    [8, 4],
    [13, 8],
    [20, 32],
  ])('T = %i, chunk %i: outputs agree to 1e-5, gradients of q, k, v, β, g to 1e-4', async (T, chunk) => {
    const [B, H, dk, dv] = [2, 2, 4, 3];
    const { q, k, v, beta, g } = inputs(B, H, T, dk, dv, 1);
    const fast = gatedDeltaRuleChunked(q, k, v, beta, g, chunk);
    expect(fast.shape).toEqual([B, H, T, dv]);
    expect(await relativeError(fast, gatedDeltaRuleNaive(q, k, v, beta, g))).toBeLessThan(1e-5);

    const w = randn([B, H, T, dv], 9);
    const lossOf = (f: typeof gatedDeltaRuleNaive) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, d as tf.Tensor3D, e as tf.Tensor3D), w));
    const gFast = tf.grads(lossOf((a, b, c, d, e) => gatedDeltaRuleChunked(a, b, c, d, e, chunk)))([q, k, v, beta, g]);
    const gRef = tf.grads(lossOf(gatedDeltaRuleNaive))([q, k, v, beta, g]);
    for (let i = 0; i < 5; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${'qkvβg'[i]}`).toBeLessThan(1e-4);
      if (T > 1 || i < 3) expect(tf.norm(gRef[i]!).dataSync()[0]!).toBeGreaterThan(1e-4);
    }
  });

  it('g = 0 is the delta rule (ops/deltaRule) to 1e-6', async () => {
    const { q, k, v, beta } = inputs(2, 2, 11, 4, 3, 21);
    const zero = tf.zeros([2, 2, 11]) as tf.Tensor3D;
    expect(await relativeError(gatedDeltaRuleChunked(q, k, v, beta, zero, 4), deltaRuleChunked(q, k, v, beta, 4))).toBeLessThan(1e-6);
  });

  it('the gate forgets: with β = 1, orthonormal keys and g = log ½ between writes, a recalled value halves per step', async () => {
    // write 8 under e_0 at t = 0, then two tokens with k = 0 (no write) and g = log ½; query e_0 at t = 2 → 8 · ¼
    const k = tf.tensor4d([1, 0, 0, 0, 0, 0], [1, 1, 3, 2]);
    const q = tf.tensor4d([1, 0, 1, 0, 1, 0], [1, 1, 3, 2]);
    const v = tf.tensor4d([8, 0, 0], [1, 1, 3, 1]);
    const beta = tf.ones([1, 1, 3]) as tf.Tensor3D;
    const g = tf.tensor3d([0, Math.log(0.5), Math.log(0.5)], [1, 1, 3]);
    const o = Array.from(await gatedDeltaRuleChunked(q, k, v, beta, g, 2).data());
    [8, 4, 2].forEach((e, i) => expect(o[i]!).toBeCloseTo(e, 5));
  });

  it('stays finite with very strong forgetting inside a chunk (g = −30 per token, Σ −960 over a chunk of 32)', async () => {
    const { q, k, v, beta } = inputs(1, 1, 32, 2, 2, 31);
    const g = tf.fill([1, 1, 32], -30) as tf.Tensor3D;
    const o = gatedDeltaRuleChunked(q, k, v, beta, g, 32);
    expect((await o.data()).every(Number.isFinite)).toBe(true);
    expect(await relativeError(o, gatedDeltaRuleNaive(q, k, v, beta, g))).toBeLessThan(1e-5);
    const [dg] = tf.grads((x: tf.Tensor) => tf.sum(gatedDeltaRuleChunked(q, k, v, beta, x as tf.Tensor3D, 32)))([g]);
    expect((await dg!.data()).every(Number.isFinite)).toBe(true);
  });

  it('has the right gradients of β and g by central finite differences (worst relative error < 1e-2)', async () => {
    const [B, H, T, dk, dv] = [1, 1, 6, 3, 2];
    const { q, k, v, beta, g } = inputs(B, H, T, dk, dv, 41);
    const w = randn([B, H, T, dv], 42);
    const loss = (b: tf.Tensor3D, gg: tf.Tensor3D) => tf.sum(tf.mul(gatedDeltaRuleChunked(q, k, v, b, gg, 4), w));
    const [dBeta, dG] = tf.grads((b: tf.Tensor, gg: tf.Tensor) => loss(b as tf.Tensor3D, gg as tf.Tensor3D))([beta, g]);
    expect(await worstFiniteDifference(beta, dBeta!, (b) => loss(b as tf.Tensor3D, g), 1e-2)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(g, dG!, (gg) => loss(beta, gg as tf.Tensor3D), 1e-2)).toBeLessThan(1e-2);
  });
});

const gatedDeltaNet: MixerDefinition = gatedDeltaNetDef;

describe('gated-deltanet mixer', () => {
  const ctxOf = (dModel: number) => ({ dModel, maxSeqLen: 64, layerIndex: 0, nLayers: 2 });
  const stateOf = (raw: Record<string, unknown>, d: number) => gatedDeltaNet.stateFloats(resolveMixerParams(gatedDeltaNet, raw), ctxOf(d));

  it("state: paper = zoology's H·d_k·d_v; measured adds the q, k, v conv windows (2d + expandV·d)·(k − 1)", () => {
    // d 64, 4 heads: d_k 16, d_v 32 → 4·16·32 = 2048 = 2·64²/4; windows (64 + 64 + 128)·3 = 768
    expect(stateOf({}, 64)).toEqual({ paper: 2048, measured: 2816 });
    // 1 head, expandV 1: the whole d×d fast-weight matrix, as DeltaNet's
    expect(stateOf({ numHeads: 1, expandV: 1 }, 32)).toEqual({ paper: 1024, measured: 1024 + 96 * 3 });
  });

  it('hyperparameters are strict and validated', () => {
    expect(() => resolveMixerParams(gatedDeltaNet, { chunkSize: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(gatedDeltaNet, { convKernel: 1 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(gatedDeltaNet, { head_dim: 16 })).toThrow(UserInputError);
    expect(resolveMixerParams(gatedDeltaNet, {})).toMatchObject({ numHeads: 4, expandV: 2, convKernel: 4, outputGate: true });
    expect(() => stateOf({ numHeads: 3 }, 64)).toThrow(/divisible/);
    expect(() => stateOf({ expandV: 0.3 }, 16)).toThrow(/whole/);
  });

  it("init as fla: A = exp(A_log) ∈ (0, 16), softplus(dt_bias) ∈ [0.001, 0.1], no output gate when outputGate is false", async () => {
    const store = new ParamStore(3, 2);
    gatedDeltaNet.create(resolveMixerParams(gatedDeltaNet, { numHeads: 8 }), ctxOf(32), store.scope('t.gdn'));
    const byName = (part: string) => store.variables.find((v) => v.name.includes(part))!;
    const A = await tf.exp(byName('A_log')).data();
    expect(A.length).toBe(8);
    expect(Math.min(...A)).toBeGreaterThan(0);
    expect(Math.max(...A)).toBeLessThan(16);
    const dt = await tf.softplus(byName('dt_bias')).data();
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.001 * 0.999);
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * 1.001);
    expect(store.variables.some((v) => v.name.includes('g_proj'))).toBe(true);
    store.dispose();
    const plain = new ParamStore(3, 2);
    gatedDeltaNet.create(resolveMixerParams(gatedDeltaNet, { outputGate: false }), ctxOf(32), plain.scope('t.gdn'));
    expect(plain.variables.some((v) => v.name.includes('g_proj'))).toBe(false);
    plain.dispose();
  });
});
