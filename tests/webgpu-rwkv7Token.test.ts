// RWKV-7's fused keys and output (accel/webgpu/rwkv7Token.ts, lever `rwkv7Token`) against the plain ops
// (ops/rwkv7Token/naive.ts): values and every input's gradient (the per-channel k_k, k_a, r_k summed over tokens
// included) with the outputs poisoned (NaN) first, one dispatch each way, the reference with the lever off; a tiny
// RWKV-7 training step agrees with the lever on and off. A keys gradient without the L2 norm's projection term fails
// the same bar. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchesSince, errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';
import { RWKV7_KEYS_GRAD_KERNEL, RWKV7_KEYS_KERNEL, RWKV7_OUTPUT_GRAD_KERNEL, RWKV7_OUTPUT_KERNEL } from '../accel/webgpu/rwkv7Token.js';
import { rwkv7Keys, rwkv7KeysNaive, rwkv7Output, rwkv7OutputNaive } from '../ops/rwkv7Token/index.js';
import rwkv7Def from '../architectures/rwkv7.js';
import type { MixerDefinition } from '../architectures/mixer.js';
import { ParamStore } from '../engine/params.js';
import { stepOutputs } from '../engine/mixerChecks.js';
import { resolveMixerParams } from '../engine/registry.js';

const device = await webgpuDevice('webgpu-rwkv7Token');

let seed = 23000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
// [lead, H, d_k]: one token row, a batch of rows, heads of two channels (the least the mixer takes), d 128 over 4 heads
// d_k 72: wider than a row's 64 threads, so some threads take two channels (the kernels stride over the head)
const SHAPES: Array<[number[], number, number, 'zeros'?]> = [[[1], 1, 4], [[2, 5], 2, 3], [[3], 4, 2], [[2, 16], 4, 32], [[2, 3], 2, 72], [[2, 5], 2, 4, 'zeros']];
// 'zeros': the per-channel parameters at zoology's init (k_k = k_a = r_k = 0: κ̂ = 0, the norm's 1/√ε = 1000)
const param = (shape: number[], zeros?: 'zeros') => (zeros ? tf.zeros(shape) : randn(shape));

describe.skipIf(!device)(`fused RWKV-7 keys and output on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('keys: w, k, a, b and the five inputs\' gradients match the reference; one dispatch each way; the reference with the lever off', async () => {
    for (const [lead, H, dk, zeros] of SHAPES) {
      const d = H * dk;
      // logits of std 3: σ near 0, 1 and between; k_k, k_a of either sign
      const ins = [randn([...lead, d], 3), randn([...lead, d], 3), randn([...lead, d]), param([d], zeros), param([d], zeros)];
      const cot = Array.from({ length: 4 }, () => randn([...lead, H, dk]));
      const loss = (f: typeof rwkv7Keys) => (...xs: tf.Tensor[]) => {
        const o = f(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, H);
        return tf.addN([o.w, o.k, o.a, o.b].map((t, i) => tf.sum(tf.mul(t, cot[i]!))));
      };
      const run = (f: typeof rwkv7Keys) => {
        const o = f(ins[0]!, ins[1]!, ins[2]!, ins[3]!, ins[4]!, H);
        return [o.w, o.k, o.a, o.b, ...tf.grads(loss(f))(ins)];
      };
      await poison([[...lead, H, 4 * dk], [...lead, H, 5 * dk]]);
      const before = new Map(dispatchCounts);
      const got = run(rwkv7Keys);
      await got[got.length - 1]!.data();
      expect([dispatchesSince(before, 'Rwkv7Keys'), dispatchesSince(before, 'Rwkv7KeysGrad')], `${lead} ${H}×${dk}`).toEqual([2, 1]); // the value, then under tf.grads
      const ref = run(rwkv7KeysNaive);
      const names = ['w', 'k', 'a', 'b', 'dwLogit', 'daLogit', 'dk0', 'dkK', 'dkA'];
      for (let i = 0; i < names.length; i++) expect((await errors(got[i]!, ref[i]!)).rel, `${lead} ${H}×${dk} ${names[i]}`).toBeLessThan(BAR);
      tf.dispose([...ins, ...cot, ...got, ...ref]);
    }
    setFastPath({ rwkv7Token: false });
    const x = tf.ones([2, 8]);
    const kernels = new Set((await tf.profile(() => rwkv7Keys(x, x, x, tf.ones([8]), tf.ones([8]), 2).b)).kernelNames);
    expect([kernels.has(RWKV7_KEYS_KERNEL), kernels.has('Sigmoid')]).toEqual([false, true]);
    setFastPath({ rwkv7Token: true });
  });

  it('output: y and the six inputs\' gradients match the reference; one dispatch each way; the reference with the lever off', async () => {
    for (const [lead, H, dk, zeros] of SHAPES) {
      const heads = [...lead, H, dk];
      const ins = [randn(heads), randn(heads), randn(heads), randn(heads), param([H, dk], zeros), randn([...lead, H * dk])];
      const cot = randn([...lead, H * dk]);
      const f = (op: typeof rwkv7Output) => (...xs: tf.Tensor[]) => op(xs[0]!, xs[1]!, xs[2]!, xs[3]!, xs[4]!, xs[5]!);
      const run = (op: typeof rwkv7Output) => [f(op)(...ins), ...tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(f(op)(...xs), cot)))(ins)];
      await poison([[...lead, H * dk], [...lead, H, 6 * dk]]);
      const before = new Map(dispatchCounts);
      const got = run(rwkv7Output);
      await got[got.length - 1]!.data();
      expect([dispatchesSince(before, 'Rwkv7Output'), dispatchesSince(before, 'Rwkv7OutputGrad')], `${lead} ${H}×${dk}`).toEqual([2, 1]);
      const ref = run(rwkv7OutputNaive);
      const names = ['y', 'do', 'dr', 'dk', 'dv', 'drK', 'dg'];
      for (let i = 0; i < names.length; i++) expect((await errors(got[i]!, ref[i]!)).rel, `${lead} ${H}×${dk} ${names[i]}`).toBeLessThan(BAR);
      tf.dispose([...ins, cot, ...got, ...ref]);
    }
    setFastPath({ rwkv7Token: false });
    const x = tf.ones([2, 2, 4]);
    const kernels = new Set((await tf.profile(() => rwkv7Output(x, x, x, x, tf.ones([2, 4]), tf.ones([2, 8])))).kernelNames);
    expect([kernels.has(RWKV7_OUTPUT_KERNEL), kernels.has('Multiply')]).toEqual([false, true]);
    setFastPath({ rwkv7Token: true });
  });

  it('mutation check: the keys gradient without the L2 norm\'s projection term fails the bar', async () => {
    // dk0 through κ̂ alone (the other outputs' cotangents zero): r (dκ − κ (κ·dκ)) k_k; dropping κ (κ·dκ) is the mutation
    const [H, dk] = [2, 4];
    const [wl, al, k0, kK, kA] = [randn([3, 8], 3), randn([3, 8], 3), randn([3, 8]), randn([8]), randn([8])];
    const ga = randn([3, H, dk]);
    const viaA = (f: typeof rwkv7Keys) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(wl, al, x, kK, kA, H).a, ga)))(k0);
    const fused = viaA(rwkv7Keys);
    const ref = viaA(rwkv7KeysNaive);
    const kk = tf.mul(k0, kK).reshape([3, H, dk]);
    const inv = tf.rsqrt(tf.add(tf.sum(tf.square(kk), -1, true), 1e-6));
    const dropped = tf.mul(tf.mul(tf.neg(ga), inv).reshape([3, 8]), kK); // r · dκ · k_k, dκ = −ga
    expect((await errors(fused, ref)).rel).toBeLessThan(BAR);
    expect((await errors(dropped, ref)).rel).toBeGreaterThan(100 * BAR);
    tf.dispose([wl, al, k0, kK, kA, ga, fused, ref, kk, inv, dropped]);
  });

  it("the recurrent step view with the lever on: token by token ≡ the parallel forward, and ≡ the step with it off (zoology's block)", async () => {
    const rwkv7 = rwkv7Def as unknown as MixerDefinition;
    const store = new ParamStore(3, 2);
    const mixer = rwkv7.create(resolveMixerParams(rwkv7, { numHeads: 2, chunkSize: 4 }), { dModel: 16, maxSeqLen: 64, layerIndex: 0, nLayers: 2, block: 'zoology' }, store.scope('t.rwkv7'));
    // zoology's init leaves k_k, k_a, r_k at 0: move them so the removal key and the bonus take part
    for (const [part, value] of [['k_k', 0.7], ['k_a', 1.1], ['r_k', -0.3]] as const) store.variables.find((v) => v.name.replace(/_\d+$/, '').endsWith(`.${part}`))!.assign(tf.fill(part === 'r_k' ? [2, 8] : [16], value));
    const x = randn([2, 7, 16]) as tf.Tensor3D;
    const stepped = (on: boolean) => {
      setFastPath({ rwkv7Token: on });
      return tf.stack(stepOutputs(mixer, x), 1);
    };
    const before = new Map(dispatchCounts);
    const fused = stepped(true);
    await fused.data();
    expect([dispatchesSince(before, 'Rwkv7Keys'), dispatchesSince(before, 'Rwkv7Output')]).toEqual([7, 7]);
    const parallel = mixer.forward(x, { training: false });
    expect((await errors(fused, parallel)).rel).toBeLessThan(2e-4);
    expect((await errors(fused, stepped(false))).rel).toBeLessThan(BAR * 10);
    setFastPath({ rwkv7Token: true });
    store.dispose();
  });

  it('a tiny RWKV-7 training step: lever rwkv7Token on and off give the same loss and gradients', async () => {
    const step = await expectLeverStepAgrees('rwkv7Token', [{ mixer: 'rwkv7', params: { numHeads: 2 } }, { mixer: 'rwkv7', params: { numHeads: 2 } }], {
      seqLen: 12,
      kernels: [RWKV7_KEYS_KERNEL, RWKV7_KEYS_GRAD_KERNEL, RWKV7_OUTPUT_KERNEL, RWKV7_OUTPUT_GRAD_KERNEL],
    });
    console.log(`rwkv7Token lever: loss rel ${step.lossRel.toExponential(2)}, gradients ${step.worstGradRel.toExponential(2)}`);
  });
});
