// Mamba, DeltaNet, GLA and RWKV-4 beyond the generic suite (tests/mixers.test.ts): their state sizes in both
// conventions at known settings, hyperparameter validation, Mamba's init, and step == forward on the
// settings the generic suite does not cover (GLA without convs, chunk longer than the sequence, ...).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import deltaNet from '../architectures/deltaNet.js';
import gla from '../architectures/gla.js';
import mamba from '../architectures/mamba.js';
import rwkv from '../architectures/rwkv.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { UserInputError } from '../engine/errors.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend } from './helpers.js';
import { stepOutputs } from '../engine/mixerChecks.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const ctxOf = (dModel: number, maxSeqLen = 64) => ({ dModel, maxSeqLen, layerIndex: 0, nLayers: 2 });
const stateOf = (def: MixerDefinition, raw: Record<string, unknown>, dModel: number) => def.stateFloats(resolveMixerParams(def, raw), ctxOf(dModel));

function build(def: MixerDefinition, raw: Record<string, unknown>, dModel: number, T: number) {
  const store = new ParamStore(3, 2);
  const params = resolveMixerParams(def, raw);
  const mixer = def.create(params, ctxOf(dModel, T), store.scope(`t.${def.name}`));
  return { store, params, mixer };
}

async function stepMatchesForward(def: MixerDefinition, raw: Record<string, unknown>, dModel: number, T: number): Promise<number> {
  const { mixer, store } = build(def, raw, dModel, T);
  const B = 2;
  const x = randn([B, T, dModel], 17) as tf.Tensor3D;
  const parallel = mixer.forward(x, { training: false });
  const ys = stepOutputs(mixer, x);
  const err = await relativeError(tf.stack(ys, 1), parallel);
  store.dispose();
  return err;
}

describe('state sizes (floats per layer)', () => {
  it("mamba: paper = zoology's 2·d·N on based-fig2's grid; measured adds the conv window E·(k−1)", () => {
    for (const d of [64, 128, 256])
      for (const N of [8, 16, 24]) {
        const s = stateOf(mamba, { stateDim: N }, d);
        expect(s.paper).toBe(2 * d * N);
        expect(s.measured).toBe(2 * d * N + 2 * d * 3);
      }
    expect(stateOf(mamba, { stateDim: 16 }, 128)).toEqual({ paper: 4096, measured: 4096 + 768 });
  });

  it("deltanet: paper = zoology's H·d_k·d_v; measured adds the q, k, v conv windows", () => {
    // d 64, 4 heads: d_k = d_v = 16 → 4·16·16 = 1024; windows (64 + 64 + 64)·3 = 576
    expect(stateOf(deltaNet, {}, 64)).toEqual({ paper: 1024, measured: 1600 });
    // 1 head: the whole d×d fast-weight matrix
    expect(stateOf(deltaNet, { numHeads: 1 }, 64)).toEqual({ paper: 4096, measured: 4096 + 576 });
  });

  it("gla: H·d_k·d_v (= zoology's key_dim·head_v_dim), plus conv state when enabled", () => {
    // d 64, expand_k 0.5, 4 heads: d_k 8, d_v 16 → 512
    expect(stateOf(gla, {}, 64)).toEqual({ paper: 512, measured: 512 });
    // with short convs: zoology counts fla's ShortConvolution as width·k, the step view holds width·(k−1)
    expect(stateOf(gla, { shortConv: true }, 64)).toEqual({ paper: 512 + 128 * 4, measured: 512 + 128 * 3 });
    expect(stateOf(gla, { numHeads: 1, expandK: 1 }, 32)).toEqual({ paper: 1024, measured: 1024 });
  });
  it('rwkv: paper = the WKV numerator and denominator (2·d); measured adds their log scale and x_{t−1}', () => {
    expect(stateOf(rwkv, {}, 64)).toEqual({ paper: 128, measured: 256 });
  });
});

describe('hyperparameters', () => {
  it('are strict and validated', () => {
    expect(() => resolveMixerParams(mamba, { stateDim: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(mamba, { d_state: 16 })).toThrow(/d_state|unrecognized/i);
    expect(() => resolveMixerParams(mamba, { dtMin: 0.2, dtMax: 0.1 })).toThrow(/dtMin/);
    expect(() => resolveMixerParams(mamba, { dtRank: 'big' })).toThrow(UserInputError);
    expect(() => resolveMixerParams(mamba, { timeBlock: 0 })).toThrow(UserInputError);
    expect(resolveMixerParams(mamba, {})).toMatchObject({ stateDim: 16, expand: 2, convKernel: 4, dtRank: 'auto' });
    expect(() => resolveMixerParams(deltaNet, { chunkSize: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(deltaNet, { convKernel: 1 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(gla, { gateLogitNormalizer: -1 })).toThrow(UserInputError);
    expect(resolveMixerParams(gla, {})).toMatchObject({ numHeads: 4, expandK: 0.5, expandV: 1, gateLowRankDim: 16, gateLogitNormalizer: 16 });
  });

  it('reject head counts that do not divide the key/value widths', () => {
    expect(() => build(deltaNet, { numHeads: 3 }, 16, 8)).toThrow(/divisible/);
    expect(() => build(gla, { numHeads: 16 }, 16, 8)).toThrow(/divisible/); // key_dim 8
    expect(() => stateOf(gla, { expandK: 0.3 }, 16)).toThrow(/whole/);
  });
});

describe('mamba initialisation (mamba_simple.py)', () => {
  it('A_log = log(1..N) per channel, D = 1, softplus(dt bias) within [dtMin, dtMax]', async () => {
    const { store } = build(mamba, { stateDim: 5, dtMin: 0.002, dtMax: 0.05 }, 16, 8);
    const byName = (part: string) => store.variables.find((v) => v.name.includes(part))!;
    const aLog = (await byName('A_log').array()) as number[][];
    expect(aLog.length).toBe(32); // E = 2·16
    for (const row of aLog) row.forEach((a, n) => expect(a).toBeCloseTo(Math.log(n + 1), 6));
    expect(Array.from(await byName('.D_').data()).every((x) => x === 1)).toBe(true);
    const dt = await tf.softplus(byName('dt_proj.bias')).data();
    expect(Math.min(...dt)).toBeGreaterThanOrEqual(0.002 * 0.999);
    expect(Math.max(...dt)).toBeLessThanOrEqual(0.05 * 1.001);
    expect(Math.max(...dt) / Math.min(...dt)).toBeGreaterThan(3); // spread log-uniformly, not constant
    // dt_rank 'auto' = ceil(16/16) = 1
    expect(byName('dt_proj.weight').shape).toEqual([1, 32]);
    store.dispose();
  });
});

describe('mamba: the parallel forward in blocks of time == in one block', () => {
  it('values and gradients (state carried across blocks of 3 over T = 13)', async () => {
    const x = randn([2, 13, 8], 23) as tf.Tensor3D;
    const target = randn([2, 13, 8], 24);
    const results = [];
    for (const timeBlock of ['auto', 3] as const) {
      const { mixer, store } = build(mamba, { stateDim: 4, timeBlock }, 8, 13);
      const y = mixer.forward(x, { training: false });
      const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(mixer.forward(x, { training: true }), target))) as tf.Scalar, store.variables);
      results.push({ y, grads: store.variables.map((v) => grads[v.name]!) });
      store.dispose(); // the variables only (their names are reused by the next build)
    }
    expect(await relativeError(results[1]!.y, results[0]!.y)).toBeLessThan(1e-5);
    for (let i = 0; i < results[0]!.grads.length; i++) expect(await relativeError(results[1]!.grads[i]!, results[0]!.grads[i]!)).toBeLessThan(1e-4);
  });
});

describe('rwkv initialisation (RWKV-4 "fancy" init, zoology rwkv.py)', () => {
  it('time_decay spans −5 … 3 across channels, time_first = log 0.3 + zigzag, time_mix_k = (i/d)^(1 − layer/n)', async () => {
    const { store } = build(rwkv, {}, 8, 8);
    const byName = (part: string) => Array.from(store.variables.find((v) => v.name.includes(part))!.dataSync());
    const decay = byName('time_decay');
    expect(decay[0]).toBeCloseTo(-5, 6);
    expect(decay[7]).toBeCloseTo(3, 6);
    expect(decay.every((x, i) => i === 0 || x > decay[i - 1]!)).toBe(true);
    byName('time_first').forEach((u, h) => expect(u).toBeCloseTo(Math.log(0.3) + (((h + 1) % 3) - 1) * 0.5, 6));
    byName('time_mix_k').forEach((m, i) => expect(m).toBeCloseTo(i / 8, 6)); // layer 0: exponent 1
    expect(() => resolveMixerParams(rwkv, { heads: 2 })).toThrow(UserInputError);
    store.dispose();
  });
});

describe('step view == parallel forward on further settings', () => {
  it.each([
    ['gla default (no convs, 4 heads)', gla, {}, 16, 11],
    ['gla without output gate, one chunk longer than T', gla, { outputGate: false, chunkSize: 32, numHeads: 1 }, 16, 9],
    ['deltanet, chunk not dividing T', deltaNet, { numHeads: 1, chunkSize: 4 }, 16, 11],
    ['deltanet, default chunk 16 over T = 20', deltaNet, {}, 16, 20],
    ['mamba, explicit dt rank, expand 1, odd T', mamba, { stateDim: 3, dtRank: 2, expand: 1, convKernel: 3 }, 8, 13],
    ['rwkv, odd T', rwkv, {}, 8, 13],
  ] as const)('%s', async (_label, def, raw, d, T) => {
    expect(await stepMatchesForward(def as MixerDefinition, raw, d, T)).toBeLessThan(2e-4);
  });
});
