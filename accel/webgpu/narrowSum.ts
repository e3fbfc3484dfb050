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
import { allocate, declare, dispatch, grid, overrideKernel, webgpuBackend } from './dispatch.js';

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

/** The sum of x over `axes` (adjacent, R ≤ NARROW_SUM_MAX_R values per output) as the kernel computes it; undefined when it declines. */
export function narrowSumWebGpu(x: tf.TensorInfo, axes: number[], keepDims: boolean): tf.TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  const view = axisRunView(x.shape, axes);
  if (!view || view.R > NARROW_SUM_MAX_R) return undefined;
  const outputs = view.outer * view.inner;
  if (outputs === 0 || view.R === 0) return undefined;
  const summed = new Set(view.axes);
  const shape = keepDims ? x.shape.map((n, a) => (summed.has(a) ? 1 : n)) : x.shape.filter((_, a) => !summed.has(a));
  const y = allocate(webgpuBackend(), shape);
  dispatch('RecallbenchNarrowSum', 'rb_narrow_sum', wgsl, [{ tensor: x }, { tensor: y, write: true }], [{ u: outputs }, { u: view.R }, { u: view.inner }], grid(Math.ceil(outputs / WG)));
  return y;
}

/** Replace tfjs's webgpu Sum for narrow sums (the stock kernel for the rest, and whenever the lever is off). */
export function registerNarrowSumWebGpu(): void {
  overrideKernel('Sum', (stock) => (args) => {
    if (!enabled) return stock.kernelFunc(args);
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[] | null; keepDims: boolean };
    const axes = axis == null ? [...x.shape.keys()] : Array.isArray(axis) ? axis : [axis];
    return narrowSumWebGpu(x, axes, keepDims) ?? stock.kernelFunc(args);
  });
}
