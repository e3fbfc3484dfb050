// RWKV-7 beyond the generic suite (tests/mixers.test.ts): the chunked generalized delta rule against its per-token
// recurrence (values, gradients, finite differences), its limits (the delta rule and the gated delta rule are special
// cases; very strong decay stays finite), the state sizes in both conventions, hyperparameter validation and fla's /
// zoology's init.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { deltaRuleChunked } from '../ops/deltaRule/index.js';
import { gatedDeltaRuleChunked } from '../ops/gatedDeltaRule/index.js';
import { generalizedDeltaRuleChunked, generalizedDeltaRuleNaive } from '../ops/generalizedDeltaRule/index.js';
import rwkv7Def, { rwkv7Dims, type Rwkv7Params } from '../architectures/rwkv7.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { UserInputError } from '../engine/errors.js';
import { stepOutputs } from '../engine/mixerChecks.js';
import { ParamStore } from '../engine/params.js';
import { resolveMixerParams } from '../engine/registry.js';
import { randn, relativeError, useBackend, worstFiniteDifference } from './helpers.js';

beforeAll(async () => {
  await useBackend('cpu');
});

const l2 = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
const W_MIN = -Math.exp(-0.5); // RWKV-7's strongest log decay per token

/** RWKV-7's inputs to the op: w = −e^{−½} σ(·), a = −κ̂, b = κ̂ ⊙ α with κ̂ L2-normalised and α ∈ (0, 1). */
function inputs(B: number, H: number, T: number, dk: number, dv: number, seed: number) {
  const kk = l2(randn([B, H, T, dk], seed + 5));
  return {
    r: randn([B, H, T, dk], seed, 0.5) as tf.Tensor4D,
    w: tf.mul(tf.sigmoid(randn([B, H, T, dk], seed + 1, 2)), W_MIN) as tf.Tensor4D,
    k: randn([B, H, T, dk], seed + 2, 0.5) as tf.Tensor4D,
    v: randn([B, H, T, dv], seed + 3) as tf.Tensor4D,
    a: tf.neg(kk) as tf.Tensor4D,
    b: tf.mul(kk, tf.sigmoid(randn([B, H, T, dk], seed + 4))) as tf.Tensor4D,
  };
}
type Op = typeof generalizedDeltaRuleNaive;

describe('generalized delta rule: chunked form == per-token recurrence', () => {
  it.each([
    [1, 4],
    [7, 4],
    [8, 4],
    [13, 8],
    [20, 32],
  ])('T = %i, chunk %i: outputs agree to 1e-5, gradients of r, w, k, v, a, b to 1e-4', async (T, chunk) => {
    const [B, H, dk, dv] = [2, 2, 4, 3];
    const { r, w, k, v, a, b } = inputs(B, H, T, dk, dv, 1);
    const fast = generalizedDeltaRuleChunked(r, w, k, v, a, b, chunk);
    expect(fast.shape).toEqual([B, H, T, dv]);
    expect(await relativeError(fast, generalizedDeltaRuleNaive(r, w, k, v, a, b))).toBeLessThan(1e-5);

    const wt = randn([B, H, T, dv], 9);
    const lossOf = (f: Op) => (...x: tf.Tensor[]) => tf.sum(tf.mul(f(...(x as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D, tf.Tensor4D])), wt));
    const gFast = tf.grads(lossOf((...x) => generalizedDeltaRuleChunked(...x, chunk)))([r, w, k, v, a, b]);
    const gRef = tf.grads(lossOf(generalizedDeltaRuleNaive))([r, w, k, v, a, b]);
    for (let i = 0; i < 6; i++) {
      expect(await relativeError(gFast[i]!, gRef[i]!), `gradient ${'rwkvab'[i]}`).toBeLessThan(1e-4);
      if (T > 1 || i === 0 || i === 2 || i === 3) expect(tf.norm(gRef[i]!).dataSync()[0]!, `gradient ${'rwkvab'[i]}`).toBeGreaterThan(1e-4);
    }
  });

  it('w = 0, a = −k, b = β k (write key β k) is the delta rule (ops/deltaRule), a shared decay the gated one, to 1e-5', async () => {
    const [B, H, T, dk, dv] = [2, 2, 11, 4, 3];
    const q = tf.mul(l2(randn([B, H, T, dk], 21)), dk ** -0.5) as tf.Tensor4D;
    const k = l2(randn([B, H, T, dk], 22)) as tf.Tensor4D;
    const v = randn([B, H, T, dv], 23) as tf.Tensor4D;
    const beta = tf.sigmoid(randn([B, H, T], 24)) as tf.Tensor3D;
    const bk = tf.mul(k, beta.expandDims(3)) as tf.Tensor4D;
    const zero = tf.zeros([B, H, T, dk]) as tf.Tensor4D;
    expect(await relativeError(generalizedDeltaRuleChunked(q, zero, bk, v, tf.neg(k) as tf.Tensor4D, bk, 4), deltaRuleChunked(q, k, v, beta, 4))).toBeLessThan(1e-5);
    // a decay shared by the key channels is the gated delta rule (ops/gatedDeltaRule), whose removal reads the decayed
    // state: α (I − β k kᵀ) S = (α I + β k (−α k)ᵀ) S, so a = −α k
    const g = tf.neg(tf.softplus(randn([B, H, T], 25))) as tf.Tensor3D;
    const wShared = tf.tile(g.expandDims(3), [1, 1, 1, dk]) as tf.Tensor4D;
    const aGated = tf.mul(tf.neg(k), tf.exp(g).expandDims(3)) as tf.Tensor4D;
    expect(await relativeError(generalizedDeltaRuleChunked(q, wShared, bk, v, aGated, bk, 4), gatedDeltaRuleChunked(q, k, v, beta, g, 4))).toBeLessThan(1e-5);
  });

  it('decays per key channel: a value written under e_0 and e_1 fades at each channel’s own rate', async () => {
    // k = (1, 1) v = 8 at t = 0, then no writes; channel 0 halves per step, channel 1 keeps; r = e_0, then e_1
    const k = tf.tensor4d([1, 1, 0, 0, 0, 0], [1, 1, 3, 2]);
    const v = tf.tensor4d([8, 0, 0], [1, 1, 3, 1]);
    const zero = tf.zeros([1, 1, 3, 2]) as tf.Tensor4D;
    const w = tf.tensor4d([0, 0, Math.log(0.5), 0, Math.log(0.5), 0], [1, 1, 3, 2]);
    const r0 = tf.tensor4d([1, 0, 1, 0, 1, 0], [1, 1, 3, 2]);
    const r1 = tf.tensor4d([0, 1, 0, 1, 0, 1], [1, 1, 3, 2]);
    const o0 = Array.from(await generalizedDeltaRuleChunked(r0, w, k, v, zero, zero, 2).data());
    const o1 = Array.from(await generalizedDeltaRuleChunked(r1, w, k, v, zero, zero, 2).data());
    [8, 4, 2].forEach((e, i) => expect(o0[i]!).toBeCloseTo(e, 5));
    [8, 8, 8].forEach((e, i) => expect(o1[i]!).toBeCloseTo(e, 5));
  });

  it('stays finite with very strong decay inside a chunk (w = −30 per token, Σ −960 over a chunk of 32)', async () => {
    const { r, k, v, a, b } = inputs(1, 1, 32, 2, 2, 31);
    const w = tf.fill([1, 1, 32, 2], -30) as tf.Tensor4D;
    const o = generalizedDeltaRuleChunked(r, w, k, v, a, b, 32);
    expect((await o.data()).every(Number.isFinite)).toBe(true);
    expect(await relativeError(o, generalizedDeltaRuleNaive(r, w, k, v, a, b))).toBeLessThan(1e-5);
    const [dw] = tf.grads((x: tf.Tensor) => tf.sum(generalizedDeltaRuleChunked(r, x as tf.Tensor4D, k, v, a, b, 32)))([w]);
    expect((await dw!.data()).every(Number.isFinite)).toBe(true);
  });

  it('has the right gradients of w, a and b by central finite differences (worst relative error < 1e-2)', async () => {
    const [B, H, T, dk, dv] = [1, 1, 6, 3, 2];
    const { r, w, k, v, a, b } = inputs(B, H, T, dk, dv, 41);
    const wt = randn([B, H, T, dv], 42);
    const loss = (ww: tf.Tensor, aa: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(generalizedDeltaRuleChunked(r, ww as tf.Tensor4D, k, v, aa as tf.Tensor4D, bb as tf.Tensor4D, 4), wt));
    const [dW, dA, dB] = tf.grads(loss)([w, a, b]);
    expect(await worstFiniteDifference(w, dW!, (x) => loss(x, a, b), 1e-2)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(a, dA!, (x) => loss(w, x, b), 1e-2)).toBeLessThan(1e-2);
    expect(await worstFiniteDifference(b, dB!, (x) => loss(w, a, x), 1e-2)).toBeLessThan(1e-2);
  });
});

const rwkv7: MixerDefinition = rwkv7Def;

describe('rwkv7 mixer', () => {
  const ctxOf = (dModel: number, block?: 'zoology') => ({ dModel, maxSeqLen: 64, layerIndex: 0, nLayers: 2, ...(block ? { block } : {}) });
  const stateOf = (raw: Record<string, unknown>, d: number) => rwkv7.stateFloats(resolveMixerParams(rwkv7, raw), ctxOf(d));

  it("state: paper = the recurrence's H·d_k·d_v = d²/H; measured adds the token-shift carry x_{t−1} (d)", () => {
    expect(stateOf({}, 64)).toEqual({ paper: 1024, measured: 1088 }); // 4 heads of 16: 4·16·16 = 64²/4
    expect(stateOf({ numHeads: 1 }, 32)).toEqual({ paper: 1024, measured: 1056 });
  });

  it('hyperparameters are strict and validated; LoRA ranks follow fla’s formula at granularity 8 (zoology: 64/64/128)', () => {
    expect(() => resolveMixerParams(rwkv7, { chunkSize: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(rwkv7, { decayRank: 0 })).toThrow(UserInputError);
    expect(() => resolveMixerParams(rwkv7, { head_dim: 16 })).toThrow(UserInputError);
    expect(resolveMixerParams(rwkv7, {})).toMatchObject({ numHeads: 4, chunkSize: 8 });
    expect(() => stateOf({ numHeads: 3 }, 64)).toThrow(/divisible/);
    expect(() => stateOf({ numHeads: 32 }, 32)).toThrow(/at least 2/);
    const dims = (raw: Record<string, unknown>, d: number, block?: 'zoology') => rwkv7Dims(resolveMixerParams(rwkv7, raw) as Rwkv7Params, ctxOf(d, block));
    expect(dims({}, 64)).toMatchObject({ decayRank: 8, aRank: 8, gateRank: 40 });
    expect(dims({}, 128)).toMatchObject({ decayRank: 16, aRank: 16, gateRank: 56 });
    expect(dims({}, 256)).toMatchObject({ decayRank: 40, aRank: 40, gateRank: 80 });
    expect(dims({}, 64, 'zoology')).toMatchObject({ decayRank: 64, aRank: 64, gateRank: 128 });
    expect(dims({ decayRank: 4, aRank: 6, gateRank: 12 }, 64)).toMatchObject({ decayRank: 4, aRank: 6, gateRank: 12 });
  });

  const build = (block?: 'zoology') => {
    const store = new ParamStore(3, 2);
    const mixer = rwkv7.create(resolveMixerParams(rwkv7, { numHeads: 2, chunkSize: 4 }), ctxOf(16, block), store.scope(`t.rwkv7${block ?? ''}`));
    const byName = (part: string) => store.variables.find((v) => v.name.replace(/_\d+$/, '').endsWith(`.${part}`))!;
    return { store, mixer, byName };
  };

  it("init as fla: μ, k_k, k_a, r_k, the decay and α biases, GroupNorm weight", async () => {
    const { store, byName } = build();
    const xr = await byName('x_r').data();
    expect(xr[0]).toBe(1); // 1 − 0^p
    expect(xr[15]!).toBeCloseTo(1 - Math.pow(15 / 16, 0.2), 6); // layer 0 of 2: ratio_1_to_almost0 = 1
    expect(Array.from(await byName('k_a').data()).every((x) => Math.abs(x - 1.02) < 1e-6)).toBe(true);
    expect(Array.from(await byName('r_k').data()).every((x) => Math.abs(x + 0.04) < 1e-6)).toBe(true);
    const kk = await byName('k_k').data();
    expect(kk[0]!).toBeCloseTo(0.71 + 0.05, 6);
    expect(kk[15]!).toBeCloseTo(0.71 - 0.05, 6);
    expect((await byName('g_norm.weight').data())[0]!).toBeCloseTo(Math.pow(1 / 2, 0.7), 6);
    // b_w = −6 + 6 (n/(d−1))^{1 + 0^{0.3}} + ½ + 2.5 zigzag: channel 0 of a head (zigzag −1) −8, the last of the model ½ + 2.5
    const bw = await byName('w_lora.lora.2.bias').data();
    expect(bw[0]!).toBeCloseTo(-6 + 0.5 - 2.5, 5);
    expect(bw[15]!).toBeCloseTo(0.5 + 2.5, 5);
    expect((await byName('a_lora.lora.2.bias').data())[0]!).toBeCloseTo(-0.19 - 0.3 - 0.2, 5);
    expect(store.variables.some((v) => v.name.includes('g_lora.lora.2.bias'))).toBe(false);
    expect(store.variables.some((v) => v.name.includes('v_lora'))).toBe(false); // no value residual (header)
    store.dispose();
  });

  it("under block 'zoology': zoology's init (μ, k_k, k_a, r_k zeros, GroupNorm weight 1, xavier-uniform linears of gain 2^−2.5), and step ≡ parallel", async () => {
    const { store, mixer, byName } = build('zoology');
    for (const name of ['x_r', 'x_w', 'x_k', 'x_v', 'x_a', 'x_g', 'k_k', 'k_a', 'r_k', 'w_lora.lora.2.bias', 'a_lora.lora.2.bias']) {
      expect(Array.from(await byName(name).data()).every((x) => x === 0), name).toBe(true);
    }
    expect(Array.from(await byName('g_norm.weight').data()).every((x) => x === 1)).toBe(true);
    const down = byName('w_lora.lora.0.weight');
    expect(down.shape).toEqual([16, 64]);
    const bound = 2 ** -2.5 * Math.sqrt(6 / (16 + 64));
    expect(Math.max(...Array.from(await down.abs().data()))).toBeLessThanOrEqual(bound);
    // zoology's init leaves μ and k_k at 0: move them so the shift and the removal take part in the comparison
    byName('x_k').assign(tf.fill([16], 0.5));
    byName('k_k').assign(tf.fill([16], 0.7));
    const x = randn([2, 7, 16], 51) as tf.Tensor3D;
    const parallel = mixer.forward(x, { training: false });
    expect(await relativeError(tf.stack(stepOutputs(mixer, x), 1), parallel)).toBeLessThan(2e-4);
    store.dispose();
  });
});
