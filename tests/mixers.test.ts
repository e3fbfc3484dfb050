// The generic suite every mixer passes (architectures.md): causality, the recurrent step view reproduces the
// parallel forward, the state it holds has the declared (measured) size, gradients reach every parameter.
// A mixer listed in `testParams` is tested with those hyperparameters (small, fast); others with defaults.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { builtinMixers } from '../architectures/index.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';
import { loadPlugin } from '../engine/plugins.js';
import { initBackend } from '../engine/backend.js';

/** Small settings per mixer so the suite stays fast on 2 CPU cores. */
export const testParams: Record<string, Record<string, unknown>> = {
  attention: { numHeads: 2, dropout: 0 },
  'sliding-window': { windowSize: 3, numHeads: 2, dropout: 0 },
  'linear-attention': { featureMap: 'taylor', featureDim: 4, numHeads: 2 },
  based: { featureDim: 4, numHeads: 2 },
  'jrt-rnn': { featureDim: 4, numHeads: 2 },
  mamba: { stateDim: 4 },
  deltanet: { numHeads: 2, chunkSize: 4 },
  gla: { numHeads: 2, chunkSize: 4, shortConv: true },
  rwkv: {},
  baseconv: { convType: 'long', filter: 'implicit' },
  h3: { stateDim: 4, headDim: 2 },
  hyena: { filterOrder: 8 },
};

const B = 2;
const T = 8;
const D = 16;
/** Stepping and the parallel forward must agree to this relative error (fp32, different summation orders). */
const STEP_TOLERANCE = 2e-4;

function build(def: MixerDefinition, seed = 1) {
  const store = new ParamStore(seed, 2);
  const params = resolveMixerParams(def, testParams[def.name] ?? {});
  const ctx = { dModel: D, maxSeqLen: T, layerIndex: 0, nLayers: 2 };
  const mixer = def.create(params, ctx, store.scope(`t.${def.name}`));
  return { store, params, ctx, mixer };
}

function isCausal(def: MixerDefinition, params: Record<string, unknown>): boolean {
  return def.isCausal ? def.isCausal(params) : def.causal;
}

beforeAll(async () => {
  await useBackend('cpu');
});

// The shipped example plugin, loaded the way a user's is (`--plugin examples/retention.ts`), passes the same suite.
await initBackend('cpu');
const examplePlugins = [await loadPlugin('examples/retention.ts')];

describe.each([...builtinMixers, ...examplePlugins].map((m) => [m.name, m] as const))('mixer %s', (_name, def) => {
  it('keeps the shape [B, T, d]', () => {
    const { mixer, store } = build(def);
    const y = mixer.forward(randn([B, T, D], 3) as tf.Tensor3D, { training: false, prefixLength: 3 });
    expect(y.shape).toEqual([B, T, D]);
    store.dispose();
  });

  it('is causal: changing token t changes no output before t (after the prefix for prefix mixers)', async () => {
    const { mixer, params, store } = build(def);
    if (!isCausal(def, params)) {
      store.dispose();
      return;
    }
    const prefix = def.usesPrefix ? 3 : 0;
    const x = randn([B, T, D], 4);
    const y = await mixer.forward(x as tf.Tensor3D, { training: false, prefixLength: prefix }).array();
    for (const t of [Math.max(prefix, 1), Math.max(prefix, T - 3), T - 1]) {
      const bump = tf.tensor3d(Array.from({ length: B * T * D }, (_, i) => (Math.floor(i / D) % T === t ? 1.5 : 0)), [B, T, D]);
      const y2 = await mixer.forward(tf.add(x, bump) as tf.Tensor3D, { training: false, prefixLength: prefix }).array();
      let before = 0;
      let at = 0;
      for (let b = 0; b < B; b++)
        for (let s = 0; s < T; s++)
          for (let c = 0; c < D; c++) {
            const diff = Math.abs(y2[b]![s]![c]! - y[b]![s]![c]!);
            if (s < t) before = Math.max(before, diff);
            else at = Math.max(at, diff);
          }
      expect(before, `output before t=${t} changed`).toBeLessThan(1e-5);
      expect(at, `output at/after t=${t} did not change (mixer ignores its input?)`).toBeGreaterThan(1e-6);
    }
    store.dispose();
  });

  it('step view reproduces the parallel forward', async () => {
    const { mixer, store } = build(def);
    const prefix = def.usesPrefix ? 3 : undefined;
    const x = randn([B, T, D], 5) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false, prefixLength: prefix });
    let state = mixer.initState(B);
    const ys: tf.Tensor[] = [];
    let start = 0;
    if (def.usesPrefix) {
      // a prefix mixer's recurrent view: prefill the first M tokens in parallel, then step the rest
      const prefill = (mixer as typeof mixer & { prefill?: (x: tf.Tensor3D) => { y: tf.Tensor3D; state: typeof state } }).prefill;
      expect(prefill, 'a usesPrefix mixer needs prefill(x) for its recurrent view').toBeTypeOf('function');
      const out = prefill!.call(mixer, x.slice([0, 0, 0], [B, prefix!, D]));
      ys.push(...tf.unstack(out.y, 1));
      state = out.state;
      start = prefix!;
    }
    for (let t = start; t < T; t++) {
      const xt = x.slice([0, t, 0], [B, 1, D]).reshape([B, D]) as tf.Tensor2D;
      const out = mixer.step(state, xt, t);
      ys.push(out.y);
      state = out.state;
    }
    const stepped = tf.stack(ys, 1);
    expect(await relativeError(stepped, parallel)).toBeLessThan(STEP_TOLERANCE);
    store.dispose();
  });

  it('holds exactly the declared measured state', () => {
    const { mixer, params, ctx, store } = build(def);
    const state = mixer.initState(1);
    const held = Object.values(state).reduce((n, t) => n + t.size, 0);
    expect(held).toBe(def.stateFloats(params, ctx).measured);
    const state3 = mixer.initState(3);
    expect(Object.values(state3).reduce((n, t) => n + t.size, 0)).toBe(3 * held);
    store.dispose();
  });

  it('sends gradients to every parameter', () => {
    const { mixer, store } = build(def);
    const x = randn([B, T, D], 6) as tf.Tensor3D;
    const target = randn([B, T, D], 7);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(mixer.forward(x, { training: true, prefixLength: def.usesPrefix ? 3 : undefined, dropoutSeed: 1 }), target))) as tf.Scalar, store.variables);
    for (const v of store.variables) {
      const g = grads[v.name];
      expect(g, `no gradient for ${v.name}`).toBeDefined();
      const norm = tf.norm(g!).dataSync()[0]!;
      expect(Number.isFinite(norm), `gradient of ${v.name} not finite`).toBe(true);
      expect(norm, `zero gradient for ${v.name}`).toBeGreaterThan(0);
    }
    store.dispose();
  });
});
