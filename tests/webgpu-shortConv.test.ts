// The fused depthwise causal short convolution (accel/webgpu/shortConv.ts, lever `shortConv`) against the
// reference (ops/shortConv/conv.ts): values and the gradients of x, w and bias at k 1 / 2 / 3 / 4 / 8, T < k,
// C not a multiple of the workgroup (1, 5, 37, 70), with and without bias, and B·T large enough (3 × 300 rows) that
// the weight gradient is summed over many tiles, with the kernels' output buffers poisoned (NaN) first. A mutation
// check shows the bars catch a kernel that lets t see x[t + 1]; through the op, lever off runs the reference
// exactly (no fused kernel in tf.profile, values bit-identical), lever on the fused kernels (circular: the
// reference either way); a tiny DeltaNet and BaseConv give the same loss and gradients either way. Runs on a real
// GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped, saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { releaseGpu } from '../engine/backend.js';
import { fastForms } from '../core/fastForms.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { MAX_TAPS, SHORT_CONV_GRAD_KERNEL, SHORT_CONV_KERNEL, shortConvWebGpu } from '../accel/webgpu/shortConv.js';
import { shortConv } from '../ops/shortConv/index.js';
import { shortConv as reference } from '../ops/shortConv/conv.js';

const device = await webgpuDevice('webgpu-shortConv');

const ALL_ON = allLevers(true);

let seed = 17000;
const randn = (shape: number[], std = 1) => tf.randomNormal(shape, 0, std, 'float32', seed++);

interface Inputs {
  x: tf.Tensor3D;
  w: tf.Tensor2D;
  bias?: tf.Tensor1D;
  g: tf.Tensor3D; // cotangent of y: loss = Σ g ⊙ y
}

function inputs(B: number, T: number, C: number, K: number, withBias: boolean, draw = randn): Inputs {
  return { x: draw([B, T, C]) as tf.Tensor3D, w: draw([K, C], 0.5) as tf.Tensor2D, bias: withBias ? (draw([C], 0.5) as tf.Tensor1D) : undefined, g: draw([B, T, C]) as tf.Tensor3D };
}

type Form = (x: tf.Tensor3D, w: tf.Tensor2D, bias?: tf.Tensor1D) => tf.Tensor3D;
const fused: Form = (x, w, bias) => shortConvWebGpu(x, w, bias)!;
const naive: Form = (x, w, bias) => reference(x, w, bias);

/** y and the gradients of Σ g ⊙ y in x, w (and bias). */
function run(f: Form, i: Inputs): tf.Tensor[] {
  const args = i.bias ? [i.x, i.w, i.bias] : [i.x, i.w];
  const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor3D, a[1] as tf.Tensor2D, a[2] as tf.Tensor1D | undefined), i.g));
  return [f(i.x, i.w, i.bias), ...tf.grads(loss)(args)];
}

/** The reference plus a tap that reaches one step ahead: y[t] += w[k−1, c] · x[t + 1] (the mutation). */
const lookAhead: Form = (x, w, bias) =>
  tf.tidy(() => {
    const [B, T, C] = x.shape;
    const next = tf.pad(x.slice([0, 1, 0], [B, T - 1, C]), [
      [0, 0],
      [0, 1],
      [0, 0],
    ]);
    return tf.add(reference(x, w, bias), tf.mul(next, w.slice([w.shape[0] - 1, 0], [1, C]).reshape([C]))) as tf.Tensor3D;
  });

const NAMES = ['y', 'dx', 'dw', 'db'];
const FORWARD_BAR = 1e-6;
const GRAD_BAR = 1e-5;
const bar = (i: number) => (i === 0 ? FORWARD_BAR : GRAD_BAR);

describe.skipIf(!device)(`fused causal short convolution on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(ALL_ON);
  });
  afterAll(() => {
    releaseGpu();
  });

  // [B, T, C, k, bias]
  const SHAPES = [
    [1, 1, 1, 1, false],
    [2, 5, 5, 1, true],
    [2, 2, 5, 4, true], // T < k
    [1, 1, 3, 3, false], // T = 1 < k
    [3, 7, 37, 3, true],
    [2, 17, 70, 4, false],
    [1, 9, 64, 2, true],
    [3, 300, 37, 4, true], // 900 rows: the weight gradient spans 15 tiles of 64 rows
    [2, 300, 5, 3, false],
    [2, 13, 6, MAX_TAPS, true],
  ] as const;

  it('values and the gradients of x, w and bias match the reference', async () => {
    const worst = NAMES.map(() => ({ abs: 0, rel: 0 }));
    for (const [B, T, C, K, withBias] of SHAPES) {
      const x = inputs(B, T, C, K, withBias);
      // the kernels' outputs: y and dx [B, T, C], dw [k, C], db [C]
      await poison([[B, T, C], [K, C], [C]]);
      const got = run(fused, x);
      const ref = run(naive, x);
      expect(got.length).toBe(withBias ? 4 : 3);
      for (let i = 0; i < got.length; i++) {
        const e = await errors(got[i]!, ref[i]!);
        expect(e.rel, `[${B}, ${T}, ${C}] k ${K}${withBias ? ' bias' : ''} ${NAMES[i]}`).toBeLessThan(bar(i));
        worst[i] = { abs: Math.max(worst[i]!.abs, e.abs), rel: Math.max(worst[i]!.rel, e.rel) };
      }
      tf.dispose([x.x, x.w, x.g, ...(x.bias ? [x.bias] : []), ...got, ...ref]);
    }
    console.log(`short conv: worst errors vs reference ${worst.map((e, i) => `${NAMES[i]} abs ${e.abs.toExponential(2)} rel ${e.rel.toExponential(2)}`).join('; ')}`);
  });

  it('circular (non-causal) form: values and the gradients of x, w and bias match the circular reference, wrapping more than once when k − 1 > T', async () => {
    const circularFused: Form = (x, w, bias) => shortConvWebGpu(x, w, bias, { circular: true })!;
    const circularNaive: Form = (x, w, bias) => reference(x, w, bias, { circular: true });
    for (const [B, T, C, K, withBias] of SHAPES) {
      const x = inputs(B, T, C, K, withBias);
      await poison([[B, T, C], [K, C], [C]]);
      const got = run(circularFused, x);
      const ref = run(circularNaive, x);
      const causal = run(naive, x);
      for (let i = 0; i < got.length; i++) {
        expect((await errors(got[i]!, ref[i]!)).rel, `circular [${B}, ${T}, ${C}] k ${K}${withBias ? ' bias' : ''} ${NAMES[i]}`).toBeLessThan(bar(i));
      }
      // it is not the causal conv (where any tap wraps: T ≥ 1, k ≥ 2)
      if (K >= 2) expect((await errors(got[0]!, causal[0]!)).rel, `circular ≠ causal [${B}, ${T}, ${C}] k ${K}`).toBeGreaterThan(100 * FORWARD_BAR);
      tf.dispose([x.x, x.w, x.g, ...(x.bias ? [x.bias] : []), ...got, ...ref, ...causal]);
    }
    // a stack of runs, circular: each run's examples with its own taps
    const [R, b, T, C, K] = [2, 3, 5, 6, 3];
    const xs = randn([R * b, T, C]) as tf.Tensor3D;
    const ws = randn([R, K, C], 0.8) as tf.Tensor3D;
    const stacked = shortConvWebGpu(xs, ws, undefined, { circular: true })!;
    const alone = tf.concat(tf.split(xs, R, 0).map((part, r) => reference(part as tf.Tensor3D, ws.slice([r, 0, 0], [1, K, C]).reshape([K, C]) as tf.Tensor2D, undefined, { circular: true })), 0);
    expect((await errors(stacked, alone)).rel).toBeLessThan(FORWARD_BAR);
    tf.dispose([xs, ws, stacked, alone]);
  });

  it("a stack's run axis (w [R, k, C], bias [R, C]): each run's examples with its own taps, and its own gradients", async () => {
    // [R, B per run, T, C, k, bias]: 5 × 70 = 350 rows per run, so a run's last weight-gradient tile is partial
    for (const [R, b, T, C, K, withBias] of [[3, 2, 5, 7, 3, true], [2, 5, 70, 37, 4, true], [4, 1, 9, 6, 2, false]] as const) {
      const x = randn([R * b, T, C]) as tf.Tensor3D;
      const w = randn([R, K, C], 0.8) as tf.Tensor3D; // far apart per run: a kernel reading run 0's taps for all fails
      const bias = withBias ? (randn([R, C], 0.8) as tf.Tensor2D) : undefined;
      const g = randn([R * b, T, C]) as tf.Tensor3D;
      // the reference: run r's examples alone through the plain conv with its own w[r], bias[r]
      const perRun = (a: tf.Tensor3D, ww: tf.Tensor3D, bb?: tf.Tensor2D) =>
        tf.concat(tf.split(a, R, 0).map((part, r) => reference(part as tf.Tensor3D, ww.slice([r, 0, 0], [1, K, C]).reshape([K, C]) as tf.Tensor2D, bb?.slice([r, 0], [1, C]).reshape([C]) as tf.Tensor1D | undefined)), 0) as tf.Tensor3D;
      const both = (f: (a: tf.Tensor3D, ww: tf.Tensor3D, bb?: tf.Tensor2D) => tf.Tensor3D) => {
        const args = bias ? [x, w, bias] : [x, w];
        const loss = (...a: tf.Tensor[]) => tf.sum(tf.mul(f(a[0] as tf.Tensor3D, a[1] as tf.Tensor3D, a[2] as tf.Tensor2D | undefined), g));
        return [f(x, w, bias), ...tf.grads(loss)(args)];
      };
      await poison([[R * b, T, C], [R, K, C], [R, C]]);
      const got = both((a, ww, bb) => shortConvWebGpu(a, ww, bb)!);
      const ref = both(perRun);
      expect(got.length).toBe(withBias ? 4 : 3);
      for (let i = 0; i < got.length; i++) {
        expect(got[i]!.shape, NAMES[i]).toEqual(ref[i]!.shape);
        expect((await errors(got[i]!, ref[i]!)).rel, `R ${R} [${b}, ${T}, ${C}] k ${K} ${NAMES[i]}`).toBeLessThan(bar(i));
      }
      tf.dispose([x, w, g, ...(bias ? [bias] : []), ...got, ...ref]);
    }
    // a run count that does not divide the examples: declined (the op runs its reference)
    expect(shortConvWebGpu(randn([3, 4, 5]) as tf.Tensor3D, randn([2, 3, 5]) as tf.Tensor3D)).toBeUndefined();
  });

  it('mutation check: a kernel that lets t see x[t + 1] fails the same bars', async () => {
    let own = 99500;
    const x = inputs(2, 9, 5, 3, true, (shape, std = 1) => tf.randomNormal(shape, 0, std, 'float32', own++));
    const got = run(fused, x);
    const same = run(naive, x);
    const ahead = run(lookAhead, x);
    for (let i = 0; i < 3; i++) {
      expect((await errors(got[i]!, same[i]!)).rel, `reference: ${NAMES[i]}`).toBeLessThan(bar(i));
      expect((await errors(got[i]!, ahead[i]!)).rel, `one step ahead: ${NAMES[i]}`).toBeGreaterThan(100 * bar(i));
    }
    tf.dispose([x.x, x.w, x.g, x.bias!, ...got, ...same, ...ahead]);
  });

  it('through the op: lever off is the reference exactly, lever on the fused kernels; circular and declined shapes run the reference', async () => {
    const x = inputs(2, 11, 6, 3, true);
    const data = async (t: tf.Tensor) => Array.from(await t.data());
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'shortConv').map((f) => f.op)).toEqual(['shortConv']);
    expect(fastForms().filter((f) => f.backend === 'webgpu' && f.lever === 'shortConvCircular').map((f) => f.op)).toEqual(['shortConv (circular)']);
    /** The kernels a training-style call (value and all gradients) runs, and its outputs. */
    const traced = async (f: Form, i: Inputs = x) => {
      let out: tf.Tensor[] = [];
      const info = await tf.profile(() => {
        out = run(f, i);
        return out;
      });
      return { kernels: new Set(info.kernelNames), out };
    };
    const op: Form = (a, w, b) => shortConv(a, w, b);
    const on = await traced(op);
    expect(on.kernels.has(SHORT_CONV_KERNEL) && on.kernels.has(SHORT_CONV_GRAD_KERNEL)).toBe(true);
    const direct = run(fused, x);
    for (let i = 0; i < 4; i++) expect(await data(on.out[i]!), NAMES[i]).toEqual(await data(direct[i]!));
    // circular: its own lever (shortConvCircular): on → the fused kernels, off → the reference
    const circular: Form = (a, w, b) => shortConv(a, w, b, { circular: true });
    const circOn = await traced(circular);
    expect(circOn.kernels.has(SHORT_CONV_KERNEL) && circOn.kernels.has(SHORT_CONV_GRAD_KERNEL)).toBe(true);
    const circDirect = run((a, w, b) => shortConvWebGpu(a, w, b, { circular: true })!, x);
    for (let i = 0; i < 4; i++) expect(await data(circOn.out[i]!), `circular ${NAMES[i]}`).toEqual(await data(circDirect[i]!));
    setFastPath({ shortConvCircular: false });
    const circOffLever = await traced(circular);
    setFastPath({ shortConvCircular: true });
    expect(circOffLever.kernels.has(SHORT_CONV_KERNEL)).toBe(false);
    const circRef = run((a, w, b) => reference(a, w, b, { circular: true }), x);
    for (let i = 0; i < 4; i++) expect(await data(circOffLever.out[i]!), `circular lever off ≡ reference: ${NAMES[i]}`).toEqual(await data(circRef[i]!));
    tf.dispose([...circDirect, ...circOffLever.out, ...circRef]);
    // declined: not float32, more taps than MAX_TAPS
    expect(shortConvWebGpu(x.x.cast('int32') as tf.Tensor3D, x.w)).toBeUndefined();
    const wide = randn([MAX_TAPS + 1, 6], 0.5) as tf.Tensor2D;
    expect(shortConvWebGpu(x.x, wide)).toBeUndefined();
    const wideOn = await traced(op, { ...x, w: wide });
    expect(wideOn.kernels.has(SHORT_CONV_KERNEL)).toBe(false);
    try {
      setFastPath({ shortConv: false });
      const off = await traced(op);
      expect(off.kernels.has(SHORT_CONV_KERNEL) || off.kernels.has(SHORT_CONV_GRAD_KERNEL)).toBe(false);
      const ref = run(naive, x);
      for (let i = 0; i < 4; i++) {
        expect(await data(off.out[i]!), `lever off ≡ reference: ${NAMES[i]}`).toEqual(await data(ref[i]!));
        expect((await errors(off.out[i]!, on.out[i]!)).rel, NAMES[i]).toBeLessThan(bar(i));
      }
      // the causal lever does not switch the circular form
      const circOff = await traced(circular);
      for (let i = 0; i < 4; i++) expect(await data(circOff.out[i]!), `circular ${NAMES[i]}`).toEqual(await data(circOn.out[i]!));
      tf.dispose([...off.out, ...ref, ...circOff.out]);
    } finally {
      setFastPath({ shortConv: true });
    }
    tf.dispose([x.x, x.w, x.g, x.bias!, wide, ...on.out, ...direct, ...circOn.out, ...wideOn.out]);
  });

  it('a training step of a tiny non-causal BaseConv (jrt-sd): lever shortConvCircular on and off give the same loss and gradients', async () => {
    const e = await expectLeverStepAgrees('shortConvCircular', [{ mixer: 'baseconv', params: { convType: 'short', kernelSize: 3, causal: false } }], { seqLen: 12, seed: 5, kernels: [SHORT_CONV_KERNEL, SHORT_CONV_GRAD_KERNEL], label: 'non-causal baseconv' });
    console.log(`tiny non-causal baseconv: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });

  it.each([
    ['deltanet', { mixer: 'deltanet', params: {} }],
    ['baseconv', { mixer: 'baseconv', params: { convType: 'short', kernelSize: 3 } }],
  ] as const)('a training step of a tiny %s: lever on and off give the same loss and gradients', async (name, layer) => {
    const e = await expectLeverStepAgrees('shortConv', [layer], { seqLen: 12, seed: 5, kernels: [SHORT_CONV_KERNEL, SHORT_CONV_GRAD_KERNEL], label: name });
    console.log(`tiny ${name}: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });
});
