// Scatterbrain (architectures/scatterbrain.ts): the parallel form (blocked window softmax + chunked linear attention
// over all and lagged tokens) against a per-token loop written here from zoology's SBLocalAttention formula (forward
// and gradients); the fixed random projection; the step view over several wraps of the ring buffer; state sizes.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MixerDefinition } from '../architectures/mixer.js';
import scatterbrainDef, { sbKeyFeatures, sbProjection, sbQueryFeatures, scatterbrainAttention, type SbProjection } from '../architectures/scatterbrain.js';
import { slidingWindowAttention } from '../architectures/slidingWindow.js';
import { causalLinearAttention } from '../ops/linearAttention/index.js';
import { exclusiveCumsum } from '../ops/linearAttention/common.js';
import { ratio } from '../ops/scatterbrainCombine/index.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';
import { stepOutputs } from '../engine/mixerChecks.js';

const scatterbrain = scatterbrainDef as MixerDefinition;

beforeAll(async () => {
  await useBackend('cpu');
});

function projection(f: number, dh: number, seed: number): SbProjection {
  const p = sbProjection(f, dh, seed);
  return { omegaT: tf.tensor2d(p.omega, [p.rows, dh]).transpose() as tf.Tensor2D, kappa: p.kappa };
}

/**
 * zoology's SBLocalAttention, one query at a time: the window softmax over i − w ≤ j ≤ i, plus the Performer sums
 * over j ≤ i minus softmax_scale × their part inside the window, divided by the same difference of normalisers.
 */
function naive(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, w: number, proj: SbProjection): tf.Tensor4D {
  return tf.tidy(() => {
    const [, , T, dh] = q.shape;
    const c = 1 / Math.sqrt(dh);
    const m = 2 * proj.omegaT.shape[1];
    const u = (x: tf.Tensor) => {
      const xs = tf.mul(x, Math.pow(dh, -0.25));
      const dash = tf.matMul(xs.reshape([-1, dh]), proj.omegaT).reshape([...x.shape.slice(0, 3), proj.omegaT.shape[1]]);
      return { u: tf.concat([dash, tf.neg(dash)], -1), half: tf.mul(tf.sum(tf.square(xs), -1, true), 0.5) };
    };
    const phiQ = (x: tf.Tensor) => {
      const a = u(x).u;
      return tf.add(tf.exp(tf.sub(a, tf.max(a, -1, true))), 1e-4 / Math.sqrt(m));
    };
    const phiK = (x: tf.Tensor) => {
      const { u: a, half } = u(x);
      return tf.exp(tf.sub(tf.sub(a, half), 0.5 * Math.log(m) + proj.kappa));
    };
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < T; i++) {
      const qi = q.slice([0, 0, i, 0], [-1, -1, 1, -1]);
      const lo = Math.max(0, i - w);
      const kw = k.slice([0, 0, lo, 0], [-1, -1, i - lo + 1, -1]);
      const vw = v.slice([0, 0, lo, 0], [-1, -1, i - lo + 1, -1]);
      const local = tf.matMul(tf.softmax(tf.mul(tf.matMul(qi, kw, false, true), c)), vw);
      const fq = phiQ(qi);
      const all = tf.matMul(fq, phiK(k.slice([0, 0, 0, 0], [-1, -1, i + 1, -1])), false, true); // [B, H, 1, i+1]
      const N = tf.matMul(all, v.slice([0, 0, 0, 0], [-1, -1, i + 1, -1]));
      const D = tf.sum(all, -1, true);
      const win = tf.mul(tf.matMul(fq, phiK(kw), false, true), c);
      const Nw = tf.matMul(win, vw);
      const Dw = tf.sum(win, -1, true);
      rows.push(tf.add(local, tf.div(tf.sub(N, Nw), tf.maximum(tf.sub(D, Dw), 1e-24))));
    }
    return tf.concat(rows, 2) as tf.Tensor4D;
  });
}

describe('scatterbrain op', () => {
  const [B, H, T, dh] = [2, 2, 13, 4];
  const q = randn([B, H, T, dh], 1) as tf.Tensor4D;
  const k = randn([B, H, T, dh], 2) as tf.Tensor4D;
  const v = randn([B, H, T, dh], 3) as tf.Tensor4D;

  /** The parallel form `form` against the per-token loop, forward and the gradients of Σ target ⊙ y in q, k, v (1e-5). */
  const expectLoop = async (form: 'blocked' | 'masked', w: number, f: number) => {
    const proj = projection(f, dh, 11);
    const parallel = (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D, win: number, pr: SbProjection) => scatterbrainAttention(a, b, c, win, pr, undefined, form);
    expect(await relativeError(parallel(q, k, v, w, proj), naive(q, k, v, w, proj))).toBeLessThan(1e-5);
    const target = randn([B, H, T, dh], 4);
    const loss = (impl: typeof naive) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(impl(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, w, proj), target));
    const g1 = tf.grads(loss(parallel))([q, k, v]);
    const g2 = tf.grads(loss(naive))([q, k, v]);
    for (let i = 0; i < 3; i++) expect(await relativeError(g1[i]!, g2[i]!), `gradient ${['q', 'k', 'v'][i]}`).toBeLessThan(1e-5);
  };

  it.each([
    [1, 6],
    [3, 6],
    [4, 2],
    [5, 8],
    [12, 6],
    [40, 4],
  ])("window %i, f %i: the blocked parallel form equals the per-token loop, forward (1e-5) and gradients (1e-5)", async (w, f) => {
    await expectLoop('blocked', w, f);
  });

  it.each([
    [3, 6],
    [5, 8],
  ])("window %i, f %i: form 'masked' (the local part out of the full T×T matrix) equals the per-token loop too", async (w, f) => {
    await expectLoop('masked', w, f);
  });

  it('the parallel form, value and gradients, bit for bit as the formula written inline before its ops moved out (e861afb)', async () => {
    // the composition architectures/scatterbrain.ts had before ops/causalNormalisers and ops/scatterbrainCombine: the
    // same tfjs ops in the same order — tfjs sums a tensor's gradients in reverse order of its uses, so the order is in
    // the bits (a reordering changed 45 of 288 entries of φq's gradient)
    const before = (qq: tf.Tensor4D, kk: tf.Tensor4D, vv: tf.Tensor4D, w: number, proj: SbProjection) =>
      tf.tidy(() => {
        const [b, h, t, d] = qq.shape;
        const c = 1 / Math.sqrt(d);
        const eps = 1;
        const local = slidingWindowAttention(qq, kk, vv, w);
        const phiQ = sbQueryFeatures(qq, proj) as tf.Tensor4D;
        const phiK = sbKeyFeatures(kk, proj) as tf.Tensor4D;
        const zK = tf.add(exclusiveCumsum(phiK, 2), phiK);
        const D = tf.sum(tf.mul(phiQ, zK), -1, true);
        const N = tf.mul(causalLinearAttention(phiQ, phiK, vv, { eps }), tf.add(D, eps));
        let GN: tf.Tensor = tf.mul(N, 1 - c);
        let GD: tf.Tensor = tf.mul(D, 1 - c);
        const lag = w + 1;
        if (lag < t) {
          const shift = (x: tf.Tensor4D) => tf.pad(x, [[0, 0], [0, 0], [lag, 0], [0, 0]]).slice([0, 0, 0, 0], [b, h, t, x.shape[3]]) as tf.Tensor4D;
          const Dlag = tf.sum(tf.mul(phiQ, shift(zK as tf.Tensor4D)), -1, true);
          const Nlag = tf.mul(causalLinearAttention(phiQ, shift(phiK), shift(vv), { eps }), tf.add(Dlag, eps));
          GN = tf.add(GN, tf.mul(Nlag, c));
          GD = tf.add(GD, tf.mul(Dlag, c));
        }
        return tf.add(local, ratio(GN, tf.maximum(GD, 1e-24))) as tf.Tensor4D;
      });
    const proj = projection(8, dh, 5);
    const g = randn([B, H, T, dh], 9);
    for (const w of [2, T]) {
      const run = (f: typeof before) => {
        const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, w, proj), g));
        return [f(q, k, v, w, proj), ...tf.grads(loss)([q, k, v])];
      };
      const now = run(scatterbrainAttention);
      const then = run(before);
      for (let i = 0; i < now.length; i++) expect(Array.from(await now[i]!.data()), `window ${w}, output ${i}`).toEqual(Array.from(await then[i]!.data()));
      tf.dispose([...now, ...then]);
    }
  });

  it('tokens outside the window still reach the output (through the low-rank part)', async () => {
    const w = 2;
    const proj = projection(8, dh, 5);
    const y = await scatterbrainAttention(q, k, v, w, proj).array();
    const bumped = tf.add(v, tf.mul(tf.oneHot(tf.tensor1d([3], 'int32'), T).reshape([1, 1, T, 1]), 5)) as tf.Tensor4D;
    const y2 = await scatterbrainAttention(q, k, bumped, w, proj).array();
    expect(Math.abs(y2[0]![0]![10]![0]! - y[0]![0]![10]![0]!)).toBeGreaterThan(1e-6); // 3 < 10 − 2
    expect(Math.abs(y2[0]![0]![2]![0]! - y[0]![0]![2]![0]!)).toBe(0); // causal
  });
});

describe('scatterbrain projection', () => {
  it('f/2 rows, orthogonal within a block of d_h, fixed by the seed; the key exponent stays ≤ 40', () => {
    const a = sbProjection(12, 4, 7);
    expect(a.rows).toBe(6);
    expect(Array.from(sbProjection(12, 4, 7).omega)).toEqual(Array.from(a.omega));
    expect(Array.from(sbProjection(12, 4, 8).omega)).not.toEqual(Array.from(a.omega));
    const row = (r: number) => Array.from(a.omega.slice(r * 4, r * 4 + 4));
    for (let r = 0; r < 4; r++)
      for (let s = r + 1; s < 4; s++) expect(Math.abs(row(r).reduce((n, x, i) => n + x * row(s)[i]!, 0))).toBeLessThan(1e-5);
    expect(a.kappa).toBe(0); // |ω_r|² ≈ d_h = 4, far below 80
    // d_h 128: row norms² ≈ χ²_128, so κ > 0 keeps the largest exponent |ω_r|²/2 − κ at exactly 40
    const big = sbProjection(64, 128, 1);
    const maxHalfSq = Math.max(...Array.from({ length: big.rows }, (_, r) => big.omega.slice(r * 128, r * 128 + 128).reduce((n, x) => n + x * x, 0) / 2));
    expect(Math.max(0, maxHalfSq - 40)).toBeCloseTo(big.kappa, 3);
  });
});

let built = 0;
function build(raw: Record<string, unknown>, maxSeqLen: number, dModel = 16) {
  const store = new ParamStore(5, 2);
  built += 1;
  const params = resolveMixerParams(scatterbrain, raw);
  const ctx = { dModel, maxSeqLen, layerIndex: 0, nLayers: 2 };
  return { store, params, ctx, mixer: scatterbrain.create(params, ctx, store.scope(`sb${built}`)) };
}

// the local part's parallel form named, and unset (the sequence's length picks it: slidingWindow.ts slidingWindowForm)
const FORMS = [{ form: 'blocked' }, { form: 'masked' }, {}] as const;
const formName = (f: (typeof FORMS)[number]) => ('form' in f ? f.form : 'unset');

describe('scatterbrain mixer', () => {
  it.each([
    [1, 11],
    [3, 11],
    [4, 17],
    [16, 11],
  ].flatMap(([w, T]) => FORMS.map((f) => [w!, T!, formName(f), f] as const)))('window %i, T %i, form %s: the step view (ring buffer + Performer sums of the tokens that left it) reproduces the forward', async (w, T, _name, form) => {
    const { mixer, store } = build({ windowSize: w, featureDim: 6, numHeads: 2, dropout: 0, ...form }, T);
    const x = randn([2, T, 16], 6, 2) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    const ys = stepOutputs(mixer, x);
    expect(await relativeError(tf.stack(ys, 1), parallel)).toBeLessThan(2e-5);
    store.dispose();
  });

  it('state at d 128: paper 2·w·d + H·(d/H)·f + H·f; measured from the step view (buffer capped at L)', () => {
    const ctx = (dModel: number, maxSeqLen: number) => ({ dModel, maxSeqLen, layerIndex: 0, nLayers: 2 });
    const p = (windowSize: number, featureDim: number, numHeads = 1) => resolveMixerParams(scatterbrain, { windowSize, featureDim, numHeads });
    expect(scatterbrain.stateFloats(p(16, 32), ctx(128, 512))).toEqual({ measured: 4096 + 4096 + 32, paper: 4096 + 4096 + 32 });
    expect(scatterbrain.stateFloats(p(64, 64), ctx(128, 512))).toEqual({ measured: 16384 + 8192 + 64, paper: 16384 + 8192 + 64 });
    expect(scatterbrain.stateFloats(p(64, 64, 4), ctx(128, 512))).toEqual({ measured: 16384 + 8192 + 256, paper: 16384 + 8192 + 256 });
    expect(scatterbrain.stateFloats(p(1024, 32), ctx(128, 256))).toEqual({ measured: 2 * 128 * 256 + 4096 + 32, paper: 2 * 128 * 1024 + 4096 + 32 });
    const { mixer, params, ctx: c, store } = build({ windowSize: 5, featureDim: 6, numHeads: 2 }, 9);
    expect(Object.values(mixer.initState(1)).reduce((n, t) => n + t.size, 0)).toBe(scatterbrain.stateFloats(params, c).measured);
    store.dispose();
  });

  it.each(FORMS.map((f) => [formName(f), f] as const))('form %s: dropout acts on the local weights in training only', async (_name, form) => {
    const { mixer, store } = build({ windowSize: 3, ...form }, 10);
    const x = randn([2, 10, 16], 7) as tf.Tensor3D;
    const a = mixer.forward(x, { training: false });
    expect(await relativeError(mixer.forward(x, { training: false }), a)).toBe(0);
    expect(await relativeError(mixer.forward(x, { training: true, dropoutSeed: 3 }), a)).toBeGreaterThan(1e-4);
    store.dispose();
  });

  it('defaults and validation', () => {
    expect(resolveMixerParams(scatterbrain, {})).toEqual({ windowSize: 64, featureDim: 24, numHeads: 1, dropout: 0.1 });
    expect(() => resolveMixerParams(scatterbrain, { featureDim: 5 })).toThrow(/featureDim/);
    expect(() => resolveMixerParams(scatterbrain, { windowSize: 0 })).toThrow(/windowSize/);
    expect(() => build({ numHeads: 3 }, 8)).toThrow('scatterbrain: d_model 16 is not divisible by numHeads 3');
  });

  it.each(FORMS.map((f) => [formName(f), f] as const))('form %s: forward and step leave no tensors behind', (_name, form) => {
    const { mixer, store } = build({ windowSize: 2, featureDim: 4, dropout: 0.1, ...form }, 9);
    const x = randn([2, 9, 16], 8) as tf.Tensor3D;
    const x0 = x.slice([0, 0, 0], [2, 1, 16]).reshape([2, 16]) as tf.Tensor2D;
    const run = () => {
      mixer.forward(x, { training: true, dropoutSeed: 1 }).dispose();
      let state = mixer.initState(2);
      for (let t = 0; t < 4; t++) {
        const out = mixer.step(state, x0, t);
        for (const s of Object.values(state)) s.dispose();
        out.y.dispose();
        state = out.state;
      }
      for (const s of Object.values(state)) s.dispose();
    };
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });
});
