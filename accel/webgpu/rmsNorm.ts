// Fused RMSNorm and L2 normalisation over the last axis (WebGPU), forward and backward, with their own gradient.
//
//   forward   s = c·Σx² (c = 1/d: RMSNorm's mean; c = 1: L2's sum),  r = 1/√(s + eps),  y = x·r·w  (no weight: w = 1)
//   backward  g = dy·w;  dx = r·(g − x·r²·c·Σ(g·x));  dw = Σ_rows dy·x·r
//
// Each 64-thread workgroup is split into lane groups of `lanes` = min(64, next power of two ≥ d) threads, one row
// per lane group (64/lanes rows side by side: d 16 → 4 rows per workgroup, d ≥ 33 → 1), each thread striding over its
// row's columns, one segmented tree reduction per row. Forward: one dispatch, ⌈rows/(64/lanes)⌉ workgroups.
// Backward without a weight: one dispatch of the same shape (dx only; no partials, no second pass). Backward with a
// weight: each lane group walks a block of `steps` = max(1, ⌈rows/8192⌉) rows, writing its column partials of dw
// (≤ 8192 partial rows, ⌈partials/(64/lanes)⌉ workgroups), then a second dispatch sums the partials, one workgroup
// of 64 threads per column. r is recomputed in the backward from x. The rows are read from memory, not held in
// registers, so any row length runs; c, d, eps, lanes, steps and the row counts are uniforms, and the pipeline keys
// name only whether a weight is bound. Reference: ops/rmsNorm/naive.ts.
import * as tf from '@tensorflow/tfjs';
import type { RmsNormMode } from '../../ops/rmsNorm/index.js';
import { allocate, declare, dispatch, fitsDevice, grid, madeOnce, release, webgpuBackend } from './dispatch.js';

export const RMS_NORM_KERNEL = 'RecallbenchRmsNorm';
export const RMS_NORM_GRAD_KERNEL = 'RecallbenchRmsNormGrad';

const WG = 64;

/**
 * Reduce `value` (sum) over each lane group of `lanes` threads (a power of two ≤ ${WG}, uniform); every thread gets
 * its group's sum. Called from uniform control flow only.
 */
const reduceFn = (lanes: string) => `
var<workgroup> red: array<vec2<f32>, ${WG}>;
fn reduce2(tid: u32, lane: u32, value: vec2<f32>) -> vec2<f32> {
  red[tid] = value;
  workgroupBarrier();
  for (var s = ${lanes} >> 1u; s > 0u; s >>= 1u) {
    if (lane < s) { red[tid] = red[tid] + red[tid + s]; }
    workgroupBarrier();
  }
  let out = red[tid - lane];
  workgroupBarrier();
  return out;
}`;

const forwardWgsl = (weighted: boolean) => () => `
${declare(
  [{ name: 'x', type: 'f32' }, ...(weighted ? [{ name: 'w', type: 'f32' }] : []), { name: 'y', type: 'f32', write: true }],
  ['rows: u32', 'd: u32', 'scale: f32', 'eps: f32', 'lanes: u32'],
)}
${reduceFn('params.lanes')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lanes = params.lanes;
  let shift = countTrailingZeros(lanes);
  let lane = tid & (lanes - 1u);
  let row = ((wg.y * nwg.x + wg.x) << (${Math.log2(WG)}u - shift)) + (tid >> shift);
  let d = params.d;
  // a lane group past the last row still takes part in the reduction's barriers, over no columns
  let n = select(0u, d, row < params.rows);
  let base = row * d;
  var q = 0.0f;
  for (var c = lane; c < n; c += lanes) {
    let v = x[base + c];
    q += v * v;
  }
  let r = inverseSqrt(reduce2(tid, lane, vec2<f32>(q, 0.0f)).x * params.scale + params.eps);
  for (var c = lane; c < n; c += lanes) {
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
  ['rows: u32', 'd: u32', 'scale: f32', 'eps: f32', 'lanes: u32', 'steps: u32'],
)}
${reduceFn('params.lanes')}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let lanes = params.lanes;
  let shift = countTrailingZeros(lanes);
  let lane = tid & (lanes - 1u);
  // lane group unit owns rows [unit·steps, unit·steps + steps) (and, with a weight, partial row unit)
  let unit = ((wg.y * nwg.x + wg.x) << (${Math.log2(WG)}u - shift)) + (tid >> shift);
  let d = params.d;
  let first = unit * params.steps;
${weighted ? `  if (first < params.rows) { for (var c = lane; c < d; c += lanes) { partial[unit * d + c] = 0.0f; } }` : ''}
  for (var k = 0u; k < params.steps; k++) {
    let row = first + k;
    // lane groups past the last row still take part in the reduction's barriers, over no columns
    let n = select(0u, d, row < params.rows);
    let base = row * d;
    var acc = vec2<f32>(0.0f, 0.0f);
    for (var c = lane; c < n; c += lanes) {
      let xv = x[base + c];
      let g = dy[base + c]${weighted ? ' * w[c]' : ''};
      acc += vec2<f32>(xv * xv, g * xv);
    }
    let sums = reduce2(tid, lane, acc);
    let r = inverseSqrt(sums.x * params.scale + params.eps);
    let kk = r * r * params.scale * sums.y;
    for (var c = lane; c < n; c += lanes) {
      let xv = x[base + c];
      let dyv = dy[base + c];
      dx[base + c] = r * (dyv${weighted ? ' * w[c]' : ''} - xv * kk);
${weighted ? '      partial[unit * d + c] += dyv * xv * r;' : ''}
    }
  }
}`;

/** dw[c] = Σ_g partial[g·d + c]: one workgroup per column, its 64 threads striding over the partial rows. */
const backwardColumnsWgsl = () => `
${declare(
  [
    { name: 'partial', type: 'f32' },
    { name: 'dw', type: 'f32', write: true },
  ],
  ['groups: u32', 'd: u32'],
)}
${reduceFn(`${WG}u`)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
  let c = wg.y * nwg.x + wg.x;
  let d = params.d;
  if (c >= d) { return; }
  var s = vec2<f32>(0.0f, 0.0f);
  for (var g = tid; g < params.groups; g += ${2 * WG}u) {
    s.x += partial[g * d + c];
    if (g + ${WG}u < params.groups) { s.y += partial[(g + ${WG}u) * d + c]; }
  }
  let total = reduce2(tid, tid, s);
  if (tid == 0u) { dw[c] = total.x + total.y; }
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

/** Threads per row: the power of two ≥ d, at most the workgroup (64 / lanes rows share a workgroup). */
export const lanesFor = (d: number) => Math.min(WG, 2 ** Math.ceil(Math.log2(Math.max(1, d))));

/** Rows each lane group walks in the weighted backward: at most 8192 partial rows, so many workgroups stay busy. */
export const rowsPerGroup = (rows: number) => Math.max(1, Math.ceil(rows / 8192));

/** Workgroups of each dispatch for rows of width d (weighted: the backward's partial rows and their workgroups). */
export function layout(rows: number, d: number, weighted: boolean) {
  const lanes = lanesFor(d);
  const slots = WG / lanes;
  const steps = weighted ? rowsPerGroup(rows) : 1;
  const partials = Math.ceil(rows / steps);
  return { lanes, steps, partials, forward: Math.ceil(rows / slots), backward: Math.ceil(partials / slots), columns: weighted ? d : 0 };
}

function forward(x: tf.TensorInfo, w: tf.TensorInfo | undefined, { eps, mode }: Attrs): tf.TensorInfo {
  const { rows, d, scale } = sizes(x, w, mode);
  const { lanes, forward: groups } = layout(rows, d, !!w);
  const y = allocate(webgpuBackend(), x.shape);
  const bindings = [{ tensor: x }, ...(w ? [{ tensor: w }] : []), { tensor: y, write: true }];
  dispatch('RmsNorm', w ? 'rb_rms_fwd_w' : 'rb_rms_fwd', forwardWgsl(!!w), bindings, [{ u: rows }, { u: d }, { f: scale }, { f: eps }, { u: lanes }], grid(groups));
  return y;
}

function backward(dy: tf.TensorInfo, x: tf.TensorInfo, w: tf.TensorInfo | undefined, { eps, mode }: Attrs): tf.TensorInfo[] {
  const { rows, d, scale } = sizes(x, w, mode);
  const backend = webgpuBackend();
  const { lanes, steps, partials, backward: groups } = layout(rows, d, !!w);
  const dx = allocate(backend, x.shape);
  const partial = w ? allocate(backend, [partials, d]) : undefined;
  const bindings = [{ tensor: dy }, { tensor: x }, ...(w ? [{ tensor: w }] : []), { tensor: dx, write: true }, ...(partial ? [{ tensor: partial, write: true }] : [])];
  dispatch('RmsNormGradRows', w ? 'rb_rms_bwd_rows_w' : 'rb_rms_bwd_rows', backwardRowsWgsl(!!w), bindings, [{ u: rows }, { u: d }, { f: scale }, { f: eps }, { u: lanes }, { u: steps }], grid(groups));
  if (!partial) return [dx];
  const dw = allocate(backend, [d]);
  dispatch('RmsNormGradColumns', 'rb_rms_bwd_cols', backwardColumnsWgsl, [{ tensor: partial }, { tensor: dw, write: true }], [{ u: partials }, { u: d }], grid(d));
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
interface FormKey {
  eps: number;
  mode: RmsNormMode;
  weighted: boolean;
}

function makeForm({ eps, mode, weighted }: FormKey): Weighted | Unweighted {
  const attrs = { eps, mode } as unknown as tf.NamedAttrMap;
  return weighted
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
}
const formFor = madeOnce(makeForm, ({ eps, mode, weighted }) => `${eps}|${mode}|${weighted}`);
const form = (eps: number, mode: RmsNormMode, weighted: boolean) => formFor({ eps, mode, weighted });

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
  if (!fitsDevice(x.size, weight ? layout(rows, d, true).partials * d : 0)) return undefined;
  return weight ? (form(eps, mode, true) as Weighted)(x, weight) : (form(eps, mode, false) as Unweighted)(x);
}
