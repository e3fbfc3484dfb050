// Mamba-2 beyond the generic suite (tests/mixers.test.ts): SSD's chunked form against its per-token recurrence (values,
// gradients, central finite differences), against GLA's chunked form with the gate broadcast over the key channels (the
// same recurrence, another code path), strong decay; the state sizes in both conventions, hyperparameters and init.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import mamba2Def from '../architectures/mamba2.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { glaChunked } from '../ops/gatedLinearAttention/index.js';
import { ssdChunked, ssdNaive } from '../ops/ssd/index.js';
import { UserInputError } from '../engine/errors.js';
import { ParamStore } from '../engine/params.js';
import { LanguageModel } from '../engine/model.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend, worstFiniteDifference } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const mamba2: MixerDefinition = mamba2Def;

/** c, b [B, H, T, N], v [B, H, T, P] (= Δx), a = Δ·A ≤ 0 [B, H, T]. */
function inputs(B: number, H: number, T: number, N: number, P: number, seed: number) {
  return {
    c: randn([B, H, T, N], seed) as tf.Tensor4D,
    b: randn([B, H, T, N], seed + 1) as tf.Tensor4D,
    v: randn([B, H, T, P], seed + 2) as tf.Tensor4D,
    a: tf.neg(tf.softplus(randn([B, H, T], seed + 3, 1.5))) as tf.Tensor3D,
  };
}

describe('SSD: chunked form == per-token recurrence', () => {
  it.each([
    [1, 4],
    [7, 4],
    [8, 4],
    [13, 8],
    [20, 32],
  ])('T = %i, chunk %i: outputs agree to 1e-5, gradients of c, b, v, a to 1e-4', async (T, chunk) => {
    const [B, H, N, P] = [2, 2, 3, 4];
    const { c, b, v, a } = inputs(B, H, T, N, P, 1);
    const fast = ssdChunked(c, b, v, a, chunk);
    expect(fast.shape).toEqual([B, H, T, P]);
    expect(await relativeError(fast, ssdNaive(c, b, v, a))).toBeLessThan(1e-5);

    const w = randn([B, H, T, P], 9);
    const lossOf = (f: typeof ssdNaive) => (x1: tf.Tensor, x2: tf.Tensor, x3: tf.Tensor, x4: tf.Tensor) => tf.sum(tf.mul(f(x1 as tf.Tensor4D, x2 as tf.Tensor4D, x3 as tf.Tensor4D, x4 as tf.Tensor3D), w));
    const gFast = tf.grads(lossOf((x1, x2, x3, x4) => ssdChunked(x1, x2, x3, x4, chunk)))([c, b, v, a]);
    const gRef = tf.grads(lossOf(ssdNaive))([c, b, v, a]);
    for (let i = 0; i < 4; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${'cbva'[i]}`).toBeLessThan(1e-4);
      if (T > 1 || i < 3) expect(tf.norm(gRef[i]!).dataSync()[0]!).toBeGreaterThan(1e-4);
    }
  });

  it("== GLA's chunked form with the scalar gate broadcast over the N key channels (1e-5)", async () => {
    const { c, b, v, a } = inputs(2, 2, 19, 3, 4, 11);
    const g = tf.tile(a.reshape([2, 2, 19, 1]), [1, 1, 1, 3]) as tf.Tensor4D;
    expect(await relativeError(ssdChunked(c, b, v, a, 8), glaChunked(c, b, v, g, 8))).toBeLessThan(1e-5);
  });

  it('stays finite with very strong decay inside a chunk (a = −30 per token, Σ −960 over a chunk of 32)', async () => {
    const { c, b, v } = inputs(1, 1, 32, 2, 2, 21);
    const a = tf.fill([1, 1, 32], -30) as tf.Tensor3D;
    const o = ssdChunked(c, b, v, a, 32);
    expect((await o.data()).every(Number.isFinite)).toBe(true);
    expect(await relativeError(o, ssdNaive(c, b, v, a))).toBeLessThan(1e-5);
    const [da] = tf.grads((x: tf.Tensor) => tf.sum(ssdChunked(c, b, v, x as tf.Tensor3D, 32)))([a]);
    expect((await da!.data()).every(Number.isFinite)).toBe(true);
  });

  it('has the right gradients of a and b by central finite differences (worst relative error < 1e-2)', async () => {
    const { c, b, v, a } = inputs(1, 1, 6, 2, 2, 31);
    const w = randn([1, 1, 6, 2], 32);
    const loss = (bb: tf.Tensor4D, aa: tf.Tensor3D) => tf.sum(tf.mul(ssdChunked(c, bb, v, aa, 4), w));
    const [db, da] = tf.grads((x: tf.Tensor, y: tf.Tensor) => loss(x as tf.Tensor4D, y as tf.Tensor3D))([b, a]);
    expect(await worstFiniteDifference(a, da!, (x) => loss(b, x as tf.Tensor3D), 1e-2)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(b, db!, (x) => loss(x as tf.Tensor4D, a), 1e-2)).toBeLessThan(1e-2);
  });
});

describe('mamba2 mixer', () => {
  const ctxOf = (dModel: number) => ({ dModel, maxSeqLen: 64, layerIndex: 0, nLayers: 2 });
  const stateOf = (raw: Record<string, unknown>, d: number) => mamba2.stateFloats(resolveMixerParams(mamba2, raw), ctxOf(d));

  it("state: paper = zoology's 2·d·N; measured = H·P·N (= E·N) + the conv window (E + 2N)·(k − 1)", () => {
    for (const d of [64, 128, 256])
      for (const N of [8, 16, 24]) expect(stateOf({ stateDim: N }, d)).toEqual({ paper: 2 * d * N, measured: 2 * d * N + (2 * d + 2 * N) * 3 });
    // d 64, defaults (N 128, headDim 64 → 2 heads): 2·64·128 = 16384; window (128 + 256)·3 = 1152
    expect(stateOf({}, 64)).toEqual({ paper: 16384, measured: 17536 });
  });

  it('hyperparameters are strict and validated', () => {
    expect(() => resolveMixerParams(mamba2, { stateDim: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(mamba2, { d_state: 16 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(mamba2, { dtMin: 0.2, dtMax: 0.1 })).toThrow(/dtMin/);
    expect(() => resolveMixerParams(mamba2, { chunkSize: 0 })).toThrow(UserInputError);
    expect(resolveMixerParams(mamba2, {})).toMatchObject({ stateDim: 128, headDim: 64, expand: 2, convKernel: 4 });
    expect(() => stateOf({ headDim: 48 }, 64)).toThrow(/divisible/);
  });

  it('init as mamba_ssm: A = exp(A_log) ∈ [1, 16] per head, softplus(dt_bias) ∈ [dtMin, dtMax], D = 1', async () => {
    const store = new ParamStore(3, 2);
    mamba2.create(resolveMixerParams(mamba2, { headDim: 4, stateDim: 8 }), ctxOf(32), store.scope('t.m2'));
    const byName = (part: string) => store.variables.find((v) => v.name.includes(part))!;
    const A = await tf.exp(byName('A_log')).data();
    expect(A.length).toBe(16); // E 64 / P 4
    expect(Math.min(...A)).toBeGreaterThanOrEqual(1 - 1e-5);
    expect(Math.max(...A)).toBeLessThanOrEqual(16 + 1e-4);
    const dt = await tf.softplus(byName('dt_bias')).data();
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.001 * 0.999);
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.1 * 1.001);
    expect(Array.from(await byName('.D_').data()).every((x) => x === 1)).toBe(true);
    expect(byName('in_proj').shape).toEqual([32, 2 * 64 + 2 * 8 + 16]);
    expect(byName('conv1d.weight').shape).toEqual([4, 64 + 16]);
    store.dispose();
  });

  it("block 'zoology': zoology's Mamba2Block — add → RMSNorm → mixer (no second norm) — and its 'Mamba' init (torch's U(±1/√fan_in) in_proj, out_proj U(±1/√(E·n_layers)))", async () => {
    const model = new LanguageModel({ vocabSize: 32, dModel: 32, nLayers: 2, maxSeqLen: 16, layers: [{ mixer: 'mamba2', params: { headDim: 4, stateDim: 8 } }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, block: 'zoology', seed: 4 });
    const names = model.variables.map((v) => v.name);
    expect(names.some((n) => n.includes('layer0.rms_norm.weight'))).toBe(true);
    expect(names.some((n) => n.includes('layer0.norm2'))).toBe(false);
    const maxAbs = async (part: string) => Math.max(...Array.from(await tf.abs(model.variables.find((v) => v.name.includes(part))!).data()));
    const inMax = await maxAbs('layer0.mamba2.in_proj.weight');
    expect(inMax).toBeLessThanOrEqual(1 / Math.sqrt(32));
    expect(inMax).toBeGreaterThan(0.9 / Math.sqrt(32)); // uniform up to the bound, not N(0, 0.02)
    const outMax = await maxAbs('layer0.mamba2.out_proj.weight');
    expect(outMax).toBeLessThanOrEqual(1 / Math.sqrt(64 * 2));
    expect(outMax).toBeGreaterThan(0.9 / Math.sqrt(64 * 2));
    model.dispose();
  });
});
