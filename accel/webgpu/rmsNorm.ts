// Fused RMSNorm and L2 normalisation over the last axis (WebGPU), forward and backward, with their own gradient.
//
//   forward   s = c·Σx² (c = 1/d: RMSNorm's mean; c = 1: L2's sum),  r = 1/√(s + eps),  y = x·r·w  (no weight: w = 1)
//   backward  g = dy·w;  dx = r·(g − x·r²·c·Σ(g·x));  dw = Σ_rows dy·x·r
//
// Forward: one dispatch (a workgroup of 64 threads per row, each thread striding over the row's columns, one tree
// reduction). Backward: with a weight two dispatches — dx plus per-workgroup column partials of dw over a block of
// rows, then one pass summing the partials; without a weight one (dx only). r is recomputed in the backward from x.
// The rows are read from memory, not held in registers, so any row length runs; c, d, eps and the row counts are
// uniforms, and the pipeline keys name only whether a weight is bound. Reference: ops/rmsNorm/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { RmsNormMode } from '../../ops/rmsNorm/index.js';
import { allocate, declare, dispatch, fitsDevice, grid, release, webgpuBackend } from './dispatch.js';

export const RMS_NORM_KERNEL = 'RecallbenchRmsNorm';
export const RMS_NORM_GRAD_KERNEL = 'RecallbenchRmsNormGrad';

const WG = 64;

/** Reduce `value` over the workgroup (sum); every thread gets the result. */
const reduceFn = `
var<workgroup> red: array<vec2<f32>, ${WG}>;
fn reduce2(tid: u32, value: vec2<f32>) -> vec2<f32> {
  red[tid] = value;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (tid < s) { red[tid] = red[tid] + red[tid + s]; }
    workgroupBarrier();
  }
  let out = red[0];
  workgroupBarrier();
  return out;
}`;

const forwardWgsl = (weighted: boolean) => () => `
${declare(
  [{ name: 'x', type: 'f32' }, ...(weighted ? [{ name: 'w', type: 'f32' }] : []), { name: 'y', type: 'f32', write: true }],
  ['rows: u32', 'd: u32', 'scale: f32', 'eps: f32'],
)}
${reduceFn}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let row = wg.y * nwg.x + wg.x;
  if (row >= params.rows) { return; }
  let d = params.d;
  let base = row * d;
  var q = 0.0f;
  for (var c = tid; c < d; c += ${WG}u) {
    let v = x[base + c];
    q += v * v;
  }
  let r = inverseSqrt(reduce2(tid, vec2<f32>(q, 0.0f)).x * params.scale + params.eps);
  for (var c = tid; c < d; c += ${WG}u) {
    y[base + c] = x[base + c] * r${weighted ? ' * w[c]' : ''};
  }
}`;

const backwardRowsWgsl = (weighted: boolean) => () => `
${declare(
  [
    { name: 'dy', type: 'f32' },
    { name: 'x', type: 'f32' },
    ...(weighted ? [{ name: 'w', type: 'f32' }] : []),
    { name: 'dx', type: 'f32', write: true },
    ...(weighted ? [{ name: 'partial', type: 'f32', write: true }] : []),
  ],
  ['rows: u32', 'd: u32', 'scale: f32', 'eps: f32', 'rowsPerGroup: u32'],
)}
${reduceFn}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let group = wg.y * nwg.x + wg.x;
  let d = params.d;
  let first = group * params.rowsPerGroup;
  if (first >= params.rows) { return; }
  let last = min(first + params.rowsPerGroup, params.rows);
${weighted ? `  for (var c = tid; c < d; c += ${WG}u) { partial[group * d + c] = 0.0f; }` : ''}
  for (var row = first; row < last; row++) {
    let base = row * d;
    var acc = vec2<f32>(0.0f, 0.0f);
    for (var c = tid; c < d; c += ${WG}u) {
      let xv = x[base + c];
      let g = dy[base + c]${weighted ? ' * w[c]' : ''};
      acc += vec2<f32>(xv * xv, g * xv);
    }
    let sums = reduce2(tid, acc);
    let r = inverseSqrt(sums.x * params.scale + params.eps);
    let k = r * r * params.scale * sums.y;
    for (var c = tid; c < d; c += ${WG}u) {
      let xv = x[base + c];
      let dyv = dy[base + c];
      dx[base + c] = r * (dyv${weighted ? ' * w[c]' : ''} - xv * k);
${weighted ? '      partial[group * d + c] += dyv * xv * r;' : ''}
    }
  }
}`;

const backwardColumnsWgsl = () => `
${declare(
  [
    { name: 'partial', type: 'f32' },
    { name: 'dw', type: 'f32', write: true },
  ],
  ['groups: u32', 'd: u32'],
)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.y * nwg.x * ${WG}u + gid.x;
  let d = params.d;
  if (c >= d) { return; }
  var s = 0.0f;
  for (var g = 0u; g < params.groups; g++) { s += partial[g * d + c]; }
  dw[c] = s;
}`;

interface Attrs {
  eps: number;
  mode: RmsNormMode;
}

function sizes(x: tf.TensorInfo, w: tf.TensorInfo | undefined, mode: RmsNormMode): { rows: number; d: number; scale: number } {
  const d = x.shape[x.shape.length - 1]!;
  if (w && (w.shape.length !== 1 || w.shape[0] !== d)) throw new Error(`${RMS_NORM_KERNEL}: weight [${w.shape}] does not match the last axis of x [${x.shape}]`);
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  return { rows, d, scale: mode === 'mean' ? 1 / d : 1 };
}

/** Rows per workgroup of the backward's first pass: enough workgroups to fill a large GPU, few enough partials. */
export const rowsPerGroup = (rows: number) => Math.max(8, Math.ceil(rows / 1024));

function forward(x: tf.TensorInfo, w: tf.TensorInfo | undefined, { eps, mode }: Attrs): tf.TensorInfo {
  const { rows, d, scale } = sizes(x, w, mode);
  const y = allocate(webgpuBackend(), x.shape);
  const bindings = [{ tensor: x }, ...(w ? [{ tensor: w }] : []), { tensor: y, write: true }];
  dispatch('RmsNorm', w ? 'rb_rms_fwd_w' : 'rb_rms_fwd', forwardWgsl(!!w), bindings, [{ u: rows }, { u: d }, { f: scale }, { f: eps }], grid(rows));
  return y;
}

function backward(dy: tf.TensorInfo, x: tf.TensorInfo, w: tf.TensorInfo | undefined, { eps, mode }: Attrs): tf.TensorInfo[] {
  const { rows, d, scale } = sizes(x, w, mode);
  const backend = webgpuBackend();
  const perGroup = rowsPerGroup(rows);
  const groups = Math.ceil(rows / perGroup);
  const dx = allocate(backend, x.shape);
  const partial = w ? allocate(backend, [groups, d]) : undefined;
  const bindings = [{ tensor: dy }, { tensor: x }, ...(w ? [{ tensor: w }] : []), { tensor: dx, write: true }, ...(partial ? [{ tensor: partial, write: true }] : [])];
  dispatch('RmsNormGradRows', w ? 'rb_rms_bwd_rows_w' : 'rb_rms_bwd_rows', backwardRowsWgsl(!!w), bindings, [{ u: rows }, { u: d }, { f: scale }, { f: eps }, { u: perGroup }], grid(groups));
  if (!partial) return [dx];
  const dw = allocate(backend, [d]);
  dispatch('RmsNormGradColumns', 'rb_rms_bwd_cols', backwardColumnsWgsl, [{ tensor: partial }, { tensor: dw, write: true }], [{ u: groups }, { u: d }], grid(Math.ceil(d / WG)));
  release(partial);
  return [dx, dw];
}

let registered = false;

export function registerRmsNormWebGpu(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({
    kernelName: RMS_NORM_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { x, w } = inputs as Record<string, tf.TensorInfo | undefined>;
      return forward(x!, w, attrs as unknown as Attrs);
    },
  });
  tf.registerKernel({
    kernelName: RMS_NORM_GRAD_KERNEL,
    backendName: 'webgpu',
    kernelFunc: ({ inputs, attrs }) => {
      const { dy, x, w } = inputs as Record<string, tf.TensorInfo | undefined>;
      return backward(dy!, x!, w, attrs as unknown as Attrs);
    },
  });
}

type Weighted = (x: tf.Tensor, w: tf.Tensor) => tf.Tensor;
type Unweighted = (x: tf.Tensor) => tf.Tensor;

/** The differentiable forms, one per (eps, mode, weighted) (customGrad takes tensors only: eps and mode are closed over). */
const forms = new Map<string, Weighted | Unweighted>();

function form(eps: number, mode: RmsNormMode, weighted: boolean): Weighted | Unweighted {
  const key = `${eps}|${mode}|${weighted}`;
  let f = forms.get(key);
  if (f) return f;
  const attrs = { eps, mode } as unknown as tf.NamedAttrMap;
  f = weighted
    ? (tf.customGrad(((x: tf.Tensor, w: tf.Tensor, save: tf.GradSaveFunc) => {
        save([x, w]);
        return {
          value: tf.engine().runKernel(RMS_NORM_KERNEL, { x, w }, attrs) as tf.Tensor,
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(RMS_NORM_GRAD_KERNEL, { dy, x: saved[0]!, w: saved[1]! }, attrs) as unknown as tf.Tensor[],
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Weighted)
    : (tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
        save([x]);
        return {
          value: tf.engine().runKernel(RMS_NORM_KERNEL, { x }, attrs) as tf.Tensor,
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => (tf.engine().runKernel(RMS_NORM_GRAD_KERNEL, { dy, x: saved[0]! }, attrs) as unknown as tf.Tensor[])[0]!,
        };
      }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Unweighted);
  forms.set(key, f);
  return f;
}

/**
 * RMSNorm (mode 'mean') or L2 normalisation (mode 'sum') of x [..., d] over the last axis, times weight [d] if
 * given, through the fused kernels (the fast form of ops/rmsNorm, registered by index.ts), differentiable in x and
 * weight. Undefined (declined: the op runs its reference) for anything but float32 inputs, a weight that is not
 * [d], an empty x, or buffers that would not fit the device (fitsDevice).
 */
export function rmsNormWebGpu(x: tf.Tensor, weight: tf.Tensor | undefined, eps: number, mode: RmsNormMode): tf.Tensor | undefined {
  if (x.rank < 1 || x.dtype !== 'float32' || x.size === 0) return undefined;
  const d = x.shape[x.rank - 1]!;
  if (weight && (weight.rank !== 1 || weight.shape[0] !== d || weight.dtype !== 'float32')) return undefined;
  const rows = x.size / d;
  if (!fitsDevice(x.size, weight ? Math.ceil(rows / rowsPerGroup(rows)) * d : 0)) return undefined;
  return weight ? (form(eps, mode, true) as Weighted)(x, weight) : (form(eps, mode, false) as Unweighted)(x);
}
