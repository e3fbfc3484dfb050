// Sliding-window attention: the blocked O(T·w) form against the plain masked T×T reference (forward and
// gradients), the window semantics (a token sees itself and the w before it), the ring-buffer step view
// (wrapping around several times; a window longer than the sequence), and the state size.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { MixerDefinition } from '../architectures/mixer.js';
import slidingWindowDef, { MASKED_FORM_UP_TO, slidingWindowAttention, slidingWindowAttentionNaive, slidingWindowForm } from '../architectures/slidingWindow.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';

const slidingWindow = slidingWindowDef as MixerDefinition;

beforeAll(async () => {
  await useBackend('cpu');
});

describe('banded attention op', () => {
  const [B, H, T, dh] = [2, 2, 13, 4];
  const q = randn([B, H, T, dh], 1) as tf.Tensor4D;
  const k = randn([B, H, T, dh], 2) as tf.Tensor4D;
  const v = randn([B, H, T, dh], 3) as tf.Tensor4D;

  const inForm = (form: 'blocked' | 'masked') => (a: tf.Tensor4D, b: tf.Tensor4D, c: tf.Tensor4D, win: number) => slidingWindowAttention(a, b, c, win, undefined, form);
  /** impl against the reference, forward and the gradients of Σ target ⊙ y in q, k, v. */
  const expectReference = async (impl: typeof slidingWindowAttentionNaive, w: number, targetSeed: number, forwardBar: number, gradientBar: number) => {
    expect(await relativeError(impl(q, k, v, w), slidingWindowAttentionNaive(q, k, v, w))).toBeLessThan(forwardBar);
    const target = randn([B, H, T, dh], targetSeed);
    const loss = (f: typeof slidingWindowAttentionNaive) => (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, w), target));
    const g1 = tf.grads(loss(impl))([q, k, v]);
    const g2 = tf.grads(loss(slidingWindowAttentionNaive))([q, k, v]);
    for (let i = 0; i < 3; i++) expect(await relativeError(g1[i]!, g2[i]!), `gradient ${i}`).toBeLessThan(gradientBar);
  };

  it.each([1, 3, 5, 6, 11, 12, 40])('window %i: blocked form equals the masked T×T reference, forward and gradients', async (w) => {
    await expectReference(inForm('blocked'), w, 4, 1e-5, 1e-4);
  });

  it.each([1, 5, 12])("window %i: form 'masked' (the band out of the full T×T matrix) equals the reference, forward and gradients", async (w) => {
    const masked = inForm('masked');
    await expectReference(masked, w, 5, 1e-6, 1e-5);
    // and it is not causal attention: the window matters
    if (w < T - 1) expect(await relativeError(masked(q, k, v, w), masked(q, k, v, T))).toBeGreaterThan(1e-3);
  });

  it('an unset form is masked up to MASKED_FORM_UP_TO tokens and blocked beyond; a named form is kept', () => {
    expect([slidingWindowForm(13), slidingWindowForm(MASKED_FORM_UP_TO), slidingWindowForm(MASKED_FORM_UP_TO + 1), slidingWindowForm(1024)]).toEqual(['masked', 'masked', 'blocked', 'blocked']);
    expect([slidingWindowForm(13, 'blocked'), slidingWindowForm(4096, 'masked')]).toEqual(['blocked', 'masked']);
  });

  it('a token sees itself and exactly the w tokens before it (zoology / flash-attn window (w, 0))', async () => {
    const w = 3;
    const y = await slidingWindowAttention(q, k, v, w).array();
    const i = 9;
    for (const j of [i - w - 1, i - w, i]) {
      const bumped = tf.tidy(() => {
        const mask = tf.oneHot(tf.tensor1d([j], 'int32'), T).reshape([1, 1, T, 1]);
        return tf.add(v, tf.mul(mask, 5)) as tf.Tensor4D;
      });
      const y2 = await slidingWindowAttention(q, k, bumped, w).array();
      const diff = Math.abs(y2[0]![0]![i]![0]! - y[0]![0]![i]![0]!);
      if (j < i - w) expect(diff, `token ${j} is outside the window of ${i}`).toBeLessThan(1e-6);
      else expect(diff, `token ${j} is inside the window of ${i}`).toBeGreaterThan(1e-4);
    }
  });
});

let built = 0;
function build(raw: Record<string, unknown>, maxSeqLen: number) {
  const def = slidingWindow;
  const store = new ParamStore(5, 2);
  built += 1;
  const params = resolveMixerParams(def, raw);
  const ctx = { dModel: 16, maxSeqLen, layerIndex: 0, nLayers: 2 };
  return { store, params, ctx, mixer: def.create(params, ctx, store.scope(`sw${built}`)) };
}

// each parallel form named, and unset (the sequence's length picks it: slidingWindowForm)
const FORMS = [{ form: 'blocked' }, { form: 'masked' }, {}] as const;
const formName = (f: (typeof FORMS)[number]) => ('form' in f ? f.form : 'unset');

describe('sliding-window mixer', () => {
  it.each([
    [1, 6],
    [2, 11],
    [4, 11],
    [16, 11],
  ].flatMap(([w, T]) => FORMS.map((f) => [w!, T!, formName(f), f] as const)))('window %i, T %i, form %s: stepping the ring buffer reproduces the parallel forward', async (w, T, _name, form) => {
    const { mixer, store } = build({ windowSize: w, numHeads: 2, dropout: 0, ...form }, T);
    const x = randn([2, T, 16], 6, 2) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    let state = mixer.initState(2);
    expect(state.keys!.shape).toEqual([2, Math.min(w, T), 16]);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const out = mixer.step(state, x.slice([0, t, 0], [2, 1, 16]).reshape([2, 16]) as tf.Tensor2D, t);
      ys.push(out.y);
      state = out.state;
    }
    expect(await relativeError(tf.stack(ys, 1), parallel)).toBeLessThan(2e-4);
    store.dispose();
  });

  it.each(FORMS.map((f) => [formName(f), f] as const))('form %s: dropout acts on the attention weights in training only', async (_name, form) => {
    const { mixer, store } = build({ windowSize: 3, ...form }, 10);
    const x = randn([2, 10, 16], 7) as tf.Tensor3D;
    const a = mixer.forward(x, { training: false });
    expect(await relativeError(mixer.forward(x, { training: false }), a)).toBe(0);
    expect(await relativeError(mixer.forward(x, { training: true, dropoutSeed: 3 }), a)).toBeGreaterThan(1e-4);
    store.dispose();
  });

  it('state: 2·d·w floats (paper), the ring buffer 2·d·min(w, L) (measured)', () => {
    const ctx = (dModel: number, maxSeqLen: number) => ({ dModel, maxSeqLen, layerIndex: 0, nLayers: 2 });
    const p = (w: number) => resolveMixerParams(slidingWindow, { windowSize: w });
    expect(slidingWindow.stateFloats(p(64), ctx(64, 512))).toEqual({ measured: 8192, paper: 8192 });
    expect(slidingWindow.stateFloats(p(128), ctx(128, 1024))).toEqual({ measured: 32768, paper: 32768 });
    expect(slidingWindow.stateFloats(p(1024), ctx(64, 256))).toEqual({ measured: 2 * 64 * 256, paper: 2 * 64 * 1024 });
    const { mixer, params, ctx: c, store } = build({ windowSize: 5 }, 9);
    expect(Object.values(mixer.initState(1)).reduce((n, t) => n + t.size, 0)).toBe(slidingWindow.stateFloats(params, c).measured);
    store.dispose();
  });

  it('defaults and validation', () => {
    expect(resolveMixerParams(slidingWindow, {})).toEqual({ windowSize: 64, numHeads: 1, dropout: 0.1 });
    expect(() => resolveMixerParams(slidingWindow, { windowSize: 0 })).toThrow(/windowSize/);
    expect(() => resolveMixerParams(slidingWindow, { window: 8 })).toThrow();
    expect(() => build({ numHeads: 3 }, 8)).toThrow('sliding-window: d_model 16 is not divisible by numHeads 3');
  });
});

describe('sliding-window memory', () => {
  it.each([2, 16].flatMap((w) => FORMS.map((f) => [w, formName(f), f] as const)))('window %i, form %s: forward and step leave no tensors behind', (w, _name, form) => {
    const { mixer, store } = build({ windowSize: w, dropout: 0.1, ...form }, 9);
    const x = randn([2, 9, 16], 8) as tf.Tensor3D;
    const x0 = x.slice([0, 0, 0], [2, 1, 16]).reshape([2, 16]) as tf.Tensor2D;
    const run = () => {
      mixer.forward(x, { training: true, dropoutSeed: 1 }).dispose();
      const state = mixer.initState(2);
      const out = mixer.step(state, x0, 0);
      for (const t of [...Object.values(state), ...Object.values(out.state), out.y]) t.dispose();
    };
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });
});

describe('a window covering the sequence is attention', () => {
  // With w ≥ L the mixer is causal attention (its forward takes the plain path): the same parameters in the same
  // order as the attention mixer (Wqkv, out_proj), so a model of either, from one seed, is one function — the
  // attention model's training checks (tests/attention.train.test.ts) cover this one. This replaced a 40 s MQAR training run of
  // sliding-window w 64 at L 64 (it trained attention's function through another file).
  it('same seed → same parameters, same logits and gradients as the attention model (d 32, L 24, 2 heads)', async () => {
    const { LanguageModel } = await import('../engine/model.js');
    const tokens = tf.tensor2d(Array.from({ length: 3 * 24 }, (_, i) => (i * 7 + 3) % 40), [3, 24], 'int32');
    // one model at a time (tfjs registers variables by name): its parameters, output and gradients, kept as tensors
    const run = (layer: { mixer: string; params: Record<string, unknown> }) => {
      const m = new LanguageModel({ vocabSize: 40, dModel: 32, nLayers: 2, layers: [layer], maxSeqLen: 24, seed: 5, positionEmbeddings: true, mlp: false, embeddingDropout: 0, residualDropout: 0 } as never);
      const params = m.variables.map((v) => tf.clone(v));
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(m.forward(tokens, { training: true, dropoutSeed: 1 }))) as tf.Scalar, m.variables);
      const out = { params, value, grads: m.variables.map((v) => grads[v.name]!), names: m.variables.map((v) => v.name), logits: m.forward(tokens, { training: false }) };
      m.dispose();
      return out;
    };
    const sw = run({ mixer: 'sliding-window', params: { windowSize: 24, numHeads: 2, dropout: 0 } });
    const att = run({ mixer: 'attention', params: { numHeads: 2, dropout: 0 } });
    expect(sw.params.map((t) => t.shape)).toEqual(att.params.map((t) => t.shape));
    for (let i = 0; i < sw.params.length; i++) expect(await relativeError(sw.params[i]!, att.params[i]!), sw.names[i]).toBe(0);
    expect(await relativeError(sw.logits, att.logits)).toBeLessThan(1e-6);
    expect(await relativeError(sw.value, att.value)).toBeLessThan(1e-6);
    for (let i = 0; i < sw.grads.length; i++) expect(await relativeError(sw.grads[i]!, att.grads[i]!), sw.names[i]).toBeLessThan(1e-5);
    // a window shorter than the sequence is a different function
    const short = run({ mixer: 'sliding-window', params: { windowSize: 4, numHeads: 2, dropout: 0 } });
    expect(await relativeError(short.logits, att.logits)).toBeGreaterThan(1e-3);
    for (const r of [sw, att, short]) tf.dispose([...r.params, r.value, ...r.grads, r.logits]);
    tokens.dispose();
  });
});
