// The implicit-filter MLPs' Sin activation fused (WebGPU), forward and backward: the fast form of ops/scaledSin
// (lever `scaledSin`). x [R, L, W] with ω [R, 1, W] (one run: x [L, W] with ω [W]); ω[r, c] below:
//
//   y[r, t, c] = sin(ω[r, c] · x[r, t, c])
//   dx[r, t, c] = (dy · cos(ω x)) · ω[r, c]        dω[r, c] = Σ_t (dy · cos(ω x)) · x[r, t, c]
//
// Forward: one thread per element (the reference's multiply then sin, so the same values where WGSL's sin is the
// reference's). Backward: one thread per (run, column) walking its L rows — dx written per row, dω summed in row
// order (tests: within float32 rounding of tfjs's Sum) — in place of Cos, three Multiplies and a Sum. The filter MLPs
// are [L ≤ a few thousand, 64]: R·64 threads of a few thousand steps, microseconds on a GPU, one dispatch.
// With the preceding linear layer's bias b [R, W] (lever `sinBias`): y = sin(ω · (x + b)), dx as above with x + b,
// dω = Σ_t (dy · cos) · (x + b), db = Σ_t dx — the same threads, b read once per column, its sum beside dω's.
// Reference: ops/scaledSin/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, grid, kernelWithGrad, webgpuBackend } from './dispatch.js';
import { addBias } from '../../ops/scaledSin/index.js';

const WG = 64;
const UNIFORMS = ['n: u32', 'L: u32', 'W: u32'];

// thread e = element (r, t, c): ω (and the bias) at (r, c); with the bias, x + b first, as the reference adds it
const forwardWgsl = (withBias: boolean) => () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'omega', type: 'f32' }, ...(withBias ? [{ name: 'bias', type: 'f32' }] : []), { name: 'y', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let c = e % params.W;
  let r = e / (params.L * params.W);
  y[e] = sin(omega[r * params.W + c] * ${withBias ? '(x[e] + bias[r * params.W + c])' : 'x[e]'});
}`;

// thread e = (r, c): rows t = 0 … L−1 of column c of run r; with the bias, u = x + b and db = Σ dx beside dω
const backwardWgsl = (withBias: boolean) => () => {
  const u = withBias ? '(x[i] + b)' : 'x[i]';
  return `
${declare(
  [
    { name: 'x', type: 'f32' },
    { name: 'omega', type: 'f32' },
    ...(withBias ? [{ name: 'bias', type: 'f32' }] : []),
    { name: 'dy', type: 'f32' },
    { name: 'dx', type: 'f32', write: true },
    { name: 'domega', type: 'f32', write: true },
    ...(withBias ? [{ name: 'dbias', type: 'f32', write: true }] : []),
  ],
  UNIFORMS,
)}
${elementMain(WG)}
  let W = params.W;
  let c = e % W;
  let r = e / W;
  let w = omega[e];${withBias ? '\n  let b = bias[e];\n  var sb = 0.0f;' : ''}
  var s = 0.0f;
  for (var t = 0u; t < params.L; t++) {
    let i = (r * params.L + t) * W + c;
    let du = dy[i] * cos(w * ${u});
    dx[i] = du * w;
    s += du * ${u};${withBias ? '\n    sb += du * w;' : ''}
  }
  domega[e] = s;${withBias ? '\n  dbias[e] = sb;' : ''}
}`;
};

export const SCALED_SIN_KERNEL = 'RecallbenchScaledSin';
export const SCALED_SIN_GRAD_KERNEL = 'RecallbenchScaledSinGrad';
export const SCALED_SIN_BIAS_KERNEL = 'RecallbenchScaledSinBias';
export const SCALED_SIN_BIAS_GRAD_KERNEL = 'RecallbenchScaledSinBiasGrad';

/** Runs R, rows L and columns W of x [L, W] or [R, L, W]. */
function sizes(x: tf.TensorInfo): { R: number; L: number; W: number } {
  const s = x.shape;
  return s.length === 2 ? { R: 1, L: s[0]!, W: s[1]! } : { R: s[0]!, L: s[1]!, W: s[2]! };
}

let registered = false;

export function registerScaledSinWebGpu(): void {
  if (registered) return;
  registered = true;
  // the plain pair and the pair with the bias (lever sinBias): the bias is one more input and one more gradient
  for (const withBias of [false, true]) {
    const name = withBias ? 'ScaledSinBias' : 'ScaledSin';
    const key = withBias ? 'rb_scaled_sin_bias' : 'rb_scaled_sin';
    tf.registerKernel({
      kernelName: withBias ? SCALED_SIN_BIAS_KERNEL : SCALED_SIN_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs }) => {
        const { x, omega, bias } = inputs as Record<string, tf.TensorInfo>;
        const { R, L, W } = sizes(x!);
        const y = allocate(webgpuBackend(), x!.shape);
        const n = R * L * W;
        const reads = [{ tensor: x! }, { tensor: omega! }, ...(withBias ? [{ tensor: bias! }] : [])];
        dispatch(name, key, forwardWgsl(withBias), [...reads, { tensor: y, write: true }], [{ u: n }, { u: L }, { u: W }], grid(Math.ceil(n / WG)));
        return y;
      },
    });
    tf.registerKernel({
      kernelName: withBias ? SCALED_SIN_BIAS_GRAD_KERNEL : SCALED_SIN_GRAD_KERNEL,
      backendName: 'webgpu',
      kernelFunc: ({ inputs }) => {
        const { x, omega, bias, dy } = inputs as Record<string, tf.TensorInfo>;
        const { R, L, W } = sizes(x!);
        const backend = webgpuBackend();
        const grads = [allocate(backend, x!.shape), allocate(backend, omega!.shape), ...(withBias ? [allocate(backend, bias!.shape)] : [])];
        const reads = [{ tensor: x! }, { tensor: omega! }, ...(withBias ? [{ tensor: bias! }] : []), { tensor: dy! }];
        const n = R * W;
        dispatch(`${name}Grad`, `${key}_grad`, backwardWgsl(withBias), [...reads, ...grads.map((tensor) => ({ tensor, write: true }))], [{ u: n }, { u: L }, { u: W }], grid(Math.ceil(n / WG)));
        return grads;
      },
    });
  }
}

const fused = kernelWithGrad(SCALED_SIN_KERNEL, SCALED_SIN_GRAD_KERNEL, ['x', 'omega'], 'dy');
const fusedBias = kernelWithGrad(SCALED_SIN_BIAS_KERNEL, SCALED_SIN_BIAS_GRAD_KERNEL, ['x', 'omega', 'bias'], 'dy');

/** Whether the bias goes inside the kernels (lever `sinBias`, installed by index.ts). */
let biasInside = false;
export function setSinBias(on: boolean): void {
  biasInside = on;
}

/**
 * sin(ω ⊙ (x + b)) fused: x [L, W] with ω [W] (and b [W]), or x [R, L, W] with ω [R, 1, W] (and b [R, W]); the bias
 * inside the kernels with lever `sinBias`, else added first (ops/scaledSin's addBias). Undefined (declined: the
 * reference runs) for any other shapes or dtype.
 */
export function scaledSinWebGpu(x: tf.Tensor, omega: tf.Tensor, bias?: tf.Tensor): tf.Tensor | undefined {
  if (x.dtype !== 'float32' || omega.dtype !== 'float32' || x.size === 0) return undefined;
  const W = x.shape[x.rank - 1]!;
  const R = x.rank === 3 ? x.shape[0]! : 1;
  const ok = x.rank === 2 ? omega.rank === 1 && omega.shape[0] === W : x.rank === 3 && omega.rank === 3 && omega.shape[0] === R && omega.shape[1] === 1 && omega.shape[2] === W;
  if (!ok) return undefined;
  if (!bias) return fused(x, omega);
  const biasOk = bias.dtype === 'float32' && (x.rank === 2 ? bias.rank === 1 && bias.shape[0] === W : bias.rank === 2 && bias.shape[0] === R && bias.shape[1] === W);
  if (!biasOk) return undefined;
  return biasInside ? fusedBias(x, omega, bias) : fused(addBias(x, bias), omega);
}
