// Stacked runs on WebGPU with the default fast path (engine/stack.ts; tests/stack.test.ts checks the CPU): a stacked
// step's loss and every gradient slice equal the run's step alone on the same device — dropout on, so the fused
// hashed dropout must draw each run's mask over the run's own elements, and the fused layerNorm, cross-entropy and
// AdamW must decline or serve the stacked shapes. Lavapipe after `eval "$(bash .ci/setup-webgpu.sh)"`, or a GPU.
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { LanguageModel, type LayerSpec, type ModelConfig } from '../engine/model.js';
import { AdamW } from '../engine/optimizer.js';
import { stackStepLoss, trainStackStep } from '../engine/stack.js';
import { batchesOf, stepLoss, supervised, trainStep } from '../engine/train.js';
import { buildSplits } from '../tasks/dataset.js';
import { adamWWebGpu } from '../accel/webgpu/adamw.js';
import { dropoutWebGpu } from '../accel/webgpu/dropout.js';
import { setFastPath } from '../accel/webgpu/index.js';
import { hashDropoutNaive } from '../ops/dropout/index.js';
import { errors, poison, relErr, webgpuDevice } from './webgpuKit.js';

const device = await webgpuDevice('webgpu-stack');

const ATTENTION: LayerSpec[] = [{ mixer: 'attention', params: { numHeads: 2, dropout: 0.1 } }, { mixer: 'sliding-window', params: { windowSize: 4, dropout: 0.1 } }];
const MAMBA: LayerSpec[] = [{ mixer: 'mamba', params: { stateDim: 4 } }, { mixer: 'mamba', params: { stateDim: 4 } }];
const RWKV: LayerSpec[] = [{ mixer: 'rwkv' }, { mixer: 'rwkv' }];
const BASED: LayerSpec[] = [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }, { mixer: 'based', params: { featureDim: 4 } }];
const HYENA: LayerSpec[] = [{ mixer: 'hyena', params: { filterOrder: 8, innerMlps: 1 } }, { mixer: 'baseconv', params: { convType: 'long', filter: 'implicit' } }];
const H3: LayerSpec[] = [{ mixer: 'h3', params: { stateDim: 4, headDim: 2 } }];
// the models: with an MLP, except Mamba's (zoology's MambaBlock has none)
const config = (block: 'prenorm' | 'zoology', layers: LayerSpec[] = ATTENTION): ModelConfig => ({
  dModel: 16, nLayers: 2, layers, mlp: !layers.some((l) => l.mixer === 'mamba'), positionEmbeddings: true, embeddingDropout: 0.1, residualDropout: 0.1, vocabSize: 32, maxSeqLen: 16, seed: 5, block,
}) as ModelConfig;

describe.skipIf(!device)(`stacked runs on WebGPU (${device})`, () => {
  afterAll(() => releaseGpu());

  it('hashed dropout of a stack: one dispatch, each run\'s slice dropped out exactly as the run alone (values and gradient)', async () => {
    const runs = 3;
    const one = [5, 7, 9];
    const x = tf.randomNormal([runs * one[0]!, ...one.slice(1)], 0, 1, 'float32', 1);
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', 2);
    await poison([x.shape]);
    const y = dropoutWebGpu(x, 0.3, 41, runs);
    const yRef = tf.concat(tf.split(x, runs, 0).map((part) => hashDropoutNaive(part, 0.3, 41)), 0);
    expect(await relErr(y, yRef)).toBeLessThan(1e-6);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(dropoutWebGpu(a, 0.3, 41, runs), w)))(x);
    const gRef = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.concat(tf.split(a, runs, 0).map((part) => hashDropoutNaive(part, 0.3, 41)), 0), w)))(x);
    expect(await relErr(g, gRef)).toBeLessThan(1e-6);
    // not the mask of the whole tensor hashed as one: the runs' masks repeat
    expect(await relErr(y, hashDropoutNaive(x, 0.3, 41))).toBeGreaterThan(1e-2);
    tf.dispose([x, w, y, yRef, g, gRef]);
  });

  it('AdamW of a stack: the fused update with a learning rate per run equals the reference (vec4 and scalar runs, decay on/off)', async () => {
    const runs = 3;
    const shapes = [[runs, 8, 4], [runs, 7], [runs, 3, 5]];
    const init = shapes.map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', 10 + i));
    const make = (tag: string) => init.map((t, i) => tf.tidy(() => tf.variable(tf.mul(t, 1), true, `stackAdam_${tag}${i}`))); // own buffers (a clone shares one: declined)
    const fused = make('fused');
    const ref = make('ref');
    const decays = (v: tf.Variable) => !v.name.endsWith('1');
    const optFused = new AdamW(fused, { weightDecay: 0.1, decays });
    const optRef = new AdamW(ref, { weightDecay: 0.1, decays });
    for (let step = 0; step < 3; step++) {
      const grads = shapes.map((shape, i) => tf.randomNormal(shape, 0, 0.5, 'float32', 100 * step + i));
      const lrs = [1e-3, 1e-2, 3e-2].map((lr) => lr * (step + 1));
      setFastPath({ adamw: false });
      optRef.apply(grads, lrs);
      setFastPath({ adamw: true });
      optFused.stepCount += 1;
      const t = optFused.stepCount;
      expect(adamWWebGpu(fused, optFused.m, optFused.v, grads, { lr: lrs, beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 1 - 0.9 ** t, c2: 1 - 0.999 ** t, weightDecays: fused.map((v) => (decays(v) ? 0.1 : 0)) })).toBe(true);
      tf.dispose(grads);
    }
    for (let i = 0; i < shapes.length; i++) {
      expect(await relErr(fused[i]!, ref[i]!), `parameter ${i}`).toBeLessThan(1e-6);
      expect(await relErr(optFused.m[i]!, optRef.m[i]!)).toBeLessThan(1e-6);
      expect(await relErr(optFused.v[i]!, optRef.v[i]!)).toBeLessThan(1e-6);
      // each run moved by its own rate: run 2 (3e-2) further than run 0 (1e-3)
      const moved = await tf.sum(tf.abs(tf.sub(fused[i]!, init[i]!)), shapes[i]!.slice(1).map((_, k) => k + 1)).data(); // (no dataSync on webgpu in Node)
      expect(moved[2]!).toBeGreaterThan(5 * moved[0]!);
    }
    // a parameter without the stack's leading axis is declined
    const lone = tf.variable(tf.zeros([4]), true, 'stackAdam_lone');
    const zero = tf.zeros([4]);
    const moments = [tf.variable(tf.zeros([4]), false), tf.variable(tf.zeros([4]), false)];
    expect(adamWWebGpu([lone], [moments[0]!], [moments[1]!], [zero], { lr: [1e-3, 1e-3, 1e-3], beta1: 0.9, beta2: 0.999, eps: 1e-8, c1: 0.1, c2: 0.001, weightDecays: [0] })).toBe(false);
    tf.dispose([lone, zero, ...moments, ...init]);
    optFused.dispose();
    optRef.dispose();
    tf.dispose([...fused, ...ref]);
  });

  it('a stacked training step dispatches as many kernels for 2 runs as for 6, and within 5 % of the run alone: the stack\'s point (one set of dispatches for all)', async () => {
    const Pass = (globalThis as unknown as { GPUComputePassEncoder: { prototype: { dispatchWorkgroups(...a: number[]): void } } }).GPUComputePassEncoder;
    const original = Pass.prototype.dispatchWorkgroups;
    let count = 0;
    Pass.prototype.dispatchWorkgroups = function (this: unknown, ...args: number[]) {
      count++;
      return original.apply(this, args);
    };
    // a stack updates one parameter a dispatch (adamwPairs pairs a run alone's parameters: its rate table would be
    // a ninth buffer), so the run alone is counted the same way: the bar is about the stack's own dispatches
    const pairsBefore = setFastPath({}).adamwPairs;
    try {
      setFastPath({ adamwPairs: false });
      const data = buildSplits({ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 8 }], test: [{ seqLen: 16, numKvPairs: 2, count: 8 }] }, 3);
      const batch = batchesOf(data.train, 8)[0]!;
      const sup = supervised(batch.segment, batch.start, batch.size);
      const dispatchesPerStep = async (runs: number, block: 'prenorm' | 'zoology' = 'prenorm', layers?: LayerSpec[]) => {
        const model = new LanguageModel(config(block, layers), { runs });
        const optimizer = new AdamW(model.variables, { weightDecay: 0.1 });
        const step = (seed: number) => (runs === 1 ? trainStep(model, optimizer, batch, sup, 1e-3, seed) : trainStackStep(model, optimizer, batch, sup, Array.from({ length: runs }, (_, r) => 1e-3 * (r + 1)), seed));
        try {
          await step(1).data(); // first step: pipelines built, pool filled
          count = 0;
          const loss = step(2);
          const n = count;
          await loss.data();
          loss.dispose();
          return n;
        } finally {
          optimizer.dispose();
          model.dispose();
        }
      };
      const alone = await dispatchesPerStep(1);
      const [two, six] = [await dispatchesPerStep(2), await dispatchesPerStep(6)];
      console.log(`webgpu stack: dispatches per training step — alone ${alone}, 2 runs ${two}, 6 runs ${six}`);
      expect(six).toBe(two);
      // the norms, the short convs and the loss take the run axis in their fused kernels: a stack dispatches a few
      // more kernels than a run alone (its labels repeated per run), not a set per run (a broadcast affine map per
      // norm, a reference conv per tap or the reference loss would each fail this bar)
      expect(two).toBeLessThan(1.05 * alone);
      const basedAlone = await dispatchesPerStep(1, 'zoology', BASED);
      const [basedTwo, basedSix] = [await dispatchesPerStep(2, 'zoology', BASED), await dispatchesPerStep(6, 'zoology', BASED)];
      console.log(`webgpu stack: BaseConv + Based, dispatches per training step — alone ${basedAlone}, 2 runs ${basedTwo}, 6 runs ${basedSix}`);
      expect(basedSix).toBe(basedTwo);
      expect(basedTwo).toBeLessThan(1.05 * basedAlone);
    } finally {
      Pass.prototype.dispatchWorkgroups = original;
      setFastPath({ adamwPairs: pairsBefore });
    }
  });

  const cases: Array<['prenorm' | 'zoology', LayerSpec[], string]> = [['prenorm', ATTENTION, 'attention + sliding window'], ['zoology', ATTENTION, 'attention + sliding window'], ['zoology', BASED, 'BaseConv + Based'], ['zoology', MAMBA, 'Mamba'], ['zoology', RWKV, 'RWKV'], ['zoology', HYENA, 'Hyena + BaseConv long'], ['zoology', H3, 'H3']];
  for (const [block, layers, name] of cases) {
    it(`${block}, ${name}: a stack of 3 runs with different parameters — its loss the sum of theirs, every gradient slice and every updated parameter the run's`, async () => {
      const data = buildSplits({ task: 'mqar', common: { vocabSize: 32 }, train: [{ seqLen: 16, numKvPairs: 2, count: 64 }], test: [{ seqLen: 16, numKvPairs: 2, count: 8 }] }, 3);
      const batch = batchesOf(data.train, 32)[1]!;
      const sup = supervised(batch.segment, batch.start, batch.size);
      // every run its own parameters (the init plus a different nudge per run), so that a kernel reading another run's
      // slice fails; one model at a time (tfjs variable names): the stack's values kept as plain tensors meanwhile
      const init = new LanguageModel(config(block, [...layers]), { runs: 3 });
      const values = init.variables.map((v, i) => tf.add(v, tf.mul(tf.randomNormal(v.shape, 0, 0.02, 'float32', 700 + i), tf.tensor1d([0, 1, 2]).reshape([3, ...v.shape.slice(1).map(() => 1)]))));
      init.dispose();
      const sliceOf = (t: tf.Tensor, r: number) => tf.squeeze(tf.slice(t, [r, ...t.shape.slice(1).map(() => 0)], [1, ...t.shape.slice(1)]), [0]);
      // each run alone from its slice: loss and gradients; run 1 also its parameters after one AdamW step at lr 1e-2
      const solos: Array<{ value: tf.Scalar; grads: tf.Tensor[] }> = [];
      let soloAfter: tf.Tensor[] = [];
      let names: string[] = [];
      for (let r = 0; r < 3; r++) {
        const one = new LanguageModel(config(block, [...layers]));
        one.variables.forEach((v, i) => v.assign(sliceOf(values[i]!, r)));
        const solo = tf.variableGrads(() => stepLoss(one, batch, sup, 11), one.variables);
        names = one.variables.map((v) => v.name);
        solos.push({ value: solo.value, grads: names.map((n) => solo.grads[n]!) });
        if (r === 1) {
          const soloOpt = new AdamW(one.variables, { weightDecay: 0.1 });
          soloOpt.apply(names.map((n) => solo.grads[n]!), 1e-2);
          soloAfter = one.variables.map((v) => tf.clone(v));
          soloOpt.dispose();
        }
        one.dispose();
      }
      // the stack: runs at lr 1e-3, 1e-2, 3e-2 — run 1's update must be the run's alone
      const three = new LanguageModel(config(block, [...layers]), { runs: 3 });
      three.variables.forEach((v, i) => v.assign(values[i]!));
      try {
        const stack = tf.variableGrads(() => stackStepLoss(three, batch, sup, 11).total, three.variables);
        expect((await errors(stack.value, tf.addN(solos.map((x) => x.value)))).rel).toBeLessThan(1e-5);
        const stackOpt = new AdamW(three.variables, { weightDecay: 0.1 });
        stackOpt.apply(three.variables.map((v) => stack.grads[v.name]!), [1e-3, 1e-2, 3e-2]);
        let worst = 0;
        for (const [i, name] of names.entries()) {
          const s = stack.grads[three.variables[i]!.name]!;
          for (let r = 0; r < 3; r++) {
            const e = (await errors(sliceOf(s, r), solos[r]!.grads[i]!)).rel;
            worst = Math.max(worst, e);
            expect(e, `${name} gradient, run ${r}`).toBeLessThan(1e-5);
          }
          // Adam's first step is ±lr wherever |g| ≫ eps, whatever |g| is: an element whose gradient is ~1e-7 of the
          // largest can differ by a whole step between two roundings. So: on average within 0.1 % of a step (lr 1e-2)
          const deviation = tf.abs(tf.sub(sliceOf(three.variables[i]!, 1), soloAfter[i]!));
          const [mean, max] = await Promise.all([tf.mean(deviation).data(), tf.max(deviation).data()]);
          expect(mean[0]!, `${name} after the step, run 1: mean deviation`).toBeLessThan(1e-5);
          expect(max[0]!, `${name} after the step, run 1: largest deviation`).toBeLessThanOrEqual(2.5e-2);
        }
        console.log(`webgpu stack (${block}, ${name}): worst gradient slice rel error ${worst.toExponential(2)}`);
        tf.dispose([...solos.flatMap((x) => [x.value, ...x.grads]), ...values, stack.value, ...Object.values(stack.grads), ...soloAfter]);
        stackOpt.dispose();
      } finally {
        three.dispose();
      }
    }, 120_000);
  }
});
