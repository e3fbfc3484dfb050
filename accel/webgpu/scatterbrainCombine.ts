// Scatterbrain's window part and low-rank part joined (WebGPU), forward and backward: the fast form of
// ops/scatterbrainCombine (lever `scatterbrainCombine`). Per row r (a query of one head) and column j < d_h, with
// e = D + ε, e' = D_lag + ε, b = max(g, m), g = (1 − c)·D + c·D_lag:
//
//   y_j = local_j + ((1 − c)·a_j·e + c·a'_j·e') / b
//
//   backward (dy): dlocal = dy;  u_j = dy_j / b;  q_j = ((1 − c)·a_j·e + c·a'_j·e') / b
//                  da_j = (1 − c)·u_j·e,  da'_j = c·u_j·e'
//                  dD = (1 − c)·Σ_j u_j·a_j + (1 − c)·[g ≥ m]·(−Σ_j u_j·q_j),  dD_lag = c·Σ_j u_j·a'_j + c·[g ≥ m]·(−Σ_j u_j·q_j)
//
// — the reference's gradients (its ratio's −Σ(da·y) without b², tfjs's maximum passing the gradient where g ≥ m),
// summed over j in order by one thread a row. Forward one thread an element; backward one thread a row. In place of
// the reference's sums, products, clamp and ratio and their gradients (~40 dispatches a Scatterbrain layer). The same
// products in the same order as the reference forward; the backward's row sums in another order than tfjs's: within
// float32 rounding (tests/webgpu-scatterbrainCombine.test.ts). dD and dD_lag leave side by side and are split (one
// dispatch with splitConcat): with them apart the kernel would bind 9 storage buffers, past WebGPU's 8. Only with the lagged part (window + 1 < T, the usual
// case); without it the reference runs.
// Reference: ops/scatterbrainCombine/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { CombineConstants, Lagged } from '../../ops/scatterbrainCombine/index.js';
import { allocate, declare, dispatch, elementMain, grid, madeOnce, webgpuBackend } from './dispatch.js';

const WG = 64;
// c and 1 − c both as uniforms: the reference multiplies by 1 − c computed in float64 and rounded once, as here
const UNIFORMS = ['n: u32', 'dh: u32', 'c: f32', 'cc: f32', 'eps: f32', 'm: f32'];

const forwardWgsl = () => `
${declare([{ name: 'local', type: 'f32' }, { name: 'a', type: 'f32' }, { name: 'D', type: 'f32' }, { name: 'aLag', type: 'f32' }, { name: 'DLag', type: 'f32' }, { name: 'y', type: 'f32', write: true }], UNIFORMS)}
${elementMain(WG)}
  let r = e / params.dh;
  let c = params.c;
  let cc = params.cc;
  let d = D[r];
  let dl = DLag[r];
  let gn = (a[e] * (d + params.eps)) * cc + (aLag[e] * (dl + params.eps)) * c;
  let g = d * cc + dl * c;
  y[e] = local[e] + gn / max(g, params.m);
}`;

// thread e = row; dD and dD_lag side by side in one output (a shader stage binds 8 storage buffers at most)
const backwardWgsl = () => `
${declare(
  [{ name: 'a', type: 'f32' }, { name: 'D', type: 'f32' }, { name: 'aLag', type: 'f32' }, { name: 'DLag', type: 'f32' }, { name: 'dy', type: 'f32' },
   { name: 'da', type: 'f32', write: true }, { name: 'daLag', type: 'f32', write: true }, { name: 'dDs', type: 'f32', write: true }],
  UNIFORMS,
)}
${elementMain(WG)}
  let dh = params.dh;
  let c = params.c;
  let cc = params.cc;
  let d = D[e];
  let dl = DLag[e];
  let eA = d + params.eps;
  let eL = dl + params.eps;
  let g = d * cc + dl * c;
  let b = max(g, params.m);
  var sQ = 0.0f;
  var sA = 0.0f;
  var sL = 0.0f;
  for (var j = 0u; j < dh; j++) {
    let i = e * dh + j;
    let u = dy[i] / b;
    let q = ((a[i] * eA) * cc + (aLag[i] * eL) * c) / b;
    sQ += u * q;
    let uA = u * cc;
    let uL = u * c;
    da[i] = uA * eA;
    daLag[i] = uL * eL;
    sA += uA * a[i];
    sL += uL * aLag[i];
  }
  let dg = select(0.0f, -sQ, g >= params.m);
  dDs[2u * e] = sA + dg * cc;
  dDs[2u * e + 1u] = sL + dg * c;
}`;

export const SCATTERBRAIN_COMBINE_KERNEL = 'RecallbenchScatterbrainCombine';
export const SCATTERBRAIN_COMBINE_GRAD_KERNEL = 'RecallbenchScatterbrainCombineGrad';

interface Attrs {
  c: number;
  eps: number;
  m: number;
}
const uniformsOf = (n: number, dh: number, k: Attrs) => [{ u: n }, { u: dh }, { f: k.c }, { f: 1 - k.c }, { f: k.eps }, { f: k.m }];

let registered = false;

export function registerScatterbrainCombineWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: SCATTERBRAIN_COMBINE_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { local, a, D, aLag, DLag } = inputs as Record<string, tf.TensorInfo>;
      const n = a!.shape.reduce((x, y) => x * y, 1);
      const y = allocate(webgpuBackend(), a!.shape);
      const bindings = [{ tensor: local! }, { tensor: a! }, { tensor: D! }, { tensor: aLag! }, { tensor: DLag! }, { tensor: y, write: true }];
      dispatch('ScatterbrainCombine', 'rb_sb_combine', forwardWgsl, bindings, uniformsOf(n, a!.shape.at(-1)!, attrs as unknown as Attrs), grid(Math.ceil(n / WG)));
      return y;
    },
  });
  tf.registerKernel({
    kernelName: SCATTERBRAIN_COMBINE_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { a, D, aLag, DLag, dy } = inputs as Record<string, tf.TensorInfo>;
      const rows = D!.shape.reduce((x, y) => x * y, 1);
      const backend = webgpuBackend();
      const da = allocate(backend, a!.shape);
      const daLag = allocate(backend, a!.shape);
      const dDs = allocate(backend, [...D!.shape.slice(0, -1), 2]);
      const bindings = [{ tensor: a! }, { tensor: D! }, { tensor: aLag! }, { tensor: DLag! }, { tensor: dy! }, { tensor: da, write: true }, { tensor: daLag, write: true }, { tensor: dDs, write: true }];
      dispatch('ScatterbrainCombineGrad', 'rb_sb_combine_grad', backwardWgsl, bindings, uniformsOf(rows, a!.shape.at(-1)!, attrs as unknown as Attrs), grid(Math.ceil(rows / WG)));
      return [da, daLag, dDs];
    },
  });
}

// the differentiable function, one per layer's constants (a handful in a process)
const combineFor = madeOnce(
  (k: Attrs) => {
    const attrs = k as unknown as tf.NamedAttrMap;
    return tf.customGrad(((local: tf.Tensor, a: tf.Tensor, D: tf.Tensor, aLag: tf.Tensor, DLag: tf.Tensor, save: tf.GradSaveFunc) => {
      save([a, D, aLag, DLag]);
      return {
        value: tf.engine().runKernel(SCATTERBRAIN_COMBINE_KERNEL, { local, a, D, aLag, DLag }, attrs) as tf.Tensor,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [sa, sD, saLag, sDLag] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          const [da, daLag, dDs] = tf.engine().runKernel(SCATTERBRAIN_COMBINE_GRAD_KERNEL, { a: sa, D: sD, aLag: saLag, DLag: sDLag, dy }, attrs) as unknown as tf.Tensor[];
          const [dD, dDLag] = tf.split(dDs!, 2, -1);
          dDs!.dispose();
          // dlocal = dy: a clone, so that backprop disposing it never disposes the caller's dy
          return [dy.clone(), da!, dD!, daLag!, dDLag!];
        },
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (...t: tf.Tensor[]) => tf.Tensor;
  },
  (k) => `${k.c}/${k.eps}/${k.m}`,
);

const f32 = (...ts: tf.Tensor[]) => ts.every((t) => t.dtype === 'float32');

/**
 * The fused join: local, a, lagged.a [B, H, T, d_h], D, lagged.D [B, H, T, 1] (ops/scatterbrainCombine has checked the
 * shapes); undefined (declined) without the lagged part, for other dtypes, or empty.
 */
export function scatterbrainCombineWebGpu(local: tf.Tensor4D, a: tf.Tensor4D, D: tf.Tensor4D, lagged: Lagged | undefined, k: CombineConstants): tf.Tensor4D | undefined {
  if (!lagged || !f32(local, a, D, lagged.a, lagged.D) || a.size === 0) return undefined;
  return combineFor({ c: k.c, eps: k.eps, m: k.minNormaliser })(local, a, D, lagged.a, lagged.D) as tf.Tensor4D;
}
