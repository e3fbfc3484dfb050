// Performer's positive random features in Scatterbrain's cosh form fused (WebGPU), forward and backward: the fast
// forms of ops/performerFeatures (lever `performerFeatures`). Per row r of dash = x' ωᵀ [N, h], u = [dash, −dash]
// (f = 2h features), with e_i = exp(u_i − m) and φ the output:
//
//   queries  φ_i = e_i + ε, m = max_i u_i         du_i = e_i dy_i − [u_i = m] Σ_j e_j dy_j
//   keys     φ_i = exp((u_i − n) − shift),        du_i = φ_i dy_i,   n = |x'|²/2,   dx'_j = −(Σ_i du_i) x'_j
//   ddash_k = du_k − du_{k+h}
//
// (the max's gradient as tfjs's: every u_i equal to the max takes it). One thread per row walking its h projections
// (and d_h inputs for the keys' norm) — in place of the concat, negation, max, exponentials, squares, sums and their
// gradients (~20 dispatches a feature map). The same exponentials of the same differences as the reference; the sums
// (max's gradient: the pairs k, k + h in turn; the norm) in another order than tfjs's: within float32 rounding
// (tests/webgpu-performerFeatures.test.ts).
// Reference: ops/performerFeatures/naive.ts.
import * as tf from '@tensorflow/tfjs';
import { allocate, declare, dispatch, elementMain, grid, kernelWithGrad, madeOnce, webgpuBackend } from './dispatch.js';

const WG = 64;
/** Projections a row h at most (the mixer's f/2: 12 by default). */
export const PERFORMER_MAX_HALF = 256;

// thread e = row: u's max, then φ
const queryWgsl = () => `
${declare([{ name: 'dash', type: 'f32' }, { name: 'phi', type: 'f32', write: true }], ['n: u32', 'h: u32', 'eps: f32'])}
${elementMain(WG)}
  let h = params.h;
  let base = e * h;
  var m = dash[base];
  for (var k = 0u; k < h; k++) { let p = dash[base + k]; m = max(m, max(p, -p)); }
  let out = e * 2u * h;
  for (var k = 0u; k < h; k++) {
    let p = dash[base + k];
    phi[out + k] = exp(p - m) + params.eps;
    phi[out + h + k] = exp(-p - m) + params.eps;
  }
}`;

// thread e = row: Σ e_j dy_j, then du and ddash
const queryGradWgsl = () => `
${declare([{ name: 'dash', type: 'f32' }, { name: 'dy', type: 'f32' }, { name: 'ddash', type: 'f32', write: true }], ['n: u32', 'h: u32'])}
${elementMain(WG)}
  let h = params.h;
  let base = e * h;
  let out = e * 2u * h;
  var m = dash[base];
  for (var k = 0u; k < h; k++) { let p = dash[base + k]; m = max(m, max(p, -p)); }
  var s = 0.0f;
  for (var k = 0u; k < h; k++) {
    let p = dash[base + k];
    s += exp(p - m) * dy[out + k];
    s += exp(-p - m) * dy[out + h + k];
  }
  for (var k = 0u; k < h; k++) {
    let p = dash[base + k];
    var plus = exp(p - m) * dy[out + k];
    var minus = exp(-p - m) * dy[out + h + k];
    if (p == m) { plus -= s; }
    if (-p == m) { minus -= s; }
    ddash[base + k] = plus - minus;
  }
}`;

// thread e = row: n = |x'|²/2, then φ
const keyWgsl = () => `
${declare([{ name: 'dash', type: 'f32' }, { name: 'xs', type: 'f32' }, { name: 'phi', type: 'f32', write: true }], ['n: u32', 'h: u32', 'dh: u32', 'shift: f32'])}
${elementMain(WG)}
  let h = params.h;
  let base = e * h;
  var sq = 0.0f;
  for (var j = 0u; j < params.dh; j++) { let v = xs[e * params.dh + j]; sq += v * v; }
  let norm = sq * 0.5f;
  let out = e * 2u * h;
  for (var k = 0u; k < h; k++) {
    let p = dash[base + k];
    phi[out + k] = exp((p - norm) - params.shift);
    phi[out + h + k] = exp((-p - norm) - params.shift);
  }
}`;

// thread e = row: du = φ dy, ddash, and dx' = −(Σ du) x'
const keyGradWgsl = () => `
${declare(
  [{ name: 'dash', type: 'f32' }, { name: 'xs', type: 'f32' }, { name: 'dy', type: 'f32' }, { name: 'ddash', type: 'f32', write: true }, { name: 'dxs', type: 'f32', write: true }],
  ['n: u32', 'h: u32', 'dh: u32', 'shift: f32'],
)}
${elementMain(WG)}
  let h = params.h;
  let dh = params.dh;
  let base = e * h;
  var sq = 0.0f;
  for (var j = 0u; j < dh; j++) { let v = xs[e * dh + j]; sq += v * v; }
  let norm = sq * 0.5f;
  let out = e * 2u * h;
  var s = 0.0f;
  for (var k = 0u; k < h; k++) {
    let p = dash[base + k];
    let plus = exp((p - norm) - params.shift) * dy[out + k];
    let minus = exp((-p - norm) - params.shift) * dy[out + h + k];
    ddash[base + k] = plus - minus;
    s += plus + minus;
  }
  for (var j = 0u; j < dh; j++) { dxs[e * dh + j] = -s * xs[e * dh + j]; }
}`;

export const PERFORMER_QUERY_KERNEL = 'RecallbenchPerformerQuery';
export const PERFORMER_QUERY_GRAD_KERNEL = 'RecallbenchPerformerQueryGrad';
export const PERFORMER_KEY_KERNEL = 'RecallbenchPerformerKey';
export const PERFORMER_KEY_GRAD_KERNEL = 'RecallbenchPerformerKeyGrad';

let registered = false;

export function registerPerformerFeaturesWebGpu(): void {
  if (registered) return;
  registered = true;
  const rowsOf = (dash: tf.TensorInfo) => ({ N: dash.shape[0]!, h: dash.shape[1]! });
  tf.registerKernel({
    kernelName: PERFORMER_QUERY_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dash } = inputs as Record<string, tf.TensorInfo>;
      const { N, h } = rowsOf(dash!);
      const phi = allocate(webgpuBackend(), [N, 2 * h]);
      dispatch('PerformerQuery', 'rb_performer_query', queryWgsl, [{ tensor: dash! }, { tensor: phi, write: true }], [{ u: N }, { u: h }, { f: (attrs as unknown as { eps: number }).eps }], grid(Math.ceil(N / WG)));
      return phi;
    },
  });
  tf.registerKernel({
    kernelName: PERFORMER_QUERY_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs }) => {
      const { dash, dy } = inputs as Record<string, tf.TensorInfo>;
      const { N, h } = rowsOf(dash!);
      const ddash = allocate(webgpuBackend(), [N, h]);
      dispatch('PerformerQueryGrad', 'rb_performer_query_grad', queryGradWgsl, [{ tensor: dash! }, { tensor: dy! }, { tensor: ddash, write: true }], [{ u: N }, { u: h }], grid(Math.ceil(N / WG)));
      return [ddash];
    },
  });
  tf.registerKernel({
    kernelName: PERFORMER_KEY_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dash, xs } = inputs as Record<string, tf.TensorInfo>;
      const { N, h } = rowsOf(dash!);
      const phi = allocate(webgpuBackend(), [N, 2 * h]);
      const uniforms = [{ u: N }, { u: h }, { u: xs!.shape[1]! }, { f: (attrs as unknown as { shift: number }).shift }];
      dispatch('PerformerKey', 'rb_performer_key', keyWgsl, [{ tensor: dash! }, { tensor: xs! }, { tensor: phi, write: true }], uniforms, grid(Math.ceil(N / WG)));
      return phi;
    },
  });
  tf.registerKernel({
    kernelName: PERFORMER_KEY_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dash, xs, dy } = inputs as Record<string, tf.TensorInfo>;
      const { N, h } = rowsOf(dash!);
      const backend = webgpuBackend();
      const ddash = allocate(backend, [N, h]);
      const dxs = allocate(backend, xs!.shape);
      const uniforms = [{ u: N }, { u: h }, { u: xs!.shape[1]! }, { f: (attrs as unknown as { shift: number }).shift }];
      dispatch('PerformerKeyGrad', 'rb_performer_key_grad', keyGradWgsl, [{ tensor: dash! }, { tensor: xs! }, { tensor: dy! }, { tensor: ddash, write: true }, { tensor: dxs, write: true }], uniforms, grid(Math.ceil(N / WG)));
      return [ddash, dxs];
    },
  });
}

// the differentiable functions, one per ε or shift (a layer's are fixed: a handful in a process)
const queryFor = madeOnce((eps: number) => kernelWithGrad(PERFORMER_QUERY_KERNEL, PERFORMER_QUERY_GRAD_KERNEL, ['dash'], 'dy', { eps }));
const keyFor = madeOnce((shift: number) => kernelWithGrad(PERFORMER_KEY_KERNEL, PERFORMER_KEY_GRAD_KERNEL, ['dash', 'xs'], 'dy', { shift }));

const rowsOk = (dash: tf.Tensor) => dash.dtype === 'float32' && dash.rank === 2 && dash.shape[0]! > 0 && dash.shape[1]! > 0 && dash.shape[1]! <= PERFORMER_MAX_HALF;

/** φq fused: dash [N, h] → [N, 2h]; undefined (declined: the reference runs) for other shapes or dtypes. */
export function performerQueryWebGpu(dash: tf.Tensor2D, eps: number): tf.Tensor2D | undefined {
  if (!rowsOk(dash)) return undefined;
  return queryFor(eps)(dash) as tf.Tensor2D;
}

/** φk fused: dash [N, h], xs [N, d_h] → [N, 2h]; undefined (declined) for other shapes or dtypes. */
export function performerKeyWebGpu(dash: tf.Tensor2D, xs: tf.Tensor2D, shift: number): tf.Tensor2D | undefined {
  if (!rowsOk(dash) || xs.dtype !== 'float32' || xs.rank !== 2 || xs.shape[0] !== dash.shape[0] || xs.shape[1] === 0) return undefined;
  return keyFor(shift)(dash, xs) as tf.Tensor2D;
}
