// Linear attention: the chunked causal op against zoology's cumulative-sum formula (forward and gradients,
// plus a finite-difference check), the non-causal form and the recurrent step against their definitions, every
// feature map through the mixer (step view == parallel forward, causality, gradients, state size), the
// non-causal switch, Hedgehog's distillation loss, hyperparameter validation and the state formulas.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import basedDef from '../architectures/based.js';
import { FEATURE_MAPS, taylorFeatures, taylorKernel, type FeatureMapName } from '../architectures/featureMaps.js';
import linearAttentionDef from '../architectures/linearAttention.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import {
  causalLinearAttention,
  causalLinearAttentionNaive,
  linearAttentionNonCausal,
  linearAttentionState,
  linearAttentionStep,
  linearAttentionZeroState,
  type LinearAttentionState,
} from '../ops/linearAttention/index.js';
import { LanguageModel } from '../engine/model.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';
import { stepOutputs } from '../engine/mixerChecks.js';

// untyped views: parameters come from resolveMixerParams as records
const linearAttention = linearAttentionDef as MixerDefinition;
const based = basedDef as MixerDefinition;

beforeAll(async () => {
  await useBackend('cpu');
});

/** Positive features (as every feature map gives), so denominators stay away from 0. */
const positive = (shape: number[], seed: number) => tf.tidy(() => tf.add(tf.abs(randn(shape, seed)), 0.1)) as tf.Tensor4D;

describe('causal linear attention op', () => {
  const [B, H, T, F, dv] = [2, 2, 13, 5, 3];
  const q = positive([B, H, T, F], 1);
  const k = positive([B, H, T, F], 2);
  const v = randn([B, H, T, dv], 3) as tf.Tensor4D;
  const initial: LinearAttentionState = { kv: randn([B, H, F, dv], 4) as tf.Tensor4D, k: tf.abs(randn([B, H, F], 5)) as tf.Tensor3D };

  it.each([
    [1, false],
    [4, false],
    [5, true],
    [13, false],
    [64, true],
  ])('chunked (chunk %i, initial state %s) equals the naive cumulative-sum form, forward and gradients', async (chunkSize, withInitial) => {
    const init = withInitial ? initial : undefined;
    const chunked = causalLinearAttention(q, k, v, { chunkSize, initial: init });
    const naive = causalLinearAttentionNaive(q, k, v, { initial: init });
    expect(chunked.shape).toEqual([B, H, T, dv]);
    expect(await relativeError(chunked, naive)).toBeLessThan(1e-5);

    // gradients of a random linear functional, w.r.t. every input
    const w = randn([B, H, T, dv], 6);
    const loss = (impl: typeof causalLinearAttention) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, s: tf.Tensor, z: tf.Tensor) =>
      tf.sum(tf.mul(impl(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { chunkSize, initial: withInitial ? { kv: s as tf.Tensor4D, k: z as tf.Tensor3D } : undefined }), w));
    const inputs = withInitial ? [q, k, v, initial.kv, initial.k] : [q, k, v];
    const asArgs = (impl: typeof causalLinearAttention) => (...xs: tf.Tensor[]) => loss(impl)(xs[0]!, xs[1]!, xs[2]!, xs[3] ?? initial.kv, xs[4] ?? initial.k);
    const gChunked = tf.grads(asArgs(causalLinearAttention))(inputs);
    const gNaive = tf.grads(asArgs(causalLinearAttentionNaive))(inputs);
    for (let i = 0; i < (withInitial ? 5 : 3); i++) {
      expect(await relativeError(gChunked[i]!, gNaive[i]!), `gradient ${i}`).toBeLessThan(1e-4);
      expect(tf.norm(gNaive[i]!).dataSync()[0]!).toBeGreaterThan(0);
    }
  });

  it.each([3, 64])('chunk %i with the Taylor pair score (scores from q·k over f) equals the naive form on Taylor features, forward and gradients', async (chunkSize) => {
    const f = 4;
    const rq = randn([B, H, T, f], 7) as tf.Tensor4D;
    const rk = randn([B, H, T, f], 8) as tf.Tensor4D;
    const initial: LinearAttentionState = { kv: randn([B, H, 15, dv], 10) as tf.Tensor4D, k: tf.abs(randn([B, H, 15], 11)) as tf.Tensor3D };
    const run = (useScore: boolean) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
      const [fa, fb] = [taylorFeatures(a) as tf.Tensor4D, taylorFeatures(b) as tf.Tensor4D];
      return useScore
        ? causalLinearAttention(fa, fb, c as tf.Tensor4D, { chunkSize, initial, pairScore: { q: a as tf.Tensor4D, k: b as tf.Tensor4D, score: (qk) => taylorKernel(qk, f) } })
        : causalLinearAttentionNaive(fa, fb, c as tf.Tensor4D, { initial });
    };
    expect(await relativeError(run(true)(rq, rk, v), run(false)(rq, rk, v))).toBeLessThan(1e-5);
    const w = randn([B, H, T, dv], 9);
    const grads = (useScore: boolean) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(run(useScore)(a, b, c), w)))([rq, rk, v]);
    const [g1, g2] = [grads(true), grads(false)];
    for (let i = 0; i < 3; i++) expect(await relativeError(g1[i]!, g2[i]!), `gradient ${i}`).toBeLessThan(1e-4);
    expect(() => causalLinearAttention(taylorFeatures(rq) as tf.Tensor4D, taylorFeatures(rk) as tf.Tensor4D, v, { pairScore: { q: rq, k: rk.slice([0, 0, 0, 0], [B, H, T - 1, f]), score: (qk) => qk } })).toThrow(/pairScore/);
  });

  it.each([
    [1, 4, 'cross scores'],
    [4, 5, 'state'],
    [64, 4, 'state'],
  ])('shared keys (M %i, chunk %i: read as %s) equal the naive form with their state, forward and gradients', async (M, chunkSize) => {
    const ke = positive([B, H, M, F], 15);
    const ve = randn([B, H, M, dv], 16) as tf.Tensor4D;
    const run = (impl: typeof causalLinearAttention) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor, g: tf.Tensor) =>
      impl(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { chunkSize, initial, shared: { phiK: e as tf.Tensor4D, v: g as tf.Tensor4D } });
    expect(await relativeError(run(causalLinearAttention)(q, k, v, ke, ve), run(causalLinearAttentionNaive)(q, k, v, ke, ve))).toBeLessThan(1e-5);
    const w = randn([B, H, T, dv], 17);
    const grads = (impl: typeof causalLinearAttention) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor, g: tf.Tensor) => tf.sum(tf.mul(run(impl)(a, b, c, e, g), w)))([q, k, v, ke, ve]);
    const [g1, g2] = [grads(causalLinearAttention), grads(causalLinearAttentionNaive)];
    for (let i = 0; i < 5; i++) expect(await relativeError(g1[i]!, g2[i]!), `gradient ${i}`).toBeLessThan(1e-4);
  });

  it('shared keys with the Taylor pair score (cross scores q·k_e over f) equal the naive form', async () => {
    const [f, M] = [4, 3];
    const [rq, rk, re] = [randn([B, H, T, f], 18), randn([B, H, T, f], 19), randn([B, H, M, f], 20)] as tf.Tensor4D[];
    const ve = randn([B, H, M, dv], 21) as tf.Tensor4D;
    const run = (useScore: boolean) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => {
      const [fa, fb, fe] = [a, b, e].map((t) => taylorFeatures(t) as tf.Tensor4D);
      const shared = { phiK: fe!, v: ve, k: e as tf.Tensor4D };
      return useScore
        ? causalLinearAttention(fa!, fb!, c as tf.Tensor4D, { chunkSize: 5, shared, pairScore: { q: a as tf.Tensor4D, k: b as tf.Tensor4D, score: (qk) => taylorKernel(qk, f) } })
        : causalLinearAttentionNaive(fa!, fb!, c as tf.Tensor4D, { shared });
    };
    expect(await relativeError(run(true)(rq!, rk!, v, re!), run(false)(rq!, rk!, v, re!))).toBeLessThan(1e-5);
    const w = randn([B, H, T, dv], 22);
    const grads = (useScore: boolean) => tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(run(useScore)(a, b, c, e), w)))([rq!, rk!, v, re!]);
    const [g1, g2] = [grads(true), grads(false)];
    for (let i = 0; i < 4; i++) expect(await relativeError(g1[i]!, g2[i]!), `gradient ${i}`).toBeLessThan(1e-4);
  });

  it('matches the definition y_i = Σ_{j≤i} φq_i·φk_j v_j / Σ_{j≤i} φq_i·φk_j computed in plain JavaScript', async () => {
    const y = (await causalLinearAttention(q, k, v, { chunkSize: 4 }).array()) as number[][][][];
    const [qa, ka, va] = (await Promise.all([q.array(), k.array(), v.array()])) as number[][][][][];
    let worst = 0;
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < T; i++) {
          let den = 0;
          const num = new Array(dv).fill(0);
          for (let j = 0; j <= i; j++) {
            let a = 0;
            for (let f = 0; f < F; f++) a += qa![b]![h]![i]![f]! * ka![b]![h]![j]![f]!;
            den += a;
            for (let c = 0; c < dv; c++) num[c] += a * va![b]![h]![j]![c]!;
          }
          for (let c = 0; c < dv; c++) worst = Math.max(worst, Math.abs(num[c] / den - y[b]![h]![i]![c]!));
        }
    expect(worst).toBeLessThan(1e-5);
  });

  it('passes a finite-difference gradient check (cpu, float32, central differences)', () => {
    const [b, h, t, f, d] = [1, 1, 6, 3, 2];
    const q0 = positive([b, h, t, f], 11);
    const k0 = positive([b, h, t, f], 12);
    const v0 = randn([b, h, t, d], 13) as tf.Tensor4D;
    const w = randn([b, h, t, d], 14);
    const fn = (a: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => tf.sum(tf.mul(causalLinearAttention(a as tf.Tensor4D, c as tf.Tensor4D, e as tf.Tensor4D, { chunkSize: 4 }), w));
    const analytic = tf.grads(fn)([q0, k0, v0]).map((g) => g.dataSync());
    const inputs = [q0, k0, v0];
    const delta = 1e-2;
    for (let which = 0; which < 3; which++) {
      const base = inputs[which]!.dataSync();
      for (const idx of [0, Math.floor(base.length / 2), base.length - 1]) {
        const shifted = (sign: number) => {
          const copy = Float32Array.from(base);
          copy[idx]! += sign * delta;
          const args = inputs.map((x, i) => (i === which ? tf.tensor(copy, x.shape) : x));
          return fn(args[0]!, args[1]!, args[2]!).dataSync()[0]!;
        };
        const numeric = (shifted(1) - shifted(-1)) / (2 * delta);
        const exact = analytic[which]![idx]!;
        expect(Math.abs(numeric - exact), `input ${which}[${idx}]: numeric ${numeric} vs analytic ${exact}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(exact));
      }
    }
  });

  it('non-causal form equals the sums over the whole sequence; the state is those sums', async () => {
    const y = linearAttentionNonCausal(q, k, v, { initial });
    const state = linearAttentionState(k, v, initial);
    // the last position of the causal form sums over everything: every row of the non-causal form must equal
    // the causal form evaluated with all keys visible, i.e. φq_i·S_T / φq_i·z_T
    const expected = tf.div(tf.matMul(q, state.kv), tf.add(tf.matMul(q, state.k.expandDims(-1)), 1e-12));
    expect(await relativeError(y, expected)).toBeLessThan(1e-6);
    const lastCausal = causalLinearAttention(q, k, v, { initial }).slice([0, 0, T - 1, 0], [B, H, 1, dv]);
    expect(await relativeError(y.slice([0, 0, T - 1, 0], [B, H, 1, dv]), lastCausal)).toBeLessThan(1e-5);
    // and it is not causal: the first position sees the last key
    const first = y.slice([0, 0, 0, 0], [B, H, 1, dv]);
    const firstCausal = causalLinearAttention(q, k, v, { initial }).slice([0, 0, 0, 0], [B, H, 1, dv]);
    expect(await relativeError(first, firstCausal)).toBeGreaterThan(1e-3);
  });

  it('the recurrent step reproduces the chunked form token by token', async () => {
    let state = linearAttentionZeroState(B, H, F, dv);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const at = (x: tf.Tensor4D) => x.slice([0, 0, t, 0], [B, H, 1, x.shape[3]]).squeeze([2]) as tf.Tensor3D;
      const out = linearAttentionStep(state, at(q), at(k), at(v));
      ys.push(out.y);
      state = out.state;
    }
    expect(await relativeError(tf.stack(ys, 2), causalLinearAttention(q, k, v, { chunkSize: 4 }))).toBeLessThan(1e-5);
    const full = linearAttentionState(k, v);
    expect(await relativeError(state.kv, full.kv)).toBeLessThan(1e-5);
    expect(await relativeError(state.k, full.k)).toBeLessThan(1e-5);
  });

  it('rejects mismatched shapes', () => {
    expect(() => causalLinearAttention(q, k.slice([0, 0, 0, 0], [B, H, T - 1, F]), v)).toThrow(/φk/);
    expect(() => causalLinearAttention(q, k, v, { initial: { kv: initial.kv, k: tf.zeros([B, H, F + 1]) as tf.Tensor3D } })).toThrow(/initial z/);
  });
});

// ------------------------------------------------------------------------------------------------- mixers

const [B, T, D] = [2, 9, 16];

let built = 0;
function build(def: MixerDefinition, raw: Record<string, unknown>, maxSeqLen = T) {
  const store = new ParamStore(3, 2);
  built += 1;
  const params = resolveMixerParams(def, raw);
  const ctx = { dModel: D, maxSeqLen, layerIndex: 0, nLayers: 2 };
  const mixer = def.create(params, ctx, store.scope(`t${built}.${def.name}`));
  return { store, params, ctx, mixer };
}

async function stepMatchesParallel(def: MixerDefinition, raw: Record<string, unknown>): Promise<number> {
  const { mixer, store } = build(def, raw);
  const x = randn([B, T, D], 21) as tf.Tensor3D;
  const parallel = mixer.forward(x, { training: false });
  const ys = stepOutputs(mixer, x);
  const err = await relativeError(tf.stack(ys, 1), parallel);
  store.dispose();
  return err;
}

/** Larger input scale so the feature maps leave their near-constant regime. */
const featureParams = (featureMap: FeatureMapName) => ({ featureMap, featureDim: 4, numHeads: 2, randomFeatures: 12 });

describe.each(FEATURE_MAPS.map((m) => [m] as const))('linear-attention with featureMap %s', (featureMap) => {
  it('step view reproduces the parallel forward', async () => {
    expect(await stepMatchesParallel(linearAttention, featureParams(featureMap))).toBeLessThan(2e-4);
  });

  it('is causal and reads its input', async () => {
    const { mixer, store } = build(linearAttention, featureParams(featureMap));
    const x = randn([B, T, D], 22);
    const y = await mixer.forward(x as tf.Tensor3D, { training: false }).array();
    const t = 4;
    const bump = tf.tensor3d(Array.from({ length: B * T * D }, (_, i) => (Math.floor(i / D) % T === t ? 2 : 0)), [B, T, D]);
    const y2 = await mixer.forward(tf.add(x, bump) as tf.Tensor3D, { training: false }).array();
    let before = 0;
    let after = 0;
    for (let b = 0; b < B; b++)
      for (let s = 0; s < T; s++)
        for (let c = 0; c < D; c++) {
          const diff = Math.abs(y2[b]![s]![c]! - y[b]![s]![c]!);
          if (s < t) before = Math.max(before, diff);
          else after = Math.max(after, diff);
        }
    expect(before).toBeLessThan(1e-6);
    expect(after).toBeGreaterThan(1e-7);
    store.dispose();
  });

  it('holds (d + H)·F floats and sends gradients to every parameter', () => {
    const { mixer, params, ctx, store } = build(linearAttention, featureParams(featureMap));
    const held = Object.values(mixer.initState(1)).reduce((n, t) => n + t.size, 0);
    const F = { taylor: 1 + 4 + 10, poselu: 4, relu: 4, performer: 12, cosformer: 8, hedgehog: 8 }[featureMap];
    expect(held).toBe((D + 2) * F);
    expect(linearAttention.stateFloats(params, ctx)).toEqual({ measured: (D + 2) * F, paper: (D + 2) * F });
    const x = randn([B, T, D], 23) as tf.Tensor3D;
    const target = randn([B, T, D], 24);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(mixer.forward(x, { training: true }), target))) as tf.Scalar, store.variables);
    expect(store.variables.length).toBe(featureMap === 'hedgehog' ? 8 : 4);
    for (const v of store.variables) expect(tf.norm(grads[v.name]!).dataSync()[0]!, v.name).toBeGreaterThan(0);
    store.dispose();
  });
});

describe('linear-attention hyperparameters and variants', () => {
  it('defaults are BASED\'s Taylor map, f 16, 1 head, causal', () => {
    const p = resolveMixerParams(linearAttention, {});
    expect(p).toMatchObject({ featureMap: 'taylor', featureDim: 16, numHeads: 1, causal: true });
    expect(resolveMixerParams(based, {})).toEqual({ featureDim: 16, numHeads: 1, causal: true });
  });

  it('rejects bad values with clear messages', () => {
    expect(() => resolveMixerParams(linearAttention, { featureDim: 0 })).toThrow(/featureDim/);
    expect(() => resolveMixerParams(linearAttention, { featureMap: 'softmax' })).toThrow(/featureMap/);
    expect(() => resolveMixerParams(linearAttention, { feature_dim: 8 })).toThrow(/feature_dim|Unrecognized/);
    expect(() => resolveMixerParams(based, { featureMap: 'relu' })).toThrow(/featureMap|Unrecognized/);
    expect(() => build(linearAttention, { numHeads: 3 })).toThrow('linear-attention: d_model 16 is not divisible by numHeads 3');
    expect(() => build(based, { numHeads: 5 })).toThrow('based: d_model 16 is not divisible by numHeads 5');
  });

  it('causal: false reads the whole input (isCausal), equals the explicit sums and has no step view', async () => {
    const raw = { featureDim: 4, numHeads: 2, causal: false };
    const params = resolveMixerParams(linearAttention, raw);
    expect(linearAttention.isCausal!(params)).toBe(false);
    expect(linearAttention.isCausal!(resolveMixerParams(linearAttention, {}))).toBe(true);
    const { mixer, store } = build(linearAttention, raw);
    const x = randn([B, T, D], 25) as tf.Tensor3D;
    const y = mixer.forward(x, { training: false });
    // the first output changes when the last token does
    const bumped = tf.concat([x.slice([0, 0, 0], [B, T - 1, D]), tf.add(x.slice([0, T - 1, 0], [B, 1, D]), 3)], 1) as tf.Tensor3D;
    const y2 = mixer.forward(bumped, { training: false });
    expect(await relativeError(y2.slice([0, 0, 0], [B, 1, D]), y.slice([0, 0, 0], [B, 1, D]))).toBeGreaterThan(1e-6);
    // and a causal layer with the same weights agrees at the last position only
    const causal = build(linearAttention, { featureDim: 4, numHeads: 2 });
    const yc = causal.mixer.forward(x, { training: false });
    expect(await relativeError(yc.slice([0, T - 1, 0], [B, 1, D]), y.slice([0, T - 1, 0], [B, 1, D]))).toBeLessThan(1e-5);
    expect(await relativeError(yc.slice([0, 0, 0], [B, 1, D]), y.slice([0, 0, 0], [B, 1, D]))).toBeGreaterThan(1e-6);
    expect(() => mixer.step(mixer.initState(B), x.slice([0, 0, 0], [B, 1, D]).reshape([B, D]) as tf.Tensor2D, 0)).toThrow(/no recurrent step view/);
    store.dispose();
    causal.store.dispose();
  });

  it('a long sequence (several chunks) still steps like the parallel form', async () => {
    const { mixer, store } = build(linearAttention, { featureDim: 3, numHeads: 1 }, 70);
    const x = randn([1, 70, D], 26) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    const ys = stepOutputs(mixer, x);
    expect(await relativeError(tf.stack(ys, 1), parallel)).toBeLessThan(2e-4);
    store.dispose();
  });

  it('Hedgehog distillation: its auxiliary objective after a training forward, trains only the feature-map MLPs', async () => {
    const { mixer, store } = build(linearAttention, { featureMap: 'hedgehog', featureDim: 4, numHeads: 2, distillWeight: 0.5 });
    const x = randn([B, T, D], 27, 8) as tf.Tensor3D;
    // the step's batch and the model's outputs: Hedgehog's objective reads neither (its loss comes from its forward)
    const batch = { tokens: new Int32Array(B * T), batchSize: B, seqLen: T, prefixLength: 0, seed: 1 };
    const outputs = { hidden: tf.zeros([B * T, D]) as tf.Tensor2D, crossEntropy: () => tf.scalar(0) };
    const auxLoss = (m: typeof mixer) => m.auxObjective!(batch)?.loss(outputs);
    mixer.forward(x, { training: false });
    expect(auxLoss(mixer)).toBeUndefined();
    const { value, grads } = tf.variableGrads(() => {
      const objective = mixer.auxObjective!(batch)!;
      mixer.forward(x, { training: true });
      return objective.loss(outputs) as tf.Scalar;
    }, store.variables);
    // a cross-entropy of row distributions: ≥ the teacher's entropy > 0
    expect(value.dataSync()[0]!).toBeGreaterThan(0);
    for (const v of store.variables) {
      const g = grads[v.name];
      const norm = g ? tf.norm(g).dataSync()[0]! : 0;
      if (v.name.includes('feature_map')) expect(norm, v.name).toBeGreaterThan(0);
      else expect(norm, v.name).toBe(0);
    }
    // off by default
    const plain = build(linearAttention, { featureMap: 'hedgehog', featureDim: 4, numHeads: 2 });
    plain.mixer.forward(x, { training: true });
    expect(plain.mixer.auxObjective!(batch)).toBeUndefined();
    store.dispose();
    plain.store.dispose();
  });
});

describe('state size, paper convention (zoology: (d + H)·F per layer)', () => {
  const ctx = (dModel: number) => ({ dModel, maxSeqLen: 1024, layerIndex: 0, nLayers: 2 });
  it.each([
    [64, 16, 1, 9945],
    [128, 8, 1, 5805],
    [48, 24, 1, 15925],
  ])('Based d=%i f=%i H=%i → %i floats (hand-computed (d+H)·(1+f+f(f+1)/2))', (d, f, H, floats) => {
    expect(based.stateFloats(resolveMixerParams(based, { featureDim: f, numHeads: H }), ctx(d))).toEqual({ measured: floats, paper: floats });
    expect(linearAttention.stateFloats(resolveMixerParams(linearAttention, { featureMap: 'taylor', featureDim: f, numHeads: H }), ctx(d)).paper).toBe(floats);
  });

  it('other feature maps: F = f (poselu, relu), 2f (cosformer, hedgehog), m (performer)', () => {
    const paper = (raw: Record<string, unknown>) => linearAttention.stateFloats(resolveMixerParams(linearAttention, raw), ctx(64)).paper;
    expect(paper({ featureMap: 'relu', featureDim: 16 })).toBe(65 * 16);
    expect(paper({ featureMap: 'poselu', featureDim: 16, numHeads: 4 })).toBe(68 * 16);
    expect(paper({ featureMap: 'cosformer', featureDim: 16 })).toBe(65 * 32);
    expect(paper({ featureMap: 'hedgehog', featureDim: 8 })).toBe(65 * 16);
    expect(paper({ featureMap: 'performer', featureDim: 16, randomFeatures: 256 })).toBe(65 * 256);
  });

  it('a model of two Based layers reports both layers', async () => {
    const model = new LanguageModel({ vocabSize: 32, dModel: 64, nLayers: 2, maxSeqLen: 16, layers: [{ mixer: 'based' }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 0 });
    expect(model.stateFloats()).toEqual({ measured: 2 * 9945, paper: 2 * 9945 });
    model.dispose();
  });
});

describe('no tensor leaks', () => {
  it.each([
    ['linear-attention', { featureDim: 3, numHeads: 2 }],
    ['linear-attention', { featureMap: 'hedgehog', featureDim: 3, numHeads: 2, distillWeight: 1 }],
    ['linear-attention', { featureMap: 'performer', featureDim: 3, randomFeatures: 5 }],
    ['based', { featureDim: 3 }],
  ] as const)('%s %j: forward and step leave no tensors behind', (name, raw) => {
    const def = name === 'based' ? based : linearAttention;
    const { mixer, store } = build(def, raw);
    const x = randn([B, T, D], 30) as tf.Tensor3D;
    const x0 = x.slice([0, 0, 0], [B, 1, D]).reshape([B, D]) as tf.Tensor2D;
    const run = () => {
      mixer.forward(x, { training: true }).dispose();
      mixer.forward(x, { training: false }).dispose();
      const state = mixer.initState(B);
      const out = mixer.step(state, x0, 0);
      for (const t of [...Object.values(state), ...Object.values(out.state), out.y]) t.dispose();
    };
    run(); // caches (masks, selectors) fill on first use
    const before = tf.memory().numTensors;
    run();
    run();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });
});
