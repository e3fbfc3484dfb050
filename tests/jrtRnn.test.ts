// JRT-RNN (prefix linear attention): the parallel forward against the paper's equation rebuilt from the layer's
// own weights, non-causal inside the prefix and causal after it, prefill + step == parallel forward (across
// chunk boundaries too), prefix length 0 = plain causal linear attention, state size = BASED's formula.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { taylorFeatures } from '../architectures/featureMaps.js';
import jrtRnnDef, { type PrefixMixer } from '../architectures/jrtRnn.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { causalLinearAttentionNaive, linearAttentionState } from '../ops/linearAttention/index.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';

const jrtRnn = jrtRnnDef as MixerDefinition;

beforeAll(async () => {
  await useBackend('cpu');
});

const D = 16;
let built = 0;
function build(raw: Record<string, unknown>, maxSeqLen: number) {
  const store = new ParamStore(9, 2);
  built += 1;
  const params = resolveMixerParams(jrtRnn, raw);
  const ctx = { dModel: D, maxSeqLen, layerIndex: 0, nLayers: 2 };
  return { store, params, ctx, mixer: jrtRnn.create(params, ctx, store.scope(`jrt${built}`)) as PrefixMixer };
}

describe('jrt-rnn', () => {
  it('equals y_i = φ(q_i)·[Σ_{j≤i} φ(k_d,j)ᵀv_d,j + Σ_{j<M} φ(k_e,j)ᵀv_e,j] / φ(q_i)·[…] rebuilt from its weights', async () => {
    const [B, T, M, H, f] = [2, 10, 4, 2, 3];
    const { mixer, store } = build({ featureDim: f, numHeads: H }, T);
    const weight = (name: string) => store.variables.find((v) => v.name.includes(`.${name}.weight`))!;
    const x = randn([B, T, D], 1, 2) as tf.Tensor3D;
    const heads = (t: tf.Tensor, len: number, w: number) => t.reshape([B, len, H, w]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
    const proj = (t: tf.Tensor, name: string, len: number, w: number) => heads(tf.matMul(t.reshape([-1, D]), weight(name)), len, w);
    const xe = x.slice([0, 0, 0], [B, M, D]);
    const encoder = linearAttentionState(taylorFeatures(proj(xe, 'proj_k_enc', M, f)) as tf.Tensor4D, proj(xe, 'proj_v_enc', M, D / H));
    const y = causalLinearAttentionNaive(taylorFeatures(proj(x, 'proj_q', T, f)) as tf.Tensor4D, taylorFeatures(proj(x, 'proj_k', T, f)) as tf.Tensor4D, proj(x, 'proj_v', T, D / H), { initial: encoder });
    const expected = tf.matMul(y.transpose([0, 2, 1, 3]).reshape([B * T, D]), weight('out_proj')).reshape([B, T, D]);
    expect(await relativeError(mixer.forward(x, { training: false, prefixLength: M }), expected)).toBeLessThan(1e-5);
    expect(store.variables.map((v) => v.name.split('.')[1])).toEqual(['proj_q', 'proj_k', 'proj_v', 'proj_k_enc', 'proj_v_enc', 'out_proj']);
    store.dispose();
  });

  it('reads the prefix non-causally and the rest causally', async () => {
    const [B, T, M] = [1, 9, 5];
    const { mixer, store } = build({ featureDim: 4 }, T);
    const x = randn([B, T, D], 2, 2) as tf.Tensor3D;
    const y = await mixer.forward(x, { training: false, prefixLength: M }).array();
    const bumpAt = async (t: number) => {
      const bump = tf.oneHot(tf.tensor1d([t], 'int32'), T).reshape([1, T, 1]);
      const y2 = await mixer.forward(tf.add(x, tf.mul(bump, 3)) as tf.Tensor3D, { training: false, prefixLength: M }).array();
      return Array.from({ length: T }, (_, s) => Math.max(...y2[0]![s]!.map((v, c) => Math.abs(v - y[0]![s]![c]!))));
    };
    const last = await bumpAt(M - 1); // the last prefix token changes every output, the first included
    expect(Math.min(...last)).toBeGreaterThan(1e-6);
    const after = await bumpAt(M + 1); // a token after the prefix changes nothing before it
    expect(Math.max(...after.slice(0, M + 1))).toBeLessThan(1e-6);
    expect(Math.min(...after.slice(M + 1))).toBeGreaterThan(1e-6);
    store.dispose();
  });

  it.each([
    [11, 4],
    [70, 66],
    [70, 5],
  ])('T %i, prefix %i: prefill the prefix in parallel, then step: equals the parallel forward', async (T, M) => {
    const { mixer, store } = build({ featureDim: 3, numHeads: 2 }, T);
    const x = randn([2, T, D], 3, 2) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false, prefixLength: M });
    const pre = mixer.prefill(x.slice([0, 0, 0], [2, M, D]));
    expect(await relativeError(pre.y, parallel.slice([0, 0, 0], [2, M, D]))).toBeLessThan(1e-5);
    let state = pre.state;
    const ys: tf.Tensor[] = [];
    for (let t = M; t < T; t++) {
      const out = mixer.step(state, x.slice([0, t, 0], [2, 1, D]).reshape([2, D]) as tf.Tensor2D, t);
      ys.push(out.y);
      state = out.state;
    }
    expect(await relativeError(tf.stack(ys, 1), parallel.slice([0, M, 0], [2, T - M, D]))).toBeLessThan(2e-4);
    store.dispose();
  });

  it('without a prefix it is causal linear attention, and stepping from position 0 reproduces it', async () => {
    const T = 8;
    const { mixer, store } = build({ featureDim: 4 }, T);
    const x = randn([2, T, D], 4) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    expect(await relativeError(mixer.forward(x, { training: false, prefixLength: 0 }), parallel)).toBe(0);
    let state = mixer.initState(2);
    const ys: tf.Tensor[] = [];
    for (let t = 0; t < T; t++) {
      const out = mixer.step(state, x.slice([0, t, 0], [2, 1, D]).reshape([2, D]) as tf.Tensor2D, t);
      ys.push(out.y);
      state = out.state;
    }
    expect(await relativeError(tf.stack(ys, 1), parallel)).toBeLessThan(2e-4);
    // the encoder projections get no gradient without a prefix, and do with one
    const grads = (prefixLength: number) => tf.variableGrads(() => tf.sum(tf.square(mixer.forward(x, { training: true, prefixLength }))) as tf.Scalar, store.variables).grads;
    const enc = store.variables.find((v) => v.name.includes('proj_k_enc'))!;
    expect(grads(0)[enc.name]).toBeUndefined();
    expect(tf.norm(grads(3)[enc.name]!).dataSync()[0]!).toBeGreaterThan(0);
    store.dispose();
  });

  it('state after the prefix = one linear-attention state: (d + H)·(1 + f + f(f+1)/2), BASED\'s formula', () => {
    const ctx = (dModel: number) => ({ dModel, maxSeqLen: 512, layerIndex: 0, nLayers: 2 });
    expect(jrtRnn.stateFloats(resolveMixerParams(jrtRnn, {}), ctx(64))).toEqual({ measured: 9945, paper: 9945 });
    expect(jrtRnn.stateFloats(resolveMixerParams(jrtRnn, { featureDim: 8 }), ctx(128))).toEqual({ measured: 5805, paper: 5805 });
    const { mixer, params, ctx: c, store } = build({ featureDim: 3, numHeads: 2 }, 8);
    const pre = mixer.prefill(randn([1, 3, D], 5) as tf.Tensor3D);
    const held = Object.values(pre.state).reduce((n, t) => n + t.size, 0);
    expect(held).toBe((D + 2) * 10);
    expect(held).toBe(jrtRnn.stateFloats(params, c).measured);
    expect(jrtRnn.usesPrefix).toBe(true);
    store.dispose();
  });

  it('validates its hyperparameters', () => {
    expect(resolveMixerParams(jrtRnn, {})).toEqual({ featureMap: 'taylor', featureDim: 16, numHeads: 1, randomFeatures: 256 });
    expect(() => resolveMixerParams(jrtRnn, { featureDim: 0 })).toThrow(/featureDim/);
    expect(() => resolveMixerParams(jrtRnn, { prefixLength: 4 })).toThrow();
    expect(() => build({ numHeads: 3 }, 8)).toThrow('jrt-rnn: d_model 16 is not divisible by numHeads 3');
    const { mixer, store } = build({ featureDim: 2 }, 8);
    expect(() => mixer.prefill(tf.zeros([1, 0, D]) as tf.Tensor3D)).toThrow('jrt-rnn: prefill needs the prefix');
    store.dispose();
  });
});

describe('jrt-rnn memory', () => {
  it('forward, prefill and step leave no tensors behind', () => {
    const { mixer, store } = build({ featureDim: 3, numHeads: 2 }, 8);
    const x = randn([2, 8, D], 6) as tf.Tensor3D;
    const prefix = x.slice([0, 0, 0], [2, 3, D]);
    const x3 = x.slice([0, 3, 0], [2, 1, D]).reshape([2, D]) as tf.Tensor2D;
    const run = () => {
      mixer.forward(x, { training: true, prefixLength: 3 }).dispose();
      const pre = mixer.prefill(prefix);
      const out = mixer.step(pre.state, x3, 3);
      for (const t of [pre.y, ...Object.values(pre.state), ...Object.values(out.state), out.y]) t.dispose();
    };
    run();
    const before = tf.memory().numTensors;
    run();
    expect(tf.memory().numTensors).toBe(before);
    store.dispose();
  });
});
