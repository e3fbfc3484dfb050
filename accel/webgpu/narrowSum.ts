// Sum where each output adds few values (lever narrowSum): one thread per output, walking its R values in order.
// tfjs-backend-webgpu 4.22's Sum moves the summed axes last (a Transpose: a full copy) and then gives every output
// a workgroup of at least 64 threads that reduce through workgroup memory with barriers — built for long sums. A
// sum over an axis of 2 (H3's head_dim-2 outer product and its contraction: their forward and the gradients of
// their broadcast multiplies, [B, T, H, 2, 2] at 8 Sums a step) then launches 64 threads per 2 values: 2M
// workgroups at zoology-fig2's B512 × L64, half of H3's step on lavapipe (bench/step.ts --profile, 2026-11-29).
// Here x is read in place as [outer, R, inner] (the summed axes adjacent, R ≤ MAX_R): output (o, i) sums
// x[o, r, i] for r = 0 … R − 1 — threads of neighbouring i read neighbouring floats, no transpose. Anything else
// (int32, axes not adjacent, R > MAX_R, where the stock kernel's tree is the better plan) runs the stock kernel.
// Reference: ops/sum/naive.ts sumAxisRunValues.
import * as tf from '@tensorflow/tfjs';
import { axisRunView } from '../../ops/sum/index.js';
import { allocate, columnSumsDecl, columnSumsReduce, declare, dispatch, grid, overrideKernel, release, webgpuBackend } from './dispatch.js';

/** Most values one output sums through this kernel; longer sums keep tfjs's workgroup reduction. */
export const NARROW_SUM_MAX_R = 64;
const WG = 256;

const wgsl = () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'y', type: 'f32', write: true }], ['outputs: u32', 'R: u32', 'inner: u32'])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.y * nwg.x * ${WG}u + gid.x;
  if (o >= params.outputs) { return; }
  let i = o % params.inner;
  let base = (o / params.inner) * params.R * params.inner + i;
  var s = 0.0;
  for (var r = 0u; r < params.R; r++) { s = s + x[base + r * params.inner]; }
  y[o] = s;
}`;

let enabled = false;

export function setNarrowSumWebGpu(on: boolean): void {
  enabled = on;
}

// Lever longSum: the opposite case — few outputs, each summing many values (R > NARROW_SUM_MAX_R): the gradient of a
// [d] parameter broadcast over B·T rows (RWKV's time-mix weights, biases) sums [B·T, d] over its leading axes, R =
// 32,768 at zoology-fig2's L 64, B512. The stock kernel first transposes x (a full copy) and then reduces each output
// in one workgroup: d workgroups (64 at d 64) on a GPU of 132 SMs, each walking 32,768 values. Here x is read in
// place as [outer, R, inner] in two passes:
//   parts   part[o, p, i] = Σ_{r in chunk p} x[o, r, i]   — P chunks of R, enough threads to fill a GPU, one per
//           (o, p, i) with i fastest (neighbouring threads read neighbouring floats); P ≥ 4 (R > 64, ≤ 16,384 outputs a slice), from
//           one slice o's sizes alone (a stack's runs sum as each run alone);
//   total   y[o, i] = Σ_p part[o, p, i]                   — LONG_SPLIT threads per output, met in workgroup memory.
// Each output's sum is exact to float32 rounding in another order than the plain loop (tested against float64).
/** Threads the first pass aims for, the fewest values one of its threads sums, and the most chunks (the second pass's threads then add ≤ 64 each). */
const LONG_TARGET_THREADS = 65536;
const LONG_MIN_CHUNK = 16;
const LONG_MAX_CHUNKS = 2048;
/**
 * One outer slice's outputs at most for the two-pass form, and outer slices at most (more outputs fill a GPU with
 * the stock kernel's workgroups, e.g. row sums of a tall matrix: inner 1, outer in the thousands). Gated per slice,
 * so that a stack's runs (outer = the run axis, ≤ LONG_SUM_MAX_OUTER) take the path each run alone takes.
 */
export const LONG_SUM_MAX_OUTPUTS = 16384;
export const LONG_SUM_MAX_OUTER = 64;
const LONG_WIDTH = 8;
const LONG_SPLIT = 32;

const partsWgsl = () => `
${declare([{ name: 'x', type: 'f32' }, { name: 'part', type: 'f32', write: true }], ['threads: u32', 'R: u32', 'inner: u32', 'P: u32', 'chunk: u32'])}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.y * nwg.x * ${WG}u + gid.x;
  if (t >= params.threads) { return; }
  let i = t % params.inner;
  let p = (t / params.inner) % params.P;
  let o = t / params.inner / params.P;
  let first = p * params.chunk;
  let last = min(first + params.chunk, params.R);
  let base = o * params.R * params.inner + i;
  var s = 0.0;
  for (var r = first; r < last; r++) { s = s + x[base + r * params.inner]; }
  part[t] = s;
}`;

const totalWgsl = () => `
${declare([{ name: 'part', type: 'f32' }, { name: 'y', type: 'f32', write: true }], ['outputs: u32', 'inner: u32', 'P: u32'])}
${columnSumsDecl(LONG_WIDTH, LONG_SPLIT)}
@compute @workgroup_size(${LONG_WIDTH * LONG_SPLIT})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let cl = li % ${LONG_WIDTH}u;
  let k = li / ${LONG_WIDTH}u;
  let out = (wg.y * nwg.x + wg.x) * ${LONG_WIDTH}u + cl;
  let live = out < params.outputs;
  var s = 0.0;
  if (live) {
    let i = out % params.inner;
    let base = (out / params.inner) * params.P * params.inner + i;
    for (var p = k; p < params.P; p += ${LONG_SPLIT}u) { s = s + part[base + p * params.inner]; }
  }
  ${columnSumsReduce(LONG_WIDTH, LONG_SPLIT)}
  if (k == 0u && live) { y[out] = sums[cl]; }
}`;

let longEnabled = false;

export function setLongSumWebGpu(on: boolean): void {
  longEnabled = on;
}

/**
 * Chunks of R the first pass cuts each output's sum into, from one outer slice's outputs (inner) and R only: a stack's
 * runs (outer = the run axis) then sum their slices exactly as each run alone does.
 */
export function longSumChunks(inner: number, R: number): { P: number; chunk: number } {
  const P = Math.max(1, Math.min(Math.ceil(LONG_TARGET_THREADS / inner), Math.floor(R / LONG_MIN_CHUNK), LONG_MAX_CHUNKS));
  const chunk = Math.ceil(R / P);
  return { P: Math.ceil(R / chunk), chunk };
}

type View = NonNullable<ReturnType<typeof axisRunView>>;

/** x's [outer, R, inner] view over `axes`, where x is float32 and the axes adjacent; else undefined (both kernels decline). */
const floatView = (x: tf.TensorInfo, axes: number[]) => (x.dtype === 'float32' ? axisRunView(x.shape, axes) : undefined);

/** The output of x summed over the view's axes (kept as 1s with keepDims). */
const summedShape = (x: tf.TensorInfo, view: View, keepDims: boolean) => {
  const summed = new Set(view.axes);
  return keepDims ? x.shape.map((n, a) => (summed.has(a) ? 1 : n)) : x.shape.filter((_, a) => !summed.has(a));
};

/** The sum of x over `axes` (adjacent; R > NARROW_SUM_MAX_R values per output, ≤ LONG_SUM_MAX_OUTPUTS outputs per outer slice, ≤ LONG_SUM_MAX_OUTER slices) in two passes; undefined when it declines. */
export function longSumWebGpu(x: tf.TensorInfo, axes: number[], keepDims: boolean): tf.TensorInfo | undefined {
  const view = floatView(x, axes);
  return view && longSum(x, view, keepDims);
}

function longSum(x: tf.TensorInfo, view: View, keepDims: boolean): tf.TensorInfo | undefined {
  if (view.R <= NARROW_SUM_MAX_R) return undefined;
  const outputs = view.outer * view.inner;
  if (outputs === 0 || view.inner > LONG_SUM_MAX_OUTPUTS || view.outer > LONG_SUM_MAX_OUTER) return undefined;
  const backend = webgpuBackend();
  const y = allocate(backend, summedShape(x, view, keepDims));
  const { P, chunk } = longSumChunks(view.inner, view.R);
  const threads = outputs * P;
  const part = allocate(backend, [view.outer, P, view.inner]);
  dispatch('RecallbenchLongSumParts', 'rb_long_sum_parts', partsWgsl, [{ tensor: x }, { tensor: part, write: true }], [{ u: threads }, { u: view.R }, { u: view.inner }, { u: P }, { u: chunk }], grid(Math.ceil(threads / WG)));
  dispatch('RecallbenchLongSumTotal', 'rb_long_sum_total', totalWgsl, [{ tensor: part }, { tensor: y, write: true }], [{ u: outputs }, { u: view.inner }, { u: P }], grid(Math.ceil(outputs / LONG_WIDTH)));
  release(part);
  return y;
}

/** The sum of x over `axes` (adjacent, R ≤ NARROW_SUM_MAX_R values per output) as the kernel computes it; undefined when it declines. */
export function narrowSumWebGpu(x: tf.TensorInfo, axes: number[], keepDims: boolean): tf.TensorInfo | undefined {
  const view = floatView(x, axes);
  return view && narrowSum(x, view, keepDims);
}

function narrowSum(x: tf.TensorInfo, view: View, keepDims: boolean): tf.TensorInfo | undefined {
  if (view.R > NARROW_SUM_MAX_R) return undefined;
  const outputs = view.outer * view.inner;
  if (outputs === 0 || view.R === 0) return undefined;
  const y = allocate(webgpuBackend(), summedShape(x, view, keepDims));
  dispatch('RecallbenchNarrowSum', 'rb_narrow_sum', wgsl, [{ tensor: x }, { tensor: y, write: true }], [{ u: outputs }, { u: view.R }, { u: view.inner }], grid(Math.ceil(outputs / WG)));
  return y;
}

/**
 * Replace tfjs's webgpu Sum for narrow sums (lever narrowSum) and long sums with few outputs (lever longSum); the
 * stock kernel for the rest, and whenever both levers are off.
 */
export function registerNarrowSumWebGpu(): void {
  overrideKernel('Sum', (stock) => (args) => {
    if (!enabled && !longEnabled) return stock.kernelFunc(args);
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[] | null; keepDims: boolean };
    const axes = axis == null ? [...x.shape.keys()] : Array.isArray(axis) ? axis : [axis];
    // the view once per Sum (this runs on every Sum of every step): each form declines what is not its own
    const view = floatView(x, axes);
    const fused = view && ((enabled ? narrowSum(x, view, keepDims) : undefined) ?? (longEnabled ? longSum(x, view, keepDims) : undefined));
    return fused ?? stock.kernelFunc(args);
  });
}
