// Linear attention's causal normalisers fused (WebGPU), forward and backward: the fast form of ops/causalNormalisers
// (lever `causalNormalisers`). Per sequence s (an example and head), feature f and time t, with z_t = Σ_{j≤t} φk_j:
//
//   forward   Z[t, f] = z_t[f]  (one thread per (s, f) walks t)
//             D_t = Σ_f φq[t, f]·Z[t, f],  D^lag_t = Σ_f φq[t, f]·Z[t − lag, f] (0 while t < lag)  (one thread per (s, t))
//   backward  dφq[t, f] = dD_t·Z[t, f] + dD^lag_t·Z[t − lag, f]                      (one thread per element)
//             dφk[j, f] = Σ_{t≥j} dD_t·φq[t, f] + Σ_{t≥j+lag} dD^lag_t·φq[t, f]        (one thread per (s, f), two walks
//             down t: the lagged suffix sums into a scratch array first, then the plain ones and the result)
//
// D and D^lag leave side by side ([B, H, T, 2], split after: one differentiable output, as tf.customGrad takes) — in
// place of the exclusive cumsum with its transposes, the add, the shift's pad and slice, the products and sums and their
// gradients (~26 dispatches a Scatterbrain layer; here 2 + 2, and the split and its concat). The sums run in time order
// as tfjs's cumsum; the dot products over f in order: within float32 rounding of the reference
// (tests/webgpu-causalNormalisers.test.ts). Only with the lagged part (lag < T); without it the reference runs.
// Reference: ops/causalNormalisers/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { Normalisers } from '../../ops/causalNormalisers/index.js';
import { allocate, declare, dispatch, elementMain, grid, madeOnce, release, webgpuBackend } from './dispatch.js';

const WG = 64;
const UNIFORMS = ['n: u32', 'T: u32', 'F: u32', 'lag: u32'];

// thread e = (s, f): the prefix sums of φk along t
const prefixWgsl = () => `
${declare([{ name: 'k', type: 'f32' }, { name: 'Z', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let F = params.F;
  let s = e / F;
  let f = e % F;
  var z = 0.0f;
  for (var t = 0u; t < params.T; t++) {
    let i = (s * params.T + t) * F + f;
    z += k[i];
    Z[i] = z;
  }
}`;

// thread e = (s, t): both dot products
const dotsWgsl = () => `
${declare([{ name: 'q', type: 'f32' }, { name: 'Z', type: 'f32' }, { name: 'Ds', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let F = params.F;
  let t = e % params.T;
  var d = 0.0f;
  var dl = 0.0f;
  for (var f = 0u; f < F; f++) { d += q[e * F + f] * Z[e * F + f]; }
  if (t >= params.lag) {
    let back = (e - params.lag) * F;
    for (var f = 0u; f < F; f++) { dl += q[e * F + f] * Z[back + f]; }
  }
  Ds[2u * e] = d;
  Ds[2u * e + 1u] = dl;
}`;

// thread e = element (s, t, f)
const gradQWgsl = () => `
${declare([{ name: 'Z', type: 'f32' }, { name: 'dDs', type: 'f32' }, { name: 'dq', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let F = params.F;
  let row = e / F;
  let t = row % params.T;
  var g = dDs[2u * row] * Z[e];
  if (t >= params.lag) { g += dDs[2u * row + 1u] * Z[e - params.lag * F]; }
  dq[e] = g;
}`;

// thread e = (s, f): suffix sums down t — the lagged ones into R first, then the plain ones and dφk
const gradKWgsl = () => `
${declare([{ name: 'q', type: 'f32' }, { name: 'dDs', type: 'f32' }, { name: 'R', type: 'f32', write: true }, { name: 'dk', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let F = params.F;
  let T = params.T;
  let s = e / F;
  let f = e % F;
  var r = 0.0f;
  for (var u = 0u; u < T; u++) {
    let t = T - 1u - u;
    let row = s * T + t;
    r += dDs[2u * row + 1u] * q[row * F + f];
    R[row * F + f] = r;
  }
  r = 0.0f;
  for (var u = 0u; u < T; u++) {
    let t = T - 1u - u;
    let row = s * T + t;
    r += dDs[2u * row] * q[row * F + f];
    var g = r;
    if (t + params.lag < T) { g += R[(row + params.lag) * F + f]; }
    dk[row * F + f] = g;
  }
}`;

export const CAUSAL_NORMALISERS_KERNEL = 'RecallbenchCausalNormalisers';
export const CAUSAL_NORMALISERS_GRAD_KERNEL = 'RecallbenchCausalNormalisersGrad';

const uniformsOf = (n: number, T: number, F: number, lag: number) => [{ u: n }, { u: T }, { u: F }, { u: lag }];
const lagOf = (attrs: unknown) => (attrs as { lag: number }).lag;

let registered = false;

export function registerCausalNormalisersWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: CAUSAL_NORMALISERS_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, k } = inputs as Record<string, tf.TensorInfo>;
      const [B, H, T, F] = q!.shape as [number, number, number, number];
      const S = B * H;
      const lag = lagOf(attrs);
      const backend = webgpuBackend();
      const Z = allocate(backend, q!.shape);
      const Ds = allocate(backend, [B, H, T, 2]);
      dispatch('CausalNormalisersPrefix', 'rb_norm_prefix', prefixWgsl, [{ tensor: k! }, { tensor: Z, write: true }], uniformsOf(S * F, T, F, lag), grid(Math.ceil((S * F) / WG)));
      dispatch('CausalNormalisers', 'rb_norm_dots', dotsWgsl, [{ tensor: q! }, { tensor: Z }, { tensor: Ds, write: true }], uniformsOf(S * T, T, F, lag), grid(Math.ceil((S * T) / WG)));
      return [Ds, Z];
    },
  });
  tf.registerKernel({
    kernelName: CAUSAL_NORMALISERS_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { q, Z, dDs } = inputs as Record<string, tf.TensorInfo>;
      const [B, H, T, F] = q!.shape as [number, number, number, number];
      const S = B * H;
      const lag = lagOf(attrs);
      const backend = webgpuBackend();
      const dq = allocate(backend, q!.shape);
      const dk = allocate(backend, q!.shape);
      const R = allocate(backend, q!.shape);
      dispatch('CausalNormalisersGradQ', 'rb_norm_dq', gradQWgsl, [{ tensor: Z! }, { tensor: dDs! }, { tensor: dq, write: true }], uniformsOf(S * T * F, T, F, lag), grid(Math.ceil((S * T * F) / WG)));
      dispatch('CausalNormalisersGradK', 'rb_norm_dk', gradKWgsl, [{ tensor: q! }, { tensor: dDs! }, { tensor: R, write: true }, { tensor: dk, write: true }], uniformsOf(S * F, T, F, lag), grid(Math.ceil((S * F) / WG)));
      release(R);
      return [dq, dk];
    },
  });
}

// the differentiable function, one per lag (a layer's window: a handful in a process)
const normalisersFor = madeOnce((lag: number) => {
  const attrs = { lag } as unknown as tf.NamedAttrMap;
  return tf.customGrad(((q: tf.Tensor, k: tf.Tensor, save: tf.GradSaveFunc) => {
    const [Ds, Z] = tf.engine().runKernel(CAUSAL_NORMALISERS_KERNEL, { q, k }, attrs) as unknown as [tf.Tensor, tf.Tensor];
    save([q, Z!]);
    return {
      value: Ds!,
      gradFunc: (dDs: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sZ] = saved as [tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(CAUSAL_NORMALISERS_GRAD_KERNEL, { q: sq, Z: sZ, dDs }, attrs) as unknown as tf.Tensor[];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (q: tf.Tensor, k: tf.Tensor) => tf.Tensor;
});

/** The fused normalisers: φq, φk [B, H, T, F] → D, D^lag [B, H, T, 1]; undefined (declined) when lag ≥ T or for other dtypes. */
export function causalNormalisersWebGpu(phiQ: tf.Tensor4D, phiK: tf.Tensor4D, lag: number): Normalisers | undefined {
  const T = phiQ.shape[2];
  if (lag >= T || phiQ.dtype !== 'float32' || phiK.dtype !== 'float32' || phiQ.size === 0) return undefined;
  return tf.tidy(() => {
    const [D, lagged] = tf.split(normalisersFor(lag)(phiQ, phiK), 2, -1) as [tf.Tensor4D, tf.Tensor4D];
    return { D, lagged };
  });
}
