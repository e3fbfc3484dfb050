// S4D's convolution kernel (H3's diagonal SSM), fused (lever `ssmKernel`): the fast form of ops/ssmKernel's s4dKernel.
//
// The tfjs form (s4dKernelVandermonde) discretises on [H, n] tensors and builds dA^l on [H, n, L] ones: about 35
// small kernels forward and 70 in its gradient for each call, which is most of an H3 step's dispatches (the step is
// host-bound). Here, with the same formulas (ops/ssmKernel/kernel.ts):
//   forward   one thread per (h, l): for each mode n, the bilinear discretisation (dA, W = C·dB), then
//             K[h, l] = 2 Σ_n (W_re·|dA|^l cos lθ − W_im·|dA|^l sin lθ),  |dA|^l = exp(l·log|dA|), θ = arg dA
//   backward  one thread per (h, n): over l, with g = dK[h, l] and P = dA^l,
//             ∂W_re = 2 Σ g P_re,  ∂W_im = −2 Σ g P_im,  ∂log|dA| = 2 Σ g l Re(W P),  ∂θ = −2 Σ g l Im(W P),
//             then back through θ, log|dA|, the bilinear map and the exponentials to log(−Re A), Im A, C and
//             Δ·∂Δ per mode (its sum over n is log Δ's gradient: one tf.sum)
// Reference: s4dKernelVandermonde (tests/webgpu-s4dKernel.test.ts: values and the five parameters' gradients).
import * as tf from '@tensorflow/tfjs';
import type { S4DParams } from '../../ops/ssmKernel/index.js';
import { allocate, declare, dispatch, grid, madeOnce, webgpuBackend } from './dispatch.js';

export const S4D_KERNEL = 'RecallbenchS4DKernel';
export const S4D_KERNEL_GRAD = 'RecallbenchS4DKernelGrad';
const WG = 64;

// the per-mode discretisation, shared by both passes (the reference's formulas, in its order)
const discretise = `
// modes = [log(−Re A), Im A, C_re, C_im] stacked, each [H, n] (WebGPU binds at most 8 storage buffers per shader)
struct Mode { aRe: f32, aIm: f32, wRe: f32, wIm: f32, logR: f32, theta: f32, dt: f32, a: f32, b: f32, denRe: f32, denIm: f32, inv: f32, bRe: f32, bIm: f32, m2: f32 };
fn mode(h: u32, i: u32) -> Mode {
  let HN = params.H * params.n;
  var o: Mode;
  o.dt = exp(logDt[h]);
  o.a = -exp(modes[i]) * o.dt;
  o.b = modes[HN + i] * o.dt;
  o.denRe = 1.0 - o.a * 0.5;
  o.denIm = o.b * -0.5;
  let den2 = o.denRe * o.denRe + o.denIm * o.denIm;
  o.inv = 1.0 / den2;
  o.aRe = (1.0 - (o.a * o.a + o.b * o.b) * 0.25) / den2;
  o.aIm = o.b / den2;
  o.bRe = (o.dt * o.denRe) / den2;
  o.bIm = (o.dt * -o.denIm) / den2;
  o.wRe = modes[2u * HN + i] * o.bRe - modes[3u * HN + i] * o.bIm;
  o.wIm = modes[2u * HN + i] * o.bIm + modes[3u * HN + i] * o.bRe;
  o.m2 = o.aRe * o.aRe + o.aIm * o.aIm;
  o.logR = log(o.m2) * 0.5;
  o.theta = atan2(o.aIm, o.aRe);
  return o;
}`;

const PARAMS = [
  { name: 'logDt', type: 'f32' },
  { name: 'modes', type: 'f32' },
];

const forwardWgsl = () => `
${declare([...PARAMS, { name: 'K', type: 'f32', write: true }], ['H: u32', 'n: u32', 'L: u32'])}
${discretise}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let idx = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (idx >= params.H * params.L) { return; }
  let h = idx / params.L;
  let l = f32(idx % params.L);
  var sum = 0.0;
  for (var j = 0u; j < params.n; j++) {
    let o = mode(h, h * params.n + j);
    let magnitude = exp(o.logR * l);
    let angle = o.theta * l;
    sum += o.wRe * magnitude * cos(angle) - o.wIm * magnitude * sin(angle);
  }
  K[idx] = 2.0 * sum;
}`;

const gradWgsl = () => `
${declare([...PARAMS, { name: 'dK', type: 'f32' }, { name: 'grads', type: 'f32', write: true }], ['H: u32', 'n: u32', 'L: u32'])}
${discretise}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let i = (wg.y * nwg.x + wg.x) * ${WG}u + tid;
  if (i >= params.H * params.n) { return; }
  let h = i / params.n;
  let o = mode(h, i);
  // over l: the cotangents of W and of dA = exp(logR + iθ)
  var gWRe = 0.0;
  var gWIm = 0.0;
  var gLogR = 0.0;
  var gTheta = 0.0;
  for (var t = 0u; t < params.L; t++) {
    let g = 2.0 * dK[h * params.L + t];
    let l = f32(t);
    let magnitude = exp(o.logR * l);
    let angle = o.theta * l;
    let pRe = magnitude * cos(angle);
    let pIm = magnitude * sin(angle);
    gWRe += g * pRe;
    gWIm -= g * pIm;
    gLogR += g * l * (o.wRe * pRe - o.wIm * pIm);
    gTheta -= g * l * (o.wRe * pIm + o.wIm * pRe);
  }
  // W = C·dB; grads = [log(−Re A), Im A, C_re, C_im, Δ·∂Δ] each [H, n]
  let HN = params.H * params.n;
  let cR = modes[2u * HN + i];
  let cI = modes[3u * HN + i];
  grads[2u * HN + i] = gWRe * o.bRe + gWIm * o.bIm;
  grads[3u * HN + i] = -gWRe * o.bIm + gWIm * o.bRe;
  let gBRe = gWRe * cR + gWIm * cI;
  let gBIm = -gWRe * cI + gWIm * cR;
  // logR = log|dA|, θ = arg dA
  let gARe = (gLogR * o.aRe - gTheta * o.aIm) / o.m2;
  let gAIm = (gLogR * o.aIm + gTheta * o.aRe) / o.m2;
  // dA = num/den2 + i·b/den2, dB = Δ·(denRe − i·denIm)/den2, num = 1 − (a² + b²)/4, den2 = denRe² + denIm²
  let gNum = gARe * o.inv;
  var gB = gAIm * o.inv + gBIm * o.dt * 0.5 * o.inv;
  var gDt = gBRe * o.denRe * o.inv + gBIm * (o.b * 0.5) * o.inv;
  let gDen2 = -(gARe * o.aRe + gAIm * o.aIm + gBRe * o.bRe + gBIm * o.bIm) * o.inv;
  let gDenRe = gBRe * o.dt * o.inv + gDen2 * 2.0 * o.denRe;
  let gDenIm = gDen2 * 2.0 * o.denIm;
  var gA = gNum * (-0.5 * o.a) - 0.5 * gDenRe;
  gB += gNum * (-0.5 * o.b) - 0.5 * gDenIm;
  // a = −exp(logNegAReal)·Δ, b = aImag·Δ, Δ = exp(logDt)
  grads[i] = gA * o.a;
  grads[HN + i] = gB * o.dt;
  gDt += gA * (o.a / o.dt) + gB * modes[HN + i];
  grads[4u * HN + i] = gDt * o.dt;
}`;

let registered = false;

export function registerS4dKernelWebGpu(): void {
  if (registered) return;
  registered = true;
  // inputs: logDt [H], modes [4, H, n]; attrs: L
  tf.registerKernel({
    kernelName: S4D_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { logDt, modes } = inputs as Record<string, tf.TensorInfo>;
      const [, H, n] = modes!.shape as [number, number, number];
      const L = (attrs as { L: number }).L;
      const K = allocate(webgpuBackend(), [H, L]);
      dispatch('S4DKernel', 'rb_s4d_kernel', forwardWgsl, [{ tensor: logDt! }, { tensor: modes! }, { tensor: K, write: true }], [{ u: H }, { u: n }, { u: L }], grid(Math.ceil((H * L) / WG)));
      return K;
    },
  });
  // inputs: logDt, modes, dK [H, L] → [5, H, n]: the gradients of log(−Re A), Im A, C_re, C_im, and Δ·∂Δ per mode
  tf.registerKernel({
    kernelName: S4D_KERNEL_GRAD,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { logDt, modes, dK } = inputs as Record<string, tf.TensorInfo>;
      const [, H, n] = modes!.shape as [number, number, number];
      const L = (attrs as { L: number }).L;
      const grads = allocate(webgpuBackend(), [5, H, n]);
      dispatch('S4DKernelGrad', 'rb_s4d_kernel_grad', gradWgsl, [{ tensor: logDt! }, { tensor: modes! }, { tensor: dK! }, { tensor: grads, write: true }], [{ u: H }, { u: n }, { u: L }], grid(Math.ceil((H * n) / WG)));
      return grads;
    },
  });
}

type Fused = (logDt: tf.Tensor1D, logNegAReal: tf.Tensor2D, aImag: tf.Tensor2D, cRe: tf.Tensor2D, cIm: tf.Tensor2D) => tf.Tensor2D;

/** One customGrad per L (customGrad takes tensors only). */
const fusedFor = madeOnce(makeFused);
function makeFused(L: number): Fused {
  return tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [logDt, logNegAReal, aImag, cRe, cIm] = args as tf.Tensor[];
    const modes = tf.stack([logNegAReal!, aImag!, cRe!, cIm!]);
    const K = tf.engine().runKernel(S4D_KERNEL, { logDt: logDt!, modes }, { L } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
    save([logDt!, modes]);
    return {
      value: K,
      gradFunc: (dK: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [sDt, sModes] = saved as tf.Tensor[];
        const grads = tf.engine().runKernel(S4D_KERNEL_GRAD, { logDt: sDt!, modes: sModes!, dK }, { L } as unknown as tf.NamedAttrMap) as tf.Tensor3D;
        const [dLogNegAReal, dAImag, dCRe, dCIm, dtPart] = tf.unstack(grads);
        grads.dispose();
        const dLogDt = tf.sum(dtPart!, 1);
        dtPart!.dispose();
        return [dLogDt, dLogNegAReal!, dAImag!, dCRe!, dCIm!];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Fused;
}

/**
 * S4D's kernel K [H, L], fused (the fast form of ops/ssmKernel's s4dKernel), differentiable in all five parameters.
 * Undefined (declined: the op runs its tfjs form) for anything but float32 parameters of one run (log Δ [H], the
 * others [H, n]) and L ≥ 1.
 */
export function s4dKernelWebGpu(p: S4DParams, L: number): tf.Tensor2D | undefined {
  const tensors = [p.logDt, p.logNegAReal, p.aImag, p.cRe, p.cIm];
  if (tensors.some((t) => t.dtype !== 'float32') || p.logDt.rank !== 1 || !Number.isInteger(L) || L < 1) return undefined;
  const [H] = p.logDt.shape;
  if ([p.logNegAReal, p.aImag, p.cRe, p.cIm].some((t) => t.rank !== 2 || t.shape[0] !== H || t.shape[1] !== p.logNegAReal.shape[1])) return undefined;
  return fusedFor(L)(p.logDt as tf.Tensor1D, p.logNegAReal as tf.Tensor2D, p.aImag as tf.Tensor2D, p.cRe as tf.Tensor2D, p.cIm as tf.Tensor2D);
}
