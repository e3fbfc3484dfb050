// Several linear maps of one input fused (accel/webgpu/projections.ts, lever `fusedProjections`: the weights side by
// side, one matmul, a split) against the reference (ops/projections/naive.ts: each map in turn): every output and the
// gradients of x, of each weight and of each bias within float32 rounding, at several widths with and without
// biases, plain and a stack's; one matmul forward and two backward in place of one and two a map; a single map declines,
// and the lever off runs the reference; a tiny step of each mixer that takes it agrees with the lever on and off. Runs on a real GPU
// or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, expectLeverStepAgrees, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { projections, projectionsNaive, type Projection } from '../ops/projections/index.js';
import { LanguageModel } from '../engine/model.js';

const device = await webgpuDevice('webgpu-projections');

let seed = 55000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);
const BAR = 2e-6;
/** How many kernels named `name` (BatchMatMul; Concat: the fused form's weights side by side) `f` runs; its result disposed. */
const count = async (name: string, f: () => tf.TensorContainer) => {
  const info = await tf.profile(f);
  tf.dispose(info.result);
  return info.kernels.filter((k) => k.name === name).length;
};
const matmuls = (f: () => tf.TensorContainer) => count('BatchMatMul', f);

describe.skipIf(!device)(`fused projections on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('each output and the gradients of x, the weights and the biases match the reference; one matmul forward, two backward', async () => {
    // [x shape, the maps' widths, which maps have a bias, runs of a stack (0: plain weights)]
    const CASES: Array<[number[], number[], boolean[], number]> = [
      [[3, 5], [2, 3], [false, true], 0],
      [[2, 7, 16], [16, 16, 32, 4, 4, 32], [false, false, false, false, true, false], 0], // Gated DeltaNet's six
      [[1, 130, 9], [1, 64, 5], [true, true, true], 0],
      [[6, 5, 8], [8, 8, 12], [true, false, true], 3], // a stack of 3 runs: x [R·B, T, in], W [R, in, out], b [R, out]
    ];
    for (const [shape, widths, biased, runs] of CASES) {
      const inDim = shape.at(-1)!;
      const x = randn(shape);
      const stack = (dims: number[]) => (runs ? [runs, ...dims] : dims);
      const maps: Projection[] = widths.map((w, i) => ({ weight: randn(stack([inDim, w]), 0.3), ...(biased[i] ? { bias: randn(stack([w])) } : {}) }));
      const cotangents = widths.map((w) => randn([...shape.slice(0, -1), w]));
      const leaves = [x, ...maps.flatMap((m) => (m.bias ? [m.weight, m.bias] : [m.weight]))];
      const run = (op: typeof projections) => {
        const f = (...ts: tf.Tensor[]) => {
          let at = 1;
          const ms = maps.map((m) => ({ weight: ts[at++]!, ...(m.bias ? { bias: ts[at++]! } : {}) }));
          return tf.addN(op(ts[0]!, ms).map((y, i) => tf.sum(tf.mul(y, cotangents[i]!))));
        };
        return [...op(x, maps), ...tf.grads(f)(leaves)];
      };
      const label = `x [${shape}], widths ${widths}${runs ? `, a stack of ${runs}` : ''}`;
      expect(await matmuls(() => projections(x, maps)), label).toBe(1);
      // with the gradients of x and every weight: one product forward, dx and dW for all maps (the reference: three a map)
      const withGrads = (op: typeof projections) => () =>
        tf.grads((a: tf.Tensor, ...ws: tf.Tensor[]) => tf.addN(op(a, ws.map((w) => ({ weight: w }))).map((y) => tf.sum(y))))([x, ...maps.map((m) => m.weight)]);
      expect(await count('Concat', () => projections(x, maps)), `${label}: the weights side by side`).toBe(1);
      expect(await matmuls(withGrads(projections)), `${label}: with the gradients`).toBe(3);
      expect(await matmuls(withGrads(projectionsNaive)), `${label}: the reference with the gradients`).toBe(3 * widths.length);
      const got = run(projections);
      const ref = run(projectionsNaive);
      expect(got.length).toBe(ref.length);
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, `${label} #${i}`).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `${label} #${i}`).toBeLessThan(BAR);
      }
      tf.dispose([x, ...leaves, ...cotangents, ...got, ...ref]);
    }
  });

  it('a single map, weights of mixed ranks, and the lever off run the reference', async () => {
    const x = randn([4, 6]);
    const maps = [{ weight: randn([6, 3]) }, { weight: randn([6, 2]) }, { weight: randn([6, 5]) }];
    expect(await matmuls(() => projections(x, maps))).toBe(1);
    expect(await count('Concat', () => projections(x, maps))).toBe(1); // the fused form: the weights side by side
    expect(await count('Concat', () => projections(x, maps.slice(0, 1)))).toBe(0); // one map: declined
    const stacked = [{ weight: randn([2, 6, 3]) }, { weight: randn([6, 2]) }];
    expect(await matmuls(() => projections(x.reshape([2, 2, 6]), stacked))).toBe(2);
    expect(await count('Concat', () => projections(x.reshape([2, 2, 6]), stacked))).toBe(0);
    setFastPath({ fusedProjections: false });
    expect(await matmuls(() => projections(x, maps))).toBe(3);
    setFastPath({ fusedProjections: true });
    const narrow = randn([5, 3]);
    expect(() => projections(x, [{ weight: narrow }])).toThrow(/x has 6 features, a map takes 5/);
    tf.dispose([x, narrow, ...maps.map((m) => m.weight), ...stacked.map((m) => m.weight)]);
  });

  // [mixer, params, matmuls a step fewer with the lever on: (maps − 1) forward + 2·(maps − 1) backward, two layers]
  it.each([
    ['gated-deltanet', {}, 2 * 3 * 5],
    ['gated-deltanet', { outputGate: false }, 2 * 3 * 4],
    ['deltanet', {}, 2 * 3 * 3],
    ['gla', {}, 2 * 3 * 4],
    ['gla', { outputGate: false, shortConv: true }, 2 * 3 * 3],
    ['linear-attention', {}, 2 * 3 * 2],
    ['based', {}, 2 * 3 * 2],
    ['jrt-rnn', {}, 2 * 3 * (2 + 1)], // with a prefix of 4: the decoder's q, k, v and the encoder's k, v
  ] as const)('a tiny %s %o training step: lever fusedProjections on and off give the same loss and gradients, with fewer matmuls', async (mixer, params, fewer) => {
    const layers = [{ mixer, params: { ...params } }];
    const prefixLength = mixer === 'jrt-rnn' ? 4 : undefined;
    const result = await expectLeverStepAgrees('fusedProjections', layers, { seqLen: 9, label: `fusedProjections ${mixer}`, prefixLength });
    console.log(`fusedProjections lever: ${mixer} ${JSON.stringify(params)} loss rel ${result.lossRel.toExponential(2)}, gradients ${result.worstGradRel.toExponential(2)}`);
    // the mixer really took the fused form: the same model's step with the lever on runs that many fewer matmuls
    const model = new LanguageModel({ vocabSize: 30, dModel: 16, nLayers: 2, maxSeqLen: 9, layers, positionEmbeddings: false, mlp: false, embeddingDropout: 0, residualDropout: 0, seed: 3 });
    const tokens = tf.tensor2d(Array.from({ length: 18 }, (_, i) => (i * 7) % 30), [2, 9], 'int32');
    const step = (on: boolean) => {
      setFastPath({ fusedProjections: on });
      return matmuls(() => { const g = tf.variableGrads(() => tf.sum(model.forward(tokens, { training: true, dropoutSeed: 1, prefixLength })), model.variables); return [g.value, ...Object.values(g.grads)]; });
    };
    const [on, off] = [await step(true), await step(false)];
    setFastPath({ fusedProjections: true });
    expect(off - on, `${mixer} ${JSON.stringify(params)}: ${off} matmuls without, ${on} with`).toBe(fewer);
    tf.dispose(tokens);
    model.dispose();
  });
});
