// Gated convolutions (BaseConv, H3, Hyena): the variants the generic suite (tests/mixers.test.ts) does not reach,
// hyperparameter validation, the non-causal BaseConv, state sizes of the presets' configs in both conventions, and
// the S4D kernel / implicit-filter building blocks.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import baseConv from '../architectures/baseConv.js';
import h3 from '../architectures/h3.js';
import hyena from '../architectures/hyena.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { UserInputError } from '../engine/errors.js';
import { LanguageModel } from '../engine/model.js';
import { stepOutputs } from '../engine/mixerChecks.js';
import { exponentialDecayWindow, positionalEmbedding } from '../ops/implicitFilter/index.js';
import { shortConv } from '../ops/shortConv/index.js';
import { s4dDiscretize, s4dKernel, s4dParams, s4dStep } from '../ops/ssmKernel/index.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';

const B = 2;
const T = 8;
const D = 16;

beforeAll(async () => {
  await useBackend('cpu');
});

function build(def: MixerDefinition, raw: Record<string, unknown>, ctx: { dModel?: number; maxSeqLen?: number } = {}) {
  const store = new ParamStore(3, 2);
  const params = resolveMixerParams(def, raw);
  const context = { dModel: ctx.dModel ?? D, maxSeqLen: ctx.maxSeqLen ?? T, layerIndex: 0, nLayers: 2 };
  const mixer = def.create(params, context, store.scope(`t.${def.name}`));
  return { store, params, context, mixer };
}

/** Runs the step view over x and stacks its outputs [B, T, d]. */
const stepThrough = (mixer: ReturnType<typeof build>['mixer'], x: tf.Tensor3D) => tf.stack(stepOutputs(mixer, x), 1) as tf.Tensor3D;

const VARIANTS: [string, MixerDefinition, Record<string, unknown>][] = [
  ['baseconv short k3', baseConv, {}],
  ['baseconv short k1, no residual', baseConv, { kernelSize: 1, residual: false }],
  ['baseconv long explicit', baseConv, { convType: 'long', filter: 'explicit' }],
  ['baseconv long implicit, no residual', baseConv, { convType: 'long', residual: false }],
  ['h3 head_dim 1, N 4', h3, { stateDim: 4 }],
  ['h3 head_dim 4, N 12 > L_s (shift taps cut to L_s)', h3, { stateDim: 12, headDim: 4 }],
  ['hyena default filter (64 wide)', hyena, {}],
  ['hyena no inner MLPs, 2-tap short conv, dropout', hyena, { innerMlps: 0, shortFilterOrder: 2, dropout: 0.5 }],
];

describe.each(VARIANTS)('%s', (_name, def, raw) => {
  it('step view reproduces the parallel forward; holds the declared measured state', async () => {
    const { mixer, params, context, store } = build(def, raw);
    const x = randn([B, T, D], 5) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    expect(await relativeError(stepThrough(mixer, x), parallel)).toBeLessThan(2e-4);
    const held = Object.values(mixer.initState(1)).reduce((n, t) => n + t.size, 0);
    expect(held).toBe(def.stateFloats(params, context).measured);
    store.dispose();
  });

  it('is causal and sends a gradient to every parameter', async () => {
    const { mixer, store } = build(def, raw);
    const x = randn([B, T, D], 6) as tf.Tensor3D;
    const y = mixer.forward(x, { training: false });
    const bumped = tf.add(x, tf.mul(tf.oneHot(tf.fill([B], T - 2, 'int32'), T).reshape([B, T, 1]), 2)) as tf.Tensor3D;
    const y2 = mixer.forward(bumped, { training: false });
    const diff = tf.abs(tf.sub(y2, y));
    expect((await diff.slice([0, 0, 0], [B, T - 2, D]).max().data())[0]).toBeLessThan(1e-5);
    expect((await diff.slice([0, T - 2, 0], [B, 2, D]).max().data())[0]).toBeGreaterThan(1e-4);
    const target = randn([B, T, D], 7);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(mixer.forward(x, { training: true, dropoutSeed: 3 }), target))) as tf.Scalar, store.variables);
    for (const v of store.variables) {
      const norm = (await tf.norm(grads[v.name]!).data())[0]!;
      expect(Number.isFinite(norm) && norm > 0, `gradient of ${v.name}: ${norm}`).toBe(true);
    }
    store.dispose();
  });
});

describe('non-causal BaseConv (JRT baseline)', () => {
  it.each([
    ['short', { causal: false }],
    ['long', { causal: false, convType: 'long' }],
  ] as const)('%s: the first output depends on the last token, and there is no step view', async (_n, raw) => {
    expect(baseConv.isCausal!(resolveMixerParams(baseConv, raw) as never)).toBe(false);
    expect(baseConv.isCausal!(resolveMixerParams(baseConv, { ...raw, causal: true }) as never)).toBe(true);
    const { mixer, store } = build(baseConv, raw);
    const x = randn([B, T, D], 8) as tf.Tensor3D;
    const bumped = tf.add(x, tf.mul(tf.oneHot(tf.fill([B], T - 1, 'int32'), T).reshape([B, T, 1]), 2)) as tf.Tensor3D;
    const first = tf.abs(tf.sub(mixer.forward(bumped, { training: false }), mixer.forward(x, { training: false }))).slice([0, 0, 0], [B, 1, D]);
    expect((await first.max().data())[0]).toBeGreaterThan(1e-4);
    expect(() => mixer.step(mixer.initState(B), tf.zeros([B, D]) as tf.Tensor2D, 0)).toThrow(/non-causal/);
    store.dispose();
  });

  it('short circular conv wraps: y[0] sees tokens T−2, T−1 (k = 3)', async () => {
    const { mixer, store } = build(baseConv, { causal: false, residual: false });
    const x = randn([1, T, D], 9) as tf.Tensor3D;
    const bump = (t: number) => tf.add(x, tf.mul(tf.oneHot(tf.tensor1d([t], 'int32'), T).reshape([1, T, 1]), 2)) as tf.Tensor3D;
    const y = mixer.forward(x, { training: false });
    const changeAt0 = async (t: number) => (await tf.abs(tf.sub(mixer.forward(bump(t), { training: false }), y)).slice([0, 0, 0], [1, 1, D]).max().data())[0]!;
    expect(await changeAt0(T - 1)).toBeGreaterThan(1e-4);
    expect(await changeAt0(T - 2)).toBeGreaterThan(1e-4);
    expect(await changeAt0(T - 3)).toBeLessThan(1e-6);
    store.dispose();
  });

  it('the circular short conv wraps more than once when k − 1 > T (shortConv fix)', async () => {
    const [b, t, d] = [2, 3, 2];
    const x = randn([b, t, d], 10) as tf.Tensor3D;
    for (const k of [1, 3, 4, 8]) {
      const w = randn([k, d], 11 + k) as tf.Tensor2D;
      const y = (await shortConv(x, w, undefined, { circular: true }).array()) as number[][][];
      const xa = (await x.array()) as number[][][];
      const wa = (await w.array()) as number[][];
      let err = 0;
      for (let e = 0; e < b; e++)
        for (let i = 0; i < t; i++)
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let j = 0; j < k; j++) s += wa[j]![c]! * xa[e]![(((i - (k - 1) + j) % t) + t) % t]![c]!;
            err = Math.max(err, Math.abs(s - y[e]![i]![c]!));
          }
      expect(err, `k ${k}`).toBeLessThan(1e-5);
    }
  });
});

describe('hyperparameters (zod, strict, defaults)', () => {
  it('fills the defaults', () => {
    expect(resolveMixerParams(baseConv, {})).toEqual({ convType: 'short', kernelSize: 3, filter: 'implicit', causal: true, residual: true });
    expect(resolveMixerParams(h3, {})).toEqual({ stateDim: 64, headDim: 1, dtMin: 1e-3, dtMax: 1e-1 });
    expect(resolveMixerParams(hyena, {})).toEqual({ filterOrder: 64, innerMlps: 2, shortFilterOrder: 3, dropout: 0 });
  });

  it.each([
    ['baseconv', { kernel: 3 }, /kernel/],
    ['baseconv', { convType: 'medium' }, /convType/],
    ['baseconv', { kernelSize: 0 }, /kernelSize/],
    ['baseconv', { filter: 'fft' }, /filter/],
    ['h3', { stateDim: 5 }, /even/],
    ['h3', { stateDim: 64, d_state: 64 }, /d_state/],
    ['h3', { dtMin: 0.5, dtMax: 0.1 }, /dtMin/],
    ['h3', { headDim: 0 }, /headDim/],
    ['hyena', { order: 2 }, /order/],
    ['hyena', { dropout: 1.5 }, /dropout/],
  ] as [string, Record<string, unknown>, RegExp][])('%s rejects %j', (name, raw, message) => {
    const def = { baseconv: baseConv, h3, hyena }[name]! as MixerDefinition;
    expect(() => resolveMixerParams(def, raw)).toThrow(UserInputError);
    expect(() => resolveMixerParams(def, raw)).toThrow(message);
  });

  it('h3 refuses a head_dim that does not divide d_model', () => {
    expect(() => build(h3, { stateDim: 4, headDim: 3 })).toThrow(/divisible/);
  });
});

describe('state size, both conventions (floats per layer; zoology × 4 bytes)', () => {
  const floats = (def: MixerDefinition, raw: Record<string, unknown>, dModel: number, maxSeqLen: number) =>
    def.stateFloats(resolveMixerParams(def, raw) as never, { dModel, maxSeqLen, layerIndex: 0, nLayers: 2 });

  it('based-fig2: Hyena d ∈ {64, 128, 256} at L_s = 1024 (paper d·L_s; measured + the 3d·2 short-conv window)', () => {
    expect(floats(hyena, {}, 64, 1024)).toEqual({ paper: 65_536, measured: 65_920 });
    expect(floats(hyena, {}, 128, 1024)).toEqual({ paper: 131_072, measured: 131_840 });
    expect(floats(hyena, {}, 256, 1024)).toEqual({ paper: 262_144, measured: 263_680 });
  });

  it('based-fig2: H3 N = d/4, head_dim 2 (paper d·N; measured + shift window d·(N−1), ×2 channels for head_dim 2)', () => {
    expect(floats(h3, { stateDim: 16, headDim: 2 }, 64, 1024)).toEqual({ paper: 1_024, measured: 3_008 });
    expect(floats(h3, { stateDim: 32, headDim: 2 }, 128, 1024)).toEqual({ paper: 4_096, measured: 12_160 });
    expect(floats(h3, { stateDim: 64, headDim: 2 }, 256, 1024)).toEqual({ paper: 16_384, measured: 48_896 });
  });

  it('zoology-fig2: H3 N = L (head_dim 2): the shift SSM then keeps L_s − 1 past keys', () => {
    expect(floats(h3, { stateDim: 64, headDim: 2 }, 64, 64)).toEqual({ paper: 4_096, measured: 12_224 });
    expect(floats(h3, { stateDim: 512, headDim: 2 }, 128, 512)).toEqual({ paper: 65_536, measured: 196_480 });
    expect(floats(h3, { stateDim: 512, headDim: 2 }, 512, 512)).toEqual({ paper: 262_144, measured: 785_920 });
  });

  it('BaseConv: short k3 d 128 → 384 (paper d·k), 256 measured (the k−1 window); long d 64 L_s 1024 → 65,536', () => {
    expect(floats(baseConv, { kernelSize: 3 }, 128, 1024)).toEqual({ paper: 384, measured: 256 });
    expect(floats(baseConv, { convType: 'long' }, 64, 1024)).toEqual({ paper: 65_536, measured: 65_536 });
    expect(floats(baseConv, { convType: 'long', filter: 'explicit' }, 128, 512)).toEqual({ paper: 65_536, measured: 65_536 });
  });

  it('a 2-layer model sums its layers: Hyena d 64 at L_s 1024 = 2^19 bytes (paper), H3 d 64 N 16 = 2^13 bytes', () => {
    const model = (mixer: string, params: Record<string, unknown>) =>
      new LanguageModel({ vocabSize: 16, dModel: 64, nLayers: 2, maxSeqLen: 1024, layers: [{ mixer, params }], positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 0 });
    const hy = model('hyena', { filterOrder: 4 });
    expect(hy.stateFloats().paper * 4).toBe(2 ** 19);
    hy.dispose();
    const h = model('h3', { stateDim: 16, headDim: 2 });
    expect(h.stateFloats().paper * 4).toBe(2 ** 13);
    expect(h.stateFloats().measured).toBe(2 * 3_008);
    h.dispose();
  });
});

describe('building blocks', () => {
  it('S4D: the Vandermonde kernel is the impulse response of the recurrence', async () => {
    const store = new ParamStore(11, 1);
    const H = 3;
    const p = s4dParams(store.scope('s'), 's4d', H, 6, { dtMin: 0.05, dtMax: 0.5 });
    const L = 12;
    const kernel = await s4dKernel(p, L).array();
    const disc = s4dDiscretize(p);
    let re = tf.zeros([1, H, 1, 3]) as tf.Tensor4D;
    let im = tf.zeros([1, H, 1, 3]) as tf.Tensor4D;
    for (let l = 0; l < L; l++) {
      const u = tf.fill([1, H, 1], l === 0 ? 1 : 0) as tf.Tensor3D;
      const out = s4dStep(disc, re, im, u);
      re = out.stateRe;
      im = out.stateIm;
      const y = await out.y.data();
      for (let h = 0; h < H; h++) expect(y[h]!).toBeCloseTo(kernel[h]![l]!, 5);
    }
    store.dispose();
  });

  it('S4D-Lin init: A = −1/2 + iπn, Δ log-uniform in [dtMin, dtMax], and a stable discretisation |dA| < 1', async () => {
    const store = new ParamStore(12, 1);
    const p = s4dParams(store.scope('s'), 's4d', 64, 8);
    expect(Array.from(await tf.exp(p.logNegAReal).data()).every((a) => Math.abs(a - 0.5) < 1e-6)).toBe(true);
    expect(Array.from((await p.aImag.data()).slice(0, 4)).map((a) => a / Math.PI)).toEqual([0, 1, 2, 3].map((n) => expect.closeTo(n, 5)));
    const dt = await tf.exp(p.logDt).data();
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(1e-3 * 0.9999);
    expect(Math.max(...dt)).toBeLessThanOrEqual(1e-1 * 1.0001);
    expect(Math.max(...dt) / Math.min(...dt)).toBeGreaterThan(10); // spread over the log range
    const { aRe, aIm } = s4dDiscretize(p);
    const modulus = await tf.sqrt(tf.add(tf.square(aRe), tf.square(aIm))).max().data();
    expect(modulus[0]).toBeLessThan(1);
    store.dispose();
  });

  it("PosEmb follows zoology's PositionalEmbedding (emb_dim 3: one band at f = 1e-4)", async () => {
    const z = await positionalEmbedding(4).array();
    const w = (i: number) => (2 * Math.PI * i) / 4;
    for (let i = 0; i < 4; i++) {
      expect(z[i]![0]).toBeCloseTo(i / 3, 6);
      expect(z[i]![1]).toBeCloseTo(Math.cos(1e-4 * w(i)), 6);
      expect(z[i]![2]).toBeCloseTo(-Math.sin(1e-4 * w(i)), 6);
    }
    const z5 = await positionalEmbedding(3, 5).array(); // two bands: f = 1e-4 and 1
    expect(z5[1]![2]).toBeCloseTo(Math.cos((2 * Math.PI) / 3), 5);
    expect(z5[1]![4]).toBeCloseTo(-Math.sin((2 * Math.PI) / 3), 5);
    expect(() => positionalEmbedding(4, 4)).toThrow(/odd/);
  });

  it("Hyena's decay window: channel 0 decays to 1e-2 over 1.5 sequences, the last over 0.3", async () => {
    const w = await exponentialDecayWindow(2, 3).array();
    expect(w[0]).toEqual([1, 1, 1]);
    expect(w[1]![0]).toBeCloseTo(Math.exp(Math.log(1e-2) / 1.5), 6);
    expect(w[1]![2]).toBeCloseTo(Math.exp(Math.log(1e-2) / 0.3), 6);
  });

  it('Hyena has the parameters of zoology’s module (one shared Sin frequency)', () => {
    const { store } = build(hyena, { filterOrder: 8 });
    // in_proj 16·48+48, short conv 3·48+48, MLP 3·8+8 + 2·(8·8+8), last 8·16 (no bias), ω 8, β 16, out_proj 16·16+16
    expect(store.parameterCount).toBe(816 + 192 + 32 + 144 + 128 + 8 + 16 + 272);
    expect(store.variables.filter((v) => v.name.includes('sin.freq'))).toHaveLength(1);
    store.dispose();
  });
});
