// tf.split and tf.concat along the last axis in one pass (accel/webgpu/splitConcat.ts, lever `splitConcat`): a copy,
// so the same bits as the stock kernels — every part, at widths that take the vec4 form and widths that do not, 2 to 7
// parts, ranks 1 to 4, outputs poisoned (NaN) first; one dispatch a split or concat where the stock split runs a Slice
// a part; the stock kernels for what the pass does not take (another axis, more than 7 parts, int32); and tiny
// attention, H3 and Mamba training steps agree with the lever on and off. Runs on a real GPU or on lavapipe
// (`eval "$(bash .ci/setup-webgpu.sh)"`); skipped without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { dispatchCounts } from '../accel/webgpu/dispatch.js';

const device = await webgpuDevice('webgpu-splitConcat');

let seed = 23000;
const randn = (shape: number[]) => tf.randomNormal(shape, 0, 1, 'float32', seed++);

/** How many times each named dispatch ran during f. */
async function counting<T>(f: () => T): Promise<{ value: T; ran: (name: string) => number }> {
  const before = new Map(dispatchCounts);
  const value = f();
  const all = (Array.isArray(value) ? value : [value]) as tf.Tensor[];
  await Promise.all(all.map((t) => t.data()));
  return { value, ran: (name) => (dispatchCounts.get(name) ?? 0) - (before.get(name) ?? 0) };
}

/** The same values, element for element and bit for bit (NaN never equals: an unwritten element fails). */
async function expectSameBits(got: tf.Tensor, want: tf.Tensor, label: string): Promise<void> {
  expect(got.shape, label).toEqual(want.shape);
  const [a, b] = await Promise.all([got.data(), want.data()]);
  const differing = a.findIndex((x, i) => !(x === b[i] || (Object.is(x, b[i]) && !Number.isNaN(x))));
  expect(differing, `${label}: first differing element`).toBe(-1);
}

// [lead axes, widths]: vec4 (every width a multiple of 4), scalar, and the campaign's own splits
const CASES: Array<[number[], number[]]> = [
  [[2, 5], [8, 8, 8]], // q, k, v of d 8, vec4
  [[3], [1, 2, 3, 4, 5, 6, 7]], // seven parts, scalar
  [[2, 3, 4], [12, 4]], // rank 4
  [[], [4, 4]], // rank 1
  [[7, 9], [5, 3]], // odd widths, scalar
  [[2, 64], [256, 256]], // Mamba's x and z at d 128 (E 256)
  [[2, 16], [4, 16, 16]], // Mamba's Δ, B, C at dt_rank 4, N 16
];

describe.skipIf(!device)(`split and concat along the last axis in one pass on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => setFastPath(allLevers(true)));
  afterAll(() => releaseGpu());

  it('split: every part the stock kernel\'s bits, one dispatch for all parts; concat likewise; each other\'s inverse', async () => {
    for (const [lead, widths] of CASES) {
      const C = widths.reduce((a, b) => a + b, 0);
      const x = randn([...lead, C]);
      const label = `[${lead}] ${widths.join('+')}`;
      await poison(widths.map((w) => [...lead, w]));
      const split = await counting(() => tf.split(x, widths, -1));
      expect(split.ran('SplitLastAxis'), label).toBe(1);
      setFastPath({ splitConcat: false });
      const stock = await counting(() => tf.split(x, widths, -1));
      expect(stock.ran('SplitLastAxis'), label).toBe(0);
      setFastPath({ splitConcat: true });
      for (let j = 0; j < widths.length; j++) await expectSameBits(split.value[j]!, stock.value[j]!, `${label} part ${j}`);
      await poison([[...lead, C]]);
      const joined = await counting(() => tf.concat(split.value, lead.length));
      expect(joined.ran('ConcatLastAxis'), label).toBe(1);
      await expectSameBits(joined.value, x, `${label} concat of the parts`);
      tf.dispose([x, ...split.value, ...stock.value, joined.value]);
    }
  });

  it("the gradient of a split is a concat through the pass, the stock gradient's bits", async () => {
    const x = randn([3, 4, 24]);
    const weights = [randn([3, 4, 8]), randn([3, 4, 8]), randn([3, 4, 8])];
    const grad = () => tf.grad((t: tf.Tensor) => tf.addN(tf.split(t, 3, 2).map((p, j) => tf.sum(tf.mul(p, weights[j]!)))))(x);
    const fused = await counting(grad);
    expect([fused.ran('SplitLastAxis'), fused.ran('ConcatLastAxis')]).toEqual([1, 1]);
    setFastPath({ splitConcat: false });
    const stock = grad();
    setFastPath({ splitConcat: true });
    await expectSameBits(fused.value, stock, 'dx');
    tf.dispose([x, ...weights, fused.value, stock]);
  });

  it('declines what it does not take: another axis, more than seven parts, int32 — the stock kernels, the same values', async () => {
    const x = randn([4, 6, 8]);
    const other = await counting(() => tf.split(x, 2, 1));
    expect(other.ran('SplitLastAxis')).toBe(0);
    expect(other.value[0]!.shape).toEqual([4, 3, 8]);
    const many = await counting(() => tf.split(x, 8, 2));
    expect(many.ran('SplitLastAxis')).toBe(0);
    expect(many.value).toHaveLength(8);
    const ints = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'int32');
    const intSplit = await counting(() => tf.split(ints, 2, 1));
    expect(intSplit.ran('SplitLastAxis')).toBe(0);
    expect(await intSplit.value[1]!.array()).toEqual([[3, 4], [7, 8]]);
    const backOther = await counting(() => tf.concat(other.value, 1));
    expect(backOther.ran('ConcatLastAxis')).toBe(0);
    await expectSameBits(backOther.value, x, 'concat on axis 1');
    tf.dispose([x, ints, ...other.value, ...many.value, ...intSplit.value, backOther.value]);
  });

  it('tiny attention, H3 and Mamba training steps: the same loss and gradients with the lever on and off', async () => {
    for (const mixer of ['attention', 'h3', 'mamba']) {
      // the override keeps tfjs's kernel names: the pass's own dispatch counts say it ran in the step
      const before = ['SplitLastAxis', 'ConcatLastAxis'].map((n) => dispatchCounts.get(n) ?? 0);
      const { lossRel, worstGradRel } = await expectLeverStepAgrees('splitConcat', [{ mixer }, { mixer }], { label: mixer, kernels: ['SplitV', 'Concat'] });
      const ran = ['SplitLastAxis', 'ConcatLastAxis'].map((n, i) => (dispatchCounts.get(n) ?? 0) - before[i]!);
      expect(ran.every((n) => n > 0), `${mixer}: split and concat passes ${ran}`).toBe(true);
      // a copy: not merely within rounding, the same numbers
      expect([lossRel, worstGradRel], mixer).toEqual([0, 0]);
    }
  });
});
