// The fused RMSNorm / L2 normalisation (accel/webgpu/rmsNorm.ts, lever `rmsNorm`) against the reference
// (ops/rmsNorm/naive.ts): values and the gradients of x and the weight, mean of squares (RMSNorm, with and without a
// weight) and sum of squares (L2), rows of width 1 to 1024 (64/lanes rows per workgroup: 64 at width 1, 8 at 7, 4 at
// 16, 2 at 17..32, 1 from 33) and row counts that are not multiples of those blocks, nor of the weighted backward's
// blocks of rows per lane group (max(1, ⌈rows/8192⌉): 2 past 8192 rows), 65600 rows of width 33 (65600 workgroups:
// the 2-D grid; L2 only, to keep the file fast) and rows of width 70000 (the weight gradient's column pass on the
// 2-D grid), with the kernels' output buffers poisoned (NaN) first (at width 1, dx's error is taken against the
// size of the two terms its formula subtracts: both forms lose the same digits there). Through the op: lever off runs
// the reference exactly (no fused kernel in tf.profile, values bit-identical), lever on the fused kernels. Runs on a
// real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any
// adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, OFF_BY_DEFAULT, setFastPath } from '../accel/webgpu/index.js';
import { RMS_NORM_GRAD_KERNEL, RMS_NORM_KERNEL, rmsNormWebGpu } from '../accel/webgpu/rmsNorm.js';
import { l2Normalize, l2NormalizeNaive, rmsNorm, rmsNormNaive, L2_NORM_EPS, RMS_NORM_EPS, type RmsNormMode } from '../ops/rmsNorm/index.js';

const device = await webgpuDevice('webgpu-rmsNorm');

let seed = 23000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

type Form = (x: tf.Tensor, w: tf.Tensor | undefined) => tf.Tensor;
const CASES: Array<{ name: string; mode: RmsNormMode; weighted: boolean; eps: number }> = [
  { name: 'rmsNorm', mode: 'mean', weighted: true, eps: RMS_NORM_EPS },
  { name: 'rmsNorm (no weight)', mode: 'mean', weighted: false, eps: RMS_NORM_EPS },
  { name: 'l2Normalize', mode: 'sum', weighted: false, eps: L2_NORM_EPS },
];
const fusedOf = (mode: RmsNormMode, eps: number): Form => (x, w) => rmsNormWebGpu(x, w, eps, mode)!;
const naiveOf = (mode: RmsNormMode, eps: number): Form => (x, w) => (mode === 'mean' ? rmsNormNaive(x, w, eps) : l2NormalizeNaive(x, eps));

/** y and the gradients of Σ g ⊙ y in x (and w). */
function run(f: Form, x: tf.Tensor, w: tf.Tensor | undefined, g: tf.Tensor): tf.Tensor[] {
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0]!, a[1]), g));
  return [f(x, w), ...tf.grads(loss)(w ? [x, w] : [x])];
}

const NAMES = ['y', 'dx', 'dw'];
const bar = (i: number) => (i === 0 ? 1e-6 : 1e-5);

describe.skipIf(!device)(`fused RMSNorm / L2 normalisation on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(allLevers(true));
  });
  afterAll(() => {
    releaseGpu();
  });

  // [leading shape, d]: rows = product of the leading shape
  const SHAPES: Array<[number[], number]> = [
    [[3], 1], // 64 rows per workgroup, 3 of them used
    [[1], 7],
    [[2, 5], 7], // 10 rows: 8 per workgroup, the second workgroup part-filled
    [[3, 7], 17], // 2 rows per workgroup, 21 rows
    [[4, 16], 64],
    [[3, 3], 130],
    [[2, 2, 5], 130],
    [[9], 1024],
    [[40, 230], 7], // 9200 rows: 2 rows per lane group, 4600 partial rows, 575 workgroups
    [[9203], 16], // 2 rows per lane group, the last lane group 1; 4602 partial rows, 4 per workgroup
    [[2, 300], 64],
    [[2], 70000], // 70000 columns: the weight gradient's column pass on the 2-D grid
  ];

  for (const c of CASES) {
    it(`${c.name}: values and gradients match the reference`, async () => {
      const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
      for (const [lead, d] of SHAPES) {
        const shape = [...lead, d];
        const x = randn(shape, 1.5);
        const w = c.weighted ? randn([d], 0.7) : undefined;
        const g = randn(shape);
        await poison([shape, [d]]);
        const got = run(fusedOf(c.mode, c.eps), x, w, g);
        const ref = run(naiveOf(c.mode, c.eps), x, w, g);
        expect(got.length).toBe(c.weighted ? 3 : 2);
        // width 1: dx = r·g·eps/(x² + eps) is the difference of two terms that agree to ~eps/x² (the reference loses
        // the same digits): there, dx's error is measured against the size of those terms, max |r·g·w|
        const termScale = d === 1 ? await tf.max(tf.abs(tf.mul(tf.mul(tf.rsqrt(tf.add(tf.mul(x, x), c.eps)), g), w ?? 1))).data() : undefined;
        for (let i = 0; i < got.length; i++) {
          const e = await errors(got[i]!, ref[i]!);
          if (i === 1 && termScale) e.rel = e.abs / termScale[0]!;
          expect(e.rel, `${c.name} [${shape}] ${NAMES[i]}`).toBeLessThan(bar(i));
          worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
        }
        tf.dispose([x, g, ...(w ? [w] : []), ...got, ...ref]);
      }
      console.log(`${c.name}: worst errors vs reference ${worst.slice(0, c.weighted ? 3 : 2).map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
    });
  }

  it('65600 rows of width 33 (one row per workgroup: 65600 workgroups, the 2-D grid), forward and unweighted backward', async () => {
    const shape = [65600, 33];
    const x = randn(shape, 1.5);
    const g = randn(shape);
    await poison([shape]);
    const got = run(fusedOf('sum', L2_NORM_EPS), x, undefined, g);
    const ref = run(naiveOf('sum', L2_NORM_EPS), x, undefined, g);
    const e = [await errors(got[0]!, ref[0]!), await errors(got[1]!, ref[1]!)];
    for (let i = 0; i < 2; i++) expect(e[i]!.rel, `[${shape}] ${NAMES[i]}`).toBeLessThan(bar(i));
    console.log(`[${shape}] l2Normalize: ${e.map((v, i) => `${NAMES[i]} abs ${v.abs.toExponential(2)} rel ${v.rel.toExponential(2)}`).join('; ')}`);
    tf.dispose([x, g, ...got, ...ref]);
  });

  it('a mutated kernel (mean taken as the sum) fails the same bars', async () => {
    const x = randn([5, 33]);
    const w = randn([33]);
    const g = randn([5, 33]);
    const got = run(fusedOf('sum', RMS_NORM_EPS), x, w, g);
    const ref = run(naiveOf('mean', RMS_NORM_EPS), x, w, g);
    for (let i = 0; i < 3; i++) expect((await errors(got[i]!, ref[i]!)).rel, NAMES[i]).toBeGreaterThan(100 * bar(i));
    tf.dispose([x, w, g, ...got, ...ref]);
  });

  it('through the op: lever off is the reference exactly, lever on the fused kernels; declined inputs run the reference', async () => {
    expect(OFF_BY_DEFAULT.rmsNorm).toBeUndefined(); // cleared on an H200 (bench/RESULTS.md)
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'rmsNorm').map((f) => f.op)).toEqual(['rmsNorm']);
    const x = randn([2, 6, 24]);
    const w = randn([24]);
    const g = randn([2, 6, 24]);
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    const ops: Array<[string, Form, Form]> = [
      ['rmsNorm', (a, b) => rmsNorm(a, b), (a, b) => rmsNormNaive(a, b)],
      ['rmsNorm (no weight)', (a) => rmsNorm(a), (a) => rmsNormNaive(a, undefined)],
      ['l2Normalize', (a) => l2Normalize(a), (a) => l2NormalizeNaive(a)],
    ];
    const traced = async (f: Form, weight: tf.Tensor | undefined, input = x) => {
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => (out = run(f, input, weight, g)));
      return { kernels: new Set(info.kernelNames), out };
    };
    try {
      for (const [name, op, ref] of ops) {
        const weight = name === 'rmsNorm' ? w : undefined;
        setFastPath({ rmsNorm: true });
        const on = await traced(op, weight);
        expect(on.kernels.has(RMS_NORM_KERNEL) && on.kernels.has(RMS_NORM_GRAD_KERNEL), name).toBe(true);
        setFastPath({ rmsNorm: false });
        const off = await traced(op, weight);
        expect(off.kernels.has(RMS_NORM_KERNEL) || off.kernels.has(RMS_NORM_GRAD_KERNEL), name).toBe(false);
        const want = run(ref, x, weight, g);
        for (let i = 0; i < want.length; i++) {
          expect(await data(off.out[i]!), `lever off ≡ reference: ${name} ${NAMES[i]}`).toEqual(await data(want[i]!));
          expect((await errors(on.out[i]!, want[i]!)).rel, `${name} ${NAMES[i]}`).toBeLessThan(bar(i));
        }
        tf.dispose([...on.out, ...off.out, ...want]);
      }
      // declined: int32 x, a weight that is not [d]
      expect(rmsNormWebGpu(x.cast('int32'), undefined, RMS_NORM_EPS, 'mean')).toBeUndefined();
      expect(rmsNormWebGpu(x, randn([23]), RMS_NORM_EPS, 'mean')).toBeUndefined();
      expect(rmsNormWebGpu(x, randn([1, 24]), RMS_NORM_EPS, 'mean')).toBeUndefined();
    } finally {
      setFastPath({ rmsNorm: true });
    }
    tf.dispose([x, w, g]);
  });
});
