// S4D's fused convolution kernel (accel/webgpu/s4dKernel.ts, lever `ssmKernel`) against the tfjs form
// (ops/ssmKernel's s4dKernelVandermonde): K and the gradients of all five parameters (log Δ, log(−Re A), Im A, C_re,
// C_im) for a cotangent of K, at S4D-Lin's initialisation and at parameters moved away from it, H and n no multiple of
// the workgroup, L from 1 to 300, with the output buffers poisoned first; a mutation (the kernel's forward discretised
// with Δ/2) fails the bars; through the op, lever off runs the tfjs form and on the fused one; a tiny H3 trains the
// same either way. Runs on a real GPU or on lavapipe (`eval "$(bash .ci/setup-webgpu.sh)"` before vitest); skipped,
// saying why, without any adapter.
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errors, expectLeverStepAgrees, poison, webgpuDevice } from './webgpuKit.js';
import { releaseGpu } from '../engine/backend.js';
import { allLevers, setFastPath } from '../accel/webgpu/index.js';
import { S4D_KERNEL, s4dKernelWebGpu } from '../accel/webgpu/s4dKernel.js';
import { s4dKernel, s4dKernelVandermonde, type S4DParams } from '../ops/ssmKernel/index.js';

const device = await webgpuDevice('webgpu-s4dKernel');

// float32 sums of n · L terms of exp, cos, sin — against the same formulas in tfjs ops on the same device
const FORWARD_BAR = 1e-5;
const GRAD_BAR = 1e-4;
const NAMES = ['K', 'd logΔ', 'd log(−Re A)', 'd Im A', 'd C_re', 'd C_im'];

let seed = 52000;
/** S4D-Lin's initialisation (A_n = −1/2 + iπn, Δ log-uniform in [1e-3, 1e-1]), moved by `moved` (std of a normal nudge). */
function params(H: number, n: number, moved: number): S4DParams {
  const nudge = (shape: number[]) => tf.randomNormal(shape, 0, moved, 'float32', seed++);
  const v = (t: tf.Tensor) => tf.variable(t) as unknown as S4DParams['logDt'];
  return {
    logDt: v(tf.add(tf.randomUniform([H], Math.log(1e-3), Math.log(1e-1), 'float32', seed++), nudge([H]))),
    logNegAReal: v(tf.add(tf.fill([H, n], Math.log(0.5)), nudge([H, n]))),
    aImag: v(tf.add(tf.tile(tf.mul(tf.range(0, n, 1, 'float32'), Math.PI).reshape([1, n]), [H, 1]), nudge([H, n]))),
    cRe: v(tf.randomNormal([H, n], 0, Math.SQRT1_2, 'float32', seed++)),
    cIm: v(tf.randomNormal([H, n], 0, Math.SQRT1_2, 'float32', seed++)),
  };
}

type Form = (p: S4DParams, L: number) => tf.Tensor2D;
const fused: Form = (p, L) => s4dKernelWebGpu(p, L)!;
const reference: Form = (p, L) => s4dKernelVandermonde(p, L);

/** K and the gradients of Σ g ⊙ K in the five parameters. */
function run(f: Form, p: S4DParams, L: number, g: tf.Tensor): tf.Tensor[] {
  const list = [p.logDt, p.logNegAReal, p.aImag, p.cRe, p.cIm];
  const loss = (...t: tf.Tensor[]) => tf.sum(tf.mul(f({ logDt: t[0], logNegAReal: t[1], aImag: t[2], cRe: t[3], cIm: t[4] } as unknown as S4DParams, L), g));
  return [f(p, L), ...tf.grads(loss)(list)];
}

describe.skipIf(!device)(`fused S4D kernel on WebGPU (${device ?? 'no adapter'})`, () => {
  beforeAll(() => {
    setFastPath(allLevers(true));
  });
  afterAll(() => {
    releaseGpu();
  });

  it('K and the five parameters\' gradients match the tfjs form', async () => {
    const worst = NAMES.map(() => 0);
    // [H, n, L, moved]
    for (const [H, n, L, moved] of [[3, 2, 1, 0], [5, 7, 37, 0], [67, 8, 300, 0.3], [2, 33, 64, 0.5]] as const) {
      const p = params(H, n, moved);
      const g = tf.randomNormal([H, L], 0, 1, 'float32', seed++);
      await poison([[H, L], [5, H, n]]);
      const got = run(fused, p, L, g);
      const want = run(reference, p, L, g);
      for (let i = 0; i < got.length; i++) {
        const { rel } = await errors(got[i]!, want[i]!);
        expect(rel, `[H ${H}, n ${n}, L ${L}, moved ${moved}] ${NAMES[i]}`).toBeLessThan(i === 0 ? FORWARD_BAR : GRAD_BAR);
        worst[i] = Math.max(worst[i]!, rel);
      }
      tf.dispose([g, ...got, ...want, ...Object.values(p)]);
    }
    console.log(`s4d kernel: worst relative errors ${worst.map((e, i) => `${NAMES[i]} ${e.toExponential(2)}`).join(', ')}`);
  });

  it('mutation check: the tfjs form discretised with Δ/2 fails the same bars', async () => {
    const p = params(4, 5, 0.2);
    const g = tf.randomNormal([4, 40], 0, 1, 'float32', seed++);
    const halved: Form = (q, L) => s4dKernelVandermonde({ ...q, logDt: tf.sub(q.logDt, Math.LN2) } as unknown as S4DParams, L);
    const got = run(fused, p, 40, g);
    const wrong = run(halved, p, 40, g);
    for (let i = 0; i < got.length; i++) expect((await errors(got[i]!, wrong[i]!)).rel, NAMES[i]).toBeGreaterThan(100 * (i === 0 ? FORWARD_BAR : GRAD_BAR));
    tf.dispose([g, ...got, ...wrong, ...Object.values(p)]);
  });

  it('through the op: lever on runs the fused kernel, lever off the tfjs form; a tiny H3 trains the same either way', async () => {
    const p = params(3, 4, 0.1);
    const ran = async (on: boolean) => {
      setFastPath({ ssmKernel: on });
      let K!: tf.Tensor;
      const info = await tf.profile(() => (K = s4dKernel(p, 20)));
      return { kernels: new Set(info.kernelNames), K };
    };
    const on = await ran(true);
    const off = await ran(false);
    setFastPath({ ssmKernel: true });
    expect(on.kernels.has(S4D_KERNEL)).toBe(true);
    expect(off.kernels.has(S4D_KERNEL)).toBe(false);
    expect((await errors(on.K, off.K)).rel).toBeLessThan(FORWARD_BAR);
    tf.dispose([on.K, off.K, ...Object.values(p)]);
    const e = await expectLeverStepAgrees('ssmKernel', [{ mixer: 'h3', params: { stateDim: 8 } }], { seqLen: 12, kernels: [S4D_KERNEL] });
    console.log(`tiny H3: loss rel ${e.lossRel.toExponential(2)}, worst gradient rel ${e.worstGradRel.toExponential(2)}`);
  });
});
